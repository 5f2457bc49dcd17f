"""The ingest fingerprint cache (``alerts/ingest.py`` ``_fingerprint_cached``) gives what
``fingerprint`` computes for any label set: its key tells every label set apart, and text UTF-8
cannot hold still gets a key."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from opsbook.alerts.ingest import _fingerprint_cached
from opsbook.alerts.records import fingerprint

LABELS = st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=6)


@settings(max_examples=300)
@given(labels=LABELS)
def test_the_cache_gives_the_fingerprint_of_any_label_set(labels: dict[str, str]) -> None:
    items = tuple(sorted(labels.items()))
    assert _fingerprint_cached(items) == fingerprint(labels)
    assert _fingerprint_cached(items) == fingerprint(labels)  # the cached answer too


def test_label_sets_that_a_naive_key_would_confuse_are_told_apart() -> None:
    # Joined with separators, or with the pairs' boundaries lost, these would be one key.
    pairs = [
        {"a": "b,c", "d": "e"},
        {"a": "b", "c,d": "e"},
        {"a": 'b"], ["c', "d": "e"},
        {"a": "b", "c": "d", "e": ""},
        {"a": "\ud800"},  # a lone surrogate: no UTF-8, the repr key
        {"a": "\udfff"},
    ]
    for labels in pairs:
        assert _fingerprint_cached(tuple(sorted(labels.items()))) == fingerprint(labels)
    assert len({fingerprint(labels) for labels in pairs}) == len(pairs)
