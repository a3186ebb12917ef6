"""The reconciliation PR body of an UPDATE_CODE step: the lines a reviewer needs."""

from __future__ import annotations

from datetime import UTC, datetime

from iacdrift.core.reconcile.patch import CodePatch, Edit
from iacdrift.models.context import ChangeRecord
from iacdrift.models.finding import (
    Action,
    AuditActor,
    ChangedField,
    Domain,
    DriftClass,
    Finding,
    Relationship,
    Risk,
)
from iacdrift.report.repair_pr import render_pr_body
from tests.factories import make_finding

ADDRESS = 'module.bucket["ledger"].aws_s3_bucket.this'
MARKER = "(sensitive:0123456789abcdef)"
DIFF = (
    "--- a/prod-payments/main.tf\n"
    "+++ b/prod-payments/main.tf\n"
    "@@ -21 +21 @@\n"
    '-    ledger   = { data_class = "confidential", versioning = true }\n'
    '+    ledger   = { data_class = "restricted", versioning = true }\n'
)
PATCH = CodePatch(
    ADDRESS,
    diff=DIFF,
    edits=(
        Edit(
            "prod-payments/main.tf",
            21,
            "/tags/data-class",
            '"confidential"',
            '"restricted"',
            "instance locals",
        ),
    ),
    notes=("prod-payments/main.tf:21 (instance locals) may feed other addresses too",),
)


def ledger_finding(**fields: object) -> Finding:
    values: dict[str, object] = {
        "stack": "prod-payments",
        "domain": Domain.STORAGE,
        "resourceRef": ADDRESS,
        "resourceId": "iacdrift-demo-prod-ledger",
        "resourceType": "aws_s3_bucket",
        "owner": "team-payments",
        "relationship": Relationship.OUT_OF_BAND,
        "driftClass": DriftClass.STALE_DESIRED_STATE,
        "risk": Risk.MEDIUM,
        "recommendedAction": Action.UPDATE_CODE,
        "reason": "approved change CHG-7 accepts the runtime value",
        "changedFields": [
            ChangedField(pointer="/tags/data-class", before="confidential", after="restricted")
        ],
        "actors": [
            AuditActor(
                eventId="ev-1",
                eventTime=datetime(2025, 6, 1, 9, 30, tzinfo=UTC),
                eventName="PutBucketTagging",
                actorArn="arn:aws:sts::123456789012:assumed-role/ops/alice",
                roleArn="arn:aws:iam::123456789012:role/ops",
            )
        ],
        "changeRecords": ["CHG-7"],
    }
    return make_finding("f-ledger", **{**values, **fields})


def record() -> ChangeRecord:
    return ChangeRecord.model_validate(
        {
            "kind": "ChangeRecord",
            "id": "CHG-7",
            "type": "change",
            "stack": "prod-payments",
            "window": {"start": "2025-06-01T09:00:00Z"},
            "approvers": ["bob"],
            "acceptsRuntime": True,
            "summary": "ledger data is restricted from now on",
        }
    )


def test_the_body_names_everything_a_reviewer_needs() -> None:
    body = render_pr_body(
        [ledger_finding()], PATCH, owner="team-payments", records=[record()], plan_id="rp-1"
    )
    lines = body.splitlines()
    assert lines[0] == f"# Reconcile `{ADDRESS}` with the accepted runtime value"
    assert "From repair plan `rp-1`." in lines
    assert "- `f-ledger`: STALE_DESIRED_STATE, risk MEDIUM, desired==recorded!=actual" in lines
    assert f"- Address: `{ADDRESS}`" in lines
    assert "- Type: `aws_s3_bucket`" in lines
    assert "- Id: `iacdrift-demo-prod-ledger`" in lines
    assert '- `/tags/data-class`: `"confidential"` -> `"restricted"`' in lines
    assert (
        "- 2025-06-01T09:30:00+00:00 `arn:aws:sts::123456789012:assumed-role/ops/alice` "
        "(role `arn:aws:iam::123456789012:role/ops`): `PutBucketTagging`, event `ev-1`"
    ) in lines
    assert "Covered by change record(s) `CHG-7`." in lines
    assert "- `f-ledger`: `approved change CHG-7 accepts the runtime value`" in lines
    assert (
        "- `CHG-7`: change; accepts the runtime value; approved by `bob`; "
        "`ledger data is restricted from now on`"
    ) in lines
    assert f"No changes for `{ADDRESS}`." in lines
    assert "Revert this PR: the code then says the previous value again:" in lines
    assert '- `/tags/data-class`: `"confidential"`' in lines
    assert "## Reviewers" in lines and "- `team-payments`" in lines
    start = lines.index("```diff")
    assert lines[start + 1 : start + 6] == DIFF.splitlines()
    assert lines[start + 6] == "```"
    assert body.endswith("\n")


def test_sections_come_in_order() -> None:
    body = render_pr_body([ledger_finding()], PATCH, owner="team-payments")
    headings = [line for line in body.splitlines() if line.startswith("## ")]
    assert headings == [
        "## Findings",
        "## Resource",
        "## Fields",
        "## Who changed it",
        "## Why the runtime value is accepted",
        "## Change records",
        "## Expected plan after merge",
        "## Rollback",
        "## Reviewers",
        "## Diff",
    ]


def test_sensitive_fields_show_only_markers() -> None:
    secret = ChangedField(
        pointer="/password", before=MARKER, after="(sensitive:fedcba9876543210)", sensitive=True
    )
    body = render_pr_body([ledger_finding(changedFields=[secret])], PATCH, owner=None)
    assert f'- `/password`: `"{MARKER}"` -> `"(sensitive:fedcba9876543210)"` (sensitive' in body
    leaky = ChangedField(pointer="/token", before="plain", after="also-plain", sensitive=True)
    body = render_pr_body([ledger_finding(changedFields=[leaky])], PATCH, owner=None)
    assert "plain" not in body
    assert "- `/token`: `(sensitive)` -> `(sensitive)`" in body


def test_missing_context_is_said_not_left_blank() -> None:
    finding = ledger_finding(actors=[], changeRecords=[])
    body = render_pr_body(
        [finding], PATCH, owner=None, expected_plan="No changes. Your infrastructure matches."
    )
    assert "- Not in the audit trail the check read." in body
    assert "No change record covers it: a reviewer must accept the value here." in body
    assert "- No owner registered: name one." in body
    assert "No changes. Your infrastructure matches." in body


def test_a_refused_patch_says_why_instead_of_a_diff() -> None:
    refused = CodePatch(ADDRESS, why="/tags/x: written only in modules/m/main.tf:3")
    body = render_pr_body([ledger_finding()], refused, owner="team-payments")
    assert "```diff" not in body
    assert "No patch: `/tags/x: written only in modules/m/main.tf:3`" in body


def test_a_diff_holding_backticks_gets_a_longer_fence() -> None:
    patch = CodePatch(ADDRESS, diff="--- a/x\n+++ b/x\n@@ -1 +1 @@\n-```\n+````\n")
    lines = render_pr_body([ledger_finding()], patch, owner=None).splitlines()
    assert "`````diff" in lines and lines[lines.index("`````diff") + 6] == "`````"


def test_several_findings_are_listed_sorted_and_fields_once() -> None:
    other = ledger_finding(findingId="a-first", changeRecords=["CHG-8"])
    body = render_pr_body([ledger_finding(), other], PATCH, owner="team-payments")
    assert body.index("`a-first`") < body.index("`f-ledger`")
    assert body.count('- `/tags/data-class`: `"confidential"` -> `"restricted"`') == 1
    assert "Covered by change record(s) `CHG-7`, `CHG-8`." in body
