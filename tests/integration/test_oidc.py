"""Per-stack OIDC credentials end to end on the sandbox: the stand-in token endpoint,
moto's STS, and each Terraform call getting only its own stack's credentials.

The sandbox here is started without applying the estate: plans of un-applied
stacks are enough to see which credentials each Terraform call received.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from iacdrift.aws.session import AwsCredentials, Target, client
from iacdrift.errors import CredentialsError
from iacdrift.flows import sandbox
from iacdrift.flows.check import CheckOptions, check_stack
from iacdrift.flows.plan import plan_stack
from iacdrift.flows.workbench import EngineOptions, Workbench
from iacdrift.loaders.registry import Project, load_project
from iacdrift.models.finding import StackStatus
from iacdrift.models.outcomes import PlanOutcome
from iacdrift.sandbox import server as srv
from iacdrift.sandbox import token_endpoint as tokens
from tests.conftest import Shim, start_sandbox_project

pytestmark = pytest.mark.integration

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, plugin_cache: Path) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("oidc-project")
    saved = {k: os.environ.pop(k) for k in list(os.environ) if k.startswith(("AWS_", "TF_"))}
    try:
        started = start_sandbox_project(directory, plugin_cache, apply=False)
        yield started
    finally:
        record = tokens.load_record(directory / ".iacdrift" / "sandbox")
        sandbox.down(load_project(cwd=directory))
        os.environ.update(saved)
        # `down` stopped our token endpoint too.
        assert record is not None and not tokens.is_ours(record.pid, record.port)


def target_of(project: Project) -> Target:
    state, running = sandbox.status(project)
    assert state is not None and running
    return Target(state.region, state.endpoint_url)


def cli(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "iacdrift", *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_each_terraform_call_gets_only_its_own_stacks_credentials(
    project: Project, tf_shim: Shim
) -> None:
    bench = Workbench.open(project, EngineOptions(tf_binary=str(tf_shim.path)))
    stacks = ("prod-network", "prod-iam")
    seen: dict[str, list[dict[str, str]]] = {}
    for stack in stacks:
        tf_shim.clear()
        report = plan_stack(bench, stack)
        assert report.outcome is PlanOutcome.CHANGES  # nothing applied in this sandbox
        calls = tf_shim.calls()
        commands = [cast(list[str], c["argv"])[0] for c in calls]
        assert commands[-3:] == ["init", "plan", "show"]  # (the engine may cache `version`)
        seen[stack] = [cast(dict[str, str], c["env"]) for c in calls]

    creds: dict[str, AwsCredentials] = {s: bench.credentials(bench.stack(s)) for s in stacks}
    assert {c.source for c in creds.values()} == {"oidc"}
    keys = {s: c.access_key_id for s, c in creds.items()}
    assert len(set(keys.values())) == len(stacks)
    assert srv.ACCESS_KEY_ID not in keys.values()
    for stack, envs in seen.items():
        own = creds[stack]
        others = [c for s, c in creds.items() if s != stack]
        for env in envs:
            assert env["AWS_ACCESS_KEY_ID"] == own.access_key_id
            assert env["AWS_SECRET_ACCESS_KEY"] == own.secret_access_key
            assert env["AWS_SESSION_TOKEN"] == own.session_token
            recorded = json.dumps(env)
            assert srv.ACCESS_KEY_ID not in recorded and srv.SECRET_ACCESS_KEY not in recorded
            for other in others:
                assert other.access_key_id not in recorded
                assert other.secret_access_key not in recorded

    # Each key is a session of the stack's own role, named after the stack and the run.
    for stack, own in creds.items():
        identity = client("sts", own, target_of(project)).get_caller_identity()
        assert identity["Arn"] == (
            f"arn:aws:sts::{ACCOUNT}:assumed-role/iacdrift-{stack}/iacdrift-{stack}-{bench.run_id}"
        )


def test_every_command_opens_its_own_sessions(project: Project) -> None:
    first, second = Workbench.open(project), Workbench.open(project)
    assert first.run_id != second.run_id
    one = first.credentials(first.stack("prod-app"))
    assert first.credentials(first.stack("prod-app")) is one  # cached within a command
    assert second.credentials(second.stack("prod-app")).access_key_id != one.access_key_id
    assert first.orchestrator_credentials().access_key_id == srv.ACCESS_KEY_ID
    inventory = first.inventory_credentials()
    assert inventory.source == "oidc"
    identity = client("sts", inventory, target_of(project)).get_caller_identity()
    assert identity["Arn"].startswith(f"arn:aws:sts::{ACCOUNT}:assumed-role/iacdrift-inventory/")


def test_a_refused_stack_is_an_error_naming_it_while_others_plan(project: Project) -> None:
    refused = cli(project, "sandbox", "token", "refuse", "prod-payments")
    assert (refused.returncode, refused.stdout) == (0, "refused: prod-payments\n"), refused.stderr
    listed = cli(project, "sandbox", "token", "list")
    assert listed.stdout == "prod-payments\n"
    try:
        bench = Workbench.open(project)
        with pytest.raises(CredentialsError) as caught:
            plan_stack(bench, "prod-payments")
        message = str(caught.value)
        assert message.startswith("prod-payments: the sandbox token endpoint refused a token")
        assert "HTTP 403" in message and "\n" not in message
        assert "`iacdrift sandbox token allow prod-payments`" in message

        assert plan_stack(bench, "prod-network").outcome is PlanOutcome.CHANGES

        # In a check, the refusal is the stack's result: ERROR with the reason.
        result, _ = check_stack(bench, bench.stack("prod-payments"), CheckOptions())
        assert result.status is StackStatus.ERROR
        assert result.reason is not None and result.reason.startswith("prod-payments: the sandbox")
    finally:
        assert sandbox.allow_token(project, "prod-payments") == []
    assert cli(project, "sandbox", "token", "list").stdout == ""
    bench = Workbench.open(project)
    assert bench.credentials(bench.stack("prod-payments")).source == "oidc"


def test_refusal_falls_back_only_where_the_entry_says_so(project: Project) -> None:
    entry = project.registry_dir / "prod-payments.yaml"
    original = entry.read_text(encoding="utf-8")
    sandbox.refuse_token(project, "prod-payments")
    try:
        entry.write_text(
            original.replace(
                "role/iacdrift-prod-payments\n",
                "role/iacdrift-prod-payments\n    allowAmbient: true\n",
            ),
            encoding="utf-8",
        )
        permissive = load_project(cwd=project.root)
        assert permissive.get("prod-payments").unit.spec.credentials.allowAmbient
        bench = Workbench.open(permissive)
        got = bench.credentials(bench.stack("prod-payments"))
        assert (got.source, got.access_key_id) == ("ambient-fallback", srv.ACCESS_KEY_ID)
        reason = bench.resolver.fallback_reason("prod-payments")
        assert reason is not None and "refused a token" in reason
    finally:
        entry.write_text(original, encoding="utf-8")
        sandbox.allow_token(project, "prod-payments")
