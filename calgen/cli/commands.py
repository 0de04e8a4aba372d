"""Command line: one function per command (arguments as parsed by calgen.cli.arguments) that
calls the module owning the work, prints the results and maps them to exit codes.

Exit codes: 0 ok, 1 invalid input (with file:line:col messages), 2 usage error.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from calgen.cli import arguments
from calgen.cli.arguments import DEFAULT_RUNBOOKS
from calgen.core.errors import CalgenError, Diagnostics

if TYPE_CHECKING:  # the model (and its imports) load only in the commands that need it
    from calgen.core.schedule import HolidayTable
    from calgen.runbook.model import Runbook

EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2


def _report(diags: Diagnostics, strict: bool) -> bool:
    """Print diagnostics to stderr; True when the run must fail."""
    for d in diags:
        print(d, file=sys.stderr)
    return bool(diags.errors) or (strict and bool(diags.warnings))


def _load(
    paths: Sequence[Path], strict: bool, holidays: HolidayTable, warnings: bool = True
) -> tuple[list[Runbook], bool]:
    """The runbooks, their diagnostics printed (`warnings` False: errors only)."""
    from calgen.runbook import files as runbooks

    found, diags = runbooks.load(paths, holidays)
    if not warnings:
        for d in diags.errors:
            print(d, file=sys.stderr)
        return found, bool(diags.errors)
    return found, _report(diags, strict)


def _base_url(given: str | None, command: str) -> str | None:
    """The base URL (see calgen.cli.settings), or None after saying why it is refused."""
    from calgen.cli import settings

    try:
        return settings.base_url(given)
    except ValueError as exc:
        print(f"calgen {command}: {exc}", file=sys.stderr)
        return None


def cmd_validate(args: argparse.Namespace, holidays: HolidayTable) -> int:
    runbooks, failed = _load(args.paths, args.strict, holidays)
    if failed:
        return EXIT_INVALID
    print(f"{len(runbooks)} runbook(s) valid", file=sys.stderr)
    return EXIT_OK


def cmd_build(args: argparse.Namespace, holidays: HolidayTable) -> int:
    from calgen.cli import settings
    from calgen.site import build, records

    try:
        moment = settings.build_moment()
    except ValueError as exc:
        print(f"calgen build: {exc}", file=sys.stderr)
        return EXIT_USAGE
    paths = args.paths or [DEFAULT_RUNBOOKS]
    runbooks, failed = _load(paths, args.strict, holidays)
    if failed:
        print("build stopped: nothing was written", file=sys.stderr)
        return EXIT_INVALID
    # what is published in the out folder: its records, and the warnings about them
    checked = records.check(runbooks, args.out, moment)
    for refusal in checked.refusals:
        print(refusal, file=sys.stderr)
    if _report(checked.warnings, args.strict) or checked.refusals:
        print("build refused: nothing was written", file=sys.stderr)
        return EXIT_INVALID
    if args.templates is not None and not args.templates.is_dir():
        print(f"{args.templates}: --templates must be a folder", file=sys.stderr)
        return EXIT_USAGE
    base_url = _base_url(args.base_url, "build")
    if base_url is None:
        return EXIT_USAGE
    if not base_url:
        # once per build: the site's pages would offer downloads only
        lacking = (
            "no base URL (--base-url, or [tool.calgen] base-url in pyproject.toml): the "
            "site gets no subscribe links, only downloads, and the feeds no links to the pages"
        )
        if args.strict:
            print(f"error: {lacking}; build stopped: nothing was written", file=sys.stderr)
            return EXIT_INVALID
        print(f"warning: {lacking}", file=sys.stderr)
    result = build.run(
        runbooks,
        paths=paths,
        out=args.out,
        check=args.check,
        templates=args.templates,
        base_url=base_url,
        moment=moment,
        partial=any(p.is_file() for p in paths),
        checked=checked,
    )
    for note in result.notes:
        print(f"warning: {note}", file=sys.stderr)
    if args.check:
        for line in result.stale:
            print(line, file=sys.stderr)
        if result.stale:
            print(f"{len(result.stale)} file(s) out of date: run `calgen build`", file=sys.stderr)
            return EXIT_INVALID
        print(f"{result.total} file(s) up to date in {args.out}", file=sys.stderr)
        return EXIT_OK
    print(
        f"built {len(runbooks)} runbook(s): {result.written} of {result.total} file(s) "
        f"changed in {args.out}",
        file=sys.stderr,
    )
    return EXIT_OK


def cmd_schema(args: argparse.Namespace, holidays: HolidayTable) -> int:
    from calgen.runbook.schema import RUNBOOK_SCHEMA, SHARED_SCHEMA

    print(
        json.dumps(SHARED_SCHEMA if args.shared else RUNBOOK_SCHEMA, indent=2, ensure_ascii=False)
    )
    return EXIT_OK


def cmd_holidays(args: argparse.Namespace, holidays: HolidayTable) -> int:
    from calgen.core import dutch, schedule

    calendar = schedule.WorkCalendar(holidays=holidays)
    if args.runbook is not None:
        runbooks, failed = _load([args.runbook], False, holidays)
        if failed:
            return EXIT_INVALID
        calendar = runbooks[0].calendar
    for day, name in calendar.non_working_days(args.year):
        print(f"{day.isoformat()}  {dutch.date_long(day):<28}  {name}")
    return EXIT_OK


def cmd_notify(args: argparse.Namespace, holidays: HolidayTable) -> int:
    from calgen import notify
    from calgen.core import schedule

    at = args.at or dt.datetime.now(dt.UTC).astimezone(schedule.AMSTERDAM).replace(microsecond=0)
    if args.status:
        return _notify_status(args, holidays, at)
    if args.unsubscribe or args.resubscribe:
        return _notify_suppression(args, holidays)
    try:
        target = (
            notify.parse_smtp_url(args.smtp, args.starttls, args.smtp_timeout)
            if args.smtp
            else None
        )
    except ValueError as exc:
        print(f"calgen notify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    base_url = _base_url(args.base_url, "notify")
    if base_url is None:
        return EXIT_USAGE
    # the runbooks' warnings are the build's to give: repeated only with -v
    runbooks, failed = _load(args.paths or [DEFAULT_RUNBOOKS], False, holidays, args.verbose)
    if failed:
        return EXIT_INVALID
    subscribers = notify.load_subscribers(
        args.subscribers, {r.id for rb in runbooks for r in rb.roles}
    )
    for draft in (rb for rb in runbooks if rb.is_concept):
        print(
            f"calgen notify: {draft.id} left out: its newest version "
            f"{draft.versions[0].version} is a concept (no reminders or change notices "
            "until a final version)",
            file=sys.stderr,
        )
    report = notify.run(
        notify.Options(
            runbooks=[rb for rb in runbooks if not rb.is_concept],
            subscribers=subscribers,
            at=at,
            state=args.state,
            smtp=target,
            outbox=args.outbox,
            dry_run=args.dry_run,
            expire=dt.timedelta(days=args.expire_days),
            base_url=base_url,
            dist=args.dist,
            lock_wait=args.lock_wait,
            retention=dt.timedelta(days=args.retention_days),
            progress=sys.stderr if sys.stderr.isatty() else None,
        )
    )
    for line in report.planned:
        print(line)
    for line in report.lines(verbose=args.verbose):
        print(line, file=sys.stderr)
    return report.exit_code


def _notify_status(args: argparse.Namespace, holidays: HolidayTable, at: dt.datetime) -> int:
    from calgen.notify import StateError, status

    runbooks, failed = _load(args.paths or [DEFAULT_RUNBOOKS], False, holidays, args.verbose)
    usable = None if failed else [rb for rb in runbooks if not rb.is_concept]
    try:
        found = status.read(args.state, usable, at)
    except StateError as exc:
        print(f"calgen notify: {exc}", file=sys.stderr)
        return status.UNREADABLE
    print("\n".join(found.lines()))
    return found.exit_code


def _notify_suppression(args: argparse.Namespace, holidays: HolidayTable) -> int:
    """--unsubscribe / --resubscribe ADDRESS [--role ROLE]."""
    from calgen.core.mailaddress import parse_address
    from calgen.notify.state import EVERY_ROLE
    from calgen.notify.statefile import open_shared
    from calgen.runbook.context import did_you_mean

    given = args.unsubscribe or args.resubscribe
    box = parse_address(given)
    if isinstance(box, str):
        print(f"calgen notify: {given!r}: {box}; nothing changed", file=sys.stderr)
        return EXIT_USAGE
    if args.unsubscribe and args.role:  # a typo must not be reported as done
        runbooks, failed = _load(args.paths or [DEFAULT_RUNBOOKS], False, holidays, False)
        if failed:
            print("calgen notify: the roles cannot be checked; nothing changed", file=sys.stderr)
            return EXIT_INVALID
        roles = sorted({r.id for rb in runbooks for r in rb.roles})
        if args.role not in roles:
            print(
                f"calgen notify: --role: no runbook has role '{args.role}'"
                f"{did_you_mean(args.role, roles)} (known: {', '.join(roles)}); nothing changed",
                file=sys.stderr,
            )
            return EXIT_USAGE
    key = box.wire.lower()
    which = f"role {args.role}" if args.role else "every role"
    with open_shared(args.state, wait=args.lock_wait) as state:
        if args.unsubscribe:
            new = state.suppress(key, args.role or EVERY_ROLE, "operator")
            done = "unsubscribed from" if new else "was already unsubscribed from"
            print(f"{key}: {done} {which}; nothing more is sent to it there")
            return EXIT_OK
        freed = state.resubscribe(key, args.role)
        left = state.suppressed_roles([key]).get(key, frozenset())
    if not freed:
        print(f"{key}: not on the suppression list for {which}; nothing changed")
    else:
        names = ", ".join("every role" if r == EVERY_ROLE else f"role {r}" for r in freed)
        print(f"{key}: resubscribed ({names})")
    if EVERY_ROLE in left:
        print(f"{key}: still unsubscribed from every role (--resubscribe without --role)")
        return EXIT_INVALID
    return EXIT_OK


def cmd_unsubscribe_server(args: argparse.Namespace, holidays: HolidayTable) -> int:
    from waitress.server import MultiSocketServer, create_server

    from calgen.notify import unsubscribe, webapp

    secret = unsubscribe.secret_from_environment()
    if secret is None:
        print(
            f"calgen unsubscribe-server: {unsubscribe.SECRET_VARIABLE} is not set (or shorter"
            " than 16 characters): set it to the secret calgen notify signs links with",
            file=sys.stderr,
        )
        return EXIT_USAGE
    app = webapp.Application(args.state, secret)
    server = create_server(
        app,
        host=args.host,
        port=args.port,
        threads=args.threads,
        ident="calgen",
        max_request_body_size=webapp.MAX_BODY,  # a one-click body is 26 bytes
    )
    where = (
        server.effective_listen[0]
        if isinstance(server, MultiSocketServer)
        else server.getsockname()
    )
    port = where[1]
    print(
        f"serving one-click unsubscribe on http://{args.host}:{port}/ (Ctrl-C stops it)",
        file=sys.stderr,
        flush=True,
    )
    if not args.state.exists():
        print(
            f"calgen unsubscribe-server: warning: {args.state}: no notify state here yet;"
            " clicks get 503 until a notify run has made it (is --state the runs' state?)",
            file=sys.stderr,
            flush=True,
        )
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
    return EXIT_OK


def cmd_diff(args: argparse.Namespace, holidays: HolidayTable) -> int:
    from calgen.render.changes import compare, snapshot
    from calgen.replan import positions

    # loaded one by one: two versions of a runbook share its id
    old, old_failed = _load([args.old], False, holidays)
    new, new_failed = _load([args.new], False, holidays)
    if old_failed or new_failed:
        return EXIT_INVALID
    if not positions.same_runbook(old[0], new[0]):  # two releases: relative to go-live
        lines = positions.compare(old[0], new[0])
        print("\n".join(lines))
        if positions.unchanged(lines):
            print("geen wijzigingen in het tijdschema ten opzichte van go-live")
        return EXIT_OK
    changes = compare(snapshot(old[0]), snapshot(new[0]), new[0].calendar)
    for change in changes:
        print(change)
    if not changes:
        print("geen wijzigingen in het tijdschema")
    return EXIT_OK


def cmd_new_release(args: argparse.Namespace, holidays: HolidayTable) -> int:
    from calgen.replan import newrelease, release

    go_live = args.go_live
    today = args.date or dt.date.today()  # noqa: DTZ011 - the planner's own calendar day
    runbooks, failed = _load([args.source], False, holidays)
    if failed:
        return EXIT_INVALID
    try:
        newrelease.check_out(args.out, args.source, runbooks[0], force=args.force)
    except newrelease.OutRefusedError as exc:
        print(f"calgen new-release: {exc}; nothing was written", file=sys.stderr)
        return EXIT_INVALID
    try:
        plan = newrelease.plan(
            args.source,
            runbooks[0],
            args.out,
            go_live=go_live,
            new_from=args.from_,
            new_to=args.to,
            new_id=args.id,
            today=today,
        )
    except release.ReleaseError as exc:
        print(f"calgen new-release: {exc}", file=sys.stderr)
        return EXIT_INVALID
    print(release.plan_table(plan))
    for warning in [*plan.warnings, *(kept.message(str(args.source)) for kept in plan.kept)]:
        print(f"warning: {warning}", file=sys.stderr)
    for length in plan.lengths:
        print(length.message(str(args.out)), file=sys.stderr)
    if args.strict and (plan.warnings or plan.lengths):
        print(
            f"calgen new-release: {len(plan.warnings) + len(plan.lengths)} warning(s) above "
            "and --strict: nothing written",
            file=sys.stderr,
        )
        return EXIT_INVALID
    if plan.kept and not args.accept_warnings:
        print(
            f"calgen new-release: {len(plan.kept)} sentence(s) kept as written above: fix "
            "them in the source, or pass --accept-warnings and fix them in the new file; "
            f"nothing written",
            file=sys.stderr,
        )
        return EXIT_INVALID
    try:
        newrelease.write(plan, args.out, args.source, runbooks[0], force=args.force)
    except newrelease.OutRefusedError as exc:  # what --out names changed meanwhile
        print(f"calgen new-release: {exc}; nothing was written", file=sys.stderr)
        return EXIT_INVALID
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


def cmd_serve(args: argparse.Namespace, holidays: HolidayTable) -> int:
    """Serve until Ctrl-C: 0 when stopped, 1 when it cannot start, 2 for a bad --port."""
    import errno

    from calgen.site import serve

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
    "unsubscribe-server": cmd_unsubscribe_server,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = arguments.parse(argv)
    from calgen.core import cache, schedule  # the holidays kept between runs (calgen.core.cache)

    if args.command == "build" and cache.within(args.out):  # it would be published
        print(
            f"warning: the cache ({cache.root()}) is in the out folder {args.out}; this build "
            f"runs without it (set {cache.ENV} to a folder outside it)",
            file=sys.stderr,
        )
        cache.use(False)
    holidays = schedule.HolidayTable(cache.load_holidays())
    try:
        return COMMANDS[args.command](args, holidays)
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
        cache.save_holidays(holidays.fresh())
        cache.use(True)
