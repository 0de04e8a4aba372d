"""Honest subjects and bodies (issue 22, item 4, and item 5's did-you-mean): "te laat"
only for what was late, and counted; items counted as what they are; subjects within
100 characters for both seeds and every role, read back by a mail parser exactly as
written; a change notice links each moved milestone to its row on the built page; an
unknown role in the subscribers file gets a did-you-mean.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import shutil
from email.headerregistry import Address
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest

from calgen.cli import main
from calgen.core import schedule
from calgen.notify import changes, due
from calgen.notify.compose import Composer, Rendered
from calgen.render.changes import MilestoneState, snapshot
from calgen.render.templating import environment
from calgen.runbook.context import MAX_SUGGESTIONS
from calgen.runbook.model import Runbook
from calgen.runbook.validate import load_runbook
from tests.conftest import ROOT
from tests.test_notify_changes import MOVED, RUNBOOK, _version_1_1
from tests.test_notify_input import _outbox

BASE = "https://draaiboeken.example.org"
SEEDS = sorted((ROOT / "runbooks").glob("*.yaml"))
SENDER = Address("Draaiboek", "draaiboek", "example.org")
LIMIT = 100


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.copytree(ROOT / "runbooks", tmp_path / "runbooks")
    (tmp_path / "runbooks" / "iwmo-2.1-2.2.yaml").unlink()  # the 2022 runbook alone
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _subscribers(text: str) -> None:
    Path("subscribers.yaml").write_text(f"subscribers:\n{text}", encoding="utf-8")


def _notify(*args: str, at: str) -> int:
    return main(
        ["notify", "--subscribers", "subscribers.yaml", "--base-url", BASE, "--at", at, *args]
    )


def _part(message: EmailMessage, kind: str) -> str:
    body = message.get_body((kind,))
    assert body is not None
    return str(body.get_content())


def _load(path: Path) -> Runbook:
    runbook, diags = load_runbook(path)
    assert runbook is not None
    assert not diags.errors
    return runbook


# --------------------------------------------------------------------------- reminders


def test_a_reminder_counts_what_is_late_and_what_each_item_is(workspace: Path) -> None:
    """The issue's case: on 23 March 17:05 four reminders are due for gemeenten; the
    advice's and phase 1's were due the evening before (late), 3.1.3's and 3.2.1's five
    minutes ago (on time)."""
    _subscribers("  gemeenten: [planning@gemeente.nl]\n")
    assert _notify("--outbox", "first", at="2022-03-22 09:00") == 0  # earlier ones: expired
    assert _notify("--outbox", "second", at="2022-03-23 17:05") == 0
    [message] = _outbox("second")
    assert message["Subject"] == (
        "[2 van 4 te laat] Herinnering Migratie naar iWmo/iJw 3.1: 2 mijlpalen, 1 fase en 1 advies"
    )
    text = _part(message, "plain")
    assert "voor gemeenten,\nover 2 mijlpalen, 1 fase en 1 advies.\n" in text
    assert (
        "Let op: 2 van de 4 herinneringen hieronder komen te laat:\n"
        "- Advies: geen nieuwe declaratieberichten verzenden"
        " (bedoeld voor dinsdag 22 maart 2022, 18.00 uur)\n"
        "- Fase 1: afsluiting (bedoeld voor dinsdag 22 maart 2022, 18.00 uur)\n\n"
    ) in text
    assert "een of meer" not in text
    assert text.count("te laat verstuurd") == 2  # beside the two late entries only
    on_time = text[text.index("\n3.1.3 Alle heenberichten") :]
    assert "te laat" not in on_time.split("\n\n3.2.1")[0]
    markup = " ".join(_part(message, "html").split())
    assert "voor gemeenten, over 2 mijlpalen, 1 fase en 1 advies.</p>" in markup
    assert "2 van de 4 herinneringen hieronder komen te laat:</p>" in markup
    assert "<li>Fase 1: afsluiting (bedoeld voor dinsdag 22 maart 2022, 18.00 uur)</li>" in markup
    assert "<li>3.1.3" not in markup
    assert '<th align="left">Onderwerp</th>' in markup  # not every item is a milestone


def test_one_late_item_names_it_and_its_day_within_the_limit(workspace: Path) -> None:
    """A single item: its title, cut at a word to make room for its day, and a non-ASCII
    "…" read back without a doubled space or a leading one."""
    _subscribers("  zorgaanbieders: [backoffice@aanbieder.nl]\n")
    assert _notify("--outbox", "outbox", at="2022-03-22 09:00") == 0
    [message] = _outbox("outbox")
    subject = message["Subject"]
    assert subject == (
        "[te laat] Herinnering Migratie naar iWmo/iJw 3.1: 3.1.1 Alle declaratieberichten…,"
        " 23 maart"
    )
    text = _part(message, "plain")
    assert "over 1 mijlpaal.\n" in text
    assert "Let op: deze herinnering komt te laat; ze was bedoeld voor woensdag 16 maart" in text
    assert "3.1.1 Alle declaratieberichten verzonden (323)\n" in text  # whole in the body


def test_an_item_whose_latest_reminder_is_on_time_is_not_late(workspace: Path) -> None:
    """A first run at 29 March 18:00 catches up: 3.1.3's one-week reminder (23 March) was
    missed, its one-working-day reminder (29 March 17:00) is on time, so 3.1.3 is not
    late; the items whose latest reminder was missed are."""
    _subscribers("  gemeenten: [planning@gemeente.nl]\n")
    assert _notify("--outbox", "outbox", at="2022-03-29 18:00") == 0
    [message] = _outbox("outbox")
    assert message["Subject"] == (
        "[8 van 10 te laat] Herinnering Migratie naar iWmo/iJw 3.1: 8 mijlpalen, 1 fase en 1 advies"
    )
    text = _part(message, "plain")
    late = text[text.index("Let op: 8 van de 10") : text.index("\n\n", text.index("Let op"))]
    assert late.count("\n- ") == 8
    assert "3.1.3" not in late
    assert "- 3.1.5 Alle retourberichten" in late
    entry = text[text.index("\n3.1.3 ") : text.index("\n3.2.1 ")]
    assert "te laat" not in entry


def _subjects(composer: Composer, runbook: Runbook) -> list[tuple[str, EmailMessage]]:
    """Every reminder a role of `runbook` can get: each item alone, all at once (late,
    on time, and every other one late), each rendered and parsed as a message."""
    items = due.items(runbook, BASE)
    after = max(i.end or i.start for i in items) + dt.timedelta(days=1)
    found = []
    for role in runbook.roles:
        dues = list(due.role_dues(runbook, items, role.id, after))
        assert dues
        mixed = [dataclasses.replace(d, late=i % 2 == 0) for i, d in enumerate(dues)]
        on_time = [dataclasses.replace(d, late=False) for d in dues]
        for group in [dues, mixed, on_time, *([d] for d in dues), *([d] for d in on_time)]:
            key, rendered = composer.reminder(runbook, role.id, group)
            found.append((rendered.subject, _message(composer, key, rendered, role.id)))
    return found


def _message(
    composer: Composer, key: tuple[object, ...], rendered: Rendered, role: str
) -> EmailMessage:
    mail = composer.message(
        key,
        rendered,
        to=Address("Planner", "planner", "example.nl"),
        date="Wed, 23 Mar 2022 16:05:00 +0000",
        msgid="<x@example.org>",
        role=role,
    )
    parsed = email.message_from_bytes(mail.data, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _notices(composer: Composer, runbook: Runbook) -> list[tuple[str, EmailMessage]]:
    """Change notices of `runbook` for every role: every milestone a day later (and one
    cancelled, one added), and each change alone."""
    old = snapshot(runbook)
    day = dt.timedelta(days=1)
    new = {
        mid: dataclasses.replace(s, start=s.start + day, end=s.end and s.end + day)
        for mid, s in old.items()
    }
    first = next(iter(old))
    del new[first]
    new["9.9.9"] = MilestoneState(
        title="Nieuwe mijlpaal", roles=("gemeenten",), start=old[first].start, end=None
    )
    notice = changes.notice(runbook, "1.0", old, "1.1", new)
    found = []
    for role in sorted(notice.roles):
        lines = notice.lines_for([role])
        for group in [lines, *([line] for line in lines)]:
            key, rendered = composer.notice(runbook, [role], "1.0", "1.1", group)
            found.append((rendered.subject, _message(composer, key, rendered, role)))
    return found


@pytest.mark.parametrize("path", SEEDS, ids=lambda p: p.stem)
def test_every_subject_of_both_seeds_stays_short_and_reads_back_as_written(path: Path) -> None:
    runbook = _load(path)
    composer = Composer(environment(), SENDER, BASE)
    reminders, notices = _subjects(composer, runbook), _notices(composer, runbook)
    assert len(reminders) > 40
    assert len(notices) > 10
    for subject, parsed in reminders + notices:
        assert len(subject) < LIMIT, subject
        assert parsed["Subject"] == subject  # no fold adds a space, none is lost
    said = {s for s, _ in reminders}
    assert all("Herinnering Migratie naar iWmo" in s for s in said)
    assert any(s.startswith("[te laat] ") for s in said)
    assert any(s.startswith("[") and " van " in s.split("]")[0] for s in said)
    assert any(not s.startswith("[") for s in said)
    assert any("…" in s for s in said)  # a long title cut, the day kept
    assert any(" fasen, 1 advies en " in s for s in said)  # counted as what they are
    told = {s for s, _ in notices}
    assert any(s.endswith(" mijlpalen verschoven, 9.9.9 toegevoegd") for s in told)
    assert any(s.endswith(", versie 1.1: 3.1.2 verschoven") for s in told)


# --------------------------------------------------------------------------- change notices


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.ids.update(v for k, v in attrs if k == "id" and v)


def _anchors(page: Path) -> set[str]:
    parser = _Ids()
    parser.feed(page.read_text(encoding="utf-8"))
    return parser.ids


def test_a_change_notice_links_each_moved_row_on_the_built_page(workspace: Path) -> None:
    """Built with `calgen build`, announced by `calgen notify`: every moved milestone in
    a notice links to `<base>/<runbook>/#m-<id>`, and the built page has that row."""
    _subscribers("  gemeenten: [a@gemeente.nl]\n  zorgaanbieders: [z@aanbieder.nl]\n")
    assert main(["build", "--out", "dist", "--base-url", BASE]) == 0
    assert _notify("--outbox", "first", at="2021-11-24 09:00") == 0  # records 1.0
    _version_1_1(RUNBOOK)  # 3.1.2 and 3.1.3 a day later
    assert main(["build", "--out", "dist", "--base-url", BASE]) == 0
    assert _notify("--outbox", "outbox", at="2021-11-24 09:00") == 0
    notices = _outbox("outbox")
    assert sorted(str(m["To"]) for m in notices) == ["a@gemeente.nl", "z@aanbieder.nl"]
    for message in notices:
        moved = next(mid for mid, role in MOVED.items() if role in str(message["List-Id"]))
        subject = message["Subject"]
        assert subject == f"Gewijzigd: Migratie naar iWmo/iJw 3.1, versie 1.1: {moved} verschoven"
        link = f"{BASE}/{RUNBOOK}/#m-{moved}"
        text = _part(message, "plain")
        assert f"\n- {moved} verschoven van " in text
        who = MOVED[moved].removeprefix("zorg")  # 3.1.2's title says `aanbieders`
        assert f" 17.00 uur (Alle heenberichten verzonden door {who})\n  {link}\n" in text
        markup = _part(message, "html")
        assert f'<li><a href="{link}">{moved}</a> verschoven van ' in markup
        folder, _, anchor = link.removeprefix(f"{BASE}/").partition("#")
        assert anchor in _anchors(workspace / "dist" / folder / "index.html")


def test_stored_notice_lines_stay_readable_and_only_rows_on_the_page_are_linked() -> None:
    """Lines as the notify state keeps them: plain text, some written before the verb was
    settled (`verplaatst`) or in no form calgen writes. A cancelled milestone, or one the
    runbook no longer has, gets no link."""
    runbook = _load(ROOT / "runbooks" / f"{RUNBOOK}.yaml")
    composer = Composer(environment(), SENDER, BASE)
    lines = [
        "3.1.2 verplaatst van woensdag 30 maart 2022, 17.00 uur naar donderdag 31 maart 2022,"
        " 17.00 uur (Alle heenberichten verzonden door aanbieders)",
        "3.1.3 verschoven van woensdag 30 maart 2022, 17.00 uur naar donderdag 31 maart 2022,"
        " 17.00 uur (Alle heenberichten verzonden door gemeenten)",
        "9.9.9 toegevoegd: Iets nieuws, donderdag 31 maart 2022, 17.00 uur",
        "3.1.4 vervallen: Iets ouds (was donderdag 31 maart 2022, 17.00 uur)",
        "een regel van elders",
    ]
    assert [changes.about(line) for line in lines] == [
        ("3.1.2", "verschoven"),
        ("3.1.3", "verschoven"),
        ("9.9.9", "toegevoegd"),
        ("3.1.4", "vervallen"),
        ("", ""),
    ]
    _, rendered = composer.notice(runbook, ["gemeenten"], "1.0", "1.1", lines)
    head = "Gewijzigd: Migratie naar iWmo/iJw 3.1, versie 1.1: "
    assert rendered.subject == f"{head}5 wijzigingen"  # the only form that fits
    for mid in ("3.1.2", "3.1.3"):
        assert f"  {BASE}/{RUNBOOK}/#m-{mid}\n" in rendered.text
        assert f'<a href="{BASE}/{RUNBOOK}/#m-{mid}">{mid}</a>' in rendered.html
    for mid in ("9.9.9", "3.1.4"):
        assert f"#m-{mid}" not in rendered.text + rendered.html
    assert "<li>een regel van elders</li>" in rendered.html
    # the most the subject can say: the ids, else how many of each
    for some, said in [
        (lines[:3], "3.1.2 en 3.1.3 verschoven, 9.9.9 toegevoegd"),
        (lines[:4], "2 verschoven, 1 toegevoegd en 1 vervallen"),
        (lines[2:4], "9.9.9 toegevoegd, 3.1.4 vervallen"),
    ]:
        _, fewer = composer.notice(runbook, ["gemeenten"], "1.0", "1.1", some)
        assert fewer.subject == head + said


# --------------------------------------------------------------------------- did-you-mean


def test_an_unknown_role_gets_a_did_you_mean_with_file_and_line(
    workspace: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _subscribers(
        "  gemeenten: [a@gemeente.nl]\n  gemeentes: [b@gemeente.nl]\n  onbekend: [c@x.nl]\n"
    )
    assert _notify("--outbox", "outbox", at="2022-03-29 17:30") == 1
    err = capsys.readouterr().err
    known = "(known: gemeenten, inlichtingenbureau, vecozo, zorgaanbieders)"
    assert (
        f"subscribers.yaml:3:3: unknown role 'gemeentes'; did you mean 'gemeenten'? {known};"
        " skipped: that entry gets nothing, everyone else does"
    ) in err
    assert f"subscribers.yaml:4:3: unknown role 'onbekend' {known}" in err
    assert [str(m["To"]) for m in _outbox("outbox")] == ["a@gemeente.nl"]


def test_did_you_means_are_bounded(workspace: Path, capsys: pytest.CaptureFixture[str]) -> None:
    many = MAX_SUGGESTIONS + 30
    _subscribers("".join(f"  gemeente{i}: [a{i}@gemeente.nl]\n" for i in range(many)))
    assert _notify("--outbox", "outbox", "--dry-run", at="2022-03-29 17:30") == 1
    err = capsys.readouterr().err
    assert err.count("unknown role 'gemeente") == many
    assert err.count("did you mean 'gemeenten'?") == MAX_SUGGESTIONS


def test_subject_day_is_amsterdam_time() -> None:
    """The day in a one-item subject is the Dutch calendar day, also for an item at
    00:30 Amsterdam time (still the day before in UTC)."""
    runbook = _load(ROOT / "runbooks" / f"{RUNBOOK}.yaml")
    composer = Composer(environment(), SENDER, BASE)
    item = due.items(runbook, BASE)[0]
    moment = dt.datetime(2022, 3, 24, 0, 30, tzinfo=schedule.AMSTERDAM)
    shifted = dataclasses.replace(item, start=moment.astimezone(dt.UTC), end=None)
    lead = runbook.reminders.leads(item.kind, "gemeenten", item.own)[0]
    single = due.Due(item=shifted, lead=lead, trigger=moment, late=False)
    _, rendered = composer.reminder(runbook, "gemeenten", [single])
    assert rendered.subject.endswith(", 24 maart")
