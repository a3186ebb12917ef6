"""A restored older state is seen on the first check, from the backend's own history.

On the sandbox (its state bucket is versioned): prod-app gains a bucket through a real
apply, then a person copies the state version from before that apply over the current
one with boto3 (what "restore this version" in the console does). A first `iacdrift
check` on a fresh history, which never saw the newer serial, reports the regression
naming both version ids and serials, and the bucket the restored state lost as
STATE_DRIFT with IMPORT: not a pending create, not unmanaged. Where the bucket keeps no
versions, the result says the history was not read.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iacdrift.aws.session import Target, client
from iacdrift.flows import sandbox
from iacdrift.flows.workbench import Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import Project
from iacdrift.sandbox.identity import sandbox_credentials

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "check-report.schema.json").read_text())
REPORTS = "iacdrift-demo-prod-app-reports"
REPORTS_TF = f"""
resource "aws_s3_bucket" "reports" {{
  bucket = "{REPORTS}"
  tags   = {{ owner = "team-checkout", data-class = "internal", environment = "prod" }}
}}
"""


def s3(project: Project) -> Any:
    state, _ = sandbox.status(project)
    assert state is not None
    return client("s3", sandbox_credentials(), Target(state.region, state.endpoint_url))


def check_json(project: Project, history: Path, *stacks: str) -> tuple[int, dict[str, Any]]:
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "iacdrift", "check", *stacks),
            *("--format", "json", "--history", str(history)),
        ],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=600,
        env=dict(os.environ),
        check=False,
    )
    assert proc.stdout, proc.stderr
    report = json.loads(proc.stdout)
    jsonschema.validate(report, SCHEMA)
    return proc.returncode, report


def versions_of(project: Project, key: str) -> list[dict[str, Any]]:
    spec_bucket = project.get("prod-app").unit.spec.state.bucket
    listed = s3(project).list_object_versions(Bucket=spec_bucket, Prefix=key)
    return [v for v in listed.get("Versions", []) if v["Key"] == key]


def test_a_restored_older_state_is_state_drift_on_the_first_check(
    sandbox_project: Project, tmp_path: Path
) -> None:
    project = sandbox_project
    spec = project.get("prod-app").unit.spec.state
    bucket = s3(project)
    before = bucket.get_object(Bucket=spec.bucket, Key=spec.key)
    old_version, old_serial = before["VersionId"], json.loads(before["Body"].read())["serial"]

    # The team adds a bucket and applies: a newer state version records it.
    main_tf = project.get("prod-app").stack_dir / "main.tf"
    main_tf.write_text(main_tf.read_text(encoding="utf-8") + REPORTS_TF, encoding="utf-8")
    bench = Workbench.open(project)
    with prepared(bench, bench.stack("prod-app")) as ready:
        ready.engine.apply(ready.call)
    applied = bucket.get_object(Bucket=spec.bucket, Key=spec.key)
    new_version, new_serial = applied["VersionId"], json.loads(applied["Body"].read())["serial"]
    assert new_serial > old_serial

    # Someone restores the version from before that apply over the current one.
    restored = bucket.copy_object(
        Bucket=spec.bucket,
        Key=spec.key,
        CopySource={"Bucket": spec.bucket, "Key": spec.key, "VersionId": old_version},
    )["VersionId"]
    assert versions_of(project, spec.key)[0]["VersionId"] == restored

    # A first check, on a history that never saw the newer serial (a new CI runner).
    code, report = check_json(project, tmp_path / "fresh.sqlite", "prod-app", "prod-network")

    assert code == 2, report
    by_stack = {r["stack"]: r for r in report["results"]}
    app = by_stack["prod-app"]
    assert app["status"] == "DRIFTED" and app["warnings"] == []
    assert app["stateVersionId"] == restored and app["stateSerial"] == old_serial
    assert app["stateRegression"] == {
        "currentSerial": old_serial,
        "earlierSerial": new_serial,
        "currentVersionId": restored,
        "earlierVersionId": new_version,
        "earlierWrittenAt": app["stateRegression"]["earlierWrittenAt"],
        "source": "backend",
    }
    findings = {f["resourceRef"]: f for f in app["findings"]}
    state_finding = findings[spec.uri]
    assert state_finding["relationship"] == "recorded<earlier-recorded"
    assert state_finding["driftClass"] == "STATE_DRIFT" and state_finding["alert"] is True
    for text in (restored, new_version, f"serial {old_serial}", f"serial {new_serial}"):
        assert text in state_finding["reason"]

    lost = findings["aws_s3_bucket.reports"]
    assert (lost["driftClass"], lost["recommendedAction"]) == ("STATE_DRIFT", "IMPORT")
    assert lost["resourceId"] == REPORTS and lost["plannedActions"] == ["create"]
    assert new_version in lost["reason"]
    assert not [f for f in app["findings"] if f["driftClass"] == "PENDING_APPLY"]
    # Not unmanaged either: the stack's IMPORT finding claims it.
    assert not [f for f in report["estateFindings"] if REPORTS in f["resourceRef"]]

    # A stack nobody restored: its history is read, and it is clean.
    network = by_stack["prod-network"]
    assert network["status"] == "CLEAN" and network["warnings"] == []
    assert network["stateRegression"] is None and network["stateVersionId"]

    # A scheduled run (one inventory read for all stacks, after them) says the same.
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "iacdrift", "run", "--stack", "prod-app", "--no-notify"),
            *("--format", "json", "--history", str(tmp_path / "run.sqlite")),
        ],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    run = json.loads(proc.stdout)
    (result,) = run["results"]
    lost = {f["resourceRef"]: f for f in result["findings"]}["aws_s3_bucket.reports"]
    assert (lost["driftClass"], lost["recommendedAction"]) == ("STATE_DRIFT", "IMPORT")
    assert not [f for f in run["estateFindings"] if REPORTS in f["resourceRef"]]


def test_a_state_bucket_without_versions_is_said_not_silently_passed(
    sandbox_project: Project, tmp_path: Path
) -> None:
    project = sandbox_project
    spec = project.get("prod-network").unit.spec.state
    bucket = s3(project)
    bucket.put_bucket_versioning(
        Bucket=spec.bucket, VersioningConfiguration={"Status": "Suspended"}
    )
    try:
        # The next write of the state gets the "null" version: no history behind it.
        body = bucket.get_object(Bucket=spec.bucket, Key=spec.key)["Body"].read()
        bucket.put_object(Bucket=spec.bucket, Key=spec.key, Body=body)

        code, report = check_json(project, tmp_path / "fresh.sqlite", "prod-network")

        (result,) = report["results"]
        assert code == 0 and result["status"] == "CLEAN"
        assert result["stateVersionId"] is None
        (warning,) = result["warnings"]
        assert warning.startswith(f"{spec.uri} keeps no version history")
        assert "a restored older state is not seen from the backend" in warning
    finally:
        bucket.put_bucket_versioning(
            Bucket=spec.bucket, VersioningConfiguration={"Status": "Enabled"}
        )
