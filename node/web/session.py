"""The browser session (Flask's signed cookie) and the CSRF token every form carries.

The session holds the account and tenant ids, a stamp of the account's password and a
per-session CSRF token; it is started afresh at sign-in (nothing set before survives) and
cleared at sign-out. A password change or reset ends every other session of the account: their
stamp no longer matches. The pieces are shared with the hub (`shared.web.session`).
"""

from __future__ import annotations

from flask import g, session

from node.accounts.models import Account
from node.auth import oauth
from shared.web.session import csrf_token, csrf_valid, fresh_session, stamp_matches
from shared.web.session import password_stamp as _stamp

__all__ = ["csrf_token", "csrf_valid", "current_session_account", "end_session",
           "password_stamp", "start_session"]


def current_session_account() -> Account | None:
    """The active account signed in with this browser session, or None."""
    if "session_account" in g:
        account: Account | None = g.session_account
        return account
    account_id, tenant_id = session.get("account_id"), session.get("tenant_id")
    account = None
    if isinstance(account_id, int) and isinstance(tenant_id, int):
        account = oauth.load_user(tenant_id, account_id)
    if account is not None and not stamp_matches(account.password_hash):
        account = None  # the password changed since this session signed in
    g.session_account = account
    return account


def password_stamp(account: Account) -> str:
    """Changes whenever the password does (a digest of its salted hash, never the hash)."""
    return _stamp(account.password_hash)


def start_session(account: Account) -> None:
    # A fresh session (and CSRF token) on sign-in: nothing set before it survives (fixation).
    fresh_session(account.password_hash, account_id=account.id, tenant_id=account.tenant_id)
    g.session_account = account


def end_session() -> int | None:
    """Sign out; returns the tenant id the session belonged to."""
    tenant_id = session.get("tenant_id")
    session.clear()
    g.pop("session_account", None)
    return tenant_id if isinstance(tenant_id, int) else None
