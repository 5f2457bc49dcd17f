"""Load every runbook in the configured folder into one fixed ``Registry``, and check what
runbooks and config say about each other (``db=``, alert rules' ``runbook:``, front matter
``alerts:``). Every mistake in every file is collected; one bad file does not stop the rest.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from opsbook.config import Config
from opsbook.config.document import read_document
from opsbook.config.runbooks import DEFAULT_PATH
from opsbook.errors import Problem
from opsbook.runbooks.models import Registry, Runbook
from opsbook.runbooks.parse import STEP_ID, alert_positions, parse_runbook
from opsbook.runbooks.routines import alert_problems, channel_problems


@dataclass(frozen=True)
class Loaded:
    """``folder`` is None when no runbooks are configured and the default folder is absent."""

    registry: Registry
    problems: tuple[Problem, ...]
    folder: Path | None


def _have(names: Collection[str]) -> str:
    return f"; have: {', '.join(sorted(names))}" if names else ""


def load_folder(
    folder: Path,
    *,
    databases: Collection[str] | None = None,
    alert_rules: Collection[str] | None = None,
) -> tuple[Registry, list[Problem]]:
    """Parse every ``*.md`` under ``folder`` (README.md and hidden files excepted).

    ``databases`` / ``alert_rules``: the names ``db=`` and front matter ``alerts:`` may use;
    None skips that check (the config itself is broken). Returns the registry of the runbooks
    that loaded and every problem, ordered by file then position.
    """
    runbooks: dict[str, Runbook] = {}
    where: dict[str, str] = {}
    problems: list[Problem] = []
    files = sorted(
        p
        for p in folder.rglob("*.md")
        if p.is_file()
        and p.stem.lower() != "readme"
        and not any(part.startswith(".") for part in p.relative_to(folder).parts)
    )
    for path in files:
        file = str(path)
        name = path.stem
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(file, 0, 0, "", f"is not UTF-8 text ({exc.reason})"))
            continue
        except OSError as exc:
            problems.append(Problem(file, 0, 0, "", f"cannot be read: {exc.strerror}"))
            continue
        found: list[Problem] = []
        if not STEP_ID.fullmatch(name):
            found.append(
                Problem(
                    file,
                    1,
                    1,
                    "",
                    f"{name!r} is not a runbook name (rename the file: lowercase letters, "
                    "digits, '-' and '_')",
                )
            )
        elif name in where:
            found.append(
                Problem(file, 1, 1, "", f"runbook name {name!r} is already used by {where[name]}")
            )
        runbook, parsed = parse_runbook(text, name=name, file=file)
        found += parsed
        if runbook is not None:
            found += _cross_problems(runbook, text, databases=databases, alert_rules=alert_rules)
        if found:
            problems += sorted(found, key=lambda p: (p.line, p.column))
        elif runbook is not None:
            runbooks[name] = runbook
            where[name] = file
    return Registry(runbooks), problems


def _cross_problems(
    runbook: Runbook,
    text: str,
    *,
    databases: Collection[str] | None,
    alert_rules: Collection[str] | None,
) -> list[Problem]:
    out: list[Problem] = []
    lines = text.split("\n")
    if databases is not None:
        for step in runbook.steps:
            if step.db is not None and step.db not in databases:
                raw = lines[step.at.line - 1]
                column = raw.find(f"db={step.db}") + 1 or step.at.column
                out.append(
                    Problem(
                        runbook.path,
                        step.at.line,
                        column,
                        "",
                        f"db={step.db!r} names no database (add it under runbooks.databases in "
                        f"the config{_have(databases)})",
                    )
                )
    if alert_rules is not None:
        positions = alert_positions(text)
        for (line, column), alert in zip(positions, runbook.alerts, strict=False):
            if alert not in alert_rules:
                out.append(
                    Problem(
                        runbook.path,
                        line,
                        column,
                        "",
                        f"alerts: no alert rule named {alert!r} in the config{_have(alert_rules)}",
                    )
                )
    return out


def link_name(value: str) -> str | None:
    """The runbook an alert rule's ``runbook:`` names: ``site-down``, ``runbooks/site-down.md``
    -> ``site-down``; None for a URL (a wiki page is not ours to check)."""
    if "://" in value:
        return None
    return Path(value).stem if value.endswith(".md") else value


def _alert_link_problems(
    config: Config, config_file: str, present: Collection[str], environ: Mapping[str, str]
) -> list[Problem]:
    # ``present``: every runbook file's name, loaded or not (a broken one has its own errors).
    wrong = [
        (name, rule.runbook, target)
        for name, rule in config.alerts.items()
        if rule.runbook and (target := link_name(rule.runbook)) is not None
        if target not in present
    ]
    if not wrong:
        return []
    try:
        doc = read_document(Path(config_file).read_text(encoding="utf-8"), environ=environ)
        where = doc.where
    except OSError:
        where = {}
    out = []
    for name, _value, target in wrong:
        at = where.get(("alerts", name, "runbook"))
        line, column = (at.line, at.column) if at else (0, 0)
        out.append(
            Problem(
                config_file,
                line,
                column,
                f"alerts.{name}.runbook",
                f"no runbook named {target!r}{_have(present)}",
            )
        )
    return out


def _raw_path(config_file: str) -> tuple[str, bool]:
    # The config did not load: find runbooks.path in the raw YAML so its runbooks are still
    # checked in the same run.
    try:
        data = yaml.safe_load(Path(config_file).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return DEFAULT_PATH, False
    raw = data.get("runbooks") if isinstance(data, dict) else None
    if isinstance(raw, str) and raw:
        return raw, True
    if isinstance(raw, dict) and isinstance(raw.get("path"), str) and raw["path"]:
        return raw["path"], True
    return DEFAULT_PATH, isinstance(data, dict) and "runbooks" in data


def load_for_config(
    config_file: str | os.PathLike[str],
    config: Config | None,
    *,
    environ: Mapping[str, str] | None = None,
) -> Loaded:
    """The runbooks of the config at ``config_file``: ``runbooks.path`` relative to its folder
    (default ``runbooks/``, which may be absent). ``config`` None means the config did not load:
    the runbooks are still parsed, without the checks that need the config."""
    file = os.fspath(config_file)
    if config is not None:
        path, configured = config.runbooks.path, "runbooks" in config.model_fields_set
    else:
        path, configured = _raw_path(file)
    folder = Path(file).parent / path
    if not folder.is_dir():
        if not configured:
            return Loaded(Registry(), (), None)
        problem = Problem(file, 0, 0, "runbooks.path", f"no such folder: {folder}")
        if config is not None:
            doc = read_document(Path(file).read_text(encoding="utf-8"), environ=environ or {})
            at = doc.where.get(("runbooks", "path")) or doc.where.get(("runbooks",))
            if at is not None:
                problem = Problem(file, at.line, at.column, "runbooks.path", problem.message)
        return Loaded(Registry(), (problem,), folder)
    databases = set(config.runbooks.databases) if config is not None else None
    alert_rules = set(config.alerts) if config is not None else None
    registry, problems = load_folder(folder, databases=databases, alert_rules=alert_rules)
    if config is not None:
        present = {p.stem for p in folder.rglob("*.md")}
        problems += _alert_link_problems(config, file, present, environ or os.environ)
        problems += channel_problems(registry, set(config.channels))
        problems += alert_problems(registry, set(config.severities))
    return Loaded(registry, tuple(problems), folder)
