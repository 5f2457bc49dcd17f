"""Import each seed runbook and run every ``read`` step it made, for real: shell steps in bash,
SQL steps in ``BEGIN READ ONLY`` on the PostgreSQL at 127.0.0.1:5432, HTTP steps with aiohttp,
all through ``execute.run_step`` (the executor the runner, CLI and auto-diagnostics call).

Parameters get their declared default, else a test value: the demo service (started in this
process on a free port) for hosts and URLs, the PostgreSQL for DSNs, a canary for anything
else. The seeds target their own systems (lilove.org, a kubernetes cluster, tables we do not
have), so most steps end ``failed`` with a recorded reason; what matters is that each one ends
with an outcome within its timeout and writes nothing.

Kept hermetic: shell steps run in a scratch folder with a scratch ``HOME``, curl's proxy points
at a closed local port (so lilove.org and api.openai.com are never reached), kubectl at a
closed port, docker at a socket that does not exist.

``.venv/bin/python tests/runbooks/seed_summary.py`` prints the table (``--steps`` adds one
line per step). ``tests/runbooks/test_seed_read_steps.py`` asserts on the same runs.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from aiohttp import web

from opsbook.demo import DemoState, create_demo_app
from opsbook.runbooks.execute import run_step
from opsbook.runbooks.importer import ImportResult, import_markdown, write_runbooks
from opsbook.runbooks.models import Parameter, Risk, Runbook, Step, StepKind
from opsbook.runbooks.outcome import RunSettings, Status, StepContext, StepOutcome
from opsbook.runbooks.registry import load_folder
from opsbook.runbooks.values import Value, check_values, secret_values

SEEDS = Path(__file__).parent / "seeds"
PG_DSN = os.environ.get("OPSBOOK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
STEP_TIMEOUT = timedelta(seconds=3)
# How long past its timeout a step may take to come back (killing a process group, closing).
GRACE_S = 2.0
CONCURRENCY = 4
CANARY = "canary-7f1e-s3cr3t"
CLOSED = "http://127.0.0.1:1"


@dataclass(frozen=True)
class StepRun:
    runbook: str
    step: Step
    outcome: StepOutcome | None  # None: the step raised (the error is in ``crash``)
    elapsed_s: float
    crash: str = ""

    @property
    def said(self) -> str:
        if self.outcome is None:
            return self.crash
        # A failed command says why last (curl's "curl: (7) Failed to connect"), a table first.
        lines = [ln.strip() for ln in self.outcome.output.splitlines() if ln.strip()]
        said = (lines[-1] if not self.outcome.is_ok else lines[0]) if lines else ""
        return " | ".join(t for t in (self.outcome.error, said) if t)


@dataclass
class SeedReport:
    seed: str
    imported: ImportResult
    loaded: dict[str, Runbook]
    problems: list[str]
    runs: list[StepRun] = field(default_factory=list)

    def row(self) -> tuple[object, ...]:
        made = self.imported
        ok = sum(1 for r in self.runs if r.outcome is not None and r.outcome.status is Status.OK)
        failed = sum(1 for r in self.runs if r.outcome is not None and not r.outcome.is_ok)
        crashed = sum(1 for r in self.runs if r.outcome is None)
        return (
            self.seed,
            len(made.runbooks),
            made.count("shell"),
            made.count("sql"),
            made.count("http"),
            made.count("manual"),
            sum(len(b.parameters) for b in made.runbooks),
            len(made.unclassified),
            len(self.runs),
            ok,
            failed,
            crashed,
        )


HEADER = (
    "seed",
    "runbooks",
    "sh",
    "sql",
    "http",
    "manual",
    "params",
    "unclassified",
    "read run",
    "ok",
    "failed",
    "crashed",
)


def read_steps(runbook: Runbook) -> list[Step]:
    return [s for s in runbook.steps if s.risk is Risk.READ and s.kind is not StepKind.MANUAL]


def test_value(param: Parameter, *, demo_url: str) -> str:
    """What a parameter with no default gets: the demo service or the PostgreSQL when its name
    says what it is, else a canary (so a leak is easy to find)."""
    name = param.name
    host = demo_url.removeprefix("http://")
    by_name = {
        "database_url": PG_DSN,
        "dsn": PG_DSN,
        "domain": host,
        "host": host,
        "base_url": demo_url,
        "url": demo_url,
        "pghost": "127.0.0.1",
        "pgport": "5432",
        "pguser": "postgres",
        "pgdatabase": "postgres",
        "email": "user@example.com",
        "user_id": "1",
    }
    return by_name.get(name, f"{CANARY}-{name}")


def values_for(runbook: Runbook, steps: list[Step], *, demo_url: str) -> dict[str, Value]:
    raw = {
        p.name: test_value(p, demo_url=demo_url)
        for p in runbook.parameters
        if p.default is None and any(p.name in s.params for s in steps)
    }
    return check_values(
        raw, parameters=runbook.parameters, names=[n for s in steps for n in s.params]
    )


def settings_for(scratch: Path) -> RunSettings:
    kube = scratch / "kubeconfig"
    kube.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "
        + f"'{CLOSED}'}}}}]\ncontexts: [{{name: c, context: {{cluster: c}}}}]\n"
        + "current-context: c\n",
        encoding="utf-8",
    )
    home = scratch / "home"
    home.mkdir()
    work = scratch / "work"
    work.mkdir()
    proxy = {k: CLOSED for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}
    return RunSettings(
        default_timeout=STEP_TIMEOUT,
        kill_grace=timedelta(seconds=0.3),
        output_limit_bytes=64 * 1024,
        cwd=str(work),
        base_env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home)},
        env={
            **proxy,
            "no_proxy": "127.0.0.1,localhost",
            "NO_PROXY": "127.0.0.1,localhost",
            "KUBECONFIG": str(kube),
            "DOCKER_HOST": f"unix://{scratch / 'no-docker.sock'}",
        },
    )


@asynccontextmanager
async def demo_service(state: DemoState | None = None) -> AsyncIterator[str]:
    """The demo service in this process on a free port (on ``state``); yields its URL."""
    runner = web.AppRunner(create_demo_app(state), shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def _run_one(
    runbook: Runbook, step: Step, ctx: StepContext, gate: asyncio.Semaphore
) -> StepRun:
    async with gate:
        started = time.monotonic()
        try:
            outcome = await run_step(step, ctx)
        except Exception as exc:  # a crash is what this reports, not what stops it
            return StepRun(runbook.name, step, None, time.monotonic() - started, repr(exc))
        return StepRun(runbook.name, step, outcome, time.monotonic() - started)


def load_seed(seed: Path, out: Path) -> SeedReport:
    """Import ``seed`` into ``out`` and load what it made with the registry."""
    imported = import_markdown(seed.read_text(encoding="utf-8"), source=seed.name)
    write_runbooks(imported, out)
    registry, problems = load_folder(out)
    return SeedReport(seed.stem, imported, dict(registry.runbooks), [str(p) for p in problems])


async def run_seed(report: SeedReport, *, demo_url: str, settings: RunSettings) -> SeedReport:
    """Run every read step of the seed's runbooks (``CONCURRENCY`` at a time)."""
    gate = asyncio.Semaphore(CONCURRENCY)
    jobs = []
    for runbook in report.loaded.values():
        steps = read_steps(runbook)
        if not steps:
            continue
        values = values_for(runbook, steps, demo_url=demo_url)
        for step in steps:
            ctx = StepContext(
                values=values,
                secrets=secret_values(runbook.parameters, values),
                settings=settings,
                dsn=PG_DSN if step.kind is StepKind.SQL else None,
            )
            jobs.append(_run_one(runbook, step, ctx, gate))
    report.runs = list(await asyncio.gather(*jobs))
    return report


async def run_all(workdir: Path, *, demo: DemoState | None = None) -> list[SeedReport]:
    """Every seed in ``SEEDS``, imported under ``workdir`` and run (its scratch folder too),
    against a demo service on ``demo`` (a new one if None)."""
    scratch = workdir / "scratch"
    scratch.mkdir()
    settings = settings_for(scratch)
    loaded = [load_seed(s, workdir / "imported" / s.stem) for s in sorted(SEEDS.glob("*.md"))]
    async with demo_service(demo) as demo_url:
        return [await run_seed(r, demo_url=demo_url, settings=settings) for r in loaded]


def table(reports: list[SeedReport]) -> str:
    rows = [r.row() for r in reports]
    totals = ("total", *(sum(int(str(row[i])) for row in rows) for i in range(1, len(HEADER))))
    cells = [HEADER, *rows, totals]
    widths = [max(len(str(row[i])) for row in cells) for i in range(len(HEADER))]
    lines = [
        "  ".join(
            str(v).ljust(w) if i == 0 else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def step_lines(reports: list[SeedReport]) -> str:
    lines = []
    for report in reports:
        for run in report.runs:
            status = run.outcome.status if run.outcome is not None else "CRASHED"
            lines.append(
                f"{report.seed}  {run.runbook}/{run.step.id}  {run.step.kind}  {status}"
                f"  {run.elapsed_s:.1f}s  {run.said[:100]}"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--steps", action="store_true", help="one line per step run")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="opsbook-seeds-") as tmp:
        reports = asyncio.run(run_all(Path(tmp)))
    if args.steps:
        print(step_lines(reports))
        print()
    print(table(reports))
    return 0


if __name__ == "__main__":
    sys.exit(main())
