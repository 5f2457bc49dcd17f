"""The config domain: ``opsbook.yaml`` -> one frozen, validated ``Config`` (STYLE.md R16).

Owns the schema, the YAML loader with file:line errors, and the unit parsers ("30s", "99.9%").
Imports only the root helpers (errors, redaction); never a domain, ``web`` or ``cli``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opsbook.config.checks import CheckSpec
    from opsbook.config.loader import load, loads
    from opsbook.config.schema import Component, Config, ServerConfig, Severity, StoreConfig
    from opsbook.config.units import format_duration, parse_duration, parse_percent, parse_size

__all__ = [
    "CheckSpec",
    "Component",
    "Config",
    "ServerConfig",
    "Severity",
    "StoreConfig",
    "format_duration",
    "load",
    "loads",
    "parse_duration",
    "parse_percent",
    "parse_size",
]

# Each name's module, imported on first use (PEP 562): the models cost a CLI client command
# 0.26 s of its start, and one that reads only the server's address from the file
# (opsbook.config.client) or formats a duration needs none of them (issue 15).
_HOME = {
    "CheckSpec": "checks",
    "Component": "schema",
    "Config": "schema",
    "ServerConfig": "schema",
    "Severity": "schema",
    "StoreConfig": "schema",
    "format_duration": "units",
    "load": "loader",
    "loads": "loader",
    "parse_duration": "units",
    "parse_percent": "units",
    "parse_size": "units",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
