"""Send planned deliveries: webhook, Slack-compatible webhook, JSONL file, stdout.

Thin on purpose: :mod:`iacdrift.core.routing` decides what to send and
:mod:`iacdrift.report.payloads` what it says; this module does the I/O and logs each
success in the :class:`~iacdrift.store.notifications.NotificationLog`. Two entry
points: :func:`notify_run` (``iacdrift run``, after its checks) and
:func:`route_saved_report` (``iacdrift route REPORT.json``).

* webhook: POST :class:`~iacdrift.models.notification.WebhookPayload` JSON; slack:
  POST the Slack payload. A 2xx answer is success. Redirects are not followed
  (a POST redirected would arrive as an empty GET). Timeout 5 s by default.
* jsonl: append one canonical JSON line per delivery to the path (relative to
  the project root), creating parent directories, then fsync.
* stdout: one line through the ``echo`` the caller hands in (standard output by default).

A failed delivery (refused, timeout, non-2xx, unwritable file) does not stop the
others and is not logged, so the next run retries it; its outcome carries one
line naming the target as ``<route id>#<index>:<type>``. URLs are secrets
(Slack's carry a token): no outcome, log row or message holds one.
"""

from __future__ import annotations

import http.client
import os
import socket
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from iacdrift import __version__
from iacdrift.clock import Clock, utc_now
from iacdrift.core.routing import (
    ResolutionScope,
    findings_of,
    logged,
    plan,
    resolved_findings,
    scope_of,
    unique_findings,
)
from iacdrift.errors import ExecutionError
from iacdrift.loaders.policy import default_policy_dir, load_policies
from iacdrift.loaders.registry import Project
from iacdrift.loaders.reports import read_report
from iacdrift.models.finding import CheckReport, Finding
from iacdrift.models.notification import Delivery, DeliveryOutcome, NotificationReport
from iacdrift.models.policy import NotifyTarget, NotifyType, PolicySet, Route
from iacdrift.models.run import RunReport
from iacdrift.primitives.canonical import canonical_json
from iacdrift.report.payloads import payload_for, stdout_line
from iacdrift.store.notifications import NotificationLog, default_log_path

DEFAULT_TIMEOUT = 5.0
_BODY_SHOWN = 80  # characters of a refusing receiver's answer kept in the error


class DeliveryError(ExecutionError):
    """One delivery failed; the message is one line without the target's URL."""


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self,
        req: urllib.request.Request,
        fp: object,
        code: int,
        msg: str,
        headers: object,
        newurl: str,
    ) -> None:
        return None  # urllib then raises HTTPError with the 3xx status


_OPENER = urllib.request.build_opener(_NoRedirect())


def _scrub(text: str, url: str) -> str:
    """``text`` with the URL (and its path, which holds a Slack token) taken out."""
    cleaned = text.replace(url, "<url>")
    path = urlsplit(url).path
    if len(path) > 1:
        cleaned = cleaned.replace(path, "<path>")
    return " ".join(cleaned.split())


def post_json(url: str, body: bytes, timeout: float) -> None:
    """POST ``body`` as JSON; DeliveryError (never naming the URL) unless 2xx."""
    request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json", "User-Agent": f"iacdrift/{__version__}"},
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            status = int(response.status)
            response.read()
    except urllib.error.HTTPError as exc:
        try:
            answer = exc.read(_BODY_SHOWN * 4).decode("utf-8", "replace")
        except (OSError, http.client.HTTPException):
            answer = ""
        finally:
            exc.close()
        snippet = _scrub(answer, url)[:_BODY_SHOWN]
        detail = f" ({snippet})" if snippet else ""
        raise DeliveryError(f"HTTP {exc.code} {_scrub(str(exc.reason), url)}{detail}") from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise DeliveryError(f"no answer within {timeout:g}s") from None
        text = reason.strerror if isinstance(reason, OSError) and reason.strerror else str(reason)
        raise DeliveryError(_scrub(text, url).lower() or "connection failed") from None
    except TimeoutError:
        raise DeliveryError(f"no answer within {timeout:g}s") from None
    except (http.client.HTTPException, OSError) as exc:
        text = exc.strerror if isinstance(exc, OSError) and exc.strerror else type(exc).__name__
        raise DeliveryError(_scrub(str(text), url)) from None
    except ValueError:
        raise DeliveryError("the url is not a valid http(s) URL; fix it in the route") from None
    if not 200 <= status < 300:
        raise DeliveryError(f"HTTP {status}")


def append_jsonl(path: Path, line: str) -> None:
    """Append one line and fsync; parent directories are created."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as handle:
            handle.write(line + "\n")
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise DeliveryError(f"appending to {path} failed: {exc.strerror or exc}") from None


def jsonl_path(target: NotifyTarget, project_root: Path) -> Path:
    assert target.path is not None  # the model requires it for jsonl
    path = Path(target.path)
    return path if path.is_absolute() else project_root / path


def route_target(delivery: Delivery, routes: Sequence[Route]) -> NotifyTarget:
    """The route target a delivery names (KeyError when the routes no longer hold it)."""
    for route in routes:
        if route.id == delivery.routeId and delivery.targetIndex < len(route.notify):
            target = route.notify[delivery.targetIndex]
            if target.type is delivery.targetType:
                return target
    raise KeyError(delivery.target)


def deliver(
    delivery: Delivery,
    finding: Finding,
    target: NotifyTarget,
    project_root: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    echo: Callable[[str], None] = print,
) -> DeliveryOutcome:
    """Send one delivery; a failure is an outcome, never an exception."""
    try:
        payload = payload_for(delivery, finding)
        if target.type in (NotifyType.WEBHOOK, NotifyType.SLACK):
            assert target.url is not None  # the model requires it for webhook and slack
            post_json(target.url, canonical_json(payload).encode("utf-8"), timeout)
        elif target.type is NotifyType.JSONL:
            append_jsonl(jsonl_path(target, project_root), canonical_json(payload))
        else:
            echo(stdout_line(delivery, finding))
    except DeliveryError as exc:
        error = (
            f"{delivery.target}: {delivery.targetType.value} delivery of finding "
            f"{delivery.findingId} failed: {exc}; it is retried on the next run"
        )
        return DeliveryOutcome(delivery=delivery, ok=False, error=error)
    return DeliveryOutcome(delivery=delivery, ok=True)


def send_deliveries(
    deliveries: Sequence[Delivery],
    findings: Mapping[str, Finding],
    routes: Sequence[Route],
    project_root: Path,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    on_success: Callable[[Delivery, Finding], None] | None = None,
    echo: Callable[[str], None] = print,
) -> list[DeliveryOutcome]:
    """Send each delivery in order; one failing never stops the rest."""
    outcomes: list[DeliveryOutcome] = []
    for delivery in deliveries:
        finding = findings[delivery.findingId]
        target = route_target(delivery, routes)
        outcome = deliver(delivery, finding, target, project_root, timeout=timeout, echo=echo)
        if outcome.ok and on_success is not None:
            on_success(delivery, finding)
        outcomes.append(outcome)
    return outcomes


def route_findings(
    findings: Sequence[Finding],
    policies: PolicySet,
    log: NotificationLog,
    now: datetime,
    project_root: Path,
    send: bool = True,
    *,
    scope: ResolutionScope | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    echo: Callable[[str], None] = print,
) -> NotificationReport:
    """Route, send and log the findings; with ``send=False`` only plan (a dry run).

    ``scope`` says where ``findings`` are complete: logged findings absent there
    are marked resolved (see :func:`iacdrift.core.routing.scope_of`); without it
    nothing is resolved. Each success is logged at ``now`` as soon as it is sent.
    """
    routes = policies.routes
    if scope is None:
        entries = log.load(finding.findingId for finding in findings)
        resolved: list[str] = []
    else:
        entries = log.load()
        resolved = resolved_findings(entries, findings, scope)
    routing = plan(findings, routes, entries, now)
    by_id = {finding.findingId: finding for finding in unique_findings(findings)}
    outcomes: list[DeliveryOutcome] = []
    if send:

        def record(delivery: Delivery, finding: Finding) -> None:
            log.record(logged(delivery, finding, now))

        outcomes = send_deliveries(
            routing.deliveries,
            by_id,
            routes,
            project_root,
            timeout=timeout,
            on_success=record,
            echo=echo,
        )
        if resolved:
            log.mark_resolved(resolved, now)
    return NotificationReport(
        generatedAt=now,
        policyVersion=policies.version,
        dryRun=not send,
        findings=len(by_id),
        deliveries=list(routing.deliveries),
        outcomes=outcomes,
        skippedDuplicates=routing.skipped_duplicates,
        silenced=routing.silenced,
        unrouted=routing.unrouted,
        notAlerting=routing.not_alerting,
        resolved=resolved,
    )


def route_report(
    report: RunReport | CheckReport,
    policies: PolicySet,
    log: NotificationLog,
    now: datetime,
    project_root: Path,
    send: bool = True,
    *,
    timeout: float = DEFAULT_TIMEOUT,
    echo: Callable[[str], None] = print,
) -> NotificationReport:
    """:func:`route_findings` over a run or check report, resolving where it is complete."""
    return route_findings(
        findings_of(report),
        policies,
        log,
        now,
        project_root,
        send,
        scope=scope_of(report),
        timeout=timeout,
        echo=echo,
    )


def notify_run(
    report: RunReport,
    project: Project,
    *,
    policies_dir: Path | None = None,
    log_path: Path | None = None,
    echo: Callable[[str], None] = print,
) -> NotificationReport | None:
    """Route a run's findings by the project's Route policies, at the run's end; None when
    there are no routes. A failed delivery is in the outcomes and retried next run."""
    policies = load_policies(
        policies_dir or default_policy_dir(project.root),
        cwd=project.root,
        missing_ok=policies_dir is None,
    )
    if not policies.routes:
        return None
    with NotificationLog(log_path or default_log_path(project.root)) as log:
        return route_report(report, policies, log, report.finishedAt, project.root, echo=echo)


def route_saved_report(
    report_path: Path,
    *,
    config_path: Path | None = None,
    policies_dir: Path | None = None,
    log_path: Path | None = None,
    dry_run: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    clock: Clock = utc_now,
) -> NotificationReport:
    """``iacdrift route``: route a saved run or check report now.

    The project root is the settings file's directory (the current directory without
    ``config_path``); policies and the log default to ``policies/`` and
    ``.iacdrift/notifications.sqlite`` there. A dry run sends nothing and writes no
    log (without one, it dedupes against an empty log).
    """
    cwd = Path.cwd()
    root = (cwd / config_path).resolve().parent if config_path is not None else cwd
    report = read_report(report_path)
    policies = load_policies(policies_dir if policies_dir is not None else default_policy_dir(root))
    path = log_path if log_path is not None else default_log_path(root)
    now = clock()
    log = NotificationLog.in_memory() if dry_run and not path.exists() else NotificationLog(path)
    with log:
        return route_report(report, policies, log, now, root, send=not dry_run, timeout=timeout)
