"""Command line: parse arguments, call load/render/publish, map errors to exit codes.

Exit codes: 0 ok, 1 invalid input (with file:line:col messages), 2 usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from calgen import __version__
from calgen.errors import CalgenError, Diagnostics, Pos

if TYPE_CHECKING:  # the model (and its imports) load only in the commands that need it
    from calgen.model import Runbook

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2
N = TypeVar("N", int, float)
DEFAULT_RUNBOOKS = Path("runbooks")
DEFAULT_OUT = Path("dist")


def _bounded(kind: Callable[[str], N], low: N, high: N) -> Callable[[str], N]:
    """An argparse type: a number of `kind` from `low` to `high`, else a usage error."""

    def parse(text: str) -> N:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"{text} is not from {low} to {high}")
        return value

    return parse


def _parser() -> argparse.ArgumentParser:
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
    holidays.add_argument("year", type=int, metavar="YEAR")
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
        "sent or the input is invalid, 2 for usage errors.",
    )
    notify.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="default: runbooks/")
    notify.add_argument("--subscribers", required=True, type=Path, metavar="FILE")
    target = notify.add_mutually_exclusive_group(required=True)
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
    notify.add_argument("--at", metavar='"YYYY-MM-DD HH:MM"', help="the moment (default: now)")
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
    release.add_argument("--go-live", required=True, metavar='"YYYY-MM-DD HH:MM"')
    release.add_argument("--from", dest="from_", required=True, metavar="X.Y")
    release.add_argument("--to", required=True, metavar="X.Y")
    release.add_argument("--id", metavar="ID", help="id of the new runbook (default: derived)")
    release.add_argument(
        "--date", metavar="YYYY-MM-DD", help="date of the concept version (default: today)"
    )
    release.add_argument("--out", required=True, type=Path, metavar="FILE")
    release.add_argument("--force", action="store_true", help="replace FILE if it exists")
    release.add_argument(
        "--accept-warnings",
        action="store_true",
        help="write FILE even when sentences naming other releases or dates outside the "
        "schedule were kept as written (exit 1 and nothing written otherwise)",
    )

    serve = sub.add_parser(
        "serve",
        help="preview dist/ on http://127.0.0.1",
        description="Serve a built folder on 127.0.0.1 only, .ics as text/calendar, with ETags.",
    )
    serve.add_argument("--dir", type=Path, default=DEFAULT_OUT, help="default: dist/")
    serve.add_argument("--port", type=int, default=8000, help="default: 8000 (0: any free port)")
    return parser


def valid_base_url(url: str) -> bool:
    """http(s), a host, and nothing that could end a feed line or an HTML attribute."""
    import re

    return re.fullmatch(r"https?://[A-Za-z0-9.-]+(:\d+)?(/[^\s\"'<>\\]*)?", url) is not None


def base_url_setting(given: str | None, command: str) -> str | None:
    """--base-url, else `[tool.calgen] base-url`; None (after saying why) when it is not
    an http(s) URL."""
    base_url = given if given is not None else project_setting("base-url")
    if base_url and not valid_base_url(base_url):
        print(f"calgen {command}: base URL {base_url!r} is not an http(s) URL", file=sys.stderr)
        return None
    return base_url


def project_setting(key: str) -> str:
    """A default from `[tool.calgen]` in ./pyproject.toml, or ""."""
    import tomllib

    try:
        with open("pyproject.toml", "rb") as fh:
            value = tomllib.load(fh).get("tool", {}).get("calgen", {}).get(key, "")
    except (OSError, tomllib.TOMLDecodeError):
        return ""
    return str(value)


def find_runbooks(paths: Sequence[Path], diags: Diagnostics) -> list[Path]:
    """Files as given; folders contribute their *.yaml files (not sub-folders: shared/)."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml"))
        elif path.is_file():
            found.append(path)
        else:
            diags.error(Pos(str(path), 1, 1), "no such file or folder")
    return found


def _report(diags: Diagnostics, strict: bool) -> bool:
    """Print diagnostics to stderr; True when the run must fail."""
    for d in diags:
        print(d, file=sys.stderr)
    return bool(diags.errors) or (strict and bool(diags.warnings))


def _load(paths: Sequence[Path], strict: bool) -> tuple[list[Runbook], bool]:
    from calgen.validate import load_many

    diags = Diagnostics()
    files = find_runbooks(paths, diags)
    runbooks, more = load_many(files)
    diags.extend(more)
    if not files and not diags.errors:
        diags.error(Pos(", ".join(map(str, paths)), 1, 1), "no runbooks found (*.yaml)")
    return list(runbooks), _report(diags, strict)


def cmd_validate(args: argparse.Namespace) -> int:
    runbooks, failed = _load(args.paths, args.strict)
    if failed:
        return EXIT_INVALID
    print(f"{len(runbooks)} runbook(s) valid", file=sys.stderr)
    return EXIT_OK


def cmd_build(args: argparse.Namespace) -> int:
    from calgen import publish

    try:
        moment = build_moment()
    except ValueError as exc:
        print(f"calgen build: {exc}", file=sys.stderr)
        return EXIT_USAGE
    paths = args.paths or [DEFAULT_RUNBOOKS]
    runbooks, failed = _load(paths, args.strict)
    if failed:
        print("build stopped: nothing was written", file=sys.stderr)
        return EXIT_INVALID
    if args.templates is not None and not args.templates.is_dir():
        print(f"{args.templates}: --templates must be a folder", file=sys.stderr)
        return EXIT_USAGE
    base_url = base_url_setting(args.base_url, "build")
    if base_url is None:
        return EXIT_USAGE
    # calgen's own input may never be inside the folder it publishes into
    protected = [*paths, *(Path(rb.source) for rb in runbooks)]
    protected += [Path(rb.source).parent / use for rb in runbooks for use in rb.uses]
    if args.templates is not None:
        protected.append(args.templates)
    if not args.check:
        publish.refuse_early(args.out, protected=protected)  # before anything is rendered
    import jinja2

    notes: list[str] = []
    templates = args.templates.resolve() if args.templates else None
    outputs = publish.with_history(
        publish.iter_outputs(
            runbooks,
            base_url=base_url,
            templates=templates,
            history=publish.read_history(args.out, runbooks, notes),
        ),
        args.out,
        moment,
        notes,
    )
    try:  # outputs are rendered as they are compared or written
        if args.check:
            problems, total = publish.stale(outputs, args.out)
        else:
            written, total = publish.write(outputs, args.out, protected=protected)
    except Exception as exc:
        frame = _user_template_frame(exc, templates)
        if isinstance(exc, jinja2.TemplateSyntaxError | jinja2.TemplateNotFound):
            where = f"{exc.filename or exc.name}:{getattr(exc, 'lineno', '')}: "
        elif frame is not None:
            where = f"{frame}: {type(exc).__name__}: "
        elif isinstance(exc, jinja2.TemplateError):
            where = ""
        else:
            raise  # calgen's own bug: a traceback is what is needed
        print(f"calgen: template error: {where}{exc}; nothing was written", file=sys.stderr)
        return EXIT_INVALID
    for note in notes:
        print(f"warning: {note}", file=sys.stderr)
    if args.check:
        for line in problems:
            print(line, file=sys.stderr)
        if problems:
            print(f"{len(problems)} file(s) out of date: run `calgen build`", file=sys.stderr)
            return EXIT_INVALID
        print(f"{total} file(s) up to date in {args.out}", file=sys.stderr)
        return EXIT_OK
    print(
        f"built {len(runbooks)} runbook(s): {len(written)} of {total} file(s) "
        f"changed in {args.out}",
        file=sys.stderr,
    )
    return EXIT_OK


def _user_template_frame(exc: BaseException, templates: Path | None) -> str | None:
    """`file:line` of the innermost frame of `exc` in a template from `templates` (Jinja
    puts template lines into tracebacks), or None when no user template took part."""
    import traceback

    if templates is None:
        return None
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if Path(frame.filename).is_relative_to(templates):
            found = f"{frame.filename}:{frame.lineno}"
    return found


# SOURCE_DATE_EPOCH: from 1970 up to the end of the year 9999, as datetime allows
MAX_EPOCH = 253_402_300_799


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


def cmd_schema(args: argparse.Namespace) -> int:
    from calgen.schema import RUNBOOK_SCHEMA, SHARED_SCHEMA

    print(
        json.dumps(SHARED_SCHEMA if args.shared else RUNBOOK_SCHEMA, indent=2, ensure_ascii=False)
    )
    return EXIT_OK


def cmd_holidays(args: argparse.Namespace) -> int:
    from calgen import schedule
    from calgen.render import dutch

    if not schedule.FIRST_YEAR <= args.year <= schedule.LAST_YEAR:
        print(
            f"calgen holidays: YEAR must be {schedule.FIRST_YEAR}-{schedule.LAST_YEAR}",
            file=sys.stderr,
        )
        return EXIT_USAGE
    calendar = schedule.DEFAULT_CALENDAR
    if args.runbook is not None:
        runbooks, failed = _load([args.runbook], strict=False)
        if failed:
            return EXIT_INVALID
        calendar = runbooks[0].calendar
    for day, name in calendar.non_working_days(args.year):
        print(f"{day.isoformat()}  {dutch.date_long(day):<28}  {name}")
    return EXIT_OK


def cmd_notify(args: argparse.Namespace) -> int:
    from calgen import notify, schedule

    try:
        if args.at:
            at = schedule.parse_local(args.at)
        else:
            at = dt.datetime.now(dt.UTC).astimezone(schedule.AMSTERDAM).replace(microsecond=0)
        target = (
            notify.parse_smtp_url(args.smtp, args.starttls, args.smtp_timeout)
            if args.smtp
            else None
        )
    except (schedule.TimeProblem, ValueError) as exc:
        print(f"calgen notify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    base_url = base_url_setting(args.base_url, "notify")
    if base_url is None:
        return EXIT_USAGE
    runbooks, failed = _load(args.paths or [DEFAULT_RUNBOOKS], strict=False)
    if failed:
        return EXIT_INVALID
    subscribers = notify.load_subscribers(
        args.subscribers, {r.id for rb in runbooks for r in rb.roles}
    )
    options = notify.Options(
        runbooks=runbooks,
        subscribers=subscribers,
        at=at,
        state=args.state,
        smtp=target,
        outbox=args.outbox,
        dry_run=args.dry_run,
        expire=dt.timedelta(days=args.expire_days),
        base_url=base_url or "",
        dist=args.dist,
        lock_wait=args.lock_wait,
        progress=sys.stderr if sys.stderr.isatty() else None,
    )
    report = notify.run(options)
    for line in report.planned:
        print(line)
    for line in report.lines():
        print(line, file=sys.stderr)
    return report.exit_code


def cmd_diff(args: argparse.Namespace) -> int:
    from calgen.diff import compare, snapshot

    # loaded one by one: two versions of a runbook share its id
    (old_list, old_failed), (new_list, new_failed) = (
        _load([args.old], strict=False),
        _load([args.new], strict=False),
    )
    if old_failed or new_failed:
        return EXIT_INVALID
    old, new = old_list[0], new_list[0]
    changes = compare(snapshot(old), snapshot(new), new.calendar)
    for change in changes:
        print(change)
    if not changes:
        print("geen wijzigingen in het tijdschema")
    return EXIT_OK


def cmd_new_release(args: argparse.Namespace) -> int:
    import datetime as dt
    import os
    import re

    from calgen import release, schedule
    from calgen.validate import load_runbook

    version = re.compile(r"^\d+\.\d+$")
    for flag, value in (("--from", args.from_), ("--to", args.to)):
        if not version.match(value):
            print(
                f"calgen new-release: {flag} {value!r} is not a release such as 3.1",
                file=sys.stderr,
            )
            return EXIT_USAGE
    try:
        go_live = schedule.parse_local(args.go_live)
        today = dt.date.fromisoformat(args.date) if args.date else dt.date.today()  # noqa: DTZ011
    except (schedule.TimeProblem, ValueError) as exc:
        print(f"calgen new-release: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.out.exists() and not args.force:
        print(f"calgen new-release: {args.out} exists; pass --force to replace it", file=sys.stderr)
        return EXIT_INVALID
    runbooks, failed = _load([args.source], strict=False)
    if failed:
        return EXIT_INVALID
    source_dir = args.source.resolve().parent
    out_dir = args.out.resolve().parent
    text = args.source.read_text(encoding="utf-8")
    data_uses = [u for u in runbooks[0].uses]
    uses = [os.path.relpath(source_dir / u, out_dir) for u in data_uses]
    try:
        plan = release.replan(
            text,
            runbooks[0],
            go_live=go_live,
            new_from=args.from_,
            new_to=args.to,
            new_id=args.id,
            today=today,
            uses=uses if out_dir != source_dir else None,
        )
    except release.ReleaseError as exc:
        print(f"calgen new-release: {exc}", file=sys.stderr)
        return EXIT_INVALID
    plan.text = _relocate_schema_line(plan.text, source_dir, out_dir)
    print(release.plan_table(plan))
    for warning in plan.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for kept in plan.kept:
        print(f"warning: {kept.message(str(args.source))}", file=sys.stderr)
    if plan.kept and not args.accept_warnings:
        print(
            f"calgen new-release: {len(plan.kept)} sentence(s) kept as written above: fix "
            "them in the source, or pass --accept-warnings and fix them in the new file; "
            f"nothing written",
            file=sys.stderr,
        )
        return EXIT_INVALID

    def check(path: Path) -> None:
        load_runbook(path, str(args.out))

    try:
        release.write(plan, args.out, check)
    except CalgenError as exc:
        print(
            f"calgen new-release: the re-planned runbook does not validate:\n{exc}",
            file=sys.stderr,
        )
        return EXIT_INVALID
    if plan.flagged:
        print(
            f"warning: {args.out}: {plan.flagged} comment(s) next to moved dates flagged "
            f"'{release.CHECK}': check them",
            file=sys.stderr,
        )
    print(f"wrote {args.out}: review the warnings above, then `calgen build`", file=sys.stderr)
    return EXIT_OK


def _relocate_schema_line(text: str, source_dir: Path, out_dir: Path) -> str:
    """Keep the editor's `$schema=` pointer right when the new file lives elsewhere."""
    import os
    import re

    def fix(match: re.Match[str]) -> str:
        target = (source_dir / match.group(2)).resolve()
        return match.group(1) + os.path.relpath(target, out_dir)

    return re.sub(r"^(# yaml-language-server: \$schema=)(\S+)", fix, text, count=1, flags=re.M)


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve until Ctrl-C: 0 when stopped, 1 when it cannot start, 2 for a bad --port."""
    import errno

    from calgen import serve

    if not 0 <= args.port <= 65535:
        print(f"calgen serve: --port {args.port}: must be 0-65535", file=sys.stderr)
        return EXIT_USAGE
    if not args.dir.is_dir():
        what = "is not a folder" if args.dir.exists() else "no such folder"
        print(
            f"calgen serve: {args.dir}: {what} (run `calgen build` first, or pass --dir)",
            file=sys.stderr,
        )
        return EXIT_INVALID
    try:
        server = serve.make_server(args.dir, args.port)
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            reason = "port already in use; choose another with --port N (0: any free port)"
        elif exc.errno == errno.EACCES:
            reason = "permission denied; ports below 1024 need privileges, try --port 8000"
        else:
            reason = exc.strerror or str(exc)
        print(f"calgen serve: cannot listen on {serve.HOST}:{args.port}: {reason}", file=sys.stderr)
        return EXIT_INVALID
    with server:
        print(f"serving {args.dir} on {server.url} (Ctrl-C to stop)", file=sys.stderr)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            print("\nstopped", file=sys.stderr)
    return EXIT_OK


COMMANDS = {
    "build": cmd_build,
    "validate": cmd_validate,
    "schema": cmd_schema,
    "serve": cmd_serve,
    "holidays": cmd_holidays,
    "new-release": cmd_new_release,
    "diff": cmd_diff,
    "notify": cmd_notify,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    from calgen import cache, schedule  # the holidays kept between runs (calgen.cache)

    schedule.known_holidays(cache.load_holidays())
    try:
        return COMMANDS[args.command](args)
    except CalgenError as exc:
        print(f"calgen: {exc}", file=sys.stderr)
        return EXIT_INVALID
    except OSError as exc:
        name = f"{exc.filename}: " if exc.filename else ""
        print(f"calgen: {name}{exc.strerror or exc}", file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    finally:
        cache.save_holidays(schedule.take_fresh_holidays())
