"""What `plan -generate-config-out` writes, made into code a person would merge.

Terraform writes, for each ``import {}`` block without configuration, one
``resource`` block holding every optional attribute the provider read, ``null`` for
the ones it did not. Applying an import planned with that text as it is works (the
next plan is clean, aws 3.39.0), but it reads as a dump and, for an S3 bucket with
ACL grants, the import itself rewrites the bucket's ACL. Contract of
:func:`clean_generated_config` (pure; text in, text out; only ``resource`` blocks are
touched, never a value's own text, and everything else is kept in order):

1. An attribute set to ``null`` is dropped, at any block depth: in HCL it is the
   same as an absent one (Terraform writes one for every optional attribute the
   provider left unset: ``acl``, ``force_destroy``, ``policy``, ``timeouts``'s ...).
2. ``tags_all`` is dropped: the provider computes it from ``tags`` and the
   provider's ``default_tags`` (aws >= 4 marks it computed-only, and Terraform then
   no longer writes it); written down it would fight ``default_tags``.
3. Attributes the provider derives from others though its schema marks them
   optional (``derived``, by resource type; aws 3.x: the bucket's ``arn``,
   ``hosted_zone_id``, ``website_domain``, ``website_endpoint``) are dropped: they
   are optional *and* computed, so leaving them out keeps the recorded value.
4. An attribute set to an empty collection (``{}`` or ``[]``) is dropped: the aws
   provider (SDKv2) does not tell an empty collection from an absent one, so the
   next plan is the same, and the code no longer claims exclusive ownership of
   nothing (``managed_policy_arns = []``).
5. A nested block left empty by rules 1-4 is dropped (``timeouts {}``;
   ``inline_policy {}``, which in aws 3.x would claim "no inline policies, ever").
6. An ``aws_s3_bucket`` with ``grant`` blocks gets ``lifecycle { ignore_changes =
   [acl, force_destroy] }``: aws 3.39.0 does not read ``acl`` and defaults it to
   ``"private"``, and ``force_destroy`` to false, so the import plans an update,
   whose apply puts the canned ACL ``private`` and wipes every grant (seen on the
   sandbox: a public-read bucket lost its AllUsers READ grant, and the next plan
   wanted it back). Ignoring the two (``acl`` is never read, ``force_destroy`` is
   Terraform's own setting) leaves a pure import and a clean next plan. A bucket
   without grants is left alone: its update puts ``private`` over ``private``.

Everything else is kept, zero values included (``versioning { enabled = false }``
says what the object is; whether a ``false`` is a default is not in the provider
schema). Runs of one-line attributes are realigned on ``=`` as ``terraform fmt``
does. Text that is not what Terraform generates raises ValueError.

Evidence: ``tests/fixtures/generated/`` (``scripts/capture_generated_config.py``
captures it from Terraform 1.15 and aws 3.39.0 on the sandbox) and
``tests/integration/test_engine_repair.py`` (import, clean, apply, clean next plan).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

# Rule 3: optional+computed attributes the provider derives from other values.
DERIVED_ATTRIBUTES: Mapping[str, frozenset[str]] = {
    "aws_s3_bucket": frozenset({"arn", "hosted_zone_id", "website_domain", "website_endpoint"}),
}
# Rule 6.
_GRANT_LIFECYCLE = (
    "# aws 3.x does not read `acl` and defaults it (and force_destroy): without this",
    "# importing would put the canned ACL `private` over these grants.",
    "lifecycle {",
    "  ignore_changes = [acl, force_destroy]",
    "}",
)

_IDENT = r"[A-Za-z_][A-Za-z0-9_-]*"
_ATTRIBUTE = re.compile(rf"^(?P<indent>\s*)(?P<name>{_IDENT})\s*=\s*(?P<value>.*?)\s*$")
_BLOCK = re.compile(
    rf'^(?P<indent>\s*)(?P<type>{_IDENT})(?P<labels>(?:\s+"(?:[^"\\]|\\.)*")*)\s*\{{'
    r"(?P<empty>\s*\})?\s*$"
)
_CLOSE = re.compile(r"^\s*\}\s*$")
_HEREDOC = re.compile(rf"<<-?({_IDENT})\s*$")
_LABEL = re.compile(r'"((?:[^"\\]|\\.)*)"')
_OPENERS, _CLOSERS = "{[(", "}])"


@dataclass
class _Attribute:
    indent: str
    name: str
    value: list[str]  # the value's first line (after "= "), then its further lines as written

    @property
    def one_line(self) -> bool:
        return len(self.value) == 1


@dataclass
class _Block:
    indent: str
    type: str
    labels: tuple[str, ...]
    header: str
    body: list[_Attribute | _Block | str] = field(default_factory=list)  # str: comment/blank
    closing: str = "}"


def clean_generated_config(
    text: str, *, derived: Mapping[str, frozenset[str]] = DERIVED_ATTRIBUTES
) -> str:
    """The generated configuration with the rules of this module applied (see above)."""
    items = _parse_body(text.splitlines(), 0, top=True)[0]
    for item in items:
        if isinstance(item, _Block) and item.type == "resource" and len(item.labels) == 2:
            _clean_resource(item, derived.get(item.labels[0], frozenset()))
    return "\n".join(_render(items)).rstrip("\n") + "\n"


# -- rules -----------------------------------------------------------------------


def _clean_resource(block: _Block, derived: frozenset[str]) -> None:
    kept: list[_Attribute | _Block | str] = []
    for item in block.body:
        if isinstance(item, _Attribute) and item.name in ({"tags_all"} | derived):  # rules 2, 3
            continue
        kept.append(item)
    block.body = kept
    _drop_unset(block)
    if block.labels[0] == "aws_s3_bucket" and _has_grants(block):  # rule 6
        inner = _inner_indent(block)
        block.body.append("\n".join(inner + line for line in _GRANT_LIFECYCLE))


def _drop_unset(block: _Block) -> None:
    """Rules 1, 4 and 5, depth first."""
    kept: list[_Attribute | _Block | str] = []
    for item in block.body:
        if isinstance(item, _Attribute):
            if item.one_line and item.value[0] in {"null", "{}", "[]"}:
                continue
        elif isinstance(item, _Block):
            _drop_unset(item)
            if not [i for i in item.body if not isinstance(i, str) or i.strip()]:
                continue
        kept.append(item)
    block.body = kept


def _has_grants(block: _Block) -> bool:
    nested = [i for i in block.body if isinstance(i, _Block)]
    return any(b.type == "grant" for b in nested) and not any(b.type == "lifecycle" for b in nested)


def _inner_indent(block: _Block) -> str:
    for item in block.body:
        if isinstance(item, _Attribute | _Block):
            return item.indent
    return block.indent + "  "


# -- reading ---------------------------------------------------------------------


def _parse_body(
    lines: list[str], at: int, *, top: bool = False
) -> tuple[list[_Attribute | _Block | str], int]:
    """Items from ``lines[at]`` up to the closing brace of this body (or the end at
    the top level); returns them and the index of that closing line."""
    items: list[_Attribute | _Block | str] = []
    while at < len(lines):
        line = lines[at]
        stripped = line.strip()
        if not stripped or stripped.startswith(("#", "//")):
            items.append(line)
            at += 1
        elif _CLOSE.match(line):
            if top:
                raise ValueError(f"line {at + 1}: a closing brace without its block")
            return items, at
        elif (match := _ATTRIBUTE.match(line)) is not None and not top:
            end = _value_end(lines, at, match.group("value"))
            value = [match.group("value"), *lines[at + 1 : end + 1]]
            items.append(_Attribute(match.group("indent"), match.group("name"), value))
            at = end + 1
        elif (match := _BLOCK.match(line)) is not None:
            labels = tuple(_LABEL.findall(match.group("labels")))
            block = _Block(match.group("indent"), match.group("type"), labels, line)
            if match.group("empty"):  # `name {}` on one line
                block.closing = ""
                items.append(block)
                at += 1
                continue
            block.body, close = _parse_body(lines, at + 1)
            block.closing = lines[close]
            items.append(block)
            at = close + 1
        else:
            raise ValueError(f"line {at + 1}: not generated configuration: {stripped[:60]!r}")
    if not top:
        raise ValueError("the text ends inside a block")
    return items, at


def _value_end(lines: list[str], at: int, first: str) -> int:
    """The index of the last line of the value that starts as ``first`` on ``lines[at]``."""
    heredoc = _HEREDOC.search(first)
    if heredoc is not None:
        for end in range(at + 1, len(lines)):
            if lines[end].strip() == heredoc.group(1):
                return end
        raise ValueError(f"line {at + 1}: a heredoc without its end marker")
    open_brackets: list[str] = []
    end, text = at, first
    while True:
        _brackets(text, open_brackets, at + 1)
        if not open_brackets:
            return end
        end += 1
        if end >= len(lines):
            raise ValueError(f"line {at + 1}: a value that never closes")
        text = lines[end]


def _brackets(text: str, open_brackets: list[str], line_no: int) -> None:
    """Follow the brackets of one line of a value (outside strings and comments)."""
    in_string, escaped = False, False
    for position, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char == "#" or text.startswith("//", position):
            break
        elif char in _OPENERS:
            open_brackets.append(_CLOSERS[_OPENERS.index(char)])
        elif char in _CLOSERS and (not open_brackets or open_brackets.pop() != char):
            raise ValueError(f"line {line_no}: a value that never closes its brackets")
    if in_string:
        raise ValueError(f"line {line_no}: a string that does not end on its line")


# -- writing ---------------------------------------------------------------------


def _render(items: list[_Attribute | _Block | str]) -> Iterator[str]:
    width = 0
    for position, item in enumerate(items):
        if isinstance(item, str):
            yield item
        elif isinstance(item, _Block):
            yield item.header
            if not item.closing:  # written on one line
                continue
            yield from _render(item.body)
            yield item.closing
        else:
            if not item.one_line:
                yield f"{item.indent}{item.name} = {item.value[0]}"
                yield from item.value[1:]
                continue
            if position == 0 or not _aligned(items[position - 1]):
                width = max(len(a.name) for a in _run(items, position))
            yield f"{item.indent}{item.name.ljust(width)} = {item.value[0]}"


def _aligned(item: _Attribute | _Block | str) -> bool:
    return isinstance(item, _Attribute) and item.one_line


def _run(items: list[_Attribute | _Block | str], start: int) -> Iterator[_Attribute]:
    for item in items[start:]:
        if not isinstance(item, _Attribute) or not item.one_line:
            return
        yield item
