"""Simulated users of the demo service: API traffic, database queries, payments and logins.

A real app's ``/metrics`` moves because people use it; the demo has no users, so this model
stands in for them. It only moves when ``run`` is told how much time passed (``DemoState.settle``
does that from its clock on every scrape and before every fault change), and it moves exactly:
``seconds`` at ``rate`` per second is ``floor`` of the running total of events, the remainder
carried over as a ``Fraction``, and failures are spread by ``ErrorSampler``. With a
``FrozenClock`` nothing happens until the clock moves, so tests can predict every count.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from opsbook.demo.faults import ErrorSampler, Faults

API_PATH = "/api/goals"
"""The route simulated API requests are counted under (LiLove's busiest endpoint)."""
API_BASE_S = 0.1
"""How long a healthy simulated API request takes (LiLove's p50 for ``/api/goals``)."""
DB_BASE_S = 0.005
"""How long a healthy simulated database query takes; each API request makes one."""
DEMO_TRAFFIC_RPS = 10.0
"""Simulated API requests per second in ``opsbook demo`` (tests choose their own, or none)."""
PAYMENTS_PER_MIN = 60
"""Payments arrive at this steady rate whatever the traffic, so failure ratios always have a
denominator."""


class Workload:
    """Cumulative totals of what the simulated users did, for ``DemoMetrics`` to export.

    ``requests_per_s`` is the simulated API traffic (0 leaves ``http_requests_total`` to real
    requests only, which tests that count requests rely on). Nothing happens while the service
    is ``down``: no request, payment or login reaches a crashed backend.
    """

    def __init__(self, *, requests_per_s: float = 0.0) -> None:
        if requests_per_s < 0:
            raise ValueError(f"requests_per_s must be >= 0, not {requests_per_s!r}")
        self.requests_per_s = Fraction(str(requests_per_s))
        self.api_requests: Counter[int] = Counter()
        """Simulated API requests by HTTP status code."""
        self.api_durations: Counter[float] = Counter()
        """Simulated API requests by how long each took, in seconds."""
        self.db_durations: Counter[float] = Counter()
        """Simulated database queries by how long each took, in seconds."""
        self.payments: dict[str, int] = {"succeeded": 0, "failed": 0}
        self.auth_failures = 0
        self._carry: dict[str, Fraction] = {}
        self._errors = ErrorSampler()
        self._payment_failures = ErrorSampler()

    def restart(self, faults: Faults) -> None:
        """Spread failures afresh at the rates of ``faults`` (called on every fault change)."""
        self._errors = ErrorSampler(faults.error_rate)
        self._payment_failures = ErrorSampler(faults.payment_failure_rate)

    def run(self, faults: Faults, *, seconds: Fraction) -> None:
        """Add what the users did in ``seconds`` under ``faults``."""
        requests = self._due("requests", self.requests_per_s, seconds)
        payments = self._due("payments", Fraction(PAYMENTS_PER_MIN, 60), seconds)
        per_min = Fraction(str(faults.auth_failures_per_min))
        auth_failures = self._due("auth_failures", per_min / 60, seconds)
        if faults.down:
            return
        if requests:
            failed = self._errors.failures(requests)
            self.api_requests[500] += failed
            self.api_requests[200] += requests - failed
            latency_ms = faults.latency_ms + faults.api_latency_ms
            self.api_durations[API_BASE_S + latency_ms / 1000] += requests
            self.db_durations[DB_BASE_S + faults.db_latency_ms / 1000] += requests
        failed_payments = self._payment_failures.failures(payments)
        self.payments["failed"] += failed_payments
        self.payments["succeeded"] += payments - failed_payments
        self.auth_failures += auth_failures

    def _due(self, stream: str, per_s: Fraction, seconds: Fraction) -> int:
        carried = self._carry.get(stream, Fraction(0)) + per_s * seconds
        events = int(carried)
        self._carry[stream] = carried - events
        return events
