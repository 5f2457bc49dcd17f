"""The one mutable thing in a demo app: its current faults, error samplers and simulated users."""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.demo.faults import ErrorSampler, Faults, apply_faults, set_faults
from opsbook.demo.workload import Workload

_MICROSECOND = timedelta(microseconds=1)


class DemoState:
    """Current faults of one demo app. Each app owns its own state; nothing is module-global.

    ``traffic_rps`` turns on simulated API traffic (see ``Workload``); the default 0 keeps
    ``http_requests_total`` to real requests. ``clock`` drives the simulated users: pass the
    ``FrozenClock`` of a simulated-time test and the counters move by exactly the time it
    advances.
    """

    def __init__(
        self, faults: Faults | None = None, *, clock: Clock = SYSTEM_CLOCK, traffic_rps: float = 0.0
    ) -> None:
        self.clock = clock
        self.faults = faults or Faults()
        self.workload = Workload(requests_per_s=traffic_rps)
        self.workload.restart(self.faults)
        self._samplers: dict[str, ErrorSampler] = {}
        self._settled_at: datetime = clock.now()

    def sampler_for(self, route: str) -> ErrorSampler:
        """The error sampler of one route: each endpoint fails exactly ``error_rate`` of its own
        requests, so two checks probing in step never take turns at every failure."""
        sampler = self._samplers.get(route)
        if sampler is None:
            sampler = self._samplers[route] = ErrorSampler(self.faults.error_rate)
        return sampler

    def settle(self) -> None:
        """Run the simulated users up to the clock's now under the current faults."""
        now = self.clock.now()
        elapsed = now - self._settled_at
        self._settled_at = now
        # The wall clock can step back (NTP); that time is simply not simulated.
        if elapsed > timedelta():
            self.workload.run(self.faults, seconds=Fraction(elapsed // _MICROSECOND, 1_000_000))

    def update(self, payload: object, *, merge: bool = False) -> Faults:
        """Make ``payload`` the faults (``set_faults``: every fault it leaves out is healthy), or
        with ``merge`` merge it into the current ones (``apply_faults``); return the new faults.

        Raises ``InputError`` and changes nothing when the payload is invalid. The time up to now
        is settled under the old faults first, so counters change rate exactly at the change.
        Any accepted change restarts the error samplers, so a test that sets ``error_rate``
        counts from zero.
        """
        faults = apply_faults(self.faults, payload) if merge else set_faults(payload)
        self.settle()
        self.faults = faults
        self._samplers.clear()
        self.workload.restart(faults)
        return faults
