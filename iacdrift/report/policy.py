"""Policy lint results as text and JSON. Data in, text out."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

from iacdrift.models.policy import LintFinding, PolicySet, Severity


def lint_json(policies: PolicySet, day: date, findings: Sequence[LintFinding]) -> str:
    """The policy version, the document count, the day judged and every finding."""
    report = {
        "policyVersion": policies.version,
        "documents": len(policies.sources),
        "today": day.isoformat(),
        "findings": [finding.model_dump(mode="json") for finding in findings],
    }
    return json.dumps(report, indent=2, sort_keys=True) + "\n"


def lint_lines(policies: PolicySet, directory: str, findings: Sequence[LintFinding]) -> list[str]:
    """One line per finding (severity: file: rule id: message), then the verdict."""
    lines = [
        f"{finding.severity.value}: {finding.file}: {finding.ruleId}: {finding.message}"
        for finding in findings
    ]
    errors = sum(1 for finding in findings if finding.severity is Severity.ERROR)
    warnings = len(findings) - errors
    count = len(policies.sources)
    lines.append(
        f"{'failed' if errors else 'ok'}: {count} "
        f"{'document' if count == 1 else 'documents'} in {directory}/, "
        f"{errors} {'error' if errors == 1 else 'errors'}, "
        f"{warnings} {'warning' if warnings == 1 else 'warnings'}; "
        f"policy version {policies.version}"
    )
    return lines
