"""Hub accounts: creation by an administrator (the first one by the CLI), argon2 passwords,
sign-in with brute-force throttling, deactivation.

The rules live here, once: the CLI, the API and the console pages all call these.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa

from hub.accounts.models import HubAccount, HubLoginFailure, HubRole
from hub.auth.principal import HubPrincipal
from hub.db import db
from shared.db import utcnow
from shared.errors import Conflict, InvalidInput, NotFound
from shared.web.passwords import hash_password, needs_rehash, verify_password
from shared.web.throttle import Throttle

#: The one password rule (pages, API and CLI show it, from here).
MIN_PASSWORD_LENGTH = 12
USERNAME_RE = re.compile(r"[a-z0-9][a-z0-9._-]{1,59}")
#: A region viewer's prefix: 2 to 12 digits (a province is 2, a district 6).
REGION_RE = re.compile(r"[0-9]{2,12}")
#: Failed sign-ins and client authentications per key, in `hub_login_failures`.
throttle = Throttle(db, HubLoginFailure)


def validate_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("The password is too short.", errors={
            field: [f"Use at least {MIN_PASSWORD_LENGTH} characters."]})
    if len(password) > 1024:
        raise InvalidInput("The password is too long.", errors={
            field: ["Use at most 1024 characters."]})


def create_account(*, username: str, display_name: str, role: HubRole, password: str | None,
                   created_by: str, email: str | None = None, region_prefix: str | None = None,
                   is_service: bool = False) -> HubAccount:
    """A new hub account; a region viewer needs a region prefix, the other roles none."""
    username = username.strip().lower()
    errors: dict[str, list[str]] = {}
    if not USERNAME_RE.fullmatch(username):
        errors["username"] = ["2–60 lowercase letters, digits, '.', '_' or '-'."]
    if (not display_name.strip() or len(display_name.strip()) > 60
            or not display_name.isprintable()):
        errors["display_name"] = ["Give a name of 1–60 characters."]
    if role == HubRole.region_viewer:
        if not region_prefix or not REGION_RE.fullmatch(region_prefix):
            errors["region_prefix"] = ["A region viewer needs a code prefix of 2–12 digits."]
    elif region_prefix:
        errors["region_prefix"] = ["Only a region viewer has a region prefix."]
    if email is not None and (len(email) > 120 or "@" not in email or not email.isprintable()
                              or " " in email):
        errors["email"] = ["Not a valid email address."]
    if errors:
        raise InvalidInput("The account cannot be created.", errors=errors)
    if not is_service:
        validate_password(password or "")
    if db.session.scalar(sa.select(HubAccount.id).where(HubAccount.username == username)):
        raise Conflict("This username is taken.", errors={"username": ["Taken."]})
    account = HubAccount(username=username, display_name=display_name.strip(), email=email,
                         role=role, region_prefix=region_prefix if role ==
                         HubRole.region_viewer else None, is_service=is_service,
                         password_hash=hash_password(password) if password else None,
                         created_by=created_by[:120], created_at=utcnow())
    db.session.add(account)
    db.session.flush()
    return account


def list_accounts(*, include_inactive: bool = True,
                  include_service: bool = True) -> Sequence[HubAccount]:
    query = sa.select(HubAccount).order_by(HubAccount.id)
    if not include_inactive:
        query = query.where(HubAccount.is_active.is_(True))
    if not include_service:
        query = query.where(HubAccount.is_service.is_(False))
    return db.session.scalars(query).all()


def get_account(account_id: int) -> HubAccount:
    account = db.session.get(HubAccount, account_id)
    if account is None:
        raise NotFound("No such account.")
    return account


def get_account_by_username(username: str) -> HubAccount:
    account = db.session.scalar(sa.select(HubAccount).where(
        HubAccount.username == username.strip().lower()))
    if account is None:
        raise NotFound(f"No account {username!r}.")
    return account


def _active_administrators() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(HubAccount).where(
        HubAccount.role == HubRole.administrator, HubAccount.is_active.is_(True),
        HubAccount.is_service.is_(False))) or 0


def deactivate_account(account: HubAccount, *, by: HubPrincipal | None = None) -> HubAccount:
    """Switch an account off: its sessions and tokens stop working at once.

    Nobody deactivates their own account, and the last active administrator stays.
    """
    if not account.is_active:
        raise Conflict("This account is already deactivated.")
    if by is not None and account.id == by.account_id:
        raise Conflict("You cannot deactivate your own account.")
    if (account.role == HubRole.administrator and not account.is_service
            and _active_administrators() <= 1):
        raise Conflict("The last active administrator cannot be deactivated.")
    account.is_active = False
    account.deactivated_at = utcnow()
    db.session.flush()
    return account


def set_password(account: HubAccount, password: str) -> None:
    """An operator's reset (CLI): every session of the account ends (its stamp changes)."""
    if account.is_service:
        raise Conflict("A service account has no password.")
    validate_password(password)
    account.password_hash = hash_password(password)
    throttle.clear([_account_key(account.username)])
    db.session.flush()


def change_password(account: HubAccount, *, current: str, new: str) -> None:
    if not verify_password(account.password_hash, current):
        raise InvalidInput("The current password is wrong.",
                           errors={"current_password": ["The current password is wrong."]})
    validate_password(new, "new_password")
    account.password_hash = hash_password(new)
    db.session.flush()


def set_locale(account: HubAccount, locale: str | None) -> None:
    if account.locale != locale:
        account.locale = locale


def _account_key(username: str) -> str:
    return f"hub-account:{username.strip().lower()}"


def authenticate(*, username: str, password: str, remote_addr: str | None,
                 max_failures: int, window: int) -> HubAccount | None:
    """Check a username and password; throttled per account and per address.

    A wrong password returns None rather than raising, so the caller's transaction commits the
    failure count; too many failures raise `TooManyAttempts` before anything is checked.
    """
    keys = [_account_key(username)]
    if remote_addr:
        keys.append(f"hub-addr:{remote_addr}")
    throttle.check(keys, max_failures=max_failures, window=window)
    account = db.session.scalar(sa.select(HubAccount).where(
        HubAccount.username == username.strip().lower()))
    ok = verify_password(account.password_hash if account else None, password)
    if not ok or account is None or not account.is_active or account.is_service:
        throttle.note(keys, window=window)
        return None
    throttle.clear(keys)
    account.last_login_at = utcnow()
    if needs_rehash(account.password_hash):
        account.password_hash = hash_password(password)
    return account


def active_account(account_id: int, *, service: bool = False) -> HubAccount | None:
    """The account if it is active (and a service account exactly when `service`)."""
    account = db.session.get(HubAccount, account_id)
    if account is None or not account.is_active or account.is_service != service:
        return None
    return account


def principal_for(account: HubAccount,
                  scopes: frozenset[str] = frozenset({"read", "write"})) -> HubPrincipal:
    return HubPrincipal(account_id=account.id, username=account.username, role=account.role,
                        region_prefix=account.region_prefix, scopes=scopes)
