"""The installation's salt for fingerprints of sensitive values."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from pathlib import Path


def fingerprint_salt(path: Path) -> bytes:
    """The salt stored at ``path``, created on first use (32 random bytes).

    Stable across runs (so finding ids are), private to the project directory
    (mode 0600, as mkstemp creates it), never printed.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write a private temp file, then link it into place: a concurrent reader
        # sees either no salt file or a complete one, never an empty one.
        fd, tmp = tempfile.mkstemp(prefix=".salt-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(32))
            with contextlib.suppress(FileExistsError):  # another process won
                path.hardlink_to(tmp)
        finally:
            Path(tmp).unlink()
    return path.read_bytes()
