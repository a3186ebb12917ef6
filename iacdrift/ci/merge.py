"""One run report from the reports of a sweep's shards (`iacdrift ci merge`). Pure.

A sweep split across CI jobs (`iacdrift ci matrix`, `run --stack ...` or
`run --shard I/N`) leaves one RunReport per job. The summary job needs one report
with the same exit-code rule as a single run. Contract of :func:`merge_reports`:

1. The reports must come from one registry (``registry`` equal), else InputError.
2. ``results``: every stack's result; a stack checked by two shards (their
   selections overlapped) keeps the later check (``checkedAt``, then run id).
3. ``skipped``: the union, minus the stacks another shard checked; a stack skipped
   by several shards keeps the entry with a recorded result, else the first by run id.
4. ``estateFindings`` (unmanaged resources): each shard judges the resource types
   its own stacks manage against every registered state, so two shards may report
   one finding; the union by finding id (ids are content hashes).
5. ``estateProblems``, ``expiredRules`` (by id), ``warmUp``, ``heals``: the union.
6. ``policyVersion``: the shards' common one. Shards classified under different
   policy versions cannot be compared finding for finding: the merged report says
   so in ``estateProblems`` (it exits 1), and keeps no version.
7. ``runId``: ``merged-`` + a content hash of the shards' run ids; ``startedAt`` the
   earliest, ``finishedAt`` the latest; ``selection`` the shards' common one, else
   ``named``; ``maxParallel`` the sum (the jobs ran side by side).

8. ``expected`` (the sweep's matrix): a stack it names that no shard checked or
   skipped is an unanswered skip ("no report from its shard"): a job that died
   before writing its run.json must not make the sweep look clean (exit 1).

Everything sorted as a single run sorts it.
"""

from __future__ import annotations

from collections.abc import Sequence

from iacdrift.errors import InputError
from iacdrift.models.finding import ExpiredRule, Finding, StackResult
from iacdrift.models.run import RunReport, RunSelection, SkippedStack
from iacdrift.primitives.canonical import canonical_sha256


def merge_reports(reports: Sequence[RunReport], expected: Sequence[str] = ()) -> RunReport:
    """The shards' reports as one (see the module doc)."""
    if not reports:
        raise InputError("ci merge: no report given; name the shards' run.json files")
    registries = sorted({r.registry for r in reports})
    if len(registries) > 1:
        raise InputError(
            f"ci merge: the reports read different registries ({', '.join(registries)}); "
            "merge the shards of one sweep only"
        )
    ordered = sorted(reports, key=lambda r: r.runId)
    results: dict[str, StackResult] = {}
    for report in ordered:
        for result in report.results:
            kept = results.get(result.stack)
            if kept is None or result.checkedAt >= kept.checkedAt:
                results[result.stack] = result
    skipped: dict[str, SkippedStack] = {}
    for report in ordered:
        for entry in report.skipped:
            if entry.stack in results:
                continue
            kept_skip = skipped.get(entry.stack)
            if kept_skip is None or (kept_skip.result is None and entry.result is not None):
                skipped[entry.stack] = entry
    for name in sorted(set(expected) - set(results) - set(skipped)):
        skipped[name] = SkippedStack(
            stack=name,
            reason="no report from its shard: the CI job that had it wrote no run.json "
            "(it failed before the run or was cancelled); see that job's log",
        )
    estate: dict[str, Finding] = {}
    for report in ordered:
        for finding in report.estateFindings:
            estate.setdefault(finding.findingId, finding)
    expired: dict[str, ExpiredRule] = {}
    for report in ordered:
        for rule in report.expiredRules:
            expired.setdefault(rule.id, rule)
    problems = sorted({p for r in ordered for p in r.estateProblems})
    versions = sorted({r.policyVersion for r in ordered if r.policyVersion is not None})
    policy_version = versions[0] if len(versions) == 1 else None
    if len(versions) > 1:
        problems.append(
            "the shards classified findings under different policy versions "
            f"({', '.join(versions)}): run the sweep again with one policies/ revision"
        )
    selections = {r.selection for r in ordered}
    selection = selections.pop() if len(selections) == 1 else RunSelection.NAMED
    return RunReport(
        runId="merged-" + canonical_sha256(sorted(r.runId for r in ordered))[:16],
        startedAt=min(r.startedAt for r in ordered),
        finishedAt=max(r.finishedAt for r in ordered),
        registry=registries[0],
        selection=selection,
        maxParallel=sum(r.maxParallel for r in ordered),
        results=[results[name] for name in sorted(results)],
        estateFindings=sorted(
            estate.values(), key=lambda f: (f.resourceType, f.resourceRef, f.findingId)
        ),
        estateProblems=problems,
        skipped=[skipped[name] for name in sorted(skipped)],
        policyVersion=policy_version,
        expiredRules=[expired[key] for key in sorted(expired)],
        heals=sorted((h for r in ordered for h in r.heals), key=lambda h: (h.stack, h.findingIds)),
        warmUp=sorted(
            (w for r in ordered for w in r.warmUp), key=lambda w: (w.requirement, w.source)
        ),
    )
