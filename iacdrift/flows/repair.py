"""`iacdrift repair plan`: one repair plan per stack, read-only.

Nothing here applies, imports, writes state or writes into a stack directory. The
findings come from a fresh check of the named stacks (:func:`iacdrift.flows.check.check`,
not recorded in the run history: planning is not a check anyone scheduled) or from a
saved run or check report (:func:`iacdrift.loaders.reports.read_report`). This module
gathers what the pure planner (:func:`iacdrift.core.reconcile.plan.plan_repairs`)
needs and writes its results:

1. Findings that never make a stack DRIFTED (quiet classes, suppressed) are not
   repaired. A stack whose check did not answer (ERROR, LOCKED, STALE) is not planned:
   its findings are unknown.
2. Unmanaged (estate) findings go to the ``--into`` stack, which must be among the
   stacks planned; without ``--into``, to the planned stack their tags name
   (``iacdrift:stack``, else a unique ``owner``:
   :func:`iacdrift.core.reconcile.receive.receiving_stack`, tags read with the
   inventory identity). Naming the receiving stack is the decision INVESTIGATE waited
   for, so an INVESTIGATE there becomes an IMPORT (:func:`receive`; other actions,
   such as an incident, stay). The rest stay as classified, listed apart, saying
   :data:`NO_RECEIVER`.
3. The binding: the stack's files as a working copy gets them
   (:func:`iacdrift.engine.workspace.stack_files`), the state's lineage and serial
   the findings were judged against (the check result's).
4. Resource dependencies: the state's per-instance ``dependencies``, read-only with
   the inventory identity (registered stacks). Unreadable (a saved report planned
   without the cloud, an unregistered directory): planned without them, with a
   warning. A state whose lineage or serial moved since the findings: a warning.
5. Across stacks: a stack that reads another's state (``terraform_remote_state``)
   runs after it; a cycle is a DependencyCycleError.
6. UPDATE_CODE: the patch is made from the stack's files
   (:func:`iacdrift.core.reconcile.patch.patch_code`); when there is one it becomes
   the step's artifact (a ``code-patch``: what ``repair apply --write-code`` applies),
   else the step says why and keeps the accepted values. Either way ``--out`` gets the
   patch (``<stack>.<step>.patch``) and the reconciliation PR body
   (``<stack>.<step>.pr.md``: findings, who, why runtime is accepted, the change
   records, the expected plan after merge, rollback, reviewers = the stack's owner).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from iacdrift.aws.inventory import live_tags
from iacdrift.clock import Clock, utc_now
from iacdrift.core.reconcile import hcl
from iacdrift.core.reconcile.patch import CodePatch, patch_code
from iacdrift.core.reconcile.plan import (
    cross_stack_edges,
    estate_batches,
    files_digest,
    plan_content_id,
    plan_repairs,
)
from iacdrift.core.reconcile.receive import receiving_stack
from iacdrift.core.terraform_json import state_dependencies
from iacdrift.engine.workspace import stack_anchor, stack_files
from iacdrift.errors import ExitCode, IacdriftError, InputError, RefusedError
from iacdrift.flows.check import CheckOptions, check, classifier_for, read_registered_state
from iacdrift.flows.workbench import EngineOptions, StackRef, Workbench
from iacdrift.loaders.changes import load_change_records
from iacdrift.loaders.hcl_outline import outline
from iacdrift.loaders.registry import Project, display_path, load_project
from iacdrift.loaders.reports import read_report
from iacdrift.loaders.stack_hcl import remote_state_reads
from iacdrift.models.context import ChangeRecord
from iacdrift.models.finding import (
    ANSWERED,
    QUIET_CLASSES,
    Action,
    CheckReport,
    Finding,
    StackResult,
)
from iacdrift.models.repair import Artifact, ArtifactKind, RepairPlan, StepStatus
from iacdrift.models.run import RunReport
from iacdrift.report.common import render_json
from iacdrift.report.repair import render_dot, render_markdown, render_unassigned
from iacdrift.report.repair_pr import render_pr_body

NO_RECEIVER = "no receiving stack: pass --into STACK"
BLOCK_KINDS = frozenset(
    {ArtifactKind.MOVED_BLOCK, ArtifactKind.REMOVED_BLOCK, ArtifactKind.IMPORT_BLOCK}
)
UNASSIGNED_FILE = "estate.unassigned.md"


@dataclass(frozen=True)
class RepairPlanRequest:
    """What ``iacdrift repair plan`` asks for."""

    stacks: tuple[str, ...] = ()
    select_all: bool = False
    report_path: Path | None = None  # --from: a saved run or check report
    into: str | None = None  # the stack that receives unmanaged objects
    out_dir: Path | None = None
    graph_file: Path | None = None
    config_path: Path | None = None
    registry_dir: Path | None = None
    engine: EngineOptions = field(default_factory=EngineOptions)
    policies_dir: Path | None = None


@dataclass(frozen=True)
class Unplanned:
    """A stack with no plan, and why (its findings are unknown)."""

    stack: str
    reason: str


@dataclass(frozen=True)
class CodeChange:
    """An UPDATE_CODE step's patch (or why there is none) and its PR body."""

    stack: str
    step_id: str
    patch: CodePatch
    pr_body: str


@dataclass(frozen=True)
class RepairPlanOutcome:
    plans: tuple[RepairPlan, ...]
    code_changes: tuple[CodeChange, ...] = ()
    unassigned: tuple[Finding, ...] = ()  # unmanaged, no receiving stack: INVESTIGATE
    unplanned: tuple[Unplanned, ...] = ()
    order: tuple[tuple[str, ...], ...] = ()  # batches of every plan's steps together
    edges: tuple[tuple[str, str], ...] = ()  # steps ordered across stacks
    warnings: tuple[str, ...] = ()
    written: tuple[Path, ...] = ()

    def exit_code(self) -> ExitCode:
        """1 when a stack could not be planned, 2 when there is anything to do, else 0."""
        if self.unplanned:
            return ExitCode.FAILED
        if self.unassigned or any(plan.steps for plan in self.plans):
            return ExitCode.DRIFT
        return ExitCode.OK


def to_repair(findings: Iterable[Finding]) -> list[Finding]:
    """The findings a repair acts on: those that make a stack DRIFTED (rule 1)."""
    return [f for f in findings if f.driftClass not in QUIET_CLASSES and not f.suppressed]


def receive(findings: Iterable[Finding], stack: str, why: str | None = None) -> list[Finding]:
    """Unmanaged findings assigned to ``stack`` (rule 2: ``--into``, or ``why``, the
    tag rule of :func:`iacdrift.core.reconcile.receive.receiving_stack`): INVESTIGATE
    becomes IMPORT, saying so in the reason; the finding's stack stays null (the
    planner then imports it under ``<type>.<id as a name>``)."""
    because = why or f"--into {stack}"
    received: list[Finding] = []
    for finding in findings:
        if finding.recommendedAction is Action.INVESTIGATE:
            finding = finding.model_copy(
                update={
                    "recommendedAction": Action.IMPORT,
                    "reason": f"{finding.reason}; {because}: imported into {stack}",
                }
            )
        received.append(finding)
    return received


def assign_by_tags(
    bench: Workbench | None,
    estate: Sequence[Finding],
    refs: Mapping[str, StackRef],
    warnings: list[str],
    project: Project,
) -> tuple[dict[str, list[Finding]], list[Finding]]:
    """Rule 2 without ``--into``: each unmanaged object whose tags name a planned stack
    (:func:`receiving_stack`) goes to it; the rest stay unassigned."""
    owners: dict[str, str | None] = {s.name: s.unit.spec.owner for s in project.stacks}
    assigned: dict[str, list[Finding]] = {}
    unassigned: list[Finding] = []
    for finding in estate:
        tags = None
        if bench is not None and finding.resourceId:
            try:
                tags = live_tags(
                    finding.resourceType,
                    finding.resourceId,
                    bench.inventory_credentials(),
                    bench.target,
                )
            except IacdriftError as exc:
                warnings.append(f"{finding.resourceRef}: tags not read ({exc.message})")
        stack, why = receiving_stack(tags or {}, owners, refs.keys())
        if stack is None:
            unassigned.append(finding)
        else:
            assigned.setdefault(stack, []).extend(receive([finding], stack, why))
    return assigned, unassigned


def repair_blocks(plan: RepairPlan) -> str | None:
    """The ``<stack>.iacdrift_repair.tf`` text: every moved/removed/import block of the
    plan, sorted; None when there is none."""
    blocks = [
        step.artifact.text
        for step in plan.steps
        if step.artifact is not None and step.artifact.kind in BLOCK_KINDS
    ]
    if not blocks:
        return None
    header = (
        f"# Generated by `iacdrift repair plan` (plan {plan.planId}, stack {plan.stack}).\n"
        "# Review it; it goes into the stack only through a PR or `repair apply --write-code`.\n"
        "\n"
    )
    return header + hcl.render_blocks(blocks)


def stack_reads(
    planned: Mapping[str, Path],
    states: Mapping[tuple[str, str], str],
    reads_of: Mapping[str, set[tuple[str, str]]],
) -> dict[str, set[str]]:
    """Stack -> the planned stacks whose state it reads (``states``: (bucket, key) ->
    registered stack; ``reads_of``: stack -> the (bucket, key) its HCL reads)."""
    found: dict[str, set[str]] = {}
    for stack in planned:
        upstream = {states[r] for r in reads_of.get(stack, set()) if r in states}
        upstream = {s for s in upstream if s in planned and s != stack}
        if upstream:
            found[stack] = upstream
    return found


def refuse_stack_dirs(path: Path, directories: Iterable[Path], what: str) -> None:
    resolved = path.resolve()
    for directory in directories:
        if resolved == directory.resolve() or directory.resolve() in resolved.parents:
            raise InputError(
                f"{what} {display_path(path)}: inside the stack directory "
                f"{display_path(directory)}; repair plan never writes there, choose "
                "another place"
            )


def _selected(report: RunReport | CheckReport, request: RepairPlanRequest) -> list[StackResult]:
    if request.select_all:
        return list(report.results)
    by_name = {r.stack: r for r in report.results}
    assert request.report_path is not None
    missing = [s for s in request.stacks if s not in by_name]
    if missing:
        held = ", ".join(sorted(by_name)) or "none"
        raise InputError(
            f"{display_path(request.report_path)}: no result for stack {missing[0]!r} "
            f"(it holds: {held}); name one of those or use --all"
        )
    return [by_name[s] for s in request.stacks]


@dataclass(frozen=True)
class _StateFacts:
    dependencies: Mapping[str, Sequence[str]]
    warning: str | None = None


def _state_facts(bench: Workbench | None, ref: StackRef, result: StackResult) -> _StateFacts:
    """The state's dependencies (rule 4), read-only; a warning when unreadable or moved."""
    unordered = "steps of one phase are not ordered by resource dependencies"
    if ref.unit is None:
        return _StateFacts({}, f"{ref.name}: not registered, its state was not read; {unordered}")
    if bench is None:
        return _StateFacts({}, f"{ref.name}: the cloud is not reachable; {unordered}")
    try:
        data = read_registered_state(
            ref.unit.spec.state, bench.inventory_credentials(), bench.target
        )
    except IacdriftError as exc:
        return _StateFacts({}, f"{ref.name}: state not read ({exc.message}); {unordered}")
    if not isinstance(data, dict):
        return _StateFacts({})
    lineage, serial = data.get("lineage"), data.get("serial")
    warning = None
    if (lineage, serial) != (result.stateLineage, result.stateSerial):
        warning = (
            f"{ref.name}: the state moved since the findings (lineage {result.stateLineage}, "
            f"serial {result.stateSerial} -> lineage {lineage}, serial {serial}); the plan is "
            "bound to the findings' state and `repair apply` will refuse it: check again"
        )
    return _StateFacts(state_dependencies(data), warning)


def _open_bench(project: Project, engine: EngineOptions) -> tuple[Workbench | None, str | None]:
    try:
        return Workbench.open(project, engine), None
    except IacdriftError as exc:
        return None, f"the cloud was not opened ({exc.message})"


def plan_repair(request: RepairPlanRequest, clock: Clock = utc_now) -> RepairPlanOutcome:
    """``iacdrift repair plan``: findings -> one plan per stack (rules in the module
    docstring), the ``--out`` files and the ``--graph`` file."""
    if request.select_all == bool(request.stacks):
        raise InputError("name the stacks to plan (STACK...) or pass --all, not both")
    project = load_project(request.config_path, request.registry_dir)
    if request.into is not None:
        project.get(request.into)  # UnknownStackError, with close matches
    warnings: list[str] = []
    now = clock()
    refs: dict[str, StackRef] = {}
    unplanned: list[Unplanned] = []
    if request.report_path is not None:
        report: RunReport | CheckReport = read_report(request.report_path)
        selected = _selected(report, request)
        bench, problem = _open_bench(project, request.engine)
        if problem is not None:
            warnings.append(problem)
        registered = {s.name: s for s in project.stacks}
        for result in selected:
            if result.stack not in registered:
                unplanned.append(
                    Unplanned(
                        result.stack,
                        "not registered: its files are unknown; plan it from a fresh check "
                        "(iacdrift repair plan DIR)",
                    )
                )
            else:
                refs[result.stack] = StackRef.of(registered[result.stack])
    else:
        bench = Workbench.open(project, request.engine)
        names = request.stacks or project.names
        wanted = [bench.stack(name) for name in names]
        classifier = classifier_for(bench, now, policies_dir=request.policies_dir)
        report = check(bench, wanted, CheckOptions(clock=clock, classifier=classifier))
        selected = list(report.results)
        refs = {ref.name: ref for ref in wanted}
    if request.into is not None and request.into not in refs:
        planned = ", ".join(sorted(refs)) or "none"
        raise InputError(
            f"--into {request.into}: not among the stacks planned ({planned}); "
            "name it too, or use --all"
        )
    stack_dirs = {ref.directory for ref in refs.values()} | {s.stack_dir for s in project.stacks}
    for path, what in ((request.out_dir, "--out"), (request.graph_file, "--graph")):
        if path is not None:
            refuse_stack_dirs(path, stack_dirs, what)

    estate = to_repair(report.estateFindings)
    left: list[Finding] = []
    if request.into is not None:
        assigned = {request.into: receive(estate, request.into)}
    else:
        assigned, left = assign_by_tags(bench, estate, refs, warnings, project)
    plans: list[RepairPlan] = []
    code_changes: list[CodeChange] = []
    change_records = records(project)
    for result in selected:
        ref = refs.get(result.stack)
        if ref is None:
            continue
        if result.status not in ANSWERED:
            why = result.reason or "no reason recorded"
            unplanned.append(Unplanned(result.stack, f"{result.status}: {why}"))
            # Objects meant for it are not lost: they stay for a person.
            left.extend(assigned.pop(result.stack, []))
            continue
        findings = to_repair(result.findings) + assigned.get(result.stack, [])
        facts = _state_facts(bench, ref, result)
        if facts.warning is not None:
            warnings.append(facts.warning)
        plan = plan_repairs(
            result.stack,
            findings,
            files_digest=files_digest(stack_files(ref.directory)),
            state_lineage=result.stateLineage,
            state_serial=result.stateSerial,
            dependencies=facts.dependencies,
            today=now.date(),
        )
        plan, changes = with_code_patches(plan, findings, ref, change_records)
        plans.append(plan)
        code_changes.extend(changes)
    plans.sort(key=lambda p: p.stack)
    unassigned = tuple(sorted(left, key=lambda f: f.findingId))

    states = {(s.unit.spec.state.bucket, s.unit.spec.state.key): s.name for s in project.stacks}
    planned_dirs = {p.stack: refs[p.stack].directory for p in plans}
    reads = stack_reads(
        planned_dirs, states, {s: remote_state_reads(d) for s, d in planned_dirs.items()}
    )
    order = estate_batches(plans, reads=reads)
    edges = cross_stack_edges(plans, reads=reads)

    written: list[Path] = []
    if request.out_dir is not None:
        written += _write_out(request.out_dir, plans, unassigned, code_changes)
    if request.graph_file is not None:
        request.graph_file.parent.mkdir(parents=True, exist_ok=True)
        request.graph_file.write_text(render_dot(plans, edges), encoding="utf-8")
        written.append(request.graph_file)
    return RepairPlanOutcome(
        plans=tuple(plans),
        code_changes=tuple(code_changes),
        unassigned=unassigned,
        unplanned=tuple(sorted(unplanned, key=lambda u: u.stack)),
        order=tuple(tuple(batch) for batch in order),
        edges=tuple(edges),
        warnings=tuple(warnings),
        written=tuple(written),
    )


def _write_out(
    out_dir: Path,
    plans: Sequence[RepairPlan],
    unassigned: Sequence[Finding],
    code_changes: Sequence[CodeChange] = (),
) -> list[Path]:
    """Per stack ``<stack>.repair.json``, ``<stack>.repair.md`` and, when the plan has
    blocks, ``<stack>.iacdrift_repair.tf``; per UPDATE_CODE step its patch and PR body
    (rule 6); the unassigned objects' list."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    for plan in plans:
        files[f"{plan.stack}.repair.json"] = render_json(plan)
        files[f"{plan.stack}.repair.md"] = render_markdown(plan)
        blocks = repair_blocks(plan)
        if blocks is not None:
            files[f"{plan.stack}.iacdrift_repair.tf"] = blocks
    for change in code_changes:
        if not change.patch.refused:
            files[f"{change.stack}.{change.step_id}.patch"] = change.patch.diff
        files[f"{change.stack}.{change.step_id}.pr.md"] = change.pr_body
    if unassigned:
        files[UNASSIGNED_FILE] = render_unassigned(unassigned, NO_RECEIVER)
    written: list[Path] = []
    for name, text in sorted(files.items()):
        path = out_dir / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def decoded_files(ref: StackRef) -> dict[str, str]:
    """The stack's files as text (what a patch is made from and applied to); RefusedError
    naming a file that is not UTF-8 (a patch would corrupt it)."""
    files: dict[str, str] = {}
    for path, data in stack_files(ref.directory).items():
        try:
            files[path] = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RefusedError(
                f"{ref.name}: {path} is not UTF-8; iacdrift edits only UTF-8 files: "
                "change it by hand"
            ) from exc
    return files


def records(project: Project) -> list[ChangeRecord]:
    """The project's change records (for PR bodies); none when not configured."""
    context = project.settings.context
    if context is None or not context.changeRecords:
        return []
    return load_change_records(Path(context.changeRecords), cwd=project.root, missing_ok=True)


def with_code_patches(
    plan: RepairPlan,
    findings: Sequence[Finding],
    ref: StackRef,
    change_records: Sequence[ChangeRecord],
) -> tuple[RepairPlan, list[CodeChange]]:
    """Rule 6: each UPDATE_CODE step's patch as its artifact (the planId follows the
    new content), and its PR body."""
    steps = [s for s in plan.steps if s.action is Action.UPDATE_CODE]
    if not steps:
        return plan, []
    anchor = stack_anchor(ref.directory)
    root = ref.directory.resolve().relative_to(anchor).as_posix()
    files = decoded_files(ref)
    shared = [p for p in files if p.startswith(f"{root}/") and (anchor / p).is_symlink()]
    shape = outline(files)
    by_id = {f.findingId: f for f in findings}
    owner = ref.unit.spec.owner if ref.unit is not None else None
    patches: dict[str, CodePatch] = {}
    replaced = []
    for step in plan.steps:
        if step.action is not Action.UPDATE_CODE:
            replaced.append(step)
            continue
        mine = [by_id[i] for i in step.findingIds if i in by_id]
        fields = [field for f in mine for field in f.changedFields]
        patch = patch_code(
            files, shape, root=root, address=step.addresses[0], fields=fields, shared_files=shared
        )
        patches[step.id] = patch
        if patch.refused:
            why = f"no patch could be made ({patch.why}); write the change by hand as a PR"
            replaced.append(step.model_copy(update={"why": why}))
        else:
            replaced.append(
                step.model_copy(
                    update={
                        "artifact": Artifact(kind=ArtifactKind.CODE_PATCH, text=patch.diff),
                        "status": StepStatus.NEEDS_CODE_CHANGE,
                        "why": "the stack's code must say the accepted value: merge the patch "
                        "as a PR (its body is beside the plan), or repair apply --write-code",
                    }
                )
            )
    patched = plan.model_copy(update={"steps": replaced, "planId": ""})
    patched = patched.model_copy(update={"planId": plan_content_id(patched)})
    changes = []
    for step in steps:
        mine = [by_id[i] for i in step.findingIds if i in by_id]
        wanted = {i for f in mine for i in f.changeRecords}
        body = render_pr_body(
            mine,
            patches[step.id],
            owner=owner,
            records=[r for r in change_records if r.id in wanted],
            plan_id=patched.planId,
        )
        changes.append(CodeChange(plan.stack, step.id, patches[step.id], body))
    return patched, changes
