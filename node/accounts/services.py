"""Accounts: argon2 passwords, sign-in with brute-force throttling, account management.

Hashing and the throttle are shared with the hub (`shared.web.passwords`, `.throttle`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from node.accounts.models import Account, LoginFailure, PasswordReset
from node.audit.recording import record
from node.auth.principal import Principal
from node.auth.reach import within
from node.db import db
from node.grants.models import Grant, Role
from node.members.models import Member
from node.members.services import MemberFilter, member_query
from node.orgs.models import Org
from shared.db import utcnow
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound
from shared.web.passwords import hash_password, needs_rehash, verify_password
from shared.web.throttle import Throttle

#: The one password rule (pages and API both show it, from here).
MIN_PASSWORD_LENGTH = 10

#: Failed sign-ins (and reset requests) per key, in the node's `login_failures` table.
throttle = Throttle(db, LoginFailure)


def check_throttle(keys: Sequence[str], *, max_failures: int, window: int) -> None:
    """Refuse when any key (account, address, client) has too many recent failures."""
    throttle.check(keys, max_failures=max_failures, window=window)


def note_failure(keys: Sequence[str], *, window: int) -> None:
    """Count a failure for each key (the caller commits: a failed sign-in is not an error)."""
    throttle.note(keys, window=window)


def clear_failures(keys: Sequence[str]) -> None:
    throttle.clear(keys)


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
    if needs_rehash(account.password_hash):
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


def _require_authority_over(principal: Principal, account: Account) -> None:
    """Changing who an account is, or switching it off, changes what its roles reach: only
    for principals who could have granted every role it holds."""
    held = db.session.execute(sa.select(Grant.role, Grant.org_code)
                              .where(Grant.account_id == account.id)).all()
    if not all(principal.may_grant(Role(role), code) for role, code in held):
        raise Forbidden("This account holds roles stronger than yours.")


def set_account_active(principal: Principal, account_id: int, *, is_active: bool) -> Account:
    account = get_account(principal, account_id)
    if account.id == principal.account_id and not is_active:
        raise Conflict("You cannot disable your own account.")
    _require_authority_over(principal, account)
    account.is_active = is_active
    return account


def set_account_member(principal: Principal, account_id: int, *,
                       member_id: int | None) -> Account:
    """Link an account to a member record (its owner signs in as that member: the card, the
    self-declared fields) or unlink it (None).

    The member must be within the principal's administration and of this tenant (else the
    same "unknown member" as for a member that does not exist), and linked to no other
    account: one person, one login.
    """
    account = get_account(principal, account_id)
    _require_authority_over(principal, account)
    if member_id is not None:
        _member_code_in_reach(principal, member_id)
        holder = db.session.scalar(sa.select(Account.username).where(
            Account.member_id == member_id, Account.id != account.id))
        if holder is not None:
            raise Conflict("This member already has an account.",
                           errors={"member_id": ["Already linked to another account."]},
                           account=holder)
    if account.member_id != member_id:
        account.member_id = member_id
        db.session.flush()
    return account


def update_account(principal: Principal, account_id: int, data: Mapping[str, Any]) -> Account:
    """The API's PATCH: link or unlink a member and enable or disable, in one transaction."""
    account = get_account(principal, account_id)
    if "member_id" in data:
        set_account_member(principal, account_id, member_id=data["member_id"])
    if "is_active" in data:
        set_account_active(principal, account_id, is_active=data["is_active"])
    return account


@dataclasses.dataclass(frozen=True)
class LinkCandidate:
    """A member one may link an account to, and the account it already has, if any."""

    id: int
    name: str
    member_number: str
    org_name: str
    account_username: str | None


@dataclasses.dataclass(frozen=True)
class LinkedMember:
    id: int
    name: str
    member_number: str
    org_name: str


def linked_members(accounts: Sequence[Account]) -> dict[int, LinkedMember]:
    """The member record of each linked account (account id -> member), in one query."""
    ids = {a.member_id: a.id for a in accounts if a.member_id is not None}
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Member.id, Member.name, Member.member_number, Org.name.label("org_name"))
        .join(Org, Org.id == Member.org_id).where(Member.id.in_(ids))).mappings()
    return {ids[row["id"]]: LinkedMember(**row) for row in rows}


def link_candidates(principal: Principal, q: str, *, limit: int = 20) -> list[LinkCandidate]:
    """Members within the principal's administration matching `q` (name, member number or
    national ID, as the member search reads it), for the page that links an account."""
    stmt = (member_query(principal, MemberFilter(q=q), Member.id, Member.name,
                         Member.member_number, Org.name.label("org_name"),
                         Account.username.label("account_username"), role=Role.org_admin)
            .join(Org, Org.id == Member.org_id)
            .outerjoin(Account, Account.member_id == Member.id)
            .order_by(Member.org_code, Member.id).limit(limit))
    return [LinkCandidate(**row) for row in db.session.execute(stmt).mappings()]

