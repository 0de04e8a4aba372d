"""The built site in a real browser, for tests/test_browser.py: the site built once per
session and served on 127.0.0.1, Debian's Chromium driven by Playwright (one browser per
session, one context per width), the pages every test visits, and the checks several
tests share (axe-core, screenshots, rows, subscribe links).

Needs the `playwright` package (never `playwright install`: the browser is Debian's
/usr/bin/chromium) and `npm ci` for axe-core. In CI (CI=true) a missing piece is a
failure; locally the tests skip and say why.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import functools
import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml

from calgen.cli import main
from tests.conftest import BASE_URL, ROOT, SEEDS
from tests.png import read as read_png

try:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Locator,
        Page,
        Request,
        Response,
        Route,
        sync_playwright,
    )

    PLAYWRIGHT_ERROR = ""
except ImportError as exc:  # pragma: no cover - depends on the environment
    PLAYWRIGHT_ERROR = str(exc)

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = Path(__file__).resolve().parent / "browser" / "screenshots"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
HOST = BASE_URL.removeprefix("https://")

_ROLES_FILE = ROOT / "runbooks" / "shared" / "roles.yaml"
ROLES: tuple[str, ...] = tuple(
    r["id"] for r in yaml.safe_load(_ROLES_FILE.read_text("utf-8"))["roles"]
)
RUNBOOK_PAGES = [f"{seed}/{name}.html" for seed in SEEDS for name in ("index", *ROLES)]
PAGES = ["index.html", *RUNBOOK_PAGES]
WEBCAL = re.compile(rf"^webcal://{re.escape(HOST)}/(?:([a-z0-9.-]+)/)?([a-z0-9.-]+\.ics)$")
PHONE = 390  # CSS px: a common phone's width
# The first screen the tests hold to (issue 21): a laptop and a phone, in CSS px.
DESKTOP_SCREEN = (1280, 800)
PHONE_SCREEN = (PHONE, 844)
# The reader's clock in the pages' script: the shared tabs read the pages on 29 March 2022,
# 10:00 in Amsterdam, in phase 1 of the 2022 runbook and after the 2018 one. The phone
# reads them in Curaçao (UTC-4, 04:00 there): the pages still say Dutch time.
NOW = dt.datetime(2022, 3, 29, 10, 0, tzinfo=ZoneInfo("Europe/Amsterdam"))
ELSEWHERE = "America/Curacao"
# Every kind of page: the site index, both seeds' full runbooks and one role view.
KINDS = ["index.html", *(f"{seed}/index.html" for seed in SEEDS), f"{SEEDS[-1]}/{ROLES[0]}.html"]
# Full-page screenshots take about a second and a half each: of every kind of page, or of
# every page with CALGEN_SCREENSHOTS=all, to review them all.
SHOT_PAGES = PAGES if os.environ.get("CALGEN_SCREENSHOTS") == "all" else KINDS


def missing(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"browser test dependency unavailable in CI: {reason}")
    pytest.skip(f"BROWSER TESTS NOT RUN, MISSING: {reason}")


# --- the site: built once, served on 127.0.0.1 ------------------------------------------


class Handler(SimpleHTTPRequestHandler):
    # overrides the standard library's class attribute, which typeshed declares without
    # ClassVar (so mypy refuses one here): read-only in practice
    extensions_map = {  # noqa: RUF012
        **SimpleHTTPRequestHandler.extensions_map,
        ".html": "text/html; charset=utf-8",
        ".ics": "text/calendar; charset=utf-8",
        ".md": "text/markdown; charset=utf-8",
    }

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@dataclass(frozen=True)
class Site:
    root: Path  # the built folder
    url: str  # http://127.0.0.1:PORT/ (with the slash)


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(ROOT)  # runbooks/ and pyproject.toml are read relative to the repo
        assert main(["build", "--out", str(out), "--base-url", BASE_URL]) == 0
    return out


@pytest.fixture(scope="session")
def site(built: Path) -> Iterator[Site]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(built)))
    thread = threading.Thread(target=server.serve_forever, name="browser-site", daemon=True)
    thread.start()
    try:
        yield Site(built, f"http://127.0.0.1:{server.server_address[1]}/")
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


# --- the browser: one per session, one context per page and width -------------------


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if PLAYWRIGHT_ERROR:
        missing(f"Python package playwright ({PLAYWRIGHT_ERROR}); pip install -e '.[test]'")
    if not CHROMIUM.is_file():
        missing(f"{CHROMIUM} (apt-get install chromium)")
    with sync_playwright() as pw:
        # Playwright gives the browser a fresh temporary --user-data-dir of its own.
        launched = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Tab:
    """A page in a fresh context, with everything that went wrong while it was open."""

    site: Site
    context: BrowserContext
    page: Page
    problems: list[str] = field(default_factory=list)
    path: str = ""  # the page last opened
    response: Response | None = None  # and its response

    def open(self, path: str) -> Response:
        response = self.page.goto(self.site.url + path, wait_until="load")
        assert response is not None, f"no response for {path}"
        assert response.status == 200, f"{path}: HTTP {response.status}"
        self.path, self.response = path, response
        return response

    def row(self, milestone: str) -> Locator:
        return self.page.locator(f'tr[id="m-{milestone}"]')


@contextlib.contextmanager
def open_tab(
    browser: Browser,
    site: Site,
    width: int,
    height: int,
    *,
    script: bool = True,
    now: dt.datetime | None = None,
    zone: str = "Europe/Amsterdam",
) -> Iterator[Tab]:
    """A fresh context and page at the given viewport, recording what goes wrong;
    `script`: JavaScript on or off; `now`: the pages' clock, fixed (Playwright's)."""
    context = browser.new_context(
        viewport={"width": width, "height": height},
        locale="nl-NL",
        timezone_id=zone,
        service_workers="block",
        java_script_enabled=script,
    )
    if now is not None:
        context.clock.set_fixed_time(now)
    tab = Tab(site, context, context.new_page())

    def local_only(route: Route) -> None:
        if route.request.url.startswith(site.url):
            route.continue_()
        else:  # the pages use no external resources; any attempt is a bug
            tab.problems.append(f"external request: {route.request.url}")
            route.abort()

    def console(msg: ConsoleMessage) -> None:
        if msg.type in ("error", "warning"):
            where = msg.location.get("url", "")
            tab.problems.append(f"console {msg.type}: {msg.text} ({where})")

    def failed(request: Request) -> None:
        tab.problems.append(f"request failed: {request.url} ({request.failure})")

    def response(resp: Response) -> None:
        if resp.status >= 400:
            tab.problems.append(f"HTTP {resp.status}: {resp.url}")

    context.route("**/*", local_only)
    tab.page.on("console", console)
    tab.page.on("pageerror", lambda err: tab.problems.append(f"page error: {err}"))
    tab.page.on("requestfailed", failed)
    tab.page.on("response", response)
    try:
        yield tab
    finally:
        context.close()


@pytest.fixture
def tab(browser: Browser, site: Site) -> Iterator[Tab]:
    """A fresh desktop-width tab of its own, for tests that navigate."""
    with open_tab(browser, site, 1280, 900) as fresh:
        yield fresh


@pytest.fixture(scope="session")
def _desktop_tab(browser: Browser, site: Site) -> Iterator[Tab]:
    with open_tab(browser, site, *DESKTOP_SCREEN, now=NOW) as shared:
        # the copy buttons' test reads back what they put on the clipboard
        shared.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site.url)
        yield shared


@pytest.fixture(scope="session")
def _phone_tab(browser: Browser, site: Site) -> Iterator[Tab]:
    with open_tab(browser, site, *PHONE_SCREEN, now=NOW, zone=ELSEWHERE) as shared:
        yield shared


@pytest.fixture(scope="module")
def desktop(_desktop_tab: Tab, request: pytest.FixtureRequest) -> Tab:
    """The page `request.param` opened once at desktop width, in one context kept for
    the session, and shared by its tests (each leaves it as it found it)."""
    _desktop_tab.problems.clear()
    _desktop_tab.open(request.param)
    return _desktop_tab


@pytest.fixture(scope="module")
def phone(_phone_tab: Tab, request: pytest.FixtureRequest) -> Tab:
    """The page `request.param` opened once at phone width, shared by its tests."""
    _phone_tab.problems.clear()
    _phone_tab.open(request.param)
    return _phone_tab


def on(fixture: str, paths: list[str]) -> pytest.MarkDecorator:
    """Run the test once per page, on the shared tab `fixture` ("desktop" or "phone")."""
    return pytest.mark.parametrize(fixture, paths, indirect=True)


@pytest.fixture(scope="session")
def axe_script() -> Path:
    if not AXE.is_file():
        missing(f"{AXE.relative_to(ROOT)} (run npm ci)")
    return AXE


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    for old in SCREENSHOTS.glob("*.png"):
        old.unlink()
    print(f"\nscreenshots for review: {SCREENSHOTS}")
    return SCREENSHOTS


# --- helpers for the tests -----------------------------------------------------------


def check_webcal(site: Site, href: str, runbook: str | None) -> str:
    match = WEBCAL.match(href)
    assert match, f"webcal link {href!r} is not webcal://{HOST}/[<folder>/]<file>.ics"
    rb, name = match.groups()
    if runbook is not None:
        assert rb == runbook, f"{href} points at another runbook than {runbook}"
    folder = site.root / rb if rb else site.root
    assert (folder / name).is_file(), f"{href}: no {rb}/{name} in the built site"
    return name


def rows_of(page: Page) -> dict[str, set[str]]:
    """Row id -> its data-roles, of every schedule row in the page."""
    pairs: list[list[str]] = page.eval_on_selector_all(
        "tr[data-roles]", "rows => rows.map(r => [r.id, r.dataset.roles])"
    )
    return {row_id: set(roles.split()) for row_id, roles in pairs}


@pytest.fixture(scope="module")
def full_rows(browser: Browser, site: Site) -> dict[str, dict[str, set[str]]]:
    """Each seed's full runbook page: row id -> its data-roles, read in the browser."""
    out = {}
    with open_tab(browser, site, 1280, 900, script=False) as tab:
        for seed in SEEDS:
            tab.open(f"{seed}/index.html")
            out[seed] = rows_of(tab.page)
            assert out[seed], f"{seed}: the full runbook has no schedule rows"
        assert tab.problems == []
    return out


ROLE_PAGES = [f"{seed}/{role}.html" for seed in SEEDS for role in ROLES]


def check_axe(tab: Tab, axe_script: Path) -> None:
    """axe-core finds no violation on the page as it is now."""
    if not tab.page.evaluate("typeof axe !== 'undefined'"):
        tab.page.add_script_tag(path=str(axe_script))
    result: dict[str, Any] = tab.page.evaluate(
        """async () => {
            const r = await axe.run({resultTypes: ["violations"]});
            return {
                passes: r.passes.length,
                violations: r.violations.map(v => ({
                    id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                    targets: v.nodes.map(n => n.target.join(" ")),
                })),
            };
        }"""
    )
    assert result["passes"] > 0, "axe-core ran no rule"
    violations: list[dict[str, Any]] = result["violations"]
    assert violations == [], f"axe-core violations on {tab.path}:\n" + "\n".join(
        f"- {v['id']} ({v['impact']}): {v['help']} <{v['helpUrl']}>\n    "
        + "\n    ".join(v["targets"])
        for v in violations
    )


# Chromium's own PNG decoder reads the screenshot back in the page: size, the background
# (the most frequent colour), and how many pixels of the whole image and of given page
# areas differ from it.
PIXELS = """async ([b64, boxes]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const bitmap = await createImageBitmap(new Blob([bytes], {type: "image/png"}));
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const ctx = canvas.getContext("2d");
  ctx.drawImage(bitmap, 0, 0);
  const px = new Uint32Array(ctx.getImageData(0, 0, bitmap.width, bitmap.height).data.buffer);
  const counts = new Map();
  for (let i = 0; i < px.length; i += 7) counts.set(px[i], (counts.get(px[i]) || 0) + 1);
  let bg = px[0], most = 0;
  for (const [colour, n] of counts) if (n > most) { bg = colour; most = n; }
  let ink = 0;
  for (let i = 0; i < px.length; i++) if (px[i] !== bg) ink++;
  const inBox = boxes.map(([x, y, w, h]) => {
    let n = 0;
    for (let r = Math.max(0, y); r < Math.min(bitmap.height, y + h); r++)
      for (let c = Math.max(0, x); c < Math.min(bitmap.width, x + w); c++)
        if (px[r * bitmap.width + c] !== bg) n++;
    return n;
  });
  return {width: bitmap.width, height: bitmap.height, colours: counts.size,
          ink: ink / px.length, inBox};
}"""


def check_screenshot(tab: Tab, screenshots: Path, areas: list[str], suffix: str) -> None:
    """A full-page screenshot, saved for review, is a whole PNG of the whole page and not
    blank: each of `areas` (CSS selectors) is drawn where the page lays it out."""
    target = screenshots / (tab.path.removesuffix(".html").replace("/", "__") + suffix + ".png")
    tab.page.screenshot(path=str(target), full_page=True)
    print(f"screenshot: {target}")
    data = target.read_bytes()
    png = read_png(data)
    size = tab.page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.scrollHeight,"
        " window.devicePixelRatio, window.innerHeight]"
    )
    assert (png.width, png.height) == (round(size[0] * size[2]), round(size[1] * size[2]))
    assert png.height >= size[3] * size[2]  # at least the viewport
    boxes = []
    for selector in areas:
        box = tab.page.locator(selector).first.bounding_box()
        assert box is not None, selector
        scroll = tab.page.evaluate("[window.scrollX, window.scrollY]")
        boxes.append(
            [round((box["x"] + scroll[0]) * size[2]), round((box["y"] + scroll[1]) * size[2]),
             round(box["width"] * size[2]), round(box["height"] * size[2])]
        )  # fmt: skip
    seen = tab.page.evaluate(PIXELS, [base64.b64encode(data).decode("ascii"), boxes])
    assert (seen["width"], seen["height"]) == (png.width, png.height)
    assert seen["colours"] >= 16, "hardly any colours: a blank or flat page"
    assert 0.01 <= seen["ink"] <= 0.9, f"{seen['ink']:.3f} of the pixels are not background"
    for selector, (area, ink) in zip(areas, zip(boxes, seen["inBox"], strict=True), strict=True):
        assert ink >= 0.02 * area[2] * area[3], f"{selector} is not drawn ({ink} pixels)"


# --- the first screen -----------------------------------------------------------------


def first_screen(tab: Tab, selector: str) -> bool:
    """Whether the first element `selector` matches is drawn wholly inside the first
    screen: the viewport of the page scrolled to its top, as it opens."""
    tab.page.evaluate("window.scrollTo(0, 0)")  # a test before may have scrolled it
    box = tab.page.locator(selector).first.bounding_box()
    assert box is not None, f"{tab.path}: {selector} is not drawn"
    size = tab.page.viewport_size
    assert size is not None
    return (
        box["x"] >= 0
        and box["y"] >= 0
        and box["x"] + box["width"] <= size["width"]
        and box["y"] + box["height"] <= size["height"]
    )


@dataclass(frozen=True, kw_only=True)
class Unscripted:
    """A page as read without JavaScript, at one of the two first-screen sizes."""

    path: str
    width: int
    first: dict[str, bool]  # selector -> inside the first screen
    texts: dict[str, str]  # selector -> its text ("" when absent)
    marked: int  # elements the script would mark ("nu", "volgende")
    now_shown: bool  # the "now" line visible
    now_words: tuple[str, ...]  # words of the script's about now found in the page's text
    buttons_shown: int  # copy buttons visible
    scroll_width: int
    problems: tuple[str, ...]


# What the first screen must show without a script (issue 21), by kind of page.
FIRST_SCREEN = {
    "index": ["h1", "#abonneer", ".golives li"],
    "runbook": ["#golive", ".glance .phases"],
    "role": ["#golive", ".glance .phases", ".glance .deadlines > li"],
}


def kind_of(path: str) -> str:
    if path == "index.html":
        return "index"
    return "runbook" if path.endswith("/index.html") else "role"


# One call per page (Playwright evaluates even where the page's own scripts may not run):
# what `Unscripted` records, read from the page as it opens.
READ_UNSCRIPTED = """selectors => {
  window.scrollTo(0, 0);
  const inside = e => { const b = e.getBoundingClientRect();
    return b.left >= 0 && b.top >= 0 && b.right <= innerWidth && b.bottom <= innerHeight; };
  const shown = e => e.getClientRects().length > 0 && getComputedStyle(e).visibility !== "hidden";
  const first = {}, texts = {};
  for (const s of selectors) {
    const e = document.querySelector(s);
    first[s] = !!e && shown(e) && inside(e);
    texts[s] = e ? e.innerText : "";
  }
  return {
    first, texts,
    marked: document.querySelectorAll(".mark, .is-nu, .is-volgende, .is-voorbij").length,
    nowShown: [...document.querySelectorAll("p.now")].some(shown),
    body: document.body.innerText,
    buttons: [...document.querySelectorAll("button.copy")].filter(shown).length,
    scrollWidth: document.documentElement.scrollWidth,
  };
}"""


@pytest.fixture(scope="module")
def without_script(
    browser: Browser, site: Site, screenshots: Path
) -> dict[tuple[str, int], Unscripted]:
    """Every page read without JavaScript at both first-screen sizes (no script: cheap
    loads), in one pass the tests then look at; the first screen of each kind of page
    saved for review (`*-first-screen-noscript.png`)."""
    out = {}
    for screen in (DESKTOP_SCREEN, PHONE_SCREEN):
        with open_tab(browser, site, *screen, script=False) as tab:
            for path in PAGES:
                tab.problems.clear()
                tab.open(path)
                if path in SHOT_PAGES:
                    name = path.removesuffix(".html").replace("/", "__")
                    phone = "-phone" if screen == PHONE_SCREEN else ""
                    tab.page.screenshot(
                        path=str(screenshots / f"{name}{phone}-first-screen-noscript.png")
                    )
                seen = tab.page.evaluate(READ_UNSCRIPTED, FIRST_SCREEN[kind_of(path)])
                out[(path, screen[0])] = Unscripted(
                    path=path,
                    width=screen[0],
                    first=seen["first"],
                    texts=seen["texts"],
                    marked=seen["marked"],
                    now_shown=seen["nowShown"],
                    now_words=tuple(
                        word
                        for word in ("volgende", "Nu:", "Al voorbij", "is voorbij")
                        if re.search(rf"(?<!\w){word}(?!\w)", seen["body"])
                    ),
                    buttons_shown=seen["buttons"],
                    scroll_width=seen["scrollWidth"],
                    problems=tuple(tab.problems),
                )
    return out
