"""Registered stacks as a table and as JSON. Data in, text out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.table import Table

from iacdrift.models.registry import DriftManagedUnit
from iacdrift.report.common import literal


def units_json(units: Sequence[DriftManagedUnit], files: Sequence[str]) -> str:
    """Each unit as written in its file (defaults filled in) plus a ``file`` key."""
    entries: list[dict[str, Any]] = []
    for unit, file in zip(units, files, strict=True):
        entry = unit.model_dump(mode="json")
        entry["file"] = file
        entries.append(entry)
    return json.dumps(entries, indent=2, sort_keys=True)


def units_table(units: Sequence[DriftManagedUnit]) -> Table:
    """Name, type, environment, tier, owner, schedule, state object, source path."""
    table = Table(box=None, pad_edge=False)
    for column in ("NAME", "TYPE", "ENVIRONMENT", "TIER", "OWNER", "SCHEDULE", "STATE", "SOURCE"):
        table.add_column(column, no_wrap=True)
    for unit in units:
        spec = unit.spec
        cells = (
            unit.name,
            spec.type.value,
            spec.environment,
            spec.riskTier.value,
            spec.owner,
            spec.schedule.frequency,
            spec.state.uri,
            spec.source.path,
        )
        # Values from the user's files: literal text, never console markup or emoji.
        table.add_row(*(literal(cell) for cell in cells))
    return table
