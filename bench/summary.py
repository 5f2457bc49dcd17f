"""``make bench``'s closing table: every bench's headline rows (``bench/_summary.py``), each
with opsbook's figure, the peer's from the same run, the ratio, the goal and the verdict.

    .venv/bin/python bench/summary.py FILE
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from rich.console import Console
from rich.table import Table


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit("usage: bench/summary.py FILE (the rows make bench collected)")
    path = Path(sys.argv[1])
    if not path.exists():
        raise SystemExit(f"{path}: no rows (run make bench)")
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
    table = Table(title="make bench: opsbook against its peers, each ratio from one run")
    for header in ("work", "opsbook", "peer", "ratio", "goal", "verdict"):
        table.add_column(header, justify="right" if header == "ratio" else "left")
    for row in rows:
        ratio = f"{row['ratio']:.2f}x" if row["ratio"] is not None else ""
        verdict = "[green]met[/green]" if row["met"] else "[red]not met[/red]"
        table.add_row(row["work"], row["opsbook"], row["peer"], ratio, row["goal"], verdict)
    Console(width=160).print(table)


if __name__ == "__main__":
    main()
