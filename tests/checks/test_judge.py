"""An observation becomes up, degraded or down by the rules of ``judge``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from opsbook.checks.judge import judge
from opsbook.checks.models import Check, Observation, ProbeResult, State
from opsbook.config import CheckSpec

STARTED = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def check(kind: dict[str, Any], **fields: Any) -> Check:
    return Check(id="api", spec=CheckSpec.model_validate({**kind, **fields}))


HTTP = {"http": {"url": "http://api.test/healthz"}}
TCP = {"tcp": {"host": "db", "port": 5432}}


def run(target: Check, **fields: Any) -> ProbeResult:
    fields.setdefault("latency_ms", 12.5)
    fields.setdefault("connected", True)
    return judge(target, Observation(**fields), started_at=STARTED)


def test_an_error_is_down_with_the_error_and_no_conditions() -> None:
    result = run(
        check(HTTP, conditions=["[STATUS] == 200"]),
        connected=False,
        error="connect to 10.0.0.5:5432 timed out after 5s",
    )
    assert (result.state, result.error, result.failed_conditions) == (
        State.DOWN,
        "connect to 10.0.0.5:5432 timed out after 5s",
        (),
    )


def test_all_conditions_holding_is_up() -> None:
    result = run(
        check(HTTP, conditions=["[STATUS] == 200", "[BODY].status == UP"]),
        status=200,
        body='{"status": "UP"}',
    )
    assert (result.state, result.error, result.failed_conditions) == (State.UP, None, ())


def test_every_failed_condition_is_rendered() -> None:
    result = run(
        check(HTTP, conditions=["[STATUS] == 200", "[BODY].status == UP", "[RESPONSE_TIME] < 50"]),
        status=500,
        body='{"status": "DOWN"}',
    )
    assert result.state is State.DOWN
    assert result.failed_conditions == ("[STATUS] (500) == 200", "[BODY].status (DOWN) == UP")


@pytest.mark.parametrize(("status", "state"), [(200, State.UP), (399, State.UP), (400, State.DOWN)])
def test_http_defaults_to_a_status_below_400(status: int, state: State) -> None:
    assert run(check(HTTP), status=status).state is state


def test_the_http_default_renders_like_a_written_condition() -> None:
    assert run(check(HTTP), status=503).failed_conditions == ("[STATUS] (503) < 400",)


@pytest.mark.parametrize(
    ("kind", "connected", "state"),
    [
        (TCP, True, State.UP),
        (TCP, False, State.DOWN),
        ({"postgres": {"dsn": "postgresql://db/app"}}, False, State.DOWN),
        ({"command": {"run": "true"}}, True, State.UP),
    ],
)
def test_other_kinds_default_to_connected(
    kind: dict[str, Any], connected: bool, state: State
) -> None:
    result = run(check(kind), connected=connected)
    assert result.state is state
    assert result.failed_conditions == (() if connected else ("[CONNECTED] (false) == true",))


def test_a_true_degraded_when_condition_is_degraded() -> None:
    result = run(
        check(HTTP, degraded_when=["[RESPONSE_TIME] > 50", "[RESPONSE_TIME] > 5000"]),
        status=200,
        latency_ms=812.0,
    )
    assert (result.state, result.failed_conditions) == (
        State.DEGRADED,
        ("[RESPONSE_TIME] (812) > 50",),
    )


def test_degraded_when_is_ignored_once_a_condition_fails() -> None:
    result = run(check(HTTP, degraded_when=["[RESPONSE_TIME] > 50"]), status=500, latency_ms=812.0)
    assert (result.state, result.failed_conditions) == (State.DOWN, ("[STATUS] (500) < 400",))


def test_false_degraded_when_conditions_leave_it_up() -> None:
    result = run(check(HTTP, degraded_when=["[RESPONSE_TIME] > 50"]), status=200, latency_ms=9.0)
    assert (result.state, result.failed_conditions) == (State.UP, ())


def test_certificate_expiration_counts_from_the_start_of_the_probe() -> None:
    target = check({"tls": {"host": "example.com"}}, conditions=["[CERTIFICATE_EXPIRATION] > 336h"])
    result = run(target, certificate_expires_at=STARTED + timedelta(days=10))
    assert result.failed_conditions == ("[CERTIFICATE_EXPIRATION] (240h) > 336h",)


def test_it_copies_the_measurements_into_the_result() -> None:
    result = run(
        check({"postgres": {"dsn": "postgresql://db/app"}}),
        latency_ms=3.25,
        status=None,
        values={"connections_pct": 12.5},
        timings_ms={"connect": 2.0},
    )
    assert result == ProbeResult(
        check_id="api",
        started_at=STARTED,
        state=State.UP,
        latency_ms=3.25,
        values={"connections_pct": 12.5},
        timings_ms={"connect": 2.0},
    )


def test_it_copies_the_status_even_when_down() -> None:
    result = run(check(HTTP), status=502, timings_ms={"first_byte": 4.0})
    assert (result.status, result.timings_ms, result.latency_ms) == (502, {"first_byte": 4.0}, 12.5)


def test_a_checks_conditions_are_compiled_once(monkeypatch: pytest.MonkeyPatch) -> None:
    from opsbook.checks import judge as judge_module

    compiled: list[str] = []
    real = judge_module.compile_condition

    def counting(condition: Any) -> Any:
        compiled.append(condition.text)
        return real(condition)

    monkeypatch.setattr(judge_module, "compile_condition", counting)
    monkeypatch.setattr(judge_module, "_COMPILED", {})
    monkeypatch.setattr(judge_module, "_BY_TEXT", {})
    target = check(HTTP, conditions=["[STATUS] == 200"], degraded_when=["[RESPONSE_TIME] > 10"])
    first = run(target, status=200)
    second = run(target, status=500)
    # Another check with the same condition shares its evaluator.
    other = run(check(HTTP, conditions=["[STATUS] == 200"]), status=503)
    assert (first.state, second.state, other.state) == (State.DEGRADED, State.DOWN, State.DOWN)
    assert second.failed_conditions == ("[STATUS] (500) == 200",)
    assert other.failed_conditions == ("[STATUS] (503) == 200",)
    assert compiled == ["[STATUS] == 200", "[RESPONSE_TIME] > 10"]
