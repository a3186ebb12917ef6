"""Words with a count: ``1 problem``, ``2 problems`` (every message that counts)."""

from __future__ import annotations


def count(number: int, noun: str, plural: str | None = None) -> str:
    """``number`` and ``noun``, plural unless the number is one: ``1 problem``,
    ``0 problems``, ``2 stacks``; ``plural`` for irregular nouns (``count(2, "entry",
    "entries")``)."""
    return f"{number} {noun if number == 1 else plural or noun + 's'}"
