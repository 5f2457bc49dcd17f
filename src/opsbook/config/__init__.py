"""The config domain: ``opsbook.yaml`` -> one frozen, validated ``Config`` (STYLE.md R16).

Owns the schema, the YAML loader with file:line errors, and the unit parsers ("30s", "99.9%").
Imports only the root helpers (errors, redaction); never a domain, ``web`` or ``cli``.
"""

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
