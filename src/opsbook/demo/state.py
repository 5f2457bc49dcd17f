"""The one mutable thing in a demo app: its current faults and their error sampler."""

from __future__ import annotations

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.demo.faults import ErrorSampler, Faults, apply_faults


class DemoState:
    """Current faults of one demo app. Each app owns its own state; nothing is module-global."""

    def __init__(self, faults: Faults | None = None, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.clock = clock
        self.faults = faults or Faults()
        self.sampler = ErrorSampler(self.faults.error_rate)

    def update(self, payload: object) -> Faults:
        """Merge ``payload`` into the faults (see ``apply_faults``) and return the new faults.

        Raises ``InputError`` and changes nothing when the payload is invalid. Any accepted change
        restarts the error sampler, so a test that sets ``error_rate`` counts from zero.
        """
        self.faults = apply_faults(self.faults, payload)
        self.sampler = ErrorSampler(self.faults.error_rate)
        return self.faults
