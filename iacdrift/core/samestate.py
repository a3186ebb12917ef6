"""Did the plan read the state we read? Pure: a plan and a state in, the
disagreements out.

The recorded plane is read from where the registry says the state is; Terraform
reads the state its working directory's backend record points at. They are
the same by construction after a real init with the registry's
``-backend-config``; a seeded working copy (core/workdir_seed.py) is checked
here after its plan. Every resource instance of the recorded state must be
accounted for by the plan (seen with the same id, or reported gone by the
refresh), and every object the plan started from must be in the recorded state.
An apply between the plan and the read can break this too; the caller then
verifies with a real init rather than trusting either reading.
"""

from __future__ import annotations

from iacdrift.core.terraform_json import PlanView, ResourceEntry, StateView


def _id(entry: ResourceEntry) -> str | None:
    before = entry.before
    value = before.get("id") if isinstance(before, dict) else None
    return value if isinstance(value, str) else None


def disagreements(plan: PlanView, state: StateView | None) -> list[str]:
    """Why the plan cannot have started from ``state`` (None: no state object);
    empty when it can. Sorted."""
    recorded = {
        r.address: r.id
        for r in (state.resources if state else [])
        if r.mode == "managed" and r.deposed is None
    }
    gone = {e.address for e in plan.resource_drift if e.mode == "managed" and e.after is None}
    found: list[str] = []
    seen: set[str] = set()
    for entry in plan.resource_changes:
        if entry.mode != "managed" or entry.deposed is not None:
            continue
        if entry.importing and entry.address not in recorded:
            continue  # an import block: it starts from the live object, not the state
        started_from = entry.before is not None
        address = entry.previous_address or entry.address
        if address in recorded:
            seen.add(address)
            planned, stored = _id(entry), recorded[address]
            if started_from and planned and stored and planned != stored:
                found.append(f"{address}: the plan read id {planned}; the state holds {stored}")
            elif not started_from and address not in gone:
                found.append(f"{address}: in the state, but the plan starts without it")
        elif started_from:
            found.append(f"{address}: the plan started from it; the state does not hold it")
    for address in sorted(set(recorded) - seen - gone):
        found.append(f"{address}: in the state, unknown to the plan")
    return sorted(found)
