"""Project settings and the environment a command reads: `[tool.calgen]` in
./pyproject.toml, the base URL, and the build's moment (SOURCE_DATE_EPOCH or the clock)."""

from __future__ import annotations

import datetime as dt
import os
import re

# SOURCE_DATE_EPOCH: from 1970 up to the end of the year 9999, as datetime allows
MAX_EPOCH = 253_402_300_799


_BASE_URL = re.compile(r"https?://[A-Za-z0-9.-]+(?::([0-9]{1,5}))?(/[^\s\"'<>\\]*)?", re.ASCII)


def valid_base_url(url: str) -> bool:
    """http(s), a host, a port from 1 to 65535 if any, and nothing that could end a feed
    line or an HTML attribute."""
    found = _BASE_URL.fullmatch(url)
    return found is not None and (found[1] is None or 1 <= int(found[1]) <= 65535)


def project_setting(key: str) -> str:
    """A default from `[tool.calgen]` in ./pyproject.toml, or ""."""
    import tomllib

    try:
        with open("pyproject.toml", "rb") as fh:
            value = tomllib.load(fh).get("tool", {}).get("calgen", {}).get(key, "")
    except (OSError, tomllib.TOMLDecodeError):
        return ""
    return str(value)


def base_url(given: str | None) -> str:
    """--base-url, else `[tool.calgen] base-url`, else "" (links stay relative).
    ValueError when it is not an http(s) URL."""
    url = given if given is not None else project_setting("base-url")
    if url and not valid_base_url(url):
        raise ValueError(f"base URL {url!r} is not an http(s) URL")
    return url


def build_moment() -> dt.datetime:
    """The moment written as LAST-MODIFIED into events that changed in this build:
    SOURCE_DATE_EPOCH when set (reproducible builds), else the clock. Read only here.
    ValueError when SOURCE_DATE_EPOCH is set but not a usable moment."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH", "")
    if not epoch:
        return dt.datetime.now(dt.UTC).replace(microsecond=0)
    if not (epoch.isascii() and epoch.isdigit() and int(epoch) <= MAX_EPOCH):
        raise ValueError(
            f"SOURCE_DATE_EPOCH={epoch[:40]!r} is not a number of seconds "
            f"from 0 to {MAX_EPOCH} (the end of the year 9999)"
        )
    return dt.datetime.fromtimestamp(int(epoch), tz=dt.UTC)
