"""The lock-file cache: a stack with no committed ``.terraform.lock.hcl`` gets the lock
file that one init of its provider requirement produced (flows/run.py warms the
plugin cache that way), saved under ``.iacdrift/locks/`` per requirement and CLI
config, so ``run`` and ``check`` give its working copy the same lock file (and so
reuse the same copy)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

from iacdrift.flows.workbench import StackRef, Workbench
from iacdrift.loaders.stack_hcl import provider_requirements


def requirement_key(ref: StackRef) -> str:
    """The engine and the stack's required_providers entries, sorted."""
    flavor = "opentofu" if ref.opentofu else "terraform"
    return flavor + "|" + "|".join(provider_requirements(ref.directory))


def saved_lock_path(bench: Workbench, key: str) -> Path:
    cli_config = bench.cli_config.read_text(encoding="utf-8")
    name = hashlib.sha256(f"{key}\n{cli_config}".encode()).hexdigest()[:32]
    return bench.project.resolve_path(".iacdrift/locks") / f"{name}.lock.hcl"


def save_lock(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def saved_lock(bench: Workbench, ref: StackRef) -> str | None:
    """The saved lock file for a stack without a committed one, if a run saved one."""
    if (ref.directory / ".terraform.lock.hcl").exists():
        return None
    try:
        return saved_lock_path(bench, requirement_key(ref)).read_text(encoding="utf-8")
    except OSError:
        return None
