"""Text repairs and placeholder detection for the runbook importer: mis-decoded characters,
slugs, and the placeholders free-form runbooks write (``$VAR``, ``<user_id>``, ``'USER_ID'``,
``your-domain.com``, ``[Name]``) turned into declared ``{{ name }}`` parameters. Pure; no I/O."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field

# UTF-8 read as Windows-1252 turns "→" (e2 86 92) into "\u00e2\u2020\u2019" and "🚨" into
# "\u00f0\u0178\u0161\u00a8". Only a
# character whose cp1252 byte is a UTF-8 lead byte can start such a run, and the run is
# replaced only when its bytes decode as strict UTF-8, so correct text is left alone.
_MOJIBAKE_HINT = re.compile("[\u00c2-\u00f4]")


def _cp1252_byte(ch: str) -> int | None:
    try:
        encoded = ch.encode("cp1252")
    except UnicodeEncodeError:
        # cp1252 leaves 0x81, 0x8d, 0x8f, 0x90 and 0x9d undefined; decoders pass them through.
        return ord(ch) if 0x80 <= ord(ch) <= 0x9F else None
    return encoded[0] if len(encoded) == 1 else None


def _sequence_length(lead: int) -> int:
    if 0xC2 <= lead <= 0xDF:
        return 2
    if 0xE0 <= lead <= 0xEF:
        return 3
    if 0xF0 <= lead <= 0xF4:
        return 4
    return 0


def repair_mojibake(text: str) -> tuple[str, int]:
    """Return ``text`` with UTF-8-read-as-cp1252 runs decoded, and how many were repaired."""
    if not _MOJIBAKE_HINT.search(text):
        return text, 0
    out: list[str] = []
    repaired = 0
    i = 0
    while i < len(text):
        lead = _cp1252_byte(text[i])
        n = _sequence_length(lead) if lead is not None else 0
        if n and i + n <= len(text):
            raw = [_cp1252_byte(c) for c in text[i : i + n]]
            if all(b is not None and (k == 0 or 0x80 <= b <= 0xBF) for k, b in enumerate(raw)):
                try:
                    decoded = bytes(b for b in raw if b is not None).decode("utf-8")
                except UnicodeDecodeError:
                    decoded = ""
                if decoded and unicodedata.category(decoded) not in ("Cc", "Cs"):
                    out.append(decoded)
                    repaired += 1
                    i += n
                    continue
        out.append(text[i])
        i += 1
    return "".join(out), repaired


def slug(text: str, *, limit: int = 60) -> str:
    """Lowercase ASCII letters, digits and '-', cut at a word boundary; '' when nothing is left."""
    folded = unicodedata.normalize("NFKD", text)
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    words = re.findall(r"[a-z0-9]+", folded.lower())
    out = ""
    for word in words:
        candidate = f"{out}-{word}" if out else word
        if len(candidate) > limit:
            break
        out = candidate
    return out or (words[0][:limit] if words else "")


def param_name(text: str) -> str:
    name = "_".join(re.findall(r"[a-z0-9]+", text.lower()))[:48].strip("_")
    if not name:
        return "value"
    return name if name[0].isalpha() else f"p_{name}"


@dataclass
class Params:
    """Parameters found so far in one runbook: name -> the text it replaced."""

    found: dict[str, str] = field(default_factory=dict)
    defaults: dict[str, str] = field(default_factory=dict)

    def use(self, name: str, original: str, *, default: str | None = None) -> str:
        self.found.setdefault(name, original)
        if default is not None:
            self.defaults.setdefault(name, default)
        return "{{ " + name + " }}"


# Variables the shell or the environment always provides: never parameters.
_SHELL_BUILTINS = frozenset(
    re.findall(
        r"\S+",
        """HOME PATH PWD OLDPWD USER LOGNAME SHELL HOSTNAME RANDOM LINENO SECONDS UID EUID PPID IFS
        TERM LANG LC_ALL TMPDIR BASH_SOURCE BASH_VERSION FUNCNAME OPTARG OPTIND PS1 PS2 EDITOR
        PIPESTATUS REPLY HISTFILE""",
    )
)
_ASSIGNED = re.compile(
    r"(?:^|[\s;&|(`])(?:export\s+|local\s+|readonly\s+|declare\s+(?:-\w+\s+)*)?([A-Za-z_]\w*)\+?=",
    re.ASCII,
)
_LOOP_VAR = re.compile(
    r"\b(?:for|select)\s+([A-Za-z_]\w*)\s+in\b|\bread\s+((?:-\w+\s+)*[\w ]+)", re.ASCII
)
_DOLLAR = re.compile(r"\$(?:\{([A-Za-z_]\w*)(?::?-([^}]*))?\}|([A-Za-z_]\w*))", re.ASCII)
_ANGLE = re.compile(r"(?<![<\w])<([A-Za-z][A-Za-z0-9_-]{0,40})>(?!>)", re.ASCII)
_YOUR_HOST = re.compile(
    r"\byour[-_]?([a-z0-9]+(?:-[a-z0-9]+)*)((?:\.[a-z0-9-]+)*\.(?:com|org|net|io|dev|app|co))\b",
    re.ASCII,
)
_YOUR_CONST = re.compile(r"(?<![\w$])YOUR_([A-Z0-9_]+)\b", re.ASCII)
_EMBEDDED_CAPS = re.compile(
    r"(?<=[a-z0-9][_\-./])(TIMESTAMP|DATE)(?=[_\-.][a-z]|\b(?!=))", re.ASCII
)
_HTML_TAGS = frozenset(re.findall(r"\S+", "a b i u p br hr em li ol ul tr td th div span code pre"))


def _assigned_names(text: str) -> set[str]:
    names = {m.group(1) for m in _ASSIGNED.finditer(text)}
    for m in _LOOP_VAR.finditer(text):
        if m.group(1):
            names.add(m.group(1))
        elif m.group(2):
            names.update(w for w in m.group(2).split() if not w.startswith("-"))
    return names


def _angle(text: str, params: Params, *, need_separator: bool) -> str:
    def repl(m: re.Match[str]) -> str:
        inner = m.group(1)
        # '<IDLE>' is what pg_stat_activity showed before 9.2, not a placeholder.
        if (
            inner.lower() in _HTML_TAGS
            or inner.isupper()
            or (need_separator and not re.search(r"[_-]", inner))
        ):
            return m.group(0)
        return params.use(param_name(inner), m.group(0))

    return _ANGLE.sub(repl, text)


def _hosts_and_constants(text: str, params: Params) -> str:
    def host(m: re.Match[str]) -> str:
        word = m.group(1)
        name = (
            param_name(word)
            if word in ("domain", "host", "hostname", "site")
            else param_name(f"{word}_host")
        )
        return params.use(name, m.group(0))

    text = _YOUR_HOST.sub(host, text)
    return _YOUR_CONST.sub(lambda m: params.use(param_name(m.group(1)), m.group(0)), text)


def _outside_single_quotes(line: str) -> list[tuple[int, int]]:
    """Spans of ``line`` the shell would expand ``$`` in (outside '...' and after no '#')."""
    spans: list[tuple[int, int]] = []
    start, in_single, in_double, i = 0, False, False, 0
    while i < len(line):
        c = line[i]
        if c == "\\" and not in_single:
            i += 2
            continue
        if c == "'" and not in_double:
            if not in_single:
                spans.append((start, i))
            else:
                start = i + 1
            in_single = not in_single
        elif c == '"':
            in_double = not in_double
        i += 1
    if not in_single:
        spans.append((start, len(line)))
    return spans


def shell_placeholders(text: str, params: Params) -> str:
    assigned = _assigned_names(text)

    def dollar(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(3)
        if name in _SHELL_BUILTINS or name in assigned:
            return m.group(0)
        return params.use(param_name(name), m.group(0), default=m.group(2))

    lines = []
    for line in text.split("\n"):
        parts, last = [], 0
        for a, b in _outside_single_quotes(line):
            parts.append(line[last:a])
            parts.append(_DOLLAR.sub(dollar, line[a:b]))
            last = b
        parts.append(line[last:])
        lines.append("".join(parts))
    text = "\n".join(lines)
    text = _angle(text, params, need_separator=False)
    text = _EMBEDDED_CAPS.sub(lambda m: params.use(param_name(m.group(1)), m.group(0)), text)
    return _hosts_and_constants(text, params)


_SQL_LITERAL = re.compile(r"'((?:[^'\n]|'')*)'")
_SQL_POSITIONAL = re.compile(r"(?<![\w$])\$(\d{1,2})(?![\w$])")
_CONTEXT_COLUMN = re.compile(
    r"\"?([A-Za-z_]\w*)\"?\s*(?:=|<>|!=|<=|>=|<|>|\bi?like\b|\bin\s*\()\s*$", re.I | re.A
)
_PLACEHOLDER_LITERAL = re.compile(
    r"^(?:(?:[A-Z][A-Z0-9]*_)+[A-Z0-9]+|x{3,}|X{3,}|[a-z]+[-_]id|your[-_ ].+|<[a-z][a-z0-9_ -]*>"
    r"|.+@example\.(?:com|org|net)|changeme|placeholder|todo|tbd)$",
    re.A,
)


def _context_name(before: str) -> str | None:
    m = _CONTEXT_COLUMN.search(before)
    return param_name(m.group(1)) if m else None


def sql_placeholders(text: str, params: Params) -> str:
    def literal(m: re.Match[str]) -> str:
        inner = m.group(1)
        if not _PLACEHOLDER_LITERAL.match(inner):
            return m.group(0)
        if re.fullmatch(r"(?:[A-Z][A-Z0-9]*_)+[A-Z0-9]+|[a-z]+[-_]id|<.*>", inner, re.A):
            name = param_name(inner)
        else:
            name = _context_name(m.string[: m.start()]) or ("email" if "@" in inner else "value")
        return params.use(name, m.group(0))

    def positional(m: re.Match[str]) -> str:
        name = _context_name(m.string[: m.start()]) or f"param_{m.group(1)}"
        return params.use(name, m.group(0))

    text = _SQL_LITERAL.sub(literal, text)
    text = _SQL_POSITIONAL.sub(positional, text)
    text = _angle(text, params, need_separator=False)
    return _hosts_and_constants(text, params)


_BRACKET = re.compile(r"(?<![\[!\\])\[([A-Z][A-Za-z]+(?: [A-Za-z]+){0,3})\](?![(\[:])", re.A)


def manual_placeholders(text: str, params: Params) -> str:
    text = _angle(text, params, need_separator=True)
    text = _BRACKET.sub(lambda m: params.use(param_name(m.group(1)), m.group(0)), text)
    return _hosts_and_constants(text, params)


# What the loader reads as a placeholder (parse.PLACEHOLDER); "{{.Names}}" and "{{ $value }}"
# are other tools' templates and stay as written.
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
