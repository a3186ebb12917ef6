"""Field-level differences between two readings of one resource.

Contract: ``diff_fields(type_name, before, after)`` returns ``(real, noise)``,
two lists of :class:`ChangedField` sorted by pointer (at one pointer: removal,
change, addition; then by value):

* ``real``: what differs after :func:`normalize` of both sides. Objects recurse
  by key. Ordered lists recurse by position; when the lengths differ, each
  extra position is one field holding the whole element (``before: null`` for
  an element that was added at the end, ``after: null`` for one removed).
  Sets (see ``normalize.is_set_attribute``) are compared element by element: an
  element only in ``after`` is a field at ``/<set>/<its position in the sorted
  after>`` with ``before: null``; an element only in ``before`` is at its
  position in the sorted before with ``after: null``. A changed set element is
  therefore one removal plus one addition, as Terraform itself shows it.
  Values are the normalized ones (parsed JSON documents, empties as null),
  except that a leaf whose side is empty shows the provider default if the
  attribute has one (``path: "/"`` rather than null).
* ``noise``: leaf differences of the *raw* values (objects by key, every list by
  position, no normalization) that are unrelated to any real change, i.e. the
  differences that normalization made vanish. "Related" means one pointer is a
  prefix of the other, or both lie in the same set attribute. Values are raw.

Pointers are RFC 6901: ``/`` + steps joined by ``/``, with ``~`` written ``~0``
and ``/`` written ``~1``; the whole value is the empty pointer ``""``. A JSON
document attribute is addressed as if it were the parsed object
(``/policy/Statement/0/Action/1``).

A field is ``sensitive`` when a redaction marker appears in its before or after.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from iacdrift.core.normalize import (
    Defaults,
    Part,
    default_for,
    is_set_attribute,
    normalize,
    set_root,
)
from iacdrift.core.redact import contains_marker
from iacdrift.models.finding import ChangedField
from iacdrift.primitives.canonical import canonical_json


@dataclass(frozen=True, slots=True)
class Change:
    """One differing field before it becomes a ChangedField."""

    parts: tuple[Part, ...]
    before: Any
    after: Any


@dataclass(frozen=True, slots=True)
class Comparison:
    """Both sides normalized, and the changes between them."""

    before: Any
    after: Any
    real: list[Change]
    noise: list[Change]


def escape(part: Part) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


def pointer(parts: Sequence[Part]) -> str:
    """RFC 6901 pointer for ``parts`` (``""`` for the whole value)."""
    if not parts:
        return ""
    return "/" + "/".join(escape(part) for part in parts)


def value_at(value: Any, parts: Sequence[Part]) -> Any:
    """The value at ``parts``; None when any step is missing."""
    for part in parts:
        if isinstance(value, dict) and isinstance(part, str):
            value = value.get(part)
        elif isinstance(value, list) and isinstance(part, int) and 0 <= part < len(value):
            value = value[part]
        else:
            return None
    return value


def _same(a: Any, b: Any) -> bool:
    # ``True == 1`` in Python; a bool that became a number is a change.
    return type(a) is type(b) and a == b


def _containers_of(kind: type, b: Any, a: Any) -> bool:
    """Both sides are ``kind`` or empty (None), and not both empty."""
    return (isinstance(b, kind) or isinstance(a, kind)) and (
        (b is None or isinstance(b, kind)) and (a is None or isinstance(a, kind))
    )


def _diff_normal(
    type_name: str,
    b: Any,
    a: Any,
    parts: tuple[Part, ...],
    out: list[Change],
    defaults: Defaults | None = None,
) -> None:
    if b is None and a is None:
        return
    if _containers_of(dict, b, a):
        bd: dict[str, Any] = b or {}
        ad: dict[str, Any] = a or {}
        for key in sorted(bd.keys() | ad.keys()):
            _diff_normal(type_name, bd.get(key), ad.get(key), (*parts, key), out, defaults)
        return
    if _containers_of(list, b, a):
        bl: list[Any] = b or []
        al: list[Any] = a or []
        if is_set_attribute(type_name, parts):
            _diff_set(bl, al, parts, out)
            return
        common = min(len(bl), len(al))
        for i in range(common):
            _diff_normal(type_name, bl[i], al[i], (*parts, i), out, defaults)
        for i in range(common, len(bl)):
            out.append(Change((*parts, i), bl[i], None))
        for i in range(common, len(al)):
            out.append(Change((*parts, i), None, al[i]))
        return
    if _same(b, a):
        return
    if b is None or a is None:
        default = default_for(type_name, parts, defaults)
        if default is not None:
            b = default if b is None else b
            a = default if a is None else a
    out.append(Change(parts, b, a))


def _diff_set(b: list[Any], a: list[Any], parts: tuple[Part, ...], out: list[Change]) -> None:
    # Normalized sets are sorted by canonical JSON and free of duplicates, so a
    # position is "the element's place in the sorted set" on its own side.
    before_keys = [canonical_json(item) for item in b]
    after_keys = [canonical_json(item) for item in a]
    in_before = set(before_keys)
    in_after = set(after_keys)
    for i, key in enumerate(before_keys):
        if key not in in_after:
            out.append(Change((*parts, i), b[i], None))
    for i, key in enumerate(after_keys):
        if key not in in_before:
            out.append(Change((*parts, i), None, a[i]))


def _diff_raw(b: Any, a: Any, parts: tuple[Part, ...], out: list[Change]) -> None:
    if isinstance(b, dict) and isinstance(a, dict):
        for key in sorted(b.keys() | a.keys()):
            _diff_raw(b.get(key), a.get(key), (*parts, key), out)
        return
    if isinstance(b, list) and isinstance(a, list):
        common = min(len(b), len(a))
        for i in range(common):
            _diff_raw(b[i], a[i], (*parts, i), out)
        for i in range(common, len(b)):
            out.append(Change((*parts, i), b[i], None))
        for i in range(common, len(a)):
            out.append(Change((*parts, i), None, a[i]))
        return
    if not _same(b, a):
        out.append(Change(parts, b, a))


def _is_prefix(short: Sequence[Part], long: Sequence[Part]) -> bool:
    return len(short) <= len(long) and tuple(long[: len(short)]) == tuple(short)


def anchor(type_name: str, parts: tuple[Part, ...]) -> tuple[Part, ...]:
    """Where a change is anchored: its outermost set attribute, or itself.

    Positions inside a set differ between the two sides, so changes in a set
    are only comparable at the set.
    """
    root = set_root(type_name, parts)
    return root if root is not None else parts


def related(type_name: str, p: tuple[Part, ...], q: tuple[Part, ...]) -> bool:
    """True when changes at ``p`` and ``q`` concern the same field.

    Same pointer, one inside the other, or both inside the same set attribute
    (set positions differ between the two sides, so only the set is comparable).
    """
    ap = anchor(type_name, p)
    aq = anchor(type_name, q)
    return _is_prefix(ap, aq) or _is_prefix(aq, ap)


def change_order(change: Change) -> tuple[str, int, str]:
    # At one pointer (a set position can hold a removed and an added element),
    # the removal comes first, as in "- old, + new".
    kind = 0 if change.after is None else (2 if change.before is None else 1)
    return pointer(change.parts), kind, canonical_json([change.before, change.after])


def compare(
    type_name: str,
    before: Any,
    after: Any,
    *,
    normalized: tuple[Any, Any] | None = None,
    defaults: Defaults | None = None,
) -> Comparison:
    """Normalize both sides and list real and noise changes (sorted by pointer).

    ``normalized`` may pass both sides already normalized, to save the work;
    ``defaults``: the provider defaults of the version that read them
    (``normalize.provider_defaults``; None: ``normalize.DEFAULTS``).
    """
    nb, na = (
        normalized
        if normalized is not None
        else (normalize(type_name, before, defaults), normalize(type_name, after, defaults))
    )
    real: list[Change] = []
    _diff_normal(type_name, nb, na, (), real, defaults)
    raw: list[Change] = []
    _diff_raw(before, after, (), raw)
    anchors = [anchor(type_name, change.parts) for change in real]
    noise = [
        change
        for change in raw
        if not any(
            _is_prefix(anchor, own) or _is_prefix(own, anchor)
            for own in (anchor(type_name, change.parts),)
            for anchor in anchors
        )
    ]
    real.sort(key=change_order)
    noise.sort(key=change_order)
    return Comparison(before=nb, after=na, real=real, noise=noise)


def to_field(change: Change, desired: Any = None) -> ChangedField:
    sensitive = (
        contains_marker(change.before) or contains_marker(change.after) or contains_marker(desired)
    )
    return ChangedField(
        pointer=pointer(change.parts),
        before=change.before,
        after=change.after,
        desired=desired,
        sensitive=sensitive,
    )


def to_fields(changes: Iterable[Change]) -> list[ChangedField]:
    return [to_field(change) for change in changes]


def diff_fields(
    type_name: str, before: Any, after: Any
) -> tuple[list[ChangedField], list[ChangedField]]:
    """``(real, noise)`` between two readings of one resource (see module doc)."""
    comparison = compare(type_name, before, after)
    return to_fields(comparison.real), to_fields(comparison.noise)
