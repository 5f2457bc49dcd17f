"""A shell step's ``cwd=`` attribute: a folder inside ``runbooks.shell.cwd`` (else the config's
folder), run for real with ``pwd``; paths that leave it are refused by the parser and, for
what only the file system shows (a symlink out), by the step itself."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsbook.errors import InputError
from opsbook.runbooks.execute import run_step
from opsbook.runbooks.outcome import RunSettings, Status, StepContext
from opsbook.runbooks.parse import parse_runbook
from runbook_helpers import clock


def pwd_step(cwd: str | None):  # type: ignore[no-untyped-def]
    attr = f" cwd={cwd}" if cwd is not None else ""
    runbook, problems = parse_runbook(
        f"# T\n\n```sh {{name=where{attr}}}\npwd\n```\n", name="t", file="t.md"
    )
    assert not problems, problems
    assert runbook is not None
    return runbook.steps[0]


async def pwd(cwd: str | None, settings: RunSettings) -> str:
    outcome = await run_step(pwd_step(cwd), StepContext(settings=settings, clock=clock()))
    assert outcome.status is Status.OK, outcome.error
    return outcome.output.strip()


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "config" / "app" / "logs").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    return tmp_path


async def test_cwd_is_taken_from_runbooks_shell_cwd(tree: Path) -> None:
    settings = RunSettings(cwd=str(tree / "config" / "app"), root=str(tree / "config"))
    assert await pwd("logs", settings) == str(tree / "config" / "app" / "logs")
    assert await pwd(None, settings) == str(tree / "config" / "app")


async def test_cwd_is_taken_from_the_config_folder_without_shell_cwd(tree: Path) -> None:
    settings = RunSettings(root=str(tree / "config"))
    assert await pwd("app/logs", settings) == str(tree / "config" / "app" / "logs")


async def test_a_symlink_out_of_the_base_is_refused(tree: Path) -> None:
    (tree / "config" / "out").symlink_to(tree / "elsewhere")
    settings = RunSettings(root=str(tree / "config"))
    with pytest.raises(InputError, match=r"cwd='out': leaves .*config"):
        await run_step(pwd_step("out"), StepContext(settings=settings, clock=clock()))


async def test_a_missing_folder_is_named(tree: Path) -> None:
    settings = RunSettings(root=str(tree / "config"))
    with pytest.raises(InputError, match="cwd='nope': no such folder under"):
        await run_step(pwd_step("nope"), StepContext(settings=settings, clock=clock()))


@pytest.mark.parametrize("cwd", ["/tmp", "../elsewhere", "app/../../x"])
def test_the_parser_refuses_a_cwd_that_leaves_the_base(cwd: str) -> None:
    _, problems = parse_runbook(
        f"# T\n\n```sh {{name=where cwd={cwd}}}\npwd\n```\n", name="t", file="t.md"
    )
    assert [p.message for p in problems] == [
        f"cwd={cwd!r} must be a folder inside runbooks.shell.cwd (or the config's folder): "
        "no leading / and no '..'"
    ]
