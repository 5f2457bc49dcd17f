"""What running one step gives back (``StepOutcome``), what every executor shares (settings,
the context of a run, capped and masked output capture, the timeout/cancel race), and nothing
kind-specific. The kinds live in ``shell``, ``sql`` and ``http``; ``execute`` dispatches."""

from __future__ import annotations

import asyncio
import codecs
import enum
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from opsbook.clock import SYSTEM_CLOCK, Clock
from opsbook.redaction import mask_values
from opsbook.runbooks.models import Step
from opsbook.runbooks.values import Value

if TYPE_CHECKING:
    import aiohttp

T = TypeVar("T")
OutputCallback = Callable[[str], object]


class Status(enum.StrEnum):
    OK = "ok"
    FAILED = "failed"
    TIMEOUT = "timeout"
    CANCELLED = "cancelled"
    REFUSED = "refused"


@dataclass(frozen=True)
class HttpRequestRecord:
    """The request as sent, masked: ``url`` through ``redact_url``, secret headers as ``***``."""

    method: str
    url: str
    headers: tuple[tuple[str, str], ...]
    body: str


@dataclass(frozen=True)
class HttpResponseRecord:
    status: int
    headers: tuple[tuple[str, str], ...]
    body: str
    truncated: bool


@dataclass(frozen=True)
class StepOutcome:
    """One step's run. Every text field is already masked (secrets given to the run replaced by
    ``***``) and capped; it is safe to store, log and show. ``rendered`` is what ran (the shell
    script with env references, the SQL with values shown as literals, the HTTP request line)."""

    step_id: str
    digest: str
    kind: str
    status: Status
    started_at: datetime
    ended_at: datetime
    duration: timedelta
    output: str = ""
    truncated: bool = False
    error: str = ""
    rendered: str = ""
    dry_run: bool = False
    exit_code: int | None = None
    http_status: int | None = None
    columns: tuple[str, ...] = ()
    rows: tuple[tuple[str | None, ...], ...] = ()
    request: HttpRequestRecord | None = None
    response: HttpResponseRecord | None = None

    @property
    def is_ok(self) -> bool:
        return self.status is Status.OK


@dataclass(frozen=True)
class RunSettings:
    """Limits and places from config. ``base_env`` is the shell's minimal environment; ``None``
    takes ``PATH`` and ``HOME`` from the server's own environment at run time. ``cwd`` is
    where shell steps run (``None``: the server's own); ``root`` is the folder a step's
    ``cwd=`` attribute is taken from, and may not leave, when ``cwd`` is unset (the config
    file's folder)."""

    output_limit_bytes: int = 1_000_000
    row_limit: int = 200
    default_timeout: timedelta = timedelta(minutes=5)
    lock_timeout: timedelta = timedelta(seconds=5)
    kill_grace: timedelta = timedelta(seconds=2)
    shell: str = "bash"
    cwd: str | None = None
    root: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    base_env: Mapping[str, str] | None = None


@dataclass(frozen=True)
class StepContext:
    """Everything a run of one step needs besides the step. ``values`` come from
    ``values.check_values``; ``secrets`` are every plaintext to mask (resolved DSNs, tokens,
    secret parameter values). ``cancel`` set means stop now; ``on_output`` gets masked chunks
    of output as they arrive (shell) or once (other kinds)."""

    values: Mapping[str, Value] = field(default_factory=dict)
    secrets: Sequence[str] = ()
    settings: RunSettings = field(default_factory=RunSettings)
    clock: Clock = SYSTEM_CLOCK
    cancel: asyncio.Event | None = None
    on_output: OutputCallback | None = None
    dry_run: bool = False
    dsn: str | None = None
    session: aiohttp.ClientSession | None = None

    def mask(self, text: str) -> str:
        return mask_values(text, self.secrets)


class Stopwatch:
    """Start time and duration from the injected clock; ``outcome`` builds the result."""

    def __init__(self, step: Step, ctx: StepContext) -> None:
        self._step = step
        self._ctx = ctx
        self.started_at = ctx.clock.now()
        self._t0 = ctx.clock.monotonic()

    def outcome(self, status: Status, **fields: Any) -> StepOutcome:
        clock = self._ctx.clock
        elapsed = max(0.0, clock.monotonic() - self._t0)
        return StepOutcome(
            step_id=self._step.id,
            digest=self._step.digest,
            kind=str(self._step.kind),
            status=status,
            started_at=self.started_at,
            ended_at=clock.now(),
            duration=timedelta(seconds=elapsed),
            dry_run=self._ctx.dry_run,
            **fields,
        )


class Capture:
    """Output bytes in, masked text out, at most ``limit_bytes`` kept.

    Bytes past the cap are counted and dropped (the reader keeps reading, so the child never
    blocks on a full pipe). Text is decoded incrementally (a UTF-8 character split between two
    reads survives; invalid bytes become U+FFFD). A secret split between two reads must not
    leak through ``on_output``, so the last ``len(longest secret) - 1`` characters are held
    back until more text arrives or ``close`` flushes them.
    """

    def __init__(
        self, *, limit_bytes: int, secrets: Sequence[str], on_output: OutputCallback | None = None
    ) -> None:
        self._limit = limit_bytes
        self._kept = 0
        self._secrets = [s for s in secrets if len(s) >= 4]
        self._hold = max((len(s) for s in self._secrets), default=1) - 1
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""
        self._parts: list[str] = []
        self._on_output = on_output
        self.truncated = False

    def feed(self, data: bytes) -> None:
        room = self._limit - self._kept
        if len(data) > room:
            self.truncated = True
            data = data[: max(room, 0)]
        if not data:
            return
        self._kept += len(data)
        self._pending += self._decoder.decode(data)
        self._emit(final=False)

    def close(self) -> str:
        """Flush what was held back; the whole masked text."""
        self._pending += self._decoder.decode(b"", final=True)
        self._emit(final=True)
        return "".join(self._parts)

    def _emit(self, *, final: bool) -> None:
        text = self._pending
        cut = len(text) if final else len(text) - self._hold
        if cut <= 0:
            return
        # Never cut through a secret that is already whole in the pending text.
        moved = True
        while moved:
            moved = False
            for secret in self._secrets:
                start = text.find(secret, max(0, cut - len(secret) + 1))
                if 0 <= start < cut < start + len(secret):
                    cut, moved = start + len(secret), True
        chunk = mask_values(text[:cut], self._secrets)
        self._pending = text[cut:]
        if chunk:
            self._parts.append(chunk)
            if self._on_output is not None:
                self._on_output(chunk)


async def race(
    work: Awaitable[T], *, limit: timedelta, cancel: asyncio.Event | None
) -> tuple[T | None, Status | None]:
    """Await ``work`` until it finishes, ``limit`` passes or ``cancel`` is set.

    Returns ``(result, None)`` when it finished, or ``(None, TIMEOUT | CANCELLED)`` after
    cancelling it. Exceptions of ``work`` propagate. Callers that must undo something on the
    far side (a server-side query) do it inside ``work`` when it is cancelled.
    """
    task = asyncio.ensure_future(work)
    watchers: set[asyncio.Future[Any]] = {task}
    stop = asyncio.ensure_future(cancel.wait()) if cancel is not None else None
    if stop is not None:
        watchers.add(stop)
    try:
        done, _ = await asyncio.wait(
            watchers, timeout=limit.total_seconds(), return_when=asyncio.FIRST_COMPLETED
        )
    except asyncio.CancelledError:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise
    finally:
        if stop is not None:
            stop.cancel()
    if task in done:
        return task.result(), None
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return None, Status.CANCELLED if stop is not None and stop in done else Status.TIMEOUT


def cap_text(text: str, limit_bytes: int) -> tuple[str, bool]:
    """``text`` cut to at most ``limit_bytes`` of UTF-8, and whether it was cut."""
    data = text.encode()
    if len(data) <= limit_bytes:
        return text, False
    return data[:limit_bytes].decode(errors="ignore"), True
