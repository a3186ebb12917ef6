"""Capture real plan JSON, refresh-only plan JSON and state of the example estate,
one sandbox per scenario, as fixtures for the unit tests of the pure core.

    python scripts/capture_plan_fixtures.py tests/fixtures/plans
    python scripts/capture_plan_fixtures.py tests/fixtures/plans clean reporting-policy-attached

Each scenario runs on a fresh sandbox (its own moto server) under a temporary
project directory; nothing of the checkout is written but the output directory.
Names after the directory capture only those (``clean`` or scenario names).
"""

from __future__ import annotations

import json
import shutil
import sys
import tempfile
from pathlib import Path

from iacdrift.flows import sandbox
from iacdrift.flows.workbench import Workbench
from iacdrift.flows.working_copy import prepared
from iacdrift.loaders.registry import load_project
from iacdrift.sandbox.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
# The clean estate is captured for every stack; a scenario only for its stack.
CLEAN = "clean"


def copy_project(dest: Path) -> None:
    for name in ("stacks", "registry"):
        shutil.copytree(ROOT / name, dest / name, symlinks=True)
    shutil.copy2(ROOT / "iacdrift.yaml", dest / "iacdrift.yaml")


def capture(bench: Workbench, stack: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with prepared(bench, bench.stack(stack)) as ready:
        normal = ready.engine.plan(ready.call)
        plan = ready.engine.show_json(ready.call, normal.plan_file)
        refresh = ready.engine.plan(ready.call, refresh_only=True, plan_file="refresh.tfplan")
        refresh_plan = ready.engine.show_json(ready.call, refresh.plan_file)
        state = ready.engine.state_pull(ready.call)
    for name, body in (
        (f"{stack}.plan.json", plan),
        (f"{stack}.refresh-only.plan.json", refresh_plan),
        (f"{stack}.state.json", state),
    ):
        (out / name).write_text(json.dumps(body, indent=1, sort_keys=True) + "\n")
    meta = {"outcome": normal.outcome.value, "refreshOnlyOutcome": refresh.outcome.value}
    (out / f"{stack}.outcome.json").write_text(json.dumps(meta, sort_keys=True) + "\n")


def main(output: Path, names: list[str]) -> None:
    runs = names or [CLEAN, *sorted(SCENARIOS)]
    unknown = [name for name in runs if name != CLEAN and name not in SCENARIOS]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}")
    for scenario in runs:
        with tempfile.TemporaryDirectory(prefix="iacdrift-capture-") as tmp:
            project_dir = Path(tmp)
            copy_project(project_dir)
            project = load_project(cwd=project_dir)
            try:
                sandbox.up(project)
                bench = Workbench.open(project)
                if scenario == CLEAN:
                    stacks = [s.name for s in project.stacks]
                else:
                    print(sandbox.drift(project, scenario))
                    affected = SCENARIOS[scenario].stack
                    stacks = [affected] if affected else []
                for stack in stacks:
                    print(f"capturing {scenario}/{stack}")
                    capture(bench, stack, output / scenario)
            finally:
                print(sandbox.down(project))


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "tests/fixtures/plans", sys.argv[2:])
