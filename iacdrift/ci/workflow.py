"""The GitHub Actions workflow of a drift sweep (``iacdrift ci github-workflow``). Pure:
settings in, YAML text out.

The workflow, job by job:

1. ``matrix``: checks out the repository, installs iacdrift, runs ``iacdrift ci
   matrix --due`` (a :class:`~iacdrift.ci.matrix.Matrix`) and splits it with ``jq``
   (on every GitHub-hosted runner) into one output per tier: ``<tier>`` (that tier's
   ``{"include": [...]}``) and ``<tier>-entries`` (how many), plus ``entries`` (all).
2. ``sweep-<tier>``, one per risk tier of the registry, critical first: a matrix job
   over that tier's entries, skipped when the tier has none (Actions refuses an empty
   matrix). Each entry's ``stacks`` (space-separated names) reaches the step through
   ``env`` (never spliced into the script) and becomes ``--stack NAME`` arguments of
   ``iacdrift run ... --wait-for-lease 15m --out out/``. Exit 2 (drift) keeps the job
   green, any other non-zero code fails it; the code is kept in ``out/exit-code``.
   ``out/`` is uploaded as the artifact ``iacdrift-run-<tier>-<job index>``. Only these
   jobs may request an OIDC token (``id-token: write``).
3. ``report`` (after every sweep, even failed ones; skipped when nothing was
   planned): downloads the artifacts, merges them (``iacdrift ci merge``), writes the
   step summary (``iacdrift ci report --format github``, which appends to
   ``$GITHUB_STEP_SUMMARY`` itself, then a table of each shard's exit code) and SARIF
   (``--format sarif``), uploads the SARIF to code scanning (the only job with
   ``security-events: write``) and the merged report as an artifact. Drift (2) keeps
   it green; an unchecked stack (1) fails it last, after everything is reported.

The top level grants nothing (``permissions: {}``); each job names what it needs.
``concurrency`` queues a sweep behind a running one instead of overlapping it. Every
action is pinned to a full commit SHA with its release in a comment.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from typing import Annotated, Any, NamedTuple

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from iacdrift.models.registry import DriftManagedUnit, RiskTier
from iacdrift.primitives.duration import parse_duration, parse_frequency


class PinnedAction(NamedTuple):
    """An action at a full commit SHA (a tag can be moved; a commit cannot)."""

    repository: str
    commit: str
    version: str  # the release tag that points at ``commit``

    @property
    def uses(self) -> str:
        return f"{self.repository}@{self.commit}"


# Each commit is the one the release tag points at (tags read from the actions'
# repositories; the latest release of the major version named in the comment).
CHECKOUT = PinnedAction("actions/checkout", "11d5960a326750d5838078e36cf38b85af677262", "v4.4.0")
SETUP_PYTHON = PinnedAction(
    "actions/setup-python", "a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"
)
UPLOAD_ARTIFACT = PinnedAction(
    "actions/upload-artifact", "ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"
)
DOWNLOAD_ARTIFACT = PinnedAction(
    "actions/download-artifact", "d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"
)
UPLOAD_SARIF = PinnedAction(
    "github/codeql-action/upload-sarif", "dd903d2e4f5405488e5ef1422510ee31c8b32357", "v3.36.2"
)
PINNED_ACTIONS = (CHECKOUT, SETUP_PYTHON, UPLOAD_ARTIFACT, DOWNLOAD_ARTIFACT, UPLOAD_SARIF)

DEFAULT_PATH = ".github/workflows/iacdrift.yml"
CONCURRENCY_GROUP = "iacdrift-sweep"
ARTIFACT_PREFIX = "iacdrift-run-"

# GitHub runs a schedule at most every 5 minutes and delays runs at the top of the
# hour the most, so sweeps start at minute 17 (daily and weekly ones at 03:17 UTC).
MINIMUM_INTERVAL = timedelta(minutes=5)
CRON_MINUTE = 17
CRON_HOUR = 3
# Steps that divide an hour and a day evenly, so every interval is the same length.
_MINUTE_STEPS = (5, 6, 10, 12, 15, 20, 30)
_HOUR_STEPS = (1, 2, 3, 4, 6, 8, 12)


def cron_for(frequencies: Sequence[str]) -> str:
    """The schedule that runs a sweep at least as often as the shortest frequency.

    ``ci matrix --due`` picks the stacks that are due, so a sweep more often than a
    stack's frequency checks it no more often than that. Rules:

    1. No frequency: ValueError. Each one is parsed as the registry parses it
       (hourly, daily, weekly, or a duration such as 15m, 6h, 2d).
    2. Shorter than 5 minutes: every 5 minutes (GitHub's shortest schedule).
    3. Under an hour: every S minutes from minute 17 mod S, S the largest of 5, 6,
       10, 12, 15, 20, 30 not above it (``15m`` -> ``2-59/15 * * * *``).
    4. Under a day: minute 17 every H hours, H the largest of 1, 2, 3, 4, 6, 8, 12
       not above it (``hourly`` -> ``17 * * * *``, ``6h`` -> ``17 */6 * * *``).
    5. Under a week: daily at 03:17 UTC (``17 3 * * *``); otherwise weekly, Mondays
       at 03:17 UTC (``17 3 * * 1``).
    """
    if not frequencies:
        raise ValueError("no schedule frequency: register a stack before generating CI")
    shortest = max(min(parse_frequency(text) for text in frequencies), MINIMUM_INTERVAL)
    minutes = shortest // timedelta(minutes=1)
    if minutes < 60:
        step = max(s for s in _MINUTE_STEPS if s <= minutes)
        return f"{CRON_MINUTE % step}-59/{step} * * * *"
    hours = minutes // 60
    if hours < 24:
        step = max(s for s in _HOUR_STEPS if s <= hours)
        return f"{CRON_MINUTE} * * * *" if step == 1 else f"{CRON_MINUTE} */{step} * * *"
    if shortest < timedelta(weeks=1):
        return f"{CRON_MINUTE} {CRON_HOUR} * * *"
    return f"{CRON_MINUTE} {CRON_HOUR} * * 1"


def _check_cron(value: str) -> str:
    if len(value.split()) != 5:
        raise ValueError(f"{value!r}: a cron schedule has five fields (minute hour day month dow)")
    return value


def _check_duration(value: str) -> str:
    parse_duration(value)
    return value


def _check_tiers(value: list[RiskTier]) -> list[RiskTier]:
    if not value:
        raise ValueError("tiers: name at least one risk tier (the tiers of the registry)")
    return sorted(set(value), key=lambda tier: tier.rank)


class WorkflowSettings(BaseModel):
    """What :func:`render_workflow` needs; :func:`settings_for` derives the registry's
    part (cron, tiers). The commands run in bash on the runner, in the checkout."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cron: Annotated[str, AfterValidator(_check_cron)] = Field(
        description="When the sweep runs (UTC), from cron_for(): e.g. 17 * * * *."
    )
    tiers: Annotated[list[RiskTier], AfterValidator(_check_tiers)] = Field(
        description="The risk tiers present in the registry: one sweep job each."
    )
    python_version: str = Field(default="3.11", description="actions/setup-python's version.")
    max_parallel: int = Field(
        default=4, ge=1, le=256, description="Jobs at once per tier (strategy.max-parallel)."
    )
    install_command: str = Field(
        default="python -m pip install .", description="Installs iacdrift from the checkout."
    )
    matrix_command: str = Field(
        default="iacdrift ci matrix --due",
        description='Prints the sweep\'s matrix JSON ({"include": [...]}) on stdout.',
    )
    merge_command: str = Field(
        default="iacdrift ci merge reports/*/run.json --expect plan/matrix.json --out merged.json",
        description="Merges the shards' run.json files (downloaded under reports/<artifact>/) "
        "into merged.json; exit 0 or 2 is success.",
    )
    wait_for_lease: Annotated[str, AfterValidator(_check_duration)] = Field(
        default="15m", description="iacdrift run --wait-for-lease: a stack another run holds."
    )
    runs_on: str = Field(default="ubuntu-latest", description="The runner of every job.")
    name: str = Field(default="iacdrift drift sweep", description="The workflow's name.")


def settings_for(units: Sequence[DriftManagedUnit], **options: Any) -> WorkflowSettings:
    """Settings from the registry (cron from the shortest frequency, the tiers present)
    plus any other :class:`WorkflowSettings` field given as a keyword."""
    return WorkflowSettings(
        cron=cron_for([unit.spec.schedule.frequency for unit in units]),
        tiers=sorted({unit.spec.riskTier for unit in units}, key=lambda tier: tier.rank),
        **options,
    )


# Exit 2 is drift: a finding for the summary, not a failure. Anything else non-zero
# (1 unchecked or failed, 130 interrupted) fails the step.
_TOLERATE_DRIFT = 'if [ "$code" -ne 0 ] && [ "$code" -ne 2 ]; then exit "$code"; fi\n'


def _setup_steps(settings: WorkflowSettings) -> list[dict[str, Any]]:
    return [
        {
            "name": "Check out the registry and stacks",
            "uses": CHECKOUT.uses,
            "with": {"persist-credentials": False},
        },
        {
            "name": "Set up Python",
            "uses": SETUP_PYTHON.uses,
            "with": {"python-version": settings.python_version},
        },
        {"name": "Install iacdrift", "run": settings.install_command},
    ]


def _matrix_job(settings: WorkflowSettings) -> dict[str, Any]:
    tiers = " ".join(tier.value for tier in settings.tiers)
    script = (
        f"{settings.matrix_command} > matrix.json\n"
        "entries=$(jq '.include | length' matrix.json)\n"
        'echo "entries=$entries" >> "$GITHUB_OUTPUT"\n'
        f"for tier in {tiers}; do\n"
        "  matrix=$(jq -c --arg tier \"$tier\" '{include: [.include[] | select(.tier == $tier)]}'"
        " matrix.json)\n"
        "  count=$(jq '.include | length' <<< \"$matrix\")\n"
        '  echo "$tier=$matrix" >> "$GITHUB_OUTPUT"\n'
        '  echo "$tier-entries=$count" >> "$GITHUB_OUTPUT"\n'
        "done\n"
        'echo "The sweep: $entries jobs"\n'
        "jq . matrix.json\n"
    )
    outputs = {"entries": "${{ steps.matrix.outputs.entries }}"}
    for tier in settings.tiers:
        outputs[tier.value] = f"${{{{ steps.matrix.outputs.{tier.value} }}}}"
        outputs[f"{tier.value}-entries"] = f"${{{{ steps.matrix.outputs.{tier.value}-entries }}}}"
    return {
        "name": "Plan the sweep",
        "runs-on": settings.runs_on,
        "permissions": {"contents": "read"},
        "outputs": outputs,
        "steps": [
            *_setup_steps(settings),
            {"name": "Compute the matrix", "id": "matrix", "run": script},
            {
                # The report job merges against it: a shard that wrote no report is
                # unanswered, never silently clean.
                "name": "Keep the matrix for the report",
                "uses": UPLOAD_ARTIFACT.uses,
                "with": {
                    "name": MATRIX_ARTIFACT,
                    "path": "matrix.json",
                    "if-no-files-found": "error",
                },
            },
        ],
    }


def _sweep_job(settings: WorkflowSettings, tier: RiskTier) -> dict[str, Any]:
    script = (
        "# One --stack per name: names are lowercase letters, digits and dashes.\n"
        "args=()\n"
        'for stack in $STACKS; do args+=(--stack "$stack"); done\n'
        "mkdir -p out\n"
        "code=0\n"
        f'iacdrift run "${{args[@]}}" --wait-for-lease {settings.wait_for_lease} --out out/'
        " || code=$?\n"
        'echo "$code" > out/exit-code\n'
        'echo "exit-code=$code" >> "$GITHUB_OUTPUT"\n'
        f"{_TOLERATE_DRIFT}"
    )
    return {
        "name": f"Sweep {tier.value} (${{{{ matrix.shard }}}})",
        "needs": "matrix",
        "if": f"needs.matrix.outputs.{tier.value}-entries != '0'",
        "runs-on": settings.runs_on,
        "permissions": {"id-token": "write", "contents": "read"},
        "strategy": {
            "fail-fast": False,
            "max-parallel": settings.max_parallel,
            "matrix": f"${{{{ fromJSON(needs.matrix.outputs.{tier.value}) }}}}",
        },
        "steps": [
            *_setup_steps(settings),
            {
                "name": "Check the stacks of this shard",
                "id": "check",
                "env": {"STACKS": "${{ matrix.stacks }}"},
                "run": script,
            },
            {
                "name": "Upload the shard's reports",
                "if": "always()",
                "uses": UPLOAD_ARTIFACT.uses,
                "with": {
                    "name": f"{ARTIFACT_PREFIX}{tier.value}-${{{{ strategy.job-index }}}}",
                    "path": "out/",
                    "if-no-files-found": "error",
                },
            },
        ],
    }


# The report job's steps after the merge: `ci report` exits with the merged report's
# own code, so that code is expected; anything else is this step failing.
_AS_MERGED = 'if [ "$code" -ne 0 ] && [ "$code" -ne "$MERGED" ]; then exit "$code"; fi\n'
_MERGED_ENV = {"MERGED": "${{ steps.merge.outputs.exit-code }}"}


MATRIX_ARTIFACT = "iacdrift-matrix"
_SARIF_WHEN = "steps.merge.outputs.exit-code == '0' || steps.merge.outputs.exit-code == '2'"


def _report_job(settings: WorkflowSettings) -> dict[str, Any]:
    merge = (
        "code=0\n"
        f"{settings.merge_command} || code=$?\n"
        'echo "exit-code=$code" >> "$GITHUB_OUTPUT"\n'
        "# 2 (drift) and 1 (a stack unchecked) still leave merged.json to report on.\n"
        'if [ ! -f merged.json ]; then exit "$(( code == 0 ? 1 : code ))"; fi\n'
    )
    summary = (
        "code=0\n"
        "# `ci report --format github` appends to $GITHUB_STEP_SUMMARY itself.\n"
        "iacdrift ci report merged.json --format github || code=$?\n"
        f"{_AS_MERGED}"
        "shopt -s nullglob\n"
        "{\n"
        '  echo ""\n'
        '  echo "| shard artifact | iacdrift run exit code |"\n'
        '  echo "|---|---|"\n'
        "  for file in reports/*/exit-code; do\n"
        '    echo "| $(basename "$(dirname "$file")") | $(cat "$file") |"\n'
        "  done\n"
        '} >> "$GITHUB_STEP_SUMMARY"\n'
    )
    sarif = (
        "code=0\n"
        "iacdrift ci report merged.json --format sarif > iacdrift.sarif || code=$?\n"
        f"{_AS_MERGED}"
    )
    verdict = (
        "# Drift (2) is reported above and in code scanning; an unchecked stack fails.\n"
        'if [ "$MERGED" -ne 0 ] && [ "$MERGED" -ne 2 ]; then\n'
        '  echo "::error::the sweep left stacks unchecked (exit $MERGED); see the summary"\n'
        '  exit "$MERGED"\n'
        "fi\n"
    )
    return {
        "name": "Merge, summarise and upload SARIF",
        "needs": ["matrix", *(f"sweep-{tier.value}" for tier in settings.tiers)],
        # After failed or skipped sweeps too; not when nothing was planned.
        "if": "always() && needs.matrix.result == 'success' && needs.matrix.outputs.entries != '0'",
        "runs-on": settings.runs_on,
        # actions: read lets upload-sarif read the run in private repositories.
        "permissions": {"actions": "read", "contents": "read", "security-events": "write"},
        "steps": [
            *_setup_steps(settings),
            {
                "name": "Download the shards' reports",
                "uses": DOWNLOAD_ARTIFACT.uses,
                "with": {"pattern": f"{ARTIFACT_PREFIX}*", "path": "reports"},
            },
            {
                "name": "Download the sweep's matrix",
                "uses": DOWNLOAD_ARTIFACT.uses,
                "with": {"name": MATRIX_ARTIFACT, "path": "plan"},
            },
            {"name": "Merge the shards' reports", "id": "merge", "run": merge},
            {"name": "Write the step summary", "env": _MERGED_ENV, "run": summary},
            # Not when a stack went unchecked (exit 1): its open alerts would be missing
            # from this analysis, and code scanning would close them as fixed.
            {
                "name": "Write SARIF",
                "if": _SARIF_WHEN,
                "env": _MERGED_ENV,
                "run": sarif,
            },
            {
                "name": "Upload SARIF to code scanning",
                "if": _SARIF_WHEN,
                "uses": UPLOAD_SARIF.uses,
                "with": {"sarif_file": "iacdrift.sarif", "category": "iacdrift"},
            },
            {
                "name": "Upload the merged report",
                "if": "always()",
                "uses": UPLOAD_ARTIFACT.uses,
                "with": {
                    "name": "iacdrift-merged",
                    "path": "merged.json\niacdrift.sarif\n",
                    "if-no-files-found": "warn",
                },
            },
            {"name": "Fail on unchecked stacks", "env": _MERGED_ENV, "run": verdict},
        ],
    }


def workflow_document(settings: WorkflowSettings) -> dict[str, Any]:
    """The workflow as data, keys in the order they are written."""
    jobs: dict[str, Any] = {"matrix": _matrix_job(settings)}
    for tier in settings.tiers:
        jobs[f"sweep-{tier.value}"] = _sweep_job(settings, tier)
    jobs["report"] = _report_job(settings)
    return {
        "name": settings.name,
        "on": {"schedule": [{"cron": settings.cron}], "workflow_dispatch": {}},
        "permissions": {},
        "concurrency": {"group": CONCURRENCY_GROUP, "cancel-in-progress": False},
        "defaults": {"run": {"shell": "bash"}},
        "jobs": jobs,
    }


class _Dumper(yaml.SafeDumper):
    """Block lists indented under their key; multi-line strings as literal blocks;
    no anchors."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        # A value used twice is written twice: actionlint (and many readers) refuse
        # YAML anchors and aliases in workflows.
        return True


def _represent_str(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_Dumper.add_representer(str, _represent_str)

HEADER = (
    "# Generated by `iacdrift ci github-workflow` from the registry (registry/*.yaml).\n"
    "# Do not edit: change the registry (schedules, risk tiers) and generate it again.\n"
    "# Jobs: matrix (`iacdrift ci matrix`), one sweep-<tier> per risk tier (`iacdrift\n"
    "# run --stack ...`), report (`iacdrift ci merge`, step summary, SARIF).\n"
    "# Actions are pinned to commits; the comment names the release.\n"
)


def render_workflow(settings: WorkflowSettings) -> str:
    """The workflow file's text: a header comment, then the YAML. Deterministic."""
    body = yaml.dump(
        workflow_document(settings),
        Dumper=_Dumper,
        sort_keys=False,
        default_flow_style=False,
        width=1000,
        allow_unicode=True,
    )
    for action in PINNED_ACTIONS:
        body = re.sub(
            rf"^(\s*(?:- )?uses: {re.escape(action.uses)})$",
            rf"\1 # {action.version}",
            body,
            flags=re.MULTILINE,
        )
    return HEADER + body
