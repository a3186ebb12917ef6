"""A surgery plan as Markdown: what a reviewer reads before approving it.

Values from outside (addresses, ids, reasons, block text) are data: code spans and
fenced blocks (:func:`md_code`, :func:`md_block`).
"""

from __future__ import annotations

from iacdrift.models.surgery import SurgeryPlan
from iacdrift.report.common import md_block, md_code, md_name


def render_surgery_markdown(plan: SurgeryPlan) -> str:
    verdict = "approvable" if plan.approvable else "NOT approvable (the result does not match)"
    binding = plan.binding
    lines = [
        f"# Surgery plan {md_code(plan.planId)} for {md_name(plan.stack)}",
        "",
        f"- Migration: {md_code(plan.migration.id)} (sha256 {md_code(plan.migration.sha256[:16])})",
        f"- Author: {md_code(plan.author)}",
        f"- Created: {plan.createdAt.isoformat()}",
        f"- State: lineage {md_code(str(binding.stateLineage))}, serial "
        f"{binding.stateSerial}, version {md_code(str(binding.stateVersionId))}",
        f"- Engine: {md_code(binding.terraformVersion)}; providers: "
        + (", ".join(f"{md_code(k)} {md_code(v)}" for k, v in binding.providers.items()) or "none"),
        f"- Verdict: **{verdict}**",
        "",
        "## Operations",
        "",
    ]
    for result in plan.operations:
        operation = result.operation
        lines.append(f"### {result.index}. {operation.op}")
        lines.append("")
        lines.append(f"Reason: {md_code(operation.reason)}")
        lines.append("")
        if result.command is not None:
            lines.append("Ran on the private copy: " + md_code(" ".join(result.command)))
        else:
            lines.append("Nothing runs at planning; checked and run at apply.")
        lines.append("")
        if result.addressesBefore or result.addressesAfter:
            before = ", ".join(md_code(a) for a in result.addressesBefore) or "none"
            after = ", ".join(md_code(a) for a in result.addressesAfter) or "none"
            lines += [f"- before: {before}", f"- after: {after}", ""]
        config = result.configuration
        if config.expressible and config.block:
            lines += ["Configuration can say it (prefer it: it is reviewed with the code):", ""]
            lines += [*md_block(config.block), ""]
        elif config.why:
            lines += [f"Not expressible in configuration: {config.why}", ""]
    lines += ["## Resulting plan", ""]
    if plan.resultingPlan:
        for change in plan.resultingPlan:
            moved = f" (from {md_code(change.previousAddress)})" if change.previousAddress else ""
            lines.append(f"- {md_code(change.address)}: {', '.join(change.actions)}{moved}")
    else:
        lines.append("No changes.")
    lines += ["", "## Expectation", ""]
    expected = plan.expectation.expected
    if isinstance(expected, str):
        lines.append(f"Expected: {md_code(expected)}")
    else:
        for item in expected:
            actions = ", ".join(a.value for a in item.actions)
            lines.append(f"- expected {md_code(item.address)}: {actions}")
    lines.append("")
    if plan.expectation.matches:
        lines.append("The resulting plan matches.")
    else:
        lines.append("The resulting plan does NOT match:")
        lines.append("")
        lines += [f"- {md_code(d)}" for d in plan.expectation.differences]
    if plan.configurationAlternative:
        lines += [
            "",
            "## The whole migration as configuration",
            "",
            *md_block(plan.configurationAlternative),
        ]
    return "\n".join(lines) + "\n"
