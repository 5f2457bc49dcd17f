"""Parameter values from a request, checked against the runbook's declarations."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsbook.errors import InputError
from opsbook.runbooks.models import Parameter, ParamType
from opsbook.runbooks.values import check_values, convert, render_value, secret_values

P = ParamType


@pytest.mark.parametrize(
    ("param", "raw", "expected"),
    [
        (Parameter("s"), " keep spaces ", " keep spaces "),
        (Parameter("n", P.INT), "42", 42),
        (Parameter("n", P.INT), "-7", -7),
        (Parameter("n", P.INT), " 3 ", 3),
        (Parameter("x", P.FLOAT), "0.5", 0.5),
        (Parameter("b", P.BOOL), "true", True),
        (Parameter("b", P.BOOL), "FALSE", False),
        (Parameter("d", P.DURATION), "1h30m", timedelta(minutes=90)),
        (Parameter("e", allowed=("prod", "staging")), "prod", "prod"),
        (Parameter("n", P.INT, allowed=(1, 2)), "2", 2),
        (Parameter("n", P.INT, allowed=("1", "2")), "2", 2),
        (Parameter("d", P.DURATION, allowed=("5m", "1h")), "300s", timedelta(minutes=5)),
        (Parameter("b", P.BOOL, allowed=(True,)), "true", True),
    ],
)
def test_it_converts_accepted_values(param: Parameter, raw: str, expected: object) -> None:
    value = convert(param, raw)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize(
    ("param", "raw", "message"),
    [
        (Parameter("n", P.INT), "4.2", "params.n: not an integer (e.g. 42)"),
        (Parameter("n", P.INT), "", "params.n: not an integer (e.g. 42)"),
        (Parameter("x", P.FLOAT), "nan", "params.x: not a number (e.g. 0.5)"),
        (Parameter("x", P.FLOAT), "abc", "params.x: not a number (e.g. 0.5)"),
        (Parameter("b", P.BOOL), "yes", "params.b: not true or false"),
        (Parameter("d", P.DURATION), "30", "params.d: not a duration (e.g. 30s, 5m, 1h)"),
        (
            Parameter("e", allowed=("prod", "staging")),
            "dev",
            "params.e: not one of the allowed values (prod, staging)",
        ),
        (
            Parameter("b", P.BOOL, allowed=(True,)),
            "false",
            "params.b: not one of the allowed values (true)",
        ),
        (
            Parameter("n", P.INT, allowed=(True,)),
            "1",
            "params.n: not one of the allowed values (true)",
        ),
        (Parameter("s"), "a\x00b", "params.s: contains a NUL character"),
        (
            Parameter("t", allowed=("a-token", "b-token"), secret=True),
            "c-token",
            "params.t: not one of the allowed values",
        ),
    ],
)
def test_it_rejects_bad_values_naming_the_parameter(
    param: Parameter, raw: str, message: str
) -> None:
    with pytest.raises(InputError) as caught:
        convert(param, raw)
    assert str(caught.value) == message
    assert caught.value.field == f"params.{param.name}"


def test_an_error_never_repeats_the_value() -> None:
    canary = "canary-4f1e9b-not-an-int"
    with pytest.raises(InputError) as caught:
        check_values({"n": canary}, parameters=[Parameter("n", P.INT)], names=["n"])
    assert canary not in str(caught.value)


def test_it_fills_defaults_and_leaves_optional_ones_empty() -> None:
    params = [
        Parameter("limit", P.INT, default="10"),
        Parameter("since", P.DURATION, default="5m"),
        Parameter("verbose", P.BOOL, default=False),
        Parameter("note", required=False),
    ]
    values = check_values({}, parameters=params, names=["limit", "since", "verbose", "note"])
    assert values == {"limit": 10, "since": timedelta(minutes=5), "verbose": False, "note": None}


def test_a_given_value_beats_the_default() -> None:
    params = [Parameter("limit", P.INT, default=10)]
    assert check_values({"limit": "3"}, parameters=params, names=["limit"]) == {"limit": 3}


def test_it_returns_only_the_names_asked_for() -> None:
    params = [Parameter("a"), Parameter("b")]
    assert check_values({"a": "1", "b": "2"}, parameters=params, names=["b"]) == {"b": "2"}


def test_a_missing_required_parameter_is_named() -> None:
    with pytest.raises(InputError) as caught:
        check_values({}, parameters=[Parameter("user_id")], names=["user_id"])
    assert str(caught.value) == "params.user_id: is required"
    assert caught.value.field == "params.user_id"


def test_an_unknown_parameter_is_named_with_the_declared_ones() -> None:
    with pytest.raises(InputError) as caught:
        check_values({"usr": "x"}, parameters=[Parameter("user"), Parameter("db")], names=["user"])
    assert str(caught.value) == "params.usr: no such parameter (this runbook declares: db, user)"
    assert caught.value.field == "params.usr"


def test_an_undeclared_placeholder_is_an_error() -> None:
    with pytest.raises(InputError, match=r"params.ghost: the step uses it but the runbook"):
        check_values({}, parameters=[], names=["ghost"])


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "true"),
        (False, "false"),
        (timedelta(seconds=90), "1m30s"),
        (None, ""),
        (3, "3"),
        ("x", "x"),
    ],
)
def test_render_value(value: object, text: str) -> None:
    assert render_value(value) == text  # type: ignore[arg-type]


def test_secret_values_are_the_secret_parameters_only() -> None:
    params = [
        Parameter("token", secret=True),
        Parameter("user"),
        Parameter("pin", P.INT, secret=True),
    ]
    values = check_values(
        {"token": "tok-123456", "user": "alice", "pin": "1234"},
        parameters=params,
        names=["token", "user", "pin"],
    )
    assert sorted(secret_values(params, values)) == ["1234", "tok-123456"]
