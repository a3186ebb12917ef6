"""The records of scheduled runs and of ``iacdrift status``.

A :class:`RunReport` is what ``iacdrift run --format json`` prints: the same
stack results and findings as ``check``, plus the run's identity and what it
chose not to check. A :class:`StatusReport` is what ``iacdrift status`` prints:
per registered stack, what the run history says and whether that answer is
still current. A stack whose last *successful* check is older than its schedule
(or that was never checked) is STALE: unknown, never green.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal

from pydantic import Field

from iacdrift.errors import ExitCode
from iacdrift.models.finding import (
    ANSWERED,
    CheckReport,
    ExpiredRule,
    Finding,
    LockHolder,
    Record,
    StackResult,
    StackStatus,
    drift_exit_code,
)
from iacdrift.models.registry import RiskTier
from iacdrift.models.repair import Verification


class RunSelection(StrEnum):
    """How a run chose its stacks."""

    ALL = "all"
    DUE = "due"
    NAMED = "named"


class SkippedStack(Record):
    """A selected stack this run did not check itself: another iacdrift process held
    its orchestrator lease. Unknown to this run (exit 1) unless ``result`` holds the
    answer the holder's run recorded (``--wait-for-lease``)."""

    stack: str = Field(description="Registered stack that this run did not check.")
    reason: str = Field(
        description="Why, in one line (e.g. another run holds its orchestrator lease, "
        "and for how long this run waited)."
    )
    holder: str | None = Field(
        default=None,
        description="Who held the stack's orchestrator lease (hostname:pid:run id).",
    )
    holderRunId: str | None = Field(
        default=None, description="The run id of the lease holder, when the holder names one."
    )
    result: StackResult | None = Field(
        default=None,
        description="The result the holder's run recorded for this stack in the run "
        "history (run --wait-for-lease); null: this run has no answer for the stack.",
    )


class WarmUp(Record):
    """How the run got the lock file for one provider requirement before checking
    stacks (Terraform's plugin cache is not safe for concurrent installs)."""

    requirement: str = Field(
        description="The engine and required_providers entries (name=source@constraint) "
        "shared by the stacks that got this lock file."
    )
    source: Literal["init", "saved"] = Field(
        description="init: one init of `stack`, alone, filled the plugin cache and wrote "
        "the lock file; saved: the lock file an earlier run saved in .iacdrift/locks/."
    )
    stack: str | None = Field(default=None, description="The stack initialised (init only).")
    seconds: float = Field(default=0.0, description="Terraform's time for that init.")
    error: str | None = Field(
        default=None,
        description="Why the init failed (each stack's own check then reports it).",
    )


class HealOutcome(StrEnum):
    HEALED = "healed"  # reverted and verified
    SKIPPED = "skipped"  # a precondition was not met (health, breaker); nothing changed
    REFUSED = "refused"  # refused before any change (object cap, a step out of bounds)
    FAILED = "failed"  # a step failed or the verification failed and nothing was undone
    ROLLED_BACK = "rolled-back"  # verification failed; state-only steps undone


class HealRecord(Record):
    """One stack's bounded auto-heal in a run (``run --auto-heal``)."""

    stack: str
    findingIds: list[str] = Field(description="The findings healed (autoHealAllowed), sorted.")
    addresses: list[str] = Field(default_factory=list, description="What was reverted, sorted.")
    outcome: HealOutcome
    reason: str | None = Field(default=None, description="Why skipped, refused or failed.")
    planId: str | None = Field(default=None, description="The repair plan carried out.")
    changeRecords: list[str] = Field(
        default_factory=list, description="The change records (type apply) written."
    )
    verification: Verification | None = Field(
        default=None, description="The check after the heal: it passed or the heal failed."
    )


class RunReport(Record):
    """What ``iacdrift run --format json`` prints and ``--out`` writes."""

    schemaVersion: Literal[1] = 1
    kind: Literal["RunReport"] = "RunReport"
    runId: str = Field(description="Unique id of this run; also in the run-history store.")
    startedAt: datetime
    finishedAt: datetime
    registry: str = Field(description="The registry directory the run read.")
    selection: RunSelection = Field(
        description="all: every registered stack; due: stacks past their schedule; "
        "named: the stacks given on the command line."
    )
    maxParallel: int = Field(ge=1, description="Stacks checked at once, at most.")
    results: list[StackResult] = Field(
        default_factory=list, description="One result per checked stack, sorted by stack."
    )
    estateFindings: list[Finding] = Field(
        default_factory=list,
        description="Findings that belong to no stack (unmanaged resources), once per run.",
    )
    estateProblems: list[str] = Field(
        default_factory=list,
        description="Why unmanaged resources could not be judged; a non-empty list makes "
        "the run exit 1.",
    )
    skipped: list[SkippedStack] = Field(
        default_factory=list,
        description="Selected stacks this run did not check (another run held their "
        "lease), sorted by stack; each one without a recorded result makes the run exit 1.",
    )
    policyVersion: str | None = Field(
        default=None, description="Content hash of the policy set every finding was classified by."
    )
    expiredRules: list[ExpiredRule] = Field(
        default_factory=list, description="Ignore rules past their expiry: no longer applied."
    )
    heals: list[HealRecord] = Field(
        default_factory=list,
        description="Bounded auto-heals of this run (--auto-heal), sorted by stack; a drift "
        "healed still counts as drift found in this run's exit code, and a heal that failed "
        "or was rolled back makes it exit 1.",
    )
    warmUp: list[WarmUp] = Field(
        default_factory=list,
        description="Lock files obtained before the stacks were checked, one per distinct "
        "provider requirement of stacks without a committed lock file.",
    )

    def exit_code(self) -> ExitCode:
        """0 clean, 2 drift found (unmanaged included), 1 anything unchecked or a failed heal.

        The same rule as :meth:`CheckReport.exit_code` (:func:`drift_exit_code`). A
        skipped stack is unchecked by this run (1) unless the run waited for its lease
        holder's recorded result, which then counts like one of this run's own.
        """
        borrowed = [s.result.status for s in self.skipped if s.result is not None]
        failed_heals = any(
            h.outcome in (HealOutcome.FAILED, HealOutcome.ROLLED_BACK) for h in self.heals
        )
        return drift_exit_code(
            [*(r.status for r in self.results), *borrowed],
            unchecked=bool(self.estateProblems or self.unanswered or failed_heals),
            drift=bool(self.estateFindings),
        )

    @property
    def unanswered(self) -> list[SkippedStack]:
        """Skipped stacks whose answer this run does not know."""
        return [s for s in self.skipped if s.result is None]

    def as_check_report(self) -> CheckReport:
        """The run's results as a check report (what the table and markdown render)."""
        return CheckReport(
            generatedAt=self.finishedAt,
            results=self.results,
            estateFindings=self.estateFindings,
            estateProblems=self.estateProblems,
            policyVersion=self.policyVersion,
            expiredRules=self.expiredRules,
        )


class StackStatusEntry(Record):
    """One registered stack as ``iacdrift status`` sees it."""

    stack: str
    owner: str
    environment: str
    riskTier: RiskTier
    frequency: str = Field(description="The stack's schedule.frequency, as registered.")
    lastCheckedAt: datetime | None = Field(
        description="When the last check of any outcome finished; null if never checked."
    )
    lastSuccessAt: datetime | None = Field(
        description="When the last check that answered (CLEAN or DRIFTED) ran; null if none."
    )
    lastStatus: StackStatus | None = Field(description="Status of the last check, if any.")
    lastReason: str | None = Field(
        default=None, description="Reason given by the last check (why ERROR / LOCKED)."
    )
    due: bool = Field(description="A check is due now (never checked, or a period old).")
    stale: bool = Field(
        description="The last successful check is older than the schedule, or there "
        "never was one: what the history says is no longer known to hold."
    )
    status: StackStatus = Field(
        description="STALE when stale; otherwise the last check's status. Never CLEAN "
        "without a successful check within the schedule."
    )
    consecutiveFailures: int = Field(
        ge=0, description="Checks since the last successful one that did not answer."
    )
    lock: LockHolder | None = Field(
        default=None, description="Terraform's state lock, if held right now."
    )
    lockError: str | None = Field(
        default=None,
        description="Why the state lock could not be read; the lock is unknown.",
    )

    @property
    def green(self) -> bool:
        """An answered, current check and a state lock known to be free."""
        return (
            self.status in ANSWERED
            and self.lock is None
            and self.lockError is None
            and not self.stale
        )


class LockContention(Record):
    """A check that found the state locked (from the run history)."""

    stack: str
    checkedAt: datetime
    lock: LockHolder


class StatusReport(Record):
    """What ``iacdrift status --format json`` prints."""

    schemaVersion: Literal[1] = 1
    kind: Literal["StatusReport"] = "StatusReport"
    generatedAt: datetime
    history: str = Field(description="The run-history database that was read.")
    entries: list[StackStatusEntry] = Field(
        default_factory=list, description="One entry per registered stack, sorted by stack."
    )
    contention: list[LockContention] = Field(
        default_factory=list,
        description="Checks that found a state lock held, within the contention window, "
        "oldest first.",
    )
    problems: list[str] = Field(
        default_factory=list,
        description="What could not be read (e.g. the cloud, for current locks); a "
        "non-empty list makes status exit 1.",
    )

    def exit_code(self) -> ExitCode:
        """0 when every stack has a current successful check and no lock; else 1."""
        if self.problems or not all(entry.green for entry in self.entries):
            return ExitCode.FAILED
        return ExitCode.OK
