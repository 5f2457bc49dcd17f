"""The checks domain: configured checks, probes (one execution each), results and rollups.

Imports config, store and the root helpers only; never alerts, incidents, web or cli.
"""

from opsbook.checks.models import Check, Observation, ProbeResult, State, Value

__all__ = ["Check", "Observation", "ProbeResult", "State", "Value"]
