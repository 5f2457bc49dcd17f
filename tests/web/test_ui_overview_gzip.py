"""The overview sent gzip-compressed (``overview_gzip``): one gzip member that decodes to the
page as sent uncompressed, only when the request accepts gzip, both stores."""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from test_ui_overview import api_results, record, row_of
from ui_helpers import log_in, migrate, ui_client

from opsbook.web.ui import overview_gzip
from opsbook.web.ui.overview_gzip import (
    FINAL_BLOCK,
    Deflated,
    accepts_gzip,
    deflate,
    gzip_parts,
    stored,
    zeros_operator,
)


@pytest.fixture
def client(store_url: str) -> Iterator[TestClient]:
    migrate(store_url)
    for client in ui_client(store_url):
        log_in(client)
        yield client


def raw_get(client: TestClient, accept_encoding: str) -> tuple[dict[str, str], bytes]:
    """The response's headers and its body as sent (not decoded)."""
    with client.stream("GET", "/", headers={"Accept-Encoding": accept_encoding}) as response:
        assert response.status_code == 200
        return dict(response.headers), b"".join(response.iter_raw())


def gunzip_one_member(body: bytes) -> bytes:
    """``body`` decoded as exactly one gzip member: nothing after it, nothing missing."""
    decoder = zlib.decompressobj(zlib.MAX_WBITS | 16)
    page = decoder.decompress(body) + decoder.flush()
    assert decoder.eof, "the gzip stream does not end"
    assert decoder.unused_data == b"", "bytes after the first gzip member"
    return page


def test_a_client_that_accepts_gzip_gets_the_same_page_compressed(
    client: TestClient, store_url: str
) -> None:
    record(store_url, api_results(down_for=timedelta(minutes=30)))
    plain_headers, plain = raw_get(client, "identity")
    headers, body = raw_get(client, "gzip, deflate, br")
    assert headers["content-encoding"] == "gzip"
    assert headers["vary"] == "accept-encoding"
    assert headers["cache-control"] == "no-store"
    assert headers["content-type"] == plain_headers["content-type"]
    assert int(headers["content-length"]) == len(body)
    assert len(body) < len(plain)
    page = gunzip_one_member(body)
    assert page == plain
    assert 'data-state="down"' in row_of(page.decode(), "api")


@pytest.mark.parametrize("accept_encoding", ["identity", "gzip;q=0", "br", ""])
def test_a_client_that_does_not_accept_gzip_gets_the_page_as_it_is(
    client: TestClient, accept_encoding: str
) -> None:
    headers, body = raw_get(client, accept_encoding)
    assert "content-encoding" not in headers
    assert headers["vary"] == "accept-encoding"
    assert int(headers["content-length"]) == len(body)
    assert body.rstrip().endswith(b"</html>")


@pytest.mark.parametrize(
    ("accept_encoding", "expected"),
    [
        ("gzip", True),
        ("gzip, deflate, br, zstd", True),
        ("GZIP;q=0.5", True),
        ("x-gzip", True),
        ("*", True),
        ("br, *;q=0.1", True),
        ("gzip;q=0", False),
        ("gzip; q=0.0, *", False),
        ("*;q=0", False),
        ("identity", False),
        ("br, deflate", False),
        ("gzip;q=nonsense", False),
        ("", False),
    ],
)
def test_accepts_gzip_reads_the_header_as_rfc_9110_says(
    accept_encoding: str, expected: bool
) -> None:
    assert accepts_gzip(accept_encoding) is expected


@pytest.mark.parametrize("size", [0, 1, 7, 4096, 100_003])
def test_the_crc_of_a_page_is_found_from_its_parts(size: int) -> None:
    before, part = os.urandom(33), os.urandom(size)
    combined = Deflated.of(part).extend(zlib.crc32(before))
    assert combined == zlib.crc32(before + part)
    assert len(zeros_operator(size)) == 32


def test_the_parts_join_into_one_gzip_member_with_the_header_stored() -> None:
    head = b'<input name="csrf_token" value="secret-token">' * 3
    table = b"<tr><td>row</td></tr>\n" * 5000
    tail = b"<p>incident &lt;title&gt;</p></html>"
    parts = gzip_parts(head, Deflated.of(table), tail)
    assert gunzip_one_member(b"".join(parts)) == head + table + tail
    # Stored, not compressed: the token's bytes are on the wire as they are, and the header's
    # size cannot depend on what else the page holds (BREACH).
    assert head in parts[0]


@pytest.mark.parametrize("size", [0, 1, 3_000, 65_535, 65_536, 200_000])
def test_stored_blocks_inflate_to_the_data_and_split_at_the_format_limit(size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    blocks = stored(data)
    assert zlib.decompressobj(-zlib.MAX_WBITS).decompress(blocks + FINAL_BLOCK) == data
    assert len(blocks) == len(data) + 5 * -(-len(data) // 0xFFFF)  # 5 header bytes a block
    if size < 60_000:  # one block: what zlib stores, less Z_SYNC_FLUSH's empty block
        assert blocks == deflate(data, level=0).removesuffix(b"\x00\x00\x00\xff\xff")


def test_a_footer_is_deflated_once_and_again_when_it_changes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[bytes] = []

    def counting(data: bytes, *, level: int) -> bytes:
        calls.append(data)
        return deflate(data, level=level)

    table = Deflated.of(b"<tr></tr>" * 10)
    monkeypatch.setattr(overview_gzip, "deflate", counting)
    one, two = f"<p>{os.urandom(8).hex()}</p>".encode(), b"<p>two</p>"
    first = gzip_parts(b"<h>", table, one)
    again = gzip_parts(b"<h2>", table, one)
    changed = gzip_parts(b"<h>", table, two)
    assert calls == [one, two]
    assert gunzip_one_member(b"".join(first)) == b"<h>" + b"<tr></tr>" * 10 + one
    assert gunzip_one_member(b"".join(again)) == b"<h2>" + b"<tr></tr>" * 10 + one
    assert gunzip_one_member(b"".join(changed)) == b"<h>" + b"<tr></tr>" * 10 + two
