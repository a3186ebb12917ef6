"""Change records: loading changes/*.yaml, every problem at once, and what a record covers."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent
from typing import Any

import pytest
from pydantic import ValidationError

from iacdrift.errors import RegistryError
from iacdrift.loaders.changes import load_change_records, records_covering
from iacdrift.models.context import (
    AuditLogSource,
    ChangeOutcome,
    ChangeRecord,
    ChangeType,
    ContextSettings,
    Window,
)

INCIDENT = """\
apiVersion: iacdrift.dev/v1
kind: ChangeRecord
id: INC-1042
type: incident
stack: prod-network
resources: ["aws_security_group.web", "sg-0123"]
window: {start: 2026-11-25T09:00:00Z, end: 2026-11-25T12:00:00Z}
breakGlass: true
approvers: [oncall-lead]
summary: SSH opened to debug the payment outage
url: https://tickets.example.com/INC-1042
"""

TWO_DOCUMENTS = """\
kind: ChangeRecord
id: PR-311
type: pr
stack: prod-app
window: {start: 2026-11-20T08:00:00Z, end: 2026-11-20T09:00:00Z}
---
kind: ChangeRecord
id: APPLY-7
type: apply
stack: prod-app
outcome: failed
window: {start: "2026-11-25T11:00:00+02:00"}
"""


def write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    path.write_text(dedent(text))
    return path


def problems_of(directory: Path, cwd: Path) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        load_change_records(directory, cwd=cwd)
    return [str(problem) for problem in caught.value.problems]


# --- loading ------------------------------------------------------------------------


def test_records_load_from_every_file_sorted_by_start_then_id(tmp_path: Path) -> None:
    changes = tmp_path / "changes"
    write(changes, "incidents.yaml", INCIDENT)
    write(changes, "b.yml", TWO_DOCUMENTS)
    write(changes, "notes.txt", "not a record")

    records = load_change_records(Path("changes"), cwd=tmp_path)

    assert [record.id for record in records] == ["PR-311", "APPLY-7", "INC-1042"]
    pr, apply, incident = records
    assert pr.type is ChangeType.PR and pr.resources == [] and not pr.breakGlass
    assert apply.outcome is ChangeOutcome.FAILED
    # Offsets are kept in UTC; no end means the window is still open.
    assert apply.window == Window(start=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    assert apply.window.start.tzinfo is UTC
    assert incident.breakGlass and incident.approvers == ["oncall-lead"]
    assert incident.resources == ["aws_security_group.web", "sg-0123"]
    assert incident.apiVersion == "iacdrift.dev/v1" and incident.schemaVersion == 1


def test_same_start_sorts_by_id(tmp_path: Path) -> None:
    changes = tmp_path / "changes"
    for record_id in ("CHG-9", "CHG-10", "A-1"):
        write(
            changes,
            f"{record_id}.yaml",
            f"kind: ChangeRecord\nid: {record_id}\ntype: change\nstack: s\n"
            "window: {start: 2026-11-25T09:00:00Z}\n",
        )
    assert [r.id for r in load_change_records(changes)] == ["A-1", "CHG-10", "CHG-9"]


def test_a_missing_directory(tmp_path: Path) -> None:
    assert load_change_records(Path("changes"), cwd=tmp_path) == []
    assert problems_of_missing(tmp_path) == [
        "changes: change record directory not found; create it with ChangeRecord files or "
        "fix context.changeRecords in iacdrift.yaml"
    ]
    (tmp_path / "changes").write_text("")
    with pytest.raises(RegistryError, match="changes: is not a directory"):
        load_change_records(Path("changes"), cwd=tmp_path)


def problems_of_missing(cwd: Path) -> list[str]:
    with pytest.raises(RegistryError) as caught:
        load_change_records(Path("changes"), cwd=cwd, missing_ok=False)
    return [str(problem) for problem in caught.value.problems]


def test_an_empty_directory_has_no_records(tmp_path: Path) -> None:
    (tmp_path / "changes").mkdir()
    assert load_change_records(tmp_path / "changes", missing_ok=False) == []


# --- problems -----------------------------------------------------------------------


def test_every_problem_in_every_file_is_reported_at_once(tmp_path: Path) -> None:
    changes = tmp_path / "changes"
    write(changes, "a-first.yaml", INCIDENT)
    write(changes, "b-dup.yaml", INCIDENT.replace("breakGlass: true", "breakGlass: false"))
    write(
        changes,
        "c-many.yaml",
        """\
        kind: ChangeRecord
        id: CHG-1
        type: change
        stack: prod-app
        windw: {start: 2026-11-25T09:00:00Z}
        ---
        kind: ChangeRecord
        id: CHG-2
        type: hotfix
        stack: Prod_App
        window: {start: 2026-11-25T09:00:00}
        ---
        kind: ChangeRecord
        id: CHG-3
        type: change
        stack: prod-app
        outcome: succeeded
        reconcileBy: 2026-11-24T00:00:00Z
        window: {start: 2026-11-25T09:00:00Z, end: 2026-11-25T08:00:00Z}
        ---
        kind: Route
        id: x
        ---
        id: no-kind
        ---
        - a list
        """,
    )
    write(changes, "d-empty.yaml", "# nothing yet\n")
    write(changes, "e-dupkey.yaml", INCIDENT + "stack: other\n")
    write(changes, "f-syntax.yaml", "kind: [ChangeRecord\n")
    write(
        changes,
        "g-fields.yaml",
        """\
        kind: ChangeRecord
        id: "bad id!"
        type: change
        stack: prod-app
        resources: [""]
        approvers: alice
        window: {start: 2026-11-25}
        """,
    )

    problems = problems_of(changes, tmp_path)

    doc = "changes/c-many.yaml (document {})".format
    expected = [
        "changes/b-dup.yaml: id: duplicate id 'INC-1042' (also in changes/a-first.yaml); "
        "ids must be unique across change record files",
        f"{doc(1)}: window: required field is missing; add it",
        f"{doc(1)}: windw: unknown field; remove it (allowed here: acceptsRuntime, "
        "apiVersion, approvers, breakGlass, id, kind, outcome, reconcileBy, resources, "
        "schemaVersion, stack, summary, type, url, window); did you mean 'window'?",
        f"{doc(4)}: kind: unknown kind 'Route'; a change record directory holds only "
        "kind: ChangeRecord",
        f"{doc(5)}: kind: required field is missing; add kind: ChangeRecord",
        f"{doc(6)}: the document is a list, not a mapping; write `key: value` fields at the "
        "top level (kind, id, type, stack, window, ...)",
        "changes/d-empty.yaml: file is empty; write ChangeRecord documents or delete it",
        "changes/e-dupkey.yaml: stack: duplicate key on line 12 (first on line 5); keep only "
        "one (YAML would silently use the last)",
    ]
    for line in expected:
        assert line in problems
    joined = "\n".join(problems)
    assert f"{doc(2)}: type: Input should be 'incident', 'change', 'pr' or 'apply'" in joined
    assert f"{doc(2)}: stack: 'Prod_App' does not match the pattern" in joined
    assert f"{doc(2)}: window.start: 2026-11-25T09:00:00 has no time zone; write it in UTC" in (
        joined
    )
    assert f"{doc(3)}: window: end 2026-11-25T08:00:00+00:00 is before start" in joined
    assert "changes/f-syntax.yaml: YAML syntax error at line 2" in joined
    assert "changes/g-fields.yaml: id: 'bad id!' does not match the pattern" in joined
    assert "changes/g-fields.yaml: resources.0: empty pattern" in joined
    assert "changes/g-fields.yaml: approvers: expected a list, got a string" in joined
    assert (
        "changes/g-fields.yaml: window.start: a date without a time (2026-11-25); write the "
        "time and its zone, e.g. 2026-11-25T10:00:00Z" in joined
    )
    assert all("\n" not in problem for problem in problems)
    assert problems == sorted(problems)


def test_record_rules() -> None:
    start = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    base: dict[str, Any] = {
        "kind": "ChangeRecord",
        "id": "CHG-1",
        "type": "change",
        "stack": "prod-app",
        "window": {"start": start},
    }
    with pytest.raises(ValidationError, match="outcome is only for type apply"):
        ChangeRecord.model_validate({**base, "outcome": "succeeded"})
    with pytest.raises(ValidationError, match=r"reconcileBy .* is before window.start"):
        ChangeRecord.model_validate({**base, "reconcileBy": datetime(2026, 11, 24, tzinfo=UTC)})
    with pytest.raises(ValidationError, match=r"end .* is before start"):
        Window(start=start, end=datetime(2026, 11, 25, 8, 0, tzinfo=UTC))
    with pytest.raises(ValidationError, match="Field required"):
        ChangeRecord.model_validate({key: v for key, v in base.items() if key != "kind"})
    applied = ChangeRecord.model_validate({**base, "type": "apply", "outcome": "failed"})
    assert applied.outcome is ChangeOutcome.FAILED
    # A window may be a single instant.
    assert Window(start=start, end=start).contains(start)


# --- covers -------------------------------------------------------------------------------


def change(
    resources: list[str] | None = None,
    start: str = "2026-11-25T09:00:00Z",
    end: str | None = "2026-11-25T12:00:00Z",
    stack: str = "prod-network",
    record_id: str = "CHG-1",
) -> ChangeRecord:
    return ChangeRecord.model_validate(
        {
            "kind": "ChangeRecord",
            "id": record_id,
            "type": "change",
            "stack": stack,
            "resources": resources or [],
            "window": {"start": start, "end": end},
        }
    )


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


def covers(
    record: ChangeRecord,
    address: str | None = None,
    resource_id: str | None = None,
    at: datetime | None = None,
    stack: str = "prod-network",
) -> bool:
    return record.covers(stack=stack, address=address, resource_id=resource_id, at=at)


def test_covers_matches_addresses_config_addresses_and_ids_by_glob() -> None:
    record = change(["aws_security_group.web", "module.app.*", "sg-0*"])
    assert covers(record, "aws_security_group.web")
    assert covers(record, 'aws_security_group.web["blue"]')  # its config address matches
    assert covers(record, "aws_security_group.web[0]")
    assert covers(record, "module.app.aws_iam_role.this")
    assert covers(record, 'module.app["x"].aws_iam_role.this')
    assert covers(record, "aws_security_group.db", resource_id="sg-0123")
    assert covers(record, None, resource_id="sg-0abc")
    assert not covers(record, "aws_security_group.db", resource_id="sg-1234")
    assert not covers(record, "aws_security_group.webby")
    assert not covers(record, None, None)
    # Globs are case-sensitive, like Terraform addresses.
    assert not covers(record, "AWS_security_group.web")


def test_an_empty_resource_list_covers_the_whole_stack() -> None:
    record = change()
    assert covers(record, "anything.at_all")
    assert covers(record, None, None)
    assert not covers(record, "anything.at_all", stack="prod-app")


def test_covers_only_inside_the_window() -> None:
    record = change(["aws_security_group.web"])
    inside = when("2026-11-25T10:00:00Z")
    assert covers(record, "aws_security_group.web", at=inside)
    assert covers(record, "aws_security_group.web", at=when("2026-11-25T09:00:00Z"))
    assert covers(record, "aws_security_group.web", at=when("2026-11-25T12:00:00Z"))
    assert covers(record, "aws_security_group.web", at=when("2026-11-25T13:00:00+01:00"))
    assert not covers(record, "aws_security_group.web", at=when("2026-11-25T08:59:59Z"))
    assert not covers(record, "aws_security_group.web", at=when("2026-11-25T12:00:01Z"))
    assert covers(record, "aws_security_group.web", at=None)


def test_an_open_window_covers_everything_after_its_start() -> None:
    record = change(end=None)
    assert covers(record, "x.y", at=when("2030-01-01T00:00:00Z"))
    assert not covers(record, "x.y", at=when("2026-11-25T08:00:00Z"))


def test_records_covering_filters_and_sorts() -> None:
    late = change(["aws_security_group.*"], start="2026-11-25T10:00:00Z", record_id="B")
    early = change(start="2026-11-25T08:00:00Z", end=None, record_id="Z")
    same_start = change(start="2026-11-25T08:00:00Z", end=None, record_id="A")
    elsewhere = change(stack="prod-app", record_id="C")
    other_resource = change(["aws_s3_bucket.*"], record_id="D")
    records = [late, elsewhere, other_resource, early, same_start]

    got = records_covering(
        records,
        stack="prod-network",
        address="aws_security_group.web",
        resource_id="sg-1",
        at=when("2026-11-25T11:00:00Z"),
    )
    assert [record.id for record in got] == ["A", "Z", "B"]
    assert (
        records_covering(
            records,
            stack="prod-network",
            address="aws_security_group.web",
            resource_id=None,
            at=when("2026-11-25T07:00:00Z"),
        )
        == []
    )


# --- settings -------------------------------------------------------------------------------


def test_context_settings() -> None:
    settings = ContextSettings()
    assert settings.auditLogs is None
    assert settings.changeRecords == "changes"
    assert settings.emergencyDeadlineHours == 24
    assert settings.breakGlassRoles == [] and settings.controllerRoles == []

    source = AuditLogSource(bucket="org-trail", prefix="logs")
    assert (source.directory, source.lookbackDays) == (None, 14)
    with pytest.raises(ValidationError, match="set exactly one of directory or bucket"):
        AuditLogSource()
    with pytest.raises(ValidationError, match="set exactly one of directory or bucket"):
        AuditLogSource(directory="audit", bucket="b")
    with pytest.raises(ValidationError, match="greater than or equal to 1"):
        AuditLogSource(directory="audit", lookbackDays=0)
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        ContextSettings.model_validate({"breakGlassRole": ["x"]})
    with pytest.raises(ValidationError, match="empty pattern"):
        ContextSettings(breakGlassRoles=[""])


def test_addresses_with_instance_keys_match_themselves_and_bracket_globs() -> None:
    from iacdrift.models.context import resource_matches

    address = 'module.bucket["ledger"].aws_s3_bucket.this'
    assert resource_matches(address, address)
    assert resource_matches('module.bucket["ledger"].*', address)
    assert not resource_matches('module.bucket["receipts"].*', address)
    assert resource_matches("module.bucket[*].aws_s3_bucket.this", address)
    assert resource_matches("sg-[0-9]*", "sg-0123")
