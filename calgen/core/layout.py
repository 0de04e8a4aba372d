"""The site's layout: every path and name calgen writes into an out folder, the names
runbooks and roles may therefore not take, and the event UID scheme.

The one place these facts live: renderers name their outputs with these functions, the
publisher recognises its files by `OUTPUT_NAME`, the reader of a published folder finds
snapshots and feeds with them, and validation refuses ids that would collide with them.

    index.html                          the site's index
    <role>.ics, alles.ics               durable feeds, every standard
    <standard>/<role>.ics, …/alles.ics  durable feeds of one standard (`iwmo/`, `ijw/`)
    <runbook>/index.html, <role>.html   the runbook's page and its role views
    <runbook>/runbook.md                the runbook as Markdown
    <runbook>/all.ics, <role>.ics       the runbook's own feeds
    <runbook>/versies/<version>.json    what each published version scheduled
    .calgen-manifest.json               what calgen wrote (publishing owns it)
"""

from __future__ import annotations

import re

INDEX = "index.html"
MARKDOWN = "runbook.md"
MANIFEST = ".calgen-manifest.json"
SNAPSHOTS = "versies"  # a runbook's folder of version snapshots
ALL = "all"  # a runbook's feed with every role: `<runbook>/all.ics`
EVERY_ROLE = "alles"  # the durable feed with every role: `alles.ics`, `iwmo/alles.ics`

# The folders of the durable feeds of the standards calgen is made for. Reserved as
# runbook ids whatever runbooks a build names (a standard named by the runbooks at hand
# is refused too, calgen.runbook.validate, and one published earlier, calgen.site.build).
KNOWN_STANDARDS = ("iwmo", "ijw")

# Ids become folder, file and URL names, so none may be a name calgen itself writes: a
# runbook's folder sits beside index.html and the durable feeds (`<role>.ics`), so a
# runbook id never ends like a file calgen writes; all.ics, index.html, runbook.md and
# versies/ sit inside it, and a role id is also a durable feed's name, so not `alles`.
# The schema's id patterns are made from these lists.
RESERVED_RUNBOOK_IDS = KNOWN_STANDARDS
RESERVED_RUNBOOK_ENDINGS = (".ics", ".html", ".md", ".json")
RESERVED_ROLE_IDS = (
    ALL,
    INDEX.removesuffix(".html"),
    MARKDOWN.removesuffix(".md"),
    SNAPSHOTS,
    EVERY_ROLE,
)


def _not(names: tuple[str, ...]) -> str:
    return "(?!(" + "|".join(re.escape(name) for name in names) + ")$)"


_ENDINGS = "|".join(re.escape(e) for e in RESERVED_RUNBOOK_ENDINGS)
RUNBOOK_ID = rf"^{_not(RESERVED_RUNBOOK_IDS)}(?!.*({_ENDINGS})$)[a-z0-9][a-z0-9.-]{{0,63}}$"
ROLE_ID = rf"^{_not(RESERVED_ROLE_IDS)}[a-z][a-z0-9-]{{0,39}}$"

# What publishing (calgen.site.publish) makes beside an out folder or a file `<name>`:
# `.<name>.calgen-new` (the staging tree), `.calgen-old`, `.calgen-lock`, `.calgen-tmp`.
STAGING, OLD, LOCK, TEMP = ".calgen-new", ".calgen-old", ".calgen-lock", ".calgen-tmp"
PUBLISHING_NAME = re.compile(r"\..*\.calgen-(?:new|old|lock|tmp)(?:[-.].*)?")


def beside(name: str, suffix: str) -> str:
    """The exact name publishing gives what it makes beside `name`: `.dist.calgen-new`."""
    return f".{name}{suffix}"


# What calgen writes, by relative path: a folder that holds only names like these (and no
# manifest yet) was written by a calgen from before manifests and is adopted once.
OUTPUT_NAME = re.compile(
    r"index\.html"
    r"|[a-z0-9][a-z0-9.-]*/(?:[a-z0-9][a-z0-9-]*\.(?:ics|html)|runbook\.md|versies/[0-9.]+\.json)"
)


def feed_file(role: str) -> str:
    """A feed's file name in its folder: `gemeenten.ics`, `all.ics`, `alles.ics`."""
    return f"{role}.ics"


def role_page(role: str | None) -> str:
    """A runbook page's file name in the runbook's folder: the whole runbook or a role."""
    return INDEX if role is None or role == ALL else f"{role}.html"


def runbook_file(runbook: str, name: str) -> str:
    """`<runbook>/<name>`, relative to the out folder."""
    return f"{runbook}/{name}"


def snapshot_file(runbook: str, version: str) -> str:
    """`<runbook>/versies/<version>.json`, relative to the out folder."""
    return f"{runbook}/{SNAPSHOTS}/{version}.json"


_NOT_IN_FOLDER_NAME = re.compile(r"[^a-z0-9-]+")


def standard_folder(standard: str) -> str:
    """The folder of a standard's durable feeds: `iJw` → `ijw`; "" when nothing is left."""
    return _NOT_IN_FOLDER_NAME.sub("", standard.lower()).strip("-")


def durable_file(standard_folder: str, role: str) -> str:
    """A durable feed, relative to the out folder: `gemeenten.ics`, `ijw/alles.ics`."""
    return f"{standard_folder}/{feed_file(role)}" if standard_folder else feed_file(role)


def runbook_url(base_url: str, runbook: str, name: str = "") -> str:
    """The absolute URL of a runbook's folder or of a file in it; "" without a base URL."""
    base = base_url.rstrip("/")
    return f"{base}/{runbook}/{name}" if base else ""


# ------------------------------------------------------------------------------- UIDs

_UID_DOMAIN = "calgen"


def uid(runbook: str, kind: str, item: str) -> str:
    """An event's UID, stable across every edit of text or time: only the runbook, the
    kind of item (`fase`, `mijlpaal`, `datum`) and the item's id count."""
    return f"{kind}-{item}.{runbook}@{_UID_DOMAIN}"


def uid_belongs_to(found: str, runbook: str) -> bool:
    """Whether an event UID read back from a feed is one of `runbook`'s events."""
    return found.endswith(f".{runbook}@{_UID_DOMAIN}")
