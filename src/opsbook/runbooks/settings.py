"""``RunSettings`` from the ``runbooks:`` config section, the one place both the server's runs
(``web/run_tasks.py``) and auto-diagnostics build them, so they run steps alike."""

from __future__ import annotations

from pathlib import Path

from opsbook.config import Config
from opsbook.runbooks.outcome import RunSettings


def run_settings(config: Config, *, config_dir: Path | None) -> RunSettings:
    """Executor settings from ``runbooks.shell``. A relative ``cwd`` is taken from
    ``config_dir`` (the config file's folder; ``None``: the server's working directory), which
    is also the ``root`` of a step's own ``cwd=`` when ``runbooks.shell.cwd`` is unset.
    ``env`` values are ``Secret``s in the config, revealed here for the shell only; a run
    masks them with the config's other secrets (``redaction.secret_values(config)``)."""
    shell = config.runbooks.shell
    cwd = shell.cwd
    if cwd is not None and config_dir is not None and not Path(cwd).is_absolute():
        cwd = str(config_dir / cwd)
    return RunSettings(
        output_limit_bytes=shell.output_limit,
        default_timeout=shell.timeout,
        cwd=cwd,
        root=str(config_dir) if config_dir is not None else None,
        env={name: value.reveal() for name, value in shell.env.items()},
    )
