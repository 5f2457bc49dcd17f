"""StopSignal: how a long-running command learns it must stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading

from opsbook.cli.stop import StopSignal


def test_it_stops_after_the_time_limit() -> None:
    with StopSignal() as stop:
        assert stop.wait(duration_s=0.1) == "--for 0.1s elapsed"


def test_it_turns_sigterm_into_a_reason() -> None:
    with StopSignal() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(duration_s=5) == "SIGTERM"


def test_it_turns_sigint_into_a_reason_instead_of_keyboard_interrupt() -> None:
    with StopSignal() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.wait(duration_s=5) == "Ctrl-C"


def test_it_restores_the_previous_handlers() -> None:
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with StopSignal():
        assert signal.getsignal(signal.SIGTERM) not in before
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_it_reports_a_child_that_exits() -> None:
    with subprocess.Popen([sys.executable, "-c", "pass"]) as child, StopSignal() as stop:
        assert stop.wait(duration_s=10, child=child) == "child"


def test_the_first_reason_wins() -> None:
    stop = StopSignal()
    stop.set("first")
    stop.set("second")
    assert stop.wait() == "first"


def test_it_works_outside_the_main_thread_without_handlers() -> None:
    reasons: list[str] = []

    def run() -> None:
        with StopSignal() as stop:
            reasons.append(stop.wait(duration_s=0.05))

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(5)
    assert reasons == ["--for 0.05s elapsed"]
