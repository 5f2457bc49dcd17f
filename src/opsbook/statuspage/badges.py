"""SVG badges per component in the shields.io "flat" look: ``status``, 30-day ``uptime`` and
``response`` (the 24-hour p95 latency, ``latency.py``).

Text widths come from a fixed table of Verdana 11px advance widths (the font shields.io
measures with; its anafanafo package ships the same kind of table), so a badge is the same
bytes wherever it is rendered: no font is needed at build time.
"""

from __future__ import annotations

from xml.sax.saxutils import escape, quoteattr

from opsbook.statuspage.snapshot import STATUS_LABELS, ComponentStatus, ComponentView

UPTIME_DAYS = 30

# Verdana at 11px, advance widths in px for printable ASCII (glyph advance / 2048 em * 11).
# fmt: off
_ADVANCES = (
    3.87, 4.33, 5.05, 9.0, 6.99, 11.84, 7.99, 2.95, 4.99, 4.99, 6.99, 9.0, 4.0, 4.99, 4.0, 4.99,
    6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 6.99, 4.99, 4.99, 9.0, 9.0, 9.0, 6.0,
    11.0, 7.52, 7.54, 7.68, 8.48, 6.96, 6.32, 8.53, 8.27, 4.63, 5.0, 7.62, 6.12, 9.27, 8.23, 8.66,
    6.63, 8.66, 7.64, 7.52, 6.78, 8.05, 7.52, 10.88, 7.54, 6.77, 7.54, 4.99, 4.99, 4.99, 9.0, 6.99,
    6.99, 6.61, 6.85, 5.73, 6.85, 6.55, 3.87, 6.85, 6.96, 3.02, 3.79, 6.51, 3.02, 10.7, 6.96, 6.68,
    6.85, 6.85, 4.69, 5.73, 4.33, 6.96, 6.51, 9.0, 6.51, 6.51, 5.78, 6.98, 4.99, 6.98, 9.0,
)
# fmt: on
_WIDTHS = {chr(32 + i): width for i, width in enumerate(_ADVANCES)}
_OTHER_WIDTH = 8.0
"""A character outside the table (accents, CJK): wider than most, so text never overflows."""

STATUS_COLORS: dict[ComponentStatus, str] = {
    "operational": "#4c1",
    "under_maintenance": "#007ec6",
    "degraded_performance": "#dfb317",
    "partial_outage": "#fe7d37",
    "major_outage": "#e05d44",
}
NO_DATA_COLOR = "#9f9f9f"


def text_width(text: str) -> float:
    return sum(_WIDTHS.get(ch, _OTHER_WIDTH) for ch in text)


def badge(label: str, message: str, color: str) -> bytes:
    """A flat badge: grey ``label`` on the left, ``message`` on ``color`` on the right."""
    left = round(text_width(label) + 10)
    right = round(text_width(message) + 10)
    total = left + right
    title = f"{label}: {message}"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f"aria-label={quoteattr(title)}>",
        f"<title>{escape(title)}</title>",
        '<linearGradient id="s" x2="0" y2="100%"><stop offset="0" stop-color="#bbb" '
        'stop-opacity=".1"/><stop offset="1" stop-opacity=".1"/></linearGradient>',
        f'<clipPath id="r"><rect width="{total}" height="20" rx="3" fill="#fff"/></clipPath>',
        f'<g clip-path="url(#r)"><rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{color}"/>'
        f'<rect width="{total}" height="20" fill="url(#s)"/></g>',
        '<g fill="#fff" text-anchor="middle" font-family="Verdana,Geneva,DejaVu Sans,sans-serif" '
        'text-rendering="geometricPrecision" font-size="110">',
    ]
    # Text is drawn at 10x and scaled down, as shields does, for sub-pixel placement.
    for text, x, width in (
        (label, left * 5, left - 10),
        (message, left * 10 + right * 5, right - 10),
    ):
        length = width * 10
        parts.append(
            f'<text aria-hidden="true" x="{x}" y="150" fill="#010101" fill-opacity=".3" '
            f'transform="scale(.1)" textLength="{length}">{escape(text)}</text>'
            f'<text x="{x}" y="140" transform="scale(.1)" fill="#fff" '
            f'textLength="{length}">{escape(text)}</text>'
        )
    parts.append("</g></svg>")
    return "".join(parts).encode()


def uptime(component: ComponentView, *, days: int = UPTIME_DAYS) -> float | None:
    """The mean availability of the last ``days`` days that have data; None when none has."""
    known = [d.availability for d in component.availability[-days:] if d.availability is not None]
    return sum(known) / len(known) if known else None


def format_percent(value: float) -> str:
    """``99.95`` -> "99.95%", ``100.0`` -> "100%": never rounded up to 100 when below it."""
    if value >= 100:
        return "100%"
    text = f"{int(value * 100) / 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def _uptime_color(value: float) -> str:
    for floor, color in ((99.9, "#4c1"), (99.0, "#97ca00"), (95.0, "#dfb317"), (90.0, "#fe7d37")):
        if value >= floor:
            return color
    return "#e05d44"


RESPONSE_LABEL = "response p95 24h"
RESPONSE_COLORS = ((200.0, "#4c1"), (500.0, "#97ca00"), (1000.0, "#dfb317"), (2000.0, "#fe7d37"))
"""Upper bounds in ms (below each: its colour), as shields colours a figure; else red."""


def format_ms(value: float) -> str:
    """``0.4`` -> "<1 ms", ``123.4`` -> "123 ms", ``1234`` -> "1.2 s", ``12345`` -> "12 s"."""
    if value < 1:
        return "<1 ms"
    if value < 999.5:
        return f"{round(value)} ms"
    if value < 9950:
        return f"{value / 1000:.1f} s"
    return f"{round(value / 1000)} s"


def _response_color(value: float) -> str:
    for ceiling, color in RESPONSE_COLORS:
        if value < ceiling:
            return color
    return "#e05d44"


def response_badge(component: ComponentView) -> bytes:
    value = component.response_p95_ms
    if value is None:
        return badge(RESPONSE_LABEL, "no data", NO_DATA_COLOR)
    return badge(RESPONSE_LABEL, format_ms(value), _response_color(value))


def status_badge(component: ComponentView) -> bytes:
    status = component.status
    return badge(component.name, STATUS_LABELS[status].lower(), STATUS_COLORS[status])


def uptime_badge(component: ComponentView) -> bytes:
    value = uptime(component)
    label = f"uptime {UPTIME_DAYS}d"
    if value is None:
        return badge(label, "no data", NO_DATA_COLOR)
    return badge(label, format_percent(value), _uptime_color(value))


def component_badges(components: tuple[ComponentView, ...]) -> dict[str, bytes]:
    """``badge/<id>/status.svg``, ``badge/<id>/uptime.svg`` and ``badge/<id>/response.svg``
    for each component (a folder per component, so no component id can name another's badge)."""
    out: dict[str, bytes] = {}
    for c in components:
        out[f"badge/{c.id}/status.svg"] = status_badge(c)
        out[f"badge/{c.id}/uptime.svg"] = uptime_badge(c)
        out[f"badge/{c.id}/response.svg"] = response_badge(c)
    return out
