"""Hostile and broken input, injection, and a published dist that is never damaged."""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import subprocess
import sys
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest
from icalendar import Calendar
from markdown_it import MarkdownIt

from calgen.cli import main
from calgen.runbook.validate import load_runbook
from calgen.site.outputs import render_all
from tests.conformance_readers import read_icaljs
from tests.conftest import ROOT, TESTDATA

HOSTILE = TESTDATA / "hostile" / "hostile.yaml"


@pytest.fixture(scope="module")
def hostile() -> dict[str, bytes]:
    runbook, _ = load_runbook(HOSTILE)
    return render_all([runbook], base_url="https://draaiboeken.example.org")


# --------------------------------------------------------------------------- injection


def test_feed_text_cannot_add_properties_or_events(
    hostile: dict[str, bytes], tmp_path: Path
) -> None:
    data = hostile["hostile/all.ics"]
    cal = Calendar.from_ical(data)
    events = cal.walk("VEVENT")
    assert len(events) == 3 + 2 + 1  # phases, milestones, the dated fact
    uids = {str(e["UID"]) for e in events}
    assert not any("evil" in u for u in uids)
    first = next(e for e in events if str(e["SUMMARY"]).startswith("3.1.1 "))
    assert str(first["SUMMARY"]) == "3.1.1 Inject\nBEGIN:VEVENT\nUID:evil;x,y\nEND:VEVENT (301)"
    fact = next(e for e in events if str(e["UID"]).startswith("datum-"))
    assert "ATTACH" not in fact
    assert "DESCRIPTION:evil\nATTACH:http://evil" in str(fact["DESCRIPTION"])
    assert data.count(b"\r\nBEGIN:VCALENDAR\r\n") + data.startswith(b"BEGIN:VCALENDAR") == 1
    path = tmp_path / "all.ics"
    path.write_bytes(data)
    assert len(read_icaljs(path)) == 6  # Thunderbird's parser sees the same


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.handlers: list[str] = []
        self.rows = 0
        self.title = ""
        self._in_title = False
        self.scripts: list[str] = []  # the text of each <script>
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        self.handlers += [f"{n}={v}" for n, v in attrs if (v or "").startswith("javascript:")]
        if tag == "tr" and any(n == "id" and (v or "").startswith("m-") for n, v in attrs):
            self.rows += 1
        self._in_title = tag == "title" and not self.title
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        if self._in_script:
            self.scripts[-1] += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False
        self._in_script = False


@pytest.mark.parametrize("page", ["index.html", "gemeenten.html"])
def test_html_text_stays_text(hostile: dict[str, bytes], page: str) -> None:
    parsed = _Elements()
    parsed.feed(hostile[f"hostile/{page}"].decode())
    # the one script is calgen's own (templates/html/page.js), none from the runbook
    own = (ROOT / "templates" / "html" / "page.js").read_text(encoding="utf-8")
    assert [text.strip() for text in parsed.scripts] == [own.strip()]
    assert "img" not in parsed.tags
    assert parsed.handlers == []
    assert parsed.title.startswith("Draaiboek <script>window.__pwned=1</script> \"quote' & co")
    assert parsed.rows == (2 if page == "index.html" else 1)


def test_markdown_table_and_html_stay_intact(hostile: dict[str, bytes]) -> None:
    text = hostile["hostile/runbook.md"].decode()
    # a permissive renderer (raw HTML on) still finds no HTML from the runbook's text
    tokens = MarkdownIt("commonmark", {"html": True}).enable("table").parse(text)
    html = [t for t in tokens if t.type == "html_block"]
    inline_html = [c.content for t in tokens for c in (t.children or []) if c.type == "html_inline"]
    assert html == []
    assert set(inline_html) <= {'<a id="m-3.1.1">', '<a id="m-3.1.2">', "</a>", "<br>"}
    rows = [t for t in tokens if t.type == "tr_open"]
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(rows) == 1 + 2  # header and the two milestones
    assert len(cells) == 2 * 5


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("id: hostile", "id: ../evil", "is not a runbook id of lowercase letters"),
        ("id: hostile", "id: a/b", "is not a runbook id of lowercase letters"),
        ("id: hostile", "id: index.html", "not ending in .ics, .html, .md, .json"),
        ("roles: [gemeenten]\n    actionholder", "roles: [all]\n    actionholder", "not all,"),
        ("roles: [gemeenten]\n    actionholder", "roles: [index]\n    actionholder", "index"),
        (
            "roles: [gemeenten]\n    actionholder",
            "roles: [../gemeenten]\n    actionholder",
            "is not a role id",
        ),
    ],
)
def test_ids_cannot_make_paths(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: str, message: str
) -> None:
    path = tmp_path / "evil.yaml"
    shutil.copytree(HOSTILE.parent / "shared", tmp_path / "shared")
    text = HOSTILE.read_text(encoding="utf-8")
    assert field in text
    path.write_text(text.replace(field, value, 1), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["build", str(path), "--out", str(out)]) == 1
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.yaml", "shared"]


# --------------------------------------------------------------------------- publish


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert main(["build"]) == 0
    return tmp_path


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_runbook_failing_late_leaves_dist_as_it_was(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = _tree(workspace / "dist")
    runbook = workspace / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
    runbook.write_text(
        runbook.read_text(encoding="utf-8").replace("door aanbieders", "door zorgaanbieders", 1),
        encoding="utf-8",
    )
    # sorts after the seeds: loaded last
    (workspace / "runbooks" / "zz-broken.yaml").write_text("id: zz\n", encoding="utf-8")
    assert main(["build"]) == 1
    assert "nothing was written" in capsys.readouterr().err
    assert _tree(workspace / "dist") == before


def test_killed_build_leaves_old_or_new_tree(workspace: Path) -> None:
    """Kill builds at many moments: dist is always the old tree or the new one, whole."""
    source = (workspace / "runbooks" / "iwmo-ijw-3.0-3.1.yaml").read_text(encoding="utf-8")
    for n in range(12):  # more runbooks: a longer build, more moments to hit
        text = source.replace("id: iwmo-ijw-3.0-3.1", f"id: kopie-{n}")
        (workspace / "runbooks" / f"kopie-{n}.yaml").write_text(text, encoding="utf-8")
    old = _tree(workspace / "dist")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    command = [sys.executable, "-m", "calgen", "build"]
    outcomes = set()
    for delay in (0.3, 0.6, 0.9, 1.2, 1.5, 1.8, 2.4, 3.0):
        proc = subprocess.Popen(command, cwd=workspace, env=env, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = _tree(workspace / "dist")
        if now == old:
            outcomes.add("old")
        else:
            assert len(now) == len(old) + 12 * 12, "a partial tree was published"
            outcomes.add("new")
            break
    subprocess.run(command, cwd=workspace, env=env, check=True, stderr=subprocess.DEVNULL)
    new = _tree(workspace / "dist")
    assert set(new) > set(old)
    # the next build clears what killed builds left beside dist
    assert [p.name for p in workspace.iterdir() if "calgen-new" in p.name] == []
    assert outcomes


def test_a_second_build_is_refused_while_one_runs(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runbook = workspace / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
    runbook.write_text(
        runbook.read_text(encoding="utf-8").replace("door aanbieders", "door zorgaanbieders", 1),
        encoding="utf-8",
    )
    before = _tree(workspace / "dist")
    with open(workspace / ".dist.calgen-lock", "a+b") as held:
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        assert main(["build"]) == 1
        err = capsys.readouterr().err
        assert "another calgen build is writing" in err
        assert "nothing was written" in err
    assert _tree(workspace / "dist") == before
    assert main(["build"]) == 0


def test_concurrent_builds_do_not_interleave(workspace: Path) -> None:
    runbook = workspace / "runbooks" / "iwmo-ijw-3.0-3.1.yaml"
    runbook.write_text(
        runbook.read_text(encoding="utf-8").replace("door aanbieders", "door zorgaanbieders", 1),
        encoding="utf-8",
    )
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1700000000"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "calgen", "build"],
            cwd=workspace,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    results = [(p.wait(), p.stderr.read() if p.stderr else "") for p in procs]
    for p in procs:
        if p.stderr:
            p.stderr.close()
    assert any(code == 0 for code, _ in results)
    for code, err in results:
        assert code == 0 or "another calgen build is writing" in err
    assert main(["build", "--check"]) == 0  # what is there is one whole build


def test_reproducible_across_zone_locale_and_hash_seed(tmp_path: Path) -> None:
    outputs = []
    for n, extra in enumerate(
        [
            {"TZ": "UTC", "LC_ALL": "C", "PYTHONHASHSEED": "1"},
            {"TZ": "America/New_York", "LC_ALL": "C.UTF-8", "PYTHONHASHSEED": "12345"},
        ]
    ):
        out = tmp_path / f"out{n}"
        env = {**os.environ, **extra}
        env.pop("SOURCE_DATE_EPOCH", None)
        subprocess.run(
            [sys.executable, "-m", "calgen", "build", "--out", str(out)],
            cwd=ROOT,
            env=env,
            check=True,
            stderr=subprocess.DEVNULL,
        )
        outputs.append(_tree(out))
    assert outputs[0] == outputs[1]
    assert outputs[0]


@pytest.mark.parametrize(
    "url", ["https://x.org\r\nATTACH:evil", 'https://x.org/"onload=x', "javascript:alert(1)"]
)
def test_base_url_cannot_inject(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], url: str
) -> None:
    assert main(["build", str(HOSTILE), "--out", str(tmp_path / "out"), "--base-url", url]) == 2
    assert "is not an http(s) URL" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- links

LINKS = TESTDATA / "hostile" / "links.yaml"
ALLOWED_LINKS = ("http:", "https:", "mailto:", "tel:", "webcal:")  # webcal: calgen's own


class _Links(HTMLParser):
    """Every href and src as a browser's HTML parser sees them."""

    def __init__(self) -> None:
        super().__init__()
        self.hrefs: list[str] = []
        self.loads: list[str] = []  # anything that would fetch: img, script, iframe, …

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name == "href" and tag == "a":
                self.hrefs.append(value or "")
            elif name in ("src", "srcset", "poster", "data") or tag in ("img", "iframe"):
                self.loads.append(f"{tag} {name}={value}")


@pytest.fixture(scope="module")
def links_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("links") / "site"
    assert main(["build", str(LINKS), "--out", str(out), "--base-url", "https://x.example"]) == 0
    return out


def _scheme(href: str) -> str:
    return href.split(":", 1)[0] + ":" if ":" in href.split("/", 1)[0] else "relative"


@pytest.mark.parametrize("page", ["links/index.html", "links/gemeenten.html"])
def test_links_from_data_pass_the_allow_list_in_pages(links_site: Path, page: str) -> None:
    parsed = _Links()
    parsed.feed((links_site / page).read_text(encoding="utf-8"))
    assert parsed.loads == []
    schemes = {_scheme(h) for h in parsed.hrefs}
    assert schemes <= {*ALLOWED_LINKS, "relative"}, parsed.hrefs
    # the image is a plain link to it; the good link stays a link
    assert "https://tracker.example/p.png" in parsed.hrefs
    text = (links_site / page).read_text(encoding="utf-8")
    assert "javascript" not in "".join(parsed.hrefs).lower()
    if page.endswith("index.html"):
        assert "https://ok.example/pagina" in parsed.hrefs
        # the contact's `web` shows as text, never as a link
        assert "javascript://%0Aalert(document.domain)" in text
        assert "https://www.istandaarden.nl" not in parsed.hrefs


def test_links_from_data_pass_the_allow_list_in_runbook_md(links_site: Path) -> None:
    text = (links_site / "links" / "runbook.md").read_text(encoding="utf-8")
    # a permissive reader: raw HTML on, GFM tables, any link scheme accepted
    reader = MarkdownIt("commonmark", {"html": True}).enable("table")
    reader.validateLink = lambda url: True  # type: ignore[method-assign]
    tokens = reader.parse(text)
    inline = [c for t in tokens for c in (t.children or [])]
    assert [c for c in inline if c.type == "image"] == []
    hrefs = [str(c.attrGet("href")) for c in inline if c.type == "link_open"]
    assert {_scheme(h) for h in hrefs} <= {*ALLOWED_LINKS, "relative"}, hrefs
    # time_label with `|` and a line break stays one cell of one row
    rows = [t for t in tokens if t.type == "tr_open"]
    cells = [t for t in tokens if t.type == "td_open"]
    assert (len(rows), len(cells)) == (2, 5)
    assert "12:00 \\| 13:00 of later" in text


def test_links_from_data_pass_the_allow_list_in_mail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shutil.copytree(LINKS.parent, tmp_path / "runbooks")
    (tmp_path / "runbooks" / "hostile.yaml").unlink()
    (tmp_path / "subscribers.yaml").write_text(
        'from: "Draaiboek <draaiboek@example.org>"\nsubscribers:\n  gemeenten: [a@example.org]\n'
    )
    monkeypatch.chdir(tmp_path)
    argv = ["notify", "--subscribers", "subscribers.yaml", "--outbox", "outbox"]
    assert main([*argv, "--at", "2022-03-29 17:30", "--base-url", "https://x.example"]) == 0
    import email
    import email.policy

    (eml,) = sorted((tmp_path / "outbox").glob("*.eml"))
    message = email.message_from_bytes(eml.read_bytes(), policy=email.policy.default)
    html = message.get_body(("html",))
    assert html is not None
    parsed = _Links()
    parsed.feed(html.get_content())
    assert parsed.loads == []
    assert {_scheme(h) for h in parsed.hrefs} <= {*ALLOWED_LINKS, "relative"}, parsed.hrefs
    # runbook text is plain text in mail: the only links are calgen's own, from the base URL
    assert parsed.hrefs
    assert all(h.startswith("https://x.example/links/") for h in parsed.hrefs), parsed.hrefs
