"""How the importer cuts a fenced block into steps: a shell block into one step per
blank-line-separated command group (comment-only groups become manual steps or text), an SQL
block into one step per statement group, SQL written in a shell block into SQL. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

SHELL_LANGS = frozenset(
    {"sh", "bash", "shell", "console", "zsh", "shell-session", "shellsession", "terminal"}
)
SQL_LANGS = frozenset({"sql", "psql", "pgsql", "postgres", "postgresql", "plpgsql"})
HTTP_LANGS = frozenset({"http"})
DOC_LANGS = frozenset(
    {
        "js",
        "javascript",
        "ts",
        "typescript",
        "python",
        "py",
        "json",
        "yaml",
        "yml",
        "markdown",
        "md",
        "text",
        "txt",
        "toml",
        "ini",
        "xml",
        "html",
        "css",
        "go",
        "rust",
        "java",
        "ruby",
        "diff",
        "jsx",
        "tsx",
    }
)

_SQL_START = re.compile(
    r"^(SELECT|WITH|UPDATE|INSERT|DELETE|CREATE|ALTER|DROP|EXPLAIN|SHOW|VACUUM|ANALYZE|TRUNCATE|GRANT|REVOKE)\b"
)
_SQL_IN_COMMENT = re.compile(
    r"^(SELECT|WITH|UPDATE|INSERT|DELETE|EXPLAIN)\b.*\b(FROM|SET|INTO)\b", re.I
)
_NUMBERED = re.compile(r"^\s*(?:\d+[.)]|step\s+\d+\s*[:.)-]?|option\s+\d+\s*[:.)-]?)\s*", re.I)
_PROSE_STEP = re.compile(r"^\s*\d{1,2}[.)]\s+[A-Z][a-z]")
_ENV_LINE = re.compile(r"^\s*[A-Z][A-Z0-9_]*=\S*\s*(#.*)?$")
_OPENERS = re.compile(r"(?:^|[;&|]\s*|\bthen\s+|\bdo\s+)(if|for|while|until|case)\b")
_CLOSERS = re.compile(r"(?:^|[;&|]\s*|\s)(fi|done|esac)\b")
_VERBS = frozenset(
    re.findall(
        r"\S+",
        """check verify review restart rotate update confirm ensure run look search find identify
        open visit go navigate click monitor watch test deploy rollback roll retry replay resend
        re-sync sync disable enable create delete remove add fix mark notify send export scale
        upgrade increase reduce clear contact escalate compare inspect audit set edit merge
        implement get generate tail kill stop start wait record post announce document capture
        take backup restore consider optimize make use switch apply call page regenerate revoke
        reset redeploy purge flush drain investigate filter""",
    )
)
CONSOLE = re.compile(
    r"\bvia\b.*\b(ui|console|dashboard|portal|web)\b|\b(dashboard|console|portal)\b"
    r"|^\s*(go to|navigate|open|visit|log ?in|click|select)\b|\bclick\b|→"
    r"|\bin (the )?\w+ (ui|dashboard|console)\b",
    re.I,
)


@dataclass(frozen=True)
class Piece:
    """``kind``: shell, sql, http, manual, text or doc. ``hint`` names a step, ``lang`` a doc."""

    kind: str
    text: str
    hint: str = ""
    lang: str = ""


def clean_label(text: str) -> str:
    return _NUMBERED.sub("", text.strip().lstrip("#").strip()).strip()


def is_imperative(text: str) -> bool:
    words = re.findall(r"[A-Za-z][A-Za-z-]*", clean_label(text))
    return bool(words) and words[0].lower() in _VERBS


def _is_comment(line: str) -> bool:
    s = line.strip()
    return s.startswith("#") and not s.startswith("#!")


def _is_prose_step(line: str) -> bool:
    """ "1. Go to Replit dashboard" written inside a shell block: an instruction, not a command."""
    return bool(_PROSE_STEP.match(line))


def _depth_change(line: str) -> int:
    code = line.split(" #", 1)[0]
    return (
        len(_OPENERS.findall(code))
        - len(_CLOSERS.findall(code))
        + code.count("{")
        - code.count("}")
    )


def _is_open(lines: list[str]) -> bool:
    """True while a group must not end: an open if/for/case/brace, continuation, heredoc, quote."""
    depth = sum(_depth_change(x) for x in lines if not _is_comment(x))
    code = [x for x in lines if not _is_comment(x)]
    if not code:
        return False
    joined = "\n".join(code)
    heredoc = re.search(r"<<-?\s*['\"]?(\w+)", joined)
    if heredoc and not re.search(
        r"^\s*" + heredoc.group(1) + r"\s*$", joined.split(heredoc.group(0), 1)[1], re.M
    ):
        return True
    unquoted = re.sub(r"\\.", "", joined)
    return (
        depth > 0
        or code[-1].rstrip().endswith("\\")
        or unquoted.count("'") % 2 == 1
        or unquoted.count('"') % 2 == 1
    )


def _groups(lines: list[str]) -> list[list[str]]:
    groups: list[list[str]] = []
    current: list[str] = []
    for line in lines:
        if not line.strip() and current and not _is_open(current):
            groups.append(current)
            current = []
        elif line.strip() or current:
            current.append(line)
    if current:
        groups.append(current)
    return groups


def shell_pieces(lang: str, body: list[str]) -> list[Piece]:
    prompted = any(line.startswith("$ ") for line in body)
    lines: list[str] = []
    output: list[str] = []
    for line in body:
        if line.startswith("$ "):
            lines.append(line[2:])
        elif prompted and line.strip() and not _is_comment(line):
            output.append(line)
        else:
            lines.append(line)
    first = next((x.strip() for x in lines if x.strip() and not _is_comment(x)), "")
    if _SQL_START.match(first):
        sql = "\n".join("--" + x.strip()[1:] if _is_comment(x) else x for x in lines)
        pieces = sql_pieces(sql.split("\n"))
    elif lines and lines[0].startswith("#!"):
        pieces = [Piece("shell", "\n".join(lines).strip("\n"), hint=_first_comment(lines))]
    else:
        pieces = [p for group in _groups(lines) for p in _shell_group(group)]
    if output:
        pieces.append(Piece("doc", "\n".join(output), lang="text"))
    return pieces


def _first_comment(lines: list[str]) -> str:
    for line in lines:
        if _is_comment(line):
            label = clean_label(line)
            if label and not re.match(r"(or\b|via\b|option\b)", label, re.I):
                return label
    return ""


def _shell_group(group: list[str]) -> list[Piece]:
    if all(_is_comment(x) or _is_prose_step(x) for x in group):
        return _comment_group(group)
    if all(_is_comment(x) or _ENV_LINE.match(x) for x in group):
        # "NAME=value" lines alone list settings; as a step they would set nothing anywhere.
        return [Piece("doc", "\n".join(group), lang="dotenv")]
    pieces: list[Piece] = []
    lead = 0
    while lead < len(group) and _is_comment(group[lead]) and CONSOLE.search(group[lead]):
        lead += 1
    if lead:
        pieces.extend(_comment_group(group[:lead]))
    rest = group[lead:]
    hint = _first_comment(rest[: next(i for i, x in enumerate(rest) if not _is_comment(x))])
    pieces.append(Piece("shell", "\n".join(rest), hint=hint))
    return pieces


def command_hint(lines: list[str]) -> str:
    first = next((x for x in lines if x.strip() and not _is_comment(x)), "")
    words: list[str] = []
    for token in first.split():
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", token) or len(words) == 3:
            break
        words.append(token)
    return " ".join(words)


def _comment_group(group: list[str]) -> list[Piece]:
    """Comment lines alone: "# Via X UI: ..." and "# 1. Check ..." become manual steps; a
    commented-out query becomes an SQL step; anything else stays text."""
    items: list[list[str]] = []
    pieces: list[Piece] = []
    for line in group:
        label = line.strip().lstrip("#").strip()
        if not label:
            continue
        if _SQL_IN_COMMENT.match(label):
            pieces.extend(_flush(items))
            items = []
            hint = pieces[-1].text if pieces and pieces[-1].kind == "manual" else ""
            pieces.append(Piece("sql", label, hint=hint))
        elif not items or _NUMBERED.match(label):
            items.append([label])
        else:
            items[-1].append(label)
    return pieces + _flush(items)


def _flush(items: list[list[str]]) -> list[Piece]:
    """One item per numbered line (with the lines under it). An item that is a lone lead-in
    ("Via Lovable UI:", "If deployment-related:") stays text and its lines become steps."""
    out: list[Piece] = []
    for n, item in enumerate(items):
        first = clean_label(item[0])
        numbered = bool(_NUMBERED.match(item[0]) and re.match(r"\d", item[0]))
        lead_in = (
            not numbered and not is_imperative(first) and (first.endswith(":") or len(item) == 1)
        )
        if lead_in and (len(item) > 1 or n + 1 < len(items)):
            out.append(Piece("text", item[0]))
            out.extend(
                Piece("manual", x) if is_imperative(x) else Piece("text", x) for x in item[1:]
            )
            continue
        text = " — ".join(x for x in [first, *item[1:]] if x)
        if not text:
            continue
        if numbered or is_imperative(first) or any(CONSOLE.search(x) for x in item):
            out.append(Piece("manual", text))
        else:
            out.append(Piece("text", "\n".join(item)))
    return out


def sql_pieces(body: list[str]) -> list[Piece]:
    pieces: list[Piece] = []
    current: list[str] = []

    def statement_done() -> bool:
        code = [x for x in current if x.strip() and not x.strip().startswith("--")]
        return not code or code[-1].rstrip().endswith(";")

    def flush() -> None:
        if any(x.strip() and not x.strip().startswith("--") for x in current):
            hint = next((x.strip()[2:].strip() for x in current if x.strip().startswith("--")), "")
            pieces.append(Piece("sql", "\n".join(current).strip("\n"), hint=hint))
        elif current:
            pieces.append(
                Piece(
                    "text", "\n".join(x.strip().lstrip("-").strip() for x in current if x.strip())
                )
            )

    for line in body:
        if not line.strip() and current and statement_done():
            has_code = any(x.strip() and not x.strip().startswith("--") for x in current)
            if has_code:
                flush()
                current = []
            continue
        if line.strip() or current:
            current.append(line)
    flush()
    return pieces
