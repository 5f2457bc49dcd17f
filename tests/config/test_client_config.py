"""``load_client``: the keys a CLI client reads, without the models, and never more lenient than
``load`` about them (issue 15). Each row's outcome (the values, or the error lines) must equal
``load``'s; the rows marked fast must not have needed the models."""

from __future__ import annotations

from pathlib import Path

import pytest

from opsbook.config import Config, load
from opsbook.config.client import ClientConfig, load_client
from opsbook.errors import ConfigError

ENV = {"PORT": "9090", "EMPTY": ""}

ROWS: list[tuple[str, str, bool]] = [
    # (id, the file, whether the fast path answers)
    ("minimal", "service: shop\n", True),
    (
        "every key",
        "service: shop.api\ntimezone: Europe/Berlin\n"
        "server: {host: 0.0.0.0, port: 9000, public_url: 'https://ops.example/'}\n",
        True,
    ),
    ("ipv6 host", "service: shop\nserver: {host: '::1', port: 1}\n", True),
    ("env default", "service: shop\nserver:\n  public_url: ${URL:-http://127.0.0.1:1}\n", True),
    ("anchors", "x-common: &c {port: 7000}\nservice: shop\nserver: *c\n", True),
    ("port from env is text", "service: shop\nserver: {port: '${PORT}'}\n", False),
    ("port quoted", "service: shop\nserver: {port: '8080'}\n", False),
    ("port zero", "service: shop\nserver: {port: 0}\n", False),
    ("port too big", "service: shop\nserver: {port: 70000}\n", False),
    ("port float", "service: shop\nserver: {port: 8080.0}\n", False),
    ("port bool", "service: shop\nserver: {port: true}\n", False),
    ("host number", "service: shop\nserver: {host: 5}\n", False),
    ("public_url ftp", "service: shop\nserver: {public_url: 'ftp://x'}\n", False),
    ("public_url words", "service: shop\nserver: {public_url: not a url}\n", False),
    ("public_url null", "service: shop\nserver: {public_url: null}\n", True),
    ("server null", "service: shop\nserver:\n", False),
    ("server list", "service: shop\nserver: [1]\n", False),
    ("server unknown key", "service: shop\nserver: {prot: 1}\n", False),
    ("server duplicate key", "service: shop\nserver:\n  port: 1\n  port: 2\n", False),
    ("server unset env", "service: shop\nserver: {public_url: '${NOPE}'}\n", False),
    ("timezone unknown", "service: shop\ntimezone: Mars/Base\n", False),
    ("timezone number", "service: shop\ntimezone: 5\n", False),
    ("timezone folder", "service: shop\ntimezone: Europe\n", False),
    ("service missing", "timezone: UTC\n", False),
    ("service bad", "service: 'shop api'\n", False),
    ("service number", "service: 5\n", False),
    ("empty", "", False),
    ("a list", "- service: shop\n", False),
    ("syntax", "service: [shop\n", False),
]


def _outcome(read: object) -> tuple[str, object]:
    try:
        found = read() if callable(read) else read
    except ConfigError as exc:
        return ("error", [str(p) for p in exc.problems])
    assert isinstance(found, ClientConfig | Config)
    server = found.server
    public_url = None if server.public_url is None else str(server.public_url)
    return ("ok", (found.service, found.timezone, server.host, server.port, public_url))


@pytest.mark.parametrize(("text", "fast"), [r[1:] for r in ROWS], ids=[r[0] for r in ROWS])
def test_it_reads_what_load_reads_or_fails_as_load_fails(
    tmp_path: Path, text: str, fast: bool
) -> None:
    path = tmp_path / "opsbook.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        answered_fast = isinstance(load_client(path, environ=ENV), ClientConfig)
    except ConfigError:
        answered_fast = False
    assert answered_fast == fast
    assert _outcome(lambda: load_client(path, environ=ENV)) == _outcome(
        lambda: load(path, environ=ENV)
    )


def test_a_missing_file_is_loads_error(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    assert _outcome(lambda: load_client(path)) == _outcome(lambda: load(path))


def test_a_problem_outside_its_keys_is_left_to_the_server_and_opsbook_check(
    tmp_path: Path,
) -> None:
    path = tmp_path / "opsbook.yaml"
    path.write_text(
        "service: shop\nserver: {port: 9000}\nchecks:\n  web:\n    http: {url: nope}\n"
        "channels:\n  pager:\n    webhook: {url: '${PAGER_URL}'}\n",
        encoding="utf-8",
    )
    assert load_client(path, environ={}) == ClientConfig(service="shop", server=_server(9000))
    with pytest.raises(ConfigError):
        load(path, environ={})


def _server(port: int) -> object:
    from opsbook.config.client import ClientServer

    return ClientServer(port=port)
