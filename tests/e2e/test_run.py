"""`iacdrift run` on the sandbox: every stack with its own OIDC identity, drift found,
a refused token is ERROR while the others complete, two concurrent runs never
check one stack at once, and parallel inits on an empty plugin cache hold."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from iacdrift.flows import sandbox
from iacdrift.loaders.registry import Project
from iacdrift.sandbox import token_endpoint
from tests.e2e.test_sandbox_scenarios import heal

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "schemas" / "run-report.schema.json").read_text())
STACKS = {
    "legacy-storage",
    "prod-app",
    "prod-iam",
    "prod-network",
    "prod-payments",
    "staging-app",
}


def start_run(project: Project, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "iacdrift", "run", "--format", "json", *args],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "CI": "true"},
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, dict[str, Any], str]:
    try:
        out, err = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"iacdrift run did not finish in 600s; stderr tail: {err[-2000:]}")
    assert out, err
    report = json.loads(out)
    jsonschema.validate(report, SCHEMA)
    return proc.returncode, report, err


def run_json(project: Project, *args: str) -> tuple[int, dict[str, Any], str]:
    return finish(start_run(project, *args))


def test_run_finds_drift_with_stack_scoped_identities(sandbox_project: Project) -> None:
    sandbox.drift(sandbox_project, "sg-open-ssh")
    sandbox.drift(sandbox_project, "unmanaged-resource")
    try:
        code, report, err = run_json(sandbox_project, "--all", "--max-parallel", "2")
    finally:
        heal(sandbox_project, "sg-open-ssh")
        heal(sandbox_project, "unmanaged-resource")
    assert code == 2, err
    results = {r["stack"]: r for r in report["results"]}
    assert set(results) == STACKS
    # Critical tiers first.
    assert [r["stack"] for r in report["results"]][:2] == ["prod-iam", "prod-network"]
    assert {r["credentialsSource"] for r in results.values()} == {"oidc"}
    assert results["prod-network"]["status"] == "DRIFTED"
    assert all(results[s]["status"] == "CLEAN" for s in STACKS - {"prod-network"})
    # Unmanaged resources are reported once per run, not per stack.
    refs = [f["resourceRef"] for f in report["estateFindings"]]
    assert refs == ["aws_s3_bucket:iacdrift-demo-prod-shadow-exports"]
    # Plain progress lines when not a terminal.
    assert f"[{len(STACKS)}/{len(STACKS)}]" in err


def test_refused_token_is_error_while_the_others_complete(sandbox_project: Project) -> None:
    state_dir = sandbox.sandbox_dir(sandbox_project)
    token_endpoint.write_refusals(state_dir, ["prod-payments"])
    try:
        code, report, _ = run_json(sandbox_project, "--all")
    finally:
        token_endpoint.write_refusals(state_dir, [])
    assert code == 1
    results = {r["stack"]: r for r in report["results"]}
    assert results["prod-payments"]["status"] == "ERROR"
    assert "prod-payments" in results["prod-payments"]["reason"]
    assert all(results[s]["status"] == "CLEAN" for s in STACKS - {"prod-payments"})


def _interval(result: dict[str, Any]) -> tuple[float, float]:
    start = datetime.fromisoformat(result["checkedAt"]).timestamp()
    return start, start + result["timings"]["totalSeconds"]


def test_two_concurrent_runs_never_check_one_stack_at_once(sandbox_project: Project) -> None:
    first = start_run(sandbox_project, "--all", "--max-parallel", "2")
    second = start_run(sandbox_project, "--all", "--max-parallel", "2")
    _, one, _ = finish(first)
    _, two, _ = finish(second)
    checked_one = {r["stack"] for r in one["results"]}
    checked_two = {r["stack"] for r in two["results"]}
    skipped = {s["stack"] for s in one["skipped"]} | {s["stack"] for s in two["skipped"]}
    # Each stack was checked by at least one run; any stack both runs report was
    # checked one after the other (leases), never at the same time.
    assert checked_one | checked_two == STACKS
    for stack in checked_one & checked_two:
        a = _interval(next(r for r in one["results"] if r["stack"] == stack))
        b = _interval(next(r for r in two["results"] if r["stack"] == stack))
        assert a[1] <= b[0] or b[1] <= a[0], (stack, a, b)
    for stack in skipped:
        assert stack in checked_one ^ checked_two
    assert all(r["status"] in {"CLEAN", "DRIFTED"} for r in one["results"] + two["results"])


def test_parallel_inits_on_an_empty_plugin_cache(sandbox_project: Project, tmp_path: Path) -> None:
    """Terraform's plugin cache is not safe for concurrent writes ("text file busy");
    the run warms it serially and hands lock files to the parallel inits."""
    settings = sandbox_project.root / "iacdrift.yaml"
    original = settings.read_text()
    cache = tmp_path / "empty-cache"
    lines = [
        f"  pluginCacheDir: {cache}" if line.strip().startswith("pluginCacheDir:") else line
        for line in original.splitlines()
    ]
    settings.write_text("\n".join(lines) + "\n")
    try:
        for first in (True, False):
            code, report, err = run_json(sandbox_project, "--all", "--max-parallel", "3")
            assert code == 0, err
            assert "text file busy" not in err
            assert {r["status"] for r in report["results"]} == {"CLEAN"}
            # One lock file per engine's requirement: from one init alone, then saved.
            sources = sorted(
                (w["requirement"].split("|")[0], w["source"]) for w in report["warmUp"]
            )
            source = "init" if first else "saved"
            # Terraform twice: aws 3.39.0 for most stacks, 2.70.0 for legacy-storage.
            assert sources == [("opentofu", source), ("terraform", source), ("terraform", source)]
            if first:
                # A new plugin cache means new working copies; each warm-up init taught
                # its engine's records, so every copy was seeded: no stack ran init.
                assert [r["timings"]["initSeconds"] for r in report["results"]] == [0.0] * len(
                    STACKS
                )
    finally:
        settings.write_text(original)
    assert any(cache.rglob("terraform-provider-aws*"))


def test_check_and_run_share_a_stacks_working_copy(sandbox_project: Project) -> None:
    """`check` gives a stack without a lock file the lock file the run saved, so both
    use the same working copy: after a run, a check initialises nothing."""
    code, _, err = run_json(sandbox_project, "--stack", "prod-app")
    assert code == 0, err
    proc = subprocess.run(
        [sys.executable, "-m", "iacdrift", "check", "prod-app", "--format", "json"],
        cwd=sandbox_project.root,
        capture_output=True,
        text=True,
        env={**os.environ, "CI": "true"},
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    (checked,) = json.loads(proc.stdout)["results"]
    assert checked["status"] == "CLEAN"
    # A separate process: its seeder learned nothing, so any init would be a real one.
    assert checked["timings"]["initSeconds"] == 0.0


def test_a_run_prunes_working_copies_of_unregistered_stacks(sandbox_project: Project) -> None:
    workdirs = sandbox_project.root / ".iacdrift/workdirs"
    gone = workdirs / "retired-stack-0123456789ab"
    (gone / "src").mkdir(parents=True)
    lock = workdirs / f"{gone.name}.lock"
    lock.touch()
    eight_days = time.time() - 8 * 24 * 3600
    os.utime(lock, (eight_days, eight_days))
    recent = workdirs / "checked-by-path-0123456789ab"
    (recent / "src").mkdir(parents=True)
    (workdirs / f"{recent.name}.lock").touch()
    code, _, err = run_json(sandbox_project, "--stack", "prod-app")
    assert code == 0, err
    assert not gone.exists()
    assert recent.is_dir()  # used a moment ago: kept until unused for workdirRetention
    assert any(p.name.startswith("prod-app-") for p in workdirs.iterdir())


def _outputs(out: Path) -> tuple[str, str]:
    return (out / "run.txt").read_text(encoding="utf-8"), (out / "run.md").read_text("utf-8")


def test_a_run_that_skipped_stacks_is_not_green(sandbox_project: Project, tmp_path: Path) -> None:
    """Issue 23 item 11: two `run --all` started together. A run that skipped stacks
    another run held exits 1 (one of them is DRIFTED), and run.txt and run.md list
    every skipped stack with the lease holder; with --wait-for-lease each run reports
    the result the holder's run recorded, naming that run, and knows every answer."""
    sandbox.drift(sandbox_project, "sg-open-ssh")  # prod-network DRIFTED
    try:
        outs = [tmp_path / "a", tmp_path / "b"]
        procs = [start_run(sandbox_project, "--all", "--out", str(out)) for out in outs]
        finished = [finish(proc) for proc in procs]
        waiting_outs = [tmp_path / "wa", tmp_path / "wb"]
        procs = [
            start_run(sandbox_project, "--all", "--wait-for-lease", "10m", "--out", str(out))
            for out in waiting_outs
        ]
        waited = [finish(proc) for proc in procs]
    finally:
        heal(sandbox_project, "sg-open-ssh")

    # Without waiting: the stacks the other run held are unknown to this one.
    assert sum(len(report["skipped"]) for _, report, _ in finished) >= 1
    for (code, report, err), out in zip(finished, outs, strict=True):
        checked = {r["stack"] for r in report["results"]}
        skipped = {s["stack"]: s for s in report["skipped"]}
        assert checked | set(skipped) == STACKS and not checked & set(skipped)
        text, markdown = _outputs(out)
        assert markdown.startswith(f"# iacdrift run `{report['runId']}`\n")
        assert "iacdrift check" not in markdown
        if not skipped:
            assert code == 2, err  # it checked prod-network itself
            continue
        assert code == 1, err
        other = next(r for _, r, _ in finished if r is not report)
        for stack, item in skipped.items():
            assert item["result"] is None
            assert item["holderRunId"] == other["runId"]
            assert item["holder"].endswith(f":{other['runId']}")
            line = f"{stack}: not checked, answer unknown (lease held by {item['holder']})"
            assert line in text
            assert f"- {stack}: not checked, answer unknown (lease held by `{item['holder']}`)" in (
                markdown
            )
            assert f"{stack}: skipped, answer unknown (lease held by {item['holder']})" in err
        assert f"{len(skipped)} skipped ({len(skipped)} unknown)" in text

    # Waiting: every stack is answered, by this run or by the holder's recorded result.
    assert sum(len(report["skipped"]) for _, report, _ in waited) >= 1
    for (code, report, err), out in zip(waited, waiting_outs, strict=True):
        assert code == 2, err
        other = next(r for _, r, _ in waited if r is not report)
        answers = {r["stack"]: r["status"] for r in report["results"]}
        text, markdown = _outputs(out)
        for item in report["skipped"]:
            assert item["result"] is not None, item
            assert item["holderRunId"] == other["runId"]
            own = next(r for r in other["results"] if r["stack"] == item["stack"])
            assert item["result"] == own  # exactly what the holder's run recorded
            answers[item["stack"]] = item["result"]["status"]
            assert f"result recorded by run {other['runId']}" in text
            assert f"this is the result run `{other['runId']}` recorded" in markdown
        assert set(answers) == STACKS
        assert answers["prod-network"] == "DRIFTED"
        assert all(answers[s] == "CLEAN" for s in STACKS - {"prod-network"})
