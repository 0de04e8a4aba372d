"""Handing messages over: one reused SMTP connection, or .eml files in an outbox.

`send` tells what became of one message without raising for that message's own fate:
accepted, refused for good (5xx), or deferred (4xx). A lost connection (421, a drop, a
timeout) raises `ConnectionLostError`; the delivery loop reconnects and goes on. A problem
that would refuse every message (the sender refused, the login refused) raises
`NotifyError` and stops the run.

A message to an address with a non-ASCII local part goes with SMTPUTF8 (RFC 6531) when
the server offers it; a server that does not cannot deliver it, which is that message's
permanent fate (`refused`), not the run's.
"""

from __future__ import annotations

import os
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from calgen.core.fsutil import atomic_write
from calgen.notify.compose import Mail
from calgen.notify.state import NotifyError


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    status: str  # sent, refused, deferred
    reply: str = ""


class ConnectionLostError(NotifyError):
    """The connection is gone (421, dropped, no reply): whether the message went is unknown
    when it happened after the data was handed over."""

    def __init__(self, reply: str) -> None:
        super().__init__(reply)
        self.reply = reply


@dataclass(frozen=True, kw_only=True, slots=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool  # smtps://
    starttls: bool
    timeout: float = 60.0


def parse_smtp_url(url: str, starttls: bool, timeout: float = 60.0) -> SmtpTarget:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"{url!r}: expected smtp://host:port or smtps://host:port")
    if parts.username or parts.password:
        raise ValueError(
            "put no user or password in the URL: set CALGEN_SMTP_USER and CALGEN_SMTP_PASSWORD"
        )
    try:
        port = parts.port or (465 if parts.scheme == "smtps" else 25)
    except ValueError as exc:
        raise ValueError(f"{url!r}: {exc}") from None
    return SmtpTarget(
        host=parts.hostname,
        port=port,
        tls=parts.scheme == "smtps",
        starttls=starttls,
        timeout=timeout,
    )


class Sender(Protocol):
    verb: str  # "sent" or "written", for the summary

    def send(self, mail: Mail, sender: str, recipient: str) -> Outcome: ...

    def reconnect(self) -> None: ...

    def close(self) -> None: ...


def _reply(code: int, text: bytes | str) -> str:
    raw = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {' '.join(raw.split())}"


class SmtpSender:
    """One connection, reused for every message; reconnect() after a loss."""

    verb = "sent"

    def __init__(self, target: SmtpTarget) -> None:
        self.target = target
        self.smtp: smtplib.SMTP | None = None
        self.reconnect()

    def reconnect(self) -> None:
        self.close()
        target = self.target
        context = ssl.create_default_context()
        try:
            if target.tls:
                self.smtp = smtplib.SMTP_SSL(
                    target.host, target.port, timeout=target.timeout, context=context
                )
            else:
                self.smtp = smtplib.SMTP(target.host, target.port, timeout=target.timeout)
                if target.starttls:
                    self.smtp.starttls(context=context)
            user = os.environ.get("CALGEN_SMTP_USER")
            if user:
                self.smtp.login(user, os.environ.get("CALGEN_SMTP_PASSWORD", ""))
        except (OSError, smtplib.SMTPException) as exc:
            self.close()  # a refused login must not leave the connection open
            raise NotifyError(
                f"cannot use {target.host}:{target.port}: {exc or 'no reply'}"
            ) from None

    def send(self, mail: Mail, sender: str, recipient: str) -> Outcome:
        if self.smtp is None:
            raise ConnectionLostError("not connected")
        try:
            options: list[str] = []
            if mail.utf8:
                self.smtp.ehlo_or_helo_if_needed()
                if not self.smtp.has_extn("smtputf8"):
                    return Outcome(
                        status="refused",
                        reply="not sent: the server does not offer SMTPUTF8, which an address"
                        " with non-ASCII letters before the @ needs",
                    )
                options = ["SMTPUTF8"]
            self.smtp.sendmail(sender, [recipient], mail.data, mail_options=options)
        except smtplib.SMTPRecipientsRefused as exc:
            code, text = next(iter(exc.recipients.values()))
            return self._judge(code, text)
        except smtplib.SMTPSenderRefused as exc:
            if exc.smtp_code == 421:
                raise ConnectionLostError(_reply(exc.smtp_code, exc.smtp_error)) from None
            if 400 <= exc.smtp_code < 500:
                return Outcome(status="deferred", reply=_reply(exc.smtp_code, exc.smtp_error))
            raise NotifyError(
                f"the server refuses the sender {sender}: {_reply(exc.smtp_code, exc.smtp_error)}"
            ) from None
        except smtplib.SMTPResponseException as exc:  # SMTPDataError and others
            return self._judge(exc.smtp_code, exc.smtp_error)
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            # a timeout (no reply) or a drop: the connection cannot be trusted any more
            self.close()
            kind = "no reply" if isinstance(exc, socket.timeout) else "connection lost"
            raise ConnectionLostError(f"{kind}: {exc}".rstrip(": ")) from None
        except smtplib.SMTPException as exc:
            self.close()
            raise ConnectionLostError(f"connection lost: {exc}") from None
        return Outcome(status="sent")

    def _judge(self, code: int, text: bytes | str) -> Outcome:
        reply = _reply(code, text)
        if code == 421 or code < 400:
            self.close()
            raise ConnectionLostError(reply)
        if code < 500:
            return Outcome(status="deferred", reply=reply)
        return Outcome(status="refused", reply=reply)

    def close(self) -> None:
        if self.smtp is None:
            return
        smtp, self.smtp = self.smtp, None
        try:
            if smtp.sock is not None:
                smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()


class OutboxSender:
    """Writes each message as `<Message-ID>.eml` instead of sending it."""

    verb = "written"

    def __init__(self, folder: Path) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise NotifyError(f"{folder}: cannot make the outbox: {exc.strerror or exc}") from None
        self.folder = folder

    def send(self, mail: Mail, sender: str, recipient: str) -> Outcome:
        name = re.sub(r"[^A-Za-z0-9.@-]", "_", mail.msgid.strip("<>"))
        try:
            # a local file has the platform's line ends; the email package wrote every
            # line break of the message (and only those) as CRLF
            atomic_write(self.folder / f"{name}.eml", mail.data.replace(b"\r\n", b"\n"))
        except OSError as exc:
            raise NotifyError(f"{self.folder}: cannot write: {exc.strerror or exc}") from None
        return Outcome(status="sent")

    def reconnect(self) -> None:
        pass

    def close(self) -> None:
        pass
