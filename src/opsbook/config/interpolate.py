"""``${VAR}`` and ``${VAR:-default}`` in config strings, read from an injected environment.

``$${`` is a literal ``${``. As in Docker Compose, ``:-`` uses the default when the variable is
unset or empty. Pure: the caller passes the environment (STYLE.md R17).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_TOKEN = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(:-[^}]*)?\}|\$\{")


def interpolate(text: str, environ: Mapping[str, str]) -> tuple[str, list[str]]:
    """``text`` with references replaced, and the environment values it used.

    The values are returned so callers can mask them in messages: they are often secrets.
    Raises ``ValueError`` with the user-facing sentence for an unset variable or a bad reference.
    """
    used: list[str] = []

    def replace(match: re.Match[str]) -> str:
        token, name, default = match.group(0), match.group(1), match.group(2)
        if token == "$${":
            return "${"
        if name is None:
            raise ValueError(
                "'${' starts no valid reference (use ${NAME} or ${NAME:-default}; "
                "write $${ for a literal ${)"
            )
        value = environ.get(name)
        if default is not None and not value:
            return default[2:]
        if value is None:
            raise ValueError(
                f"environment variable {name} is not set (use ${{{name}:-default}} for a default)"
            )
        used.append(value)
        return value

    return _TOKEN.sub(replace, text), used
