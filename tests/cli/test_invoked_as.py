"""How commands we print start: the way the user ran opsbook, so they paste and run."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from opsbook.cli.context import invoked_as


@pytest.mark.parametrize("typed", [".venv/bin/opsbook", "opsbook", "/opt/opsbook/bin/opsbook"])
def test_the_script_is_named_as_it_was_typed(typed: str) -> None:
    assert invoked_as(environ={"PATH": ""}, argv0=typed) == typed


def test_python_dash_m_names_this_installs_script(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    (bin_dir / "opsbook").write_text("#!/bin/sh\n")
    (bin_dir / "opsbook").chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    monkeypatch.chdir(tmp_path)
    main = "/src/opsbook/__main__.py"
    assert invoked_as(environ={"PATH": ""}, argv0=main) == "venv/bin/opsbook"
    # On PATH, the short name works as printed.
    assert invoked_as(environ={"PATH": str(bin_dir)}, argv0=main) == "opsbook"
