"""What the two commands a new user runs would do, read from ``make -n`` (nothing is run)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _plan(target: str, venv: Path) -> list[str]:
    make = shutil.which("make")
    if make is None:  # pragma: no cover - the Makefile is the project's entry point
        pytest.fail("make is not installed")
    # Under `make test` this runs inside make: the parent's MAKEFLAGS/MAKELEVEL would make the
    # child print "Entering directory" lines and inherit its flags.
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MFLAGS", "MAKELEVEL"}}
    done = subprocess.run(
        [make, "-n", "--no-print-directory", target, f"VENV={venv}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


def test_make_demo_installs_the_package_without_the_test_tools(tmp_path: Path) -> None:
    plan = _plan("demo", tmp_path / "venv")
    installs = [line for line in plan if "pip install" in line and "--upgrade pip" not in line]
    assert installs == [f"{tmp_path / 'venv'}/bin/python -m pip install --quiet -e ."]
    assert plan[-1] == f"{tmp_path / 'venv'}/bin/opsbook demo"


def test_make_test_installs_the_test_tools(tmp_path: Path) -> None:
    plan = _plan("test", tmp_path / "venv")
    assert f"{tmp_path / 'venv'}/bin/python -m pip install --quiet -e '.[dev]'" in plan
