"""Writing the page's files into a folder (``opsbook status-page export``) and keeping that
folder current while the server runs (``status_page.publish``): re-export when a file changed,
then run ``publish.command`` there to push it to a static host.

The command is an argument list, never a shell line (the config splits a string like a shell
would, ``config/status_page.py``), runs in the folder with ``publish.timeout``; its failure is
logged (its output with secrets masked) and counted, and never stops the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import structlog

from opsbook.config import Config
from opsbook.config.status_page import PublishConfig
from opsbook.errors import InputError
from opsbook.redaction import mask_values, redact_text
from opsbook.tasks import TaskFailures, describe_error

log = structlog.get_logger(__name__)

MANIFEST = ".opsbook-export"
"""Lists the files the last export wrote, so the next one removes those it no longer makes
(a component taken off the page loses its badges)."""
TASK = "status_publish"
DEBOUNCE_S = 1.0
RETRY_AFTER_FAILURE_S = 30.0
OUTPUT_SHOWN = 2000


@dataclass(frozen=True)
class Written:
    changed: int
    unchanged: int
    removed: int


def anchored(config: Config, *, folder: Path) -> Config:
    """``config`` with ``status_page.publish.dir`` and a logo file path made absolute against
    ``folder`` (the config file's folder), as the docs promise."""
    section = config.status_page
    update: dict[str, object] = {}
    if section.logo and "://" not in section.logo:
        update["logo"] = str((folder / section.logo).resolve())
    if section.publish is not None:
        publish_dir = str((folder / section.publish.dir).resolve())
        update["publish"] = section.publish.model_copy(update={"dir": publish_dir})
    if not update:
        return config
    return config.model_copy(update={"status_page": section.model_copy(update=update)})


def _safe(path: str) -> str:
    parts = Path(path).parts
    if not parts or Path(path).is_absolute() or ".." in parts:
        raise InputError(f"refusing to write {path!r} outside the export folder", field="path")
    return path


def write_site(folder: Path, files: Mapping[str, bytes]) -> Written:
    """Write ``files`` under ``folder`` (created if missing). A file whose bytes are already
    there is left alone; each new one is written beside it and renamed over it, so a static
    server never serves half a file. Files the previous export wrote and this one does not
    make are removed. Raises ``OSError`` as it comes (the caller names the folder)."""
    folder.mkdir(parents=True, exist_ok=True)
    changed = unchanged = removed = 0
    for name, body in sorted(files.items()):
        target = folder / _safe(name)
        try:
            if target.read_bytes() == body:
                unchanged += 1
                continue
        except OSError:
            pass
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.part")
        partial.write_bytes(body)
        partial.replace(target)
        changed += 1
    manifest = folder / MANIFEST
    try:
        before = set(manifest.read_text(encoding="utf-8").splitlines())
    except OSError:
        before = set()
    for stale in sorted(before - set(files)):
        try:
            (folder / _safe(stale)).unlink()
            removed += 1
        except (OSError, InputError):
            pass
    manifest.write_text("".join(f"{name}\n" for name in sorted(files)), encoding="utf-8")
    return Written(changed, unchanged, removed)


@dataclass(frozen=True)
class CommandResult:
    returncode: int | None
    """None: it ran past its timeout and was killed."""
    output: str
    """stdout and stderr together, secrets masked, the last ``OUTPUT_SHOWN`` characters."""


async def run_command(
    command: Sequence[str], *, cwd: Path, timeout_s: float, secrets: Sequence[str]
) -> CommandResult:
    """Run ``command`` (no shell) in ``cwd``; never raises for the command's own failure (a
    missing program is returncode 127 with the reason as output)."""
    try:
        process = await asyncio.create_subprocess_exec(
            *command,
            cwd=cwd,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
    except OSError as exc:
        return CommandResult(127, mask_values(describe_error(exc), secrets))
    try:
        out, _ = await asyncio.wait_for(process.communicate(), timeout_s)
        code: int | None = process.returncode
    except TimeoutError:
        process.kill()
        out, _ = await process.communicate()
        code = None
    text = redact_text(mask_values(out.decode(errors="replace"), secrets))
    return CommandResult(code, text[-OUTPUT_SHOWN:])


class Publisher:
    """Keeps ``publish.dir`` equal to what the server serves.

    1. Every ``DEBOUNCE_S`` it asks ``render`` for the files (the server's cache: a new
       rendering only after a change), so there is at most one export per second.
    2. When they differ from the last export, it writes them (``write_site``) and runs
       ``publish.command`` if set.
    3. A failed write or command is logged and counted (``failures``, task ``status_publish``)
       and tried again on the next change, or after ``RETRY_AFTER_FAILURE_S``.
    """

    def __init__(
        self,
        publish: PublishConfig,
        *,
        render: Callable[[], Mapping[str, bytes]],
        secrets: Sequence[str] = (),
        failures: TaskFailures | None = None,
        report: Callable[[BaseException | None], None] | None = None,
        debounce_s: float = DEBOUNCE_S,
    ) -> None:
        self.publish = publish
        self.render = render
        self.secrets = list(secrets)
        self.failures = failures if failures is not None else TaskFailures()
        self.report = report
        self.debounce_s = debounce_s
        self.exports = 0
        self.command_failures = 0
        self._last: Mapping[str, bytes] | None = None
        self._tried: Mapping[str, bytes] | None = None
        self._failed_at: float | None = None

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            files = await asyncio.to_thread(self.render)
            due = self._failed_at is not None and (
                loop.time() - self._failed_at >= RETRY_AFTER_FAILURE_S
            )
            if files != self._last and (files is not self._tried or due):
                self._tried = files
                self._failed_at = None if await self.once(files) else loop.time()
            await asyncio.sleep(self.debounce_s)

    async def once(self, files: Mapping[str, bytes]) -> bool:
        """Export ``files`` and run the command; True when both went well."""
        folder = Path(self.publish.dir)
        try:
            written = await asyncio.to_thread(write_site, folder, files)
        except (OSError, InputError) as exc:
            self._fail(exc, "status_publish_export_failed", folder=str(folder))
            return False
        self.exports += 1
        log.info(
            "status_published",
            folder=str(folder),
            changed=written.changed,
            removed=written.removed,
        )
        if self.publish.command:
            result = await run_command(
                self.publish.command,
                cwd=folder,
                timeout_s=self.publish.timeout.total_seconds(),
                secrets=self.secrets,
            )
            if result.returncode != 0:
                self.command_failures += 1
                why = "timed out" if result.returncode is None else f"exit {result.returncode}"
                self._fail(
                    RuntimeError(f"publish command {why}"),
                    "status_publish_command_failed",
                    command=self.publish.command[0],
                    output=result.output,
                )
                return False
        self._last = files
        if self.report is not None:
            self.report(None)
        return True

    def _fail(self, exc: BaseException, event: str, **fields: str) -> None:
        self.failures.item_failed(TASK)
        if self.report is not None:
            self.report(exc)
        log.warning(event, error=mask_values(describe_error(exc), self.secrets), **fields)
