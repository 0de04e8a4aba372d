"""The command line's grammar: every command, option and help text of `calgen`, and every
range and format check of an argument (a bad one is a usage error, exit 2).

calgen.cli.commands runs what this parses; nothing here reads files or imports the pipeline
(only calgen.core.schedule, for the years calgen plans and Amsterdam's wall clock).
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from calgen import __version__
from calgen.core import schedule

N = TypeVar("N", int, float)
DEFAULT_RUNBOOKS = Path("runbooks")
DEFAULT_OUT = Path("dist")


def _bounded(kind: Callable[[str], N], low: N, high: N) -> Callable[[str], N]:
    """An argparse type: a number of `kind` from `low` to `high`, else a usage error."""

    def parse(text: str) -> N:
        try:
            if not text.isascii():  # int() and float() take any script's digits
                raise ValueError(text)
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not from {low} to {high}")
        return value

    return parse


_RELEASE = re.compile(r"[0-9]+\.[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _release(text: str) -> str:
    """`--from` and `--to`: a release number such as 3.1."""
    if not _RELEASE.fullmatch(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a release such as 3.1")
    return text


def _local_time(text: str) -> dt.datetime:
    """`"2022-03-30 17:00"`: a Europe/Amsterdam wall-clock time that exists once."""
    try:
        return schedule.parse_local(text)
    except schedule.TimeError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _day(text: str) -> dt.date:
    """`2026-12-03`: a date."""
    try:
        if not _DATE.fullmatch(text):
            raise ValueError(text)
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid date (YYYY-MM-DD)") from None


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="calgen",
        description="Turn migration runbook YAML into per-role iCalendar feeds.",
    )
    parser.add_argument("--version", action="version", version=f"calgen {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    build = sub.add_parser(
        "build",
        help="build dist/ from runbooks",
        description="Validate runbooks and write DIR/<runbook id>/all.ics and one feed per role.",
    )
    build.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="runbook file or folder of runbooks (default: runbooks/)",
    )
    build.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="DIR", help="default: dist/"
    )
    build.add_argument(
        "--check",
        action="store_true",
        help="build in memory; exit 1 listing every missing or stale file in DIR",
    )
    build.add_argument("--strict", action="store_true", help="treat warnings as errors")
    build.add_argument(
        "--base-url",
        metavar="URL",
        help="where DIR is published, e.g. https://example.org/draaiboeken: used for webcal:// "
        "links and the feeds' URL property (default: [tool.calgen] base-url in ./pyproject.toml;"
        " without one, links stay relative and feeds carry no URL)",
    )
    build.add_argument(
        "--templates",
        type=Path,
        metavar="DIR",
        help="folder with your own copies of templates; those found there replace the built-in",
    )

    validate = sub.add_parser(
        "validate",
        help="check runbooks without writing anything",
        description="Report every error (file:line:col: message) and warning; exit 1 on errors.",
    )
    validate.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    validate.add_argument("--strict", action="store_true", help="treat warnings as errors")

    schema = sub.add_parser(
        "schema",
        help="print the JSON Schema of the runbook format",
        description="Print the JSON Schema of runbooks (or, with --shared, of shared files).",
    )
    schema.add_argument("--shared", action="store_true", help="schema of runbooks/shared/*.yaml")

    holidays = sub.add_parser(
        "holidays",
        help="list the non-working days of a year",
        description="List the Dutch public holidays and closures of YEAR that are not working "
        "days (weekends are never working days and are not listed), with their Dutch names.",
    )
    holidays.add_argument(
        "year", type=_bounded(int, schedule.FIRST_YEAR, schedule.LAST_YEAR), metavar="YEAR"
    )
    holidays.add_argument(
        "--runbook",
        type=Path,
        metavar="FILE",
        help="apply the runbook's working_days (holidays counted as working, closures)",
    )

    notify = sub.add_parser(
        "notify",
        help="e-mail due reminders and change notices, once",
        description="Send each role's subscribers one message listing the reminders that "
        "are due and not yet sent (lead times as in the feeds), and one change notice when a "
        "new published version moves, adds or cancels their milestones. A SQLite state "
        "records what was queued, claimed and sent; one run at a time holds it. SMTP user "
        "and password come from CALGEN_SMTP_USER and CALGEN_SMTP_PASSWORD, never from the "
        "command line. Exit 0 when everything due went out, 1 when something could not be "
        "sent or the input is invalid, 2 for usage errors. With --status, --unsubscribe or "
        "--resubscribe it only reads or changes the state (no --subscribers, --smtp or "
        "--outbox needed).",
    )
    notify.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="default: runbooks/")
    notify.add_argument(
        "--subscribers", type=Path, metavar="FILE", help="the subscribers file (required to send)"
    )
    mode = notify.add_mutually_exclusive_group()
    mode.add_argument(
        "--status",
        action="store_true",
        help="print the queue (queued, claimed, deferred, sent, refused, cancelled, "
        "suppressed), the "
        "last run and the next moment a reminder falls due; exit 0 ok, 1 needs attention, "
        "3 the state cannot be read",
    )
    mode.add_argument(
        "--unsubscribe",
        metavar="ADDRESS",
        help="put ADDRESS on the suppression list (of --role, or of every role)",
    )
    mode.add_argument(
        "--resubscribe",
        metavar="ADDRESS",
        help="take ADDRESS off the suppression list (of --role, or of every role)",
    )
    notify.add_argument(
        "--role", type=_role, metavar="ROLE", help="with --unsubscribe or --resubscribe"
    )
    notify.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also list each expired reminder and repeat the runbooks' warnings",
    )
    notify.set_defaults(grammar=notify)  # for the checks in `parse`
    target = notify.add_mutually_exclusive_group()
    target.add_argument("--outbox", type=Path, metavar="DIR", help="write .eml files instead")
    target.add_argument("--smtp", metavar="URL", help="smtp://host:port or smtps://host:port")
    notify.add_argument("--starttls", action="store_true", help="STARTTLS after connecting")
    notify.add_argument(
        "--smtp-timeout",
        type=_bounded(float, 0.1, 3600),
        default=60.0,
        metavar="SECONDS",
        help="give up on a server that does not answer (default 60)",
    )
    notify.add_argument(
        "--at", type=_local_time, metavar='"YYYY-MM-DD HH:MM"', help="the moment (default: now)"
    )
    notify.add_argument(
        "--state",
        type=Path,
        default=Path("notify-state.sqlite"),
        metavar="FILE",
        help="the delivery state (default: notify-state.sqlite; a JSON state of an older "
        "calgen is migrated once)",
    )
    notify.add_argument(
        "--lock-wait",
        type=_bounded(float, 0, 3600),
        default=30.0,
        metavar="SECONDS",
        help="how long to wait for another run holding the state (default 30)",
    )
    notify.add_argument(
        "--dist",
        type=Path,
        default=DEFAULT_OUT,
        metavar="DIR",
        help="the published output, for change notices (default: dist/)",
    )
    notify.add_argument("--dry-run", action="store_true", help="only print what would go out")
    notify.add_argument(
        "--expire-days",
        type=_bounded(int, 0, 3650),
        default=14,
        metavar="N",
        help="do not send reminders of events over for more than N days (0-3650, default 14)",
    )
    notify.add_argument(
        "--retention-days",
        type=_bounded(int, 1, 3650),
        default=400,
        metavar="N",
        help="keep what the state records about an event until it has been over for N days "
        "(or --expire-days, if that is longer), then prune it and never plan its reminders "
        "again (1-3650, default 400)",
    )
    notify.add_argument("--base-url", metavar="URL", help="as for build, for links in the mail")

    diff = sub.add_parser(
        "diff",
        help="list moved, added and removed milestones between two runbooks",
        description="Compare two runbooks (two versions, or two releases) milestone by "
        "milestone; prints one Dutch line per change. Exit 0, also when nothing changed.",
    )
    diff.add_argument("old", type=Path, metavar="OLD.yaml")
    diff.add_argument("new", type=Path, metavar="NEW.yaml")

    release = sub.add_parser(
        "new-release",
        help="re-plan a runbook for a new release from a new go-live",
        description="Write a new runbook: every absolute time of SOURCE moved to keep its "
        "distance to go-live (in working days, or calendar days where an item says "
        "`distance: calendar days`) and its time of day; relative times resolve against the "
        "new go-live; the migrated release pair and the schedule's dates rewritten in the "
        "text, other sentences kept and reported. Prints the plan.",
    )
    release.add_argument("source", type=Path, metavar="SOURCE.yaml")
    release.add_argument("--go-live", required=True, type=_local_time, metavar='"YYYY-MM-DD HH:MM"')
    release.add_argument("--from", dest="from_", required=True, type=_release, metavar="X.Y")
    release.add_argument("--to", required=True, type=_release, metavar="X.Y")
    release.add_argument("--id", metavar="ID", help="id of the new runbook (default: derived)")
    release.add_argument(
        "--date",
        type=_day,
        metavar="YYYY-MM-DD",
        help="date of the concept version (default: today)",
    )
    release.add_argument("--out", required=True, type=Path, metavar="FILE")
    release.add_argument("--force", action="store_true", help="replace FILE if it exists")
    release.add_argument(
        "--accept-warnings",
        action="store_true",
        help="write FILE even when sentences naming other releases or dates outside the "
        "schedule were kept as written (exit 1 and nothing written otherwise)",
    )
    release.add_argument(
        "--strict",
        action="store_true",
        help="treat the plan's warnings (a phase that changes length, a weekday that "
        "changes, closures kept) as errors: exit 1, nothing written",
    )

    unsub = sub.add_parser(
        "unsubscribe-server",
        help="serve the one-click unsubscribe links (waitress, behind nginx)",
        description="Serve the one-click unsubscribe application (RFC 8058) with waitress: "
        "GET shows a Dutch confirmation page, POST puts the address on the notify state's "
        "suppression list. The signing secret comes from CALGEN_UNSUBSCRIBE_SECRET, never "
        "from the command line. Listens on 127.0.0.1 by default: put nginx in front "
        "(deploy/nginx-unsubscribe.conf).",
    )
    unsub.add_argument(
        "--state",
        type=Path,
        default=Path("notify-state.sqlite"),
        metavar="FILE",
        help="the notify state (default: notify-state.sqlite)",
    )
    unsub.add_argument("--host", default="127.0.0.1", help="default: 127.0.0.1")
    unsub.add_argument(
        "--port", type=_bounded(int, 0, 65535), default=8025, help="default: 8025 (0: any free)"
    )
    unsub.add_argument(
        "--threads", type=_bounded(int, 1, 64), default=4, help="worker threads (default 4)"
    )

    serve = sub.add_parser(
        "serve",
        help="preview dist/ on http://127.0.0.1",
        description="Serve a built folder on 127.0.0.1 only, .ics as text/calendar, with ETags.",
    )
    serve.add_argument("--dir", type=Path, default=DEFAULT_OUT, help="default: dist/")
    serve.add_argument(
        "--port",
        type=_bounded(int, 0, 65535),
        default=8000,
        help="default: 8000 (0: any free port)",
    )
    return parser


def _role(text: str) -> str:
    """A role id as runbooks write them."""
    if not re.fullmatch(r"[a-z][a-z0-9-]{0,39}", text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a role id (lower-case letters, digits and -, e.g. gemeenten)"
        )
    return text


_STATE_ONLY = ("status", "unsubscribe", "resubscribe")


def parse(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The parsed command line, with the checks argparse cannot express: what notify
    needs depends on what it is asked to do."""
    args = parser().parse_args(argv)
    if args.command != "notify":
        return args
    grammar: argparse.ArgumentParser = args.grammar
    state_only = [f"--{name}" for name in _STATE_ONLY if getattr(args, name)]
    if state_only:
        extra = [
            flag
            for flag, given in (
                ("--subscribers", args.subscribers),
                ("--smtp", args.smtp),
                ("--outbox", args.outbox),
                ("--dry-run", args.dry_run),
            )
            if given
        ]
        if extra:
            grammar.error(f"{state_only[0]} takes no {', '.join(extra)}")
        if args.role and args.status:
            grammar.error("--role goes with --unsubscribe or --resubscribe")
        return args
    if args.role:
        grammar.error("--role goes with --unsubscribe or --resubscribe")
    lacking = [
        flag
        for flag, given in (
            ("--subscribers", args.subscribers),
            ("--smtp or --outbox", args.smtp or args.outbox),
        )
        if not given
    ]
    if lacking:
        grammar.error(f"the following arguments are required: {', '.join(lacking)}")
    return args
