"""Reading what a stack's HCL says (the desired plane), with python-hcl2.

Only what iacdrift needs; Terraform stays the authority on what the
configuration means.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iacdrift.core.hclvalues import unquote
from iacdrift.engine.workspace import local_module_dirs, parse_hcl


def _parse(path: Path) -> dict[str, Any]:
    # Cached while the file is unchanged: a run reads each file for several purposes.
    return parse_hcl(path)


def remote_state_reads(stack_dir: Path) -> set[tuple[str, str]]:
    """(bucket, key) of every S3 ``terraform_remote_state`` the stack and its local
    modules read; values that are expressions rather than literals are skipped."""
    reads: set[tuple[str, str]] = set()
    for directory in sorted(local_module_dirs(stack_dir)):
        for tf_file in sorted(directory.glob("*.tf")):
            try:
                parsed = _parse(tf_file)
            except Exception:
                continue  # Terraform reports a broken file itself, better than we can.
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
        for tf_file in sorted(directory.glob("*.tf")):
            try:
                parsed = _parse(tf_file)
            except Exception:
                continue
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
            for block in parsed.get("module", []):
                for mname, body in block.items():
                    source = unquote(body.get("source")) if isinstance(body, dict) else None
                    if source and source.startswith(("./", "../")):
                        child = (directory / source).resolve()
                        pending.append((child, f"{prefix}module.{unquote(mname)}."))
    return DesiredConfiguration(frozenset(types), ignores, files)


def provider_requirements(stack_dir: Path) -> list[str]:
    """``name=source@constraint`` of every required_providers entry, sorted: stacks
    with the same list need the same providers (one plugin-cache warm-up each)."""
    found: set[str] = set()
    for directory in sorted(local_module_dirs(stack_dir)):
        for tf_file in sorted(directory.glob("*.tf")):
            try:
                parsed = _parse(tf_file)
            except Exception:
                continue
            for terraform in parsed.get("terraform", []):
                for block in terraform.get("required_providers", []):
                    for name, spec in block.items():
                        if isinstance(spec, dict):
                            source = unquote(spec.get("source")) or name
                            version = unquote(spec.get("version")) or "*"
                            found.add(f"{name}={source}@{version}")
    return sorted(found)
