"""References between sections, checked once each section is valid on its own: alert rules ->
checks, values, severities and channels; ``alerting.routes`` -> channels and severities;
maintenance windows -> components and checks; ``depends_on`` -> checks, without cycles;
integrations -> severities.

``Config`` calls ``check_references`` and reports every problem at once, each at the key that
holds the reference, so the loader can point at its line.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from opsbook.config.alert_expr import fraction_values, measured_values, resolve
from opsbook.config.known import Known, known
from opsbook.config.runbooks import approval_problems
from opsbook.config.structure import Loc, unknown_check_message
from opsbook.config.units import format_duration

if TYPE_CHECKING:
    from opsbook.config.alerts import AlertRule
    from opsbook.config.checks import CheckSpec
    from opsbook.config.schema import Config

Problem = tuple[Loc, str]


@dataclasses.dataclass(frozen=True)
class References:
    """What ``check_references`` found: the rules with ``when`` resolved, and the problems."""

    alerts: dict[str, AlertRule]
    problems: list[Problem]


@dataclasses.dataclass(frozen=True)
class _Names:
    """The names each kind of reference may use (dropped items count as defined)."""

    checks: Known
    severities: Known
    channels: Known
    components: Known

    @classmethod
    def of(cls, config: Config, broken: frozenset[Loc]) -> _Names:
        return cls(
            checks=known(("checks",), config.checks, broken),
            severities=known(("severities",), config.severities, broken),
            channels=known(("channels",), config.channels, broken),
            components=known(("components",), config.components, broken),
        )


def check_references(config: Config, *, broken: frozenset[Loc] = frozenset()) -> References:
    """Resolve every rule's ``when`` against its check and collect every dangling reference.

    Returns the rules with each ``when`` rewritten by ``alert_expr.resolve`` (metric names in
    their ``value.<name>`` form); a rule whose ``when`` is wrong keeps its parsed form and adds
    a problem. ``broken`` holds the paths the loader dropped as invalid: a reference to one of
    them is not reported, and whatever needs its content (a rule's check) is skipped.
    """
    names = _Names.of(config, broken)
    problems: list[Problem] = []
    alerts = {
        name: _alert(name, rule, config=config, names=names, problems=problems)
        for name, rule in config.alerts.items()
    }
    problems += _channels(("alerting", "notify"), config.alerting.notify, names.channels)
    for i, route in enumerate(config.alerting.routes):
        at = ("alerting", "routes", i)
        problems += _channels((*at, "notify"), route.notify, names.channels)
        problems += [
            ((*at, "severity", j), _unknown("severity", ref, names.severities))
            for j, ref in enumerate(route.severity)
            if ref not in names.severities
        ]
    for name, window in config.maintenance.items():
        problems += [
            (("maintenance", name, "components", i), _unknown("component", ref, names.components))
            for i, ref in enumerate(window.components)
            if ref not in names.components
        ]
        problems += [
            (("maintenance", name, "checks", i), unknown_check_message(ref, names.checks))
            for i, ref in enumerate(window.checks)
            if ref not in names.checks
        ]
    for name, integration in config.integrations.items():
        severity = integration.severity
        if severity is not None and severity not in names.severities:
            problems.append(
                (
                    ("integrations", name, "severity"),
                    _unknown("severity", severity, names.severities),
                )
            )
    problems += approval_problems(
        config.runbooks.approvals, severities=names.severities, channels=names.channels
    )
    problems += dependency_problems(config.checks, known_checks=names.checks)
    return References(alerts, problems)


def _alert(
    name: str, rule: AlertRule, *, config: Config, names: _Names, problems: list[Problem]
) -> AlertRule:
    at = ("alerts", name)
    if rule.severity is not None and rule.severity not in names.severities:
        problems.append(((*at, "severity"), _unknown("severity", rule.severity, names.severities)))
    if rule.notify is not None:
        problems += _channels((*at, "notify"), rule.notify, names.channels)
    if rule.when is None:
        return rule
    check = config.checks.get(rule.when.check)
    if check is None:
        if rule.when.check not in names.checks:
            problems.append(((*at, "when"), unknown_check_message(rule.when.check, names.checks)))
        # A check dropped as invalid has its own problem; what this rule needs from it is unknown.
        return rule
    if rule.retry_every is not None and rule.retry_every >= check.every:
        problems.append(
            (
                (*at, "retry_every"),
                f"retry_every ({format_duration(rule.retry_every)}) must be shorter than "
                f"{rule.when.check}'s every ({format_duration(check.every)}): it re-probes a "
                "failing check sooner than its usual interval",
            )
        )
    try:
        when = resolve(
            rule.when,
            kind=check.kind,
            values=measured_values(check),
            fractions=fraction_values(check),
        )
    except ValueError as exc:
        problems.append(((*at, "when"), str(exc)))
        return rule
    return rule.model_copy(update={"when": when})


def _channels(at: Loc, refs: list[str], channels: Collection[str]) -> list[Problem]:
    return [
        ((*at, i), _unknown("channel", ref, channels))
        for i, ref in enumerate(refs)
        if ref not in channels
    ]


def _unknown(what: str, ref: str, known: Collection[str]) -> str:
    # Severities are a short list of near-identical names (SEV1..SEV4): list them, don't guess.
    close = [] if what == "severity" else difflib.get_close_matches(ref, list(known), n=1)
    if close:
        return f"unknown {what} {ref!r} (did you mean {close[0]!r}?)"
    if not known:
        return f"unknown {what} {ref!r} (no {_plural(what)} are defined)"
    return f"unknown {what} {ref!r} (known {_plural(what)}: {', '.join(known)})"


def _plural(what: str) -> str:
    return "severities" if what == "severity" else f"{what}s"


def dependency_problems(
    checks: Mapping[str, CheckSpec], *, known_checks: Collection[str] | None = None
) -> list[Problem]:
    """Unknown and self references in ``depends_on``, then each cycle once, reported at the
    edge that leaves its first check (in file order): ``depends_on makes a cycle: a -> b -> a``.
    ``known_checks`` (default: ``checks``) also holds checks dropped as invalid.
    """
    names = checks if known_checks is None else known_checks
    problems: list[Problem] = []
    for check_id, spec in checks.items():
        for i, ref in enumerate(spec.depends_on):
            at = ("checks", check_id, "depends_on", i)
            if ref == check_id:
                problems.append((at, f"a check cannot depend on itself ({check_id})"))
            elif ref not in names:
                problems.append((at, unknown_check_message(ref, names)))
    order = {check_id: n for n, check_id in enumerate(checks)}
    for cycle in _cycles(checks):
        start = min(cycle, key=order.__getitem__)
        turn = cycle.index(start)
        path = [*cycle[turn:], *cycle[:turn], start]
        at = ("checks", start, "depends_on", checks[start].depends_on.index(path[1]))
        problems.append((at, f"depends_on makes a cycle: {' -> '.join(path)}"))
    return problems


def _cycles(checks: Mapping[str, CheckSpec]) -> list[list[str]]:
    """Each cycle among known, non-self edges, as found by a depth-first search (1. visit each
    check not yet done; 2. follow its edges, keeping the path; 3. an edge back onto the path
    closes a cycle; 4. a check whose edges are all explored is done and never revisited)."""
    done: set[str] = set()
    found: list[list[str]] = []
    seen: set[frozenset[str]] = set()

    def visit(node: str, path: list[str]) -> None:
        path.append(node)
        for ref in checks[node].depends_on:
            if ref == node or ref not in checks or ref in done:
                continue
            if ref in path:
                cycle = path[path.index(ref) :]
                if frozenset(cycle) not in seen:
                    seen.add(frozenset(cycle))
                    found.append(cycle)
                continue
            visit(ref, path)
        path.pop()
        done.add(node)

    for check_id in checks:
        if check_id not in done:
            visit(check_id, [])
    return found
