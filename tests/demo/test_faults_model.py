"""The pure fault model: setting and merging payloads, and the deterministic error sampler."""

from __future__ import annotations

import pytest

from opsbook.demo import ErrorSampler, Faults, apply_faults, set_faults
from opsbook.errors import InputError

ACCEPTED = [
    ({}, Faults()),
    ({"down": True}, Faults(down=True)),
    ({"latency_ms": 3000}, Faults(latency_ms=3000.0)),
    ({"latency_ms": 0.5}, Faults(latency_ms=0.5)),
    ({"error_rate": 0.2}, Faults(error_rate=0.2)),
    ({"error_rate": 1}, Faults(error_rate=1.0)),
    ({"status": 503}, Faults(status=503)),
    ({"body": ""}, Faults(body="")),
    ({"queue_depth": 5000, "dlq": 12}, Faults(queue_depth=5000, dlq=12)),
    ({"database": "down"}, Faults(database="down")),
    ({"database": "ok"}, Faults()),
    ({"status": None, "body": None}, Faults()),
    ({"memory_pct": 92.5, "disk_used_pct": 95}, Faults(memory_pct=92.5, disk_used_pct=95.0)),
    ({"db_connections": 9}, Faults(db_connections=9)),
    ({"db_connections": 10}, Faults(db_connections=10)),
    ({"auth_failures_per_min": 30}, Faults(auth_failures_per_min=30.0)),
    ({"payment_failure_rate": 0.1}, Faults(payment_failure_rate=0.1)),
    (
        {"api_latency_ms": 3000, "db_latency_ms": 800},
        Faults(api_latency_ms=3000, db_latency_ms=800),
    ),
    ({"memory_pct": None, "db_connections": None}, Faults()),
]


@pytest.mark.parametrize(("payload", "expected"), ACCEPTED)
def test_it_accepts_each_fault(payload: dict[str, object], expected: Faults) -> None:
    assert apply_faults(Faults(), payload) == expected
    assert set_faults(payload) == expected


REJECTED = [
    ("not an object", "$", 'the fault payload must be a JSON object, e.g. {"down": true}'),
    ({"Down": True}, "Down", "unknown fault 'Down' (known: down, latency_ms, error_rate, "),
    ({"down": 1}, "down", "down must be true or false, not 1"),
    ({"latency_ms": -1}, "latency_ms", "latency_ms must be between 0 and 600000 milliseconds"),
    ({"latency_ms": 600_001}, "latency_ms", "latency_ms must be between 0 and 600000"),
    ({"latency_ms": float("nan")}, "latency_ms", "latency_ms must be a number of milliseconds"),
    ({"error_rate": 1.01}, "error_rate", "error_rate must be a number from 0 to 1 (e.g. 0.2)"),
    ({"status": 600}, "status", "status must be an HTTP status from 100 to 599, not 600"),
    ({"status": True}, "status", "status must be an HTTP status from 100 to 599, not True"),
    ({"queue_depth": "5"}, "queue_depth", "queue_depth must be a whole number >= 0, not '5'"),
    ({"database": None, "dlq": -1}, "dlq", "dlq must be a whole number >= 0, not -1"),
    (
        {"memory_pct": 101},
        "memory_pct",
        "memory_pct must be a percentage from 0 to 100 (e.g. 90), not 101",
    ),
    ({"disk_used_pct": "95%"}, "disk_used_pct", "disk_used_pct must be a percentage from 0 to 100"),
    ({"memory_pct": float("nan")}, "memory_pct", "memory_pct must be a percentage from 0 to 100"),
    (
        {"db_connections": 11},
        "db_connections",
        "db_connections must be a whole number of connections from 0 to 10 (the pool's size), "
        "not 11",
    ),
    ({"db_connections": 8.5}, "db_connections", "db_connections must be a whole number"),
    (
        {"auth_failures_per_min": -1},
        "auth_failures_per_min",
        "auth_failures_per_min must be a number per minute from 0 to 1000000, not -1",
    ),
    ({"auth_failures_per_min": True}, "auth_failures_per_min", "auth_failures_per_min must be"),
    (
        {"payment_failure_rate": 5},
        "payment_failure_rate",
        "payment_failure_rate must be a number from 0 to 1 (e.g. 0.2), not 5",
    ),
    ({"api_latency_ms": -3}, "api_latency_ms", "api_latency_ms must be between 0 and 600000"),
    ({"db_latency_ms": "slow"}, "db_latency_ms", "db_latency_ms must be a number of milliseconds"),
]


@pytest.mark.parametrize(("payload", "field", "message"), REJECTED)
def test_it_rejects_bad_payloads_naming_the_field(
    payload: object, field: str, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        apply_faults(Faults(dlq=3), payload)
    assert caught.value.field == field
    assert str(caught.value).startswith(message)
    with pytest.raises(InputError) as caught:
        set_faults(payload)
    assert caught.value.field == field


def test_merging_keeps_faults_not_named() -> None:
    assert apply_faults(Faults(dlq=3), {"down": True}) == Faults(down=True, dlq=3)


def test_merging_nothing_changes_nothing() -> None:
    assert apply_faults(Faults(dlq=3), {}) == Faults(dlq=3)


def test_setting_leaves_every_fault_not_named_healthy() -> None:
    # The README's tour: each step stages one fault, not the sum of the steps so far.
    assert set_faults({"error_rate": 0.2}) == Faults(error_rate=0.2)


def test_a_healthy_service_has_no_faults() -> None:
    assert Faults().is_healthy
    assert not Faults(dlq=1).is_healthy


@pytest.mark.parametrize(
    ("rate", "requests", "failures"),
    [(0.0, 100, 0), (0.2, 100, 20), (0.2, 7, 1), (0.1, 1000, 100), (0.5, 3, 1), (1.0, 5, 5)],
)
def test_the_sampler_fails_exactly_the_rate(rate: float, requests: int, failures: int) -> None:
    sampler = ErrorSampler(rate)
    assert sum(sampler.should_fail() for _ in range(requests)) == failures


def test_the_sampler_counts_a_batch_like_single_requests() -> None:
    batch, single = ErrorSampler(0.3), ErrorSampler(0.3)
    for size in (1, 7, 2, 10):
        assert batch.failures(size) == sum(single.should_fail() for _ in range(size))


def test_the_sampler_spreads_failures_evenly() -> None:
    sampler = ErrorSampler(0.25)
    assert [sampler.should_fail() for _ in range(8)] == [False, False, False, True] * 2
