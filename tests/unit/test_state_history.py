"""A restored older state, decided from the backend's version history (plain data)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from iacdrift.core import findings as assemble
from iacdrift.core.decide import judge
from iacdrift.core.planes import Divergence
from iacdrift.core.state_history import (
    STATE_RESOURCE_TYPE,
    StateVersion,
    VersionRegression,
    claimed_ids,
    find_regression,
    forgotten_resources,
    head_fields,
)
from iacdrift.core.subject import Situation, StackFacts, Subject
from iacdrift.core.terraform_json import StateView, read_state
from iacdrift.loaders.policy import load_policies
from iacdrift.models.finding import (
    Action,
    CheckReport,
    DriftClass,
    Plane,
    Relationship,
    StackResult,
    StackStatus,
    StateRegression,
)
from iacdrift.report.check import render_markdown, table_text

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
URI = "s3://tfstate/prod/app.tfstate"
BUCKET = "aws_s3_bucket.uploads"


def version(version_id: str, serial: int | None, lineage: str | None = "lin-1") -> StateVersion:
    return StateVersion(version_id, lineage, serial, NOW - timedelta(hours=serial or 0))


def state(serial: int, *resources: tuple[str, str, str]) -> StateView:
    """A state holding (type, name, id) resources."""
    return read_state(
        {
            "version": 4,
            "terraform_version": "1.15.5",
            "serial": serial,
            "lineage": "lin-1",
            "resources": [
                {
                    "mode": "managed",
                    "type": type_name,
                    "name": name,
                    "provider": 'provider["registry.terraform.io/hashicorp/aws"]',
                    "instances": [{"attributes": {"id": rid}, "sensitive_attributes": []}],
                }
                for type_name, name, rid in resources
            ],
        },
        "test",
    )


# -- rules 1 and 2: the regression -----------------------------------------------------


def test_a_history_that_only_moves_forward_did_not_go_back() -> None:
    current = version("v5", 5)
    assert find_regression(URI, current, [version("v4", 4), version("v3", 3)]) is None
    assert find_regression(URI, current, []) is None


def test_a_lower_serial_on_top_of_a_higher_one_of_the_same_lineage_went_back() -> None:
    current = version("v-restored", 3)
    earlier = [version("v5", 5), version("v4", 4), version("v3", 3)]

    regression = find_regression(URI, current, earlier)

    assert regression is not None
    assert (regression.current.version_id, regression.newer.version_id) == ("v-restored", "v5")
    why = regression.describe()
    assert "current version v-restored has serial 3" in why
    assert "earlier version v5" in why and "has serial 5" in why and URI in why


def test_after_a_restore_and_an_apply_the_state_is_still_behind() -> None:
    # restored serial 3 (v-r), then an apply wrote serial 4: 5 was still recorded before.
    earlier = [version("v-r", 3), version("v5", 5), version("v4", 4)]
    regression = find_regression(URI, version("v-apply", 4), earlier)
    assert regression is not None and regression.newer.version_id == "v5"


def test_another_lineage_is_another_state() -> None:
    current = version("v1", 1, lineage="lin-new")
    assert find_regression(URI, current, [version("v9", 9, lineage="lin-old")]) is None


def test_the_highest_serial_is_named_and_the_most_recent_on_a_tie() -> None:
    earlier = [version("v7-b", 7), version("v7-a", 7), version("v6", 6), version("v2", 2)]
    regression = find_regression(URI, version("now", 2), earlier)
    assert regression is not None and regression.newer.version_id == "v7-b"


def test_unreadable_versions_are_compared_with_nothing() -> None:
    assert find_regression(URI, version("now", 2), [version("v9", None)]) is None
    assert find_regression(URI, version("now", None), [version("v9", 9)]) is None


def test_lineage_and_serial_from_the_first_bytes_terraform_writes() -> None:
    written = json.dumps(
        {"version": 4, "terraform_version": "1.15.5", "serial": 12, "lineage": "ab-cd"},
        indent=2,
    ).encode()
    assert head_fields(written[:1024]) == ("ab-cd", 12)
    assert head_fields(b'{"version":4,"terraform_version":"1.6.2","serial":3,"lineage":"x"') == (
        "x",
        3,
    )
    # Not Terraform's layout (sorted keys: an output could be named "serial"): read it all.
    sorted_keys = json.dumps({"lineage": "l", "outputs": {"serial": 99}, "serial": 1}).encode()
    assert head_fields(sorted_keys) is None
    assert head_fields(written[:40]) is None  # cut before the lineage


# -- rule 3: what the restore lost -------------------------------------------------------


def regression() -> VersionRegression:
    return VersionRegression(URI, version("v-restored", 3), version("v5", 5))


def test_a_planned_create_that_is_live_and_was_recorded_before_is_forgotten() -> None:
    newer = state(5, ("aws_s3_bucket", "uploads", "acme-uploads"), ("aws_iam_role", "app", "app"))
    current = state(3, ("aws_iam_role", "app", "app"))

    lost = forgotten_resources(
        regression(),
        newer,
        current,
        planned_creates={BUCKET, "aws_sqs_queue.new"},
        live={("aws_s3_bucket", "acme-uploads"), ("aws_iam_role", "app")},
    )

    assert list(lost) == [BUCKET]
    assert (lost[BUCKET].resource_id, lost[BUCKET].version_id, lost[BUCKET].serial) == (
        "acme-uploads",
        "v5",
        5,
    )
    assert "IMPORT" in lost[BUCKET].describe()


def test_nothing_is_forgotten_that_is_not_live_or_not_created_or_still_recorded() -> None:
    newer = state(5, ("aws_s3_bucket", "uploads", "acme-uploads"))
    gone = forgotten_resources(regression(), newer, state(3), {BUCKET}, live=set())
    not_created = forgotten_resources(
        regression(), newer, state(3), set(), {("aws_s3_bucket", "acme-uploads")}
    )
    kept = forgotten_resources(
        regression(),
        newer,
        state(3, ("aws_s3_bucket", "uploads", "acme-uploads")),
        {BUCKET},
        {("aws_s3_bucket", "acme-uploads")},
    )
    assert gone == not_created == kept == {}


# -- the findings -------------------------------------------------------------------------


def situation(**fields: Any) -> Situation:
    base: dict[str, Any] = {
        "facts": StackFacts(
            stack="prod-app", environment="prod", risk_tier="high", state_backend=URI
        ),
        # The shipped decisions say INVESTIGATE for every STATE_DRIFT.
        "policies": load_policies(ROOT / "policies"),
        "now": NOW,
        "state_regressed": regression().describe(),
    }
    base.update(fields)
    return Situation(**base)


def planned_create(address: str = BUCKET) -> Divergence:
    return Divergence(
        address=address,
        type="aws_s3_bucket",
        module_address=None,
        provider_name="registry.terraform.io/hashicorp/aws",
        resource_id=None,
        relationship=Relationship.DESIRED_NE_RECORDED,
        also_true=(),
        before_plane=Plane.RECORDED,
        after_plane=Plane.DESIRED,
        changed_fields=(),
        noise_fields=(),
        planned_actions=("create",),
        drift_actions=(),
    )


def test_a_forgotten_resource_is_state_drift_with_import_whatever_the_table_says() -> None:
    newer = state(5, ("aws_s3_bucket", "uploads", "acme-uploads"))
    lost = forgotten_resources(
        regression(), newer, state(3), {BUCKET}, {("aws_s3_bucket", "acme-uploads")}
    )
    plan = assemble.StackPlan(forgotten=lost)

    found = assemble.stack_findings(
        [planned_create(), planned_create("aws_s3_bucket.brand_new")], plan, situation(), NOW
    )

    by_ref = {f.resourceRef: f for f in found}
    import_it = by_ref[BUCKET]
    assert (import_it.driftClass, import_it.recommendedAction) == (
        DriftClass.STATE_DRIFT,
        Action.IMPORT,
    )
    assert import_it.resourceId == "acme-uploads" and import_it.alert
    assert "v5" in import_it.reason and "v-restored" in import_it.reason
    assert [e.ref for e in import_it.evidence if e.kind.value == "rule"][-1] == "state-regression"
    # A create the older versions never recorded: the regression explains it, no import.
    other = by_ref["aws_s3_bucket.brand_new"]
    assert (other.driftClass, other.recommendedAction) == (
        DriftClass.STATE_DRIFT,
        Action.INVESTIGATE,
    )
    assert other.resourceId is None
    # The estate's unmanaged judgement counts the forgotten id as recorded.
    assert claimed_ids(found) == {"aws_s3_bucket": {"acme-uploads"}}


def test_without_a_regression_a_create_is_pending_apply() -> None:
    (finding,) = assemble.stack_findings(
        [planned_create()], assemble.StackPlan(), situation(state_regressed=None), NOW
    )
    assert finding.driftClass is DriftClass.PENDING_APPLY
    assert claimed_ids([finding]) == {}


def test_the_regression_itself_is_one_state_drift_finding_naming_both_versions() -> None:
    record = StateRegression(
        currentSerial=3,
        earlierSerial=5,
        currentVersionId="v-restored",
        earlierVersionId="v5",
        source="backend",
    )

    finding = assemble.from_state_regression(record, situation(), NOW, URI)

    assert finding.resourceRef == URI and finding.resourceType == STATE_RESOURCE_TYPE
    assert finding.relationship is Relationship.STATE_REGRESSED
    assert finding.driftClass is DriftClass.STATE_DRIFT and finding.alert
    assert finding.recommendedAction is Action.INVESTIGATE
    (serial,) = finding.changedFields
    assert (serial.pointer, serial.before, serial.after) == ("/serial", 5, 3)
    assert "v-restored" in finding.reason and "v5" in finding.reason


def test_an_unmanaged_resource_is_not_made_state_drift_by_a_regression() -> None:
    subject = Subject(
        stack=None,
        address="aws_s3_bucket:stray",
        resource_type="aws_s3_bucket",
        resource_id="stray",
        relationship=Relationship.UNMANAGED,
    )
    assert judge(subject, situation()).drift_class is DriftClass.UNAUTHORIZED_RUNTIME_DRIFT


def test_a_history_that_was_not_read_is_shown_in_every_renderer() -> None:
    warning = (
        f"the version history of {URI} was not read (...AccessDenied...): a restored older "
        "state is not seen from the backend"
    )
    result = StackResult(
        stack="prod-app",
        status=StackStatus.CLEAN,
        checkedAt=NOW,
        warnings=[warning],
    )
    report = CheckReport(generatedAt=NOW, results=[result])

    assert f"warning: {warning}" in " ".join(table_text(report).split())
    markdown = render_markdown(report)
    assert "Warning:" in markdown and warning in markdown
