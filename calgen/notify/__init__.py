"""E-mail reminders and change notices that arrive once: `calgen notify`.

Calendar clients drop reminders from subscribed feeds (Google ignores VALARM, Apple offers
to strip them) and update subscribed calendars silently, so calgen also mails each role's
subscribers when a reminder is due and when a new published version moves, adds or
cancels one of their milestones.

- `addresses`: the subscribers file, addresses and headers through `email.headerregistry`;
- `due`: which reminders are due at a moment (lead times from calgen.core.reminders);
- `changes`: change notices between two published version snapshots;
- `compose`: the messages, rendered once per distinct content;
- `state`: the durable queue and the suppression list in SQLite; `statefile`: the lock,
  the migrations;
- `transport`: one reused SMTP connection, or an outbox folder;
- `deliver`: one run, from lock to summary;
- `unsubscribe`: signed unsubscribe tokens; `webapp`: the one-click WSGI application;
- `status`: how the queue stands (`--status`).
"""

from __future__ import annotations

from calgen.notify.addresses import Recipient, Subscribers, load_subscribers
from calgen.notify.deliver import Options, Report, run
from calgen.notify.state import NotifyError, StateBusyError, StateError
from calgen.notify.transport import SmtpTarget, parse_smtp_url

__all__ = [
    "NotifyError",
    "Options",
    "Recipient",
    "Report",
    "SmtpTarget",
    "StateBusyError",
    "StateError",
    "Subscribers",
    "load_subscribers",
    "parse_smtp_url",
    "run",
]
