"""Waiting for a long-running command to be told to stop: Ctrl-C, SIGTERM, or a time limit."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any, TypeAlias

POLL_S = 0.2

# What signal.signal() returns and accepts (typeshed's private _HANDLER).
Handler: TypeAlias = Callable[[int, FrameType | None], Any] | int | signal.Handlers | None


class StopSignal:
    """Turns SIGINT and SIGTERM into a flag for the duration of a ``with`` block.

    Handling the signals (instead of letting SIGINT raise ``KeyboardInterrupt`` wherever the main
    thread happens to be) lets the command shut its servers down in order. The previous handlers
    come back on exit. Outside the main thread, where Python allows no handlers, only the time
    limit and ``set()`` stop it.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self.reason = ""
        self._previous: dict[int, Handler] = {}

    def __enter__(self) -> StopSignal:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.set("Ctrl-C" if signum == signal.SIGINT else "SIGTERM")

    def set(self, reason: str) -> None:
        if not self._event.is_set():
            self.reason = reason
            self._event.set()

    def is_set(self) -> bool:
        return self._event.is_set()

    def wait(
        self, *, duration_s: float | None = None, child: subprocess.Popen[bytes] | None = None
    ) -> str:
        """Block until a signal, ``duration_s`` seconds, or the exit of ``child``; say which.

        Returns the reason: ``"Ctrl-C"``, ``"SIGTERM"``, ``"--for <n>s elapsed"`` or ``"child"``.
        A signal that arrives together with the child's exit wins, because a Ctrl-C in a terminal
        reaches the child too.
        """
        deadline = None if duration_s is None else time.monotonic() + duration_s
        while not self._event.wait(POLL_S):
            if child is not None and child.poll() is not None:
                # Let a SIGINT that killed the child reach our handler first.
                if not self._event.wait(POLL_S):
                    self.set("child")
            elif deadline is not None and time.monotonic() >= deadline:
                self.set(f"--for {duration_s:g}s elapsed")
        return self.reason
