"""``alerting.routes`` at load: the shape, and every bad channel, severity, regex or label name
reported at its own line with its dotted path (STYLE.md R12)."""

from __future__ import annotations

import pytest

from opsbook.config import Config, loads
from opsbook.config.alerts import Route
from opsbook.errors import ConfigError

HEAD = """\
service: shop
channels:
  ops: {webhook: {url: "http://127.0.0.1:9000/hook"}}
  pager: {webhook: {url: "http://127.0.0.1:9000/pager"}}
alerting:
  notify: [ops]
  routes:
"""
FIRST = HEAD.count("\n") + 1
"""The file line of the first route line."""


def load(routes: str) -> Config:
    return loads(HEAD + routes, file="opsbook.yaml")


def problems(routes: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load(routes)
    return [str(p) for p in info.value.problems]


def test_it_loads_routes_in_order_with_their_defaults() -> None:
    config = load(
        """\
    - match: {team: payments, instance: "~web-[0-9]+"}
      severity: [SEV1, SEV2]
      notify: [pager]
      group_by: [team]
      continue: true
    - severity: SEV3
      notify: []
"""
    )
    first, second = config.alerting.routes
    assert first == Route(
        match={"team": "payments", "instance": "~web-[0-9]+"},
        severity=["SEV1", "SEV2"],
        notify=["pager"],
        group_by=["team"],
        continue_=True,
    )
    assert (second.match, second.severity, second.notify) == ({}, ["SEV3"], [])
    assert (second.group_by, second.continue_) == (None, False)


def test_without_routes_the_list_is_empty() -> None:
    assert loads("service: shop\n", file="opsbook.yaml").alerting.routes == []


@pytest.mark.parametrize(
    ("routes", "expected"),
    [
        pytest.param(
            '    - match: {team: payments, service: "~(pay"}\n      notify: [ops]\n',
            [
                f"opsbook.yaml:{FIRST}:40: alerting.routes[0].match.service: '(pay' is not a "
                "regular expression (missing ), unterminated subpattern at position 0)"
            ],
            id="regex",
        ),
        pytest.param(
            "    - notify: [ops]\n    - match: {team-name: x}\n      notify: [ops]\n",
            [
                f"opsbook.yaml:{FIRST + 1}:26: alerting.routes[1].match.team-name: 'team-name' "
                "is not a label name (use letters, digits and '_', not starting with a digit, "
                "e.g. team or service_tier)"
            ],
            id="match label name",
        ),
        pytest.param(
            "    - notify: [ops]\n      group_by: [alertname, bad-label]\n",
            [
                f"opsbook.yaml:{FIRST + 1}:29: alerting.routes[0].group_by[1]: 'bad-label' is "
                "not a label name (use letters, digits and '_', not starting with a digit, "
                "e.g. team or service_tier)"
            ],
            id="group_by label name",
        ),
        pytest.param(
            "    - match: {team: x}\n",
            [f"opsbook.yaml:{FIRST}:7: alerting.routes[0]: missing required key 'notify'"],
            id="notify is required",
        ),
        pytest.param(
            "    - notify: [ops]\n      continues: true\n",
            [
                f"opsbook.yaml:{FIRST + 1}:7: alerting.routes[0].continues: unknown key "
                "'continues' (did you mean 'continue'?)"
            ],
            id="unknown key, named as written in YAML",
        ),
    ],
)
def test_a_malformed_route_is_reported_at_its_line(routes: str, expected: list[str]) -> None:
    assert problems(routes) == expected


def test_every_unknown_channel_and_severity_is_reported_at_once() -> None:
    routes = """\
    - severity: [SEV1, SEV9]
      notify: [ops, pagr]
    - severity: SEV0
      notify: [chat]
"""
    # In file order; a one-name severity is reported at the name, without an index.
    assert problems(routes) == [
        f"opsbook.yaml:{FIRST}:24: alerting.routes[0].severity[1]: unknown severity 'SEV9' "
        "(known severities: SEV1, SEV2, SEV3, SEV4)",
        f"opsbook.yaml:{FIRST + 1}:21: alerting.routes[0].notify[1]: unknown channel 'pagr' "
        "(did you mean 'pager'?)",
        f"opsbook.yaml:{FIRST + 2}:17: alerting.routes[1].severity: unknown severity 'SEV0' "
        "(known severities: SEV1, SEV2, SEV3, SEV4)",
        f"opsbook.yaml:{FIRST + 3}:16: alerting.routes[1].notify[0]: unknown channel 'chat' "
        "(known channels: ops, pager)",
    ]
