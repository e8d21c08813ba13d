"""The reaper: every minute it deletes what is due (expired, deleting, stuck), warns of expiries,
restarts lost executions, then per provider probes health, sweeps orphan servers and reconciles the
capacity ledger. Every instance question is an index Query (by_due is sparse: only live instances
are in it), never a Scan of the instances table.

The decisions are pure functions (`due_action`, `orphan_reason`, `sweep_plan`, `ledger_verdict`);
the rest applies them with bounded concurrency inside a time budget. Whatever is left when the
budget runs out is still due, so the next run continues where this one stopped."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from openmultistack import health, provisioning, teardown
from openmultistack import repository as repo
from openmultistack.clouds import OMS_INSTANCE, Server, cloud_for
from openmultistack.domain import (
    STANDING_DOWN,
    Instance,
    InstanceStatus,
    Provider,
    RequestStatus,
    utcnow,
)
from openmultistack.errors import CloudError, NotFoundError
from openmultistack.observability import count, logger
from openmultistack.settings import get_settings
from openmultistack.workflow import execution_running, publish, start_provisioning

T = TypeVar("T")
R = TypeVar("R")

WARN_BEFORE = timedelta(minutes=5)
QUEUED_GRACE = timedelta(minutes=2)
# Deleting what is due stops at this share of the budget, so the per-provider sweep (a few
# OpenStack calls per provider, each bounded by the SDK timeout) still fits before the Lambda timeout.
REAP_SHARE = 0.75


@dataclass
class ReapReport:
    reaped: int = 0  # instances whose servers are confirmed gone (expired or deleted)
    failed_stuck: int = 0  # instances that made no progress before their deadline, now FAILED
    deletion_pending: int = 0  # deletes a provider could not confirm; retried every run
    pending: list[str] = field(default_factory=list)  # ids of those instances
    rescheduled: int = 0
    warned: int = 0
    restarted: int = 0
    retired: dict[str, str] = field(default_factory=dict)  # request id -> EXPIRED / DELETED / FAILED
    orphans_marked: int = 0
    orphans_deleted: int = 0
    vanished: int = 0  # ACTIVE instances whose server the provider no longer has
    probes: dict[str, str] = field(default_factory=dict)
    ledger_fixes: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    more: bool = False  # the time budget ran out with due work left; next run continues


# --- pure decisions -------------------------------------------------------------------------


@dataclass(frozen=True)
class DueAction:
    kind: str  # expire | delete | fail | reschedule | skip
    final: InstanceStatus = InstanceStatus.DELETED
    reason: str | None = None


def due_action(instance: Instance, request_status: RequestStatus | None, now: datetime) -> DueAction:
    """What to do with an instance the due index returned (request_status None: record missing)."""
    if instance.is_final:
        return DueAction("skip")
    if instance.status == InstanceStatus.DELETING:  # a deletion started earlier: finish it
        return DueAction("delete", teardown.final_status(instance, request_status))
    if request_status is None or request_status in STANDING_DOWN:
        while_ = "" if instance.status == InstanceStatus.ACTIVE else " while provisioning"
        return DueAction("delete", InstanceStatus.DELETED, f"request deleted{while_}")
    if instance.status == InstanceStatus.ACTIVE:
        if instance.expires_at is not None and instance.expires_at > now:
            # Due early (its expiry was extended without moving due_at): the record's expiry wins.
            return DueAction("reschedule")
        return DueAction("expire", InstanceStatus.DELETED, "lifetime ended")
    reason = f"stuck in {instance.status.value}: no progress before its deadline"
    return DueAction("fail", InstanceStatus.FAILED, reason)


def orphan_reason(
    server: Server, provider: str, instance: Instance | None, now: datetime, grace: timedelta
) -> str | None:
    """Why a server on `provider` is an orphan, or None when it must be left alone. A server without
    our metadata is never ours (the account may be shared); `instance` is the record its metadata
    names, None when there is no such record."""
    if not server.metadata.get(OMS_INSTANCE):
        return None
    if instance is None:
        return "no instance record"
    if instance.is_final:
        return f"instance is {instance.status.value}"
    if instance.provider != provider:
        return f"instance lives on {instance.provider or 'no provider'}"
    if instance.server_id is not None and instance.server_id != server.id:
        return "a second server of its instance"
    if instance.expires_at is not None and instance.expires_at + grace < now:
        return "instance past its expiry"
    return None


def sweep_plan(orphans: Mapping[str, str], marks: Mapping[str, str], now: datetime) -> tuple[list[str], dict[str, str]]:
    """(servers to delete now, marks to keep). A server is deleted only when an earlier run already
    saw it orphaned, so a Launch between "server created" and "server recorded" is never raced;
    marks of servers no longer orphaned (or gone) are dropped."""
    delete = sorted(sid for sid in orphans if sid in marks)
    keep = {sid: now.isoformat() for sid in orphans if sid not in marks}
    return delete, keep


def ledger_verdict(slots: int, holders: int, previous: str | None) -> tuple[bool, str | None]:
    """(fix the counter now?, drift to remember). A disagreement is fixed only when the previous
    run saw exactly the same one: the holders come from an eventually consistent index, so a
    reservation made a moment ago may be counted by the ledger and not yet by the Query."""
    if slots == holders:
        return False, None
    seen = f"{slots}:{holders}"
    return previous == seen, seen


# --- running work within the budget ---------------------------------------------------------


def bounded(work: Callable[[T], R], items: Iterable[T], workers: int, deadline: float) -> tuple[list[R], bool]:
    """Run work over items, at most `workers` at a time, starting nothing after the deadline;
    (results, items left?). Items are pulled lazily, so a paginated Query reads only what is used."""
    results: list[R] = []
    running: set[Future[R]] = set()
    more = False
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        for item in items:
            while len(running) >= workers:
                done, running = wait(running, return_when=FIRST_COMPLETED)
                results += [f.result() for f in done]
            if time.monotonic() >= deadline:
                more = True
                break
            running.add(pool.submit(work, item))
        results += [f.result() for f in running]
    return results, more


class _Run:
    """Per-run memo of providers and request statuses (1,000 due instances of one request cost
    one read of that request, not 1,000), and of providers that failed during this run."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._providers: dict[str, Provider | None] = {}
        self._requests: dict[str, RequestStatus | None] = {}
        self._failures: dict[str, int] = {}
        self._lock = threading.Lock()

    def provider(self, name: str | None) -> Provider | None:
        if not name:
            return None
        if name not in self._providers:
            try:
                found: Provider | None = repo.get_provider(name)
            except NotFoundError:
                found = None
            self._providers[name] = found
        return self._providers[name]

    def request_status(self, request_id: str) -> RequestStatus | None:
        if request_id not in self._requests:
            try:
                status: RequestStatus | None = repo.get_request(request_id).status
            except NotFoundError:
                status = None
            self._requests[request_id] = status
        return self._requests[request_id]

    def failed(self, provider: str | None) -> None:
        if provider:
            with self._lock:
                self._failures[provider] = self._failures.get(provider, 0) + 1

    def is_down(self, provider: str | None) -> bool:
        """Failed as often in this run as it takes to open its breaker: one dropped connection
        is not an outage, but a provider in maintenance should not cost a timeout per instance."""
        return bool(provider) and self._failures.get(provider or "", 0) >= get_settings().breaker_threshold


@dataclass(frozen=True)
class _Done:
    label: str  # reaped | failed | pending | rescheduled | skip | error
    instance_id: str
    request_id: str


def _reap_one(instance: Instance, run: _Run) -> _Done:
    action = due_action(instance, run.request_status(instance.request_id), run.now)
    done = lambda label: _Done(label, instance.id, instance.request_id)  # noqa: E731
    if action.kind == "skip":
        return done("skip")
    if action.kind == "reschedule":
        repo.update_instance(instance.id, allowed_from=[InstanceStatus.ACTIVE], due_at=instance.expires_at)
        return done("rescheduled")
    if run.is_down(instance.provider):
        # It failed a moment ago in this run: note the pending delete without another timeout.
        teardown.start_deleting(instance, action.reason)
        teardown.note_pending(instance, f"{instance.provider} unavailable in this run", run.now)
        return done("pending")
    outcome = teardown.destroy_outcome(
        instance, action.final, action.reason, run.now, provider=run.provider(instance.provider), retire=False
    )
    if outcome.gone:
        return done("failed" if action.final == InstanceStatus.FAILED else "reaped")
    if outcome.provider_down:
        run.failed(instance.provider)
    return done("pending")


def _safely(work: Callable[[Instance], _Done]) -> Callable[[Instance], _Done]:
    def run(instance: Instance) -> _Done:
        try:
            return work(instance)
        except Exception:  # one bad record must not stop the sweep; it stays due for next run
            logger.exception("reaping failed", extra={"instance": instance.id})
            return _Done("error", instance.id, instance.request_id)

    return run


def _tally(results: list[_Done], report: ReapReport) -> set[str]:
    """Add the outcomes to the report; the ids of requests that may now be finished."""
    report.reaped += sum(r.label == "reaped" for r in results)
    report.failed_stuck += sum(r.label == "failed" for r in results)
    report.rescheduled += sum(r.label == "rescheduled" for r in results)
    pending = [r.instance_id for r in results if r.label == "pending"]
    report.deletion_pending += len(pending)
    report.pending += pending
    report.errors += [f"instance {r.instance_id}" for r in results if r.label == "error"]
    return {r.request_id for r in results if r.label in ("reaped", "failed")}


def _close_requests(request_ids: Iterable[str], report: ReapReport) -> None:
    """Retire requests whose instances are all gone; finalize those whose execution died before
    its Finalize step (their stuck instances were just failed)."""
    for request_id in sorted(request_ids):
        try:
            retired = teardown.retire_request_if_done(request_id)
            if retired is None:
                retired = _finalize_abandoned(request_id)
            if retired:
                report.retired[request_id] = retired
        except Exception:
            logger.exception("closing request failed", extra={"request": request_id})
            report.errors.append(f"request {request_id}")


def _finalize_abandoned(request_id: str) -> str | None:
    request = repo.get_request(request_id)
    if request.status not in (RequestStatus.QUEUED, RequestStatus.PROVISIONING):
        return None
    if execution_running(request.execution_arn):
        return None  # its own Finalize step will close it
    if not all(i.is_final for i in repo.instances_of(request_id)):
        return None
    return str(provisioning.finalize(request_id)["status"])


# --- phases ---------------------------------------------------------------------------------


def reap_due(run: _Run, deadline: float, report: ReapReport) -> None:
    results, more = bounded(
        _safely(lambda i: _reap_one(i, run)),
        repo.due_instances(run.now),
        get_settings().reaper_concurrency,
        deadline,
    )
    report.more = report.more or more
    _close_requests(_tally(results, report), report)


def teardown_now(
    request_id: str | None, instance_id: str | None, run: _Run, deadline: float, report: ReapReport
) -> None:
    """Immediate teardown asked for by a DELETE on the API (the schedule is the backstop)."""
    candidates = repo.instances_of(request_id) if request_id else [repo.get_instance(instance_id or "")]
    live = [i for i in candidates if not i.is_final]
    results, more = bounded(_safely(lambda i: _reap_one(i, run)), live, get_settings().reaper_concurrency, deadline)
    report.more = more
    touched = _tally(results, report)
    _close_requests(touched | ({request_id} if request_id else set()), report)


def warn_expiring(now: datetime, report: ReapReport) -> None:
    for instance in repo.instances_due_between(now, now + WARN_BEFORE):
        if instance.status != InstanceStatus.ACTIVE:
            continue
        detail = {
            "instance": instance.id,
            "request": instance.request_id,
            "provider": instance.provider,
            "expires_at": instance.expires_at.isoformat() if instance.expires_at else None,
        }
        publish("Instance Expiring Soon", detail)
        repo.mark_warned(instance.id)
        report.warned += 1


def restart_lost_executions(now: datetime, report: ReapReport) -> None:
    """A QUEUED request whose execution is not running (StartExecution failed after the records
    were written, or the execution was lost) is started again under a new execution name."""
    for request in repo.requests_with_status(RequestStatus.QUEUED, before=now - QUEUED_GRACE):
        if execution_running(request.execution_arn):
            continue
        arn = start_provisioning(request.id, attempt_at=now)
        repo.update_request(request.id, allowed_from=[RequestStatus.QUEUED], execution_arn=arn)
        logger.warning("execution restarted", extra={"request": request.id, "execution": arn})
        report.restarted += 1


# --- per provider ---------------------------------------------------------------------------


@dataclass
class _ProviderResult:
    probe: str = ""
    orphans_marked: int = 0
    orphans_deleted: int = 0
    vanished: int = 0
    ledger_fix: int | None = None
    retire: set[str] = field(default_factory=set)


def _probe(provider: Provider, now: datetime, result: _ProviderResult) -> tuple[list[Server], int | None] | None:
    """Check the provider (a half-open probe when its breaker is open); its servers and Nova's
    room for us, or None when it cannot be tended this run."""
    if provider.breaker.state != "closed" and not health.is_half_open(provider.breaker, now):
        result.probe = "cooling down"
        return None
    try:
        cloud = cloud_for(provider)
        inspection = cloud.inspect()
        servers = cloud.oms_servers()
    except CloudError as error:
        repo.set_breaker(provider.name, health.after_failure(provider.breaker, error.kind, now))
        result.probe = f"failed: {error.kind}: {error}"
        return None
    if provider.breaker.state != "closed" or provider.breaker.failures:
        repo.set_breaker(provider.name, health.after_success(provider.breaker))
        result.probe = "recovered"
    else:
        result.probe = "ok"
    # Others may share the account: their servers use up Nova's limit too.
    ours = len(servers)
    room = None
    if inspection.max_instances is not None:
        room = inspection.max_instances - max((inspection.instances_used or 0) - ours, 0)
    repo.record_check(provider.name, room, inspection.flavors, inspection.images, now)
    return servers, room


def sweep_orphans(
    provider: Provider,
    servers: list[Server],
    live: Mapping[str, Instance],
    marks: Mapping[str, str],
    now: datetime,
    result: _ProviderResult,
) -> None:
    """Delete servers carrying our metadata that no live instance owns (on their second sighting)."""
    grace = timedelta(seconds=get_settings().orphan_grace_seconds)
    orphans: dict[str, str] = {}
    for server in servers:
        reason = orphan_reason(server, provider.name, live.get(server.instance_id or ""), now, grace)
        if reason:
            orphans[server.id] = reason
    delete, keep = sweep_plan(orphans, marks, now)
    cloud = cloud_for(provider)
    by_id = {s.id: s for s in servers}
    for sid in delete:
        server = by_id[sid]
        # The live snapshot came from an eventually consistent index: ask the record itself.
        try:
            instance: Instance | None = repo.get_instance(server.instance_id or "")
        except NotFoundError:
            instance = None
        reason = orphan_reason(server, provider.name, instance, now, grace)
        if reason is None:
            continue
        try:
            cloud.delete_server(sid)
        except CloudError as error:
            keep[sid] = marks[sid]  # still marked: retried next run
            logger.warning(
                "orphan delete failed", extra={"provider": provider.name, "server": sid, "error": str(error)}
            )
            continue
        result.orphans_deleted += 1
        logger.info("orphan deleted", extra={"provider": provider.name, "server": sid, "reason": reason})
    result.orphans_marked = len(keep)
    if keep != dict(marks):
        repo.set_orphan_marks(provider.name, keep)


def remove_vanished(
    provider: Provider,
    servers: list[Server],
    live: Iterable[Instance],
    now: datetime,
    result: _ProviderResult,
) -> None:
    """An ACTIVE instance whose server the provider no longer has (deleted behind our back, lost by
    the provider) holds a slot for nothing: confirm with a GET, then retire it the usual way."""
    listed = {s.id for s in servers}
    for instance in live:
        if instance.status != InstanceStatus.ACTIVE or not instance.server_id or instance.server_id in listed:
            continue
        outcome = teardown.destroy_outcome(
            instance,
            reason="server disappeared outside OpenMultiStack",
            now=now,
            provider=provider,
            retire=False,
        )
        if outcome.gone:
            result.vanished += 1
            result.retire.add(instance.request_id)


def reconcile_ledger(provider: Provider, holders: int, slots: int, drift: str | None, result: _ProviderResult) -> None:
    """Bring the slot counter to the number of live instances holding a slot here, when the same
    disagreement persists across two runs and the counter did not move meanwhile."""
    fix, seen = ledger_verdict(slots, holders, drift)
    if fix and repo.set_slots_if(provider.name, slots, holders):
        result.ledger_fix = holders - slots
        logger.warning("ledger drift fixed", extra={"provider": provider.name, "was": slots, "now": holders})
        seen = None
    if seen != drift:
        repo.set_ledger_drift(provider.name, seen)


def tend_provider(provider: Provider, live: Mapping[str, Instance], now: datetime) -> _ProviderResult:
    """Probe, sweep and reconcile one provider. A provider in maintenance stays open and is probed
    again after its cooldown; its due deletes keep retrying through reap_due every run."""
    result = _ProviderResult()
    if not provider.has_credentials:
        result.probe = "no credentials"
        return result
    marks, drift, slots_before = repo.sweep_state(provider.name)
    here = [i for i in live.values() if i.provider == provider.name]
    probed = _probe(provider, now, result)
    if probed is None:
        return result
    servers, _ = probed
    sweep_orphans(provider, servers, live, marks, now, result)
    remove_vanished(provider, servers, here, now, result)
    if result.vanished:
        return result  # the ledger just moved; reconcile on a quiet run
    holders = sum(1 for i in live.values() if i.slot == provider.name)
    _, _, slots_now = repo.sweep_state(provider.name)
    if slots_now == slots_before:  # no reservation or release while we counted
        reconcile_ledger(provider, holders, slots_now, drift, result)
    return result


def tend_providers(now: datetime, deadline: float, report: ReapReport) -> None:
    providers = [p for p in repo.list_providers() if p.enabled or p.slots]
    live = {i.id: i for i in repo.live_instances()}

    def tend(provider: Provider) -> tuple[str, _ProviderResult | None]:
        try:
            return provider.name, tend_provider(provider, live, now)
        except Exception:
            logger.exception("tending provider failed", extra={"provider": provider.name})
            return provider.name, None

    results, _ = bounded(tend, providers, max(len(providers), 1), deadline)
    retire: set[str] = set()
    for name, result in results:
        if result is None:
            report.errors.append(f"provider {name}")
            continue
        report.probes[name] = result.probe
        report.orphans_marked += result.orphans_marked
        report.orphans_deleted += result.orphans_deleted
        report.vanished += result.vanished
        if result.ledger_fix is not None:
            report.ledger_fixes[name] = result.ledger_fix
        retire |= result.retire
    _close_requests(retire, report)


# --- the run --------------------------------------------------------------------------------


def _phase(name: str, report: ReapReport, work: Callable[[], None]) -> None:
    """A failing phase (a throttled Query, an unreachable service) must not skip the others."""
    try:
        work()
    except Exception:
        logger.exception("reaper phase failed", extra={"phase": name})
        report.errors.append(f"phase {name}")


def _emit(report: ReapReport) -> None:
    # Without dimensions, so they land in the handler's metric set (service dimension) that the
    # DeletionPending alarm in template.yaml watches.
    for name, value in (
        ("Reaped", report.reaped),
        ("OrphansDeleted", report.orphans_deleted),
        ("DeletionPending", report.deletion_pending),
    ):
        if value:
            count(name, value)


def run(now: datetime | None = None, request_id: str | None = None, instance_id: str | None = None) -> ReapReport:
    """One reaper run as of `now` (the scheduled event's time), or an immediate teardown of one
    request / instance."""
    now = now or utcnow()
    settings = get_settings()
    started = time.monotonic()
    deadline = started + settings.reaper_budget_seconds
    reap_deadline = started + settings.reaper_budget_seconds * REAP_SHARE
    report = ReapReport()
    current = _Run(now)
    if request_id or instance_id:
        teardown_now(request_id, instance_id, current, deadline, report)
    else:
        _phase("reap", report, lambda: reap_due(current, reap_deadline, report))
        _phase("warn", report, lambda: warn_expiring(now, report))
        _phase("restart", report, lambda: restart_lost_executions(now, report))
        _phase("providers", report, lambda: tend_providers(now, deadline, report))
    _emit(report)
    if report.pending:
        logger.warning("deletion pending", extra={"instances": report.pending[:100], "count": len(report.pending)})
    logger.info(
        "reaper run",
        extra={
            "report": {k: v for k, v in report.__dict__.items() if k != "pending"},
            "seconds": round(time.monotonic() - started, 3),
        },
    )
    return report
