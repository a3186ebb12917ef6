"""`iacdrift plan STACK`: init and one normal plan, as a debugging aid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from iacdrift.engine.base import EngineVersion
from iacdrift.errors import TerraformFormatError
from iacdrift.flows.workbench import Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.models.outcomes import PlanOutcome


@dataclass(frozen=True)
class PlannedChange:
    address: str
    actions: tuple[str, ...]


@dataclass(frozen=True)
class PlanReport:
    stack: str
    engine: str
    version: EngineVersion
    outcome: PlanOutcome
    changes: tuple[PlannedChange, ...]
    drifted: tuple[PlannedChange, ...]
    seconds: float


def planned_changes(plan_json: dict[str, Any], section: str) -> tuple[PlannedChange, ...]:
    """Non-no-op entries of ``resource_changes`` or ``resource_drift``, sorted by address."""
    entries = plan_json.get(section) or []
    if not isinstance(entries, list):
        raise TerraformFormatError(f"plan JSON: {section} is not a list")
    found = []
    for entry in entries:
        actions = tuple((entry.get("change") or {}).get("actions") or [])
        if actions and actions != ("no-op",) and actions != ("read",):
            found.append(PlannedChange(str(entry.get("address")), actions))
    return tuple(sorted(found, key=lambda c: c.address))


def plan_stack(bench: Workbench, name_or_dir: str) -> PlanReport:
    ref = bench.stack(name_or_dir)
    with prepared(bench, ref) as stack:
        run = stack.engine.plan(stack.call)
        plan_json = stack.engine.show_json(stack.call, run.plan_file)
        run.plan_file.unlink(missing_ok=True)
    return PlanReport(
        stack=ref.name,
        engine=stack.engine.name,
        version=stack.version,
        outcome=run.outcome,
        changes=planned_changes(plan_json, "resource_changes"),
        drifted=planned_changes(plan_json, "resource_drift"),
        seconds=run.record.seconds,
    )
