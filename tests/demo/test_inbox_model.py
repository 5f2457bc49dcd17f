"""The inbox itself: its cap, the headers it keeps, and how each kind of message is summarized."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from opsbook.clock import FrozenClock
from opsbook.demo.inbox import Inbox, InboxMessage, Summary, parse_body, summarize
from opsbook.errors import InputError
from opsbook.types import JSONValue

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_it_drops_the_oldest_message_beyond_its_capacity() -> None:
    clock = FrozenClock(T0)
    inbox = Inbox(clock=clock, capacity=3)
    for i in range(5):
        inbox.add("pager", headers={}, raw=f'{{"n": {i}}}'.encode())
        clock.advance(timedelta(seconds=1))
    kept = inbox.messages()
    assert [m.body for m in kept] == [{"n": 4}, {"n": 3}, {"n": 2}]
    assert [m.id for m in kept] == [5, 4, 3]
    assert kept[0].received_at == T0 + timedelta(seconds=4)


def test_the_default_capacity_is_500() -> None:
    inbox = Inbox()
    for _ in range(501):
        inbox.add("pager", headers={}, raw=b"{}")
    assert len(inbox.messages()) == 500
    assert inbox.messages()[-1].id == 2


def test_it_refuses_a_capacity_below_one() -> None:
    with pytest.raises(ValueError, match="capacity must be at least 1, not 0"):
        Inbox(capacity=0)


def test_it_keeps_the_receiver_headers_whatever_their_case() -> None:
    inbox = Inbox(clock=FrozenClock(T0))
    message = inbox.add(
        "pager",
        headers={"idempotency-key": "k1", "CONTENT-TYPE": "application/json", "X-Else": "no"},
        raw=b"{}",
    )
    assert message.headers == {
        "Idempotency-Key": "k1",
        "X-Opsbook-Signature": None,
        "Content-Type": "application/json",
    }


def test_a_bad_box_name_keeps_nothing() -> None:
    inbox = Inbox()
    with pytest.raises(InputError) as caught:
        inbox.add("no/slash", headers={}, raw=b"{}")
    assert caught.value.field == "box"
    assert inbox.messages() == []


@pytest.mark.parametrize(
    ("raw", "body"),
    [
        (b'{"a": [1, 2]}', {"a": [1, 2]}),
        (b'"text"', "text"),
        (b"not json", "not json"),
        (b"", ""),
        (b"\xff\xfebad", "\ufffd\ufffdbad"),
    ],
)
def test_it_parses_json_and_keeps_anything_else_as_text(raw: bytes, body: JSONValue) -> None:
    assert parse_body(raw) == body


def _message(body: JSONValue) -> InboxMessage:
    return InboxMessage(id=1, box="b", received_at=T0, headers={}, body=body)


SUMMARIES: list[tuple[JSONValue, Summary]] = [
    (
        {
            "type": "page",
            "incident": {
                "id": 4,
                "title": "Site down",
                "severity": "SEV1",
                "status": "investigating",
            },
            "page": {"level": 1},
            "person": {"id": "ana", "name": "Ana"},
            "event": None,
        },
        Summary("page", "#4 Site down", "SEV1", "investigating", "Ana", "1", "-"),
    ),
    (
        {
            "type": "incident",
            "incident": {"id": 4, "title": "Site down", "severity": "SEV2", "status": "resolved"},
            "page": None,
            "person": None,
            "event": {"kind": "status", "message": ""},
        },
        Summary("incident", "#4 Site down", "SEV2", "resolved", "-", "-", "status"),
    ),
    (
        {
            "version": "4",
            "status": "firing",
            "groupLabels": {"alertname": "site-down"},
            "commonLabels": {"alertname": "site-down", "severity": "SEV1"},
            "commonAnnotations": {"summary": "healthz is down"},
            "alerts": [{}],
        },
        Summary("alert", "site-down", "SEV1", "firing", "-", "-", "healthz is down"),
    ),
    ({"hello": "world"}, Summary("other", '{"hello": "world"}', "-", "-", "-", "-", "-")),
    ("plain text", Summary("other", "plain text", "-", "-", "-", "-", "-")),
    ([1, 2], Summary("other", "[1, 2]", "-", "-", "-", "-", "-")),
]


@pytest.mark.parametrize(("body", "summary"), SUMMARIES)
def test_it_summarizes_each_kind_of_message(body: JSONValue, summary: Summary) -> None:
    assert summarize(_message(body)) == summary
