"""``status_page.subscribers``: accepted forms and each mistake named with file:line and key."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from opsbook.config import load
from opsbook.config.status_page import SubscribersConfig
from opsbook.errors import ConfigError

HEAD = """\
service: shop
components:
  api: {name: API}
channels:
  status-mail: {smtp: {to: ops@shop.example, from: status@shop.example}}
  chat: {apprise: "slack://a/b/c"}
"""


def loaded(tmp_path: Path, section: str) -> SubscribersConfig:
    path = tmp_path / "opsbook.yaml"
    path.write_text(HEAD + textwrap.dedent(section))
    return load(str(path), environ={}).status_page.subscribers


def problems(tmp_path: Path, section: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loaded(tmp_path, section)
    return [str(p).split("opsbook.yaml:", 1)[1] for p in info.value.problems]


def test_without_the_section_nobody_subscribes_by_email(tmp_path: Path) -> None:
    found = loaded(tmp_path, "")
    assert found.email_channel is None
    assert found.confirm_within == timedelta(hours=48)
    assert found.confirmations_per_hour == 3


def test_it_accepts_every_key(tmp_path: Path) -> None:
    found = loaded(
        tmp_path,
        """\
        status_page:
          base_url: https://status.shop.example
          subscribers:
            email_channel: status-mail
            confirm_within: 24h
            confirmations_per_hour: 5
            webhook_timeout: 5s
        """,
    )
    assert found.email_channel == "status-mail"
    assert found.confirm_within == timedelta(hours=24)
    assert found.confirmations_per_hour == 5
    assert found.webhook_timeout == timedelta(seconds=5)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "status_page:\n  base_url: https://s.example\n  subscribers: {email_channel: mail}\n",
            "9:32: status_page.subscribers.email_channel: unknown channel 'mail' "
            "(smtp channels: status-mail)",
        ),
        (
            "status_page:\n  base_url: https://s.example\n  subscribers: {email_channel: chat}\n",
            "9:32: status_page.subscribers.email_channel: channel 'chat' is not an smtp channel; "
            "subscribers get emails",
        ),
        (
            "status_page:\n  subscribers: {email_channel: status-mail}\n",
            "8:32: status_page.subscribers.email_channel: email subscribers need links: set "
            "status_page.base_url or server.public_url",
        ),
        (
            "status_page:\n  subscribers: {confirm_within: 0s}\n",
            "8:33: status_page.subscribers.confirm_within: confirm_within must be longer than 0s",
        ),
        (
            "status_page:\n  subscribers: {webhook_timeout: 5m}\n",
            "8:34: status_page.subscribers.webhook_timeout: webhook_timeout must be between 0s "
            "and 1m",
        ),
    ],
)
def test_each_mistake_is_named_with_its_position(
    tmp_path: Path, section: str, expected: str
) -> None:
    assert problems(tmp_path, section) == [expected]
