"""Reading what a stack's HCL says (the desired plane), with python-hcl2.

Only what iacdrift needs; Terraform stays the authority on what the
configuration means.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import hcl2

from iacdrift.core.hclvalues import unquote
from iacdrift.engine.workspace import local_module_dirs


def _parse(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        parsed: dict[str, Any] = hcl2.load(handle)
    return parsed


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
