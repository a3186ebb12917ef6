"""`iacdrift ci ...` and the CI output formats of `check` and `run`.

* :func:`ci_output`: a check or run report as JUnit XML, SARIF 2.1.0 (each alerting
  finding located at its resource block, read from the stack's files) or GitHub
  Markdown (also appended to ``$GITHUB_STEP_SUMMARY`` when that is set);
* :func:`matrix_for`: the GitHub Actions matrix of the registry's stacks (balanced by
  each stack's last check time from the run history);
* :func:`read_report` (``loaders.reports``, the one reader of saved reports);
* :func:`merge_files`: one run report from the shards' ``run.json`` files;
* :func:`workflow_for`: the GitHub workflow for this registry;
* :func:`pr_comment`: what drifted in the stacks a pull request touches.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import ValidationError

from iacdrift import __version__
from iacdrift.ci.matrix import build_matrix
from iacdrift.ci.merge import merge_reports
from iacdrift.ci.workflow import render_workflow, settings_for
from iacdrift.clock import Clock, utc_now
from iacdrift.core.staleness import due_stacks
from iacdrift.errors import InputError
from iacdrift.loaders.registry import Project
from iacdrift.loaders.reports import read_report as read_report  # for `ci report`, `pr-comment`
from iacdrift.loaders.resource_lines import ResourceLocation, location_for, resource_locations
from iacdrift.loaders.terraform_json import load_json
from iacdrift.models.ci import Matrix, MatrixStack
from iacdrift.models.finding import CheckReport
from iacdrift.models.run import RunReport
from iacdrift.report.github import render_pr_comment, render_step_summary
from iacdrift.report.junit import render_junit
from iacdrift.report.sarif import render_sarif
from iacdrift.store.history import HistoryStore, default_history_path

CI_FORMATS = ("junit", "sarif", "github")
SUMMARY_VARIABLE = "GITHUB_STEP_SUMMARY"

Report = CheckReport | RunReport


def _stack_dirs(project: Project) -> dict[str, Path]:
    return {s.name: s.stack_dir for s in project.stacks}


def sarif_locations(project: Project, report: Report) -> dict[tuple[str, str], ResourceLocation]:
    """(stack, resource address) -> the file and line of its block (or of the module
    call that makes it), for the alerting findings of ``report``."""
    dirs = _stack_dirs(project)
    tables: dict[str, Mapping[str, ResourceLocation]] = {}
    found: dict[tuple[str, str], ResourceLocation] = {}
    results = [*report.results]
    if isinstance(report, RunReport):
        # A skipped stack whose lease holder's run recorded a result counts as checked.
        results += [s.result for s in report.skipped if s.result is not None]
    for result in results:
        directory = dirs.get(result.stack)
        if directory is None:
            continue
        for finding in result.findings:
            if not finding.alert:
                continue
            if result.stack not in tables:
                tables[result.stack] = resource_locations(directory, project.root)
            location = location_for(finding.resourceRef, tables[result.stack])
            if location is not None:
                found[(result.stack, finding.resourceRef)] = location
    return found


def ci_output(
    report: Report,
    output_format: str,
    project: Project,
    environ: Mapping[str, str] | None = None,
) -> str:
    """``report`` in a CI format (see the module doc). With ``github``, the Markdown is
    also appended to the file ``$GITHUB_STEP_SUMMARY`` names, when set."""
    if output_format == "junit":
        return render_junit(report)
    if output_format == "sarif":
        root = project.root.resolve()
        stack_dirs = {
            name: directory.resolve().relative_to(root).as_posix()
            for name, directory in _stack_dirs(project).items()
            if directory.resolve().is_relative_to(root)
        }
        return render_sarif(
            report,
            sarif_locations(project, report),
            tool_version=__version__,
            stack_dirs=stack_dirs,
        )
    if output_format == "github":
        text = render_step_summary(report)
        summary = (environ if environ is not None else os.environ).get(SUMMARY_VARIABLE)
        if summary:
            path = Path(summary)
            try:
                with path.open("a", encoding="utf-8") as handle:
                    handle.write(text if text.endswith("\n") else text + "\n")
            except OSError as exc:
                raise InputError(
                    f"${SUMMARY_VARIABLE}={summary}: cannot append the step summary "
                    f"({exc.strerror or exc}); is it the runner's summary file?"
                ) from exc
        return text
    raise InputError(f"unknown CI format {output_format!r}; use one of {', '.join(CI_FORMATS)}")


def read_matrix(path: Path) -> Matrix:
    """The matrix `ci matrix` printed (the stacks a sweep expects answers for)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{path}: cannot read the matrix ({exc.strerror or exc})") from exc
    try:
        return Matrix.model_validate(load_json(text, str(path)))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InputError(
            f"{path}: {where}: {first['msg']}; give the JSON `iacdrift ci matrix` printed"
        ) from exc


def merge_files(paths: Sequence[Path], expect: Path | None = None) -> RunReport:
    """The shards' run reports as one (ci.merge); with ``expect`` (the sweep's matrix),
    a stack no shard reported is an unanswered skip."""
    expected = read_matrix(expect).stack_names() if expect is not None else []
    reports: list[RunReport] = []
    for path in paths:
        report = read_report(path)
        if not isinstance(report, RunReport):
            raise InputError(f"{path}: a check report; ci merge merges run reports (run.json)")
        reports.append(report)
    return merge_reports(reports, expected)


def matrix_for(
    project: Project,
    *,
    due_only: bool,
    max_jobs: int,
    history_file: Path | None,
    clock: Clock = utc_now,
) -> Matrix:
    """The matrix of the registry's stacks (every one, or those due now by the run
    history), each weighed by its last check's time."""
    path = history_file or default_history_path(project.root)
    with HistoryStore(path) as history:
        last = history.last_successes()
        if due_only:
            units = [s.unit for s in project.stacks]
            names = set(due_stacks(units, last, clock()))
        else:
            names = {s.name for s in project.stacks}
        seconds: dict[str, float | None] = {}
        for name in sorted(names):
            result = history.last_result(name)
            total = result.timings.totalSeconds if result is not None else None
            seconds[name] = total or None
    stacks = [
        MatrixStack(name=s.name, tier=s.unit.spec.riskTier.value, seconds=seconds[s.name])
        for s in project.stacks
        if s.name in seconds
    ]
    return build_matrix(stacks, max_jobs=max_jobs)


def workflow_for(project: Project, *, max_parallel: int) -> str:
    """The GitHub workflow for this registry (ci.workflow)."""
    units = [s.unit for s in project.stacks]
    return render_workflow(settings_for(units, max_parallel=max_parallel))


def stacks_touched(project: Project, changed: Sequence[str]) -> list[str]:
    """The registered stacks whose directory holds one of the ``changed`` paths
    (relative to the project root, as ``git diff --name-only`` prints them)."""
    touched: set[str] = set()
    root = project.root.resolve()
    for text in changed:
        path = (root / text.strip()).resolve()
        for name, directory in _stack_dirs(project).items():
            if path == directory.resolve() or directory.resolve() in path.parents:
                touched.add(name)
    return sorted(touched)


def pr_comment(report: Report, project: Project, changed: Sequence[str]) -> str:
    """What drifted (in ``report``) in the stacks the changed files belong to."""
    return render_pr_comment(report, stacks_touched(project, changed))
