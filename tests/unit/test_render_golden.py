"""Renderers against golden files, with values from outside that look like markup.

Item 2 of issue 23: every value from Terraform, a state, the cloud or a user's file
is rendered literally: rich never reads ``[bold]``, ``[/]``, ``[link=...]`` or
``:secret:`` in data as markup or emoji; Markdown keeps pipes, backticks and HTML in
data from breaking tables or becoming markup. Each output is compared with its
golden file under tests/fixtures/golden/ (``pytest --update-golden`` rewrites them;
review the diff), and checked directly for the literal values, so a golden file
updated to a wrong rendering still fails.
"""

from __future__ import annotations

import html
import io
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from markdown_it import MarkdownIt
from rich.console import Console

from iacdrift.models.finding import (
    ChangedField,
    CheckReport,
    Counts,
    Domain,
    ExpiredRule,
    Finding,
    LockHolder,
    Relationship,
    StackResult,
    StackStatus,
    Timings,
)
from iacdrift.models.outcomes import PlanOutcome
from iacdrift.models.registry import DriftManagedUnit, RiskTier
from iacdrift.models.run import (
    LockContention,
    RunReport,
    RunSelection,
    SkippedStack,
    StackStatusEntry,
    StatusReport,
)
from iacdrift.report import check as check_report
from iacdrift.report import run as run_report
from iacdrift.report import status as status_report
from iacdrift.report.common import md_code
from iacdrift.report.registry import units_table
from tests.factories import make_finding

GOLDEN = Path(__file__).resolve().parents[1] / "fixtures" / "golden"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCd"
# Each of these must come out exactly as written wherever it is shown.
HOSTILE = (
    ":secret:",
    ":smile:",
    "[bold]x[/bold]",
    "[/]",
    "[link=https://evil.example/]click[/link]",
    "`rm -rf /`",
    "a|b",
    "<b>html</b>",
    "*star*",
)
# What rich makes of :smile: and :secret: when it reads them as emoji codes.
EMOJI = ("\N{SMILING FACE WITH OPEN MOUTH AND SMILING EYES}", "\N{CIRCLED IDEOGRAPH SECRET}")


def _finding(finding_id: str, **changes: object) -> Finding:
    base = make_finding(
        finding_id,
        stack="prod-payments",
        detectedAt=NOW,
        domain=Domain.SECRETS,
        resourceRef='aws_secretsmanager_secret.db["[bold]x[/bold]"]',
        resourceId=SECRET_ARN,
        resourceType="aws_secretsmanager_secret",
        owner="team-:smile:",
        reason="changed outside Terraform [bold]now[/bold]",
        changedFields=[
            ChangedField(pointer="/arn", before=SECRET_ARN, after=None),
            ChangedField(pointer="/tags/note", before=":smile: [/]", after="[bold]x[/bold]"),
            ChangedField(
                pointer="/description",
                before="`rm -rf /`",
                after="[link=https://evil.example/]click[/link]",
            ),
            ChangedField(pointer="/policy", before="a|b", after="<b>html</b> *star*"),
        ],
        changeRecords=["CHG-[red]1[/red]", "pipe|id"],
        deadline=NOW + timedelta(hours=24),
    )
    return base.model_copy(update=changes)


def _results() -> list[StackResult]:
    drifted = StackResult(
        stack="prod-payments",
        status=StackStatus.DRIFTED,
        checkedAt=NOW,
        planOutcome=PlanOutcome.CHANGES,
        terraformFlavor="terraform",
        terraformVersion="1.15.0",
        counts=Counts(findings=2, drifted=2, resources=3),
        timings=Timings(totalSeconds=4.2),
        findings=[
            _finding("drift-0000000000000000000a"),
            _finding(
                "drift-0000000000000000000b",
                resourceRef="aws_iam_role.app",
                changedFields=[
                    ChangedField(
                        pointer="/tags/`x`", before="1", after="2", ignoredBy="mute-`tags`|x"
                    )
                ],
                suppressed=True,
                alert=False,
                changeRecords=[],
                deadline=None,
            ),
        ],
    )
    locked = StackResult(
        stack="prod-iam",
        status=StackStatus.LOCKED,
        checkedAt=NOW,
        reason=(
            "prod-iam: state is locked by [bold]root[/bold]@host:smile: (operation "
            "OperationTypeApply, since 2025-06-01 08:55:00, lock id 1|2); wait for it"
        ),
        lock=LockHolder(
            id="1|2",
            operation="OperationTypeApply",
            who="[bold]root[/bold]@host:smile:",
            created="2025-06-01 08:55:00",
            path="bucket/prod/iam.tfstate",
            ageSeconds=3 * 3600 + 300,
            stale=True,
        ),
    )
    error = StackResult(
        stack="scratch:smile:[b]",  # an unregistered directory's name: anything goes
        status=StackStatus.ERROR,
        checkedAt=NOW,
        reason="terraform plan failed: Error: `x` [bold]y[/bold]\n| a | b |\n```fence```",
    )
    return [locked, drifted, error]


def _unmanaged() -> list[Finding]:
    common: dict[str, Any] = {
        "stack": None,
        "relationship": Relationship.UNMANAGED,
        "changedFields": [],
        "changeRecords": [],
        "deadline": None,
    }
    return [
        # The demo's case: a secret's ARN holds ":secret:", which rich made an emoji.
        _finding(
            "drift-0000000000000000000c",
            resourceRef=f"aws_secretsmanager_secret:{SECRET_ARN}",
            **common,
        ),
        _finding(
            "drift-0000000000000000000e",
            resourceRef="aws_s3_bucket:shadow-[i]exports[/i]|x",
            **common,
        ),
    ]


def check_fixture() -> CheckReport:
    return CheckReport(
        generatedAt=NOW,
        results=_results(),
        estateFindings=_unmanaged(),
        estateProblems=["audit logs: s3://logs/`key`|x: AccessDenied [bold]no[/bold] :secret:"],
        policyVersion="sha256:0123456789ab",
        expiredRules=[
            ExpiredRule(
                id="tmp-[bold]mute[/bold]",
                expires="2025-05-01",
                owner="team-:smile:",
                file="policies/ignore|x.yaml",
            )
        ],
    )


def run_fixture() -> RunReport:
    check = check_fixture()
    answered = StackResult(
        stack="prod-app",
        status=StackStatus.DRIFTED,
        checkedAt=NOW - timedelta(minutes=2),
        planOutcome=PlanOutcome.CHANGES,
        terraformFlavor="terraform",
        terraformVersion="1.15.0",
        counts=Counts(findings=1, drifted=1),
        findings=[_finding("drift-0000000000000000000d", stack="prod-app")],
    )
    return RunReport(
        runId="run0000000b",
        startedAt=NOW,
        finishedAt=NOW + timedelta(seconds=30),
        registry="registry",
        selection=RunSelection.ALL,
        maxParallel=2,
        results=check.results,
        estateFindings=check.estateFindings,
        estateProblems=check.estateProblems,
        policyVersion=check.policyVersion,
        expiredRules=check.expiredRules,
        skipped=[
            SkippedStack(
                stack="prod-app",
                reason="prod-app: another iacdrift run held its lease; waited 40s",
                holder="ci-[bold]1[/bold]:4242:run0000000a",
                holderRunId="run0000000a",
                result=answered,
            ),
            SkippedStack(
                stack="prod-network",
                reason=(
                    "prod-network: another iacdrift holds its orchestrator lease "
                    "(ci-[bold]1[/bold]:4242:run0000000a, check, taken 5s ago, expires in "
                    "29m); skipped: that process is working on it"
                ),
                holder="ci-[bold]1[/bold]:4242:run0000000a",
                holderRunId="run0000000a",
            ),
        ],
    )


def status_fixture() -> StatusReport:
    lock = LockHolder(who="[bold]root[/bold]:smile:", operation="OperationTypeApply")
    entry = StackStatusEntry(
        stack="prod-iam",
        owner="team-:smile:",
        environment="prod",
        riskTier=RiskTier.CRITICAL,
        frequency="1h",
        lastCheckedAt=NOW - timedelta(minutes=5),
        lastSuccessAt=NOW - timedelta(hours=3),
        lastStatus=StackStatus.ERROR,
        lastReason="terraform failed: [link=https://evil.example/]click[/link] :secret:",
        due=True,
        stale=True,
        status=StackStatus.STALE,
        consecutiveFailures=2,
        lock=lock.model_copy(update={"ageSeconds": 7500.0, "stale": True}),
    )
    return StatusReport(
        generatedAt=NOW,
        history=".iacdrift/history.sqlite",
        entries=[entry],
        contention=[LockContention(stack="prod-iam", checkedAt=NOW, lock=lock)],
        problems=["prod-iam: state lock not read: [bold]AccessDenied[/bold] :smile:"],
    )


def _unit() -> DriftManagedUnit:
    return DriftManagedUnit.model_validate(
        {
            "apiVersion": "iacdrift.dev/v1",
            "kind": "DriftManagedUnit",
            "metadata": {"name": "prod-app"},
            "spec": {
                "type": "terraform-stack",
                "owner": "team-[bold]x[/bold]:smile:",
                "environment": "prod",
                "riskTier": "high",
                "source": {"repo": "github.com/acme/infra", "path": "stacks/[/]app"},
                "state": {
                    "backend": "s3",
                    "bucket": "state-bucket",
                    "key": "prod/:secret:.tfstate",
                    "region": "us-east-1",
                },
                "credentials": {"oidcRole": "arn:aws:iam::123456789012:role/app"},
                "schedule": {"frequency": "6h"},
            },
        }
    )


def _console(terminal: bool = False) -> Console:
    if terminal:  # what a user's terminal gets: colours on, rich's emoji on by default
        return Console(width=200, file=io.StringIO(), force_terminal=True, color_system="standard")
    return Console(width=200, record=True, file=io.StringIO())


def _status_text() -> str:
    console = _console()
    status_report.render_table(status_fixture(), console)
    return console.export_text()


def _registry_text() -> str:
    console = _console()
    console.print(units_table([_unit()]))
    return console.export_text()


RENDERERS = {
    "check.txt": lambda: check_report.table_text(check_fixture()),
    "check.md": lambda: check_report.render_markdown(check_fixture()),
    "run.txt": lambda: run_report.run_table_text(run_fixture()),
    "run.md": lambda: run_report.render_run_markdown(run_fixture()),
    "status.txt": _status_text,
    "registry.txt": _registry_text,
}


@pytest.mark.parametrize("name", sorted(RENDERERS))
def test_renderer_matches_its_golden_file(name: str, request: pytest.FixtureRequest) -> None:
    rendered = RENDERERS[name]()
    path = GOLDEN / name
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(rendered, encoding="utf-8")
    assert path.is_file(), f"{path}: missing; run pytest --update-golden and review it"
    assert rendered == path.read_text(encoding="utf-8"), (
        f"{name} differs from {path}; if the change is intended, run pytest "
        "--update-golden and review the diff"
    )


@pytest.mark.parametrize("name", ["check.txt", "run.txt", "status.txt", "registry.txt"])
def test_text_shows_every_value_as_written(name: str) -> None:
    text = RENDERERS[name]()
    for emoji in EMOJI:
        assert emoji not in text
    must = {
        "check.txt": (*HOSTILE, SECRET_ARN, "scratch:smile:[b]", "[bold]root[/bold]@host:smile:"),
        "run.txt": ("ci-[bold]1[/bold]:4242:run0000000a", "[bold]x[/bold]", ":secret:"),
        "status.txt": ("[bold]root[/bold]:smile:", "[link=https://evil.example/]click[/link]"),
        "registry.txt": ("team-[bold]x[/bold]:smile:", "stacks/[/]app", "prod/:secret:.tfstate"),
    }[name]
    for value in must:
        assert value in text, value


def test_a_terminal_gets_no_emoji_and_no_markup_from_data() -> None:
    """What the rich console does to a real terminal: styles from our labels only."""
    console = _console(terminal=True)
    check_report.render_table(check_fixture(), console)
    status_report.render_table(status_fixture(), console)
    run_report.render_run_table(run_fixture(), console)
    console.print(units_table([_unit()]))
    assert isinstance(console.file, io.StringIO)
    output = console.file.getvalue()
    for emoji in EMOJI:
        assert emoji not in output
    assert "\x1b]8;" not in output  # no terminal hyperlink from [link=...]
    for value in ("[bold]x[/bold]", "[/]", "[link=https://evil.example/]click[/link]"):
        assert value in output


class _Html(HTMLParser):
    """Tags seen, the text of each <code>, and the cells of each table row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: set[str] = set()
        self.codes: list[str] = []
        self.rows: list[int] = []
        self._code: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        if tag == "code":
            self._code = []
        elif tag == "tr":
            self.rows.append(0)
        elif tag in ("td", "th"):
            self.rows[-1] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "code" and self._code is not None:
            self.codes.append("".join(self._code))
            self._code = None

    def handle_data(self, data: str) -> None:
        if self._code is not None:
            self._code.append(data)


def _parsed(markdown: str) -> _Html:
    parser = _Html()
    parser.feed(MarkdownIt("commonmark").enable("table").render(markdown))
    return parser


@pytest.mark.parametrize("name", ["check.md", "run.md"])
def test_markdown_keeps_data_literal_and_tables_whole(name: str) -> None:
    parsed = _parsed(RENDERERS[name]())
    # Nothing from the data became emphasis, a link, an image or raw HTML.
    assert not parsed.tags & {"strong", "em", "a", "img", "b", "script"}, parsed.tags
    # Pipes and backticks in data did not add or remove cells: six in every row.
    assert parsed.rows and set(parsed.rows) == {6}
    code = "\n".join(parsed.codes)
    for value in (*HOSTILE, SECRET_ARN):
        assert value in code, value
    if name == "run.md":
        assert "ci-[bold]1[/bold]:4242:run0000000a" in code


def test_run_markdown_is_titled_as_a_run_and_lists_skipped_stacks() -> None:
    text = run_report.render_run_markdown(run_fixture())
    assert text.startswith("# iacdrift run `run0000000b`\n")
    assert "iacdrift check" not in text
    assert "## Skipped stacks" in text
    assert "prod-network: not checked, answer unknown" in text
    assert "this is the result run `run0000000a` recorded" in text


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("plain", "`plain`"),
        ("a`b", "``a`b``"),
        ("`x`", "`` `x` ``"),
        ("``", "``` `` ```"),
        ("a|b", "`a|b`"),
        (" x", "`  x `"),
        ("line\nbreak", "`line break`"),
        ("", ""),
    ],
)
def test_md_code_fences_any_value(value: str, expected: str) -> None:
    assert md_code(value) == expected
    if value.strip():
        parsed = _parsed(md_code(value))
        assert parsed.codes == [html.unescape(value.replace("\n", " "))]


def test_md_code_escapes_pipes_in_table_cells() -> None:
    cell = md_code("a|b`|c", in_table=True)
    assert cell == "``a\\|b`\\|c``"
    parsed = _parsed(f"| h | i |\n|---|---|\n| {cell} | 2 |\n")
    assert parsed.rows == [2, 2]
    assert parsed.codes == ["a|b`|c"]
