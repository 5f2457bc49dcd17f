"""The on-call domain: who is on call when (rotation layers and overrides, DST-correct) and the
levels of an escalation policy. Pure functions over the validated config; the escalation timers
belong to incidents. Imports only ``opsbook.config`` and the root helpers.
"""

from opsbook.oncall.escalation import Level, Target, escalation_levels
from opsbook.oncall.schedules import Shift, schedule_timezone, shifts, who

__all__ = [
    "Level",
    "Shift",
    "Target",
    "escalation_levels",
    "schedule_timezone",
    "shifts",
    "who",
]
