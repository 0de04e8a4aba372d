"""Load YAML into plain Python data plus the source position of every value.

No domain knowledge lives here: the loader only knows YAML. It uses PyYAML's safe
composer (never arbitrary object construction), refuses duplicate keys, and counts
nodes so that an alias bomb is refused instead of expanded.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from calgen.errors import Diagnostics, Pos

PathKey = tuple[str | int, ...]

MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 200_000
MAX_DEPTH = 64


def format_path(path: PathKey) -> str:
    """`("milestones", 4, "at")` -> `milestones[4].at`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass
class Document:
    """A loaded YAML file: its data and where each value (and each key) stands."""

    file: str
    data: Any
    values: dict[PathKey, Pos] = field(default_factory=dict)
    keys: dict[PathKey, Pos] = field(default_factory=dict)

    def pos(self, path: PathKey) -> Pos:
        """Position of the value at `path`, or of its nearest known parent."""
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), Pos(self.file, 1, 1))

    def key_pos(self, path: PathKey) -> Pos:
        return self.keys.get(path) or self.pos(path)


class _Builder:
    def __init__(self, doc: Document, diags: Diagnostics) -> None:
        self.doc = doc
        self.diags = diags
        self.nodes = 0
        self.constructor = yaml.SafeLoader("")

    def mark(self, node: yaml.Node) -> Pos:
        return Pos(self.doc.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def build(self, node: yaml.Node, path: PathKey, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _TooBig(f"more than {MAX_NODES} YAML nodes (an alias bomb?)", self.mark(node))
        if depth > MAX_DEPTH:
            raise _TooBig(f"nested deeper than {MAX_DEPTH} levels", self.mark(node))
        self.doc.values[path] = self.mark(node)
        if isinstance(node, yaml.MappingNode):
            self.constructor.flatten_mapping(node)  # resolves `<<` merge keys
            out: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                key = self.scalar(key_node) if isinstance(key_node, yaml.ScalarNode) else None
                if not isinstance(key, str | int) or isinstance(key, bool):
                    self.diags.error(self.mark(key_node), "keys must be plain words")
                    continue
                key = str(key)
                if key in out:
                    first = self.doc.keys[(*path, key)]
                    self.diags.error(
                        self.mark(key_node),
                        f"duplicate key '{key}' (first defined at line {first.line})",
                        format_path((*path, key)),
                    )
                    continue
                self.doc.keys[(*path, key)] = self.mark(key_node)
                out[key] = self.build(value_node, (*path, key), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self.scalar(node)

    def scalar(self, node: yaml.Node) -> Any:
        try:
            return self.constructor.construct_object(node)
        except (yaml.YAMLError, ValueError, OverflowError):
            # e.g. `2022-02-30`, which the YAML timestamp rule matches but no calendar has:
            # keep the text, so the check that knows what the value means reports it
            return node.value


class _TooBig(Exception):
    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(message)
        self.pos = pos


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing nesting deeper than MAX_DEPTH while it composes
    (its composer recurses once per level: `[[[[…` would otherwise exhaust the stack)."""

    depth = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _TooBig(
                    f"nested deeper than {MAX_DEPTH} levels",
                    Pos(mark.name, mark.line + 1, mark.column + 1),
                )
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def load_text(text: str, file: str, diags: Diagnostics) -> Document:
    """Parse YAML text. Problems go to `diags`; the returned data may then be partial."""
    doc = Document(file, None)
    try:
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
        finally:
            loader.dispose()
    except _TooBig as exc:
        diags.error(Pos(file, exc.pos.line, exc.pos.col), f"refused: {exc}")
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = Pos(file, mark.line + 1, mark.column + 1) if mark else Pos(file, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        context = exc.context_mark
        if exc.context and context and mark and context.line != mark.line:
            problem += f" ({exc.context} started at line {context.line + 1})"
        diags.error(pos, f"invalid YAML: {problem}")
        return doc
    except yaml.YAMLError as exc:
        diags.error(Pos(file, 1, 1), f"invalid YAML: {exc}")
        return doc
    if root is None:
        diags.error(Pos(file, 1, 1), "the file is empty")
        return doc
    builder = _Builder(doc, diags)
    try:
        doc.data = builder.build(root, (), 0)
    except _TooBig as exc:
        diags.error(exc.pos, f"refused: {exc}")
        doc.data = None
    return doc


def load_file(path: Path, diags: Diagnostics, display: str | None = None) -> Document:
    """Read and parse a YAML file; unreadable or oversized files become diagnostics."""
    name = display or str(path)
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            diags.error(Pos(name), f"refused: file is {size} bytes, more than {MAX_BYTES}")
            return Document(name, None)
        raw = path.read_bytes()
    except OSError as exc:
        diags.error(Pos(name), f"cannot read file: {exc.strerror or exc}")
        return Document(name, None)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        diags.error(Pos(name, line, 1), "file is not valid UTF-8")
        return Document(name, None)
    return load_text(text, name, diags)
