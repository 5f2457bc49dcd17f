"""Shared by the notify tests: a webhook receiver that records what it gets, and hand-built
configs, alerts and notices."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from opsbook.alerts.models import Alert, AlertNotice, AlertSource, AlertStatus
from opsbook.alerts.records import fingerprint
from opsbook.config import Config

T0 = datetime(2026, 11, 22, 13, 9, 10, tzinfo=UTC)
HMAC_SECRET = "whsec-4f1b2c3d4e5f60718293a4b5"


@dataclass
class Received:
    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Answer:
    status: int = 200
    text: str = "ok"
    headers: Mapping[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    echo: bool = False
    """Answer with the request's path, query and headers (a receiver that echoes secrets)."""


class Sink:
    """Records every request; answers from a script (``answer(...)``), then 200 "ok"."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.script: list[Answer] = []
        self.always: Answer | None = None
        self.url = ""
        self._arrived = asyncio.Event()

    def answer(self, *answers: Answer) -> None:
        self.script.extend(answers)

    async def wait_for(self, count: int, *, timeout_s: float = 20) -> None:
        async def until() -> None:
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(until(), timeout_s)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(
            Received(request.method, request.path_qs, dict(request.headers), await request.read())
        )
        self._arrived.set()
        answer = self.script.pop(0) if self.script else (self.always or Answer())
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        text = answer.text
        if answer.echo:
            text = json.dumps({"path": request.path_qs, "headers": dict(request.headers)})
        return web.Response(status=answer.status, text=text, headers=dict(answer.headers))


def make_config(**channels: Mapping[str, Any]) -> Config:
    """A config whose ``channels`` are webhooks with the given settings."""
    return Config.model_validate(
        {
            "service": "shop",
            "channels": {name: {"webhook": dict(spec)} for name, spec in channels.items()},
        }
    )


def make_alert(
    alertname: str = "api-down",
    *,
    alert_id: int = 1,
    status: AlertStatus = AlertStatus.FIRING,
    labels: Mapping[str, str] | None = None,
    **changes: Any,
) -> Alert:
    all_labels = {"alertname": alertname, "severity": "SEV1", "check": "api", **(labels or {})}
    alert = Alert(
        id=alert_id,
        fingerprint=fingerprint(all_labels),
        source=AlertSource.RULE,
        rule=alertname,
        integration=None,
        dedup_key=None,
        check_id="api",
        labels=all_labels,
        annotations={"summary": "api down: [STATUS] (500) == 200", "runbook": "site-down"},
        severity="SEV1",
        status=status,
        started_at=T0 - timedelta(seconds=40),
        fired_at=T0,
        resolved_at=None,
        ends_at=None,
        last_seen_at=T0,
        updated_at=T0,
        values={"status": 500, "latency_ms": 12.5},
    )
    return replace(alert, **changes)


def make_notice(
    *alerts: Alert, receiver: str = "oncall", sequence: int = 1, **changes: Any
) -> AlertNotice:
    alerts = alerts or (make_alert(),)
    group_key = f'{receiver}:{{alertname="{alerts[0].labels["alertname"]}"}}'
    notice = AlertNotice(
        key=f"{group_key}#{sequence}",
        receiver=receiver,
        group_key=group_key,
        group_labels={"alertname": alerts[0].labels["alertname"]},
        status="firing",
        reason="first notification",
        alerts=tuple(alerts),
        at=T0,
        external_url="https://ops.example.com/",
    )
    return replace(notice, **changes)
