"""RFC 6901 JSON pointers into a resource's attributes, and pointer patterns.

``~1`` writes a ``/`` and ``~0`` a ``~`` inside a key; the empty pointer ``""``
is the whole value. In a pattern, a segment that is exactly ``*``
(:data:`WILDCARD`) matches any one key or list position; a ``*`` inside a
longer segment is not a wildcard and :func:`pointer_problem` refuses it, so a
pattern never means something other than what it looks like. A pattern covers
everything below it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

WILDCARD = "*"


def pointer_segments(pointer: str) -> tuple[str, ...]:
    """The unescaped segments of an RFC 6901 pointer (``()`` for the whole value)."""
    if pointer == "":
        return ()
    return tuple(part.replace("~1", "/").replace("~0", "~") for part in pointer[1:].split("/"))


def pointer_problem(value: str) -> str | None:
    """What is wrong with the non-empty pointer pattern ``value``, as one line saying
    what to do; None when it is well formed."""
    if not value.startswith("/"):
        return f"{value!r} is not a JSON pointer; start it with `/`, e.g. /tags/owner (RFC 6901)"
    for part in value[1:].split("/"):
        if part == "":
            return f"{value!r} has an empty segment (`//` or a trailing `/`); remove it"
        if re.search(r"~(?![01])", part):
            return f"{value!r}: `~` must be written ~0 and `/` inside a key ~1 (RFC 6901)"
        if WILDCARD in part and part != WILDCARD:
            return (
                f"{value!r}: `*` matches a whole segment only; write /{WILDCARD} as its own "
                "segment (e.g. /tags/*) or spell the key out"
            )
    return None


def _segment_overlaps(a: str, b: str) -> bool:
    return WILDCARD in (a, b) or a == b


def pointer_covers(pattern: str, pointer: str) -> bool:
    """``pattern`` covers ``pointer``: every field ``pointer`` names lies under ``pattern``.

    ``pattern`` must be as short or shorter, and each of its segments equal to the
    pointer's or ``*``. A ``*`` in ``pointer`` is covered only by a ``*``, so this
    also answers "does pattern A cover pattern B".
    """
    outer, inner = pointer_segments(pattern), pointer_segments(pointer)
    if len(outer) > len(inner):
        return False
    return all(a in (WILDCARD, b) for a, b in zip(outer, inner, strict=False))


def pointers_overlap(a: str, b: str) -> bool:
    """Some field lies under both: one is a prefix of the other, ``*`` matching anything."""
    return all(
        _segment_overlaps(x, y)
        for x, y in zip(pointer_segments(a), pointer_segments(b), strict=False)
    )


def pointer_specificity(pattern: str) -> tuple[int, int]:
    """How specific a pattern is, for "the most specific pattern decides": more
    segments, then fewer ``*`` (a larger tuple is more specific)."""
    segments = pointer_segments(pattern)
    return len(segments), sum(1 for segment in segments if segment != WILDCARD)


def values_at(value: Any, pointer: str) -> list[Any]:
    """Every value ``pointer`` reaches in ``value``; a ``*`` fans out, a missing step drops."""
    found = [value]
    for segment in pointer_segments(pointer):
        step: list[Any] = []
        for current in found:
            if isinstance(current, Mapping):
                if segment == WILDCARD:
                    step.extend(current[key] for key in sorted(current))
                elif segment in current:
                    step.append(current[segment])
            elif isinstance(current, list):
                if segment == WILDCARD:
                    step.extend(current)
                elif _is_index(segment) and int(segment) < len(current):
                    step.append(current[int(segment)])
        found = step
    return found


def _is_index(segment: str) -> bool:
    """An RFC 6901 array index: ASCII digits, no leading zero (``str.isdigit`` also
    takes ``²`` and other digits ``int()`` refuses)."""
    return segment.isascii() and segment.isdigit() and (segment == "0" or segment[0] != "0")
