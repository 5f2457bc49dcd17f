"""What the ingest endpoints accept, and its validation (pure; no I/O).

Four shapes, each parsed from decoded JSON into frozen dataclasses:

- ``PostableAlert``: Alertmanager API v2 ``postableAlerts`` (``POST /api/v2/alerts``), as
  Prometheus sends it (``api/v2/openapi.yaml`` in prometheus/alertmanager).
- ``WebhookMessage``: Alertmanager's webhook receiver payload, version "4"; both the 0.25 shape
  and the newer one with ``notification_reason`` / ``routeLabels``. Unknown keys are ignored.
- ``PagerDutyEvent``: PagerDuty Events API v2 (``POST /v2/enqueue``), with PagerDuty's limits
  (developer.pagerduty.com, "Send an Alert Event").
- ``WebhookAlert``: opsbook's own generic JSON alert. Unknown keys are errors: it is our format,
  and a typo should not pass silently.

Every problem is reported with its JSON path (``$[0].labels``, ``$.payload.summary``), all of
them at once, and nothing is echoed back: a rejected value may be a secret.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Annotated, Generic, Literal, NamedTuple, TypeAlias, TypeVar

import msgspec

from opsbook import textsafe
from opsbook.alerts.models import Matcher
from opsbook.errors import InputError
from opsbook.redaction import Secret
from opsbook.types import JSONValue

MAX_PROBLEMS = 20
"""Reported problems per request; the rest are counted, so a bad 100-alert batch stays short."""

PAGERDUTY_ROUTING_KEY_LENGTH = 32
PAGERDUTY_DEDUP_KEY_MAX = 255
PAGERDUTY_SUMMARY_MAX = 1024
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")
PAGERDUTY_ACTIONS = ("trigger", "acknowledge", "resolve")
WEBHOOK_KEY_MAX = 255
WEBHOOK_SUMMARY_MAX = 1024
URL_MAX = 2048

# Caps per alert (docs/ingest.md, "Limits"): they bound what one request can cost in memory and
# in the store, well above what Prometheus or Alertmanager send.
MAX_ALERTS = 1000
"""Alerts per request on /api/v2/alerts and the generic webhook; Prometheus sends at most 256."""
MAX_LABELS = 100
MAX_ANNOTATIONS = 100
NAME_MAX_BYTES = 256
LABEL_VALUE_MAX_BYTES = 4 * 1024
ANNOTATION_VALUE_MAX_BYTES = 64 * 1024
CUSTOM_DETAILS_MAX_DEPTH = 32
CUSTOM_DETAILS_MAX_ENTRIES = 1000
"""Object members and array items kept of PagerDuty ``custom_details``, counted over every
level in document order; the rest is dropped and the note ``CUSTOM_DETAILS_TRUNCATED_KEY`` says
how many. A 512 KB event can carry 20,000 keys, and each is a few Python objects in every copy
(validation, the alert, its firing event, every dispatch pass): about 120 MB for one event."""
CUSTOM_DETAILS_TRUNCATED_KEY = "_opsbook_truncated"
# Alertmanager's (and Prometheus') label name rule, model.LabelNameRE; annotations share it.
_LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")

T = TypeVar("T")

AlertState: TypeAlias = Literal["firing", "resolved"]
PagerDutyAction: TypeAlias = Literal["trigger", "acknowledge", "resolve"]

# RFC 3339 (what Go's time.Time marshals to), plus the "+0000" offset of PagerDuty's examples.
_TIMESTAMP = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:?\d{2})"
)
_GO_ZERO_YEAR = 1  # "0001-01-01T00:00:00Z" is Go's zero time.Time: "not set"


@dataclass(frozen=True, slots=True)
class PayloadProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidPayload(InputError):
    """A payload with one or more problems; ``problems`` lists them (``field`` is the first)."""

    def __init__(self, problems: Sequence[PayloadProblem], *, omitted: int = 0) -> None:
        self.problems = tuple(problems)
        self.omitted = omitted
        message = "; ".join(str(p) for p in self.problems)
        if omitted:
            message += f" (and {omitted} more problem{'s' if omitted > 1 else ''})"
        super().__init__(
            message, field=self.problems[0].path if self.problems else "$", location="body"
        )


@dataclass(frozen=True, slots=True)
class Checked(Generic[T]):
    """What a payload yields when its valid parts are kept: ``value`` (the valid alerts),
    ``invalid`` (the problems of those left out, or None) and ``repaired`` (the JSON paths of
    free text whose unstorable characters became U+FFFD)."""

    value: T
    invalid: InvalidPayload | None = None
    repaired: tuple[str, ...] = ()


class _Problems:
    """Collects problems while a payload is read, so the sender sees all of them at once, and
    the paths of repaired text."""

    def __init__(self) -> None:
        self.found: list[PayloadProblem] = []
        self.count = 0
        self.repaired: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.count += 1
        if len(self.found) < MAX_PROBLEMS:
            self.found.append(PayloadProblem(path, message))

    def raise_if_any(self) -> None:
        if self.found:
            raise InvalidPayload(self.found, omitted=self.count - len(self.found))

    def invalid(self) -> InvalidPayload | None:
        if not self.found:
            return None
        return InvalidPayload(self.found, omitted=self.count - len(self.found))

    def text(self, value: str, path: str, *, repair: bool) -> str | None:
        """``value`` if storable; else repaired (and noted) when ``repair``, else reported."""
        why = textsafe.problem(value)
        if why is None:
            return value
        if repair:
            self.repaired.append(path)
            return textsafe.repair(value)
        self.add(path, why)
        return None


def decode_json(body: bytes) -> object:
    """``body`` as JSON, or ``InvalidPayload`` at ``$`` saying why it is not JSON."""
    try:
        # JSON exchanged between systems is UTF-8 (RFC 8259, section 8.1); a BOM is tolerated.
        return json.loads(body.decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise InvalidPayload([PayloadProblem("$", "the body is not UTF-8 text")]) from None
    except json.JSONDecodeError as exc:
        raise InvalidPayload(
            [
                PayloadProblem(
                    "$", f"not valid JSON ({exc.msg} at line {exc.lineno} col {exc.colno})"
                )
            ]
        ) from None
    except RecursionError:
        # The C decoder counts its nesting against the interpreter's recursion limit, and says
        # so with RecursionError: a crafted body of 100,000 "[" must be a 400, not a 500.
        raise InvalidPayload(
            [PayloadProblem("$", "is nested too deeply (no alert payload nests past a few levels)")]
        ) from None
    except ValueError:
        # int() refuses more than sys.get_int_max_str_digits() digits (4300 by default).
        raise InvalidPayload(
            [PayloadProblem("$", "has a number with too many digits to read")]
        ) from None


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def _object(problems: _Problems, value: object, path: str) -> Mapping[str, object] | None:
    if isinstance(value, dict):
        return value
    problems.add(path, f"must be an object, not {_kind(value)}")
    return None


def _string(
    problems: _Problems,
    obj: Mapping[str, object],
    key: str,
    path: str,
    *,
    required: bool = False,
    why: str = "",
    max_length: int | None = None,
    repair: bool = False,
) -> str | None:
    """The string at ``obj[key]``, or None when it is absent or wrong (and then reported).

    ``required``: absent, null or blank is a problem; ``why`` says when it is required.
    ``repair``: free text whose NULs and lone surrogates become U+FFFD (noted); otherwise a
    string that cannot be stored is a problem.
    """
    value = obj.get(key)
    if not isinstance(value, str) or (required and not value.strip()):
        if value is not None and not isinstance(value, str):
            problems.add(path, f"must be a string, not {_kind(value)}")
        elif required:
            problems.add(path, "is missing or blank" + (f" ({why})" if why else ""))
        return None
    checked = problems.text(value, path, repair=repair)
    if checked is None:
        return None
    value = checked
    if max_length is not None and len(value) > max_length:
        problems.add(path, f"is longer than {max_length} characters ({len(value)})")
        return None
    return value


def _string_map(
    problems: _Problems,
    value: object,
    path: str,
    *,
    drop_empty: bool = False,
    annotations: bool = False,
) -> dict[str, str] | None:
    """Labels (or, with ``annotations``, annotations): names follow Alertmanager's rule
    ``[a-zA-Z_][a-zA-Z0-9_]*``; label values that cannot be stored are refused, annotation
    values (free text) repaired. Counts and sizes are capped (``MAX_LABELS``...)."""
    if value is None:
        return {}
    obj = _object(problems, value, path)
    if obj is None:
        return None
    cap = MAX_ANNOTATIONS if annotations else MAX_LABELS
    if len(obj) > cap:
        problems.add(path, f"has {len(obj)} entries (at most {cap})")
        return None
    value_max = ANNOTATION_VALUE_MAX_BYTES if annotations else LABEL_VALUE_MAX_BYTES
    out: dict[str, str] = {}
    ok = True
    for index, (name, item) in enumerate(obj.items()):
        if not name:
            problems.add(path, "has an empty name")
            ok = False
        elif not _is_label_name(name):
            # The name is not repeated: it may hold what cannot be shown (a NUL, a surrogate).
            problems.add(
                path,
                f"name #{index + 1} must match [a-zA-Z_][a-zA-Z0-9_]* "
                f"(Alertmanager's rule), at most {NAME_MAX_BYTES} characters",
            )
            ok = False
        elif not isinstance(item, str):
            problems.add(f"{path}.{name}", f"must be a string, not {_kind(item)}")
            ok = False
        else:
            # The common case inline (this loop runs for every label of every alert).
            if item.isascii() and "\x00" not in item:
                text: str | None = item
            else:
                text = problems.text(item, f"{path}.{name}", repair=annotations)
            if text is None:
                ok = False
            elif len(text) > value_max // 4 and len(text.encode()) > value_max:
                problems.add(f"{path}.{name}", f"is longer than {value_max} bytes")
                ok = False
            elif text or not drop_empty:
                out[name] = text
    return out if ok else None


@lru_cache(maxsize=4096)
def _is_label_name(name: str) -> bool:
    # Cached: Prometheus re-sends the same few label names in every alert of every batch.
    return len(name) <= NAME_MAX_BYTES and _LABEL_NAME.fullmatch(name) is not None


@lru_cache(maxsize=4096)
def parse_timestamp(text: str) -> datetime | None:
    """An RFC 3339 timestamp as aware UTC; None for Go's zero time. ``ValueError`` if malformed.

    Cached: a Prometheus batch shares its ``endsAt`` and re-sends the same ``startsAt``.
    """
    if not _TIMESTAMP.fullmatch(text):
        raise ValueError(text)
    # Python keeps microseconds; Go sends up to nanoseconds.
    head, dot, rest = text.partition(".")
    if dot:
        digits = len(rest) - len(rest.lstrip("0123456789"))
        text = f"{head}.{rest[: min(digits, 6)]}{rest[digits:]}"
    value = datetime.fromisoformat(text)
    if value.year == _GO_ZERO_YEAR:
        return None
    return value.astimezone(UTC)


def _timestamp(
    problems: _Problems, obj: Mapping[str, object], key: str, path: str
) -> datetime | None:
    text = _string(problems, obj, key, path)
    if text is None:
        return None
    try:
        return parse_timestamp(text)
    except ValueError:
        problems.add(path, "is not an RFC 3339 timestamp (e.g. 2026-11-22T13:09:10Z)")
        return None


# Alertmanager API v2: POST /api/v2/alerts


class PostableAlert(NamedTuple):
    """One alert as Prometheus posts it. ``None`` times mean "not sent" (or Go's zero time).

    A ``NamedTuple``, immutable as a frozen dataclass would be, at a third of its cost to make
    (one per alert received: a frozen dataclass sets each field through ``object.__setattr__``).
    """

    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    generator_url: str | None = None


# The fast path: what Prometheus sends, decoded and checked in C (msgspec). It takes only a body
# that ``read_postable_alerts`` would take whole, unchanged and with nothing to repair, and gives
# the same alerts; anything else (a problem to report, text to repair, a label to drop, an
# unknown key, a value near a byte limit) is None, and the caller reads the body the long way,
# which says what is wrong exactly as before. ``tests/alerts/test_ingest_fast.py`` holds the two
# to the same answer for any body.

# Label values of at most this many characters are within LABEL_VALUE_MAX_BYTES whatever they
# hold (UTF-8 takes at most 4 bytes a character); a longer one goes the long way to be counted.
_LabelValue = Annotated[str, msgspec.Meta(min_length=1, max_length=LABEL_VALUE_MAX_BYTES // 4)]
_AnnotationValue = Annotated[str, msgspec.Meta(max_length=ANNOTATION_VALUE_MAX_BYTES // 4)]


class _FastPostable(msgspec.Struct, forbid_unknown_fields=True):
    labels: Annotated[dict[str, _LabelValue], msgspec.Meta(min_length=1, max_length=MAX_LABELS)]
    annotations: (
        Annotated[dict[str, _AnnotationValue], msgspec.Meta(max_length=MAX_ANNOTATIONS)] | None
    ) = None
    startsAt: str | None = None  # noqa: N815 - Alertmanager's field names
    endsAt: str | None = None  # noqa: N815
    generatorURL: Annotated[str, msgspec.Meta(max_length=URL_MAX)] | None = None  # noqa: N815


_FAST_DECODER = msgspec.json.Decoder(
    Annotated[list[_FastPostable], msgspec.Meta(max_length=MAX_ALERTS)]
)


def read_postable_alerts_fast(body: bytes) -> list[PostableAlert] | None:
    """``read_postable_alerts(decode_json(body)).value`` for a body it takes whole with nothing
    repaired; None for any other body (then read it that way, to learn what is wrong)."""
    # A NUL can only come as the escape \u0000 (JSON forbids raw control characters); it is
    # refused or repaired, so it goes the long way. msgspec refuses lone surrogates itself.
    if b"\\u0000" in body:
        return None
    try:
        sent = _FAST_DECODER.decode(body)
    except msgspec.DecodeError:  # not JSON, or not this shape (ValidationError is one too)
        return None
    alerts: list[PostableAlert] = []
    for item in sent:
        labels = item.labels
        annotations = item.annotations if item.annotations is not None else {}
        if not all(map(_is_label_name, labels)) or not all(map(_is_label_name, annotations)):
            return None
        try:
            starts_at = parse_timestamp(item.startsAt) if item.startsAt is not None else None
            ends_at = parse_timestamp(item.endsAt) if item.endsAt is not None else None
        except ValueError:
            return None
        if starts_at is not None and ends_at is not None and ends_at < starts_at:
            return None
        alerts.append(
            PostableAlert(labels, annotations, starts_at, ends_at, item.generatorURL or None)
        )
    return alerts


def parse_postable_alerts(data: object) -> list[PostableAlert]:
    """Alertmanager's ``postableAlerts``: a JSON array. Raises ``InvalidPayload`` on any
    problem (``read_postable_alerts`` keeps the valid alerts instead)."""
    checked = read_postable_alerts(data)
    if checked.invalid is not None:
        raise checked.invalid
    return checked.value


def read_postable_alerts(data: object) -> Checked[list[PostableAlert]]:
    """Alertmanager's ``postableAlerts``, keeping the valid alerts and reporting the others by
    index, as Alertmanager does (``api/v2/api.go`` ``postAlertsHandler``). Raises
    ``InvalidPayload`` only when the body as a whole is wrong (not an array, too many alerts).

    As in Alertmanager (``removeEmptyLabels``), labels with an empty value are dropped before
    the alert is checked, and an alert needs at least one label left.
    """
    problems = _Problems()
    if not isinstance(data, list):
        problems.add("$", f"must be an array of alerts, not {_kind(data)}")
        data = []
    elif len(data) > MAX_ALERTS:
        problems.add("$", f"has {len(data)} alerts (at most {MAX_ALERTS} in one request)")
    problems.raise_if_any()
    alerts: list[PostableAlert] = []
    for i, item in enumerate(data):
        path = f"$[{i}]"
        before = problems.count
        obj = _object(problems, item, path)
        if obj is None:
            continue
        labels = _string_map(problems, obj.get("labels"), f"{path}.labels", drop_empty=True)
        if labels is not None and not labels:
            problems.add(f"{path}.labels", "at least one label pair is required")
        annotations = _string_map(
            problems, obj.get("annotations"), f"{path}.annotations", annotations=True
        )
        starts_at = _timestamp(problems, obj, "startsAt", f"{path}.startsAt")
        ends_at = _timestamp(problems, obj, "endsAt", f"{path}.endsAt")
        if starts_at is not None and ends_at is not None and ends_at < starts_at:
            problems.add(f"{path}.endsAt", "is before startsAt")
        url = _string(problems, obj, "generatorURL", f"{path}.generatorURL", max_length=URL_MAX)
        if problems.count == before and labels and annotations is not None:
            alerts.append(PostableAlert(labels, annotations, starts_at, ends_at, url or None))
    return Checked(alerts, problems.invalid(), tuple(problems.repaired))


# Alertmanager webhook receiver (version "4")


@dataclass(frozen=True, slots=True)
class WebhookMessageAlert:
    status: AlertState
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime | None
    ends_at: datetime | None
    """None for a firing alert: Alertmanager sends Go's zero time ``0001-01-01T00:00:00Z``."""
    generator_url: str | None
    fingerprint: str | None


@dataclass(frozen=True, slots=True)
class WebhookMessage:
    """The fields opsbook uses; the rest (``truncatedAlerts``, ``routeLabels``...) is ignored."""

    group_key: str
    status: AlertState
    receiver: str
    alerts: tuple[WebhookMessageAlert, ...]
    external_url: str | None = None
    notification_reason: str | None = None


def _state(problems: _Problems, obj: Mapping[str, object], path: str) -> AlertState | None:
    value = obj.get("status")
    if value == "firing":
        return "firing"
    if value == "resolved":
        return "resolved"
    if value is None:
        problems.add(path, "is missing (firing or resolved)")
    else:
        problems.add(path, "must be firing or resolved")
    return None


def parse_webhook_message(data: object) -> WebhookMessage:
    """An Alertmanager webhook payload. Raises ``InvalidPayload`` on any problem
    (``read_webhook_message`` keeps the valid alerts instead)."""
    checked = read_webhook_message(data)
    if checked.invalid is not None:
        raise checked.invalid
    return checked.value


def read_webhook_message(data: object) -> Checked[WebhookMessage]:
    """An Alertmanager webhook payload with its valid alerts; the invalid ones are reported
    in ``invalid`` by index. Raises ``InvalidPayload`` when the message itself is wrong
    (``version``, ``groupKey``, ``status``, ``alerts``)."""
    problems = _Problems()
    obj = _object(problems, data, "$")
    if obj is None:
        problems.raise_if_any()
        raise AssertionError("unreachable")  # pragma: no cover
    version = obj.get("version")
    if version != "4":
        problems.add("$.version", 'must be "4" (the Alertmanager webhook payload version)')
    group_key = _string(problems, obj, "groupKey", "$.groupKey", required=True)
    status = _state(problems, obj, "$.status")
    # Neither is stored or used: repaired rather than refused, so they never cost the alerts.
    receiver = _string(problems, obj, "receiver", "$.receiver", repair=True) or ""
    external_url = _string(problems, obj, "externalURL", "$.externalURL", max_length=URL_MAX)
    reason = _string(problems, obj, "notification_reason", "$.notification_reason", repair=True)
    raw_alerts = obj.get("alerts")
    alerts: list[WebhookMessageAlert] = []
    if not isinstance(raw_alerts, list):
        problems.add("$.alerts", f"must be an array of alerts, not {_kind(raw_alerts)}")
        raw_alerts = []
    message_problems = problems.count
    for i, item in enumerate(raw_alerts):
        path = f"$.alerts[{i}]"
        before = problems.count
        alert = _object(problems, item, path)
        if alert is None:
            continue
        state = _state(problems, alert, f"{path}.status")
        labels = _string_map(problems, alert.get("labels"), f"{path}.labels", drop_empty=True)
        if labels is not None and not labels:
            problems.add(f"{path}.labels", "at least one label pair is required")
        annotations = _string_map(
            problems, alert.get("annotations"), f"{path}.annotations", annotations=True
        )
        starts_at = _timestamp(problems, alert, "startsAt", f"{path}.startsAt")
        ends_at = _timestamp(problems, alert, "endsAt", f"{path}.endsAt")
        url = _string(problems, alert, "generatorURL", f"{path}.generatorURL", max_length=URL_MAX)
        fingerprint = _string(problems, alert, "fingerprint", f"{path}.fingerprint")
        if problems.count == before and state and labels and annotations is not None:
            alerts.append(
                WebhookMessageAlert(
                    state, labels, annotations, starts_at, ends_at, url or None, fingerprint
                )
            )
    if message_problems:
        problems.raise_if_any()
    if group_key is None or status is None:  # pragma: no cover - reported above
        raise InvalidPayload([PayloadProblem("$", "is invalid")])
    message = WebhookMessage(
        group_key=group_key,
        status=status,
        receiver=receiver,
        alerts=tuple(alerts),
        external_url=external_url or None,
        notification_reason=reason,
    )
    return Checked(message, problems.invalid(), tuple(problems.repaired))


# PagerDuty Events API v2


@dataclass(frozen=True, slots=True)
class PagerDutyPayload:
    summary: str
    source: str
    severity: str
    """One of ``PAGERDUTY_SEVERITIES``."""
    timestamp: datetime | None = None
    component: str | None = None
    group: str | None = None
    class_: str | None = None
    custom_details: JSONValue = None


@dataclass(frozen=True, slots=True)
class PagerDutyEvent:
    routing_key: Secret
    event_action: PagerDutyAction
    dedup_key: str | None
    payload: PagerDutyPayload | None
    """Set for ``trigger`` (where it is required); ignored for acknowledge and resolve."""
    client: str | None = None
    client_url: str | None = None
    repaired: tuple[str, ...] = ()
    """JSON paths of free text whose unstorable characters became U+FFFD."""


def _action(problems: _Problems, obj: Mapping[str, object]) -> PagerDutyAction | None:
    value = obj.get("event_action")
    if value is None or value == "":
        problems.add("$.event_action", "is missing or blank")
    elif value == "trigger":
        return "trigger"
    elif value == "acknowledge":
        return "acknowledge"
    elif value == "resolve":
        return "resolve"
    else:
        problems.add("$.event_action", "must be one of trigger, acknowledge, resolve")
    return None


def _pagerduty_payload(problems: _Problems, value: object) -> PagerDutyPayload | None:
    if value is None:
        problems.add("$.payload", "is missing or blank (required to trigger)")
        return None
    obj = _object(problems, value, "$.payload")
    if obj is None:
        return None
    before = problems.count
    summary = _string(
        problems,
        obj,
        "summary",
        "$.payload.summary",
        required=True,
        max_length=PAGERDUTY_SUMMARY_MAX,
        repair=True,
    )
    # These become label values: refused, not repaired, when they cannot be stored.
    label_max = LABEL_VALUE_MAX_BYTES
    source = _string(
        problems, obj, "source", "$.payload.source", required=True, max_length=label_max
    )
    severity = _string(problems, obj, "severity", "$.payload.severity", required=True)
    if severity is not None and severity not in PAGERDUTY_SEVERITIES:
        problems.add("$.payload.severity", "must be one of critical, error, warning, info")
    timestamp = _timestamp(problems, obj, "timestamp", "$.payload.timestamp")
    component = _string(problems, obj, "component", "$.payload.component", max_length=label_max)
    group = _string(problems, obj, "group", "$.payload.group", max_length=label_max)
    class_ = _string(problems, obj, "class", "$.payload.class", max_length=label_max)
    details = _custom_details(problems, obj.get("custom_details"))
    if problems.count != before or summary is None or source is None or severity is None:
        return None
    return PagerDutyPayload(
        summary=summary,
        source=source,
        severity=severity,
        timestamp=timestamp,
        component=component or None,
        group=group or None,
        class_=class_ or None,
        custom_details=details,  # type: ignore[arg-type]  # decoded JSON is JSONValue
    )


def _custom_details(problems: _Problems, value: object) -> object:
    """``custom_details`` made storable: free-form JSON from the sender's tool, so its text is
    repaired (U+FFFD) and NaN / Infinity (which Python's json writes, and jsonb refuses) become
    the strings "NaN" / "Infinity"; nesting past ``CUSTOM_DETAILS_MAX_DEPTH`` is refused, and
    only the first ``CUSTOM_DETAILS_MAX_ENTRIES`` entries are kept."""
    path = "$.payload.custom_details"
    value = truncate_details(value, max_entries=CUSTOM_DETAILS_MAX_ENTRIES)
    try:
        fixed, changed = textsafe.repair_json(value, max_depth=CUSTOM_DETAILS_MAX_DEPTH)
    except ValueError as exc:
        problems.add(path, str(exc))
        return None
    if changed:
        problems.repaired.append(path)
    return fixed


def truncate_details(value: object, *, max_entries: int) -> object:
    """``value`` (decoded JSON) with its first ``max_entries`` object members and array items,
    counted over every level in document order; the same object when it has no more. A
    truncated object at the top gets ``CUSTOM_DETAILS_TRUNCATED_KEY``: a sentence saying how
    many entries were dropped (a top-level array gets it as a last item). Iterative, and it
    stops counting at the cap plus one, so a huge value costs no more than a small one."""
    if not isinstance(value, dict | list):
        return value
    kept = 0
    stack: list[dict[str, object] | list[object]] = [value]
    while stack and kept <= max_entries:
        node = stack.pop()
        items = node.values() if isinstance(node, dict) else node
        kept += len(node)
        stack.extend(i for i in items if isinstance(i, dict | list) and i)
    if kept <= max_entries:
        return value
    budget, dropped = max_entries, 0

    def cut(node: dict[str, object] | list[object], depth: int) -> dict[str, object] | list[object]:
        nonlocal budget, dropped
        if depth > CUSTOM_DETAILS_MAX_DEPTH:
            return node  # refused as too deep by the caller; no deeper recursion here
        pairs = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        out_pairs: list[tuple[object, object]] = []
        for key, item in pairs:
            if budget == 0:
                dropped += 1 + _count_entries(item)
                continue
            budget -= 1
            if isinstance(item, dict | list) and item:
                item = cut(item, depth + 1)
            out_pairs.append((key, item))
        if isinstance(node, dict):
            return {str(k): v for k, v in out_pairs}
        return [v for _, v in out_pairs]

    root = cut(value, 1)
    note = f"{dropped} more entries were not kept (at most {max_entries})"
    if isinstance(root, dict):
        root[CUSTOM_DETAILS_TRUNCATED_KEY] = note
    else:
        root.append({CUSTOM_DETAILS_TRUNCATED_KEY: note})
    return root


def _count_entries(value: object) -> int:
    count, stack = 0, [value]
    while stack:
        node = stack.pop()
        if isinstance(node, dict | list):
            items = node.values() if isinstance(node, dict) else node
            count += len(node)
            stack.extend(items)
    return count


def parse_pagerduty_event(data: object) -> PagerDutyEvent:
    """One Events API v2 event. Raises ``InvalidPayload`` listing every problem."""
    problems = _Problems()
    obj = _object(problems, data, "$")
    if obj is None:
        problems.raise_if_any()
        raise AssertionError("unreachable")  # pragma: no cover
    routing_key = _string(problems, obj, "routing_key", "$.routing_key", required=True)
    if routing_key is not None and len(routing_key) != PAGERDUTY_ROUTING_KEY_LENGTH:
        problems.add(
            "$.routing_key",
            f"length is incorrect (should be {PAGERDUTY_ROUTING_KEY_LENGTH} characters)",
        )
    action = _action(problems, obj)
    dedup_key = _string(
        problems,
        obj,
        "dedup_key",
        "$.dedup_key",
        required=action in ("acknowledge", "resolve"),
        why=f"required to {action}",
        max_length=PAGERDUTY_DEDUP_KEY_MAX,
    )
    payload = _pagerduty_payload(problems, obj.get("payload")) if action == "trigger" else None
    client = _string(problems, obj, "client", "$.client", repair=True)
    client_url = _string(problems, obj, "client_url", "$.client_url", max_length=URL_MAX)
    for key in ("links", "images"):
        if obj.get(key) is not None and not isinstance(obj.get(key), list):
            problems.add(f"$.{key}", f"must be an array, not {_kind(obj.get(key))}")
    problems.raise_if_any()
    if routing_key is None or action is None:  # pragma: no cover - reported above
        raise InvalidPayload([PayloadProblem("$", "is invalid")])
    return PagerDutyEvent(
        routing_key=Secret(routing_key),
        event_action=action,
        dedup_key=dedup_key if dedup_key and dedup_key.strip() else None,
        payload=payload,
        client=client or None,
        client_url=client_url or None,
        repaired=tuple(problems.repaired),
    )


# opsbook's generic webhook


@dataclass(frozen=True, slots=True)
class WebhookAlert:
    """One alert of opsbook's generic JSON webhook (see docs/ingest.md)."""

    status: AlertState
    summary: str | None
    key: str | None
    severity: str | None
    """A configured severity name, or a PagerDuty word (critical, error, warning, info)."""
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: datetime | None = None
    url: str | None = None


_WEBHOOK_KEYS = frozenset(
    {"summary", "status", "key", "severity", "labels", "annotations", "starts_at", "url"}
)


def parse_webhook_alerts(data: object, *, severities: Sequence[str]) -> list[WebhookAlert]:
    """One object or an array of them; ``severities`` are the configured severity names.
    Raises ``InvalidPayload`` on any problem (``read_webhook_alerts`` keeps the valid ones)."""
    checked = read_webhook_alerts(data, severities=severities)
    if checked.invalid is not None:
        raise checked.invalid
    return checked.value


def read_webhook_alerts(data: object, *, severities: Sequence[str]) -> Checked[list[WebhookAlert]]:
    """The valid alerts of a generic webhook body, and the others' problems by index. Raises
    ``InvalidPayload`` for an empty array or one over ``MAX_ALERTS``."""
    problems = _Problems()
    items: list[tuple[str, object]]
    if isinstance(data, list):
        items = [(f"$[{i}]", item) for i, item in enumerate(data)]
        if not items:
            problems.add("$", "is an empty array (send at least one alert)")
        elif len(items) > MAX_ALERTS:
            problems.add("$", f"has {len(items)} alerts (at most {MAX_ALERTS} in one request)")
        problems.raise_if_any()
    else:
        items = [("$", data)]
    allowed = ", ".join(severities) + ", " + ", ".join(PAGERDUTY_SEVERITIES)
    alerts: list[WebhookAlert] = []
    for path, item in items:
        before = problems.count
        obj = _object(problems, item, path)
        if obj is None:
            continue
        for unknown in sorted(set(obj) - _WEBHOOK_KEYS):
            # The name is echoed in the path: repaired, or the answer itself could not be encoded.
            name = textsafe.repair(unknown)
            problems.add(f"{path}.{name}", "is not a known field (" + _known_fields() + ")")
        status = _state(problems, {"status": obj.get("status", "firing")}, f"{path}.status")
        summary = _string(
            problems,
            obj,
            "summary",
            f"{path}.summary",
            required=status == "firing",
            why="required when firing",
            max_length=WEBHOOK_SUMMARY_MAX,
            repair=True,
        )
        key = _string(problems, obj, "key", f"{path}.key", max_length=WEBHOOK_KEY_MAX)
        if key is not None and not key.strip():
            problems.add(f"{path}.key", "is blank (leave it out to key on labels and summary)")
        severity = _string(problems, obj, "severity", f"{path}.severity")
        if (
            severity is not None
            and severity not in severities
            and severity not in PAGERDUTY_SEVERITIES
        ):
            problems.add(f"{path}.severity", f"must be one of {allowed}")
        labels = _string_map(problems, obj.get("labels"), f"{path}.labels", drop_empty=True)
        annotations = _string_map(
            problems, obj.get("annotations"), f"{path}.annotations", annotations=True
        )
        starts_at = _timestamp(problems, obj, "starts_at", f"{path}.starts_at")
        url = _string(problems, obj, "url", f"{path}.url", max_length=URL_MAX)
        if url is not None and not url.startswith(("http://", "https://")):
            problems.add(f"{path}.url", "must be an http:// or https:// URL")
        if problems.count == before and status and labels is not None and annotations is not None:
            alerts.append(
                WebhookAlert(
                    status=status,
                    summary=summary,
                    key=key,
                    severity=severity,
                    labels=labels,
                    annotations=annotations,
                    starts_at=starts_at,
                    url=url,
                )
            )
    return Checked(alerts, problems.invalid(), tuple(problems.repaired))


def _known_fields() -> str:
    return "use " + ", ".join(sorted(_WEBHOOK_KEYS))


# Alertmanager API v2: POST /api/v2/silences (what amtool and Grafana send)


@dataclass(frozen=True, slots=True)
class PostableSilence:
    """Alertmanager's ``postableSilence``; ``id`` set means "update that silence"."""

    matchers: tuple[Matcher, ...]
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str
    id: str | None = None


def parse_postable_silence(data: object) -> PostableSilence:
    """A silence in Alertmanager's JSON shape. Raises ``InvalidPayload``; the silences module
    checks the rest (regexes, an end after the start, a matcher that matches something)."""
    problems = _Problems()
    obj = _object(problems, data, "$")
    if obj is None:
        problems.raise_if_any()
        raise AssertionError("unreachable")  # pragma: no cover
    silence_id = _string(problems, obj, "id", "$.id")
    raw = obj.get("matchers")
    matchers: list[Matcher] = []
    if not isinstance(raw, list) or not raw:
        problems.add("$.matchers", "must be a non-empty array of matchers")
        raw = []
    for i, item in enumerate(raw):
        path = f"$.matchers[{i}]"
        matcher = _object(problems, item, path)
        if matcher is None:
            continue
        name = _string(problems, matcher, "name", f"{path}.name", required=True)
        value = matcher.get("value")
        if not isinstance(value, str):
            problems.add(f"{path}.value", f"must be a string, not {_kind(value)}")
        elif (why := textsafe.problem(value)) is not None:
            problems.add(f"{path}.value", why)
            value = None
        flags = [matcher.get("isRegex", False), matcher.get("isEqual", True)]
        for key, flag in zip(("isRegex", "isEqual"), flags, strict=True):
            if not isinstance(flag, bool):
                problems.add(f"{path}.{key}", f"must be true or false, not {_kind(flag)}")
        if name is not None and isinstance(value, str) and all(isinstance(f, bool) for f in flags):
            matchers.append(
                Matcher(name=name, value=value, is_regex=bool(flags[0]), is_equal=bool(flags[1]))
            )
    starts_at = _timestamp(problems, obj, "startsAt", "$.startsAt")
    ends_at = _timestamp(problems, obj, "endsAt", "$.endsAt")
    for key, when in (("startsAt", starts_at), ("endsAt", ends_at)):
        if when is None and f"$.{key}" not in {p.path for p in problems.found}:
            problems.add(f"$.{key}", "is missing (an RFC 3339 timestamp)")
    created_by = _string(problems, obj, "createdBy", "$.createdBy", required=True)
    comment = _string(problems, obj, "comment", "$.comment", required=True)
    problems.raise_if_any()
    if starts_at is None or ends_at is None or created_by is None or comment is None:
        raise AssertionError("unreachable")  # pragma: no cover - reported above
    return PostableSilence(
        matchers=tuple(matchers),
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=created_by,
        comment=comment,
        id=silence_id or None,
    )
