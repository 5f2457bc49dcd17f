from __future__ import annotations

import pytest

from opsbook.config.interpolate import interpolate

ENV = {"HOST": "db.internal", "EMPTY": "", "TOKEN": "t0k3n"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("plain", "plain"),
        ("${HOST}", "db.internal"),
        ("postgres://${HOST}:5432/app", "postgres://db.internal:5432/app"),
        ("${MISSING:-fallback}", "fallback"),
        ("${EMPTY:-fallback}", "fallback"),
        ("${MISSING:-}", ""),
        ("${EMPTY}", ""),
        ("$${HOST}", "${HOST}"),
        ("cost: $5", "cost: $5"),
        ("$$ and $", "$$ and $"),
        ("${HOST}-${TOKEN}", "db.internal-t0k3n"),
    ],
)
def test_it_replaces_references(text: str, expected: str) -> None:
    assert interpolate(text, ENV)[0] == expected


def test_it_returns_the_values_it_used_so_they_can_be_masked() -> None:
    assert interpolate("${HOST}/${TOKEN}/${MISSING:-x}", ENV)[1] == ["db.internal", "t0k3n"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "${DATABASE_URL}",
            "environment variable DATABASE_URL is not set "
            "(use ${DATABASE_URL:-default} for a default)",
        ),
        (
            "${not valid}",
            "'${' starts no valid reference (use ${NAME} or ${NAME:-default}; "
            "write $${ for a literal ${)",
        ),
        (
            "${HOST",
            "'${' starts no valid reference (use ${NAME} or ${NAME:-default}; "
            "write $${ for a literal ${)",
        ),
    ],
)
def test_it_rejects_unset_variables_and_bad_references(text: str, message: str) -> None:
    with pytest.raises(ValueError) as info:
        interpolate(text, ENV)
    assert str(info.value) == message
