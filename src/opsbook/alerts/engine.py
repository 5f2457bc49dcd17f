"""The alert engine: evaluates rules against stored results and moves alerts through their
lifecycle, then hands the changes to dispatch, all in one transaction per evaluation.

1. Check rules: one evaluation per new result of the rule's check (window rules: one per batch,
   over the stored window); without new results, window rules are evaluated now and the others
   get the time-only step (a ``for`` duration or ``keep_firing_for`` that ran out).
   Without new results, open alerts of rules no longer configured as they were are closed.
2. Prometheus rules: each series of the answer is one alert whose expression holds; an open
   alert whose series is gone is false. A failed query is no data.
3. Ingested alerts whose ``endsAt`` has passed resolve.
4. Dependencies: an open alert over a check whose dependency is down is suppressed and linked
   to the root cause's alert.
5. ``dispatch`` decides what to notify and emits it into the same transaction (the outbox).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Engine

from opsbook.alerts import machine, records
from opsbook.alerts.dependencies import suppress_dependents, transitive_dependencies
from opsbook.alerts.dispatch import dispatch
from opsbook.alerts.episodes import (
    Pass,
    PreparedRule,
    expire_ingested,
    load_open,
    rule_fingerprint,
    when_of,
)
from opsbook.alerts.models import Emit
from opsbook.alerts.prometheus import Sample, query_prometheus
from opsbook.alerts.rules import (
    Verdict,
    rule_labels,
    rule_severity,
    sample_verdict,
    series_labels,
    uses_window,
    verdict,
)
from opsbook.checks.models import ProbeResult
from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.config import Config
from opsbook.config.alerts import AlertRule, PrometheusQuery
from opsbook.store.group_commit import begin_immediate
from opsbook.tasks import TaskFailures, finish_then_cancel, set_from_any_thread

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class EvalReport:
    transitions: int
    notices: int


class AlertEngine:
    """Evaluates ``config.alerts`` against the store at ``engine`` (see the module docstring).

    ``emit`` receives the notices dispatch decides on, inside the evaluation's transaction;
    ``after_commit`` is told how many there were once they are committed (to wake the
    deliverer). ``on_page`` is called once the commit holds an alert that started firing with
    a severity that pages (``severities.<name>.page``): the server wakes the incidents task
    with it, so the incident and its first page do not wait for that task's next interval.
    The engine knows nothing of incidents (DESIGN.md's one-way flow); the caller wires it.

    ``failures`` counts the alert groups dispatch could not notify (the rest of the pass
    commits); ``on_pass`` is told how each timed evaluation went (the exception, or None), so
    the server's runner can turn /ready to 503 while evaluation keeps failing.
    """

    def __init__(
        self,
        config: Config,
        engine: Engine,
        *,
        clock: Clock = SYSTEM_CLOCK,
        emit: Emit | None = None,
        after_commit: Callable[[int], None] | None = None,
        on_page: Callable[[], None] | None = None,
        external_url: str | None = None,
        failures: TaskFailures | None = None,
        on_pass: Callable[[Exception | None], None] | None = None,
    ) -> None:
        self._config = config
        self._engine = engine
        self._clock = clock
        self._emit = emit
        self._after_commit = after_commit
        self._on_page = on_page
        self._paging = paging_severities(config)
        self._external_url = external_url
        self._failures = failures
        self._on_pass = on_pass
        self._rules = [_build_rule(config, name, rule) for name, rule in config.alerts.items()]
        self._by_check: dict[str, list[PreparedRule]] = {}
        for r in self._rules:
            if r.rule.when is not None:
                self._by_check.setdefault(r.rule.when.check, []).append(r)
        self._depends = transitive_dependencies(config)
        # One evaluation at a time per process: results and the loop would race to open alerts.
        self._lock = threading.Lock()
        self._woken = False
        self._wake_event: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    # -- one evaluation ---------------------------------------------------------------------

    def evaluate(
        self,
        now: datetime,
        *,
        results: Sequence[ProbeResult] | None = None,
        prometheus: Mapping[str, Sequence[Sample] | str] | None = None,
    ) -> EvalReport:
        """Evaluate at ``now`` in one transaction; see the module docstring for the order."""
        with self._lock:
            with self._engine.begin() as conn:
                # SQLite: the write lock now, not at the first write after reads and the
                # dispatch's SAVEPOINTs (a deferred transaction that read before another
                # writer's commit cannot write after it: "database is locked" at once).
                begin_immediate(conn)
                run = Pass(conn, now=now)
                if results is None:
                    self._evaluate_time(run)
                else:
                    self._evaluate_results(run, results)
                self._evaluate_prometheus(run, prometheus or {}, tick=results is None)
                expire_ingested(run)
                if self._depends:
                    opened = [o.alert for o in load_open(conn)]
                    suppress_dependents(conn, opened=opened, depends=self._depends, now=now)
                notices = dispatch(
                    conn,
                    config=self._config,
                    now=now,
                    emit=self._emit,
                    external_url=self._external_url,
                    failures=self._failures,
                )
            if notices and self._after_commit is not None:
                self._after_commit(len(notices))
            if self._on_page is not None and not run.fired.isdisjoint(self._paging):
                self._on_page()
        return EvalReport(transitions=run.transitions, notices=len(notices))

    def _evaluate_results(self, run: Pass, results: Sequence[ProbeResult]) -> None:
        windows_done: set[str] = set()
        for result in sorted(results, key=lambda r: r.started_at):
            for r in self._by_check.get(result.check_id, ()):
                expr = when_of(r)
                if uses_window(expr):
                    # The window already holds the whole batch: one evaluation per batch.
                    if r.name not in windows_done:
                        windows_done.add(r.name)
                        run.check_rule(r, verdict(run.conn, expr, result=None, now=run.now))
                    continue
                run.check_rule(r, verdict(run.conn, expr, result=result, now=run.now))

    def _evaluate_time(self, run: Pass) -> None:
        run.close_orphans({r.name: r for r in self._rules})
        for r in self._rules:
            if r.rule.when is None:
                continue
            if uses_window(r.rule.when):
                found = verdict(run.conn, r.rule.when, result=None, now=run.now)
                if found.holds is not None:
                    run.check_rule(r, found)
                    continue
            run.tick(run.find(rule_fingerprint(r)), r)

    def _evaluate_prometheus(
        self, run: Pass, answers: Mapping[str, Sequence[Sample] | str], *, tick: bool
    ) -> None:
        for r in self._rules:
            if r.rule.prometheus is None:
                continue
            answer = answers.get(r.name)
            open_now = run.open_for_rule(r.name)
            if answer is None or isinstance(answer, str):
                if isinstance(answer, str):
                    log.warning("prometheus_rule_no_data", rule=r.name, error=answer)
                if tick or answer is not None:
                    for current in open_now:
                        run.tick(current, r)
                continue
            seen: set[str] = set()
            for sample in answer:
                labels = series_labels(r.name, r.labels, severity=r.severity, series=sample.labels)
                fingerprint = records.fingerprint(labels)
                seen.add(fingerprint)
                found = sample_verdict(r.rule.prometheus.expr, sample.labels, sample.value)
                run.step(r, found, labels=labels, fingerprint=fingerprint, value=sample.value)
            for current in open_now:
                if current.alert.fingerprint not in seen:
                    absent = Verdict(False, "the series is no longer in the answer", {})
                    run.step(
                        r,
                        absent,
                        labels=current.alert.labels,
                        fingerprint=current.alert.fingerprint,
                    )

    # -- the loop ---------------------------------------------------------------------------

    async def on_results(self, results: Sequence[ProbeResult]) -> None:
        """``StoreSink.after_write``: evaluate the rules over the results just stored."""
        if not any(r.check_id in self._by_check for r in results):
            return
        try:
            await finish_then_cancel(
                asyncio.to_thread(self.evaluate, self._clock.now(), results=results)
            )
        except Exception as exc:
            # The results are stored; raising would make the scheduler write them again.
            # The next timed evaluation still sees the windows; log and go on (R13).
            _log_failure(exc)

    def wake(self) -> None:
        """Ask the loop for an evaluation now; safe to call from any thread."""
        self._woken = True
        set_from_any_thread(self._loop, self._wake_event)

    async def run(self) -> None:
        """Evaluate now (timers may have run out while opsbook was stopped), then every
        ``alerting.evaluate_every`` or when woken, until cancelled."""
        self._loop = asyncio.get_running_loop()
        self._wake_event = asyncio.Event()
        queries = {r.name: r.rule.prometheus for r in self._rules if r.rule.prometheus}
        next_query: dict[str, datetime] = {}
        session = aiohttp.ClientSession() if queries else None
        try:
            while True:
                answers = await self._query_due(session, queries, next_query)
                try:
                    await finish_then_cancel(
                        asyncio.to_thread(self.evaluate, self._clock.now(), prometheus=answers)
                    )
                except Exception as exc:
                    # A supervisor loop: the store may be briefly unreachable (R13).
                    _log_failure(exc)
                    if self._on_pass is not None:
                        self._on_pass(exc)  # pass after pass: the server's /ready says so
                else:
                    if self._on_pass is not None:
                        self._on_pass(None)
                await self._sleep()
        finally:
            self._loop = None
            if session is not None:
                await session.close()

    async def _sleep(self) -> None:
        event = self._wake_event
        if event is None:  # pragma: no cover - run() sets it first
            return
        if not self._woken:
            try:
                timeout = self._config.alerting.evaluate_every.total_seconds()
                await asyncio.wait_for(event.wait(), timeout=timeout)
            except TimeoutError:
                pass
        event.clear()
        self._woken = False

    async def _query_due(
        self,
        session: aiohttp.ClientSession | None,
        queries: Mapping[str, PrometheusQuery],
        next_query: dict[str, datetime],
    ) -> dict[str, Sequence[Sample] | str]:
        now = self._clock.now()
        due = [name for name in queries if next_query.get(name, now) <= now]
        if session is None or not due:
            return {}
        for name in due:
            next_query[name] = now + queries[name].every
        answers = await asyncio.gather(
            *(query_prometheus(session, queries[name]) for name in due), return_exceptions=True
        )
        found: dict[str, Sequence[Sample] | str] = {}
        for name, answer in zip(due, answers, strict=True):
            if isinstance(answer, asyncio.CancelledError):
                raise answer
            if isinstance(answer, BaseException):
                # PrometheusError says what failed (URL redacted); anything else is a bug.
                found[name] = str(answer) or f"the query failed ({type(answer).__name__})"
            else:
                found[name] = answer
        return found


def paging_severities(config: Config) -> frozenset[str]:
    """The severities whose firing alerts declare incidents (``severities.<name>.page``)."""
    return frozenset(name for name, severity in config.severities.items() if severity.page)


def _log_failure(exc: Exception) -> None:
    if isinstance(exc, sa.exc.DBAPIError):
        # Only the type: a driver message may quote a DSN or bound values.
        log.warning("alert_evaluation_failed", error_type=type(exc).__name__)
    else:
        log.error("alert_evaluation_failed", error_type=type(exc).__name__, exc_info=exc)


# -- rules -----------------------------------------------------------------------------------


def _build_rule(config: Config, name: str, rule: AlertRule) -> PreparedRule:
    severity = rule_severity(config, rule)
    policy = machine.Policy(
        for_=rule.for_,
        resolve_after=rule.resolve_after or config.alerting.resolve_after,
        keep_firing_for=rule.keep_firing_for,
        flapping=rule.flapping or config.alerting.flapping,
    )
    labels = rule_labels(config, name, rule, severity=severity)
    return PreparedRule(name, rule, severity, policy, labels)
