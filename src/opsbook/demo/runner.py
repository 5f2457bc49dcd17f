"""Run a demo app on a real socket in a background thread, so a synchronous caller (the CLI) can
start it, do other work, and stop it cleanly."""

from __future__ import annotations

import asyncio
import threading

from aiohttp import web

START_TIMEOUT_S = 10.0


class DemoServer:
    """A demo app served on ``host:port`` from its own thread and event loop.

    ``start()`` returns once the socket is listening, and raises the ``OSError`` of a failed bind
    (e.g. the port is in use) for the caller to word in its own terms. ``stop()`` closes the
    listener and open connections and joins the thread; it is safe to call more than once.
    ``port=0`` picks a free port, readable from ``port`` after start.
    """

    def __init__(self, app: web.Application, *, host: str = "127.0.0.1", port: int = 8081) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, name="opsbook-demo-service", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S):
            raise TimeoutError(f"the demo service did not start within {START_TIMEOUT_S:g}s")
        if self._startup_error is not None:
            raise self._startup_error

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stopping.set)
        if self._thread.is_alive():
            self._thread.join(START_TIMEOUT_S)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        # No access log: the demo prints its own panel, and probes every few seconds would drown it.
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            self.port = runner.addresses[0][1]
        except BaseException as exc:  # handed to the starting thread, which re-raises it
            self._startup_error = exc
            self._ready.set()
            await runner.cleanup()
            return
        self._ready.set()
        try:
            await self._stopping.wait()
        finally:
            await runner.cleanup()
