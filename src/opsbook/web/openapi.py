"""The OpenAPI document as the server really behaves (docs/api.md, "OpenAPI").

FastAPI's generator knows only what a route declares. Two things it gets wrong here are fixed
once, for every route, in ``document``:

- Status codes: FastAPI documents 422 for a bad parameter; opsbook answers 400 (web/errors.py).
  Every operation with parameters or a body documents 400, one with a path parameter 404, and
  every ``/api`` and ingest operation 503 (the store is unreachable), and every operation with
  a body 413 (web/body_limit.py, or the route's own limit). Codes only some routes answer (401
  for a missing token) are declared with ``responses=`` on the route or its router, using
  ``UNAUTHORIZED``; a route with its own 413 declares it (``TOO_LARGE``).
- Request bodies: the ingest routes read the raw body themselves (parsing it with FastAPI costs
  as much as storing the alert), so FastAPI sees no body. Each declares its JSON shape with
  ``openapi_extra=request_body(...)``; the shapes below mirror ``alerts/ingest_models.py``.

Fuzzers (tests/fuzz) read this document: a shape missing here is a shape never tried.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

JSONSchema = dict[str, Any]
Responses = dict[int | str, dict[str, Any]]
"""What ``responses=`` takes."""

_ERROR_REF = {"$ref": "#/components/schemas/Error"}
_NULLABLE_STRING = {"anyOf": [{"type": "string"}, {"type": "null"}]}

ERROR_SCHEMA: JSONSchema = {
    "title": "Error",
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "field", "location"],
            "properties": {
                "message": {"type": "string"},
                "field": _NULLABLE_STRING,
                "location": _NULLABLE_STRING,
            },
        }
    },
}


def error_response(description: str) -> dict[str, Any]:
    """A ``responses=`` entry whose body is opsbook's error body."""
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


UNAUTHORIZED: Responses = {
    401: error_response("No token, or one no integration of this kind holds")
}
TOO_LARGE: Responses = {413: error_response("The body is larger than this route accepts")}

MARKDOWN: Responses = {
    200: {
        "description": "Markdown text",
        "content": {"text/markdown": {"schema": {"type": "string"}}},
    }
}

NO_NUL = r"^[^\x00]*$"
"""``Query(pattern=NO_NUL)`` for text that reaches SQL: PostgreSQL refuses a NUL in text, and
the spec then says so too."""

_GENERIC: dict[str, str] = {
    "400": "Invalid parameters or body: the error names the field and where it is",
    "404": "No such object",
    "413": "The body is larger than this route accepts",
    "409": "The change clashes with the current state (already acknowledged, done, expired...)",
    "401": "No valid token or session (docs/permissions.md)",
    "403": "The token's or session's role does not allow this, or a session's write lacks "
    "its X-CSRF-Token",
    "503": "The store is unreachable; retry",
}


def request_body(schema: JSONSchema, *, description: str) -> dict[str, Any]:
    """An ``openapi_extra`` that documents a JSON body the route reads itself."""
    return {
        "requestBody": {
            "required": True,
            "description": description,
            "content": {"application/json": {"schema": schema}},
        }
    }


# The ingest shapes (alerts/ingest_models.py). Times are RFC 3339 strings.

_STRINGS: JSONSchema = {"type": "object", "additionalProperties": {"type": "string"}}
_TIME: JSONSchema = {"type": "string", "format": "date-time"}
_STATE: JSONSchema = {"type": "string", "enum": ["firing", "resolved"]}
_URL: JSONSchema = {"type": "string", "format": "uri", "maxLength": 2048}

POSTABLE_ALERTS: JSONSchema = {
    "title": "PostableAlerts",
    "type": "array",
    "items": {
        "type": "object",
        "required": ["labels"],
        "properties": {
            "labels": _STRINGS,
            "annotations": _STRINGS,
            "startsAt": _TIME,
            "endsAt": _TIME,
            "generatorURL": _URL,
        },
    },
}

WEBHOOK_MESSAGE: JSONSchema = {
    "title": "AlertmanagerWebhookMessage",
    "type": "object",
    "required": ["version", "groupKey", "status", "receiver", "alerts"],
    "properties": {
        "version": {"type": "string", "enum": ["4"]},
        "groupKey": {"type": "string", "minLength": 1},
        "truncatedAlerts": {"type": "integer", "minimum": 0},
        "status": _STATE,
        "receiver": {"type": "string"},
        "groupLabels": _STRINGS,
        "commonLabels": _STRINGS,
        "commonAnnotations": _STRINGS,
        "externalURL": _URL,
        "alerts": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["status", "labels"],
                "properties": {
                    "status": _STATE,
                    "labels": _STRINGS,
                    "annotations": _STRINGS,
                    "startsAt": _TIME,
                    "endsAt": _TIME,
                    "generatorURL": _URL,
                    "fingerprint": {"type": "string"},
                },
            },
        },
    },
}

PAGERDUTY_EVENT: JSONSchema = {
    "title": "PagerDutyEvent",
    "type": "object",
    "required": ["routing_key", "event_action"],
    "properties": {
        "routing_key": {"type": "string", "minLength": 32, "maxLength": 32},
        "event_action": {"type": "string", "enum": ["trigger", "acknowledge", "resolve"]},
        "dedup_key": {"type": "string", "maxLength": 255},
        "payload": {
            "type": "object",
            "required": ["summary", "source", "severity"],
            "properties": {
                "summary": {"type": "string", "minLength": 1, "maxLength": 1024},
                "source": {"type": "string", "minLength": 1},
                "severity": {"type": "string", "enum": ["critical", "error", "warning", "info"]},
                "timestamp": _TIME,
                "component": {"type": "string"},
                "group": {"type": "string"},
                "class": {"type": "string"},
                "custom_details": {"type": "object"},
            },
        },
        "client": {"type": "string"},
        "client_url": _URL,
        "links": {"type": "array", "items": {"type": "object"}},
        "images": {"type": "array", "items": {"type": "object"}},
    },
}

_WEBHOOK_ALERT: JSONSchema = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "summary": {"type": "string", "maxLength": 1024},
        "status": _STATE,
        "key": {"type": "string", "minLength": 1, "maxLength": 255},
        "severity": {"type": "string"},
        "labels": _STRINGS,
        "annotations": _STRINGS,
        "starts_at": _TIME,
        "url": {**_URL, "pattern": "^https?://"},
    },
}

WEBHOOK_ALERTS: JSONSchema = {
    "title": "WebhookAlerts",
    "anyOf": [_WEBHOOK_ALERT, {"type": "array", "minItems": 1, "items": _WEBHOOK_ALERT}],
}

POSTABLE_SILENCE: JSONSchema = {
    "title": "PostableSilence",
    "type": "object",
    "required": ["matchers", "startsAt", "endsAt", "createdBy", "comment"],
    "properties": {
        "id": {"type": "string"},
        "matchers": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["name", "value"],
                "properties": {
                    "name": {"type": "string", "minLength": 1},
                    "value": {"type": "string"},
                    "isRegex": {"type": "boolean"},
                    "isEqual": {"type": "boolean"},
                },
            },
        },
        "startsAt": _TIME,
        "endsAt": _TIME,
        "createdBy": {"type": "string", "minLength": 1},
        "comment": {"type": "string", "minLength": 1},
    },
}

PAGERDUTY_ANSWER: JSONSchema = {
    "title": "PagerDutyAnswer",
    "type": "object",
    "required": ["status", "message"],
    "properties": {
        "status": {"type": "string"},
        "message": {"type": "string"},
        "dedup_key": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "string"}},
    },
}


def pagerduty_response(description: str) -> dict[str, Any]:
    """PagerDuty's own answer shape (``/v2/enqueue`` answers as PagerDuty does)."""
    return {
        "description": description,
        "content": {"application/json": {"schema": PAGERDUTY_ANSWER}},
    }


def install(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and ``/openapi.json``) return ``document(app)``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override


def document(app: FastAPI) -> dict[str, Any]:
    """FastAPI's document with the status codes opsbook really answers (see module docstring)."""
    spec = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version=app.openapi_version,
        description=app.description,
        routes=app.routes,
    )
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    # FastAPI's 422 body shapes are never sent.
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for path, operations in spec.get("paths", {}).items():
        for method, operation in operations.items():
            _fix_statuses(path, operation, write=method in ("post", "put", "patch", "delete"))
    return spec


# Writes that can clash with the current state of what they change: an incident already
# acknowledged or resolved, an action item already done, an account that exists, a silence
# already expired (Conflict, a 409).
_STATEFUL = ("/api/v1/incidents", "/api/v1/actions", "/api/v1/silences", "/api/v1/users")


def _fix_statuses(path: str, operation: dict[str, Any], *, write: bool = False) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    parameters = operation.get("parameters", [])
    codes = []
    if parameters or "requestBody" in operation:
        codes.append("400")
    if any(p.get("in") == "path" for p in parameters):
        codes.append("404")
    if "requestBody" in operation:
        codes.append("413")
    if path.startswith(("/api/", "/v2/")):
        codes.append("503")
    if write and path.startswith(_STATEFUL):
        codes.append("409")
    # Routes behind a role (web/auth.py) name their security schemes: token and session.
    if operation.get("security"):
        codes += ["401", "403"]
    for code in codes:
        responses.setdefault(code, error_response(_GENERIC[code]))
