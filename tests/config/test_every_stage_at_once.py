"""References between sections are checked in the same run as the errors inside items (issue 10).

An invalid item (check, alert, channel, severity, on-call person...) is left out of that check:
a reference to it is not "unknown", and what needs its content is skipped for it alone.
"""

from __future__ import annotations

import textwrap

import pytest

from opsbook.config import loads
from opsbook.errors import ConfigError


def errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        loads(textwrap.dedent(text).lstrip("\n"), file="x.yaml", environ={})
    return [str(p) for p in info.value.problems]


def test_an_invalid_check_does_not_hide_the_alert_errors() -> None:
    assert errors("""
        service: shop
        checks:
          web:
            http: {url: "https://shop.example/health"}
            conditions: ["[BODY.status == healthy", "[STATUS] = 200"]
        alerts:
          web-down: {when: wbe down, severity: SEV9}
    """) == [
        "x.yaml:5:18: checks.web.conditions[0]: unclosed '[' in '[BODY.status == healthy' "
        "(did you mean '[BODY].status == healthy'?)",
        "x.yaml:5:45: checks.web.conditions[1]: '=' is not an operator; write '[STATUS] == 200'",
        "x.yaml:7:20: alerts.web-down.when: unknown check 'wbe' (did you mean 'web'?)",
        "x.yaml:7:40: alerts.web-down.severity: unknown severity 'SEV9' "
        "(known severities: SEV1, SEV2, SEV3, SEV4)",
    ]


def test_a_reference_to_an_invalid_check_is_not_reported_again() -> None:
    # The alert names web, whose own error is reported; "unknown check 'web'" would mislead,
    # and its retry_every cannot be compared with an every that did not validate.
    assert errors("""
        service: shop
        checks:
          web: {http: {url: "https://shop.example/"}, every: soon}
          db: {tcp: {host: db, port: 5432}, depends_on: [web]}
        components:
          site: {name: Site, checks: [web]}
        maintenance:
          deploys: {checks: [web], start: "2026-01-01T00:00:00Z", end: "2026-01-01T01:00:00Z"}
        alerts:
          web-down: {when: web down, retry_every: 1h, severity: SEV7}
    """) == [
        "x.yaml:3:54: checks.web.every: 'soon' is not a duration (use e.g. 30s, 5m, 1h)",
        "x.yaml:10:57: alerts.web-down.severity: unknown severity 'SEV7' "
        "(known severities: SEV1, SEV2, SEV3, SEV4)",
    ]


def test_a_reference_to_an_invalid_channel_or_severity_is_not_reported_again() -> None:
    assert errors("""
        service: shop
        severities:
          SEV1: {respond_within: soon}
        channels:
          slack: {webhook: {url: "https://hooks.example/x", timeout: never}}
        checks:
          web: {http: {url: "https://shop.example/"}}
        alerts:
          web-down: {when: web down, severity: SEV1, notify: [slack, pager]}
    """) == [
        "x.yaml:3:26: severities.SEV1.respond_within: 'soon' is not a duration "
        "(use e.g. 30s, 5m, 1h)",
        "x.yaml:5:62: channels.slack.webhook.timeout: 'never' is not a duration "
        "(use e.g. 30s, 5m, 1h)",
        "x.yaml:9:62: alerts.web-down.notify[1]: unknown channel 'pager' (known channels: slack)",
    ]


def test_a_section_of_the_wrong_shape_counts_every_name_in_it_as_defined() -> None:
    assert errors("""
        service: shop
        channels: [slack]
        checks:
          web: {http: {url: "https://shop.example/"}}
        alerts:
          web-down: {when: web down, notify: [slack], severity: SEV5}
    """) == [
        "x.yaml:2:1: channels: expected a mapping, got a list",
        "x.yaml:6:57: alerts.web-down.severity: unknown severity 'SEV5' "
        "(known severities: SEV1, SEV2, SEV3, SEV4)",
    ]


def test_oncall_references_are_checked_next_to_invalid_people() -> None:
    assert errors("""
        service: shop
        channels:
          slack: {webhook: {url: "https://hooks.example/x"}}
        oncall:
          people:
            ana: {name: Ana, notify: [slack], timezone: Mars/Base}
            ben: {name: Ben, notify: [slak]}
          schedules:
            primary: {rotation: weekly, handoff: "mon 09:00", people: [ana, ben, cid]}
    """) == [
        "x.yaml:6:49: oncall.people.ana.timezone: 'Mars/Base' is not a timezone "
        "(use an IANA name such as UTC or Europe/Berlin)",
        "x.yaml:7:31: oncall.people.ben.notify[0]: unknown channel 'slak' (did you mean 'slack'?)",
        "x.yaml:9:74: oncall.schedules.primary.people[2]: unknown person 'cid' (known: ben, ana)",
    ]


def test_every_cross_section_rule_reports_in_one_run() -> None:
    # These rules used to be separate validators; the first that failed hid the others.
    assert errors("""
        service: shop
        checks:
          a: {heartbeat: {period: 1h, uuid: 5f2b1c3e-0b8f-4d55-9a5e-6a1c0f6e2d11}}
          b: {heartbeat: {period: 1h, uuid: 5f2b1c3e-0b8f-4d55-9a5e-6a1c0f6e2d11}}
        components:
          site: {name: Site, checks: [c]}
        alerts:
          a-late: {when: a late, severity: SEV8}
    """) == [
        "x.yaml:4:37: checks.b.heartbeat.uuid: uuid 5f2b1c3e-0b8f-4d55-9a5e-6a1c0f6e2d11 is "
        "already used by check 'a'; each heartbeat needs its own ping URL",
        "x.yaml:6:31: components.site.checks[0]: unknown check 'c' (known checks: a, b)",
        "x.yaml:8:36: alerts.a-late.severity: unknown severity 'SEV8' "
        "(known severities: SEV1, SEV2, SEV3, SEV4)",
    ]


def test_a_missing_service_does_not_stop_the_reference_checks() -> None:
    assert errors("""
        checks:
          web: {http: {url: "https://shop.example/"}}
        alerts:
          web-down: {when: wbe down}
    """) == [
        "x.yaml:1:1: missing required key 'service'",
        "x.yaml:4:20: alerts.web-down.when: unknown check 'wbe' (did you mean 'web'?)",
    ]
