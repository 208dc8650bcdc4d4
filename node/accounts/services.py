"""Accounts: argon2 passwords, sign-in with brute-force throttling, account management."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from node.accounts.models import Account, LoginFailure, PasswordReset
from node.audit.recording import record
from node.auth.principal import Principal
from node.auth.reach import within
from node.db import db
from node.grants.models import Grant, Role
from node.members.models import Member
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound, TooManyAttempts

#: The one password rule (pages and API both show it, from here).
MIN_PASSWORD_LENGTH = 10

_hasher = PasswordHasher()
# A hash verified when the account does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("partynet-no-such-account")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def check_throttle(keys: Sequence[str], *, max_failures: int, window: int) -> None:
    """Refuse when any key (account, address, client) has too many recent failures."""
    now = utcnow()
    rows = db.session.scalars(sa.select(LoginFailure).where(LoginFailure.key.in_(keys))).all()
    for row in rows:
        age = (now - row.window_started_at).total_seconds()
        if age < window and row.failures >= max_failures:
            raise TooManyAttempts("Too many failed attempts; try again later.",
                                  headers={"Retry-After": str(int(window - age) + 1)})


def note_failure(keys: Sequence[str], *, window: int) -> None:
    """Count a failure for each key (the caller commits: a failed sign-in is not an error)."""
    now = utcnow()
    for key in keys:
        row = db.session.get(LoginFailure, key)
        if row is None:
            db.session.add(LoginFailure(key=key, failures=1, window_started_at=now))
        elif (now - row.window_started_at).total_seconds() >= window:
            row.failures, row.window_started_at = 1, now
        else:
            row.failures += 1
    db.session.flush()


def clear_failures(keys: Sequence[str]) -> None:
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.key.in_(keys)))


def authenticate(*, tenant_id: int, username: str, password: str, remote_addr: str | None,
                 max_failures: int, window: int) -> Account | None:
    """Check a username and password; throttled per account and per address.

    A wrong password returns None rather than raising, so the caller's transaction commits the
    failure count; too many failures raise `TooManyAttempts` before anything is checked.
    """
    keys = [f"account:{tenant_id}:{username.lower()}"]
    if remote_addr:
        keys.append(f"addr:{remote_addr}")
    check_throttle(keys, max_failures=max_failures, window=window)
    account = db.session.scalar(
        sa.select(Account).where(Account.tenant_id == tenant_id, Account.username == username)
    )
    ok = verify_password(account.password_hash if account else None, password)
    if not ok or account is None or not account.is_active or account.is_service:
        note_failure(keys, window=window)
        return None
    clear_failures(keys)
    account.last_login_at = utcnow()
    if _hasher.check_needs_rehash(account.password_hash or ""):
        account.password_hash = hash_password(password)
    return account


def load_principal(account: Account, scopes: frozenset[str] = frozenset({"read", "write"})
                   ) -> Principal:
    grants = db.session.execute(
        sa.select(Grant.role, Grant.org_id, Grant.org_code).where(Grant.account_id == account.id)
    ).all()
    return Principal(account_id=account.id, tenant_id=account.tenant_id,
                     username=account.username, member_id=account.member_id,
                     grants=tuple((Role(g.role), g.org_code) for g in grants), scopes=scopes,
                     granted_orgs={g.org_id: g.org_code for g in grants})


def change_password(account: Account, *, current: str, new: str) -> None:
    if not verify_password(account.password_hash, current):
        raise InvalidInput("The current password is wrong.",
                           errors={"current_password": ["The current password is wrong."]})
    validate_password(new, "new_password")
    _set_password(account, new)
    # The hash itself is never audited, so the change is recorded explicitly.
    record(db.session(), action="account.password_change", entity_type="account",
           entity_id=account.id, scope_code=None, before=None, after=None)


def validate_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("The password is too short.",
                           errors={field: [f"Use at least {MIN_PASSWORD_LENGTH} characters."]})


def _set_password(account: Account, new: str) -> None:
    """Set a new password; every reset link still open for the account stops working."""
    account.password_hash = hash_password(new)
    db.session.execute(sa.update(PasswordReset)
                       .where(PasswordReset.account_id == account.id,
                              PasswordReset.used_at.is_(None))
                       .values(used_at=utcnow())
                       .execution_options(synchronize_session=False))


def set_account_locale(account: Account, locale: str | None) -> None:
    """Remember the language of the account's pages and emails."""
    if account.locale != locale:
        account.locale = locale


# --- forgotten passwords ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class IssuedReset:
    """A reset link to send: the token exists in clear only here and in the email."""

    account: Account
    token: str
    expires_at: dt.datetime


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def request_password_reset(*, tenant_id: int, email: str, remote_addr: str | None,
                           max_requests: int, window: int, ttl: int) -> list[IssuedReset]:
    """Issue a reset link for each active account of the tenant with this email address.

    Every request counts against the address and the email (whether or not an account has
    it), so the limit reveals nothing either; the caller answers the same in every case.
    Returns the links to send, usually one, none for an unknown address.
    """
    address = email.strip().lower()
    keys = [f"reset:{tenant_id}:{address}"]
    if remote_addr:
        keys.append(f"reset-addr:{remote_addr}")
    check_throttle(keys, max_failures=max_requests, window=window)
    note_failure(keys, window=window)  # counts requests, not failures
    accounts = db.session.scalars(
        sa.select(Account).where(sa.func.lower(Account.email) == address,
                                 Account.is_active.is_(True), Account.is_service.is_(False))
        .order_by(Account.id)).all()
    now = utcnow()
    issued = []
    for account in accounts:
        token = secrets.token_urlsafe(32)
        expires_at = now + dt.timedelta(seconds=ttl)
        db.session.add(PasswordReset(account_id=account.id, token_hash=_token_hash(token),
                                     created_at=now, expires_at=expires_at))
        issued.append(IssuedReset(account, token, expires_at))
    db.session.flush()
    return issued


_INVALID_LINK = "This link is invalid or has expired."


def check_reset_token(token: str) -> Account:
    """The account a reset link is for, if the link still works; else `InvalidInput`."""
    row = None
    if 20 <= len(token) <= 100:
        row = db.session.scalar(sa.select(PasswordReset)
                                .where(PasswordReset.token_hash == _token_hash(token)))
    account = db.session.get(Account, row.account_id) if row is not None else None
    if (row is None or account is None or row.used_at is not None
            or row.expires_at <= utcnow() or not account.is_active or account.is_service):
        raise InvalidInput(_INVALID_LINK, errors={"token": [_INVALID_LINK]})
    return account


def reset_password(*, token: str, new: str) -> Account:
    """Set a new password with a reset link; the link (and every other one) is then used."""
    account = check_reset_token(token)
    validate_password(new, "new_password")
    _set_password(account, new)
    clear_failures([f"account:{account.tenant_id}:{account.username.lower()}"])
    record(db.session(), action="account.password_reset", entity_type="account",
           entity_id=account.id, scope_code=None, before=None, after=None)
    return account


def _member_code_in_reach(principal: Principal, member_id: int) -> str:
    code = db.session.scalar(sa.select(Member.org_code).where(Member.id == member_id))
    if code is None or not principal.can(Role.org_admin, code):
        raise InvalidInput("No such member in your scope.",
                           errors={"member_id": ["Unknown member."]})
    return code


def create_account(principal: Principal, *, username: str, display_name: str,
                   password: str, email: str | None = None,
                   member_id: int | None = None) -> Account:
    """Tenant administrators create any account; org administrators create members' logins."""
    if member_id is not None:
        _member_code_in_reach(principal, member_id)
        if db.session.scalar(sa.select(Account.id).where(Account.member_id == member_id)):
            raise Conflict("This member already has an account.")
    elif not principal.prefixes(Role.tenant_admin):
        raise Forbidden("Only tenant administrators create accounts not linked to a member.")
    validate_password(password)
    exists = db.session.scalar(sa.select(Account.id).where(Account.username == username))
    if exists:
        raise Conflict("This username is taken.", errors={"username": ["Taken."]})
    account = Account(username=username, display_name=display_name, email=email,
                      member_id=member_id, password_hash=hash_password(password))
    db.session.add(account)
    db.session.flush()
    return account


def visible_accounts(principal: Principal) -> sa.Select[tuple[Account]]:
    """Accounts the principal administers: all for tenant administrators, else those of the
    members in the subtrees it administers."""
    stmt = sa.select(Account)
    if principal.prefixes(Role.tenant_admin):
        return stmt
    prefixes = principal.prefixes(Role.org_admin)
    return stmt.join(Member, Member.id == Account.member_id).where(
        within(Member.org_code, prefixes))


def list_accounts(principal: Principal, *, after_id: int | None = None,
                  limit: int = 50) -> Sequence[Account]:
    if not principal.prefixes(Role.org_admin):
        raise Forbidden("Listing accounts needs an administrator role.")
    stmt = visible_accounts(principal).order_by(Account.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(Account.id > after_id)
    return db.session.scalars(stmt).all()


def get_account(principal: Principal, account_id: int) -> Account:
    account = db.session.scalar(visible_accounts(principal).where(Account.id == account_id))
    if account is None:
        raise NotFound("No such account.")
    return account


def set_account_active(principal: Principal, account_id: int, *, is_active: bool) -> Account:
    account = get_account(principal, account_id)
    if account.id == principal.account_id and not is_active:
        raise Conflict("You cannot disable your own account.")
    held = db.session.execute(sa.select(Grant.role, Grant.org_code)
                              .where(Grant.account_id == account.id)).all()
    if not all(principal.may_grant(Role(role), code) for role, code in held):
        # Switching an account off would take away roles stronger than the caller's own.
        raise Forbidden("This account holds roles stronger than yours.")
    account.is_active = is_active
    return account

