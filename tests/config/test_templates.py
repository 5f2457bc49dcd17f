"""Annotation templates: validated at load with a sentence, rendered in Jinja2's sandbox, with
Prometheus' ``$value``/``$labels`` spellings accepted."""

from __future__ import annotations

import pytest

from opsbook.config import loads
from opsbook.config.templates import check_template, prometheus_compatible, render
from opsbook.errors import ConfigError

VARIABLES = {
    "value": 2340.5,
    "values": {"depth": 12},
    "threshold": 2000.0,
    "check": "api",
    "rule": "slow",
    "labels": {"instance": "a:9100", "alertname": "slow"},
    "severity": "SEV2",
}


@pytest.mark.parametrize(
    ("text", "rendered"),
    [
        ("plain text", "plain text"),
        ("{{ check }} p95 is {{ value | round | int }} ms", "api p95 is 2340 ms"),
        ("{{ $value }} on {{ $labels.instance }}", "2340.5 on a:9100"),
        ("{{$labels.alertname}}", "slow"),
        ("depth {{ values.depth }} > {{ threshold }}", "depth 12 > 2000.0"),
        ("{{ labels.missing }}|", "|"),
        ("costs $value outside braces", "costs $value outside braces"),
        ("{% if severity == 'SEV2' %}page{% endif %}", "page"),
    ],
)
def test_it_renders(text: str, rendered: str) -> None:
    assert check_template(text) is None
    assert render(text, VARIABLES) == rendered


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{{ value ", "template error on line 1 of the template: unexpected end of template"),
        ("{{ value | nope }}", "template error on line 1 of the template: No filter named 'nope'."),
        (
            "{{ vaule }}",
            "unknown template variable vaule "
            "(use check, labels, rule, severity, threshold, value, values)",
        ),
        ("{{ $labls.x }}", "template error on line 1 of the template: unexpected char '$'"),
    ],
)
def test_it_refuses(text: str, problem: str) -> None:
    found = check_template(text)
    assert found is not None and found.startswith(problem)


@pytest.mark.parametrize(
    "text", ["{{ labels.instance / 0 }}", "{{ ''.__class__.__mro__ }}{{ x.y() }}"]
)
def test_a_failure_while_rendering_is_a_value_error(text: str) -> None:
    with pytest.raises(ValueError, match=r"template .* failed"):
        render(text, {**VARIABLES, "x": object()})


def test_the_sandbox_refuses_internals() -> None:
    # The sandbox answers an unsafe attribute with an undefined (rendered empty), never the object.
    assert render("{{ check.__class__ }}", VARIABLES) == ""


def test_only_blocks_are_rewritten() -> None:
    assert prometheus_compatible("$value {{ $value }} {% if $labels %}") == (
        "$value {{ value }} {% if labels %}"
    )


def test_a_broken_template_is_a_config_error_with_the_line() -> None:
    text = """service: shop
checks:
  api: {http: {url: "http://127.0.0.1:1/"}}
alerts:
  api-down:
    when: api down
    annotations:
      summary: "{{ value | nope }}"
"""
    with pytest.raises(ConfigError) as caught:
        loads(text, file="opsbook.yaml")
    assert "opsbook.yaml:8" in str(caught.value)
    assert "No filter named 'nope'" in str(caught.value)
