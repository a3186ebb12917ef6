"""`iacdrift repair plan` on the sandbox: SSH opened in prod is an incident for a
person, an unmanaged bucket gets an import block in the receiving stack's file, the
plans validate, and nothing under stacks/ changes."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import jsonschema
import pytest

from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project
from iacdrift.models.finding import Action
from iacdrift.models.repair import RepairPlan, StepKind, StepStatus
from tests.e2e.test_check import run_cli
from tests.e2e.test_sandbox_scenarios import heal

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "repair-plan.schema.json").read_text())
SHADOW = "iacdrift-demo-prod-shadow-exports"


def _tree(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_repair_plan_for_open_ssh_and_an_unmanaged_bucket(
    sandbox_project: Project, tmp_path: Path
) -> None:
    stacks = sandbox_project.root / "stacks"
    before = _tree(stacks)
    out, graph = tmp_path / "repair", tmp_path / "plan.dot"
    sandbox.drift(sandbox_project, "sg-open-ssh")
    sandbox.drift(sandbox_project, "unmanaged-resource")
    try:
        code, stdout, stderr = run_cli(
            sandbox_project,
            "repair",
            "plan",
            "prod-network",
            "prod-app",
            "--into",
            "prod-app",
            "--out",
            str(out),
            "--graph",
            str(graph),
        )
    finally:
        heal(sandbox_project, "unmanaged-resource")
        heal(sandbox_project, "sg-open-ssh")
    assert code == 2, stderr
    assert "warning" not in stderr, stderr
    assert "2 plans" in stdout

    plans = {}
    for stack in ("prod-network", "prod-app"):
        document = json.loads((out / f"{stack}.repair.json").read_text())
        jsonschema.validate(document, SCHEMA)
        plans[stack] = RepairPlan.model_validate(document)
        assert plans[stack].binding.stateLineage and plans[stack].binding.stateSerial
        assert (out / f"{stack}.repair.md").read_text().startswith(f"# Repair plan for {stack}")

    network = plans["prod-network"]
    (ssh,) = [s for s in network.steps if s.kind is StepKind.REPAIR]
    assert ssh.action is Action.INCIDENT_AND_REVERT
    assert ssh.status is StepStatus.NEEDS_PERSON
    assert ssh.addresses == ['module.tier["web"].aws_security_group.this']
    assert not (out / "prod-network.iacdrift_repair.tf").exists()

    app = plans["prod-app"]
    (imported,) = [s for s in app.steps if s.kind is StepKind.REPAIR]
    assert imported.action is Action.IMPORT
    assert imported.status is StepStatus.NEEDS_CODE_CHANGE
    blocks = (out / "prod-app.iacdrift_repair.tf").read_text()
    assert f'id = "{SHADOW}"' in blocks and "import {" in blocks

    # prod-app reads prod-network's outputs: its steps wait for prod-network's check.
    network_verify = network.steps[-1].id
    assert f'"{network_verify}" -> "{imported.id}" [style=dashed];' in graph.read_text()

    assert _tree(stacks) == before
