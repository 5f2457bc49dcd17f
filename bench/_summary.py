"""The headline rows of every benchmark, collected for ``make bench``'s closing table.

Each bench calls ``record`` for the figures its issue names; with ``OPSBOOK_BENCH_SUMMARY``
set (``make bench`` sets it) the row is appended to that file as a JSON line, and
``bench/summary.py`` prints them all as one table of ratios against the peers measured in the
same run. Run alone, a bench prints its own figures and records nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

ENV = "OPSBOOK_BENCH_SUMMARY"


def record(
    work: str,
    *,
    opsbook: str,
    goal: str,
    met: bool,
    peer: str = "",
    ratio: float | None = None,
) -> None:
    """One row: what was measured, opsbook's figure, the peer's (with its name) and
    opsbook/peer when there is one, the goal and whether this run met it."""
    target = os.environ.get(ENV)
    if not target:
        return
    row = {"work": work, "opsbook": opsbook, "peer": peer, "ratio": ratio, "goal": goal}
    with Path(target).open("a", encoding="utf-8") as out:
        out.write(json.dumps({**row, "met": met}) + "\n")
