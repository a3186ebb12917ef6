"""A finding explained as text: its decision, its fields and the evidence behind it."""

from __future__ import annotations

import json

from iacdrift.models.finding import Finding


def render_explanation(finding: Finding) -> str:
    """The finding's decision, its fields and the evidence behind it, as text."""
    where = ", ".join(
        part
        for part in (
            f"stack {finding.stack}" if finding.stack else "no stack (unmanaged)",
            f"environment {finding.environment}" if finding.environment else "",
            f"owner {finding.owner}" if finding.owner else "",
        )
        if part
    )
    also = f" (also {', '.join(r.value for r in finding.alsoTrue)})" if finding.alsoTrue else ""
    lines = [
        f"{finding.findingId}  {finding.driftClass.value}",
        f"  resource      {finding.resourceRef} [{finding.resourceType}] in {where}",
        f"  relationship  {finding.relationship.value}{also}",
        f"  risk          {finding.risk.value} ({finding.domain.value})"
        + ("; pages" if finding.alert else "; does not page"),
        f"  action        {finding.recommendedAction.value}"
        + ("; auto-heal allowed" if finding.autoHealAllowed else ""),
        f"  why           {finding.reason}",
        f"  policy        {finding.policyVersion or 'none recorded'}",
        f"  detected      {finding.detectedAt.isoformat()}",
    ]
    if finding.suppressed:
        lines.append("  suppressed    every changed field is under an ignore rule")
    if finding.deadline:
        lines.append(f"  reconcile by  {finding.deadline.isoformat()}")
    if finding.changedFields:
        lines.append("fields:")
        for field in finding.changedFields:
            notes = [
                note
                for note in (
                    f"owned by {field.ownedBy}" if field.ownedBy else "",
                    f"ignored by {field.ignoredBy}" if field.ignoredBy else "",
                    "sensitive (fingerprints)" if field.sensitive else "",
                )
                if note
            ]
            suffix = f"  [{'; '.join(notes)}]" if notes else ""
            lines.append(
                f"  {field.pointer}: {json.dumps(field.before)} -> {json.dumps(field.after)}"
                + suffix
            )
    if finding.actors:
        lines.append("who changed it (audit):")
        for actor in finding.actors:
            role = f" (role {actor.roleArn})" if actor.roleArn else ""
            lines.append(
                f"  {actor.eventTime.isoformat()} {actor.eventName} by {actor.actorArn}{role} "
                f"[{actor.eventId}]"
            )
    if finding.changeRecords:
        lines.append(f"change records: {', '.join(finding.changeRecords)}")
    lines.append("evidence (in the order it was weighed):")
    if not finding.evidence:
        lines.append("  none: the class follows from the relationship alone")
    for item in finding.evidence:
        at = f" @ {item.at.isoformat()}" if item.at else ""
        lines.append(f"  {item.kind.value:<13} {item.ref}: {item.detail}{at}")
    return "\n".join(lines) + "\n"
