"""`iacdrift explain FINDING_ID`: why a finding got its class, risk and action."""

from __future__ import annotations

import json
from pathlib import Path

import click
from pydantic import ValidationError

from iacdrift.cli.common import config_option, registry_option
from iacdrift.core.routing import findings_of
from iacdrift.errors import InputError
from iacdrift.loaders.registry import load_project
from iacdrift.models.finding import CheckReport, Finding
from iacdrift.models.run import RunReport
from iacdrift.store.history import DEFAULT_PATH, HistoryStore


class FindingNotFoundError(InputError):
    """No finding with that id where we looked."""


def _from_report(path: Path, finding_id: str) -> Finding | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(
            f"{path}: cannot read it as JSON ({exc}); pass a run or check report"
        ) from exc
    model: type[RunReport] | type[CheckReport] = (
        RunReport if isinstance(data, dict) and data.get("kind") == "RunReport" else CheckReport
    )
    try:
        report = model.model_validate(data)
    except ValidationError as exc:
        raise InputError(
            f"{path}: not a run or check report ({exc.error_count()} problems, first: "
            f"{'.'.join(str(p) for p in exc.errors()[0]['loc'])}); pass `run --format json` "
            "or `check --format json` output"
        ) from exc
    findings = findings_of(report)
    matches = [f for f in findings if f.findingId == finding_id]
    if not matches and len(finding_id) >= 12:
        matches = [f for f in findings if f.findingId.startswith(finding_id)]
    return matches[0] if len({f.findingId for f in matches}) == 1 else None


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


@click.command("explain")
@click.argument("finding_id")
@config_option
@registry_option
@click.option(
    "--history",
    "history_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Run-history SQLite file (default .iacdrift/history.sqlite beside iacdrift.yaml).",
)
@click.option(
    "--report",
    "report_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    default=None,
    help="Look in this saved `run`/`check --format json` report instead of the history.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
)
def explain_command(
    finding_id: str,
    config_path: Path | None,
    registry_dir: Path | None,
    history_file: Path | None,
    report_file: Path | None,
    output_format: str,
) -> int:
    """Show which rules, audit events and change records decided a finding.

    FINDING_ID is the findingId of a finding (`drift-...`, as `run` and `check`
    print it; 12 or more leading characters are enough when unique). The most
    recent record of it is read from the run history (every `run` and `check`
    keeps its findings there) or from a saved report with --report.

    \b
    Examples:
      iacdrift explain drift-3f2a9c01b7d4e5f6a7b8
      iacdrift explain drift-3f2a9c01b7d4 --report out/run.json --format json

    \b
    Exit codes: 0 shown, 1 not found or unreadable input.
    """
    if report_file is not None:
        finding = _from_report(report_file, finding_id)
        where = str(report_file)
    else:
        if history_file is None:
            project = load_project(config_path, registry_dir)
            history_file = project.resolve_path(str(DEFAULT_PATH))
        if not history_file.exists():
            raise FindingNotFoundError(
                f"{history_file}: no run history yet; run `iacdrift run` or `iacdrift check` "
                "first, or pass --report"
            )
        with HistoryStore(history_file) as history:
            finding = history.find_finding(finding_id)
        where = str(history_file)
    if finding is None:
        raise FindingNotFoundError(
            f"{finding_id}: no such finding in {where}; copy the findingId from `run` or "
            "`check` output (drift-...)"
        )
    if output_format == "json":
        click.echo(json.dumps(finding.model_dump(mode="json"), indent=2, sort_keys=True))
    else:
        click.echo(render_explanation(finding), nl=False)
    return 0
