"""Every file of the public status page, rendered once from a ``Snapshot``: the HTML, its
stylesheet, the feeds, the badges and the Statuspage v2 JSON, keyed by their path in a static
export. The server serves exactly these bytes (``web/status_site.py``) and ``opsbook
status-page export`` writes them, so the two can never differ.

Paths: the page's files sit under the page's folder (``/status/`` on the server, the root of
an export or of a custom domain); the JSON under ``api/v2/`` at the root, where Statuspage's
consumers look for it (``/api/v2/`` on the server).
"""

from __future__ import annotations

import mimetypes
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import structlog

from opsbook.config import Config
from opsbook.statuspage import badges, feeds, html, render_json
from opsbook.statuspage.snapshot import Snapshot

log = structlog.get_logger(__name__)

PAGE_PREFIX = "/status/"
JSON_FOLDER = "api/v2/"
STYLESHEET = "status.css"
LOGO_TYPES = {".svg", ".png", ".jpg", ".jpeg", ".gif", ".webp", ".ico"}


def page_url(config: Config) -> str:
    """The page's absolute address with a trailing slash, for feeds: ``status_page.base_url``
    (a custom domain serving the page at its root), else ``server.public_url`` + ``/status/``,
    else "" (unknown: feeds then link relatively)."""
    if config.status_page.base_url:
        return config.status_page.base_url.rstrip("/") + "/"
    if config.server.public_url:
        return config.server.public_url.rstrip("/") + PAGE_PREFIX
    return ""


def server_url(config: Config) -> str:
    """Where the opsbook server itself answers, no trailing slash: ``server.public_url``, else
    ``status_page.base_url`` (then the page's address is the server's); "" when neither is set.
    The subscribe form and the confirm and unsubscribe links live there, never on a static host."""
    found = config.server.public_url or config.status_page.base_url or ""
    return str(found).rstrip("/")


def subscribe_url(config: Config) -> str | None:
    """The page's "Subscribe" link: the server's form by its absolute address, so the same bytes
    work on the server and from a static export (which has no form). None when the page takes no
    email subscribers (the config then needs no address; with them it requires one)."""
    base = server_url(config)
    if config.status_page.subscribers.email_channel is None or not base:
        return None
    return f"{base}{PAGE_PREFIX}subscribe"


def logo_file(config: Config) -> tuple[str, bytes] | str | None:
    """The logo as served: a URL as is, a file as (``logo<suffix>``, its bytes); None when
    there is none or the file cannot be read (logged once per render, the page shows no logo)."""
    logo = config.status_page.logo
    if logo is None or "://" in logo:
        return logo
    path = Path(logo)
    suffix = path.suffix.lower()
    if suffix not in LOGO_TYPES:
        log.warning("status_page_logo_skipped", logo=logo, reason=f"not an image ({suffix!r})")
        return None
    try:
        return f"logo{suffix}", path.read_bytes()
    except OSError as exc:
        log.warning("status_page_logo_skipped", logo=logo, reason=exc.strerror or str(exc))
        return None


def stylesheet() -> bytes:
    return files("opsbook.statuspage").joinpath("templates", STYLESHEET).read_bytes()


def render_site(snapshot: Snapshot, config: Config) -> dict[str, bytes]:
    """Every file by its export path (``index.html``, ``history/index.html``, ``status.css``,
    ``feed.rss``, ``feed.atom``, ``badge/<id>/status.svg``, ``badge/<id>/uptime.svg``,
    ``badge/<id>/response.svg``, the logo file, ``api/v2/<name>.json``)."""
    logo = logo_file(config)
    out: dict[str, bytes] = {}
    logo_src: str | None = None
    if isinstance(logo, tuple):
        logo_src = logo[0]
        out[logo[0]] = logo[1]
    else:
        logo_src = logo
    url = page_url(config)
    out["index.html"] = html.index(snapshot, logo=logo_src, subscribe=subscribe_url(config))
    out["history/index.html"] = html.history(snapshot, logo=logo_src)
    out[STYLESHEET] = stylesheet()
    out["feed.rss"] = feeds.rss(snapshot, page_url=url)
    out["feed.atom"] = feeds.atom(snapshot, page_url=url)
    out.update(badges.component_badges(snapshot.components))
    for name, body in render_json.render(snapshot).items():
        out[JSON_FOLDER + name] = body
    return out


def server_path(path: str) -> str:
    """Where the server serves the export path ``path``: ``index.html`` -> ``/status/``,
    ``history/index.html`` -> ``/status/history/``, ``api/v2/x.json`` -> ``/api/v2/x.json``."""
    if path.startswith(JSON_FOLDER):
        return "/" + path
    if path == "index.html" or path.endswith("/index.html"):
        path = path.removesuffix("index.html")
    return PAGE_PREFIX + path


_KNOWN_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".rss": "application/rss+xml; charset=utf-8",
    ".atom": "application/atom+xml; charset=utf-8",
    ".svg": "image/svg+xml",
    ".json": "application/json",
}


@lru_cache(maxsize=4096)
def content_type(path: str) -> str:
    """The file's media type (cached: the server asks on every request it answers)."""
    suffix = Path(path).suffix
    return _KNOWN_TYPES.get(suffix) or mimetypes.guess_type(path)[0] or "application/octet-stream"
