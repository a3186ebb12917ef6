"""Provider-diff reports as text: the table, Markdown and the suggested ignore rules, on
the captured fixtures (tests/fixtures/provider_diff/)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from markdown_it import MarkdownIt

from iacdrift.core.policy_lint import lint
from iacdrift.core.terraform_json import read_plan, read_state
from iacdrift.core.upgrade_compare import build_report, compare_stack
from iacdrift.models.policy import IgnoreRule, PolicySet, PolicySource, Severity
from iacdrift.models.provider_diff import (
    ComparisonOutcome,
    ProviderDiffReport,
    ProviderDiffSummary,
)
from iacdrift.report.common import render_json
from iacdrift.report.provider_diff import render_markdown, render_suggestions, render_table

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "provider_diff"
SALT = b"unit-test-salt"
PASSWORD = "not-a-real-password-1"
TODAY = date(2026, 3, 1)
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
STACKS = ("legacy", "legacy-oob", "rds")


def _document(name: str, file: str) -> Any:
    return json.loads((FIXTURES / name / file).read_text(encoding="utf-8"))


def make_report(stacks: tuple[str, ...] = STACKS) -> ProviderDiffReport:
    results = [
        compare_stack(
            name,
            "hashicorp/aws",
            "2.70.0",
            "3.39.0",
            read_plan(_document(name, "plan-2.70.0.json"), "current"),
            read_plan(_document(name, "plan-3.39.0.json"), "target"),
            read_state(_document(name, "state.json"), "state"),
            salt=SALT,
        )
        for name in stacks
    ]
    return build_report("hashicorp/aws", "3.39.0", results, generated_at=NOW, today=TODAY)


@pytest.fixture(scope="module")
def report() -> ProviderDiffReport:
    return make_report()


def test_no_secret_in_any_output(report: ProviderDiffReport) -> None:
    # The fixture really holds it (state and plans): the redaction is what keeps it out.
    assert PASSWORD in (FIXTURES / "rds" / "state.json").read_text(encoding="utf-8")
    outputs = {
        "json": render_json(report),
        "table": render_table(report),
        "markdown": render_markdown(report),
        "suggestions": render_suggestions(report),
    }
    for name, text in outputs.items():
        assert PASSWORD not in text, f"the password leaked into the {name} output"


def test_table_per_stack_then_summary(report: ProviderDiffReport) -> None:
    text = render_table(report)
    lines = text.splitlines()

    assert lines[0] == "provider-diff hashicorp/aws -> 3.39.0"
    headlines = [line for line in lines if line.startswith(STACKS)]
    assert headlines == [
        "legacy: SAFE  (hashicorp/aws 2.70.0 -> 3.39.0; 0 behaviour, 5 schema, "
        "1 representation; 0 drifted fields under both; 4 resources)",
        "legacy-oob: SAFE  (hashicorp/aws 2.70.0 -> 3.39.0; 0 behaviour, 5 schema, "
        "1 representation; 1 drifted field under both; 4 resources)",
        "rds: BEHAVIOUR  (hashicorp/aws 2.70.0 -> 3.39.0; 1 behaviour, 3 schema, "
        "0 representation; 0 drifted fields under both; 1 resource)",
    ]
    (row,) = [line for line in lines if "/scaling_configuration/0/min_capacity" in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[:6] == [
        "behaviour",
        "aws_rds_cluster.c",
        "/scaling_configuration/0/min_capacity",
        "2",
        "1",
        "no-op -> update",
    ]
    assert (
        "  drift under both (not the upgrade's doing): aws_s3_bucket.archive /tags/owner" in lines
    )
    assert lines[-4:] == [
        "safe: legacy, legacy-oob",
        "behaviour: rds",
        "error: -",
        "4 ignore rules suggested for review",
    ]


def test_table_of_an_error_says_why() -> None:
    good = make_report(("legacy",))
    broken = good.results[0].model_copy(
        update={
            "outcome": ComparisonOutcome.ERROR,
            "reason": "the plan under 3.39.0 errored [bold]x[/]",
            "differences": [],
            "drift": [],
        }
    )
    report = ProviderDiffReport(
        generatedAt=NOW,
        provider="hashicorp/aws",
        toVersion="3.39.0",
        results=[broken],
        summary=ProviderDiffSummary(error=["legacy"]),
    )
    text = render_table(report)
    assert "legacy: ERROR  (hashicorp/aws 2.70.0 -> 3.39.0)" in text
    assert "the plan under 3.39.0 errored [bold]x[/]" in text  # literal, never markup


def test_markdown_tables_parse(report: ProviderDiffReport) -> None:
    text = render_markdown(report)
    assert text.startswith("# iacdrift provider-diff: `hashicorp/aws` -> `3.39.0`\n")
    assert "## rds: BEHAVIOUR" in text
    assert "- `aws_s3_bucket.archive`: `/tags/owner`" in text
    html = MarkdownIt("commonmark").enable("table").render(text)
    # Summary table plus one differences table per stack.
    assert html.count("<table>") == 4
    assert "<code>/scaling_configuration/0/min_capacity</code>" in html


def test_suggestions_are_ignore_rule_documents(report: ProviderDiffReport) -> None:
    text = render_suggestions(report)
    chunks = text.split("---\n")
    documents = list(yaml.safe_load_all(text))

    assert len(documents) == len(chunks) == len(report.suggestions) == 4
    for chunk, document, suggestion in zip(chunks, documents, report.suggestions, strict=True):
        assert chunk.startswith("# REVIEW: ")
        rule = IgnoreRule.model_validate(document)
        assert rule == suggestion.ignore_rule()
        assert rule.expires == date(2026, 5, 30)
        assert rule.owner == "REVIEW: owning team"


def test_suggestions_pass_lint_once_scoped(report: ProviderDiffReport) -> None:
    """The scoped suggestion lints clean; the unscoped ones fail only for being unscoped
    (the comment says to scope them)."""
    documents = [
        IgnoreRule.model_validate(d) for d in yaml.safe_load_all(render_suggestions(report))
    ]
    sources = tuple(
        PolicySource("upgrade.yaml", "policies/upgrade.yaml", i + 1, doc, "policies/upgrade.yaml")
        for i, doc in enumerate(documents)
    )
    findings = lint(PolicySet("sha256:test", sources), TODAY)
    errors = {(f.ruleId, f.message.split(":")[0]) for f in findings if f.severity is Severity.ERROR}
    unscoped = {doc.id for doc in documents if not doc.match.scoped}
    assert errors == {(rule_id, "unscoped") for rule_id in unscoped}
    assert len(unscoped) == 3
    comments = render_suggestions(report)
    assert comments.count("refuses unscoped rules") == 3


def test_no_suggestions_is_a_comment_only() -> None:
    report = make_report(("legacy",)).model_copy(update={"suggestions": []})
    text = render_suggestions(report)
    assert text.startswith("# REVIEW: ")
    assert list(yaml.safe_load_all(text)) == []


def test_renderers_are_deterministic() -> None:
    first, second = make_report(), make_report()
    for render in (render_table, render_markdown, render_suggestions, render_json):
        assert render(first) == render(second)
