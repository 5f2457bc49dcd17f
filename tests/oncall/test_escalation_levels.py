"""The levels an escalation policy pages, in order, with repeats unrolled."""

from __future__ import annotations

from datetime import timedelta

import pytest

from opsbook.config import Config
from opsbook.errors import NotFound
from opsbook.oncall import Level, Target, escalation_levels


def config(escalation: dict[str, object]) -> Config:
    return Config.model_validate(
        {
            "service": "levqor",
            "channels": {"slack": {"webhook": {"url": "https://hooks.example/x"}}},
            "oncall": {
                "people": {
                    "senior": {"name": "Senior Engineer", "notify": ["slack"]},
                    "cto": {"name": "CTO", "notify": ["slack"]},
                },
                "schedules": {
                    "primary": {"rotation": "weekly", "handoff": "mon 09:00", "people": ["senior"]}
                },
                "escalation": escalation,
            },
        }
    )


def test_levels_start_after_the_waits_before_them() -> None:
    levels = escalation_levels(
        config(
            {
                "default": [
                    {"notify": ["schedule:primary", "channel:slack"], "wait": "5m"},
                    {"notify": ["person:senior"], "wait": "15m"},
                    {"notify": ["person:cto"]},
                ]
            }
        ),
        "default",
    )
    assert levels == [
        Level(
            1,
            0,
            (Target("schedule", "primary"), Target("channel", "slack")),
            timedelta(minutes=5),
            timedelta(),
        ),
        Level(2, 0, (Target("person", "senior"),), timedelta(minutes=15), timedelta(minutes=5)),
        Level(3, 0, (Target("person", "cto"),), None, timedelta(minutes=20)),
    ]
    assert str(levels[0].notify[0]) == "schedule:primary"


def test_repeat_runs_the_policy_again_from_the_first_level() -> None:
    levels = escalation_levels(
        config(
            {
                "default": {
                    "levels": [
                        {"notify": ["schedule:primary"], "wait": "5m"},
                        {"notify": ["person:cto"], "wait": "10m"},
                    ],
                    "repeat": 2,
                }
            }
        ),
        "default",
    )
    assert [(lv.number, lv.round, lv.after) for lv in levels] == [
        (1, 0, timedelta()),
        (2, 0, timedelta(minutes=5)),
        (1, 1, timedelta(minutes=15)),
        (2, 1, timedelta(minutes=20)),
        (1, 2, timedelta(minutes=30)),
        (2, 2, timedelta(minutes=35)),
    ]


def test_an_unknown_policy_is_not_found() -> None:
    with pytest.raises(NotFound, match=r"no escalation policy named 'sev1' \(known: default\)"):
        escalation_levels(config({"default": [{"notify": ["person:cto"]}]}), "sev1")
