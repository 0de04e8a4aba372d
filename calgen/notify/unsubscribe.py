"""Unsubscribe tokens: HMAC-SHA256 over (address, role, expiry).

The secret comes from the environment variable CALGEN_UNSUBSCRIBE_SECRET, never from
the command line. A token is `<payload>.<signature>`, both base64url without padding;
the payload is the JSON list [address, role, expiry as Unix seconds]. `read_token`
refuses a token that was changed (signature compared in constant time), that is not
well-formed, or whose expiry has passed. The unsubscribe application reuses these.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass

from calgen.core.errors import CalgenError

SECRET_VARIABLE = "CALGEN_UNSUBSCRIBE_SECRET"
LIFETIME = 400 * 24 * 3600  # a link in a message stays good for 400 days after its date
_MIN_SECRET = 16


class BadTokenError(CalgenError):
    """A token that was tampered with, is not well-formed or has expired."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Claim:
    address: str
    role: str
    expires: int


def secret_from_environment(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The secret, or None when it is not set (or too short to be one)."""
    value = (os.environ if environ is None else environ).get(SECRET_VARIABLE, "")
    return value.encode() if len(value) >= _MIN_SECRET else None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    if not text or any(c not in _ALPHABET for c in text):
        raise BadTokenError("not a token")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise BadTokenError("not a token") from exc


_ALPHABET = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def _sign(secret: bytes, payload: str) -> str:
    return _b64(hmac.new(secret, payload.encode("ascii"), hashlib.sha256).digest())


def make_token(secret: bytes, address: str, role: str, expires: int) -> str:
    payload = _b64(json.dumps([address, role, int(expires)], ensure_ascii=False).encode())
    return f"{payload}.{_sign(secret, payload)}"


def read_token(secret: bytes, token: str, now: float) -> Claim:
    """The claim a token carries; BadTokenError when it was changed, is malformed or expired."""
    payload, dot, signature = token.partition(".")
    if not dot or len(token) > 2048:
        raise BadTokenError("not a token")
    _unb64(payload)  # base64url only (ASCII) before it is signed again
    _unb64(signature)
    if not hmac.compare_digest(_sign(secret, payload), signature):
        raise BadTokenError("the token's signature does not match")
    try:
        data = json.loads(_unb64(payload).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadTokenError("not a token") from exc
    if (
        not isinstance(data, list)
        or len(data) != 3
        or not isinstance(data[0], str)
        or not isinstance(data[1], str)
        or not isinstance(data[2], int)
    ):
        raise BadTokenError("not a token")
    if data[2] <= now:
        raise BadTokenError("the token has expired")
    return Claim(address=data[0], role=data[1], expires=data[2])


def link(base: str, token: str) -> str:
    """The unsubscribe URL with the token as its `t` query parameter."""
    return f"{base}{'&' if '?' in base else '?'}t={token}"
