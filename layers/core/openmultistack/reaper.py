"""The reaper: every minute it deletes what is due (expired, deleting, stuck), warns of expiries,
restarts lost executions, sweeps orphan servers, probes unhealthy providers and reconciles the
capacity ledger. Every instance question is an index Query (by_due is sparse), never a Scan."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from openmultistack import health
from openmultistack import repository as repo
from openmultistack.clouds import OMS_EXPIRES, Server, cloud_for
from openmultistack.domain import STANDING_DOWN, Instance, InstanceStatus, Provider, RequestStatus, utcnow
from openmultistack.errors import CloudError, NotFoundError
from openmultistack.observability import count, logger
from openmultistack.settings import get_settings
from openmultistack.teardown import destroy
from openmultistack.workflow import execution_running, publish, start_provisioning

WARN_BEFORE = timedelta(minutes=5)
QUEUED_GRACE = timedelta(minutes=2)


@dataclass
class ReapReport:
    reaped: int = 0
    failed_stuck: int = 0
    deletion_pending: int = 0
    warned: int = 0
    restarted: int = 0
    orphans_marked: int = 0
    orphans_deleted: int = 0
    probes: dict[str, str] = field(default_factory=dict)
    ledger_fixes: dict[str, int] = field(default_factory=dict)
    more: bool = False  # the time budget ran out with due work left; next run continues


def _handle_due(instance: Instance, now: datetime) -> str:
    if instance.status == InstanceStatus.ACTIVE:
        return "reaped" if destroy(instance, reason="lifetime ended", now=now) else "pending"
    if instance.status == InstanceStatus.DELETING:
        return "reaped" if destroy(instance, now=now) else "pending"
    if repo.get_request(instance.request_id).status in STANDING_DOWN:
        return "reaped" if destroy(instance, reason="request deleted while provisioning", now=now) else "pending"
    reason = f"stuck in {instance.status.value}: no progress before its deadline"
    return "stuck" if destroy(instance, final=InstanceStatus.FAILED, reason=reason, now=now) else "pending"


def _parallel(work: Callable[[Instance], str], items: Iterable[Instance], deadline: float) -> tuple[list[str], bool]:
    """Run work over items with bounded concurrency until the deadline; (outcomes, items left?)."""
    outcomes: list[str] = []
    with ThreadPoolExecutor(max_workers=get_settings().reaper_concurrency) as pool:
        futures = []
        for item in items:
            if time.monotonic() > deadline:
                for f in futures:
                    outcomes.append(f.result())
                return outcomes, True
            futures.append(pool.submit(work, item))
        outcomes += [f.result() for f in futures]
    return outcomes, False


def _safe(work: Callable[[Instance], str]) -> Callable[[Instance], str]:
    def run(instance: Instance) -> str:
        try:
            return work(instance)
        except Exception:  # one bad record must not stop the sweep
            logger.exception("reaping failed", extra={"instance": instance.id})
            return "error"

    return run


def reap_due(now: datetime, deadline: float, report: ReapReport) -> None:
    outcomes, report.more = _parallel(_safe(lambda i: _handle_due(i, now)), repo.due_instances(now), deadline)
    report.reaped += outcomes.count("reaped")
    report.failed_stuck += outcomes.count("stuck")
    report.deletion_pending += outcomes.count("pending")
    if report.reaped:
        count("Reaped", report.reaped)


def teardown_now(
    request_id: str | None, instance_id: str | None, now: datetime, deadline: float, report: ReapReport
) -> None:
    """Immediate teardown asked for by a DELETE on the API (the schedule is the backstop)."""
    candidates = repo.instances_of(request_id) if request_id else [repo.get_instance(instance_id or "")]
    live = [i for i in candidates if not i.is_final]
    outcomes, report.more = _parallel(_safe(lambda i: _handle_due(i, now)), live, deadline)
    report.reaped += outcomes.count("reaped")
    report.deletion_pending += outcomes.count("pending")


def warn_expiring(now: datetime, report: ReapReport) -> None:
    for instance in repo.instances_due_between(now, now + WARN_BEFORE):
        if instance.status == InstanceStatus.ACTIVE:
            publish("Instance Expiring Soon", {"instance": instance.id, "request": instance.request_id,
                                               "provider": instance.provider, "expires_at": instance.expires_at})
            repo.mark_warned(instance.id)
            report.warned += 1


def restart_lost_executions(now: datetime, report: ReapReport) -> None:
    for request in repo.requests_with_status(RequestStatus.QUEUED, before=now - QUEUED_GRACE):
        if not execution_running(request.execution_arn):
            arn = start_provisioning(request.id, attempt_at=now)
            repo.update_request(request.id, execution_arn=arn)
            report.restarted += 1


# --- per provider ---------------------------------------------------------------------------


def _orphaned(server: Server, provider: str, now: datetime) -> bool:
    grace = timedelta(seconds=get_settings().orphan_grace_seconds)
    hard_expiry = server.metadata.get(OMS_EXPIRES)
    if hard_expiry and datetime.fromisoformat(hard_expiry) + grace < now:
        return True
    try:
        instance = repo.get_instance(server.instance_id or "")
    except NotFoundError:
        return True
    if instance.is_final or instance.provider != provider:
        return True
    # Another server of the same instance (a duplicate create) is an orphan; its own is not.
    return instance.server_id is not None and instance.server_id != server.id


def sweep_orphans(provider: Provider, servers: list[Server], now: datetime, report: ReapReport) -> None:
    """Delete servers carrying our metadata that no live instance owns — only when a previous
    run already saw them orphaned, so a Launch between create and record is never raced."""
    marks = repo.orphan_marks(provider.name)
    cloud = cloud_for(provider)
    still: dict[str, str] = {}
    for server in servers:
        if not _orphaned(server, provider.name, now):
            continue
        if server.id in marks:
            cloud.delete_server(server.id)
            report.orphans_deleted += 1
            count("OrphansDeleted", provider=provider.name)
            logger.info("orphan deleted", extra={"provider": provider.name, "server": server.id})
        else:
            still[server.id] = now.isoformat()
            report.orphans_marked += 1
    if still != marks:
        repo.set_orphan_marks(provider.name, still)


def reconcile_ledger(provider: Provider, report: ReapReport) -> None:
    """Set the slot counter to the number of instances holding a slot here, unless it moved
    while we counted (then a reservation is in flight and the next run decides)."""
    holders = sum(1 for i in repo.live_instances_on(provider.name) if i.slot == provider.name)
    if holders != provider.slots and repo.get_provider(provider.name).slots == provider.slots:
        repo.set_slots(provider.name, holders)
        report.ledger_fixes[provider.name] = holders - provider.slots
        logger.warning("ledger drift fixed", extra={"provider": provider.name, "was": provider.slots, "now": holders})


def tend_provider(provider: Provider, now: datetime, report: ReapReport) -> None:
    """Probe, sweep and reconcile one provider. A provider in maintenance stays open and is tried
    again next minute; its due deletes keep retrying through reap_due."""
    if not provider.has_credentials:
        return
    try:
        cloud = cloud_for(provider)
        inspection = cloud.inspect()
        servers = cloud.oms_servers()
    except CloudError as error:
        if health.is_half_open(provider.breaker, now) or provider.breaker.state == "closed":
            repo.set_breaker(provider.name, health.after_failure(provider.breaker, error.kind, now))
        report.probes[provider.name] = f"failed: {error}"
        return
    if provider.breaker.state != "closed":
        repo.set_breaker(provider.name, health.after_success(provider.breaker))
        report.probes[provider.name] = "recovered"
    # Others may share the account: their servers use up the Nova limit too.
    ours = len(servers)
    nova_room = None if inspection.max_instances is None else inspection.max_instances - max((inspection.instances_used or 0) - ours, 0)
    repo.record_check(provider.name, nova_room, inspection.flavors, inspection.images, now)
    sweep_orphans(provider, servers, now, report)
    reconcile_ledger(provider, report)


def run(now: datetime | None = None, request_id: str | None = None, instance_id: str | None = None) -> ReapReport:
    now = now or utcnow()
    settings = get_settings()
    deadline = time.monotonic() + settings.reaper_budget_seconds
    report = ReapReport()
    if request_id or instance_id:
        teardown_now(request_id, instance_id, now, deadline, report)
        return report
    reap_due(now, deadline, report)
    warn_expiring(now, report)
    restart_lost_executions(now, report)
    providers = [p for p in repo.list_providers() if p.enabled or p.slots]
    with ThreadPoolExecutor(max_workers=max(len(providers), 1)) as pool:
        for future in [pool.submit(tend_provider, p, now, report) for p in providers]:
            future.result()
    if report.deletion_pending:
        count("DeletionPending", report.deletion_pending)
    logger.info("reaper run", extra={"report": report.__dict__})
    return report
