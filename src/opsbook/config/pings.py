"""The ``pings:`` section: settings for heartbeat pings pushed to ``/ping/...``."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

from opsbook.redaction import Secret

_KEY = re.compile(r"[A-Za-z0-9_-]{16,}")


def check_ping_key(value: Secret) -> Secret:
    # The message never repeats the value: it is a credential.
    if not _KEY.fullmatch(value.reveal()):
        raise ValueError(
            "the ping key must be at least 16 letters, digits, '-' or '_' "
            "(make one with: python -c 'import secrets; print(secrets.token_urlsafe(16))')"
        )
    return value


PingKey = Annotated[Secret, AfterValidator(check_ping_key)]


class PingsConfig(BaseModel):
    """``key`` enables the slug form ``/ping/<key>/<check-id>``; without it only UUIDs work."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: PingKey | None = None
