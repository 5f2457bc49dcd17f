"""YAML text -> plain data, plus where every key and value sits in the file.

PyYAML's constructors drop node marks and keep the last of two equal keys silently, so the tree is
built here from composed nodes: that keeps line:column for each path, turns duplicate keys into
problems, and interpolates ``${VAR}`` in string scalars only (never in keys or numbers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from opsbook.config.interpolate import interpolate

Loc = tuple[str | int, ...]

_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"


@dataclass(frozen=True)
class Where:
    """1-based position of a value and, for a mapping entry, of its key (0 when there is none)."""

    line: int
    column: int
    key_line: int = 0
    key_column: int = 0

    @property
    def key_or_value(self) -> tuple[int, int]:
        return (self.key_line, self.key_column) if self.key_line else (self.line, self.column)


@dataclass
class Document:
    """The data, a position for every path in it, and the problems found while reading."""

    data: object = None
    where: dict[Loc, Where] = field(default_factory=dict)
    problems: list[tuple[Loc, int, int, str]] = field(default_factory=list)
    # Values taken from the environment: often secrets, so messages must mask them.
    env_values: list[str] = field(default_factory=list)
    # Paths already reported here; their schema errors would only repeat the problem.
    failed: set[Loc] = field(default_factory=set)


def format_loc(loc: Loc) -> str:
    """``("components", "api", "checks", 1)`` -> ``"components.api.checks[1]"``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _yaml_message(exc: yaml.MarkedYAMLError) -> str:
    # PyYAML splits some sentences in two ("expected a single document", "but found another").
    if exc.context and (not exc.problem or exc.problem.startswith("but ")):
        return f"{exc.context}, {exc.problem}" if exc.problem else exc.context
    return exc.problem or "syntax error"


def _pos(node: Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def read_document(text: str, *, environ: Mapping[str, str]) -> Document:
    """Parse ``text``. A syntax error, an empty file or a non-mapping top level leaves ``data``
    None with one problem; other problems leave the rest of the data usable."""
    doc = Document()
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        # The reader checks every character up front, before any node has a position.
        pos = exc.position
        line, column = text.count("\n", 0, pos) + 1, pos - text.rfind("\n", 0, pos)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        reason = f"character U+{code:04X} is not allowed in YAML"
        doc.problems.append(((), line, column, f"invalid YAML: {reason}"))
        return doc
    try:
        root = loader.get_single_node()
        if root is None:
            doc.problems.append(((), 1, 1, "the file is empty (it needs at least 'service:')"))
        elif not isinstance(root, MappingNode):
            kind = "a list" if isinstance(root, SequenceNode) else "a single value"
            line, column = _pos(root)
            doc.problems.append(((), line, column, f"expected a mapping of keys, got {kind}"))
        else:
            doc.where[()] = Where(*_pos(root))
            doc.data = _Builder(loader, doc, environ).build(root, ())
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        doc.problems.append(((), line, column, f"invalid YAML: {_yaml_message(exc)}"))
        doc.data = None
    except yaml.YAMLError as exc:
        doc.problems.append(((), 0, 0, f"invalid YAML: {exc}"))
        doc.data = None
    except RecursionError:
        # PyYAML composes nodes (and _Builder walks them) recursively; no config nests this deep.
        doc.problems.append(((), 1, 1, "invalid YAML: nested too deeply"))
        doc.data = None
    finally:
        loader.dispose()
    return doc


class _Builder:
    def __init__(self, loader: yaml.SafeLoader, doc: Document, environ: Mapping[str, str]) -> None:
        self.loader = loader
        self.doc = doc
        self.environ = environ
        self.active: set[int] = set()
        self.dup_checked: set[int] = set()

    def problem(self, loc: Loc, node: Node, message: str, *, failed: bool = True) -> None:
        """Record a problem; ``failed`` means the value at ``loc`` is unusable, not just odd."""
        self.doc.problems.append((loc, *_pos(node), message))
        if failed:
            self.doc.failed.add(loc)

    def build(self, node: Node, loc: Loc) -> object:
        if id(node) in self.active:
            self.problem(loc, node, "an alias refers to a value that contains it")
            return None
        self.active.add(id(node))
        try:
            if isinstance(node, MappingNode):
                return self.mapping(node, loc)
            if isinstance(node, SequenceNode):
                return self.sequence(node, loc)
            return self.scalar(node, loc)
        finally:
            self.active.discard(id(node))

    def mapping(self, node: MappingNode, loc: Loc) -> dict[str, object]:
        if node.tag != _MAP_TAG:
            self.problem(loc, node, f"unsupported YAML tag {node.tag!r}", failed=False)
        if id(node) not in self.dup_checked:
            self.dup_checked.add(id(node))
            self.check_duplicates(node, loc)
        # Merged entries (<<: *base) come first and the mapping's own keys after, so the
        # last-wins dict below gives own keys precedence, as YAML's merge key spec asks.
        self.loader.flatten_mapping(node)
        out: dict[str, object] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE_TAG:
                self.problem(loc, key_node, "a key must be plain text", failed=False)
                continue
            child = (*loc, key_node.value)
            self.doc.where[child] = Where(*_pos(value_node), *_pos(key_node))
            out[key_node.value] = self.build(value_node, child)
        return out

    def check_duplicates(self, node: MappingNode, loc: Loc) -> None:
        first: dict[str, int] = {}
        kept = []
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag != _MERGE_TAG:
                name = key_node.value
                if name in first:
                    self.problem(
                        (*loc, name),
                        key_node,
                        f"duplicate key {name!r} (first defined at line {first[name]})",
                        failed=False,
                    )
                    continue
                first[name] = key_node.start_mark.line + 1
            kept.append((key_node, value_node))
        # The first definition is kept so later errors point at the line the user sees first.
        node.value = kept

    def sequence(self, node: SequenceNode, loc: Loc) -> list[object]:
        if node.tag != _SEQ_TAG:
            self.problem(loc, node, f"unsupported YAML tag {node.tag!r}", failed=False)
        out: list[object] = []
        for i, item in enumerate(node.value):
            self.doc.where[(*loc, i)] = Where(*_pos(item))
            out.append(self.build(item, (*loc, i)))
        return out

    def scalar(self, node: Node, loc: Loc) -> object:
        if node.tag == _STR_TAG:
            try:
                value, used = interpolate(str(node.value), self.environ)
            except ValueError as exc:
                self.problem(loc, node, str(exc))
                return node.value
            self.doc.env_values.extend(used)
            return value
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.MarkedYAMLError as exc:
            self.problem(loc, node, f"invalid YAML: {exc.problem}")
            return None
