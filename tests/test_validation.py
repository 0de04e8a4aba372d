"""Every validation error and warning, as the user sees it: `calgen validate` output.

Each `tests/testdata/invalid/NAME.yaml` has its expected messages in `NAME.expected`
(a snapshot, reviewed like code; `pytest --update-golden` rewrites them).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from calgen.cli import main
from tests.conftest import ROOT, TESTDATA, check_golden

INVALID = sorted((TESTDATA / "invalid").glob("*.yaml"))
WARNINGS = sorted((TESTDATA / "warnings").glob("*.yaml"))


def _validate(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *flags: str
) -> tuple[int, str]:
    # run from the testdata folder so that messages name files as a user would type them
    monkeypatch.chdir(TESTDATA)
    code = main(["validate", *flags, str(path.relative_to(TESTDATA))])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("path", INVALID, ids=[p.stem for p in INVALID])
def test_invalid_runbook_messages(
    path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    update_golden: bool,
) -> None:
    code, err = _validate(path, capsys, monkeypatch)
    assert code == 1
    assert "Traceback" not in err
    for line in err.splitlines():
        assert line.startswith(f"invalid/{path.name}:"), line
        location = line.split(": ", 1)[0].split(":")
        assert int(location[1]) >= 1, f"no line in {line}"
        assert int(location[2]) >= 1, f"no column in {line}"
    check_golden(path.with_suffix(".expected"), err, update_golden)


@pytest.mark.parametrize("path", WARNINGS, ids=[p.stem for p in WARNINGS])
def test_warnings_do_not_fail(
    path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    update_golden: bool,
) -> None:
    code, err = _validate(path, capsys, monkeypatch)
    assert code == 0
    lines = err.splitlines()
    assert lines[-1] == "1 runbook(s) valid"
    assert all(": warning: " in line for line in lines[:-1])
    check_golden(path.with_suffix(".expected"), err, update_golden)


@pytest.mark.parametrize("path", WARNINGS, ids=[p.stem for p in WARNINGS])
def test_strict_turns_warnings_into_failure(
    path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, err = _validate(path, capsys, monkeypatch, "--strict")
    assert code == 1
    assert ": warning: " in err


def test_weekend_and_holiday_named(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, err = _validate(TESTDATA / "warnings" / "weekend-and-holiday.yaml", capsys, monkeypatch)
    assert "3.1.1 falls on a non-working day: zaterdag 2022-03-26" in err
    assert "3.1.2 falls on a non-working day: zondag 2022-03-27" in err
    assert "3.1.3 falls on a non-working day: vrijdag 2022-04-15, Goede vrijdag" in err
    assert "3.1.4 falls on a non-working day: maandag 2022-04-18, Tweede paasdag" in err
    assert "3.1.5" not in err  # a Wednesday


def test_seed_2018_sunday_is_a_warning(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(TESTDATA.parent.parent)
    assert main(["validate", "runbooks/iwmo-2.1-2.2.yaml"]) == 0
    err = capsys.readouterr().err
    assert "warning: milestone 3.1.1 falls on a non-working day: zondag 2018-03-18" in err


def test_all_files_reported_in_one_run(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(TESTDATA)
    code = main(["validate", "invalid/dst-gap.yaml", "invalid/dst-fold.yaml"])
    err = capsys.readouterr().err
    assert code == 1
    assert "invalid/dst-gap.yaml:13:40:" in err
    assert "invalid/dst-fold.yaml:13:40:" in err


@pytest.mark.parametrize(
    ("old", "new", "where"),
    [
        (
            "    email: info@istandaarden.nl",
            '    email: "info@istandaarden.nl?bcc=attacker@evil.example&body=x"',
            "contacts.yaml:10:12: not a valid e-mail address",
        ),
        (
            "        email: support@vecozo.nl",
            '        email: "support@-vecozo.nl"',
            "contacts.yaml:32:16: not a valid e-mail address: 'support@-vecozo.nl' (a domain "
            "label that starts or ends with a hyphen",
        ),
    ],
)
def test_contact_addresses_are_checked_like_subscribers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], old: str, new: str, where: str
) -> None:
    """A contact's address becomes a mailto: link on every page: one with `?bcc=` or an
    impossible domain is refused at its line (issue 19)."""
    runbooks = tmp_path / "runbooks"
    shutil.copytree(ROOT / "runbooks", runbooks)
    contacts = runbooks / "shared" / "contacts.yaml"
    text = contacts.read_text(encoding="utf-8")
    assert old in text
    contacts.write_text(text.replace(old, new), encoding="utf-8")
    assert main(["validate", str(runbooks)]) == 1
    assert where in capsys.readouterr().err
