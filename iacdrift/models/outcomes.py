"""Outcomes as values, never booleans."""

from __future__ import annotations

from enum import StrEnum


class PlanOutcome(StrEnum):
    """Terraform's -detailed-exitcode, kept as a value (never collapsed to a bool)."""

    NO_CHANGES = "NO_CHANGES"
    CHANGES = "CHANGES"
    ERROR = "ERROR"

    @classmethod
    def from_exit_code(cls, code: int) -> PlanOutcome:
        return {0: cls.NO_CHANGES, 2: cls.CHANGES}.get(code, cls.ERROR)
