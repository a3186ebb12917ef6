"""HCL text of the blocks a repair adds: ``moved {}``, ``removed {}``, ``import {}``.

Deterministic, in ``terraform fmt`` layout. Addresses are parsed and written
again, so what reaches the file is a valid traversal whatever the address held:
a string instance key is written as Terraform writes it
(``addrs.StringKey.String``): HCL's quoting, with ``\\``, ``"``, newline, tab
and carriage return escaped, other non-printable characters as ``\\uXXXX``, and
the template introducers ``${`` and ``%{`` doubled (``$${``, ``%%{``) so that
the key is never read as a template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_INT = re.compile(r"\d+")
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


@dataclass(frozen=True)
class Step:
    """One part of an address: a name, optionally followed by an instance key."""

    name: str
    key: str | int | None = None


def hcl_string(value: str) -> str:
    """``value`` as an HCL quoted string literal that holds exactly ``value``."""
    out: list[str] = ['"']
    for i, char in enumerate(value):
        if char == "\n":
            out.append("\\n")
        elif char == "\r":
            out.append("\\r")
        elif char == "\t":
            out.append("\\t")
        elif char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char in "$%":
            out.append(char)
            if value[i + 1 : i + 2] == "{":
                out.append(char)
        elif not char.isprintable():
            code = ord(char)
            out.append(f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _read_string(text: str, start: int) -> tuple[str, int]:
    """The HCL string literal opening at ``text[start] == '"'``: (value, index after)."""
    out: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\\":
            code = text[i + 1 : i + 2]
            if code in _SIMPLE_ESCAPES:
                out.append(_SIMPLE_ESCAPES[code])
                i += 2
                continue
            width = {"u": 4, "U": 8}.get(code)
            digits = text[i + 2 : i + 2 + width] if width else ""
            if (
                width
                and len(digits) == width
                and all(c in "0123456789abcdefABCDEF" for c in digits)
            ):
                out.append(chr(int(digits, 16)))
                i += 2 + width
                continue
            raise ValueError(f"bad escape \\{code} at {i} in {text!r}")
        if char in "$%" and text[i + 1 : i + 3] == char + "{":
            out.append(char + "{")  # a doubled template introducer is the literal one
            i += 3
            continue
        out.append(char)
        i += 1
    raise ValueError(f"unterminated string key in {text!r}")


def parse_address(address: str) -> tuple[Step, ...]:
    """A Terraform address as steps; ValueError when it is not one.

    ``module.a["x"].aws_s3_bucket.b[0]`` -> module, a["x"], aws_s3_bucket, b[0].
    """
    steps: list[Step] = []
    i = 0
    while True:
        match = _NAME.match(address, i)
        if match is None:
            raise ValueError(f"{address!r}: expected a name at position {i}")
        name, i = match.group(), match.end()
        key: str | int | None = None
        if address[i : i + 1] == "[":
            if address[i + 1 : i + 2] == '"':
                key, i = _read_string(address, i + 1)
            else:
                digits = _INT.match(address, i + 1)
                if digits is None:
                    raise ValueError(f"{address!r}: bad instance key at position {i}")
                key, i = int(digits.group()), digits.end()
            if address[i : i + 1] != "]":
                raise ValueError(f"{address!r}: expected ] at position {i}")
            i += 1
        steps.append(Step(name, key))
        if i == len(address):
            break
        if address[i] != ".":
            raise ValueError(f"{address!r}: expected . at position {i}")
        i += 1
    return tuple(steps)


def has_instance_keys(address: str) -> bool:
    return any(step.key is not None for step in parse_address(address))


def render_address(address: str) -> str:
    """``address`` written as an HCL traversal (keys quoted as Terraform quotes them).

    Only managed resources and modules: a data source (``data.``) is refused, it cannot
    be moved, removed or imported. ValueError when the address is not one.
    """
    steps = parse_address(address)
    if steps[0].name == "data" or any(
        s.name == "data" and steps[i - 1].name != "module" for i, s in enumerate(steps) if i
    ):
        raise ValueError(f"{address!r} is a data source: it cannot be moved, removed or imported")
    parts: list[str] = []
    for step in steps:
        if step.key is None:
            parts.append(step.name)
        elif isinstance(step.key, int):
            parts.append(f"{step.name}[{step.key}]")
        else:
            parts.append(f"{step.name}[{hcl_string(step.key)}]")
    return ".".join(parts)


def moved_block(source: str, destination: str) -> str:
    """``moved { from = ...  to = ... }`` for a rename (within or across modules)."""
    return (
        f"moved {{\n  from = {render_address(source)}\n  to   = {render_address(destination)}\n}}\n"
    )


def removed_block(address: str) -> str:
    """``removed {}`` that forgets ``address`` without destroying the object.

    Terraform's ``removed.from`` takes a resource or module without instance keys (it
    forgets every instance): an address with keys is a ValueError.
    """
    if has_instance_keys(address):
        raise ValueError(
            f"{address!r} has instance keys; removed {{}} forgets every instance of a "
            "resource, so one instance needs `terraform state rm` instead"
        )
    return (
        "removed {\n"
        f"  from = {render_address(address)}\n"
        "\n"
        "  lifecycle {\n"
        "    destroy = false\n"
        "  }\n"
        "}\n"
    )


def import_block(address: str, resource_id: str) -> str:
    """``import { to = ...  id = "..." }`` bringing ``resource_id`` under ``address``."""
    if not resource_id:
        raise ValueError(f"{address!r}: an import needs the object's id")
    return f"import {{\n  to = {render_address(address)}\n  id = {hcl_string(resource_id)}\n}}\n"


def render_blocks(blocks: list[str]) -> str:
    """Several blocks as one file's text: sorted, a blank line between, no duplicates."""
    return "\n".join(sorted(set(blocks)))
