"""Hypothesis against the ping routes of a running ``opsbook serve``, on SQLite and PostgreSQL
(issue 11). The ping routes are not in the OpenAPI document, so schemathesis never sees them.

Generated requests: paths of each ping shape (``/ping/<uuid>[/<suffix>]``, ``/ping/<key>/<slug>
[/<suffix>]``, with a trailing slash or not) whose segments are the configured ones, near misses
(upper case, a wrong key, another UUID) or junk (percent-encoded NUL, invalid UTF-8, lone
surrogates' UTF-8 bytes); suffixes ``start``/``fail``/``log``, exit statuses in and out of
0..255 and junk; ``?rid=`` good and bad plus junk query parameters; bodies of bytes with NULs,
invalid UTF-8 and surrogates as UTF-8, up to one byte over the ping body limit; junk headers.

Each answer must be no 5xx and plain text; each valid ping to a configured heartbeat must be
answered 200 "OK"; and every 200 must be a stored ping (counted in the store at the end).
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import quote
from uuid import UUID

import hypothesis
import pytest
import requests
import sqlalchemy as sa
from hypothesis import HealthCheck, Phase, given
from hypothesis import strategies as st

from opsbook.checks.heartbeats import PING_BODY_LIMIT_BYTES
from opsbook.checks.pings import ping
from opsbook.store import create_engine
from serving import Server

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("OPSBOOK_FUZZ_EXAMPLES_PINGS", "150"))
"""Generated requests per store: ~150 requests in about a second, plus the server's start."""

KEY = "pk_Fuzz-0123456789abcdef"
BACKUP = UUID("0b2e4f2a-7a0e-4a43-9f33-6d0a3c1f5e21")
HOOK = UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")
OTHER = UUID("9d7c1f0e-3b4a-4e2d-8c6b-5a4f3e2d1c0b")
CONFIG = f"""\
service: fuzz
pings: {{key: "{KEY}"}}
checks:
  backup: {{heartbeat: {{period: 1h, grace: 30m, uuid: "{BACKUP}"}}}}
  hook: {{heartbeat: {{period: 1h, methods: POST, uuid: "{HOOK}"}}}}
  worker: {{heartbeat: {{period: 5m}}}}
"""

# A segment that names nothing, or names it badly: percent-encoded NUL, invalid UTF-8 and a
# lone surrogate's UTF-8 bytes (ED A0 80), and text of any kind ("/" would change the shape).
_RAW_JUNK = st.sampled_from(["%00", "%FF%FE", "%ED%A0%80", "..", "%20", "-1", "a" * 300])
_TEXT_JUNK = st.text(st.characters(exclude_characters="/", codec="utf-8"), max_size=40).map(
    lambda text: quote(text, safe="")
)
JUNK = _RAW_JUNK | _TEXT_JUNK.filter(bool)
"""Never empty: ``/ping//start`` matches no ping route (it is the app's JSON 404)."""
CHECK_CODE = st.sampled_from([str(BACKUP), str(HOOK)])
NEAR_CODE = st.sampled_from([str(BACKUP).upper(), str(OTHER), str(BACKUP)[:-1], BACKUP.hex])
ACTION = st.sampled_from(["", "start", "fail", "log", "0", "1", "255", "000"])
BAD_ACTION = (
    st.integers(min_value=-(2**70), max_value=2**70).filter(lambda n: not 0 <= n <= 255).map(str)
    | st.sampled_from(["256", "999", "0255", "START", "%C2%B2", "%EF%BC%91"])
    | JUNK
)
GOOD_RID = st.uuids().map(str)
BAD_RID = st.sampled_from(["", "x", "%00", str(OTHER).upper() + "0", "{" + str(OTHER) + "}"])
BODY = (
    st.binary(max_size=512)
    | st.sampled_from([b"\x00", b"ok\x00done", b"\xff\xfe\xfd", b"\xed\xa0\x80", b"\xed\xb0\x80x"])
    | st.sampled_from([PING_BODY_LIMIT_BYTES, PING_BODY_LIMIT_BYTES + 1]).map(lambda n: b"\xff" * n)
)
HEADER_TEXT = st.text(st.characters(codec="latin-1", exclude_categories=["Cc"]), max_size=60).map(
    str.strip
)


def _is_canonical_uuid(text: str) -> bool:
    """The run ids the ping routes take: a UUID in its 36-character form, either case."""
    try:
        UUID(text)
    except ValueError:
        return False
    return len(text) == 36 and text.count("-") == 4


_MOSTLY = st.sampled_from([True, True, True, False])


@dataclass(frozen=True)
class PingRequest:
    method: str
    path: str
    query: str
    body: bytes
    headers: dict[str, str]
    valid_for: str | None
    """The check a correct ping lands on (200 "OK" expected), or None when anything goes."""


@st.composite
def ping_requests(draw: st.DrawFn) -> PingRequest:
    method = draw(st.sampled_from(["GET", "POST", "HEAD"]))
    shape = draw(st.sampled_from(["uuid", "slug"]))
    # Three in four of each part are right, so about a third of the requests are valid pings.
    good_target = draw(_MOSTLY)
    if shape == "uuid":
        code = draw(CHECK_CODE) if good_target else draw(NEAR_CODE | JUNK)
        segments = [code]
        check = {str(BACKUP): "backup", str(HOOK): "hook"}.get(code)
    else:
        key = KEY if good_target else draw(st.sampled_from([KEY.upper(), "pk_other"]) | JUNK)
        slug = draw(
            st.sampled_from(["worker", "backup"])
            if draw(_MOSTLY)
            else st.sampled_from(["Worker", "nope"]) | JUNK
        )
        segments = [key, slug]
        check = slug if key == KEY and slug in ("worker", "backup") else None
    good_action = draw(_MOSTLY)
    action = draw(ACTION if good_action else BAD_ACTION)
    if action:
        segments.append(action)
    rid = draw((st.none() | GOOD_RID) if draw(_MOSTLY) else BAD_RID)
    params = [f"rid={quote(rid, safe='')}"] if rid is not None else []
    if not good_action or (rid is not None and not _is_canonical_uuid(rid)):
        check = None
    junk_params = draw(st.lists(st.tuples(JUNK, JUNK), max_size=3))
    params += [f"{k}={v}" for k, v in junk_params if k not in ("rid", "")]
    if check == "hook" and method != "POST":
        check = None  # a GET or HEAD to a POST-only check is stored as ignored, still "OK"
    headers = draw(
        st.dictionaries(
            st.sampled_from(["User-Agent", "Content-Type", "X-Junk", "Accept"]),
            HEADER_TEXT,
            max_size=3,
        )
    )
    trailing = "/" if draw(st.booleans()) else ""
    return PingRequest(
        method=method,
        path="/ping/" + "/".join(segments) + trailing,
        query="&".join(params),
        body=draw(BODY),
        headers=headers,
        valid_for=check,
    )


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    valid: int = 0
    failures: list[str] = field(default_factory=list)


def _send(session: requests.Session, base_url: str, one: PingRequest, tally: Tally) -> None:
    url = base_url + one.path + (f"?{one.query}" if one.query else "")
    prepared = requests.Request(one.method, url, data=one.body, headers=one.headers).prepare()
    prepared.url = url  # as generated: requests would re-quote the junk
    response = session.send(prepared, timeout=10)
    tally.statuses[response.status_code] += 1
    described = f"{one.method} {one.path}?{one.query} ({len(one.body)} bytes)"
    content_type = response.headers.get("content-type", "")
    problems = []
    if response.status_code >= 500:
        problems.append(f"answered {response.status_code}")
    if not content_type.startswith("text/plain"):
        problems.append(f"answered {content_type!r}: {response.text[:100]!r}")
    if one.valid_for is not None:
        tally.valid += 1
        expected = "" if one.method == "HEAD" else "OK"
        if (response.status_code, response.text) != (200, expected):
            problems.append(f"a valid ping answered {response.status_code} {response.text!r}")
    tally.failures.extend(f"{described}: {p}" for p in problems)


def test_the_ping_routes_answer_any_request_in_plain_text_and_store_valid_pings(
    serve: Callable[..., Server], store_url: str
) -> None:
    server = serve(CONFIG, database_url=store_url)
    tally = Tally()
    with requests.Session() as session:

        @hypothesis.settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=bool(os.environ.get("CI")),
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(one=ping_requests())
        def fuzz(one: PingRequest) -> None:
            _send(session, server.url, one, tally)

        fuzz()
    engine = create_engine(store_url)
    try:
        with engine.connect() as conn:
            stored = conn.execute(sa.select(sa.func.count()).select_from(ping)).scalar_one()
    finally:
        engine.dispose()
    summary = (
        f"{sum(tally.statuses.values())} requests, {tally.valid} valid pings, {stored} stored; "
        f"statuses {dict(sorted(tally.statuses.items()))}"
    )
    print(summary)  # pytest -s
    assert tally.failures == [], "\n".join([summary, *tally.failures[:20]])
    assert stored == tally.statuses[200], summary
    assert tally.valid > EXAMPLES // 10, summary
