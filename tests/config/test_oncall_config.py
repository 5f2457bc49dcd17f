"""The ``oncall:`` section: shapes accepted, and every mistake at its file:line with the path."""

from __future__ import annotations

import textwrap
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest

from opsbook.config import load, loads
from opsbook.config.oncall import Handoff, parse_handoff
from opsbook.errors import ConfigError

PEOPLE = """\
service: shop
channels:
  slack: {webhook: {url: "https://hooks.example/x"}}
oncall:
  people:
    ana: {name: Ana, email: ana@shop.example, timezone: Europe/Berlin, notify: [slack]}
    ben: {name: Ben, notify: [slack]}
    cto: {name: Cleo, notify: [slack]}
"""


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def errors(text: str) -> list[str]:
    body = textwrap.indent(textwrap.dedent(text).strip("\n"), "  ")
    Path("opsbook.yaml").write_text(PEOPLE + body + "\n")
    with pytest.raises(ConfigError) as info:
        load("opsbook.yaml", environ={})
    return [str(p) for p in info.value.problems]


def test_the_design_example_loads_with_its_people() -> None:
    config = loads(
        PEOPLE
        + """\
  schedules: {primary: {rotation: weekly, handoff: "mon 09:00", people: [ana, ben]}}
  escalation: {default: [{notify: [schedule:primary], wait: 5m}, {notify: [person:cto]}]}
"""
    )
    primary = config.oncall.schedules["primary"]
    (layer,) = primary.layers
    assert (layer.rotation, layer.people, layer.length) == ("weekly", ["ana", "ben"], timedelta(7))
    assert layer.first_handoff == datetime(2026, 1, 5, 9, 0)
    policy = config.oncall.escalation["default"]
    assert (policy.repeat, policy.levels[0].wait, policy.levels[1].wait) == (
        0,
        timedelta(minutes=5),
        None,
    )
    assert config.oncall.people["ana"].timezone == "Europe/Berlin"


def test_layers_overrides_restrictions_and_repeat() -> None:
    config = loads(
        PEOPLE
        + """\
  schedules:
    primary:
      timezone: Europe/Berlin
      layers:
        - {rotation: daily, handoff: "18:00", people: [ana, ben], start: 2026-03-02}
        - name: weekend
          rotation: 12h
          handoff: 2026-03-07T08:00
          people: [cto]
          restrict: {days: [sat, sun], hours: "08:00-20:00"}
      overrides:
        - {person: ben, start: "2026-03-10T09:00", end: "2026-03-11T09:00"}
  escalation:
    default:
      levels:
        - {notify: [schedule:primary, channel:slack], wait: 5m}
        - {notify: [person:cto], wait: 10m}
      repeat: 2
"""
    )
    daily, weekend = config.oncall.schedules["primary"].layers
    assert daily.first_handoff == datetime(2026, 3, 2, 18, 0)
    assert weekend.first_handoff == datetime(2026, 3, 7, 8, 0)
    assert (weekend.is_calendar, weekend.restrict and weekend.restrict.window()) == (
        False,
        (time(8), time(20)),
    )
    assert config.oncall.escalation["default"].repeat == 2


def test_a_weekly_handoff_on_another_day_starts_on_that_day_after_start() -> None:
    config = loads(
        PEOPLE + "  schedules: {p: {rotation: weekly, handoff: 'wed 10:30', people: [ana], "
        "start: 2026-01-05}}\n"
    )
    assert config.oncall.schedules["p"].layers[0].first_handoff == datetime(2026, 1, 7, 10, 30)


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("mon 09:00", Handoff(time(9), weekday=0)),
        ("Sunday 23:30", Handoff(time(23, 30), weekday=6)),
        ("9:05", Handoff(time(9, 5))),
        ("2026-01-05T09:00", Handoff(time(9), day=date(2026, 1, 5))),
        ("2026-01-05 21:00", Handoff(time(21), day=date(2026, 1, 5))),
    ],
)
def test_it_reads_handoffs(text: str, parsed: Handoff) -> None:
    assert parse_handoff(text) == parsed


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (
            "schedules: {p: {rotation: weekly, handoff: '09:00', people: [ana]}}",
            "opsbook.yaml:9:46: oncall.schedules.p.handoff: a weekly rotation hands off on a day: "
            "use e.g. 'mon 09:00'",
        ),
        (
            "schedules: {p: {rotation: daily, handoff: 'mon 09:00', people: [ana]}}",
            "opsbook.yaml:9:45: oncall.schedules.p.handoff: only a weekly rotation names a day; "
            "use a time like 09:00 (or a start like 2026-01-05T09:00 for other lengths)",
        ),
        (
            "schedules: {p: {rotation: daily, handoff: '25:00', people: [ana]}}",
            "opsbook.yaml:9:45: oncall.schedules.p.handoff: '25:00' is not a handoff (use "
            "'mon 09:00' for weekly, '09:00' for daily, or a start like 2026-01-05T09:00 for "
            "other lengths)",
        ),
        (
            "schedules: {p: {rotation: fortnightly, people: [ana]}}",
            "opsbook.yaml:9:29: oncall.schedules.p.rotation: 'fortnightly' is not a rotation "
            "(use daily, weekly or a length like 12h or 2w)",
        ),
        (
            "schedules: {p: {rotation: 30m, people: [ana]}}",
            "opsbook.yaml:9:29: oncall.schedules.p.rotation: a rotation must be at least 1h, "
            "got '30m'",
        ),
        (
            "schedules: {p: {rotation: 12h, handoff: 2026-01-05T09:00, start: 2026-01-05, "
            "people: [ana]}}",
            "opsbook.yaml:9:68: oncall.schedules.p.start: set start or a dated handoff, not both",
        ),
        (
            "schedules: {p: {rotation: daily, people: []}}",
            "opsbook.yaml:9:36: oncall.schedules.p.people: must not be empty",
        ),
        (
            "schedules: {p: {rotation: daily, people: [ana], layers: []}}",
            "opsbook.yaml:9:15: oncall.schedules.p: set layers, or rotation/handoff/people for "
            "one layer, not both",
        ),
        (
            "schedules: {p: {layers: [{rotation: daily, people: [ana], restrict: {days: [sat]}}]}}",
            "opsbook.yaml:9:61: oncall.schedules.p.layers[0].restrict: the first layer cannot be "
            "restricted: it keeps someone on call at every hour; add the restricted rotation as "
            "a later layer",
        ),
        (
            "schedules: {p: {layers: [{rotation: daily, people: [ana]}, {rotation: daily, "
            "people: [ben], restrict: {hours: '9-17'}}]}}",
            "opsbook.yaml:9:113: oncall.schedules.p.layers[1].restrict.hours: '9' is not a time of "
            "day (use HH:MM, e.g. 09:00)",
        ),
        (
            "schedules: {p: {rotation: daily, people: [ana], overrides: "
            "[{person: ben, start: 2026-01-02T00:00, end: 2026-01-01T00:00}]}}",
            "opsbook.yaml:9:107: oncall.schedules.p.overrides[0].end: end must be after start",
        ),
        (
            "schedules: {p: {rotation: daily, people: [ana], overrides: "
            "[{person: ben, start: 2026-01-01T00:00Z, end: 2026-01-02T00:00}]}}",
            "opsbook.yaml:9:108: oncall.schedules.p.overrides[0].end: give both start and end "
            "with an offset, or neither",
        ),
        (
            "escalation: {default: [{notify: [channel:slack, person:zed]}]}",
            "opsbook.yaml:9:51: oncall.escalation.default[0].notify[1]: unknown person 'zed' "
            "(known: ana, ben, cto)",
        ),
        (
            "escalation: {default: [{notify: [pager:ana], wait: 5m}]}",
            "opsbook.yaml:9:36: oncall.escalation.default[0].notify[0]: 'pager:ana' is not a "
            "target (use schedule:NAME, person:NAME or channel:NAME)",
        ),
        (
            "escalation: {default: [{notify: [person:ana]}, {notify: [person:ben]}]}",
            "opsbook.yaml:9:26: oncall.escalation.default[0]: wait is required before the next "
            "level (e.g. wait: 5m)",
        ),
        (
            "escalation: {default: {levels: [{notify: [person:ana]}], repeat: 1}}",
            "opsbook.yaml:9:35: oncall.escalation.default.levels[0]: wait is required before "
            "repeating (e.g. wait: 5m)",
        ),
        (
            "escalation: {default: [{notify: [person:ana], wait: 0s}]}",
            "opsbook.yaml:9:55: oncall.escalation.default[0].wait: wait must be longer than 0s",
        ),
        (
            "escalation: {default: {levels: [{notify: [person:ana], wait: 1m}], repeat: 11}}",
            "opsbook.yaml:9:78: oncall.escalation.default.repeat: must be at most 10, got 11",
        ),
        (
            "schedules: {Main: {rotation: daily, people: [ana]}}",
            "opsbook.yaml:9:15: oncall.schedules.Main: 'Main' is not a valid id (use lowercase "
            "letters, digits, '-' and '_', starting with a letter or digit)",
        ),
        (
            "schedules: {overrides: {rotation: daily, people: [ana]}}",
            "opsbook.yaml:9:15: oncall.schedules.overrides: a schedule cannot be called "
            "'overrides': /api/v1/oncall/overrides is another route; rename the schedule",
        ),
    ],
)
def test_it_explains_each_mistake(text: str, problem: str) -> None:
    assert errors(text)[0] == problem


def test_every_unknown_reference_is_reported_at_its_own_line() -> None:
    assert errors("""
          schedules:
            primary:
              layers:
                - {rotation: weekly, handoff: "mon 09:00", people: [ana, bob]}
              overrides:
                - {person: zed, start: 2026-01-01T00:00, end: 2026-01-02T00:00}
            backup: {rotation: daily, people: [an]}
          escalation:
            default:
              - {notify: [schedule:primry, person:cto, channel:slak], wait: 5m}
              - {notify: [schedule:nope, person:cto]}
    """) == [
        "opsbook.yaml:12:66: oncall.schedules.primary.layers[0].people[1]: unknown person 'bob' "
        "(known: ana, ben, cto)",
        "opsbook.yaml:14:20: oncall.schedules.primary.overrides[0].person: unknown person 'zed' "
        "(known: ana, ben, cto)",
        "opsbook.yaml:15:40: oncall.schedules.backup.people[0]: unknown person 'an' "
        "(did you mean 'ana'?)",
        "opsbook.yaml:18:19: oncall.escalation.default[0].notify[0]: unknown schedule 'primry' "
        "(did you mean 'primary'?)",
        "opsbook.yaml:18:48: oncall.escalation.default[0].notify[2]: unknown channel 'slak' "
        "(did you mean 'slack'?)",
        "opsbook.yaml:19:19: oncall.escalation.default[1].notify[0]: unknown schedule 'nope' "
        "(known: primary, backup)",
    ]


def test_people_must_be_declared_even_when_there_are_none() -> None:
    Path("opsbook.yaml").write_text(
        "service: shop\noncall:\n  schedules: {p: {rotation: daily, people: [ana]}}\n"
    )
    with pytest.raises(ConfigError) as info:
        load("opsbook.yaml", environ={})
    assert [str(p) for p in info.value.problems] == [
        "opsbook.yaml:3:45: oncall.schedules.p.people[0]: unknown person 'ana' "
        "(none are defined under oncall.people)"
    ]


def _yaml_blocks(path: Path) -> list[str]:
    text = path.read_text()
    return [part.split("```", 1)[0] for part in text.split("```yaml\n")[1:]]


def test_the_docs_examples_load() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "oncall.md"
    blocks = _yaml_blocks(docs)
    channels = (
        'channels:\n  pager: {webhook: {url: "https://pager.example/x"}}\n'
        '  slack: {webhook: {url: "https://hooks.example/x"}}\n'
        "  email: {smtp: {to: oncall@levqor.example}}\n"
    )
    whole = [b for b in blocks if b.startswith(("timezone:", "oncall:"))]
    assert len(whole) == 2
    env = {"SLACK_URL": "json://localhost/x", "PAGER_SECRET": "s"}
    for block in whole:
        body = block if "channels:" in block else channels + block
        config = loads("service: levqor\n" + body, environ=env)
        assert config.oncall.escalation["default"].levels


def test_the_docs_layered_schedule_loads() -> None:
    docs = Path(__file__).resolve().parents[2] / "docs" / "oncall.md"
    (block,) = [b for b in _yaml_blocks(docs) if b.startswith("schedules:")]
    people = "".join(f"    {p}: {{name: {p}}}\n" for p in ("ana", "ben", "cy", "dee", "eve", "fin"))
    config = loads("service: levqor\noncall:\n  people:\n" + people + textwrap.indent(block, "  "))
    assert [layer.name for layer in config.oncall.schedules["primary"].layers] == [
        None,
        "weekend",
        "ops-night",
    ]


def test_severities_name_policies_and_channels_that_exist() -> None:
    Path("opsbook.yaml").write_text(
        PEOPLE
        + "  escalation: {default: [{notify: [person:ana]}]}\n"
        + "severities:\n"
        + "  SEV1: {respond_within: 15m, page: true, escalation: defualt, notify: [slak]}\n"
        + "  SEV2: {respond_within: 1h, escalation: default, notify: [slack]}\n"
    )
    with pytest.raises(ConfigError) as info:
        load("opsbook.yaml", environ={})
    assert [str(p) for p in info.value.problems] == [
        "opsbook.yaml:11:55: severities.SEV1.escalation: unknown escalation policy 'defualt' "
        "(did you mean 'default'?)",
        "opsbook.yaml:11:73: severities.SEV1.notify[0]: unknown channel 'slak' "
        "(did you mean 'slack'?)",
    ]


def test_a_person_who_can_be_paged_needs_a_way_to_be_reached() -> None:
    Path("opsbook.yaml").write_text(
        "service: shop\n"
        "channels: {slack: {webhook: {url: 'https://hooks.example/x'}}}\n"
        "oncall:\n"
        "  people:\n"
        "    ana: {name: Ana, notify: [slakc]}\n"
        "    ben: {name: Ben}\n"
        "    cy: {name: Cy}\n"
        "  schedules: {primary: {rotation: weekly, people: [ana, ben]}}\n"
        "  escalation: {default: [{notify: [schedule:primary]}]}\n"
    )
    with pytest.raises(ConfigError) as info:
        load("opsbook.yaml", environ={})
    # cy is never paged, so cy needs no channel.
    assert [str(p) for p in info.value.problems] == [
        "opsbook.yaml:5:31: oncall.people.ana.notify[0]: unknown channel 'slakc' "
        "(did you mean 'slack'?)",
        "opsbook.yaml:6:5: oncall.people.ben: 'ben' can be paged (on schedule 'primary', "
        "escalation policy 'default') but has no notify channels: add notify: [CHANNEL, ...]",
    ]


def test_escalate_after_needs_a_policy_and_a_length() -> None:
    Path("opsbook.yaml").write_text(
        "service: shop\n"
        "severities:\n"
        "  SEV1: {respond_within: 15m, escalate_after: 15m}\n"
        "  SEV2: {respond_within: 1h, escalate_after: 0s}\n"
    )
    with pytest.raises(ConfigError) as info:
        load("opsbook.yaml", environ={})
    assert [str(p) for p in info.value.problems] == [
        "opsbook.yaml:3:47: severities.SEV1.escalate_after: escalate_after needs an escalation "
        "policy to page: set escalation",
        "opsbook.yaml:4:46: severities.SEV2.escalate_after: escalate_after must be longer than 0s",
    ]
