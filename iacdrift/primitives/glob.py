"""Shell-style globs over names, environments, tags and Terraform addresses.

Case-sensitive (:func:`fnmatch.fnmatchcase`): ``*`` any text, ``?`` one
character, ``[...]`` one of the characters. A pattern of None means "no
constraint": it matches everything, even a missing value.
"""

from __future__ import annotations

from fnmatch import fnmatchcase

_GLOB_CHARS = frozenset("*?[")


def glob_problem(value: str) -> str | None:
    """What is wrong with the pattern ``value``, as one line saying what to do; None
    when it is usable."""
    if value == "":
        return "empty pattern; write the value or a glob such as module.web.*"
    if value.count("[") != value.count("]"):
        return f"{value!r}: unbalanced [ ] in the glob; close the bracket"
    return None


def glob_matches(pattern: str | None, value: str | None) -> bool:
    """None matches everything; otherwise ``value`` must exist and match the glob."""
    if pattern is None:
        return True
    return value is not None and fnmatchcase(value, pattern)


def address_matches(pattern: str | None, value: str | None) -> bool:
    """Like :func:`glob_matches`, for Terraform addresses and resource ids: equal, a glob
    match, or a glob match with the brackets of instance keys (``["ledger"]``) taken
    literally rather than as character classes."""
    if pattern is None:
        return True
    if value is None:
        return False
    if pattern == value or fnmatchcase(value, pattern):
        return True
    literal = "".join({"[": "[[]", "]": "[]]"}.get(char, char) for char in pattern)
    return fnmatchcase(value, literal)


def glob_covers(outer: str | None, inner: str | None) -> bool:
    """Every value ``inner`` matches, ``outer`` matches too (None: anything).

    Conservative: it may answer False for a glob pair that does cover, never True
    for one that does not (``?`` or ``[...]`` against another glob needs equality).
    """
    if outer is None:
        return True
    if inner is None:
        return False
    if outer == inner:
        return True
    if _GLOB_CHARS & set(inner) and ("?" in outer or "[" in outer):
        return False
    # `*` in outer matches any text, including inner's own glob characters.
    return fnmatchcase(inner, outer)


def is_match_all(pattern: str | None) -> bool:
    """A glob that matches every value, e.g. ``*``: no scope at all."""
    return pattern is None or set(pattern) == {"*"}
