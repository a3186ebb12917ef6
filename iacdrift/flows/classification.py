"""What classification needs besides the plan, loaded once per check or run.

The policies (``policies/`` beside iacdrift.yaml), the change records
(``context.changeRecords``, default ``changes/``) and the audit events
(``context.auditLogs``: a local directory or a CloudTrail log bucket, read
with the read-only inventory identity) are read once and shared by every
stack of the run. Bad policy or change-record files stop the run before any
stack is checked (one line per problem); unreadable audit logs do not stop
it, they are an estate problem (the run exits 1): findings are still
classified, but no actor can be known. The parts of aggregates that other
registered states manage (:mod:`iacdrift.core.aggregates`) are read once too, and
only when a stack has aggregate drift its own state does not explain; a state
that cannot be read explains nothing (more drift is reported, never less).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from iacdrift.core.aggregates import Member
from iacdrift.core.attribution import index_audit
from iacdrift.core.cloudtrail import unique_events
from iacdrift.core.subject import Situation, StackFacts
from iacdrift.errors import AuditLogError, IacdriftError
from iacdrift.loaders.changes import load_change_records
from iacdrift.loaders.cloudtrail import read_directory
from iacdrift.loaders.policy import default_policy_dir, load_policies
from iacdrift.loaders.registry import Project
from iacdrift.models.context import AuditEvent, ChangeRecord, ContextSettings
from iacdrift.models.finding import ExpiredRule, StackResult, StackStatus
from iacdrift.models.policy import IgnoreRule, PolicySet

ROLE_ACCOUNT_FIELD = 4  # arn:aws:iam::<account>:role/...

AuditRead = Callable[[], list[AuditEvent]]
# Every registered state's members of aggregates (core.aggregates).
MembersRead = Callable[[], list[Member]]
# (bucket, prefix, account, regions, since, until) -> events, bound to credentials.
BucketRead = Callable[[str, str, str, Sequence[str], datetime, datetime], list[AuditEvent]]


@dataclass
class Classifier:
    """Policies and context of one check or run; thread-safe, audit read lazily once."""

    project: Project
    policies: PolicySet
    settings: ContextSettings
    changes: tuple[ChangeRecord, ...]
    read_audit: AuditRead | None = None
    problems: list[str] = field(default_factory=list)
    read_members: MembersRead | None = None
    _audit: Mapping[str, Sequence[AuditEvent]] | None = None
    _audit_loaded: bool = False
    _members: tuple[Member, ...] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def load(
        cls,
        project: Project,
        *,
        policies_dir: Path | None = None,
        read_audit: AuditRead | None = None,
        read_members: MembersRead | None = None,
    ) -> Classifier:
        """Read the policies and change records; raise RegistryError listing every problem."""
        settings = project.settings.context or ContextSettings()
        directory = policies_dir or default_policy_dir(project.root)
        policies = load_policies(directory, cwd=project.root, missing_ok=policies_dir is None)
        changes: list[ChangeRecord] = []
        if settings.changeRecords:
            changes = load_change_records(
                Path(settings.changeRecords), cwd=project.root, missing_ok=True
            )
        return cls(
            project, policies, settings, tuple(changes), read_audit, read_members=read_members
        )

    def audit(self) -> Mapping[str, Sequence[AuditEvent]] | None:
        """The mutating audit events by identifier (read and indexed on first use); None
        when no audit source is configured or it could not be read (the reason is then
        in ``problems``, and the run exits 1)."""
        if self.settings.auditLogs is None or self.read_audit is None:
            return None
        with self._lock:
            if not self._audit_loaded:
                try:
                    self._audit = index_audit(self.read_audit())
                except IacdriftError as exc:
                    self.problems.append(f"audit logs: {exc.message}")
                except Exception as exc:  # any failure must be reported, not swallowed
                    self.problems.append(f"audit logs: {type(exc).__name__}: {exc}")
                self._audit_loaded = True
            return self._audit

    def other_members(self) -> tuple[Member, ...]:
        """The members of aggregates every registered state records (read on first use)."""
        if self.read_members is None:
            return ()
        with self._lock:
            if self._members is None:
                self._members = tuple(self.read_members())
            return self._members

    def expired_rules(self, now: datetime) -> list[ExpiredRule]:
        found: list[ExpiredRule] = []
        for source in self.policies.sources_of(IgnoreRule):
            rule = source.document
            assert isinstance(rule, IgnoreRule)
            if not rule.active(now.date()):
                found.append(
                    ExpiredRule(
                        id=rule.id, expires=str(rule.expires), owner=rule.owner, file=source.where
                    )
                )
        return found

    def situation(
        self,
        facts: StackFacts | None,
        now: datetime,
        *,
        pipeline_roles: Sequence[str] = (),
        previous: StackResult | None = None,
        lineage: str | None = None,
        serial: int | None = None,
    ) -> Situation:
        return Situation(
            facts=facts,
            policies=self.policies,
            now=now,
            settings=self.settings,
            audit=self.audit(),
            changes=self.changes,
            pipeline_roles=tuple(pipeline_roles),
            state_regressed=state_regression(previous, lineage, serial),
            clean_since=(
                previous.checkedAt
                if previous is not None and previous.status is StackStatus.CLEAN
                else None
            ),
        )


def state_regression(
    previous: StackResult | None, lineage: str | None, serial: int | None
) -> str | None:
    """Why the recorded state is older than one a previous check saw, if it is."""
    if previous is None or previous.stateSerial is None or serial is None:
        return None
    if previous.stateLineage != lineage or serial >= previous.stateSerial:
        return None
    return (
        f"the state's serial went back from {previous.stateSerial} (seen "
        f"{previous.checkedAt.isoformat()}) to {serial} with the same lineage: restored "
        "from an older copy"
    )


def audit_reader(project: Project, read_bucket_with: BucketRead, now: datetime) -> AuditRead | None:
    """A function reading the configured audit source (see Classifier.read_audit).

    ``read_bucket_with`` is ``(bucket, prefix, account, regions, since, until) -> events``
    bound to the inventory credentials by the caller.
    """
    settings = project.settings.context or ContextSettings()
    source = settings.auditLogs
    if source is None:
        return None
    since = now - timedelta(days=source.lookbackDays)

    def read() -> list[AuditEvent]:
        if source.directory is not None:
            directory = (project.root / source.directory).resolve()
            if not directory.is_dir():
                raise AuditLogError(
                    f"{source.directory}: audit log directory not found; create it or fix "
                    "context.auditLogs.directory in iacdrift.yaml"
                )
            return read_directory(directory, since)
        assert source.bucket is not None
        events: list[AuditEvent] = []
        for account in accounts_of(project):
            events.extend(
                read_bucket_with(
                    source.bucket, source.prefix, account, regions_of(project), since, now
                )
            )
        return unique_events(events)

    return read


# IAM, STS and other global services deliver their events in us-east-1.
GLOBAL_EVENTS_REGION = "us-east-1"


def regions_of(project: Project) -> list[str]:
    """The regions whose trails to read: the settings' and every stack state's, and the
    region where global services (IAM) log."""
    regions = {project.settings.cloud.region, GLOBAL_EVENTS_REGION}
    regions.update(stack.unit.spec.state.region for stack in project.stacks)
    return sorted(r for r in regions if r)


def role_account(role: str) -> str | None:
    """The account of a role ARN (``arn:aws:iam::<account>:role/...``); None without one."""
    parts = role.split(":")
    account = parts[ROLE_ACCOUNT_FIELD] if len(parts) > ROLE_ACCOUNT_FIELD else ""
    return account or None


def accounts_of(project: Project) -> list[str]:
    """The accounts whose trails to read: the inventory roles' accounts, else the stacks'."""
    accounts = set(project.settings.inventoryRoles)
    if not accounts:
        for stack in project.stacks:
            account = role_account(stack.unit.spec.credentials.oidcRole)
            if account is not None:
                accounts.add(account)
    return sorted(accounts)
