"""A server killed with SIGKILL mid-run: the next ``opsbook serve`` on the same store marks the
run and its running step ``interrupted`` before serving, keeps the finished step's output, and
starts although the killed step's process group may still be alive (issue 13)."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from serving import Server, api_token

CONFIG = "service: t\nrunbooks: runbooks\n"


NAP = f"30.{os.getpid()}"
"""``sleep 30`` with a fraction only this test process uses, to find the sleep among others'."""


def naps() -> list[int]:
    """The pids of this test's ``sleep`` processes."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "cmdline").read_bytes().split(b"\0")[:2] == [b"sleep", NAP.encode()]:
                    found.append(int(entry.name))
    return found


@pytest.fixture
def nap_cleanup() -> Iterator[None]:
    yield
    # The step runs in its own process group, which outlives the killed server: end it.
    for pid in naps():
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgid(pid), signal.SIGKILL)


def test_a_run_cut_short_by_kill_9_is_interrupted_after_a_restart(
    serve: Callable[..., Server], tmp_path: Path, nap_cleanup: None
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "slow.md").write_text(
        "---\ntitle: Slow\n---\n"
        "```sh {name=first}\necho first-done\n```\n\n"
        f"```sh {{name=nap}}\nsleep {NAP}\n```\n"
    )
    url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    token = api_token(url, person="rea")
    server = serve(CONFIG, database_url=url)
    server.token = token
    status, run = server.request_json("POST", "/api/v1/runbooks/slow/runs", {})
    assert status == 202, run
    deadline = time.monotonic() + 15
    while True:
        _, run = server.request_json("GET", f"/api/v1/runs/{run['id']}")
        if _step(run, "nap")["state"] == "running" and naps():
            break
        assert time.monotonic() < deadline, (run["state"], run["steps"], server.lines[-5:])
        time.sleep(0.05)
    os.kill(server.pid, signal.SIGKILL)
    server.process.wait(timeout=10)

    again = serve(CONFIG, database_url=url)
    again.token = token
    status, after = again.request_json("GET", f"/api/v1/runs/{run['id']}")
    assert status == 200
    assert after["state"] == "interrupted"
    assert _step(after, "nap")["state"] == "interrupted"
    assert _step(after, "first")["state"] == "ok"
    assert _step(after, "first")["output"] == "first-done\n"
    marked = [r for r in again.records() if r.get("event") == "runbook_runs_interrupted"]
    assert [(r["count"], r["run_ids"]) for r in marked] == [(1, [run["id"]])]
    # The restarted server is not blocked by the orphaned step: it takes a new run at once.
    status, other = again.request_json("POST", "/api/v1/runbooks/slow/runs", {"steps": ["first"]})
    assert status == 202, other


def test_a_run_running_at_a_normal_stop_is_recorded_cancelled(
    serve: Callable[..., Server], tmp_path: Path, nap_cleanup: None
) -> None:
    folder = tmp_path / "runbooks"
    folder.mkdir()
    (folder / "slow.md").write_text(
        f"---\ntitle: Slow\n---\n```sh {{name=nap}}\nsleep {NAP}\n```\n"
    )
    url = f"sqlite:///{tmp_path / 'opsbook.db'}"
    token = api_token(url, person="rea")
    server = serve(CONFIG, database_url=url)
    server.token = token
    _, run = server.request_json("POST", "/api/v1/runbooks/slow/runs", {})
    deadline = time.monotonic() + 15
    while not naps():
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert server.stop(signal.SIGTERM) == 0
    assert naps() == []  # the step's process group was killed with it
    again = serve(CONFIG, database_url=url)
    again.token = token
    _, after = again.request_json("GET", f"/api/v1/runs/{run['id']}")
    assert (after["state"], _step(after, "nap")["state"]) == ("cancelled", "cancelled")


def _step(run: dict[str, Any], step_id: str) -> dict[str, Any]:
    return next(s for s in run["steps"] if s["step_id"] == step_id)
