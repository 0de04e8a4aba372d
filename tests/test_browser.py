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
import itertools
import re
from pathlib import Path
from typing import Any

import pytest

from calgen.cli import main
from tests.conftest import BASE_URL, ROOT, SEEDS
from tests.pages import (
    DESKTOP_SCREEN,
    FIRST_SCREEN,
    KINDS,
    PAGES,
    PHONE,
    PHONE_SCREEN,
    ROLE_PAGES,
    ROLES,
    RUNBOOK_PAGES,
    SHOT_PAGES,
    Tab,
    Unscripted,
    check_axe,
    check_screenshot,
    check_webcal,
    first_screen,
    kind_of,
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
    assert cells.nth(0).locator("a").inner_text().strip() == "3.1.2"
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
    """One subscribe table: a row per role (every role first), a column per set (every
    standard, iWmo, iJw); in each cell the webcal:// link and the feed's https:// address
    as text, with a copy button whose address is that same feed's. Then the per-runbook
    feeds, as downloads and webcal:// links."""
    tab = desktop
    table = tab.page.locator("table.durable")
    expect(table).to_have_count(1)
    # the addresses break at their slashes: the table stays within the page's column
    sticks_out = table.evaluate(
        """t => { const main = t.closest("main"), s = getComputedStyle(main);
                  return t.getBoundingClientRect().right
                    - (main.getBoundingClientRect().right - parseFloat(s.paddingRight)); }"""
    )
    assert sticks_out <= 0.5, f"the subscribe table is {sticks_out} px too wide"
    heads = [h.strip() for h in table.locator("thead th").all_inner_texts()]
    assert heads == ["Rol", "Alle standaarden (iWmo en iJw)", "Alleen iWmo", "Alleen iJw"]
    rows = [r.strip() for r in table.locator("tbody th[scope=row]").all_inner_texts()]
    assert rows == ["Alle rollen", "Gemeenten", "Zorgaanbieders", "VECOZO", "Inlichtingenbureau"]
    cells = table.locator("tbody td")
    assert cells.count() == 3 * len(rows)
    files = []
    for i in range(cells.count()):
        cell = cells.nth(i)
        name = check_webcal(tab.site, cell.locator("a.webcal").get_attribute("href") or "", None)
        webcal = cell.locator("a.webcal").get_attribute("href") or ""
        address = "https://" + webcal.removeprefix("webcal://")
        shown = cell.locator(".url code")
        expect(shown).to_be_visible()
        assert shown.inner_text() == address  # as text, to copy by hand
        button = cell.locator("button.copy")
        expect(button).to_be_visible()  # the script shows it
        assert button.get_attribute("data-copy") == address
        files.append(address.removeprefix(BASE_URL + "/"))
        assert name == files[-1].rsplit("/", 1)[-1]
    # row by row: alles.ics, iwmo/alles.ics, ijw/alles.ics, gemeenten.ics, …
    assert files == [f"{f}{r}.ics" for r in ("alles", *ROLES) for f in ("", "iwmo/", "ijw/")]
    for path in files:  # the feed the address names is served
        resp = tab.context.request.get(tab.site.url + path)
        assert resp.status == 200, path
        assert resp.body().startswith(b"BEGIN:VCALENDAR\r\n"), path
    feeds = tab.page.eval_on_selector_all(
        'a[href$=".ics"]:not([href^="webcal:"])', "as => as.map(a => a.href)"
    )
    assert len(feeds) == len(SEEDS) * (len(ROLES) + 1)
    webcals = tab.page.eval_on_selector_all('a[href^="webcal:"]', "as => as.map(a => a.href)")
    assert len(webcals) == len(files) + len(feeds)


@on("desktop", ["index.html"])
def test_copy_button_copies_the_feed_address(desktop: Tab) -> None:
    """Clicking a copy button puts the feed's absolute https:// address on the clipboard
    (what Outlook on the web and Google Agenda ask for) and says so."""
    tab = desktop
    cell = tab.page.locator("table.durable tbody tr").nth(1).locator("td").nth(1)
    button = cell.locator("button.copy")
    button.click()
    copied = tab.page.evaluate("navigator.clipboard.readText()")
    assert copied == f"{BASE_URL}/iwmo/gemeenten.ics"
    expect(button.locator(".label")).to_have_text("Gekopieerd")
    expect(tab.page.locator("[role=status]")).to_have_text(f"Adres gekopieerd: {copied}")
    assert tab.problems == []


@on("desktop", ["index.html"])
def test_index_steps_per_client_fold_away(desktop: Tab) -> None:
    """The steps per client are in one section that is folded until opened."""
    tab = desktop
    howto = tab.page.locator("details.howto")
    expect(howto).to_have_count(1)
    assert howto.get_attribute("open") is None
    steps = howto.locator("dl")
    expect(steps).not_to_be_visible()
    howto.locator("summary").click()
    try:
        expect(steps).to_be_visible()
        text = steps.inner_text()
        for client in ("Outlook op het web", "Google Agenda", "Apple Agenda", "Thunderbird"):
            assert client in text
        assert "https-adres" in text
    finally:
        howto.locator("summary").click()  # the shared tab is left as found
    expect(steps).not_to_be_visible()


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
    # every card's field is labelled with its column's heading, in every card table (a
    # row's heading, the role on the index, is the card's title)
    for table in tables.all():
        headings = [h.strip() for h in table.locator("thead th").all_text_contents()]
        first = table.locator("tbody tr").first
        titled = first.locator("th").count()
        labels = first.locator("td").evaluate_all(
            "tds => tds.map(td => getComputedStyle(td, '::before').content)"
        )
        assert labels == [f'"{h}"' for h in headings[titled:]]
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
        tab.page.set_viewport_size({"width": PHONE_SCREEN[0], "height": PHONE_SCREEN[1]})


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
    marks = tab.page.locator(".mark, p.now")
    tab.page.emulate_media(media="print")
    try:
        expect(nav).to_be_hidden()
        expect(subscribe).to_be_hidden()
        # paper cannot follow the clock: nothing about now is printed, every deadline is
        for i in range(marks.count()):
            expect(marks.nth(i)).to_be_hidden()
        for item in tab.page.locator(".glance .deadlines > li:not(.past)").all():
            expect(item).to_be_visible()
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
            assert page.locator("script").count() == 1  # calgen's own (test_documents)
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


# --- the first screen: what now? (issue 21) ---------------------------------------------

GO_LIVE = {
    "iwmo-2.1-2.2": "dinsdag 3 april 2018, 13.00 uur",
    "iwmo-ijw-3.0-3.1": "maandag 4 april 2022, 13.00 uur",
}
PHASES = ("Fase 1: afsluiting", "Fase 2: transitie", "Fase 3: ingebruikname en nazorg")


def _check_first_screen(tab: Tab) -> None:
    """Go-live with weekday, date and time, the three phases with their dates and, in a
    role's view, its next deadline lie inside the first screen (the pages' clock is
    29 March 2022: in 2022's phase 1, after all of 2018)."""
    seed = tab.path.split("/")[0]
    expect(tab.page.locator("#golive")).to_have_text(f"Go-live: {GO_LIVE[seed]}")
    assert first_screen(tab, "#golive"), f"{tab.path}: go-live below the first screen"
    phases = tab.page.locator(".glance .phases > li")
    assert [p.split("\n")[0].removesuffix(" nu") for p in phases.all_inner_texts()] == list(PHASES)
    assert first_screen(tab, ".glance .phases"), f"{tab.path}: phases below the first screen"
    if kind_of(tab.path) != "role":
        return
    if seed == "iwmo-ijw-3.0-3.1":
        following = ".glance .deadlines > li.is-volgende"
        assert tab.page.locator(following).count() == 1
        assert first_screen(tab, following), f"{tab.path}: next deadline below the first screen"
    else:  # all of 2018 is past: folded into one line, at the top of the list
        expect(tab.page.locator(".glance .deadlines > li:visible")).to_have_count(1)
        assert first_screen(tab, ".glance .deadlines > li.past")


@on("desktop", RUNBOOK_PAGES)
def test_first_screen_answers_what_now(desktop: Tab) -> None:
    _check_first_screen(desktop)


@on("phone", RUNBOOK_PAGES)
def test_first_screen_answers_what_now_on_a_phone(phone: Tab) -> None:
    _check_first_screen(phone)


@on("desktop", ["index.html"])
def test_index_first_screen_go_live_beside_subscribe(desktop: Tab) -> None:
    """Beside "Abonneer één keer": the go-live of each standard's newest runbook, within
    the first screen, together with the start of the one subscribe table."""
    tab = desktop
    golives = tab.page.locator(".golives li")
    assert golives.all_inner_texts() == [
        "iWmo en iJw volgende: maandag 4 april 2022, 13.00 uur\n"
        "Landelijk draaiboek migratie iWmo 3.0 en iJw 3.0 naar iWmo 3.1 en iJw 3.1"
    ]
    for selector in ("#abonneer", ".golives", "table.durable thead"):
        assert first_screen(tab, selector), selector
    heading, box = (tab.page.locator(s).bounding_box() for s in ("#abonneer", ".golives"))
    assert heading is not None
    assert box is not None
    assert box["x"] > heading["x"] + heading["width"] / 2  # beside it, not under it


@on("phone", ["index.html"])
def test_index_first_screen_on_a_phone(phone: Tab) -> None:
    for selector in ("#abonneer", ".golives li"):
        assert first_screen(phone, selector), selector


NEXT = {  # 29 March 2022: the milestones at the next moment, 30 March 17:00, per page
    "iwmo-ijw-3.0-3.1/index.html": ["3.1.2", "3.1.3", "3.2.1"],
    "iwmo-ijw-3.0-3.1/gemeenten.html": ["3.1.3", "3.2.1"],
    "iwmo-ijw-3.0-3.1/zorgaanbieders.html": ["3.1.2", "3.2.1"],
}


@on("desktop", list(NEXT))
def test_script_marks_now_and_next_by_the_readers_clock(desktop: Tab) -> None:
    """With a script and the clock at 29 March 2022 10:00: phase 1 is "nu"; the rows and
    list items of 30 March 17:00 are "volgende" (3.1.2 for providers, 3.1.3 for
    municipalities, the hubs' 3.2.1 for both); the first screen says so in Dutch time."""
    tab = desktop
    rows = tab.page.eval_on_selector_all("tr.is-volgende", "rs => rs.map(r => r.id)")
    assert rows == [f"m-{n}" for n in NEXT[tab.path]]
    for number in NEXT[tab.path]:
        expect(tab.row(number).locator("td.nr .mark")).to_have_text("volgende")
        item = tab.page.locator(f'.timeline-list li:has(> a[href="#m-{number}"])')
        expect(item).to_have_class(re.compile(r"\bis-volgende\b"))
    assert tab.page.locator(".is-volgende").count() == len(NEXT[tab.path]) * 2 + (
        1 if kind_of(tab.path) == "role" else 0
    )
    phases = tab.page.locator(".glance .phases > li")
    expect(phases.nth(0).locator(".mark")).to_have_text("nu")
    assert tab.page.locator(".glance .mark-nu").count() == 1
    numbers = ", ".join(NEXT[tab.path])
    expect(tab.page.locator("p.now")).to_have_text(
        f"Nu: dinsdag 29 maart, 10.00 uur (Nederlandse tijd). "
        f"Volgende: {numbers} op woensdag 30 maart, 17.00 uur."
    )
    if kind_of(tab.path) == "role":  # the role's own next deadline, past ones folded
        own = "3.1.3" if "gemeenten" in tab.path else "3.1.2"
        following = tab.page.locator(".glance .deadlines > li.is-volgende a")
        expect(following).to_have_text(own)
        if own == "3.1.2":
            expect(tab.page.locator(".glance .deadlines > li.past")).to_have_text(
                "Al voorbij: 3.3.1, 3.1.1"
            )
    # the desktop timeline draws a line at now, between 29 and 30 March
    line = tab.page.locator(".timeline svg .now-line line")
    expect(line).to_have_count(1)
    days = dict(
        tab.page.eval_on_selector_all(
            ".timeline svg > text",
            "ts => ts.map(t => [t.textContent, Number(t.getAttribute('x'))])",
        )
    )
    assert days["29"] < float(line.get_attribute("x1") or 0) < days["30"]
    assert tab.problems == []


@on("desktop", ["iwmo-2.1-2.2/index.html"])
def test_script_says_a_past_migration_is_past(desktop: Tab) -> None:
    expect(desktop.page.locator("p.now")).to_have_text(
        "Nu: dinsdag 29 maart 2022, 10.00 uur (Nederlandse tijd). De migratie is voorbij."
    )
    assert desktop.page.locator(".mark").count() == 0
    expect(desktop.page.locator(".timeline svg .now-line")).to_have_count(0)  # not in its window


@on("phone", ["iwmo-ijw-3.0-3.1/gemeenten.html"])
def test_script_speaks_dutch_time_wherever_the_reader_is(phone: Tab) -> None:
    """Read in Curaçao (04:00 there), the page still says 10.00 uur: Dutch time."""
    assert phone.page.evaluate("new Date().getHours()") == 4
    expect(phone.page.locator("p.now")).to_have_text(
        "Nu: dinsdag 29 maart, 10.00 uur (Nederlandse tijd). "
        "Volgende: 3.1.3, 3.2.1 op woensdag 30 maart, 17.00 uur."
    )


@pytest.mark.parametrize("width", [DESKTOP_SCREEN[0], PHONE_SCREEN[0]], ids=["desktop", "phone"])
@pytest.mark.parametrize("path", PAGES)
def test_first_screen_without_script(
    without_script: dict[tuple[str, int], Unscripted], path: str, width: int
) -> None:
    """Without JavaScript the first screen still answers "what now?" (go-live, the
    phases, a role's deadlines; on the index the go-live per standard and the subscribe
    table), says nothing about now (a static page cannot know it), shows no copy button
    that could not work, and nothing scrolls sideways."""
    page = without_script[(path, width)]
    assert page.problems == ()
    below = [s for s, inside in page.first.items() if not inside]
    assert below == [], f"{path} at {width} px: below the first screen: {below}"
    assert set(page.first) == set(FIRST_SCREEN[kind_of(path)])
    if kind_of(path) == "index":
        assert "maandag 4 april 2022, 13.00 uur" in page.texts[".golives li"]
    else:
        assert page.texts["#golive"] == f"Go-live: {GO_LIVE[path.split('/')[0]]}"
        for phase in PHASES:
            assert phase in page.texts[".glance .phases"]
    if kind_of(path) == "role":  # the role's earliest deadline first, with when it is
        assert re.match(r"\w+dag \d+ (maart|april), ", page.texts[".glance .deadlines > li"])
    assert page.marked == 0
    assert not page.now_shown
    assert page.now_words == ()
    assert page.buttons_shown == 0
    assert page.scroll_width <= width


@on("desktop", RUNBOOK_PAGES)
def test_timeline_marks_readable_without_hovering(desktop: Tab) -> None:
    """Every mark in a role's lane has its milestone number written under it, where
    nothing else is written: the lanes read without hovering."""
    lanes: list[dict[str, list[dict[str, Any]]]] = desktop.page.eval_on_selector(
        ".timeline svg",
        """svg => [...svg.querySelectorAll("g")]
            .filter(g => g.querySelector(":scope > line.lane-line"))
            .map(g => {
              const box = e => { const b = e.getBoundingClientRect();
                                 return {left: b.left, right: b.right, top: b.top,
                                         bottom: b.bottom}; };
              return {
                marks: [...g.querySelectorAll(":scope > circle, :scope > rect")].map(m =>
                  ({id: m.querySelector("title").textContent.split(" ")[0], ...box(m)})),
                labels: [...g.querySelectorAll(":scope > text.mark-label")].map(t =>
                  ({id: t.textContent, size: parseFloat(getComputedStyle(t).fontSize),
                    shown: getComputedStyle(t).visibility === "visible", ...box(t)})),
              };
            })""",
    )
    assert lanes
    for lane in lanes:
        marks = {m["id"]: m for m in lane["marks"]}
        assert sorted(label["id"] for label in lane["labels"]) == sorted(marks)
        for label in lane["labels"]:
            mark = marks[label["id"]]
            middle = (label["left"] + label["right"]) / 2
            assert mark["left"] - 1 <= middle <= mark["right"] + 1, label["id"]
            assert label["top"] >= mark["top"]  # under its mark
            assert label["shown"]
            assert label["size"] >= 10
        for a, b in itertools.combinations(lane["labels"], 2):
            apart = (
                a["right"] <= b["left"]
                or b["right"] <= a["left"]
                or a["bottom"] <= b["top"]
                or b["bottom"] <= a["top"]
            )
            assert apart, f"{desktop.path}: labels {a['id']} and {b['id']} overlap"


@on("desktop", SHOT_PAGES)
def test_first_screen_screenshot(desktop: Tab, screenshots: Path) -> None:
    """The first screen as a reader sees it with a script, on 29 March 2022, saved for
    review (`*-first-screen.png`)."""
    desktop.page.evaluate("window.scrollTo(0, 0)")
    name = desktop.path.removesuffix(".html").replace("/", "__")
    desktop.page.screenshot(path=str(screenshots / f"{name}-first-screen.png"))


@on("phone", SHOT_PAGES)
def test_first_screen_screenshot_phone(phone: Tab, screenshots: Path) -> None:
    phone.page.evaluate("window.scrollTo(0, 0)")
    name = phone.path.removesuffix(".html").replace("/", "__")
    phone.page.screenshot(path=str(screenshots / f"{name}-phone-first-screen.png"))
