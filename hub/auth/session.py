"""The hub's browser session: the signed-in account (the pieces are `shared.web.session`).

The session holds the account id and a stamp of its password; a deactivated account or a
changed password ends it at the next request.
"""

from __future__ import annotations

from flask import g, session

from hub.accounts.models import HubAccount
from hub.accounts.services import active_account
from shared.web.session import csrf_token, csrf_valid, fresh_session, stamp_matches

__all__ = ["csrf_token", "csrf_valid", "current_hub_account", "end_session", "start_session"]

_KEY = "hub_account_id"


def current_hub_account() -> HubAccount | None:
    """The active account signed in with this browser session, or None."""
    if "hub_account" in g:
        account: HubAccount | None = g.hub_account
        return account
    account_id = session.get(_KEY)
    account = active_account(account_id) if isinstance(account_id, int) else None
    if account is not None and not stamp_matches(account.password_hash):
        account = None  # the password changed since this session signed in
    g.hub_account = account
    return account


def start_session(account: HubAccount) -> None:
    # A fresh session (and CSRF token) on sign-in: nothing set before it survives (fixation).
    fresh_session(account.password_hash, **{_KEY: account.id})
    g.hub_account = account


def end_session() -> None:
    session.clear()
    g.pop("hub_account", None)


def signed_in() -> bool:
    """Whether a session cookie names an account (for cache headers; not authentication)."""
    return _KEY in session
