"""What every renderer shares: the colour of each stack status, and canonical JSON."""

from __future__ import annotations

import json

from pydantic import BaseModel

from iacdrift.models.finding import StackStatus

STATUS_STYLE: dict[StackStatus, str] = {
    StackStatus.CLEAN: "green",
    StackStatus.DRIFTED: "bold red",
    StackStatus.ERROR: "bold magenta",
    StackStatus.LOCKED: "bold yellow",
    StackStatus.STALE: "yellow",
}


def render_json(record: BaseModel) -> str:
    """Canonical JSON for people and files: sorted keys, indented, a final newline; the
    same bytes for the same record."""
    return json.dumps(record.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"
