"""The page's files gzipped once per rendering, for clients that accept it.

With 200 components the page is about a megabyte of HTML (90 bars each, with their tooltips)
and gzips to a few percent of that; ``summary.json`` to about a tenth. Every browser and
HTTP client library asks for gzip, so sending the megabyte costs the server, the network and
the reader for nothing. The files are compressed when the page is rendered (at most once a
change), never per request, and deterministically (no name, no time in the header), so the
server's answer and the export's ``<file>.gz`` are the same bytes: nginx's ``gzip_static on``
or any static host that serves precompressed files sends exactly what the server does.
"""

from __future__ import annotations

import gzip
from collections.abc import Mapping

COMPRESSIBLE = (".html", ".css", ".rss", ".atom", ".json", ".svg")
MIN_BYTES = 512
"""Below this a file fits in one packet as it is; the header would be most of the saving."""
LEVEL = 6
"""zlib's default: level 9 takes twice as long on the page for under 1 % fewer bytes."""
SUFFIX = ".gz"


def gzipped(body: bytes) -> bytes:
    """``body`` gzipped with no file name and a zero time: the same bytes every time."""
    return gzip.compress(body, compresslevel=LEVEL, mtime=0)


def precompress(
    files: Mapping[str, bytes],
    before: tuple[Mapping[str, bytes], Mapping[str, bytes]] | None = None,
) -> dict[str, bytes]:
    """The gzipped form of each text file of ``files`` worth compressing, by the same name.

    ``before``: the last rendering's files and their gzipped forms; a file with the same
    bytes keeps its gzipped form instead of being compressed again."""
    old_files, old_packed = before if before is not None else ({}, {})
    out: dict[str, bytes] = {}
    for name, body in files.items():
        if name.endswith(COMPRESSIBLE) and len(body) >= MIN_BYTES:
            if old_files.get(name) == body:
                if name in old_packed:
                    out[name] = old_packed[name]
                continue
            packed = gzipped(body)
            if len(packed) < len(body):
                out[name] = packed
    return out


def exported(files: Mapping[str, bytes], packed: Mapping[str, bytes]) -> dict[str, bytes]:
    """What an export writes: every file, and beside each compressed one ``<name>.gz``."""
    return {**files, **{name + SUFFIX: body for name, body in packed.items()}}


def gzip_etag(etag: str) -> str:
    """The gzipped variant's entity tag: another representation, so another strong tag
    (RFC 9110 §8.8.3), derived from the file's (``"abc"`` -> ``"abc-gzip"``)."""
    return etag[:-1] + '-gzip"'


def choose(
    body: bytes, packed: bytes | None, etag: str, *, gzip_ok: bool
) -> tuple[bytes, str, dict[str, str]]:
    """The body, entity tag and extra headers to answer with: the gzipped form when there is
    one and the client accepts gzip. A file that has one varies by ``Accept-Encoding`` in
    both forms, so a shared cache keeps them apart."""
    if packed is None:
        return body, etag, {}
    if gzip_ok:
        return packed, gzip_etag(etag), {"Vary": "Accept-Encoding", "Content-Encoding": "gzip"}
    return body, etag, {"Vary": "Accept-Encoding"}
