"""Canonical JSON: sorted keys, no spaces; the same value gives the same bytes.

Every hash and fingerprint over a JSON value (finding ids, policy versions,
sensitive-value markers, set-element keys) and every delivery body is this text.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any


def canonical_json(
    value: Any,
    *,
    ensure_ascii: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """Canonical JSON text of ``value``: sorted keys, ``,``/``:`` separators.

    Non-ASCII characters are kept as they are unless ``ensure_ascii`` (then
    ``\\uXXXX`` escapes); ``default`` converts what JSON cannot hold, else such a
    value is a TypeError. Callers whose output is hashed must keep their
    choice of both: finding ids hash the ASCII form with ``default=str``
    (:func:`canonical_sha256`).
    """
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=ensure_ascii, default=default
    )


def canonical_sha256(value: Any) -> str:
    """Hex sha256 of the canonical JSON of ``value`` in its hashed form: ASCII escapes
    and ``str()`` for what JSON cannot hold (finding ids and repair plans hash this)."""
    text = canonical_json(value, ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
