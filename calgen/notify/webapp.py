"""One-click unsubscribe (RFC 8058): a small WSGI application.

Each message's `List-Unsubscribe` carries a link `<url>?t=<token>` (calgen.notify.
unsubscribe: HMAC-SHA256 over address, role and expiry). This application answers it:

- GET (or HEAD) shows a short Dutch page with one button; it changes nothing, so a link
  scanner that follows every URL in a message unsubscribes nobody;
- POST (the button, or a mail client's one-click `List-Unsubscribe=One-Click`) records
  the address in the notify state's suppression list for the token's role(s);
- a token that was changed, is malformed or has expired gets 400 and changes nothing;
- a state that cannot be written now (busy, damaged, or not there: a suppression where
  no run reads it would protect nobody) gets 503 with Retry-After, and the reason goes
  to the server's error log.

Only the standard library's WSGI types; in production a real WSGI server runs it behind
nginx (`calgen unsubscribe-server` uses waitress; gunicorn can load `from_environment`).
The secret comes from the environment (CALGEN_UNSUBSCRIBE_SECRET), never the command line.
"""

from __future__ import annotations

import html
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qs

from calgen.core.mailaddress import parse_address
from calgen.notify import unsubscribe
from calgen.notify.state import EVERY_ROLE, StateError
from calgen.notify.statefile import open_shared

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

STATE_VARIABLE = "CALGEN_NOTIFY_STATE"
MAX_BODY = 4096  # a one-click body is `List-Unsubscribe=One-Click`
SOURCE = "one-click link"
_HEADERS = [
    ("Content-Type", "text/html; charset=utf-8"),
    ("Cache-Control", "no-store"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),  # the token is in the URL
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
    ),
]
_STATUS = {
    200: "200 OK",
    400: "400 Bad Request",
    405: "405 Method Not Allowed",
    413: "413 Content Too Large",
    503: "503 Service Unavailable",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class _Answer:
    code: int
    title: str
    body: str  # HTML, escaped already
    extra: tuple[tuple[str, str], ...] = ()


def _page(answer: _Answer) -> bytes:
    return (
        '<!doctype html>\n<html lang="nl"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(answer.title)}</title>"
        "<style>body{font:1.1rem/1.5 system-ui,sans-serif;max-width:34rem;margin:2rem auto;"
        "padding:0 1rem}button{font:inherit;padding:.5rem 1.2rem}</style></head>"
        f"<body><h1>{html.escape(answer.title)}</h1>{answer.body}</body></html>\n"
    ).encode()


_INVALID = _Answer(
    code=400,
    title="Afmeldlink ongeldig",
    body="<p>Deze afmeldlink is ongeldig of verlopen. Er is niets gewijzigd.</p>"
    "<p>Gebruik de link uit een recent bericht, of stuur een e-mail met als onderwerp"
    " &#8220;afmelden&#8221; naar het adres onderaan het bericht.</p>",
)


def _roles(role: str) -> list[str]:
    """The roles a token names: one, several joined by `+` (a change notice), or `*`."""
    return [EVERY_ROLE] if role == EVERY_ROLE else role.split("+")


class Application:
    """The WSGI callable. `clock` gives the time tokens are judged at (for tests)."""

    def __init__(
        self,
        state: Path,
        secret: bytes,
        *,
        lock_wait: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.state = state
        self.secret = secret
        self.lock_wait = lock_wait
        self.clock = clock

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        if method in ("GET", "HEAD"):
            answer = self._confirm(environ)
        elif method == "POST":
            answer = self._unsubscribe(environ)
        else:
            answer = _Answer(
                code=405,
                title="Niet toegestaan",
                body="<p>Alleen GET en POST.</p>",
                extra=(("Allow", "GET, HEAD, POST"),),
            )
        data = _page(answer)
        start_response(
            _STATUS[answer.code],
            [*_HEADERS, ("Content-Length", str(len(data))), *answer.extra],
        )
        return [b"" if method == "HEAD" else data]

    def _claim(self, environ: WSGIEnvironment) -> tuple[unsubscribe.Claim, str] | None:
        """The token's claim and the address as the state keys it; None when unusable."""
        try:
            query = parse_qs(environ.get("QUERY_STRING", "")[:4096], max_num_fields=8)
        except ValueError:  # more fields than any link of calgen's has
            return None
        tokens = query.get("t", [])
        if len(tokens) != 1:
            return None
        try:
            claim = unsubscribe.read_token(self.secret, tokens[0], self.clock())
        except unsubscribe.BadTokenError:
            return None
        box = parse_address(claim.address)
        if isinstance(box, str):
            return None
        return claim, box.wire.lower()

    def _confirm(self, environ: WSGIEnvironment) -> _Answer:
        found = self._claim(environ)
        if found is None:
            return _INVALID
        claim, key = found
        return _Answer(
            code=200,
            title="Afmelden",
            body=f"<p>Wilt u <strong>{html.escape(key)}</strong> afmelden voor de"
            " e-mailherinneringen en wijzigingsberichten van het draaiboek migratie"
            f" ({html.escape(_role_text(claim.role))})?</p>"
            '<form method="post"><input type="hidden" name="List-Unsubscribe"'
            ' value="One-Click"><button type="submit">Afmelden</button></form>'
            "<p>Uw agenda-abonnement blijft werken; dat beheert u in uw agenda.</p>",
        )

    def _unsubscribe(self, environ: WSGIEnvironment) -> _Answer:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > MAX_BODY:
            return _Answer(code=413, title="Te groot", body="<p>Het verzoek is te groot.</p>")
        if length > 0:
            environ["wsgi.input"].read(length)  # the body says nothing the token does not
        found = self._claim(environ)
        if found is None:
            return _INVALID
        claim, key = found
        try:
            with open_shared(self.state, wait=self.lock_wait) as state:
                for role in _roles(claim.role):
                    state.suppress(key, role, SOURCE)
        except StateError as exc:
            environ["wsgi.errors"].write(f"calgen unsubscribe: {exc}\n")
            return _Answer(
                code=503,
                title="Probeer het later opnieuw",
                body="<p>Uw afmelding kon nu niet worden verwerkt. Probeer het over enkele"
                " minuten opnieuw.</p>",
                extra=(("Retry-After", "300"),),
            )
        return _Answer(
            code=200,
            title="U bent afgemeld",
            body=f"<p><strong>{html.escape(key)}</strong> ontvangt geen e-mail meer van het"
            f" draaiboek migratie ({html.escape(_role_text(claim.role))}).</p>"
            "<p>Per abuis afgemeld? Vraag de beheerder u weer aan te melden.</p>",
        )


def _role_text(role: str) -> str:
    if role == EVERY_ROLE:
        return "alle rollen"
    roles = _roles(role)
    return ("rol " if len(roles) == 1 else "rollen ") + ", ".join(roles)


def from_environment() -> Application:
    """The application configured from the environment (for `waitress-serve --call` and
    gunicorn): CALGEN_NOTIFY_STATE (default notify-state.sqlite) and the secret."""
    secret = unsubscribe.secret_from_environment()
    if secret is None:
        raise SystemExit(
            f"calgen unsubscribe: {unsubscribe.SECRET_VARIABLE} is not set (or shorter than"
            " 16 characters); it must be the secret calgen notify signs links with"
        )
    return Application(Path(os.environ.get(STATE_VARIABLE, "notify-state.sqlite")), secret)
