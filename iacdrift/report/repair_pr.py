"""The body of a reconciliation pull request (UPDATE_CODE): Markdown, from data.

Pure: findings, the patch (:class:`iacdrift.core.reconcile.patch.CodePatch`), the
change records and the owner come in; text goes out. Values from outside
(addresses, ids, ARNs, reasons, field values) are data: code spans and fenced blocks
(:mod:`iacdrift.report.common`). A sensitive field shows only its marker.

Sections, in order: title, findings, resource, fields, who changed it, why the runtime
value is accepted, change records, expected plan after merge, rollback, reviewers,
the diff.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from iacdrift.core.reconcile.patch import CodePatch
from iacdrift.core.redact import contains_marker
from iacdrift.models.context import ChangeRecord
from iacdrift.models.finding import ChangedField, Finding
from iacdrift.report.common import md_code

_BACKTICK_RUNS = re.compile(r"`+")


def _value(changed: ChangedField, value: object) -> str:
    if changed.sensitive and not contains_marker(value):
        return "(sensitive)"  # never a value the finding marked sensitive
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _diff_block(diff: str) -> list[str]:
    # Longer than any run of backticks inside, so no line of the diff closes it.
    longest = max((len(run) for run in _BACKTICK_RUNS.findall(diff)), default=0)
    fence = "`" * max(3, longest + 1)
    return [f"{fence}diff", *diff.splitlines(), fence]


def render_pr_body(
    findings: Sequence[Finding],
    patch: CodePatch,
    *,
    owner: str | None,
    records: Sequence[ChangeRecord] = (),
    plan_id: str | None = None,
    expected_plan: str | None = None,
) -> str:
    """A reconciliation PR body for ``findings`` (one address: the patch's) and the
    patch. ``records``: the change records the findings name, when the caller has
    them (their ids are listed either way); ``owner``: the stack's owner from the
    registry (the reviewers); ``plan_id``: the repair plan this comes from;
    ``expected_plan``: what the plan after merge shows, by default no changes for the
    address. A refused patch gives a body that says so instead of a diff."""
    ordered = sorted(findings, key=lambda f: f.findingId)
    address = patch.address
    first = ordered[0] if ordered else None
    lines = [f"# Reconcile {md_code(address)} with the accepted runtime value", ""]
    if plan_id:
        lines += [f"From repair plan {md_code(plan_id)}.", ""]

    lines += ["## Findings", ""]
    lines += [
        f"- {md_code(f.findingId)}: {f.driftClass}, risk {f.risk}, {f.relationship}"
        for f in ordered
    ] or ["- (none)"]

    lines += ["", "## Resource", ""]
    lines.append(f"- Address: {md_code(address)}")
    if first is not None:
        lines.append(f"- Type: {md_code(first.resourceType)}")
        lines.append(f"- Id: {md_code(first.resourceId) if first.resourceId else '(unknown)'}")
        if first.stack:
            lines.append(f"- Stack: {md_code(first.stack)}")

    lines += ["", "## Fields", ""]
    fields = sorted({(c.pointer, c) for f in ordered for c in f.changedFields}, key=lambda p: p[0])
    for pointer, changed in fields:
        before = _value(changed, changed.before)
        after = _value(changed, changed.after)
        line = f"- {md_code(pointer)}: {md_code(before)} -> {md_code(after)}"
        lines.append(line + (" (sensitive: fingerprints only)" if changed.sensitive else ""))
    if not fields:
        lines.append("- (none)")

    lines += ["", "## Who changed it", ""]
    actors = sorted({a for f in ordered for a in f.actors}, key=lambda a: (a.eventTime, a.eventId))
    for actor in actors:
        role = f" (role {md_code(actor.roleArn)})" if actor.roleArn else ""
        lines.append(
            f"- {actor.eventTime.isoformat()} {md_code(actor.actorArn)}{role}: "
            f"{md_code(actor.eventName)}, event {md_code(actor.eventId)}"
        )
    if not actors:
        lines.append("- Not in the audit trail the check read.")

    record_ids = sorted({r for f in ordered for r in f.changeRecords})
    lines += ["", "## Why the runtime value is accepted", ""]
    if record_ids:
        lines.append(
            "Covered by change record(s) " + ", ".join(md_code(r) for r in record_ids) + "."
        )
    else:
        lines.append("No change record covers it: a reviewer must accept the value here.")
    lines.append("")
    lines += [f"- {md_code(f.findingId)}: {md_code(f.reason)}" for f in ordered]

    lines += ["", "## Change records", ""]
    known = {r.id: r for r in records}
    for record_id in record_ids:
        record = known.get(record_id)
        if record is None:
            lines.append(f"- {md_code(record_id)}")
            continue
        detail = [str(record.type)]
        if record.acceptsRuntime:
            detail.append("accepts the runtime value")
        if record.breakGlass:
            detail.append("break-glass")
        if record.approvers:
            detail.append("approved by " + ", ".join(md_code(a) for a in record.approvers))
        line = f"- {md_code(record_id)}: " + "; ".join(detail)
        if record.summary:
            line += f"; {md_code(record.summary)}"
        if record.url:
            line += f"; {md_code(record.url)}"
        lines.append(line)
    if not record_ids:
        lines.append("- (none)")

    lines += ["", "## Expected plan after merge", ""]
    lines.append(expected_plan or f"No changes for {md_code(address)}.")

    lines += ["", "## Rollback", ""]
    lines += ["Revert this PR: the code then says the previous value again:", ""]
    lines += [
        f"- {md_code(pointer)}: {md_code(_value(changed, changed.before))}"
        for pointer, changed in fields
    ]
    lines += ["", "The live resource keeps the accepted value until a revert is applied to it."]

    lines += ["", "## Reviewers", ""]
    lines.append(f"- {md_code(owner)}" if owner else "- No owner registered: name one.")

    lines += ["", "## Diff", ""]
    if patch.refused:
        lines.append(f"No patch: {md_code(patch.why or '')}")
    else:
        lines += _diff_block(patch.diff)
        if patch.notes:
            lines.append("")
            lines += [f"- Note: {md_code(note)}" for note in patch.notes]
    return "\n".join(lines) + "\n"
