"""Values as python-hcl2 returns them."""

from __future__ import annotations


def unquote(value: object) -> str | None:
    """The text of a string literal; python-hcl2 8.x keeps its quotes. None if not a string."""
    if not isinstance(value, str):
        return None
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value
