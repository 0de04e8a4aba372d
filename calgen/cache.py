"""A per-user cache folder for things that are slow to make and safe to keep.

Used for compiled Jinja templates and for the Dutch holidays of a year as the `holidays`
package gives them (keyed by that package's files, so an upgrade is never masked).
$XDG_CACHE_HOME/calgen or ~/.cache/calgen; without a writable place, nothing is cached.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any


def folder(name: str) -> Path | None:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    path = Path(base) / "calgen" / name
    try:
        path.mkdir(parents=True, exist_ok=True)
        (path / ".writable").touch()
    except OSError:
        return None
    return path


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json(path: Path, data: Any) -> None:
    """Atomically; a failure only means no cache."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh, ensure_ascii=False)
        os.replace(tmp, path)
    except OSError:
        pass
