"""Diagnostics: every problem found in a runbook, with the place it was found.

Validation never stops at the first problem: each stage appends to a
:class:`Diagnostics` collector and raises :class:`InvalidRunbookError` once, at the end.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum


class Severity(Enum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, kw_only=True, order=True)
class Pos:
    """A place in a source file; line and column are 1-based, as editors show them."""

    file: str
    line: int = 0
    col: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.col}"
        return self.file


@dataclass(frozen=True, kw_only=True)
class Diagnostic:
    pos: Pos
    message: str
    severity: Severity = Severity.ERROR
    path: str = ""

    def __str__(self) -> str:
        where = f" ({_visible(self.path)})" if self.path else ""
        kind = "warning: " if self.severity is Severity.WARNING else ""
        return f"{_visible(str(self.pos))}: {kind}{_visible(self.message)}{where}"


def _visible(text: str) -> str:
    """One line, whatever the runbook's text holds: control characters as escapes."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(kw_only=True)
class Diagnostics:
    """Collects errors and warnings for one run."""

    items: list[Diagnostic] = field(default_factory=list)

    def error(self, pos: Pos, message: str, path: str = "") -> None:
        self.items.append(Diagnostic(pos=pos, message=message, severity=Severity.ERROR, path=path))

    def warning(self, pos: Pos, message: str, path: str = "") -> None:
        self.items.append(
            Diagnostic(pos=pos, message=message, severity=Severity.WARNING, path=path)
        )

    def extend(self, other: Diagnostics) -> None:
        self.items.extend(other.items)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.items if d.severity is Severity.WARNING]

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(sorted(self.items, key=lambda d: (d.pos, d.message)))

    def raise_if_errors(self) -> None:
        if self.errors:
            raise InvalidRunbookError(self)


class CalgenError(Exception):
    """Base of every error calgen reports to a user (never shown as a traceback)."""


class InvalidRunbookError(CalgenError):
    def __init__(self, diagnostics: Diagnostics) -> None:
        self.diagnostics = diagnostics
        super().__init__("\n".join(str(d) for d in diagnostics))
