"""Turn one observation into a result: up, degraded or down (pure; no I/O)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from opsbook.checks.conditions import Evaluator, Subject, compile_condition
from opsbook.checks.models import Check, Observation, ProbeResult, State
from opsbook.config import CheckSpec
from opsbook.config.conditions import Condition, parse_condition

DEFAULT_HTTP_CONDITIONS = (parse_condition("[STATUS] < 400"),)
DEFAULT_DNS_CONDITIONS = (
    parse_condition("[DNS_RCODE] == NOERROR"),
    parse_condition("has([BODY]) == true"),
)
DEFAULT_CONDITIONS = (parse_condition("[CONNECTED] == true"),)
"""What a check without ``conditions:`` requires: a non-error status for http, a NOERROR reply
with an answer for dns, else a connection."""


def default_conditions(kind: str) -> tuple[Condition, ...]:
    """What "up" means for a check that lists no conditions of its own."""
    if kind == "http":
        return DEFAULT_HTTP_CONDITIONS
    if kind == "dns":
        return DEFAULT_DNS_CONDITIONS
    return DEFAULT_CONDITIONS


_COMPILED_LIMIT = 100_000
_Compiled = tuple[tuple[Evaluator, ...], tuple[Evaluator, ...]]
# Per spec, by identity (the spec is kept to pin its id): a check's conditions are compiled on
# its first probe, not on every one.
_COMPILED: dict[int, tuple[CheckSpec, _Compiled]] = {}


# Checks share evaluators: a condition is its text (Condition compares equal to it), and an
# evaluator per check was 10,000 closures and their cells for the cyclic GC to walk.
_BY_TEXT: dict[str, Evaluator] = {}


def _compiled_condition(condition: Condition) -> Evaluator:
    evaluator = _BY_TEXT.get(condition.text)
    if evaluator is None:
        evaluator = _BY_TEXT[condition.text] = compile_condition(condition)
    return evaluator


def _compiled(spec: CheckSpec) -> _Compiled:
    cached = _COMPILED.get(id(spec))
    if cached is not None and cached[0] is spec:
        return cached[1]
    conditions = spec.conditions or default_conditions(spec.kind)
    compiled = (
        tuple(_compiled_condition(c) for c in conditions),
        tuple(_compiled_condition(c) for c in spec.degraded_when),
    )
    if len(_COMPILED) >= _COMPILED_LIMIT:
        # Config reloads leave old specs behind; start over rather than grow without bound.
        _COMPILED.clear()
        _BY_TEXT.clear()
    _COMPILED[id(spec)] = (spec, compiled)
    return compiled


def judge(check: Check, observation: Observation, *, started_at: datetime) -> ProbeResult:
    """Decide the state of one probe of ``check``.

    1. An observation with ``error`` is DOWN with that error; conditions are not evaluated.
    2. Any failed condition (``conditions``, or the kind's default when empty) makes it DOWN,
       with every failed one rendered in ``failed_conditions``.
    3. Otherwise any ``degraded_when`` condition that holds makes it DEGRADED, rendered likewise.
    4. Otherwise it is UP.
    """
    spec = check.spec
    up = ProbeResult(
        check_id=check.id,
        started_at=started_at,
        state=State.UP,
        latency_ms=observation.latency_ms,
        status=observation.status,
        values=observation.values,
        timings_ms=observation.timings_ms,
    )
    if observation.error is not None:
        return replace(up, state=State.DOWN, error=observation.error)
    subject = Subject(observation, now=started_at)
    conditions, degraded_when = _compiled(spec)
    failed = [o.rendered for o in (run(subject) for run in conditions) if not o.ok]
    if failed:
        return replace(up, state=State.DOWN, failed_conditions=tuple(failed))
    degraded = [o.rendered for o in (run(subject) for run in degraded_when) if o.ok]
    if degraded:
        return replace(up, state=State.DEGRADED, failed_conditions=tuple(degraded))
    return up
