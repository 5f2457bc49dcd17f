"""Import a free-form operations runbook (markdown) as opsbook runbooks: a first draft a person
reviews. Pure apart from ``write_runbooks``; prints nothing.

1. Repair mis-decoded characters (UTF-8 read as cp1252 and saved again) back to ``→``, ``🚨``.
2. Cut the document into runbooks: each issue/playbook heading ("Issue 3: ...", "2. Checkout Not
   Working", "Playbook: X", "Procedure: X", "Scenario ...", "If ... then ...") with everything under
   it is one runbook; what is left is grouped by top-level section, and a group becomes a runbook
   only when it holds at least one step.
3. Render each: front matter (title, tags, declared parameters), a review note, headings as
   sections, "**Symptoms:**"-style labels as sections, shell/SQL/HTTP blocks as named steps,
   checklists and console instructions as ``- [ ]`` steps, anything else as documentation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from opsbook.errors import Conflict
from opsbook.runbooks.import_blocks import Block, Fence, Heading, Line, read_blocks
from opsbook.runbooks.import_steps import (
    CONSOLE,
    DOC_LANGS,
    HTTP_LANGS,
    SHELL_LANGS,
    SQL_LANGS,
    Piece,
    clean_label,
    command_hint,
    shell_pieces,
    sql_pieces,
)
from opsbook.runbooks.import_text import (
    PLACEHOLDER,
    Params,
    manual_placeholders,
    repair_mojibake,
    shell_placeholders,
    slug,
    sql_placeholders,
)

REVIEW_NOTE = (
    "Imported by `opsbook runbook import` from {source}: a first draft. A person must review every "
    "step, its risk, its parameters and the text before this runbook is used."
)

_PLAYBOOK = re.compile(
    r"^(?:(?:issue|playbook|procedure|runbook|scenario|incident\s+playbook)\b\s*#?\d*\s*"
    r"[:.\-\u2013\u2014]\s*\S|scenario\b|\d{1,3}[.)]\s+\S|if\b.+\bthen\b)",
    re.I,
)
# A parameter named like a credential is declared ``secret: true``, so its value is masked in
# every output (Lift's `echo $NEXTAUTH_SECRET` would print it otherwise). A DSN holds a password.
_SECRET_NAME = re.compile(
    r"secret|passw|token|api_?key|(?:^|_)key$|credential|private|dsn|database_url|webhook_url", re.I
)
_LABEL = re.compile(r"^\s*\*\*([^*\n]{1,80}?)\s*:?\s*\*\*\s*:?\s*$")
_LIST_ITEM = re.compile(r"^(\s*)([-*+]|\d{1,3}[.)])\s+(.*)$")
_CHECKBOX = re.compile(r"^(?:\[[ xX]\]|✅|✔️?|☐|☑️?|⬜)\s*")
_TEXT_CONTEXT = re.compile(
    r"symptom|problem|cause|culprit|prevent|impact|\bwhen\b|long.?term|expected|note|architecture"
    r"|component|escalat|overview|background|why|contact|link|information|metric|alert|dependenc"
    r"|severit|target|signs",
    re.I,
)
_CHECK_CONTEXT = re.compile(
    r"step|resolution|resolve|fix|remediat|mitigat|action|checklist|task|daily|weekly|monthly"
    r"|routine|procedure|investigat|diagnos|verif|rollback|recover|immediate|to ?do|solution"
    r"|workaround|playbook|response|how to",
    re.I,
)


@dataclass(frozen=True)
class ImportedStep:
    kind: str  # shell, sql, http or manual
    name: str  # "" for a manual step (the loader numbers those)
    text: str


@dataclass(frozen=True)
class ImportedRunbook:
    filename: str
    title: str
    text: str
    steps: tuple[ImportedStep, ...]
    parameters: tuple[str, ...]

    def count(self, kind: str) -> int:
        return sum(1 for s in self.steps if s.kind == kind)


@dataclass(frozen=True)
class ImportResult:
    """What one import made: ``runbooks`` in document order, ``unclassified`` lines saying what
    was kept as documentation or left out and where (``SOURCE:LINE: ...``), and ``repaired`` the
    number of mis-decoded characters fixed."""

    source: str
    runbooks: tuple[ImportedRunbook, ...]
    unclassified: tuple[str, ...] = ()
    repaired: int = 0

    def files(self) -> list[tuple[str, str]]:
        return [(r.filename, r.text) for r in self.runbooks]

    def count(self, kind: str) -> int:
        return sum(r.count(kind) for r in self.runbooks)


def import_markdown(text: str, *, source: str) -> ImportResult:
    """Turn ``text`` (any string) into runbooks; never raises on odd markdown."""
    text = (
        text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "\ufffd")
    )
    text = text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    text, repaired = repair_mojibake(text)
    blocks = read_blocks(text)
    stem = _source_stem(source)
    notes: list[str] = []
    runbooks: list[ImportedRunbook] = []
    taken: set[str] = set()
    doc_title = _doc_title(blocks)
    for title, part in _split(blocks, doc_title=doc_title or stem):
        renderer = _Renderer(source=source, stem=stem, notes=notes)
        runbook = renderer.render(title, part, taken=taken)
        if runbook is None:
            first = part[0].line if part else 1
            notes.append(f"{source}:{first}: section {title!r} has no steps; left out")
            continue
        runbooks.append(runbook)
    notes.sort(key=_note_line)
    return ImportResult(
        source=source, runbooks=tuple(runbooks), unclassified=tuple(notes), repaired=repaired
    )


def _note_line(note: str) -> int:
    found = re.search(r":(\d+): ", note)
    return int(found.group(1)) if found else 0


def write_runbooks(result: ImportResult, out_dir: Path, *, overwrite: bool = False) -> list[Path]:
    """Write each runbook to ``out_dir`` (created if missing) and return the paths. Unless
    ``overwrite``, raises ``Conflict`` naming the first file that exists, before writing any."""
    targets = [(out_dir / name, body) for name, body in result.files()]
    if not overwrite:
        for path, _ in targets:
            if path.exists():
                raise Conflict(
                    f"{path}: already exists (import again with overwrite to replace it)"
                )
    out_dir.mkdir(parents=True, exist_ok=True)
    for path, body in targets:
        path.write_text(body, encoding="utf-8")
    return [path for path, _ in targets]


def summary(results: Sequence[ImportResult]) -> str:
    """A plain-text table of what each import made, one row per source, with a total row."""
    header = ("source", "runbooks", "shell", "sql", "http", "manual", "params", "unclassified")
    rows = [
        (
            r.source,
            len(r.runbooks),
            r.count("shell"),
            r.count("sql"),
            r.count("http"),
            r.count("manual"),
            sum(len(b.parameters) for b in r.runbooks),
            len(r.unclassified),
        )
        for r in results
    ]
    totals = ("total", *(sum(int(row[i]) for row in rows) for i in range(1, len(header))))
    table = [header, *rows, totals]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header))]
    lines = [
        "  ".join(
            str(v).ljust(w) if i == 0 else str(v).rjust(w)
            for i, (v, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in table
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    lines.append("Imported runbooks are first drafts: review every step before use.")
    return "\n".join(lines)


def _source_stem(source: str) -> str:
    name = Path(source.replace("\\", "/")).name or "runbook"
    stem = slug(re.sub(r"\.(md|markdown|txt)$", "", name, flags=re.I))
    stem = re.sub(r"-?(operations-)?runbooks?$", "", stem)
    return stem or "runbook"


def _doc_title(blocks: list[Block]) -> str:
    ones = [b for b in blocks if isinstance(b, Heading) and b.level == 1]
    return ones[0].text if len(ones) == 1 else ""


def _split(blocks: list[Block], *, doc_title: str) -> list[tuple[str, list[Block]]]:
    """Playbook sections first (each with everything below it), then the leftovers grouped by
    the shallowest heading level under the document title."""
    headings = [(i, b) for i, b in enumerate(blocks) if isinstance(b, Heading)]
    claimed = [False] * len(blocks)
    parts: list[tuple[int, str, list[Block]]] = []
    for i, h in headings:
        if claimed[i] or not _PLAYBOOK.match(h.text):
            continue
        end = next((j for j, o in headings if j > i and o.level <= h.level), len(blocks))
        parts.append((i, h.text, blocks[i:end]))
        for k in range(i, end):
            claimed[k] = True
    single_title = doc_title and sum(1 for _, h in headings if h.level == 1) == 1
    rest = [(i, b) for i, b in enumerate(blocks) if not claimed[i]]
    levels = [
        b.level for _, b in rest if isinstance(b, Heading) and not (single_title and b.level == 1)
    ]
    group_level = min(levels) if levels else 7
    groups: list[tuple[int, str, list[Block]]] = []
    current: list[Block] = []
    title, start = doc_title, 0
    for i, b in rest:
        if (
            isinstance(b, Heading)
            and b.level <= group_level
            and not (single_title and b.level == 1)
        ):
            if current:
                groups.append((start, title, current))
            current, title, start = [b], b.text or doc_title, i
        elif isinstance(b, Heading) and b.level == 1 and single_title:
            continue
        else:
            current.append(b)
    if current:
        groups.append((start, title, current))
    return [(t, p) for _, t, p in sorted(parts + groups, key=lambda x: x[0])]


@dataclass
class _Renderer:
    source: str
    stem: str
    notes: list[str]
    params: Params = field(default_factory=Params)
    out: list[str] = field(default_factory=list)
    steps: list[ImportedStep] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    context: str = ""
    hint: str = ""

    def render(self, title: str, part: list[Block], *, taken: set[str]) -> ImportedRunbook | None:
        root = part[0].level if part and isinstance(part[0], Heading) else 1
        depth = 1
        self.context = self.hint = title
        self.out.append(f"# {title}".rstrip())
        for block in part[1:] if part and isinstance(part[0], Heading) else part:
            if isinstance(block, Heading):
                depth = min(6, max(2, block.level - root + 1))
                self.out += ["", f"{'#' * depth} {block.text}".rstrip(), ""]
                self.context = self.hint = block.text
            elif isinstance(block, Fence):
                self._fence(block)
            else:
                self._line(block, depth)
        if not self.steps:
            return None
        filename = _unique(slug(f"{self.stem} {title}", limit=80) or self.stem, taken) + ".md"
        body = "\n".join(self.out).strip("\n")
        body = re.sub(r"\n{3,}", "\n\n", body)
        self._declare_existing(body)
        return ImportedRunbook(
            filename=filename,
            title=title or self.stem,
            text=self._front_matter(title or self.stem) + body + "\n",
            steps=tuple(self.steps),
            parameters=tuple(self.params.found),
        )

    def _front_matter(self, title: str) -> str:
        parameters: dict[str, dict[str, str | bool]] = {}
        for name, original in self.params.found.items():
            spec: dict[str, str | bool] = {
                "type": "string",
                "description": f"Was {original!r} in the imported text; set it before running.",
            }
            if self.params.defaults.get(name):
                spec["default"] = self.params.defaults[name]
            if _SECRET_NAME.search(name):
                spec["secret"] = True
            parameters[name] = spec
        meta: dict[str, object] = {"title": title, "tags": ["imported", "draft", self.stem]}
        if parameters:
            meta["parameters"] = parameters
        dumped = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, width=1000)
        note = REVIEW_NOTE.format(source=self.source.replace("--", "-"))
        return f"---\n{dumped}---\n\n<!-- {note} -->\n\n"

    def _line(self, block: Line, depth: int) -> None:
        text = block.text
        label = _LABEL.match(text)
        if label:
            name = label.group(1).strip().rstrip(":")
            self.out += ["", f"{'#' * min(6, depth + 1)} {name}", ""]
            self.context = self.hint = name
            return
        item = _LIST_ITEM.match(text)
        if item:
            self._list_item(item.group(3), block)
            return
        if text.strip():
            self.hint = text.strip() if text.rstrip().endswith(":") else ""
        self.out.append(text)

    def _list_item(self, content: str, block: Line) -> None:
        checkbox = _CHECKBOX.match(content)
        body = content[checkbox.end() :] if checkbox else content
        if not checkbox and body.rstrip().endswith(":"):
            self.hint = body
            self.out.append(body)
            return
        # "GitHub Actions" in a heading names a CI system, not a list of actions to take.
        context = re.sub(r"github actions", "", self.context, flags=re.I)
        manual = checkbox or (
            not _TEXT_CONTEXT.search(context)
            and (_CHECK_CONTEXT.search(context) or CONSOLE.search(body))
        )
        if manual and body.strip():
            self._manual(body.strip())
            return
        self.hint = ""
        self.out.append(block.text.strip())

    def _manual(self, text: str) -> None:
        text = manual_placeholders(re.sub(r"\s+", " ", text), self.params)
        self.out.append(f"- [ ] {text}")
        self.steps.append(ImportedStep(kind="manual", name="", text=text))

    def _fence(self, block: Fence) -> None:
        body = list(block.body)
        if block.lang in SHELL_LANGS:
            pieces = shell_pieces(block.lang, body)
        elif block.lang in SQL_LANGS:
            pieces = sql_pieces(body)
        elif block.lang in HTTP_LANGS and _is_request("\n".join(body)):
            pieces = [Piece("http", "\n".join(body).strip("\n"))]
        else:
            if block.lang not in DOC_LANGS:
                what = f"{block.lang!r} block" if block.lang else "unlabelled block"
                self.notes.append(f"{self.source}:{block.line}: {what} kept as documentation")
            pieces = [Piece("doc", "\n".join(body), lang=re.sub(r"[^a-z0-9_+-]", "", block.lang))]
        self.out.append("")
        for piece in pieces:
            self._piece(piece)
        self.out.append("")
        self.hint = ""

    def _piece(self, piece: Piece) -> None:
        if piece.kind == "manual":
            self._manual(piece.text)
        elif piece.kind == "text":
            self.out += ["", piece.text, ""]
        elif piece.kind == "doc":
            # A documentation fence must not carry a step's language, or the loader would run it.
            lang = "text" if piece.lang in SHELL_LANGS | SQL_LANGS | HTTP_LANGS else piece.lang
            self.out += ["", *_fenced(lang, piece.text)]
        else:
            if piece.kind == "sql":
                text = sql_placeholders(piece.text, self.params)
            else:
                text = shell_placeholders(piece.text, self.params)
            name = self._name(piece)
            info = f"{'sh' if piece.kind == 'shell' else piece.kind} {{name={name}}}"
            self.out += ["", *_fenced(info, text)]
            self.steps.append(ImportedStep(kind=piece.kind, name=name, text=text))
        self.hint = ""

    def _declare_existing(self, text: str) -> None:
        """Declare ``{{ name }}`` already written in the source, wherever the loader may read it."""
        for m in PLACEHOLDER.finditer(text):
            self.params.use(m.group(1), m.group(0))

    def _name(self, piece: Piece) -> str:
        base = slug(
            clean_label(piece.hint or self.hint or command_hint(piece.text.split("\n"))), limit=40
        )
        if not base or re.fullmatch(r"step-\d+", base):
            base = f"{piece.kind}-{len(self.steps) + 1}"
        if not base[0].isalpha():
            base = f"{piece.kind}-{base}"
        return _unique(base, self.names)


_REQUEST_LINE = re.compile(
    r"(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS)\s+(https?://|\{\{)\S*(\s+HTTP/[0-9.]+)?"
)
_HEADER = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+:.*")


def _is_request(text: str) -> bool:
    """The request form the loader accepts: METHOD URL, then Name: value headers up to a blank
    line. Anything else in an http fence stays documentation."""
    lines = text.strip("\n").split("\n")
    if not lines or not _REQUEST_LINE.fullmatch(lines[0].strip()):
        return False
    for line in lines[1:]:
        if not line.strip():
            break
        if not _HEADER.fullmatch(line.strip()):
            return False
    return True


def _unique(base: str, taken: set[str]) -> str:
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    taken.add(name)
    return name


def _fenced(info: str, text: str) -> list[str]:
    longest = max((len(m) for m in re.findall(r"`{3,}", text)), default=2)
    marker = "`" * max(3, longest + 1)
    return [f"{marker}{info}", *text.split("\n"), marker, ""]
