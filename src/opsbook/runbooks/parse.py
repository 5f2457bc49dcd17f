"""Runbook markdown -> ``Runbook``, or every mistake in it as a ``Problem`` at FILE:LINE:COL.

The only module that touches markdown-it-py (STYLE.md, Dependencies). Algorithm:
1. Split off and check the front matter (``front_matter``).
2. Walk the CommonMark token stream: headings set the section; ``sh``/``bash``/``shell``,
   ``sql`` and ``http`` fences are steps; ``- [ ] text`` list items are manual steps; every
   other fence or code block is documentation.
3. For each step: read its ``{key=value ...}`` attributes, check them for its kind, find its
   ``{{ name }}`` placeholders, settle its risk (stated, or classified by ``risk``) and id.
4. Return the runbook only when nothing was wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta

from markdown_it import MarkdownIt
from markdown_it.token import Token

from opsbook.config.fields import HTTP_METHODS
from opsbook.config.units import parse_duration
from opsbook.errors import Problem
from opsbook.runbooks import front_matter
from opsbook.runbooks.models import Position, Risk, Runbook, Step, StepKind
from opsbook.runbooks.risk import Finding, classify_http, classify_shell, classify_sql, rank

LANGUAGES = {"sh": StepKind.SHELL, "bash": StepKind.SHELL, "shell": StepKind.SHELL}
LANGUAGES |= {"sql": StepKind.SQL, "http": StepKind.HTTP}
ATTRIBUTES: dict[StepKind, tuple[str, ...]] = {
    StepKind.SHELL: ("name", "risk", "timeout", "cwd"),
    StepKind.SQL: ("name", "risk", "timeout", "db", "write"),
    StepKind.HTTP: ("name", "risk", "timeout"),
}
STEP_ID = re.compile(r"[a-z0-9][a-z0-9_-]*")
# As broad as the executors' (shell.PLACEHOLDER), so every placeholder they would fill is
# checked against the declared parameters here.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}")
_ATTRIBUTE = re.compile(r'\s*([A-Za-z_][A-Za-z0-9_-]*)=("(?:[^"\\]|\\.)*"|[^\s"}]+)')
_REQUEST_LINE = re.compile(r"(\S+)\s+(\S+)(?:\s+HTTP/[0-9.]+)?")
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+:.*")
_BOX = re.compile(r"\[( |x|X)\]\s+")
_MD = MarkdownIt("commonmark")


@dataclass
class _Fence:
    kind: StepKind
    lang: str
    text: str
    line: int  # the fence's opening line, 1-based
    column: int
    attrs: list[tuple[str, str]]
    section: str


class _Parser:
    def __init__(self, text: str, file: str) -> None:
        self.file = file
        self.lines = text.split("\n")
        self.problems: list[Problem] = []

    def fail(self, line: int, column: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, column, "", message))

    def column_of(self, line: int, needle: str, start: int = 0) -> int:
        raw = self.lines[line - 1] if 0 < line <= len(self.lines) else ""
        found = raw.find(needle, start)
        return found + 1 if found >= 0 else 1

    def attributes(self, token: Token, line: int, lang: str) -> list[tuple[str, str]] | None:
        info = token.info.strip()
        rest = info[len(lang) :]
        if not rest.strip():
            return []
        info_at = self.column_of(line, info)
        rest_at = info_at + len(lang) + (len(rest) - len(rest.lstrip()))
        body = rest.strip()
        if not (body.startswith("{") and body.endswith("}")):
            self.fail(line, rest_at, f"after {lang!r} write attributes in braces, e.g. {{name=x}}")
            return None
        inner, pos, out = body[1:-1], 0, []
        while inner[pos:].strip():
            match = _ATTRIBUTE.match(inner, pos)
            column = rest_at + 1 + pos + (len(inner[pos:]) - len(inner[pos:].lstrip()))
            if match is None:
                bad = inner[pos:].split()[0]
                self.fail(
                    line,
                    column,
                    f"cannot read attribute {bad!r} (write key=value; quote a value with "
                    'spaces: key="a b")',
                )
                return None
            value = match.group(2)
            if value.startswith('"'):
                value = re.sub(r"\\(.)", r"\1", value[1:-1])
            out.append((match.group(1), value, column))
            pos = match.end()
        return self.checked(out, line, lang)

    def checked(
        self, found: list[tuple[str, str, int]], line: int, lang: str
    ) -> list[tuple[str, str]] | None:
        kind = LANGUAGES[lang.lower()]
        allowed = ATTRIBUTES[kind]
        ok, seen, out = True, set(), []
        for key, value, column in found:
            message = ""
            if key not in allowed:
                message = f"unknown attribute {key!r} for a {lang} step (use {', '.join(allowed)})"
            elif key in seen:
                message = f"attribute {key!r} is given twice"
            else:
                message = _attribute_problem(key, value)
            seen.add(key)
            if message:
                self.fail(line, column, message)
                ok = False
            else:
                out.append((key, value))
        return out if ok else None

    def placeholders(self, text: str, first_line: int, declared: set[str]) -> tuple[str, ...]:
        used: list[str] = []
        for offset, content in enumerate(text.split("\n")):
            for match in PLACEHOLDER.finditer(content):
                name = match.group(1)
                if name not in declared:
                    line = first_line + offset
                    self.fail(
                        line,
                        self.column_of(line, match.group(0)),
                        f"{{{{ {name} }}}} is not a declared parameter (declare it under "
                        "parameters: in the front matter)",
                    )
                elif name not in used:
                    used.append(name)
        return tuple(used)


def _attribute_problem(key: str, value: str) -> str:
    if key == "name" and not STEP_ID.fullmatch(value):
        return (
            f"name={value!r} is not a step id (use lowercase letters, digits, '-' and '_', "
            "starting with a letter or digit)"
        )
    if key == "risk" and value not in {r.value for r in Risk}:
        return f"risk={value!r} is not a risk (use read, write or danger)"
    if key == "timeout":
        try:
            if parse_duration(value) <= timedelta():
                return "timeout must be longer than 0s"
        except ValueError as exc:
            return f"timeout: {exc}"
    if key == "write" and value not in ("true", "false"):
        return f"write={value!r} must be true or false"
    if key == "cwd" and (value.startswith("/") or ".." in value.split("/")):
        return (
            f"cwd={value!r} must be a folder inside runbooks.shell.cwd (or the config's "
            "folder): no leading / and no '..'"
        )
    if key == "db" and not STEP_ID.fullmatch(value):
        return f"db={value!r} is not a database name (a key under runbooks.databases)"
    return ""


def _http_problem(text: str) -> tuple[int, str]:
    """(line offset in the body, message) of a malformed request, or (0, "")."""
    lines = text.split("\n")
    start = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if start is None:
        return 0, ""
    # A placeholder may hold spaces ("{{ id }}"); it is one word of the request line.
    match = _REQUEST_LINE.fullmatch(PLACEHOLDER.sub("{{}}", lines[start].strip()))
    if match is None or match.group(1).upper() not in HTTP_METHODS:
        return start, (
            f"{lines[start].strip()[:40]!r} is not a request line (write METHOD URL, e.g. "
            f"GET https://example.com/health; methods: {', '.join(HTTP_METHODS)})"
        )
    url = match.group(2)
    if not url.startswith(("http://", "https://")):
        # Placeholders in a URL are percent-encoded values: they cannot name the host.
        return start, (
            f"{url[:40]!r} is not an http:// or https:// URL (write the scheme and host out; "
            "a parameter cannot say where a request goes)"
        )
    for i in range(start + 1, len(lines)):
        if not lines[i].strip():
            break
        if not _HEADER.fullmatch(lines[i].strip()):
            return i, f"{lines[i].strip()[:40]!r} is not a header (write Name: value)"
    return 0, ""


def _classify(kind: StepKind, text: str) -> Finding:
    if kind is StepKind.SHELL:
        return classify_shell(text)
    if kind is StepKind.SQL:
        return classify_sql(text)
    return classify_http(text)


def step_digest(kind: StepKind, risk: Risk, attrs: tuple[tuple[str, str], ...], text: str) -> str:
    payload = json.dumps([kind.value, risk.value, sorted(attrs), text], separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def parse_runbook(text: str, *, name: str, file: str) -> tuple[Runbook | None, list[Problem]]:
    """Parse one runbook file's ``text``. Returns the runbook and no problems, or None and
    every problem found (file order). Never raises for bad input."""
    p = _Parser(text, file)
    fm_text, fm_lines = front_matter.split(text)
    fm = front_matter.FrontMatter()
    if fm_lines < 0:
        p.fail(1, 1, "the front matter opened by --- is never closed (end it with a --- line)")
        fm_lines = 0
    elif fm_text is not None:
        fm = front_matter.read(fm_text)
        for line, column, message in fm.problems:
            p.fail(line, column, message)
    # Blank lines in place of the front matter keep markdown-it's line numbers the file's.
    body = "\n" * fm_lines + "\n".join(p.lines[fm_lines:])
    declared = {param.name for param in fm.parameters}
    steps: list[Step] = []
    ids: dict[str, int] = {}
    section = ""
    title = fm.title
    tokens = _MD.parse(body)
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            section = tokens[i + 1].content.strip()
            if token.tag == "h1" and not title:
                title = section
            continue
        step = None
        if token.type == "fence" and token.map is not None:
            step = _fence_step(p, token, section, declared, len(steps) + 1)
        elif token.type == "inline" and token.map is not None and _is_task(tokens, i):
            step = _manual_step(p, token, section, declared, len(steps) + 1)
        if step is None:
            continue
        if step.id in ids:
            p.fail(
                step.at.line,
                step.at.column,
                f"step id {step.id!r} is already used by the step at line {ids[step.id]}",
            )
        ids.setdefault(step.id, step.at.line)
        steps.append(step)
    if p.problems:
        return None, sorted(p.problems, key=lambda q: (q.line, q.column))
    digest = hashlib.sha256("\n".join(f"{s.id} {s.digest}" for s in steps).encode()).hexdigest()
    runbook = Runbook(
        name=name,
        title=title or name,
        path=file,
        steps=tuple(steps),
        parameters=fm.parameters,
        tags=fm.tags,
        alerts=fm.alerts,
        schedule=fm.schedule,
        timezone=fm.timezone,
        channels=fm.channels,
        grace=fm.grace,
        alert=fm.alert,
        description=fm.description,
        digest=digest,
    )
    return runbook, []


def alert_positions(text: str) -> tuple[tuple[int, int], ...]:
    """Where each name under the front matter's ``alerts:`` is written (line, column)."""
    fm_text, _ = front_matter.split(text)
    return front_matter.read(fm_text).alerts_at if fm_text is not None else ()


def _is_task(tokens: list[Token], i: int) -> bool:
    return (
        i >= 2
        and tokens[i - 1].type == "paragraph_open"
        and tokens[i - 2].type == "list_item_open"
        and _BOX.match(tokens[i].content) is not None
    )


def _fence_step(
    p: _Parser, token: Token, section: str, declared: set[str], number: int
) -> Step | None:
    lang = token.info.strip().split(maxsplit=1)[0].split("{")[0] if token.info.strip() else ""
    kind = LANGUAGES.get(lang.lower())
    if kind is None:
        return None  # documentation
    lang = lang.lower()
    assert token.map is not None  # checked by the caller
    line = token.map[0] + 1
    column = len(p.lines[line - 1]) - len(p.lines[line - 1].lstrip()) + 1
    problems_before = len(p.problems)
    attrs = p.attributes(token, line, token.info.strip().split(maxsplit=1)[0].split("{")[0])
    text = token.content
    params = p.placeholders(text, line + 1, declared)
    if not text.strip():
        p.fail(line, column, f"the {lang} step is empty")
    if kind is StepKind.HTTP:
        offset, message = _http_problem(text)
        if message:
            p.fail(line + 1 + offset, 1, message)
    if attrs is None or len(p.problems) > problems_before:
        return None
    given = dict(attrs)
    finding = _classify(kind, text)
    stated = Risk(given["risk"]) if "risk" in given else None
    if stated is not None:
        risk, reason = stated, ""
        if given.get("write") == "true" and stated is Risk.READ:
            p.fail(line, column, "risk=read contradicts write=true; say risk=write or danger")
            return None
        if finding.certain and rank(stated) < rank(finding.risk):
            p.fail(
                line,
                column,
                f"risk={stated} but the step runs {finding.reason}; say risk={finding.risk}"
                + (" or danger" if finding.risk is Risk.WRITE else ""),
            )
            return None
    else:
        risk, reason = finding.risk, finding.reason
        if given.get("write") == "true" and risk is Risk.READ:
            risk, reason = Risk.WRITE, "write=true"
    step_id = given.get("name", "")
    if not step_id:
        if risk is not Risk.READ:
            why = "" if stated else f" ({reason})"
            p.fail(
                line,
                column,
                f"this {risk} step{why} needs a name: add {{name=...}} (approvals and runs "
                "name it)",
            )
            return None
        step_id = f"step-{number}"
    timeout = parse_duration(given["timeout"]) if "timeout" in given else None
    frozen = tuple(attrs)
    return Step(
        id=step_id,
        kind=kind,
        risk=risk,
        text=text,
        section=section,
        at=Position(line, column),
        digest=step_digest(kind, risk, frozen, text),
        params=params,
        attrs=frozen,
        timeout=timeout,
        db=given.get("db"),
        risk_reason=reason,
    )


def _manual_step(
    p: _Parser, token: Token, section: str, declared: set[str], number: int
) -> Step | None:
    # A person does a manual step; opsbook changes nothing when it is ticked off, so it is
    # read (no confirmation or approval to tick a box).
    assert token.map is not None  # checked by the caller
    line = token.map[0] + 1
    box = _BOX.match(token.content)
    assert box is not None
    text = token.content[box.end() :].strip()
    column = p.column_of(line, box.group(0).rstrip())
    before = len(p.problems)
    params = p.placeholders(token.content, line, declared)
    if len(p.problems) > before:
        return None
    return Step(
        id=f"step-{number}",
        kind=StepKind.MANUAL,
        risk=Risk.READ,
        text=text,
        section=section,
        at=Position(line, column),
        digest=step_digest(StepKind.MANUAL, Risk.READ, (), text),
        params=params,
    )
