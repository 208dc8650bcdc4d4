"""The browser session pieces node and hub share: CSRF tokens, password stamps, fresh
sessions at sign-in and safe `next` links.

The session is Flask's signed cookie. It is started afresh at sign-in (nothing set before
survives: no fixation) with a per-session CSRF token that every form carries, and a stamp of
the account's password hash, so a password change ends every other session of the account.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any
from urllib.parse import urlsplit

from flask import request, session


def password_stamp(password_hash: str | None) -> str:
    """Changes whenever the password does (a digest of its salted hash, never the hash)."""
    return hashlib.sha256((password_hash or "").encode()).hexdigest()[:16]


def stamp_matches(password_hash: str | None) -> bool:
    """Whether this session was signed in with the account's current password."""
    stamp = session.get("password_stamp")
    return isinstance(stamp, str) and hmac.compare_digest(stamp, password_stamp(password_hash))


def fresh_session(password_hash: str | None, **values: Any) -> None:
    """Start a new session holding `values` (ids), the password stamp and a new CSRF token."""
    session.clear()
    session.update(values)
    session["password_stamp"] = password_stamp(password_hash)
    session["csrf"] = secrets.token_urlsafe(32)


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_valid() -> bool:
    sent, expected = request.form.get("csrf_token", ""), session.get("csrf")
    return (isinstance(expected, str) and bool(sent)
            and hmac.compare_digest(sent.encode(), expected.encode()))


def safe_next(value: str | None) -> str | None:
    """Only a path on this site: never an open redirect to another host."""
    if not value or not value.isprintable() or "\\" in value or len(value) > 4000:
        return None
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return None
    return value
