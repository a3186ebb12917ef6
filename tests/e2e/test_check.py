"""`iacdrift check` on the sandbox: the right relationship and fields per scenario,
CLEAN when untouched, noise as noise, unmanaged beside the stack, ERROR/LOCKED
never green, and no secret anywhere."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iacdrift.aws.session import Target, client
from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project
from iacdrift.sandbox import server as srv
from iacdrift.sandbox.identity import sandbox_credentials
from tests.e2e.test_sandbox_scenarios import heal

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "check-report.schema.json").read_text())
STACKS = ("prod-app", "prod-iam", "prod-network", "prod-payments", "staging-app")


def run_cli(
    project: Project, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "iacdrift", *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    return proc.returncode, proc.stdout, proc.stderr


def check_json(
    project: Project, *stacks: str, extra: tuple[str, ...] = ()
) -> tuple[int, dict[str, Any]]:
    code, out, err = run_cli(project, "check", *stacks, "--format", "json", *extra)
    assert out, err
    report = json.loads(out)
    jsonschema.validate(report, SCHEMA)
    return code, report


def s3(project: Project) -> Any:
    state, _ = sandbox.status(project)
    assert state is not None
    return client("s3", sandbox_credentials(), Target(state.region, state.endpoint_url))


def test_untouched_estate_is_clean(sandbox_project: Project) -> None:
    code, report = check_json(sandbox_project, *STACKS)
    assert code == 0, report
    assert report["estateFindings"] == []
    by_stack = {r["stack"]: r for r in report["results"]}
    assert {s: r["status"] for s, r in by_stack.items()} == dict.fromkeys(STACKS, "CLEAN")
    # Terraform says "drift detected" on the IAM policy (tags null -> {}) while it
    # plans a no-op, and on the reporting role (the refresh read in the policies its
    # own attachment resources manage): provider-read noise, listed, not counted,
    # never alerted.
    noise = by_stack["prod-iam"]["findings"]
    assert [(f["resourceRef"], f["relationship"], f["driftClass"]) for f in noise] == [
        ("aws_iam_policy.ledger_read", "noise-only", "PROVIDER_READ_NOISE"),
        ("aws_iam_role.reporting", "noise-only", "PROVIDER_READ_NOISE"),
    ]
    assert all(f["risk"] == "INFO" and f["alert"] is False for f in noise)
    assert [f["pointer"] for f in noise[0]["noiseFields"]] == ["/tags"]
    for stack in ("prod-app", "prod-network", "prod-payments", "staging-app"):
        assert by_stack[stack]["findings"] == []
    assert by_stack["staging-app"]["terraformFlavor"] == "opentofu"
    # Same inputs, same finding ids.
    _, again = check_json(sandbox_project, "prod-iam")
    assert again["results"][0]["findings"][0]["findingId"] == noise[0]["findingId"]


EXPECTED: dict[str, dict[str, Any]] = {
    "sg-open-ssh": {
        "stack": "prod-network",
        "address": 'module.tier["web"].aws_security_group.this',
        "relationship": "desired==recorded!=actual",
        "class": "UNAUTHORIZED_RUNTIME_DRIFT",
        "risk": "CRITICAL",
        "action": "INCIDENT_AND_REVERT",
    },
    "bucket-tag": {
        "stack": "prod-payments",
        "address": 'module.bucket["receipts"].aws_s3_bucket.this',
        "relationship": "desired==recorded!=actual",
        "class": "UNAUTHORIZED_RUNTIME_DRIFT",
        "action": "REVERT",
    },
    "resource-deleted": {
        "stack": "prod-payments",
        "address": 'module.bucket["ledger"].aws_s3_bucket.this',
        "relationship": "missing-in-actual",
        "class": "STATE_DRIFT",
    },
    "role-policy-attached": {
        "stack": "prod-iam",
        "address": "aws_iam_role.service[0]",
        "relationship": "desired==recorded!=actual",
        "class": "UNAUTHORIZED_RUNTIME_DRIFT",
        "risk": "CRITICAL",
        "action": "INCIDENT_AND_REVERT",
    },
}


def _drift_fields(finding: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return [(f["pointer"], f["before"], f["after"]) for f in finding["changedFields"]]


@pytest.fixture
def scenario(sandbox_project: Project, request: pytest.FixtureRequest) -> Iterator[str]:
    name: str = request.param
    sandbox.drift(sandbox_project, name)
    try:
        yield name
    finally:
        heal(sandbox_project, name)


@pytest.mark.parametrize("scenario", sorted(EXPECTED), indirect=True)
def test_scenario_relationship_and_fields(scenario: str, sandbox_project: Project) -> None:
    want = EXPECTED[scenario]
    code, report = check_json(sandbox_project, want["stack"], extra=("--separate-refresh-only",))
    assert code == 2
    (result,) = report["results"]
    assert result["status"] == "DRIFTED"
    # The normal plan's derived recorded-vs-actual view equals a real -refresh-only plan's.
    assert result["refreshOnlyViewMatches"] is True
    drift = [f for f in result["findings"] if f["driftClass"] != "PROVIDER_READ_NOISE"]
    assert [f["resourceRef"] for f in drift] == [want["address"]]
    (finding,) = drift
    assert finding["relationship"] == want["relationship"]
    assert finding["driftClass"] == want["class"]
    assert finding["stack"] == want["stack"] and finding["owner"]
    for key in ("risk", "action"):
        if key in want:
            assert finding["risk" if key == "risk" else "recommendedAction"] == want[key]
    fields = _drift_fields(finding)
    if scenario == "sg-open-ssh":
        assert len(fields) == 1
        pointer, before, after = fields[0]
        assert pointer.startswith("/ingress/") and before is None
        assert (after["from_port"], after["to_port"], after["cidr_blocks"]) == (
            22,
            22,
            ["0.0.0.0/0"],
        )
    elif scenario == "bucket-tag":
        assert ("/tags/data-class", "internal", "public") in fields
        assert {p for p, _, _ in fields} <= {"/tags/data-class", "/tags_all/data-class"}
    elif scenario == "resource-deleted":
        assert fields == []
        assert "desired!=actual" in finding["alsoTrue"]
    elif scenario == "role-policy-attached":
        assert [(p.rsplit("/", 1)[0], b, a) for p, b, a in fields] == [
            ("/managed_policy_arns", None, "arn:aws:iam::aws:policy/AdministratorAccess")
        ]


def test_unmanaged_bucket_is_an_estate_finding(sandbox_project: Project) -> None:
    sandbox.drift(sandbox_project, "unmanaged-resource")
    try:
        code, report = check_json(sandbox_project, "prod-payments")
    finally:
        heal(sandbox_project, "unmanaged-resource")
    assert code == 2
    assert report["results"][0]["status"] == "CLEAN"
    refs = [(f["resourceRef"], f["relationship"], f["stack"]) for f in report["estateFindings"]]
    assert refs == [("aws_s3_bucket:iacdrift-demo-prod-shadow-exports", "unmanaged", None)]


def test_held_lock_is_locked_not_clean(sandbox_project: Project) -> None:
    lock = {
        "ID": "5f0c6c2e-0000-4000-8000-000000000001",
        "Operation": "OperationTypeApply",
        "Info": "",
        "Who": "alice@laptop",
        "Version": "1.15.5",
        "Created": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        "Path": "iacdrift-sandbox-tfstate/prod/network.tfstate",
    }
    bucket, key = srv.STATE_BUCKET, "prod/network.tfstate.tflock"
    s3(sandbox_project).put_object(Bucket=bucket, Key=key, Body=json.dumps(lock).encode())
    try:
        settings = sandbox_project.root / "iacdrift.yaml"
        original = settings.read_text()
        settings.write_text(original.replace("lockTimeout: 30s", "lockTimeout: 1s"))
        try:
            code, report = check_json(sandbox_project, "prod-network")
        finally:
            settings.write_text(original)
    finally:
        s3(sandbox_project).delete_object(Bucket=bucket, Key=key)
    assert code == 1
    (result,) = report["results"]
    assert result["status"] == "LOCKED"
    assert result["lock"]["who"] == "alice@laptop"
    assert result["lock"]["operation"] == "OperationTypeApply"
    assert result["lock"]["ageSeconds"] is not None


def test_corrupt_state_is_a_clear_error(sandbox_project: Project) -> None:
    bucket, key = srv.STATE_BUCKET, "prod/app.tfstate"
    api = s3(sandbox_project)
    good = api.get_object(Bucket=bucket, Key=key)["Body"].read()
    api.put_object(Bucket=bucket, Key=key, Body=b'{"version": 4, "serial": ')
    try:
        code, out, err = run_cli(sandbox_project, "check", "prod-app")
    finally:
        api.put_object(Bucket=bucket, Key=key, Body=good)
    assert code == 1
    assert "prod-app" in out and "ERROR" in out
    assert "Traceback" not in out + err


def _files_containing(root: Path, needle: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        if needle in data:
            hits.append(str(path))
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                for member in archive.namelist():
                    if needle in archive.read(member):
                        hits.append(f"{path}!{member}")
    return hits


def _tfvars_value(project: Project, stack: str, name: str) -> str:
    for line in (project.root / "stacks" / stack / "terraform.tfvars").read_text().splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() == name:
            return value.strip().strip('"')
    raise AssertionError(f"{stack}/terraform.tfvars sets no {name}")


def test_secret_value_never_leaves_the_process(sandbox_project: Project, tmp_path: Path) -> None:
    """Plant a secret that prod-payments reads (a data source) and writes into a
    managed secret version, then check in every format and run: the value appears in
    no output, log or file, and no plan file survives. The value of prod-payments'
    terraform.tfvars (a secret-like token) is in no file under .iacdrift/ either
    (SQLite databases included, read as bytes): working copies link the variable
    file, they keep no copy of it."""
    planted = "planted-" + secrets.token_hex(12)
    token = _tfvars_value(sandbox_project, "prod-payments", "ledger_api_token")
    state, _ = sandbox.status(sandbox_project)
    assert state is not None
    target = Target(state.region, state.endpoint_url)
    sm = client("secretsmanager", sandbox_credentials(), target)
    sm.put_secret_value(SecretId=srv.BOOTSTRAP_SECRET, SecretString=planted)
    private_tmp = tmp_path / "tmp"
    private_tmp.mkdir()
    summary = tmp_path / "step-summary.md"
    env = {
        "TMPDIR": str(private_tmp),
        "IACDRIFT_LOG_DIR": str(tmp_path / "logs"),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    outputs = []
    try:
        # Every format, the CI ones included (JUnit, SARIF, the GitHub step summary).
        for fmt in ("json", "table", "markdown", "junit", "sarif", "github"):
            code, out, err = run_cli(
                sandbox_project, "check", "prod-payments", "--format", fmt, env=env
            )
            assert code == 2, err
            outputs += [out, err]
        report = json.loads(outputs[0])
        code, out, err = run_cli(
            sandbox_project, "run", "--stack", "prod-payments", "--format", "json", env=env
        )
        assert code == 2, err
        outputs += [out, err]
        assert json.loads(out)["results"][0]["status"] == "DRIFTED"
    finally:
        heal(sandbox_project, "bucket-tag")  # re-apply prod-payments with the new value
    assert summary.read_text().count("prod-payments") >= 1
    outputs.append(summary.read_text())
    assert all(planted not in text and token not in text for text in outputs)
    assert _files_containing(sandbox_project.root, planted.encode()) == []
    assert _files_containing(tmp_path, planted.encode()) == []
    cache = sandbox_project.root / ".iacdrift"
    assert sorted(cache.glob("*.sqlite")), "the run history and notification log"
    assert _files_containing(cache, token.encode()) == []
    assert _files_containing(tmp_path, token.encode()) == []
    # The persistent working copy holds the variable file as a link to the stack's.
    linked = list((cache / "workdirs").rglob("terraform.tfvars"))
    assert linked and all(path.is_symlink() for path in linked), linked
    leftovers = [p for p in (*sandbox_project.root.rglob("*.tfplan"), *tmp_path.rglob("*.tfplan"))]
    assert leftovers == []
    # The change is still visible, as a fingerprint.
    findings = report["results"][0]["findings"]
    version = [f for f in findings if f["resourceType"] == "aws_secretsmanager_secret_version"]
    assert version, findings
    sensitive = [f for f in version[0]["changedFields"] if f["sensitive"]]
    assert sensitive and all("(sensitive:" in json.dumps(f) for f in sensitive)
