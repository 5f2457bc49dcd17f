"""The fast path of ``POST /api/v2/alerts`` (``read_postable_alerts_fast``, msgspec) against
the long way (``decode_json`` + ``read_postable_alerts``): for any body, the fast path either
declines (None) or gives exactly the alerts the long way keeps, with nothing refused and
nothing repaired. A body Prometheus sends must take the fast path."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsbook.alerts.ingest_models import (
    decode_json,
    read_postable_alerts,
    read_postable_alerts_fast,
)

NAMES = st.one_of(
    st.sampled_from(["alertname", "service", "severity", "job", "instance", "_x", "a1"]),
    st.sampled_from(["", "1a", "a-b", "é", "a b", "x" * 257, "x" * 256]),
    st.text(max_size=6),
)
TEXT = st.one_of(
    st.sampled_from(["", "api", "p95 above 2s", "é", "\U0001f525", "a\x00b", "tab\tline\n"]),
    st.text(max_size=12),
    # Around the caps: 1,024 characters (the fast path's bound for label values), 4,096 bytes
    # (the label value limit), 16,384 characters and 65,536 bytes (annotations).
    st.sampled_from([1024, 1025, 4096, 4097, 16384, 16385]).flatmap(
        lambda n: st.sampled_from(["v" * n, "é" * (n // 2), "\U0001f525" * (n // 4 + 1)])
    ),
)
TIMES = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "2026-12-06T10:00:00Z",
            "2026-12-06T10:00:00.123456789+02:00",
            "2026-12-06T11:00:00Z",
            "0001-01-01T00:00:00Z",
            "2026-12-06 10:00:00+0000",
            "",
            "yesterday",
        ]
    ),
    st.integers(),
)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT)


def _alert() -> st.SearchStrategy[Any]:
    string_map = st.one_of(
        st.dictionaries(NAMES, TEXT, max_size=5), st.none(), SCALARS, st.lists(TEXT, max_size=2)
    )
    fields = st.fixed_dictionaries(
        {},
        optional={
            "labels": string_map,
            "annotations": string_map,
            "startsAt": TIMES,
            "endsAt": TIMES,
            "generatorURL": st.one_of(
                TEXT, st.integers(), st.sampled_from(["h" * 2048, "h" * 2049])
            ),
            "status": SCALARS,
        },
    )
    return st.one_of(fields, SCALARS)


BODIES = st.one_of(st.lists(_alert(), max_size=4), _alert())


def _encode(document: Any, ascii_only: bool) -> bytes | None:
    try:
        return json.dumps(document, ensure_ascii=ascii_only).encode()
    except UnicodeEncodeError:  # a lone surrogate, unencodable without escapes
        return None


def _assert_same(body: bytes) -> None:
    fast = read_postable_alerts_fast(body)
    if fast is None:
        return
    checked = read_postable_alerts(decode_json(body))
    assert checked.invalid is None
    assert checked.repaired == ()
    assert fast == checked.value


PROMETHEUS_ALERT = st.fixed_dictionaries(
    {
        "labels": st.dictionaries(
            st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True),
            st.text(min_size=1, max_size=40).filter(lambda v: "\x00" not in v),
            min_size=1,
            max_size=8,
        ),
        "annotations": st.dictionaries(
            st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,20}", fullmatch=True),
            st.text(max_size=80).filter(lambda v: "\x00" not in v),
            max_size=4,
        ),
        "startsAt": st.just("2026-12-06T10:00:00.123456789Z"),
        "endsAt": st.sampled_from(["2026-12-06T10:04:00Z", "0001-01-01T00:00:00Z"]),
        "generatorURL": st.sampled_from(["", "http://prometheus:9090/graph?g0.expr=up"]),
    }
)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(alerts=st.lists(PROMETHEUS_ALERT, min_size=1, max_size=5), ascii_only=st.booleans())
def test_what_prometheus_sends_takes_the_fast_path(alerts: list[Any], ascii_only: bool) -> None:
    body = _encode(alerts, ascii_only)
    assert body is not None
    fast = read_postable_alerts_fast(body)
    assert fast is not None
    assert fast == read_postable_alerts(decode_json(body)).value


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(document=BODIES, ascii_only=st.booleans())
def test_the_fast_path_gives_what_the_long_way_keeps_or_declines(
    document: Any, ascii_only: bool
) -> None:
    body = _encode(document, ascii_only)
    if body is not None:
        _assert_same(body)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    alerts=st.lists(PROMETHEUS_ALERT, min_size=1, max_size=3),
    data=st.data(),
    ascii_only=st.booleans(),
)
def test_one_hostile_field_in_a_prometheus_batch(
    alerts: list[dict[str, Any]], data: st.DataObject, ascii_only: bool
) -> None:
    """A batch Prometheus would send with one field made hostile (a bad name or value, a NUL,
    a long text, a bad time, an unknown key): what is left valid around it is exactly what
    would make the fast path wrong if it missed a check."""
    target = data.draw(st.sampled_from(alerts))
    field = data.draw(
        st.sampled_from(["labels", "annotations", "startsAt", "endsAt", "generatorURL", "x"])
    )
    if field in ("labels", "annotations"):
        target[field] = {**target[field], data.draw(NAMES): data.draw(TEXT)}
    elif field in ("startsAt", "endsAt"):
        target[field] = data.draw(TIMES)
    else:
        target[field] = data.draw(SCALARS)
    body = _encode(alerts, ascii_only)
    if body is not None:
        _assert_same(body)


@pytest.mark.parametrize(
    "body",
    [
        # Each is a body the long way refuses, repairs or trims; the fast path must decline.
        b'[{"labels": {"a": "x\\u0000"}}]',  # a NUL: refused
        b'[{"labels": {"a": "x"}, "annotations": {"s": "x\\u0000"}}]',  # a NUL: repaired
        b'[{"labels": {"a": "x\\ud800"}}]',  # a lone surrogate
        b'[{"labels": {"a": "x", "b": ""}}]',  # an empty label, dropped
        b'[{"labels": {"a-b": "x"}}]',  # a name Alertmanager refuses
        b'[{"labels": {"a": "x"}, "endsAt": "2026-01-01T00:00:00Z", '
        b'"startsAt": "2026-02-01T00:00:00Z"}]',  # ends before it starts
        b'[{"labels": {"a": "x"}, "extra": {"deep": [[[[]]]]}}]',  # an unknown key
        b'\xef\xbb\xbf[{"labels": {"a": "x"}}]',  # a BOM, which the long way tolerates
        b'{"labels": {"a": "x"}}',  # not an array
        b"[" + b",".join([b'{"labels": {"a": "x"}}'] * 1001) + b"]",  # over MAX_ALERTS
    ],
)
def test_the_fast_path_declines_what_the_long_way_must_answer(body: bytes) -> None:
    assert read_postable_alerts_fast(body) is None
