"""Redaction of sensitive values in Terraform's plan JSON.

Contract: ``redact(value, mask, salt=..., type_name=...)`` returns a copy of
``value`` in which every sensitive subtree is replaced by the string
``"(sensitive:<fingerprint>)"``. The fingerprint is the first 16 hex digits of
HMAC-SHA256(salt, canonical JSON of the subtree): not reversible without the
salt, different under another salt, and equal for equal values, so a finding
still shows *that* a secret changed without showing it.

The mask is Terraform's ``before_sensitive``/``after_sensitive``: it mirrors the
value, ``true`` marks a sensitive subtree, ``false`` or an absent object key
means "not sensitive". Terraform derives it with ``SensitiveAsBool``: an object
mask lists only the keys that are not plain ``false``; a list/set/tuple mask has
one entry per element.

Fail closed: whenever the mask cannot be trusted to describe the value it
covers, the whole value is redacted:

* no mask at all (``None``) for a non-null value (Terraform < 0.15 wrote none);
* an object mask over a non-object, a list mask over a non-list, a list mask
  whose length differs from the list's;
* a leaf that is neither ``true``/``false`` nor a container (``null``, a string,
  a number).

Independently of the mask, attributes in ALWAYS_SECRET (the resource-type
catalogue, core.resource_types) are redacted: a provider bug or an old schema that
forgets ``Sensitive: true`` must not leak them.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from iacdrift.core.resource_types import ALWAYS_SECRET
from iacdrift.primitives.canonical import canonical_json

SENSITIVE_MARKER_PREFIX = "(sensitive:"
_MARKER_SUFFIX = ")"
_FINGERPRINT_HEX = 16


def fingerprint(value: Any, *, salt: bytes) -> str:
    """First 16 hex digits of HMAC-SHA256(salt, canonical JSON of value)."""
    digest = hmac.new(salt, canonical_json(value).encode("utf-8"), hashlib.sha256).hexdigest()
    return digest[:_FINGERPRINT_HEX]


def marker(value: Any, *, salt: bytes) -> str:
    """The string that stands for a sensitive value."""
    return f"{SENSITIVE_MARKER_PREFIX}{fingerprint(value, salt=salt)}{_MARKER_SUFFIX}"


def is_marker(value: object) -> bool:
    """True for a string produced by :func:`marker`."""
    return (
        isinstance(value, str)
        and value.startswith(SENSITIVE_MARKER_PREFIX)
        and value.endswith(_MARKER_SUFFIX)
        and len(value) == len(SENSITIVE_MARKER_PREFIX) + _FINGERPRINT_HEX + len(_MARKER_SUFFIX)
    )


def contains_marker(value: object) -> bool:
    """True when a marker appears anywhere inside ``value``."""
    if isinstance(value, str):
        return is_marker(value)
    if isinstance(value, dict):
        return any(contains_marker(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_marker(v) for v in value)
    return False


def redact(
    value: Any,
    mask: Any,
    *,
    salt: bytes,
    type_name: str,
    path: tuple[str | int, ...] = (),
) -> Any:
    """``value`` with every sensitive subtree replaced by a marker (see module doc).

    ``path`` is where ``value`` sits in the resource's attributes (``()`` for the
    whole resource); it selects the ALWAYS_SECRET attributes of ``type_name``.
    ``value`` is not modified.
    """
    if not salt:
        raise ValueError("redact needs a non-empty salt")
    secret = ALWAYS_SECRET.get(type_name, frozenset())
    if len(path) == 1 and path[0] in secret:
        return _secret(value, salt)
    return _walk(value, mask, salt, secret if not path else frozenset())


def _secret(value: Any, salt: bytes) -> Any:
    # A null stays null: there is nothing to hide and "no value" must stay
    # visible (a secret that disappeared is a finding).
    return None if value is None else marker(value, salt=salt)


def _walk(value: Any, mask: Any, salt: bytes, secret: frozenset[str]) -> Any:
    """``secret`` is non-empty only at the resource's top level."""
    if value is None:
        return None
    if mask is True:
        return marker(value, salt=salt)
    if mask is False:
        if secret and isinstance(value, dict):
            return {k: _secret(v, salt) if k in secret else v for k, v in value.items()}
        # Terraform never writes ``false`` for a non-empty container, but the
        # documented meaning of false is "not sensitive"; the subtree is kept.
        return value
    if isinstance(mask, dict):
        if not isinstance(value, dict):
            return marker(value, salt=salt)
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key in secret:
                out[key] = _secret(item, salt)
            elif key in mask:
                out[key] = _walk(item, mask[key], salt, frozenset())
            else:
                out[key] = item
        return out
    if isinstance(mask, list):
        if not isinstance(value, list) or len(mask) != len(value):
            return marker(value, salt=salt)
        return [_walk(item, m, salt, frozenset()) for item, m in zip(value, mask, strict=True)]
    # None (no mask), a string, a number: sensitivity cannot be established.
    return marker(value, salt=salt)
