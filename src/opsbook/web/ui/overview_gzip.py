"""The overview sent gzip-compressed without compressing the shared checks table per request.

The checks table (about a megabyte with 1,000 checks) is deflated once when it is rendered
(``Deflated``); a request deflates only its own header and footer and joins the three into one
gzip member (RFC 1952): each part is a raw deflate stream cut at a byte boundary with a sync
flush (RFC 1951 §3.2.4: an empty stored block), which a decoder reads straight through, then an
empty final block and the trailer. The trailer's CRC-32 of the whole page comes from the parts'
CRCs (``Deflated.extend``) so the megabyte is never read again.

One member rather than one gzip member per part, which RFC 1952 §2.2 also allows: a decoder that
stops at the end of the first member would show only the header. One member is what every
client decodes whatever it does with concatenated members.

Each part has its own compressor, so nothing in one part is ever encoded as a reference to
another. The header carries the session's CSRF token and is stored, not compressed (level 0):
its length cannot depend on what it contains, so no text an attacker gets onto the page (a
check's last error, an alert's labels, an incident title) can reveal the token through the
response's size (BREACH, https://www.breachattack.com/).
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

# ID1 ID2, CM=8 (deflate), no flags, MTIME=0 (none), XFL=0, OS=255 (unknown): RFC 1952 §2.3.
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# A final stored block of length 0 (BFINAL=1, BTYPE=00, LEN=0, NLEN=~0): ends the stream after
# parts that each end on a byte boundary.
FINAL_BLOCK = b"\x01\x00\x00\xff\xff"
TABLE_LEVEL = 6
FOOTER_LEVEL = 6
STORED = 0

_POLYNOMIAL = 0xEDB88320  # CRC-32 (reflected), as zlib.crc32


def _times(matrix: Sequence[int], vector: int) -> int:
    found = 0
    for column in matrix:
        if not vector:
            break
        if vector & 1:
            found ^= column
        vector >>= 1
    return found


def _square(matrix: Sequence[int]) -> list[int]:
    return [_times(matrix, column) for column in matrix]


def zeros_operator(length: int) -> list[int]:
    """The GF(2) matrix (32 columns) that moves a CRC-32 over ``length`` zero bytes:
    ``crc32(a + b) == _times(zeros_operator(len(b)), crc32(a)) ^ crc32(b)``.

    zlib's ``crc32_combine`` (which Python does not expose) by repeated squaring, kept as a
    matrix so that combining with the same part again costs 32 steps.
    """
    odd = [_POLYNOMIAL] + [1 << n for n in range(31)]  # one zero bit
    even = _square(odd)  # two
    odd = _square(even)  # four
    found = [1 << n for n in range(32)]
    while length:
        even = _square(odd)  # 8, 32, 128, ... bits: one byte, four, sixteen, ...
        if length & 1:
            found = [_times(even, column) for column in found]
        length >>= 1
        if not length:
            break
        odd = _square(even)
        if length & 1:
            found = [_times(odd, column) for column in found]
        length >>= 1
    return found


def deflate(data: bytes, *, level: int) -> bytes:
    """``data`` as raw deflate blocks in a fresh context, ending on a byte boundary and not
    final, so that another part can follow."""
    compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)


@dataclass(frozen=True)
class Deflated:
    """A part deflated once, to be sent in the middle of many gzip responses."""

    data: bytes
    crc: int
    size: int
    shift: tuple[int, ...]
    """``zeros_operator(size)``."""

    @classmethod
    def of(cls, raw: bytes, *, level: int = TABLE_LEVEL) -> Deflated:
        return cls(
            deflate(raw, level=level), zlib.crc32(raw), len(raw), tuple(zeros_operator(len(raw)))
        )

    def extend(self, crc: int) -> int:
        """The CRC-32 of ``before + raw`` given ``crc == zlib.crc32(before)``."""
        return _times(self.shift, crc) ^ self.crc


STORED_MAX = 0xFFFF
"""The most bytes one stored block holds (RFC 1951 §3.2.4: LEN is 16 bits)."""


def stored(data: bytes) -> bytes:
    """``data`` as non-final stored deflate blocks, starting and ending on a byte boundary.

    Written by hand rather than by zlib at level 0: the result is the same bytes less the empty
    sync block, and it never calls into zlib, which gives the GIL away on every call (with
    twenty requests in flight, getting it back cost more than the copy: py-spy put 11 % of the
    overview's CPU in ``deflate``)."""
    blocks = []
    for start in range(0, len(data), STORED_MAX):
        chunk = data[start : start + STORED_MAX]
        # BFINAL=0, BTYPE=00, then padding to the byte boundary: one zero byte.
        blocks.append(struct.pack("<BHH", 0, len(chunk), len(chunk) ^ 0xFFFF) + chunk)
    return b"".join(blocks)


class _Footer:
    """The last footer deflated: it shows what every viewer sees (alerts, incidents, on-call),
    so it changes when the page does, not per request."""

    def __init__(self) -> None:
        self._last: tuple[bytes, bytes] = (b"", deflate(b"", level=FOOTER_LEVEL))

    def deflated(self, tail: bytes) -> bytes:
        last = self._last  # one read: another thread may replace it meanwhile
        if last[0] != tail:
            last = (tail, deflate(tail, level=FOOTER_LEVEL))
            self._last = last
        return last[1]


_FOOTER = _Footer()


def gzip_parts(head: bytes, middle: Deflated, tail: bytes) -> list[bytes]:
    """One gzip member holding ``head + middle's raw bytes + tail``, as body parts to send in
    order (the middle one shared, not copied). ``head`` is stored, ``tail`` compressed alone
    (module docstring)."""
    # zlib.crc32 keeps the GIL below 5 KB; the header and footer are smaller.
    crc = zlib.crc32(tail, middle.extend(zlib.crc32(head)))
    size = len(head) + middle.size + len(tail)
    trailer = struct.pack("<II", crc, size & 0xFFFFFFFF)
    return [
        GZIP_HEADER + stored(head),
        middle.data,
        _FOOTER.deflated(tail) + FINAL_BLOCK + trailer,
    ]


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` value (RFC 9110 §12.5.3) allows gzip: listed (or
    ``x-gzip``), else covered by ``*``, with a q-value above 0."""
    wildcard: bool | None = None
    for item in accept_encoding.split(","):
        coding, _, params = item.partition(";")
        coding = coding.strip().lower()
        allowed = _q_above_zero(params)
        if coding in ("gzip", "x-gzip"):
            return allowed
        if coding == "*":
            wildcard = allowed
    return bool(wildcard)


def _q_above_zero(params: str) -> bool:
    for param in params.split(";"):
        name, _, value = param.partition("=")
        if name.strip().lower() == "q":
            try:
                return float(value.strip()) > 0
            except ValueError:
                return False
    return True
