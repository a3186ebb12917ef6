"""A repair plan as text: Markdown (steps table, artifacts, a Mermaid graph) and DOT.

Values from outside (addresses, finding ids, reasons, artifact text) are data:
code spans in table cells (:func:`md_code`, pipes escaped), fenced blocks for
artifacts (:func:`md_block`). Graph labels hold only our own words (step ids,
which are ``[a-z0-9-]``, and action names), never addresses.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from iacdrift.models.finding import Finding
from iacdrift.models.repair import RepairApplyReport, RepairPlan, RepairStep, StepKind
from iacdrift.report.common import md_block, md_code, md_lines, md_name


def _label(step: RepairStep) -> str:
    what = "VERIFY" if step.kind is StepKind.VERIFY else str(step.action)
    return f"{step.id}: {what}"


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_mermaid(plans: list[RepairPlan]) -> str:
    """The step graph of ``plans`` as a Mermaid flowchart (nodes n0, n1, ... by order)."""
    steps = [step for plan in plans for step in plan.steps]
    names = {step.id: f"n{i}" for i, step in enumerate(steps)}
    lines = ["flowchart TD"]
    for step in steps:
        lines.append(f'  {names[step.id]}["{_label(step)}"]')
    for step in steps:
        for before in step.dependsOn:
            if before in names:
                lines.append(f"  {names[before]} --> {names[step.id]}")
    return "\n".join(lines) + "\n"


def render_dot(plans: list[RepairPlan], edges: Sequence[tuple[str, str]] = ()) -> str:
    """The step graph of ``plans`` as Graphviz DOT, one cluster per stack; ``edges``:
    (before, after) step pairs beside the plans' own ``dependsOn`` (the order across
    stacks, :func:`iacdrift.core.reconcile.plan.cross_stack_edges`), dashed."""
    lines = ["digraph repair {", "  rankdir=TB;"]
    for index, plan in enumerate(plans):
        lines.append(f"  subgraph cluster_{index} {{")
        lines.append(f"    label={_quoted(plan.stack)};")
        for step in plan.steps:
            lines.append(f"    {_quoted(step.id)} [label={_quoted(_label(step))}];")
        lines.append("  }")
    for plan in plans:
        for step in plan.steps:
            for before in step.dependsOn:
                lines.append(f"  {_quoted(before)} -> {_quoted(step.id)};")
    for before, after in edges:
        lines.append(f"  {_quoted(before)} -> {_quoted(after)} [style=dashed];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_markdown(plan: RepairPlan) -> str:
    """The plan for a pull request or a person: what, in which order, with what."""
    binding = plan.binding
    lines = [
        f"# Repair plan for {md_name(plan.stack)}",
        "",
        f"- plan: {md_code(plan.planId)}",
        f"- bound to: state lineage {md_code(binding.stateLineage or '(none)')}, serial "
        f"{md_code(str(binding.stateSerial) if binding.stateSerial is not None else '(none)')}"
        f", files {md_code(binding.filesDigest[:16])}, findings "
        f"{md_code(binding.findingsDigest[:16])} (hash {md_code(binding.hash[:16])})",
        f"- steps: {len(plan.steps)} in {len(plan.batches)} batches",
        "",
    ]
    if not plan.steps:
        lines += ["Nothing to repair.", ""]
        return "\n".join(lines)
    lines += [
        "## Steps",
        "",
        "| batch | step | action | status | findings | addresses | why |",
        "|---|---|---|---|---|---|---|",
    ]
    for step in plan.steps:
        action = "VERIFY" if step.kind is StepKind.VERIFY else str(step.action)
        lines.append(
            f"| {step.batch} | {md_code(step.id, in_table=True)} | {action} | {step.status} "
            f"| {md_lines(step.findingIds)} | {md_lines(step.addresses)} "
            f"| {md_code(step.why or '', in_table=True)} |"
        )
    lines += ["", "## Artifacts", ""]
    for step in plan.steps:
        if step.artifact is None:
            continue
        lines.append(f"### {md_code(step.id)} ({step.artifact.kind})")
        lines.append("")
        lines += md_block(step.artifact.text)
        lines.append("")
    lines += ["## Order", "", "```mermaid", *render_mermaid([plan]).splitlines(), "```", ""]
    return "\n".join(lines)


def render_plans_json(plans: Sequence[RepairPlan]) -> str:
    """Several plans as one canonical JSON array (each item a RepairPlan document)."""
    return json.dumps([p.model_dump(mode="json") for p in plans], indent=2, sort_keys=True) + "\n"


def render_unassigned(findings: Sequence[Finding], why: str) -> str:
    """Unmanaged objects that no stack receives: each keeps its action (INVESTIGATE
    until a stack receives it), saying ``why``."""
    lines = [
        "# Unmanaged objects with no receiving stack",
        "",
        f"Nothing is planned for them: {why}.",
        "",
        "| finding | object | action |",
        "|---|---|---|",
    ]
    for finding in findings:
        lines.append(
            f"| {md_code(finding.findingId, in_table=True)} "
            f"| {md_code(finding.resourceRef, in_table=True)} | {finding.recommendedAction} |"
        )
    return "\n".join([*lines, ""])


def render_estate_order(batches: Sequence[Sequence[str]]) -> str:
    """The batches of all stacks' steps run together (across stacks by remote-state reads)."""
    lines = ["# Order across stacks", ""]
    for index, batch in enumerate(batches):
        lines.append(f"- batch {index}: " + ", ".join(md_code(step) for step in batch))
    return "\n".join([*lines, ""])


def render_apply_text(report: RepairApplyReport) -> str:
    """What `repair apply` prints: the result, then each step with its expected plan."""
    mode = "dry run" if report.dryRun else "applied"
    lines = [f"repair {report.planId} for {report.stack} ({mode}): {report.result.value}"]
    if report.reason:
        lines.append(f"  reason: {report.reason}")
    if report.snapshotVersionId:
        lines.append(f"  state snapshot: version {report.snapshotVersionId}")
    for record in report.steps:
        action = record.action.value if record.action else "VERIFY"
        lines.append(f"  [{record.outcome.value}] {record.stepId} {action}")
        for address in record.addresses:
            lines.append(f"      address: {address}")
        if record.detail:
            lines.append(f"      {record.detail}")
        if record.expectedPlan:
            lines.append("      plan:")
            lines.extend(f"        {line}" for line in record.expectedPlan)
        if record.changeRecord:
            lines.append(f"      change record: {record.changeRecord}")
    if report.codeWritten:
        lines.append("  code written into the stack directory:")
        lines.extend(f"    {name}" for name in report.codeWritten)
    if report.verification is not None:
        verdict = "passed" if report.verification.passed else "FAILED"
        lines.append(f"  verification: {verdict} ({report.verification.status})")
        if report.verification.reason:
            lines.append(f"    {report.verification.reason}")
    for item in report.rolledBack:
        lines.append(f"  rolled back: {item}")
    for item in report.notReversible:
        lines.append(f"  NOT reversible: {item}")
    return "\n".join(lines) + "\n"
