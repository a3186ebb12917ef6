"""Benchmark of the pure repair planner against a plain ``json.load``.

    python bench/bench_repair.py [--findings 1000] [--stacks 100] [--seed 7]

Generates, in a temporary directory, a check report (``CheckReport`` JSON) of N
findings spread over S stacks with a mix of recommended actions (revert, apply,
import, rename pairs to move, removals, refreshes under a change record, ignore,
investigate, incidents) and, per stack, resource dependencies between the
drifted addresses.

Then, in this one process, best of 3 each:

* baseline: ``json.load`` of the report file;
* core: the findings validated into models (``CheckReport.model_validate``) and
  ``plan_repairs`` for every stack (actions, HCL blocks, the networkx graph,
  batches, binding and planId).

It prints both times and their ratio, with PASS/MISS against the issue's target
(planning under 1 s). It is a measurement, not a test: it always exits 0.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_core import best_of  # noqa: E402
from iacdrift.core.reconcile.plan import files_digest, plan_repairs  # noqa: E402
from iacdrift.models.finding import CheckReport  # noqa: E402

TIME_TARGET_SECONDS = 1.0
NOW = "2026-03-01T12:00:00Z"

# (action, weight); MOVE findings come in destroy+create pairs.
MIX = [
    ("REVERT", 40),
    ("APPLY", 10),
    ("IMPORT", 10),
    ("MOVE", 10),
    ("REMOVE_FROM_STATE", 5),
    ("REFRESH", 5),
    ("IGNORE", 5),
    ("INVESTIGATE", 10),
    ("INCIDENT_AND_REVERT", 5),
]


def _finding(stack: str, index: int, action: str, **extra: Any) -> dict[str, Any]:
    address = extra.pop("address", f'module.app["{stack}"].aws_s3_bucket.b{index}')
    finding = {
        "schemaVersion": 1,
        "findingId": f"{stack}-{index:05d}",
        "stack": stack,
        "detectedAt": NOW,
        "domain": "storage",
        "resourceRef": address,
        "resourceId": f"{stack}-bucket-{index}",
        "resourceType": "aws_s3_bucket",
        "environment": "prod",
        "owner": "team-app",
        "sourceOfTruth": None,
        "stateBackend": None,
        "relationship": "desired==recorded!=actual",
        "plannedActions": ["update"],
        "driftClass": "UNAUTHORIZED_RUNTIME_DRIFT",
        "risk": "MEDIUM",
        "alert": True,
        "changedFields": [{"pointer": "/tags/env", "before": "prod", "after": f"hand-{index}"}],
        "recommendedAction": action,
        "autoHealAllowed": False,
        "reason": "changed outside Terraform",
    }
    finding.update(extra)
    return finding


def generate(findings: int, stacks: int, seed: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """The report document and, per stack, its dependencies (address -> addresses)."""
    rng = random.Random(seed)
    actions, weights = zip(*MIX, strict=True)
    per_stack = [findings // stacks + (1 if i < findings % stacks else 0) for i in range(stacks)]
    results: list[dict[str, Any]] = []
    dependencies: dict[str, dict[str, list[str]]] = {}
    for s, count in enumerate(per_stack):
        stack = f"stack-{s:03d}"
        items: list[dict[str, Any]] = []
        index = 0
        while len(items) < count:
            action = rng.choices(actions, weights)[0]
            if action == "MOVE" and count - len(items) >= 2:
                old = f"aws_s3_bucket.old{index}"
                new = f"aws_s3_bucket.new{index}"
                items.append(
                    _finding(
                        stack,
                        index,
                        "MOVE",
                        address=old,
                        plannedActions=["delete"],
                        evidence=[{"kind": "plan", "ref": new, "detail": "same identity"}],
                    )
                )
                items.append(
                    _finding(
                        stack,
                        index + 1,
                        "MOVE",
                        address=new,
                        plannedActions=["create"],
                        evidence=[{"kind": "plan", "ref": old, "detail": "same identity"}],
                    )
                )
                index += 2
                continue
            if action == "MOVE":
                action = "REVERT"
            extra: dict[str, Any] = {}
            if action == "REFRESH":
                extra["changeRecords"] = [f"CHG-{index}"]
            if action == "REMOVE_FROM_STATE":
                extra["address"] = f"aws_s3_bucket.gone{index}"
            items.append(_finding(stack, index, action, **extra))
            index += 1
        addresses = [f["resourceRef"] for f in items]
        dependencies[stack] = {
            address: rng.sample(addresses[:i], k=min(i, 2)) for i, address in enumerate(addresses)
        }
        results.append(
            {
                "schemaVersion": 1,
                "stack": stack,
                "status": "DRIFTED",
                "checkedAt": NOW,
                "stateLineage": f"lineage-{s}",
                "stateSerial": s + 1,
                "findings": items,
            }
        )
    report = {"schemaVersion": 1, "kind": "CheckReport", "generatedAt": NOW, "results": results}
    return report, dependencies


def run_core(path: Path, dependencies: dict[str, dict[str, list[str]]]) -> tuple[int, Counter[str]]:
    with path.open("rb") as handle:
        report = CheckReport.model_validate(json.load(handle))
    digest = files_digest({"main.tf": b"# the stack's files\n"})
    steps = 0
    statuses: Counter[str] = Counter()
    for result in report.results:
        plan = plan_repairs(
            result.stack,
            result.findings,
            files_digest=digest,
            state_lineage=result.stateLineage,
            state_serial=result.stateSerial,
            dependencies=dependencies[result.stack],
        )
        steps += len(plan.steps)
        statuses.update(step.status.value for step in plan.steps)
    return steps, statuses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--findings", type=int, default=1_000)
    parser.add_argument("--stacks", type=int, default=100)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="iacdrift-bench-") as tmp:
        report, dependencies = generate(args.findings, args.stacks, args.seed)
        path = Path(tmp) / "report.json"
        path.write_text(json.dumps(report, separators=(",", ":")))
        del report
        size = path.stat().st_size

        def load() -> Any:
            with path.open("rb") as handle:
                return json.load(handle)

        baseline, _ = best_of(3, load)
        core, (steps, statuses) = best_of(3, lambda: run_core(path, dependencies))

    mix = ", ".join(f"{status} {n}" for status, n in sorted(statuses.items()))
    print(f"findings             {args.findings} across {args.stacks} stacks")
    print(f"report file          {size / 1e6:.2f} MB")
    print(f"steps planned        {steps} ({mix})")
    print(f"json.load report     {baseline:.4f} s (baseline, best of 3)")
    print(f"core                 {core:.3f} s (best of 3), {core / baseline:.1f}x baseline")
    ok = core < TIME_TARGET_SECONDS
    print(f"target time   < {TIME_TARGET_SECONDS:.0f} s        {'PASS' if ok else 'MISS'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
