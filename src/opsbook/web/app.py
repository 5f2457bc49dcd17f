"""``create_app(config)``: the one place the web process is assembled. No module-level app (R16)."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import timedelta

import structlog
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from opsbook import __version__
from opsbook.alerts.engine import AlertEngine
from opsbook.checks.heartbeats_monitor import HeartbeatMonitor
from opsbook.checks.judge import judge
from opsbook.checks.models import Check, ProbeResult
from opsbook.checks.retention import retention_loop
from opsbook.checks.scheduler import Scheduler
from opsbook.checks.service import CheckStatus, StoreSink, current_states
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config
from opsbook.errors import StoreError
from opsbook.incidents import IncidentsTask
from opsbook.notify import Deliverer, IncidentEmitter, OutboxEmitter
from opsbook.redaction import secret_values as config_secret_values
from opsbook.runbooks.diagnostics import DiagnosticsTask
from opsbook.runbooks.registry import Loaded
from opsbook.runbooks.routine_alerts import RoutineAlerter
from opsbook.runbooks.routine_notify import RoutineEmitter
from opsbook.runbooks.routine_task import RoutineTask
from opsbook.statuspage import render_json
from opsbook.statuspage.publish import Publisher
from opsbook.statuspage.site import PAGE_PREFIX
from opsbook.statuspage.subscriber_send import SubscriberSender
from opsbook.statuspage.subscriber_task import SubscriberTask
from opsbook.store import create_engine, current_revision, display_url, ping, resolve_url, upgrade
from opsbook.web import ack, docs, errors, health, openapi, pings, status_subscribe, ui
from opsbook.web.api import checks_router
from opsbook.web.api.accounts import router as accounts_router
from opsbook.web.api.alertmanager import router as alertmanager_router
from opsbook.web.api.alerts import router as alerts_router
from opsbook.web.api.incidents import router as incidents_router
from opsbook.web.api.ingest import POST_ALERTS_PATH, post_alerts, post_alerts_route
from opsbook.web.api.ingest import router as ingest_router
from opsbook.web.api.notifications import router as notifications_router
from opsbook.web.api.oncall import router as oncall_router
from opsbook.web.api.routines import router as routines_router
from opsbook.web.api.runbooks import router as runbooks_router
from opsbook.web.api.runs import router as runs_router
from opsbook.web.api.status_subscribers import router as status_subscribers_router
from opsbook.web.api.statuspage import router as statuspage_router
from opsbook.web.body_limit import BodyLimit
from opsbook.web.deps import NO_RUNBOOKS, Services
from opsbook.web.hot_routes import HotApp, HotRoute
from opsbook.web.lean_ingest import LeanIngest
from opsbook.web.lean_pings import LeanPings
from opsbook.web.lean_status import LeanStatusPage
from opsbook.web.memory import LARGE_BODY_BYTES, LargeBodyGate
from opsbook.web.metrics import Metrics
from opsbook.web.middleware import RequestObserver
from opsbook.web.routine_metrics import RoutineCollector, store_states
from opsbook.web.run_tasks import RunTasks, database_dsns, run_settings
from opsbook.web.runner import Runner
from opsbook.web.status_site import router as status_site_router
from opsbook.web.status_site import site_cache
from opsbook.web.ui.overview_data import read_version

log = structlog.get_logger(__name__)

MIGRATION_RETRY_MAX = timedelta(seconds=30)


def create_app(
    config: Config,
    *,
    engine: Engine | None = None,
    clock: Clock = SYSTEM_CLOCK,
    environ: Mapping[str, str] | None = None,
    registry: CollectorRegistry | None = None,
    runbooks: Loaded | None = None,
) -> FastAPI:
    """Build the app for ``config``. Nothing connects until the app starts.

    The engine is created here (not at start-up) so an unsupported store URL raises
    ``StoreError`` to the caller instead of failing inside the server. An engine passed in is
    the caller's to dispose; one created here is disposed at shutdown.

    Start-up migrates the store to head. If the store is unreachable the app still starts,
    answers /ready with 503, and the runner retries the migration with backoff.

    ``runbooks``: the config's runbooks folder as ``load_for_config`` loaded it (``opsbook
    serve`` loads it once, before this); None serves no runbooks.
    """
    env = os.environ if environ is None else environ
    owns_engine = engine is None
    if engine is None:
        engine = create_engine(resolve_url(config.store.url, environ=env))
    runner = Runner(clock=clock)
    metrics = Metrics(
        registry if registry is not None else CollectorRegistry(),
        store_up=lambda: _is_up(engine),
        runner_up=lambda: runner.problem() is None,
        check_states=lambda: _check_states(engine, config),
        failures=runner.failures.snapshot,
    )
    # Alert transitions and their notifications commit together (the outbox); the deliverer is
    # woken as soon as there is something to send, so detection latency is not a poll interval.
    deliverer = Deliverer(
        config,
        engine,
        clock=clock,
        failures=runner.failures,
        on_pass=runner.reporter("delivery"),
        # Status page subscribers' emails and webhooks name no configured channel.
        senders=SubscriberSender(config, engine).senders(),
    )
    # Pages and incident updates commit with the pass that decided them; API writes wake the
    # task so an acknowledge stops paging (and an update is announced) now, not a pass later.
    incidents = IncidentsTask(
        engine,
        config=config,
        emit=IncidentEmitter(config, clock=clock),
        after_commit=deliverer.wake,
        clock=clock,
        failures=runner.failures,
        on_pass=runner.reporter("incidents"),
    )
    # A paging alert that starts firing wakes the incidents task: outage -> page is the alert
    # policy plus one pass, not plus up to ``evaluate_every``. A callback keeps alerts unaware
    # of incidents (one-way data flow).
    alerts = AlertEngine(
        config,
        engine,
        clock=clock,
        emit=OutboxEmitter(config, clock=clock),
        after_commit=lambda _notices: deliverer.wake(),
        on_page=incidents.wake,
        external_url=config.server.public_url,
        failures=runner.failures,
        on_pass=runner.reporter("alerts"),
    )
    services = Services(
        config=config,
        engine=engine,
        clock=clock,
        runner=runner,
        metrics=metrics,
        alerts=alerts,
        incidents=incidents,
        runbooks=runbooks if runbooks is not None else NO_RUNBOOKS,
        deliverer=deliverer,
    )
    _add_probe_engine(
        runner, config, engine=engine, clock=clock, metrics=metrics, after_write=alerts.on_results
    )
    runner.add("alerts", alerts.run)
    runner.add("delivery", deliverer.run)
    runner.add("incidents", incidents.run)
    # Public incident updates and component status changes, to the status page's subscribers.
    status_subscribers = SubscriberTask(
        engine,
        config=config,
        clock=clock,
        marker=lambda conn: read_version(conn)[0],
        after_commit=deliverer.wake,
        failures=runner.failures,
    )
    runner.add("status-subscribers", status_subscribers.run)
    # An incident's alert whose rule names a runbook gets its read steps run, once (no task
    # when no runbook loaded: there is nothing it could run).
    if services.runbooks.registry.runbooks:
        diagnostics = DiagnosticsTask(
            engine,
            config=config,
            registry=services.runbooks.registry,
            emit=IncidentEmitter(config, clock=clock),
            # As a person's run: a relative runbooks.shell.cwd is from the config's folder.
            settings=run_settings(config, services.runbooks),
            clock=clock,
            after_commit=deliverer.wake,
            failures=runner.failures,
        )
        runner.add("diagnostics", diagnostics.run)
    # A runbook with a schedule (a routine) opens a run at each due time and reminds its
    # channels; /metrics says which routines are overdue.
    if any(rb.schedule for rb in services.runbooks.registry.runbooks.values()):
        routines = RoutineTask(
            engine,
            registry=services.runbooks.registry,
            timezone=config.timezone,
            emit=RoutineEmitter(config, clock=clock),
            settings=run_settings(config, services.runbooks),
            clock=clock,
            mask=config_secret_values(config),
            dsns=database_dsns(config),
            after_commit=deliverer.wake,
            failures=runner.failures,
            alerter=RoutineAlerter(config, wake_alerts=alerts.wake, wake_incidents=incidents.wake),
        )
        runner.add("routines", routines.run)
        metrics.registry.register(
            RoutineCollector(
                store_states(
                    engine, services.runbooks.registry, timezone=config.timezone, clock=clock
                )
            )
        )
    # Runbook runs started through the API run here; runs a killed process left "running"
    # are marked interrupted before the first request.
    run_tasks = RunTasks()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if await _migrate(engine):
            await asyncio.to_thread(run_tasks.interrupt_stale, engine, clock)
        else:
            runner.add("migrations", lambda: _migrate_until_done(engine))
        await runner.start()
        try:
            yield
        finally:
            await run_tasks.stop()
            await runner.stop()
            if owns_engine:
                await asyncio.to_thread(engine.dispose)

    # /docs is served from the package (web/docs.py): FastAPI's own loads Swagger UI from a CDN.
    # SecuredApp adds the security headers outside everything, the 500 handler included; HotApp
    # serves the hot routes ahead of all of it (web/hot_routes.py).
    app = HotApp(
        title="opsbook", version=__version__, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.services = services
    app.state.run_tasks = run_tasks
    errors.install(app)
    docs.install(app)
    # The document says what the server answers (400, not FastAPI's 422) and the bodies the
    # ingest routes read themselves (web/openapi.py).
    openapi.install(app)
    # Routes match in this order: the hottest (Prometheus posting alerts) first.
    app.include_router(ingest_router)
    app.include_router(health.router)
    app.include_router(pings.router)
    app.include_router(checks_router)
    app.include_router(alerts_router)
    app.include_router(alertmanager_router)
    app.include_router(incidents_router)
    app.include_router(oncall_router)
    app.include_router(runbooks_router)
    app.include_router(runs_router)
    app.include_router(routines_router)
    app.include_router(notifications_router)
    app.include_router(statuspage_router)
    app.include_router(status_subscribers_router)
    app.include_router(status_subscribe.router)
    app.include_router(status_site_router)
    ui.install(app)
    app.include_router(ack.router)
    app.include_router(accounts_router)
    # status_page.publish: re-export the page (the bytes the server serves) on every change.
    if config.status_page.publish is not None:
        publisher = Publisher(
            config.status_page.publish,
            render=lambda: site_cache(app).site().exported(),
            secrets=config_secret_values(config),
            # Counted, not reported as a failing task: /ready must not turn 503 (and take the
            # server out of its load balancer) because a push to a static host fails.
            failures=runner.failures,
        )
        runner.add("status_publish", publisher.run)
    # Prometheus' posts: ahead of the whole stack when small and of a declared length
    # (web/hot_routes.py), else innermost, skipping only the routing (web/lean_ingest.py).
    app.hot_routes.add(
        "POST",
        POST_ALERTS_PATH,
        HotRoute(post_alerts_route(), post_alerts, max_body=LARGE_BODY_BYTES),
    )
    app.add_middleware(LeanIngest)
    app.add_middleware(LeanPings)  # the ping URLs, likewise (web/lean_pings.py)
    app.add_middleware(LargeBodyGate)
    app.add_middleware(BodyLimit)
    app.add_middleware(LeanStatusPage)  # fresh cached status page files (web/lean_status.py)
    app.add_middleware(
        RequestObserver,
        metrics=metrics,
        clock=clock,
        router=app.router,
        # The public status page's reads: pollers and visitors, summed like pings.
        summarised_reads=(PAGE_PREFIX, *(f"/api/v2/{name}" for name in render_json.NAMES)),
    )
    return app


def _add_probe_engine(
    runner: Runner,
    config: Config,
    *,
    engine: Engine,
    clock: Clock,
    metrics: Metrics,
    after_write: Callable[[Sequence[ProbeResult]], Awaitable[None]],
) -> None:
    """The scheduler (polled checks, plus the heartbeat monitor's tick) and hourly retention."""
    checks = checks_with_rule_retries(config)
    monitor = HeartbeatMonitor(checks, engine=engine, clock=clock, timezone=config.timezone)
    has_heartbeats = any(c.spec.heartbeat is not None for c in checks)
    scheduler = Scheduler(
        checks,
        sink=StoreSink(engine, checks=checks, clock=clock, after_write=after_write),
        judge=judge,
        clock=clock,
        concurrency=config.scheduler.concurrency,
        flush_every=config.scheduler.flush_every,
        flush_max=config.scheduler.flush_max,
        tick=monitor.tick if has_heartbeats else None,
        on_lateness=metrics.lateness.observe,
    )
    runner.add("scheduler", scheduler.run)
    runner.add("retention", lambda: retention_loop(engine, retention=config.retention, clock=clock))


def checks_with_rule_retries(config: Config) -> list[Check]:
    """The configured checks, each re-probed at the shortest ``retry_every`` among its own and
    those of the alert rules over it ("3 failures, retry_every 5s" confirms an outage in 10s)."""
    retries: dict[str, timedelta] = {}
    for rule in config.alerts.values():
        if rule.when is not None and rule.retry_every is not None:
            known = retries.get(rule.when.check)
            retries[rule.when.check] = min(known, rule.retry_every) if known else rule.retry_every
    checks = []
    for check_id, spec in config.checks.items():
        retry = retries.get(check_id)
        if retry is not None and (spec.retry_every is None or retry < spec.retry_every):
            spec = spec.model_copy(update={"retry_every": retry})
        checks.append(Check(id=check_id, spec=spec))
    return checks


def _check_states(engine: Engine, config: Config) -> list[CheckStatus]:
    """Configured checks' states for /metrics; none when the store cannot answer."""
    try:
        with engine.begin() as conn:
            return current_states(conn, check_ids=list(config.checks))
    except DBAPIError:
        return []


def _is_up(engine: Engine) -> bool:
    try:
        ping(engine)
    except StoreError:
        return False
    return True


async def _migrate(engine: Engine) -> bool:
    """Upgrade the store to head and log it. Returns False (and logs why) if it cannot."""
    store = display_url(engine.url)
    try:
        before = await asyncio.to_thread(current_revision, engine)
        await asyncio.to_thread(upgrade, engine)
        after = await asyncio.to_thread(current_revision, engine)
    except StoreError as exc:
        log.error("migrations_failed", store=store, error=str(exc))
        return False
    log.info("migrations", store=store, from_revision=before, to_revision=after)
    return True


async def _migrate_until_done(engine: Engine) -> None:
    delay = timedelta(seconds=1)
    while not await _migrate(engine):
        log.info("migrations_retry", retry_in_s=delay.total_seconds())
        await asyncio.sleep(delay.total_seconds())
        delay = min(delay * 2, MIGRATION_RETRY_MAX)
