"""Load YAML into plain Python data plus the source position of every value.

No domain knowledge lives here: the loader only knows YAML. It reads the events of
PyYAML's safe parser (libyaml's when available) and builds the data itself: only the
standard YAML types (never arbitrary objects), no duplicate keys, and limits on size,
nodes and depth, so that an alias bomb or `[[[[…` is refused instead of expanded.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from calgen.core.errors import CalgenError, Diagnostics, Pos

PathKey = tuple[str | int, ...]

MAX_BYTES = 5 * 1024 * 1024
MAX_NODES = 500_000  # some 40,000 milestones
MAX_DEPTH = 64
# Aliases may repeat what a file says, but the text of the data it holds stays within
# MAX_EXPANSION times the file's own size (plus EXPANSION_SLACK for a small file), so no
# file makes a build write far more than it reads.
MAX_EXPANSION = 4
EXPANSION_SLACK = 64 * 1024


def format_path(path: PathKey) -> str:
    """`("milestones", 4, "at")` -> `milestones[4].at`."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out


@dataclass(kw_only=True)
class Document:
    """A loaded YAML file: its data and where each value (and each key) stands."""

    file: str
    data: Any
    # (line, column), 1-based; plain tuples, as there is one for every node and key
    values: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    keys: dict[PathKey, tuple[int, int]] = field(default_factory=dict)

    def pos(self, path: PathKey) -> Pos:
        """Position of the value at `path`, or of its nearest known parent."""
        while path:
            if path in self.values:
                return self._at(self.values[path])
            path = path[:-1]
        return self._at(self.values.get((), (1, 1)))

    def key_pos(self, path: PathKey) -> Pos:
        found = self.keys.get(path)
        return self._at(found) if found else self.pos(path)

    def _at(self, where: tuple[int, int]) -> Pos:
        return Pos(file=self.file, line=where[0], col=where[1])


# Characters no text may hold: C0 and C1 controls but tab and line feed, DEL, and the
# Unicode line and paragraph separators (a reader splitting lines would see a new line).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")

_STANDARD_TAGS = frozenset(
    f"tag:yaml.org,2002:{name}"
    for name in ("str", "int", "float", "bool", "null", "timestamp", "map", "seq", "merge")
)
# libyaml's parser when PyYAML has it (some twenty times faster), else PyYAML's own
_EventLoader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _TooBigError(Exception):
    def __init__(self, message: str, pos: Pos) -> None:
        super().__init__(message)
        self.pos = pos


@dataclass(kw_only=True)
class _Frame:
    """A mapping or sequence being built."""

    value: Any  # dict or list
    path: PathKey
    anchor: str | None
    start: int  # the node count when it began (its size, for aliases)
    start_chars: int  # the text count when it began
    key: str | None = None  # a mapping's pending key
    key_pos: tuple[int, int] | None = None
    skip_key: bool = False  # the pending key was refused: drop its value
    merges: list[tuple[Any, PathKey]] = field(default_factory=list)


class _Builder:
    """Plain data and positions straight from parser events, without recursion.

    PyYAML's composer recurses once per nesting level (libyaml's crashes on very deep
    input); this one keeps an explicit stack, refuses depth beyond MAX_DEPTH and more
    than MAX_NODES nodes (aliases count at their full size: an alias bomb is refused
    before it is expanded) and reports duplicate keys.
    """

    def __init__(
        self, doc: Document, diags: Diagnostics, loader: yaml.SafeLoader, max_chars: int
    ) -> None:
        self.doc = doc
        self.diags = diags
        self.loader = loader
        self.constructor = yaml.SafeLoader("")
        self.nodes = 0
        self.chars = 0  # the text of every scalar, aliases at their full size
        self.max_chars = max_chars
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, PathKey, int, int]] = {}  # value, path, nodes, chars
        self.root: Any = None
        self.skipping = 0  # inside a refused (non-scalar) key
        self.plain_tags: dict[str, str] = {}

    def pos(self, mark: Any) -> Pos:
        return Pos(file=self.doc.file, line=mark.line + 1, col=mark.column + 1)

    def count(self, n: int, mark: Any, chars: int = 0) -> None:
        self.nodes += n
        self.chars += chars
        if self.nodes > MAX_NODES:
            raise _TooBigError(f"more than {MAX_NODES} YAML nodes (an alias bomb?)", self.pos(mark))
        if self.chars > self.max_chars:
            raise _TooBigError(
                f"aliases expand the file to more than {self.max_chars} characters of text "
                f"({MAX_EXPANSION} times its size)",
                self.pos(mark),
            )

    def run(self) -> Any:
        get = self.loader.get_event
        documents = 0
        while True:
            event = get()  # type: ignore[no-untyped-call]
            kind = type(event)
            if kind is yaml.ScalarEvent:
                self.count(1, event.start_mark, len(event.value))
                self.scalar(event)
            elif kind is yaml.MappingStartEvent or kind is yaml.SequenceStartEvent:
                self.count(1, event.start_mark)
                self.start(event, {} if kind is yaml.MappingStartEvent else [])
            elif kind is yaml.MappingEndEvent or kind is yaml.SequenceEndEvent:
                self.end()
            elif kind is yaml.AliasEvent:
                self.alias(event)
            elif kind is yaml.DocumentStartEvent:
                documents += 1
                if documents > 1:
                    raise _TooBigError(
                        "more than one YAML document in the file", self.pos(event.start_mark)
                    )
            elif kind is yaml.StreamEndEvent:
                return self.root

    # --- placing values -------------------------------------------------------------

    def child_path(self, mark: Any) -> PathKey | None:
        """Where the next value goes; None when it is a mapping key."""
        if not self.stack:
            return ()
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            return (*frame.path, len(frame.value))
        if frame.key is None and not frame.skip_key:
            return None
        return (*frame.path, frame.key or "")

    def place(self, value: Any, path: PathKey, mark: Any) -> None:
        if not self.stack:
            self.root = value
            self.doc.values[()] = (mark.line + 1, mark.column + 1)
            return
        frame = self.stack[-1]
        if isinstance(frame.value, list):
            frame.value.append(value)
            self.doc.values[path] = (mark.line + 1, mark.column + 1)
            return
        key, frame.key = frame.key, None
        if frame.skip_key:
            frame.skip_key = False
            return
        assert key is not None
        if key == "<<":
            frame.merges.append((value, path))
            return
        if key in frame.value:
            first_line = self.doc.keys[(*frame.path, key)][0]
            self.diags.error(
                self.doc._at(frame.key_pos) if frame.key_pos else self.pos(mark),
                f"duplicate key '{key}' (first defined at line {first_line})",
                format_path((*frame.path, key)),
            )
            return
        frame.value[key] = value
        here = (mark.line + 1, mark.column + 1)
        self.doc.keys[(*frame.path, key)] = frame.key_pos or here
        self.doc.values[path] = here

    # --- events ---------------------------------------------------------------------

    def scalar(self, event: yaml.ScalarEvent) -> None:
        if self.skipping:
            return
        value = self.construct(event)
        if isinstance(value, str) and (control := _CONTROL.search(value)):
            self.diags.error(
                self.pos(event.start_mark),
                f"control character U+{ord(control[0]):04X} in text: not allowed (it could "
                "split a feed line or a header); write a line break as a new line",
            )
        path = self.child_path(event.start_mark)
        if path is None:  # a mapping key
            frame = self.stack[-1]
            if not isinstance(value, str | int) or isinstance(value, bool):
                self.diags.error(self.pos(event.start_mark), "keys must be plain words")
                frame.skip_key = True
                return
            mark: Any = event.start_mark  # parser events always carry their marks
            frame.key, frame.key_pos = str(value), (mark.line + 1, mark.column + 1)
            return
        self.place(value, path, event.start_mark)
        if event.anchor:
            self.anchors[event.anchor] = (value, path, 1, len(event.value))

    def construct(self, event: yaml.ScalarEvent) -> Any:
        tag = event.tag
        if tag in (None, "!"):
            if event.style:  # quoted or block: a string
                return event.value
            tag = self.plain_tags.get(event.value)
            if tag is None:  # keys and values repeat: resolve each text once
                tag = self.loader.resolve(yaml.ScalarNode, event.value, (True, False))  # type: ignore[no-untyped-call]
                self.plain_tags[event.value] = tag
        if tag not in _STANDARD_TAGS:
            self.diags.error(self.pos(event.start_mark), f"YAML tag {event.tag!r} is not allowed")
            return event.value
        if tag == "tag:yaml.org,2002:str":
            return event.value
        # the constructor needs no marks (libyaml's are of another class)
        node = yaml.ScalarNode(tag, event.value, None, None, event.style)
        try:
            return self.constructor.construct_object(node)
        except Exception:  # blind on purpose: PyYAML's constructors fail in many ways
            # (`!!bool x` is a KeyError, `!!int ""` an IndexError, `2022-02-30` a
            # ValueError): keep the text, so the check that knows what the value means
            # reports it
            return event.value

    def start(self, event: Any, value: Any) -> None:
        if self.skipping:
            self.skipping += 1
            return
        if event.tag not in (None, "!") and event.tag not in _STANDARD_TAGS:
            self.diags.error(self.pos(event.start_mark), f"YAML tag {event.tag!r} is not allowed")
        path = self.child_path(event.start_mark)
        if path is None:
            self.diags.error(self.pos(event.start_mark), "keys must be plain words")
            self.stack[-1].skip_key = True
            self.skipping = 1
            return
        if len(self.stack) >= MAX_DEPTH:
            raise _TooBigError(f"nested deeper than {MAX_DEPTH} levels", self.pos(event.start_mark))
        self.place(value, path, event.start_mark)
        self.stack.append(
            _Frame(
                value=value,
                path=path,
                anchor=event.anchor,
                start=self.nodes,
                start_chars=self.chars,
            )
        )

    def end(self) -> None:
        if self.skipping:
            self.skipping -= 1
            return
        frame = self.stack.pop()
        if isinstance(frame.value, dict):
            for merged, merged_path in frame.merges:
                self.merge(frame, merged, merged_path)
        if frame.anchor:
            self.anchors[frame.anchor] = (
                frame.value,
                frame.path,
                self.nodes - frame.start + 1,
                self.chars - frame.start_chars,
            )

    def merge(self, frame: _Frame, merged: Any, merged_path: PathKey) -> None:
        """`<<: *defaults`: keys of the merged mapping(s) that the mapping lacks."""
        sources = merged if isinstance(merged, list) else [merged]
        for i, source in enumerate(sources):
            source_path = (*merged_path, i) if isinstance(merged, list) else merged_path
            if not isinstance(source, dict):
                self.diags.error(self.doc.pos(source_path), "`<<` merges only mappings")
                continue
            for key, value in source.items():
                if key not in frame.value:
                    # its position: that of the mapping (Document.pos walks up)
                    frame.value[key] = value

    def alias(self, event: yaml.AliasEvent) -> None:
        if self.skipping:
            return
        if event.anchor not in self.anchors:
            self.diags.error(self.pos(event.start_mark), f"unknown alias '*{event.anchor}'")
            return
        value, _source, size, chars = self.anchors[event.anchor]
        self.count(size, event.start_mark, chars)
        path = self.child_path(event.start_mark)
        if path is None:
            self.diags.error(self.pos(event.start_mark), "keys must be plain words")
            self.stack[-1].skip_key = True
            return
        # what is inside takes the alias's position (Document.pos walks up the path)
        self.place(value, path, event.start_mark)


def load_text(text: str, file: str, diags: Diagnostics) -> Document:
    """Parse YAML text. Problems go to `diags`; the returned data may then be partial.

    libyaml 0.2.6 (PyYAML 6.0.4's wheels) scans a flow collection far ahead and stops
    at 1,000 levels before the first event reaches the builder's own depth guard. Such
    a file is parsed again by PyYAML's own parser, which looks ahead at most a line or
    1,024 characters, so the message and its position do not depend on the libyaml in
    use: always the builder's "nested deeper than MAX_DEPTH levels"."""
    attempt = Diagnostics()
    doc = _parse(text, file, attempt, _EventLoader)
    if _EventLoader is not yaml.SafeLoader and any(
        _LIBYAML_DEPTH in d.message for d in attempt.errors
    ):
        attempt = Diagnostics()
        doc = _parse(text, file, attempt, yaml.SafeLoader)
    diags.extend(attempt)
    return doc


# libyaml's own message when it refuses deep nesting (0.2.6 and later)
_LIBYAML_DEPTH = "exceeded maximum nesting depth"


def _parse(
    text: str, file: str, diags: Diagnostics, loader_class: type[yaml.SafeLoader]
) -> Document:
    doc = Document(file=file, data=None)
    loader = loader_class(text)
    try:
        limit = MAX_EXPANSION * len(text) + EXPANSION_SLACK
        doc.data = _Builder(doc, diags, loader, limit).run()
    except _TooBigError as exc:
        diags.error(exc.pos, f"refused: {exc}")
        doc.data = None
        return doc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = (
            Pos(file=file, line=mark.line + 1, col=mark.column + 1)
            if mark
            else Pos(file=file, line=1, col=1)
        )
        problem = exc.problem or exc.context or "invalid YAML"
        context = exc.context_mark
        if exc.context and context and mark and context.line != mark.line:
            problem += f" ({exc.context} started at line {context.line + 1})"
        diags.error(pos, f"invalid YAML: {problem}")
        doc.data = None
        return doc
    except yaml.reader.ReaderError as exc:  # a character YAML does not allow
        line = text.count("\n", 0, exc.position) + 1
        col = exc.position - text.rfind("\n", 0, exc.position)
        reason = f"{exc.reason} (character #x{exc.character:04x})"
        diags.error(Pos(file=file, line=line, col=col), f"invalid YAML: {reason}")
        doc.data = None
        return doc
    except yaml.YAMLError as exc:
        diags.error(Pos(file=file, line=1, col=1), f"invalid YAML: {exc}")
        doc.data = None
        return doc
    finally:
        loader.dispose()
    if doc.data is None and () not in doc.values:
        diags.error(Pos(file=file, line=1, col=1), "the file is empty")
    return doc


class SharedPathError(CalgenError, ValueError):
    """A `uses:` entry that calgen will not read; the message completes "shared file 'x' …"."""


def shared_path_of(runbook: Path, ref: str) -> Path:
    """The file a runbook's `uses:` entry `ref` names, checked.

    Only a relative path to a regular file inside the runbook's own folder, or inside
    the working directory (the project: a draft that `calgen new-release` wrote to
    drafts/ uses ../runbooks/shared/; never when that is / or the home folder), both as
    written and with every symlink followed:
    a runbook can never make calgen read /etc, a device, a FIFO or another user's files.
    """
    pure = Path(ref)
    if not ref or "\0" in ref or pure.is_absolute() or ref.startswith("~"):
        raise SharedPathError("must be a path relative to the runbook's folder")
    folder = Path(os.path.abspath(runbook.parent))
    roots = [folder, Path(os.path.realpath(folder))]
    cwd = Path(os.getcwd())
    # The working directory counts as the project, unless it is / or the home folder:
    # run from there, "inside the working directory" would mean anything at all.
    if cwd.parent != cwd and cwd != Path.home():
        roots += [cwd, Path(os.path.realpath(cwd))]
    written = Path(os.path.normpath(folder / pure))
    try:
        real = Path(os.path.realpath(written))
        if not any(written.is_relative_to(r) for r in roots[::2]) or not any(
            real.is_relative_to(r) for r in roots[1::2]
        ):
            raise SharedPathError(
                "must stay inside the runbook's folder or the working directory"
                + (" (it is a symlink leading out)" if written != real else "")
            )
        info = os.stat(real)
    except FileNotFoundError:
        raise SharedPathError(f"not found (looked at {runbook.parent / pure})") from None
    except OSError as exc:  # a name too long for the file system, say
        raise SharedPathError(f"cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(info.st_mode):
        raise SharedPathError("is not a regular file")
    return real


def load_file(path: Path, diags: Diagnostics, display: str | None = None) -> Document:
    """Read and parse a YAML file; unreadable or oversized files become diagnostics.

    Only a regular file is read (a FIFO or a device is refused, never waited on), and
    never more than MAX_BYTES of it."""
    name = display or str(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        with os.fdopen(fd, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                diags.error(Pos(file=name, line=1, col=1), "refused: not a regular file")
                return Document(file=name, data=None)
            raw = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        diags.error(Pos(file=name, line=1, col=1), f"cannot read file: {exc.strerror or exc}")
        return Document(file=name, data=None)
    if len(raw) > MAX_BYTES:
        size = max(info.st_size, len(raw))
        diags.error(
            Pos(file=name, line=1, col=1), f"refused: file is {size} bytes, more than {MAX_BYTES}"
        )
        return Document(file=name, data=None)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        diags.error(Pos(file=name, line=line, col=1), "file is not valid UTF-8")
        return Document(file=name, data=None)
    return load_text(text, name, diags)
