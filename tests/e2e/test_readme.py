"""The README's tour, run literally: every command of its code blocks, as printed, in order,
against a running ``opsbook demo`` (``readme_tour.py``), so the tour cannot drift from the code.

The tour names fixed ports (8080, 8081); no test may count on those being free, so the demo and
the commands run in a fresh network namespace (``unshare -n``) where they certainly are. They run
in a copy of the repository's README and examples with the real ``.venv`` linked in, so the demo's
store and log land in the test's temporary folder.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from readme_tour import commands

REPO = Path(__file__).resolve().parents[2]
TOUR = Path(__file__).with_name("readme_tour.py")
TOUR_TIMEOUT_S = 900
AUTH = '"Authorization: Bearer $(cat examples/demo/.opsbook-demo/token)"'


def _readme() -> str:
    return (REPO / "README.md").read_text(encoding="utf-8")


def test_the_tour_has_the_commands_a_reader_runs() -> None:
    lines = [c.line for c in commands(_readme())]
    assert not any(line.startswith("make ") for line in lines)
    assert ".venv/bin/opsbook check examples/broken.yaml" in lines
    assert any(line.startswith(".venv/bin/opsbook incident ack 1 ") for line in lines)
    assert any(line.startswith("curl ") for line in lines)
    # Everything the tour needs is in the commands themselves: no variable to export first.
    assert not any("OPSBOOK_DATABASE_URL" in line or line.startswith("export") for line in lines)
    # Every /api/v1 route wants a token: each curl of the API sends the one the demo saved.
    # (The status page's Statuspage JSON at /api/v2/*.json is public, as Statuspage's is.)
    api = [line for line in lines if "localhost:8080/api/v1/" in line]
    assert "curl localhost:8080/api/v2/summary.json" in lines
    assert api and all(line.startswith(f"curl -H {AUTH} ") for line in api), api
    shown = {c.line: c.shown for c in commands(_readme())}
    assert shown[".venv/bin/opsbook check examples/broken.yaml"][-1] == "2 errors"


def test_console_output_lines_belong_to_the_command_before_them() -> None:
    readme = "```console\n$ a\nout 1\nout 2\n$ b\n```\n```sh\nc \\\n  d  # why\n# note\n```\n"
    found = [(c.line, c.shown, c.exit_code) for c in commands(readme)]
    assert found == [("a", ["out 1", "out 2"], 0), ("b", [], 0), ("c d  # why", [], 0)]


def _can_unshare() -> bool:
    try:
        done = subprocess.run(
            ["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _copy_of_the_repository(into: Path) -> Path:
    """README.md and examples/ (without any demo state), with the real .venv linked in."""
    workdir = into / "opsbook"
    workdir.mkdir()
    shutil.copy(REPO / "README.md", workdir / "README.md")
    shutil.copytree(
        REPO / "examples",
        workdir / "examples",
        ignore=shutil.ignore_patterns(".opsbook-demo", "*.db", "*.db-*"),
    )
    (workdir / ".venv").symlink_to(REPO / ".venv")
    return workdir


def _explain(step: dict[str, Any], report: dict[str, Any]) -> str:
    log = "\n".join(report["serve_log_tail"])
    return (
        f"$ {step['line']}\nexit {step['exit_code']}, expected {step.get('expected', 0)}\n"
        f"stdout:\n{step['stdout']}\nstderr:\n{step['stderr']}\nserve.log (end):\n{log}"
    )


@pytest.mark.slow
# The tour waits for an outage to be detected and declared, as its reader does: longer than the
# suite's default timeout, and bounded by the tour's own.
@pytest.mark.timeout(TOUR_TIMEOUT_S + 60)
def test_every_readme_command_runs_as_printed(tmp_path: Path) -> None:
    if not _can_unshare():
        pytest.skip("needs `unshare -n` and `ip` (root, util-linux, iproute2) for its own ports")
    workdir = _copy_of_the_repository(tmp_path)
    # A new network namespace has only a loopback, and it is down: bring it up, then the tour.
    in_namespace = ["unshare", "-n", "bash", "-c", 'ip link set lo up && exec "$@"', "tour"]
    done = subprocess.run(
        [*in_namespace, sys.executable, str(TOUR), str(workdir)],
        capture_output=True,
        text=True,
        timeout=TOUR_TIMEOUT_S,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, Any] = json.loads(done.stdout)
    ran = report["ran"]
    assert report["error"] is None, f"{report['error']} (after {len(ran)} commands)\n" + "\n".join(
        report["serve_log_tail"]
    )
    assert [step["line"] for step in ran] == [c.line for c in commands(_readme())]
    for step in ran:
        assert step["exit_code"] == step["expected"], _explain(step, report)
        if step["shown"]:
            printed = (step["stdout"] + step["stderr"]).splitlines()
            assert printed == step["shown"], _explain(step, report)
    # The banner's commands work as printed too, from the same folder, at 80 columns.
    assert len(report["banner"]) >= 4
    for step in report["banner"]:
        assert step["exit_code"] == 0, _explain(step, report)
    # curl exits 0 on a 401 too: what the API answered must be the data, not an error.
    for step in [*ran, *report["banner"]]:
        if step["line"].startswith("curl ") and "/api/" in step["line"]:
            answer = json.loads(step["stdout"])
            assert "error" not in answer, _explain(step, report)
    # The login is printed to whoever ran the demo, and to nothing else; the CLI's token is
    # saved under the tour's $XDG_CONFIG_HOME.
    assert report["password_shown"], "\n".join(report["demo_output"])
    assert not report["password_logged"]
    assert (workdir / ".config" / "opsbook" / "tokens.json").is_file()
    assert report["banner"][1]["line"] == (
        ".venv/bin/opsbook status --config examples/demo/opsbook.yaml"
    )
    assert report["demo_exit_code"] == 0, "\n".join(report["demo_output"])
    assert "Stopped." in report["demo_output"]
