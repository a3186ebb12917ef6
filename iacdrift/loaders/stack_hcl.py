"""Reading what a stack's HCL says (the desired plane), with python-hcl2: the one
place iacdrift parses HCL (files cached by content), finds a root module's local
modules, and reads remote-state reads, resource types, ignore_changes and
provider requirements.

Only what iacdrift needs; Terraform stays the authority on what the
configuration means.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2


def unquote(value: object) -> str | None:
    """The text of a string literal; python-hcl2 8.x keeps its quotes. None if not a string."""
    if not isinstance(value, str):
        return None
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


# Parsed HCL files by content: one run reads each stack's files for several purposes
# (copy, provider requirements, desired plane, types) and python-hcl2 is slow, while
# reading and hashing a file is not. Keyed by content, not by mtime (file times are
# coarse: two writes within a few milliseconds can share one). Bounded; the parsed
# dicts are shared, never mutate them.
_PARSE_CACHE_SIZE = 2048
_parsed: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
_parsed_lock = threading.Lock()


def parse_hcl(path: Path) -> dict[str, Any]:
    """One HCL file parsed by python-hcl2 (cached by content).

    Raises OSError for an unreadable file and what python-hcl2 raises for a file it
    cannot parse.
    """
    text = path.read_text(encoding="utf-8")
    key = hashlib.sha256(text.encode("utf-8")).digest()
    with _parsed_lock:
        found = _parsed.get(key)
        if found is not None:
            _parsed.move_to_end(key)
            return found
    parsed: dict[str, Any] = hcl2.loads(text)
    with _parsed_lock:
        _parsed[key] = parsed
        while len(_parsed) > _PARSE_CACHE_SIZE:
            _parsed.popitem(last=False)
    return parsed


def _parsed_files(directory: Path) -> Iterator[dict[str, Any]]:
    """Each ``*.tf`` file of one module directory parsed, by name; a file that does not
    parse is skipped (Terraform reports it, with a better message, when it runs)."""
    for tf_file in sorted(directory.glob("*.tf")):
        try:
            parsed = parse_hcl(tf_file)
        except Exception:
            continue
        yield parsed


def _local_module_calls(directory: Path, parsed: dict[str, Any]) -> Iterator[tuple[str, Path]]:
    """(call name as parsed, resolved directory) of each local module one parsed file
    calls."""
    for block in parsed.get("module", []):
        for name, body in block.items():
            source = unquote(body.get("source")) if isinstance(body, dict) else None
            if source and source.startswith(("./", "../")):
                yield name, (directory / source).resolve()


def local_module_dirs(module_dir: Path) -> set[Path]:
    """Every local module directory a root module uses, transitively (resolved paths)."""
    seen: set[Path] = set()
    pending = [module_dir.resolve()]
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        for parsed in _parsed_files(current):
            pending.extend(child for _, child in _local_module_calls(current, parsed))
    return seen


def _stack_parsed_files(stack_dir: Path) -> Iterator[dict[str, Any]]:
    """Every parsed ``*.tf`` file of the stack and its local modules (by directory)."""
    for directory in sorted(local_module_dirs(stack_dir)):
        yield from _parsed_files(directory)


def remote_state_reads(stack_dir: Path) -> set[tuple[str, str]]:
    """(bucket, key) of every S3 ``terraform_remote_state`` the stack and its local
    modules read; values that are expressions rather than literals are skipped."""
    reads: set[tuple[str, str]] = set()
    for parsed in _stack_parsed_files(stack_dir):
        for block in parsed.get("data", []):
            for data_type, instances in block.items():
                if unquote(data_type) != "terraform_remote_state":
                    continue
                for body in instances.values():
                    config = body.get("config", {}) if isinstance(body, dict) else {}
                    bucket = unquote(config.get("bucket"))
                    key = unquote(config.get("key"))
                    if bucket and key and "${" not in bucket + key:
                        reads.add((bucket, key))
    return reads


@dataclass(frozen=True)
class DesiredConfiguration:
    """What iacdrift reads from a stack's HCL (root module + local modules).

    Keys are configuration addresses: resource addresses without instance keys
    (``module.bucket.aws_s3_bucket.this``), as :func:`config_address` makes them.
    """

    resource_types: frozenset[str]
    ignore_changes: Mapping[str, frozenset[str]]
    files: int


def _strip_interpolation(text: str) -> str:
    return text[2:-1] if text.startswith("${") and text.endswith("}") else text


def _ignored_roots(value: Any) -> frozenset[str]:
    """The ignore_changes entries as written (``tags``, ``tags["owner"]``); ``*`` for
    ``all``. Each is a path that core.planes.ignore_path reads."""
    if isinstance(value, str):
        return frozenset({"*"}) if unquote(_strip_interpolation(value)) == "all" else frozenset()
    entries: set[str] = set()
    for item in value if isinstance(value, list) else []:
        text = _strip_interpolation(str(item)).strip()
        if text:
            entries.add(text)
    return frozenset(entries)


def read_configuration(stack_dir: Path) -> DesiredConfiguration:
    """Walk the root module and its local module calls; a file that does not parse
    is skipped (Terraform reports it, with a better message, when it plans)."""
    types: set[str] = set()
    ignores: dict[str, frozenset[str]] = {}
    files = 0
    pending: list[tuple[Path, str]] = [(stack_dir.resolve(), "")]
    seen: set[tuple[Path, str]] = set()
    while pending:
        directory, prefix = pending.pop()
        if (directory, prefix) in seen:
            continue
        seen.add((directory, prefix))
        for parsed in _parsed_files(directory):
            files += 1
            for block in parsed.get("resource", []):
                for rtype, instances in block.items():
                    resource_type = unquote(rtype) or ""
                    types.add(resource_type)
                    for rname, body in instances.items():
                        address = f"{prefix}{resource_type}.{unquote(rname)}"
                        for lifecycle in (
                            body.get("lifecycle", []) if isinstance(body, dict) else []
                        ):
                            roots = _ignored_roots(lifecycle.get("ignore_changes"))
                            if roots:
                                ignores[address] = roots
            for name, child in _local_module_calls(directory, parsed):
                pending.append((child, f"{prefix}module.{unquote(name)}."))
    return DesiredConfiguration(frozenset(types), ignores, files)


def provider_requirements(stack_dir: Path) -> list[str]:
    """``name=source@constraint`` of every required_providers entry, sorted: stacks
    with the same list need the same providers (one plugin-cache warm-up each)."""
    found: set[str] = set()
    for parsed in _stack_parsed_files(stack_dir):
        for terraform in parsed.get("terraform", []):
            for block in terraform.get("required_providers", []):
                for name, spec in block.items():
                    if isinstance(spec, dict):
                        source = unquote(spec.get("source")) or name
                        version = unquote(spec.get("version")) or "*"
                        found.add(f"{name}={source}@{version}")
    return sorted(found)


def locked_providers(workdir: Path) -> dict[str, str]:
    """Provider source -> exact version, from the working copy's ``.terraform.lock.hcl``."""
    path = workdir / ".terraform.lock.hcl"
    if not path.exists():
        return {}
    try:
        parsed = parse_hcl(path)
    except Exception:
        return {}
    found: dict[str, str] = {}
    for block in parsed.get("provider", []):
        for source, body in block.items():
            version = unquote(body.get("version")) if isinstance(body, dict) else None
            if version:
                found[unquote(source) or source] = version
    return dict(sorted(found.items()))
