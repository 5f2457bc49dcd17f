"""``load(path) -> Config``, or a ``ConfigError`` listing every problem with file:line:column.

Algorithm:
1. Read the file and build plain data with positions (``document.read_document``); duplicate
   keys and unset environment variables become problems there.
2. Apply the cross-key rules (``structure``) to the raw data, so they are reported even when
   other parts of the same check are wrong.
3. Validate with pydantic; when some items are invalid, validate again without them so the
   references between sections are checked too (``partial``).
4. Turn each error into a sentence at the position of its value (of its key for unknown keys,
   of the enclosing mapping for missing keys).
5. If anything was found, raise all of it in file order, with environment values masked.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from opsbook.config.document import Document, Loc, format_loc, read_document
from opsbook.config.located import CHECK_KIND, UNKNOWN_CHECK
from opsbook.config.messages import is_secret, schema_at, sentence
from opsbook.config.partial import cross_section_errors, where
from opsbook.config.schema import Config
from opsbook.config.structure import raw_kind_problems, raw_reference_problems
from opsbook.errors import ConfigError, Problem
from opsbook.redaction import Secret, mask_values

# Found on the raw document in step 2; pydantic would only report them once the rest is valid.
_RAW_RULES = frozenset({CHECK_KIND, UNKNOWN_CHECK})


def load(path: str | os.PathLike[str], *, environ: Mapping[str, str] | None = None) -> Config:
    """Read, interpolate and validate the config file at ``path``.

    ``environ`` defaults to ``os.environ``, read at call time. Raises ``ConfigError`` whose
    ``problems`` hold every mistake found, in file order; never returns a partial config.
    """
    file = os.fspath(path)
    try:
        text = Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(file, 0, 0, "", "no such file")]) from None
    except IsADirectoryError:
        raise ConfigError([Problem(file, 0, 0, "", "is a directory, not a file")]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([Problem(file, 0, 0, "", f"is not UTF-8 text ({exc.reason})")]) from None
    except OSError as exc:
        raise ConfigError([Problem(file, 0, 0, "", f"cannot be read: {exc.strerror}")]) from None
    return loads(text, file=file, environ=environ)


def loads(text: str, *, file: str = "<string>", environ: Mapping[str, str] | None = None) -> Config:
    """Like ``load`` for config text already in memory; ``file`` names it in problems."""
    doc = read_document(text, environ=os.environ if environ is None else environ)
    if doc.data is None:
        raise ConfigError(_finish(file, doc, doc.problems))
    found = list(doc.problems)
    data = _without_extensions(doc.data)
    for loc, message in [
        *raw_kind_problems(data.get("checks")),
        *raw_reference_problems(data.get("components"), data.get("checks")),
    ]:
        found.append(_at(doc, loc, message, whole=True))
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        errors += cross_section_errors(data, errors)
        translated = _translate(doc, [e for e in errors if e["type"] not in _RAW_RULES])
        if not translated and not found:
            # The raw pass and the models disagreed; report the models' view rather than nothing.
            translated = _translate(doc, errors)
        found += translated
    else:
        if not found:
            return config
    raise ConfigError(_finish(file, doc, found))


def _without_extensions(data: object) -> dict[str, object]:
    # Top-level "x-" keys hold YAML anchors for reuse (as in Docker Compose); they are no setting.
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if not k.startswith("x-")}


def _finish(file: str, doc: Document, found: list[tuple[Loc, int, int, str]]) -> list[Problem]:
    hidden = [*doc.env_values, *_secret_literals(doc.data)]
    problems = {
        Problem(file, line, column, format_loc(loc), mask_values(message, hidden)): None
        for loc, line, column, message in sorted(found, key=lambda p: p[1:3])
    }
    return list(problems)


def _secret_literals(data: object) -> list[str]:
    """Every secret written literally in the file (a ``Secret`` field, a channel URL), so that
    no message can echo one, whichever rule produced it."""
    found: list[str] = []
    stack: list[tuple[Loc, object]] = [((), data)]
    while stack:
        loc, node = stack.pop()
        if isinstance(node, dict):
            stack.extend(((*loc, k), v) for k, v in node.items())
        elif isinstance(node, list):
            stack.extend(((*loc, i), v) for i, v in enumerate(node))
        elif isinstance(node, str) and _may_be_secret(loc, node):
            found.append(node)
    return found


def _may_be_secret(loc: Loc, value: str) -> bool:
    if schema_at(loc) is Secret:
        return True
    # A channel's other text is a secret only when it looks like a URL or a token path.
    return is_secret(loc) and ("/" in value or ":" in value)


def _at(doc: Document, loc: Loc, message: str, *, whole: bool) -> tuple[Loc, int, int, str]:
    where = doc.where.get(loc)
    if where is None:
        return (loc, 0, 0, message)
    line, column = where.key_or_value if whole else (where.line, where.column)
    return (loc, line, column, message)


def _resolve(data: object, loc: Loc) -> tuple[Loc, object, list[str | int]]:
    """The longest prefix of ``loc`` present in ``data``, the value there, and the parts left.

    Parts left over are either a missing key or pydantic's own tags (``"str"``,
    ``"function-after[...]"``), which name no place in the file.
    """
    path: list[str | int] = []
    rest: list[str | int] = []
    node = data
    for part in loc:
        present = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if present:
            node = node[part]  # type: ignore[index]
            path.append(part)
        else:
            rest.append(part)
    return tuple(path), node, rest


def _translate(doc: Document, errors: list[ErrorDetails]) -> list[tuple[Loc, int, int, str]]:
    # A Secret accepts "instance or string"; the string branch's error says what to write.
    ordered = sorted(errors, key=lambda e: e["type"] == "is_instance_of")
    seen: set[tuple[Loc, str | None, bool]] = set()
    out: list[tuple[Loc, int, int, str]] = []
    for error in ordered:
        loc = where(error)
        path, value, rest = _resolve(doc.data, loc)
        missing = str(rest[-1]) if error["type"] == "missing" and rest else None
        by_key = error["type"] in ("missing", "extra_forbidden") or "[key]" in rest
        if (path, missing, by_key) in seen or any(path[: len(b)] == b for b in doc.failed):
            continue
        seen.add((path, missing, by_key))
        message = sentence(error, path=path, missing=missing)
        whole = by_key or isinstance(value, dict | list)
        out.append(_at(doc, path, message, whole=whole))
    return out
