"""The browser session (Flask's signed cookie) and the CSRF token every form carries.

The session holds the account and tenant ids, a stamp of the account's password and a
per-session CSRF token; it is started afresh at sign-in (nothing set before survives) and
cleared at sign-out. A password change or reset ends every other session of the account: their
stamp no longer matches.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import g, request, session

from node.accounts.models import Account
from node.auth import oauth


def current_session_account() -> Account | None:
    """The active account signed in with this browser session, or None."""
    if "session_account" in g:
        account: Account | None = g.session_account
        return account
    account_id, tenant_id = session.get("account_id"), session.get("tenant_id")
    account = None
    if isinstance(account_id, int) and isinstance(tenant_id, int):
        account = oauth.load_user(tenant_id, account_id)
    stamp = session.get("password_stamp")
    if account is not None and not (isinstance(stamp, str) and hmac.compare_digest(
            stamp, password_stamp(account))):
        account = None  # the password changed since this session signed in
    g.session_account = account
    return account


def password_stamp(account: Account) -> str:
    """Changes whenever the password does (a digest of its salted hash, never the hash)."""
    return hashlib.sha256((account.password_hash or "").encode()).hexdigest()[:16]


def start_session(account: Account) -> None:
    # A fresh session (and CSRF token) on sign-in: nothing set before it survives (fixation).
    session.clear()
    session["account_id"] = account.id
    session["tenant_id"] = account.tenant_id
    session["password_stamp"] = password_stamp(account)
    session["csrf"] = secrets.token_urlsafe(32)
    g.session_account = account


def end_session() -> int | None:
    """Sign out; returns the tenant id the session belonged to."""
    tenant_id = session.get("tenant_id")
    session.clear()
    g.pop("session_account", None)
    return tenant_id if isinstance(tenant_id, int) else None


def csrf_token() -> str:
    token = session.get("csrf")
    if not isinstance(token, str):
        token = session["csrf"] = secrets.token_urlsafe(32)
    return token


def csrf_valid() -> bool:
    sent, expected = request.form.get("csrf_token", ""), session.get("csrf")
    return (isinstance(expected, str) and bool(sent)
            and hmac.compare_digest(sent.encode(), expected.encode()))
