"""The built site in a real browser: Debian's Chromium, driven by Playwright.

The site is built once per session (`calgen build --out <tmp> --base-url …`) and served on
127.0.0.1 by a small thread-based HTTP server (`.ics` as text/calendar). One browser per
session. Each page (site index, each runbook, each role view) is opened once at desktop
width and once at phone width, and every check of that page runs on that one visit
(`desktop` and `phone`: module-scoped fixtures, so pytest runs a page's tests together).
Every page must load without console errors or warnings and without a failed or external
request, pass axe-core with no violations at both widths, and hide navigation and the
subscribe section in print. Full-page screenshots, checked for being whole and drawn,
land in tests/browser/screenshots/ for review (not committed): of four pages by default,
of every page with CALGEN_SCREENSHOTS=all.

The site, the browser and the shared checks are in tests/pages.py.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from calgen.cli import main
from tests.conftest import BASE_URL, ROOT, SEEDS
from tests.pages import (
    KINDS,
    PAGES,
    PHONE,
    ROLE_PAGES,
    ROLES,
    RUNBOOK_PAGES,
    SHOT_PAGES,
    Tab,
    check_axe,
    check_screenshot,
    check_webcal,
    on,
    rows_of,
)

with contextlib.suppress(ImportError):  # tests/pages.py says what is missing
    from playwright.sync_api import Browser, expect


def test_every_page_is_tested(built: Path) -> None:
    """The parametrized list is the built site: a new page cannot slip through untested."""
    assert sorted(p.relative_to(built).as_posix() for p in built.rglob("*.html")) == sorted(PAGES)


@on("desktop", PAGES)
def test_page_loads_cleanly(desktop: Tab) -> None:
    """No console error or warning, no failed or external request; same-site links work."""
    tab, path = desktop, desktop.path
    assert tab.response is not None
    assert tab.response.headers["content-type"].startswith("text/html")
    expect(tab.page.locator("h1")).to_be_visible()
    assert tab.page.title()
    assert tab.problems == [], f"{path}:\n" + "\n".join(tab.problems)
    hrefs: list[str] = tab.page.eval_on_selector_all("a[href]", "as => as.map(a => a.href)")
    for href in sorted(set(hrefs)):
        target, _, fragment = href.partition("#")
        if not target.startswith(tab.site.url):
            continue  # webcal:, mailto: and the contacts' websites
        resp = tab.context.request.get(target)
        assert resp.status == 200, f"{path}: link {href} gives HTTP {resp.status}"
        if fragment and target == tab.page.url.partition("#")[0]:
            assert tab.page.locator(f'[id="{fragment}"]').count() == 1, f"{path}: no #{fragment}"


@on("desktop", ["iwmo-ijw-3.0-3.1/index.html"])
def test_row_3_1_2_reads_dutch_date_and_time(desktop: Tab) -> None:
    row = desktop.row("3.1.2")
    expect(row).to_be_visible()
    cells = row.locator("td")
    assert cells.nth(0).inner_text().strip() == "3.1.2"
    # The date cell may add a line under the date (a rule such as "2 werkdagen voor …").
    assert cells.nth(2).inner_text().strip().splitlines()[0] == "woensdag 30 maart 2022"
    assert cells.nth(3).inner_text().strip() == "17.00 uur"
    text = row.inner_text()
    assert "woensdag 30 maart 2022" in text
    assert "17.00 uur" in text


@on("desktop", RUNBOOK_PAGES)
def test_timeline_svg(desktop: Tab) -> None:
    svg = desktop.page.locator(".timeline svg")
    expect(svg).to_have_count(1)
    expect(svg).to_be_visible()
    box = svg.bounding_box()
    assert box is not None
    assert box["width"] > 0
    assert box["height"] > 0
    title = svg.locator(":scope > title")
    desc = svg.locator(":scope > desc")
    expect(title).to_have_count(1)
    expect(desc).to_have_count(1)
    assert (title.text_content() or "").startswith("Tijdlijn ")
    assert (desc.text_content() or "").strip()
    # The accessible name and description come from them.
    assert svg.get_attribute("role") == "img"
    ids = [title.get_attribute("id"), desc.get_attribute("id")]
    assert svg.get_attribute("aria-labelledby") == " ".join(str(i) for i in ids)
    assert svg.locator("circle.deadline, rect.period").count() > 0


@on("desktop", RUNBOOK_PAGES)
def test_subscribe_links(desktop: Tab) -> None:
    tab = desktop
    runbook = tab.path.split("/")[0]
    downloads = tab.page.locator(".subscribe a.download")
    webcals = tab.page.locator(".subscribe a.webcal")
    assert downloads.count() == len(ROLES) + 1  # all.ics and one per role
    files = []
    for link in downloads.all():
        assert link.get_attribute("download") is not None
        url: str = link.evaluate("a => a.href")
        resp = tab.context.request.get(url)
        assert resp.status == 200, f"{url}: HTTP {resp.status}"
        assert resp.headers["content-type"].startswith("text/calendar")
        assert resp.body().startswith(b"BEGIN:VCALENDAR\r\n"), url
        files.append(url.rsplit("/", 1)[1])
    assert "all.ics" in files
    # One subscribe link per download, to the same feed on the published host.
    subscribed = [
        check_webcal(tab.site, w.get_attribute("href") or "", runbook) for w in webcals.all()
    ]
    assert subscribed == files
    # Every webcal: link on the page, not only those marked, follows the same form.
    for href in tab.page.eval_on_selector_all('a[href^="webcal:"]', "as => as.map(a => a.href)"):
        check_webcal(tab.site, href, runbook)


@on("desktop", ["index.html"])
def test_site_index_feed_links(desktop: Tab) -> None:
    """Per-runbook feeds, and first the durable ones: the root set and one per standard
    (iWmo, iJw), each `alles.ics` and one per role."""
    tab = desktop
    feeds = tab.page.eval_on_selector_all(
        'a[href$=".ics"]:not([href^="webcal:"])', "as => as.map(a => a.href)"
    )
    durable = 3 * (len(ROLES) + 1)
    assert len(feeds) == durable + len(SEEDS) * (len(ROLES) + 1)
    first = [u.removeprefix(tab.site.url) for u in feeds[:durable]]
    assert first[: len(ROLES) + 1] == ["alles.ics", *(f"{r}.ics" for r in ROLES)]
    assert {u.split("/")[0] for u in first[len(ROLES) + 1 :]} == {"iwmo", "ijw"}
    for url in feeds:
        resp = tab.context.request.get(url)
        assert resp.status == 200, f"{url}: HTTP {resp.status}"
        assert resp.body().startswith(b"BEGIN:VCALENDAR\r\n"), url
    webcals = tab.page.eval_on_selector_all('a[href^="webcal:"]', "as => as.map(a => a.href)")
    assert len(webcals) == len(feeds)
    for href in webcals:
        check_webcal(tab.site, href, None)


def test_download_link_downloads_the_feed(tab: Tab) -> None:
    tab.open("iwmo-ijw-3.0-3.1/index.html")
    with tab.page.expect_download() as info:
        tab.page.locator('.subscribe a.download[href="gemeenten.ics"]').click()
    download = info.value
    assert download.suggested_filename == "gemeenten.ics"
    assert download.path().read_bytes().startswith(b"BEGIN:VCALENDAR\r\n")
    assert download.failure() is None


@on("desktop", ["iwmo-ijw-3.0-3.1/gemeenten.html"])
def test_gemeenten_view_shows_only_theirrows_of(desktop: Tab) -> None:
    expect(desktop.row("3.1.2")).not_to_be_visible()  # zorgaanbieders only
    expect(desktop.row("3.1.3")).to_be_visible()  # gemeenten
    expect(desktop.row("3.2.1")).to_be_visible()  # a hub milestone, section 3.2 informs all


@on("desktop", ROLE_PAGES)
def test_role_viewrows_of(desktop: Tab, full_rows: dict[str, dict[str, set[str]]]) -> None:
    tab = desktop
    seed, role = tab.path.removesuffix(".html").split("/")
    for row_id, roles in full_rows[seed].items():
        row = tab.page.locator(f'tr[id="{row_id}"]')
        if role in roles:
            expect(row).to_be_visible()
            expect(row).to_have_attribute("data-roles", " ".join(sorted(roles)))
        else:
            expect(row).not_to_be_visible()  # absent or hidden
    # Nothing visible in the view that the full runbook does not give this role.
    for row_id, roles in rows_of(tab.page).items():
        if tab.page.locator(f'tr[id="{row_id}"]').is_visible():
            assert role in roles, f"{row_id} ({' '.join(sorted(roles))}) shown to {role}"
    expect(tab.page.locator('nav.roles a[aria-current="page"]')).to_have_attribute(
        "href", f"{role}.html"
    )
    assert tab.problems == []


@on("desktop", PAGES)
def test_axe_no_violations(desktop: Tab, axe_script: Path) -> None:
    check_axe(desktop, axe_script)
    assert desktop.problems == []


@on("phone", PAGES)
def test_phone_width(phone: Tab) -> None:
    """At 390 px: no sideways scrolling, nothing wider than the screen."""
    tab, path = phone, phone.path
    width = tab.page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE, f"{path} is {width} px wide at {PHONE} px"
    # nothing sticks out of the page either (an element wider than the viewport), apart
    # from what is clipped away for screen readers only (the cards' column headings)
    wide = tab.page.evaluate(
        """w => {
            const clipped = e => {
                for (let a = e; a; a = a.parentElement) {
                    if (getComputedStyle(a).position === 'absolute') return true;
                }
                return false;
            };
            return [...document.querySelectorAll('body *')]
                .filter(e => e.getBoundingClientRect().right > w + 0.5 && !clipped(e))
                .map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className);
        }""",
        PHONE,
    )
    assert wide == [], f"{path}: wider than {PHONE} px: {wide[:5]}"
    assert tab.problems == []


# A role view is its runbook's page with other rows left out: the same template and CSS.
# axe-core checks every page at desktop width (above), and every kind at phone width.
@on("phone", KINDS)
def test_axe_no_violations_on_a_phone(phone: Tab, axe_script: Path) -> None:
    """Tables as cards and the timeline as a list pass axe-core too."""
    check_axe(phone, axe_script)
    assert phone.problems == []


@on("phone", ["iwmo-ijw-3.0-3.1/index.html", "index.html"])
def test_tables_become_labelled_cards_on_a_phone(phone: Tab) -> None:
    tab, path = phone, phone.path
    tables = tab.page.locator("table.cards")
    assert tables.count() > 0
    # the column headings stay for screen readers, clipped to one pixel on screen
    head = tables.first.locator("thead").bounding_box()
    assert head is not None
    assert head["width"] <= 1
    assert head["height"] <= 1
    # every card's field is labelled with its column's heading, in every card table
    for table in tables.all():
        headings = [h.strip() for h in table.locator("thead th").all_text_contents()]
        labels = (
            table.locator("tbody tr")
            .first.locator("td")
            .evaluate_all("tds => tds.map(td => getComputedStyle(td, '::before').content)")
        )
        assert labels == [f'"{h}"' for h in headings]
    cells = tables.first.locator("tbody tr").first.locator("td")
    for i in range(cells.count()):
        cell = cells.nth(i)
        box = cell.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE
    if path != "index.html":  # one card per row: the cells are stacked
        boxes = [cells.nth(i).bounding_box() for i in range(cells.count())]
        tops = [b["y"] for b in boxes if b]
        assert tops == sorted(tops)
        assert len(set(tops)) == len(tops)
        last = tab.row("3.1.2").locator("td").last
        assert last.evaluate("td => getComputedStyle(td, '::before').content") == '"Actiehouder"'
        assert last.inner_text().strip() == "Zorgaanbieders"
        last = tab.row("4.1.2").locator("td").last  # chapter 4's table: "Actie houders"
        assert last.evaluate("td => getComputedStyle(td, '::before').content") == '"Actie houders"'
        assert last.inner_text().strip() == "Gemeenten"


@on("phone", ROLE_PAGES)
def test_role_marks_visible_on_a_phone(phone: Tab) -> None:
    """On a phone the timeline is a list per phase: every mark of the role is within the
    screen's width, without scrolling sideways; at desktop width the SVG is back."""
    tab = phone
    role = tab.path.removesuffix(".html").split("/")[1]
    expect(tab.page.locator(".timeline svg")).not_to_be_visible()
    marks = tab.page.locator(".timeline-list ol li")
    expected = [r for r, roles in rows_of(tab.page).items() if role in roles]
    assert marks.count() == len(expected) > 0
    shown = []
    for i in range(marks.count()):
        mark = marks.nth(i)
        expect(mark).to_be_visible()
        box = mark.bounding_box()
        assert box is not None
        assert box["x"] >= 0
        assert box["x"] + box["width"] <= PHONE
        shown.append("m-" + (mark.locator("a").get_attribute("href") or "").removeprefix("#m-"))
    assert sorted(shown) == sorted(expected)
    tab.page.set_viewport_size({"width": 1280, "height": 900})
    try:
        expect(tab.page.locator(".timeline svg")).to_be_visible()
        expect(marks.first).not_to_be_visible()
    finally:
        tab.page.set_viewport_size({"width": PHONE, "height": 800})


@on("desktop", SHOT_PAGES)
def test_screenshot(desktop: Tab, screenshots: Path) -> None:
    """At desktop width: the heading, the tables and (on runbook pages) the timeline."""
    index = desktop.path == "index.html"
    areas = ["h1", "main ul"] if index else ["h1", "table", ".timeline svg"]
    check_screenshot(desktop, screenshots, areas, "")


@on("phone", SHOT_PAGES)
def test_screenshot_phone(phone: Tab, screenshots: Path) -> None:
    """At phone width: the heading, the cards and (on runbook pages) the timeline list."""
    index = phone.path == "index.html"
    areas = ["h1", "main ul"] if index else ["h1", "table", ".timeline-list"]
    check_screenshot(phone, screenshots, areas, "-phone")


@on("desktop", RUNBOOK_PAGES)
def test_print_hides_nav_and_subscribe(desktop: Tab) -> None:
    tab = desktop
    nav = tab.page.locator("nav")
    subscribe = tab.page.locator("section.subscribe")
    expect(nav).to_be_visible()
    expect(subscribe).to_be_visible()
    tab.page.emulate_media(media="print")
    try:
        expect(nav).to_be_hidden()
        expect(subscribe).to_be_hidden()
        expect(tab.page.locator("h1")).to_be_visible()  # the runbook itself still prints
        expect(tab.page.locator(".timeline svg")).to_be_visible()
        expect(tab.page.locator("tr[data-roles]").first).to_be_visible()
        # the print layout is the table and the SVG, never the phone's cards or list
        expect(tab.page.locator("table.schedule thead").first).to_be_visible()
        expect(tab.page.locator(".timeline-list")).to_be_hidden()
        display = tab.page.locator("tr[data-roles]").first.evaluate(
            "r => getComputedStyle(r).display"
        )
        assert display == "table-row"
    finally:
        tab.page.emulate_media(media="null")  # back to no emulation
    expect(nav).to_be_visible()  # the shared tab is back on screen


def test_hostile_text_is_inert_in_the_browser(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Runbook text with <script>, event handlers and broken-out attributes: Chromium
    runs none of it, and the page has exactly its two milestone rows."""
    out = tmp_path_factory.mktemp("hostile")
    hostile = ROOT / "tests" / "testdata" / "hostile" / "hostile.yaml"
    assert main(["build", str(hostile), "--out", str(out), "--base-url", BASE_URL]) == 0
    context = browser.new_context(java_script_enabled=True)
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        for name, rows in (("index.html", 2), ("gemeenten.html", 1)):
            page.goto((out / "hostile" / name).as_uri(), wait_until="load")
            assert page.evaluate("typeof window.__pwned") == "undefined", name
            assert page.locator('tr[id^="m-"]').count() == rows
            assert page.locator("script").count() == 0
            assert "<script>window.__pwned=1</script>" in page.locator("h1").inner_text()
        assert errors == []
    finally:
        context.close()


def test_links_from_data_are_inert_in_the_browser(
    browser: Browser, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Links from runbook data (tests/testdata/hostile/links.yaml): Chromium loads nothing
    from outside, shows no image, and no link has a scheme outside the allow-list."""
    out = tmp_path_factory.mktemp("links")
    links = ROOT / "tests" / "testdata" / "hostile" / "links.yaml"
    assert main(["build", str(links), "--out", str(out), "--base-url", "https://x.example"]) == 0
    context = browser.new_context()
    try:
        page = context.new_page()
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        page.route("http*://**", lambda route: route.abort())  # no network, ever
        page.goto((out / "links" / "index.html").as_uri())
        protocols = page.eval_on_selector_all("a[href]", "as => as.map(a => a.protocol)")
        images = page.eval_on_selector_all("img", "is => is.length")
    finally:
        context.close()
    assert "javascript:" not in protocols
    assert set(protocols) <= {"http:", "https:", "mailto:", "tel:", "webcal:", "file:"}
    assert "https:" in protocols  # the image, now a link, and the good link
    assert images == 0
    assert requests  # the page itself
    assert [u for u in requests if not u.startswith("file:")] == []
