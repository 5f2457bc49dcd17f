"""The panels `opsbook demo` and `opsbook demo-service` print say where pages land."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

from rich.console import Console, RenderableType

from opsbook.cli.demo_panel import demo_panel, service_panel


def _render(panel: RenderableType) -> str:
    out = StringIO()
    Console(file=out, width=120, color_system=None).print(panel)
    return out.getvalue()


def test_the_demo_panel_shows_where_pages_land() -> None:
    text = _render(
        demo_panel(
            service_url="http://127.0.0.1:8081",
            opsbook_url="http://127.0.0.1:8080",
            config=Path("examples/demo/opsbook.yaml"),
            log=Path(".opsbook-demo/serve.log"),
        )
    )
    assert "Pages and incident updates: http://127.0.0.1:8081/_inbox" in text


def test_the_service_panel_shows_the_inbox_of_its_own_port() -> None:
    text = _render(service_panel("http://127.0.0.1:9999"))
    assert "Pages and incident updates: http://127.0.0.1:9999/_inbox" in text
