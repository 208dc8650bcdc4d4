"""Grants with the delegation rule: authority flows down, level by level (逐级授权)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence

import sqlalchemy as sa

from node.accounts.models import Account
from node.accounts.services import visible_accounts
from node.auth.principal import Principal
from node.auth.reach import within
from node.db import db
from node.grants.models import Grant, Role
from node.orgs.models import Org
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound


def _visible(principal: Principal) -> sa.Select[tuple[Grant]]:
    """Grants inside the subtrees the principal administers, plus the principal's own."""
    return sa.select(Grant).where(sa.or_(
        within(Grant.org_code, principal.prefixes(Role.org_admin)),
        Grant.account_id == principal.account_id))


def list_grants(principal: Principal, *, account_id: int | None = None,
                after_id: int | None = None, limit: int = 50) -> Sequence[Grant]:
    stmt = _visible(principal).order_by(Grant.id).limit(limit)
    if account_id is not None:
        stmt = stmt.where(Grant.account_id == account_id)
    if after_id is not None:
        stmt = stmt.where(Grant.id > after_id)
    return db.session.scalars(stmt).all()


def get_grant(principal: Principal, grant_id: int) -> Grant:
    grant = db.session.scalar(_visible(principal).where(Grant.id == grant_id))
    if grant is None:
        raise NotFound("No such grant.")
    return grant


def create_grant(principal: Principal, *, account_id: int, role: Role, org_id: int) -> Grant:
    org = db.session.get(Org, org_id)
    if org is None or not principal.can(Role.org_viewer, org.code):
        raise InvalidInput("No such organization in your scope.",
                           errors={"org_id": ["Unknown organization."]})
    if not principal.may_grant(role, org.code):
        raise Forbidden("You may only grant roles no stronger than your own, within your scope.",
                        errors={"role": ["Stronger than your own role here."]})
    if org.is_dissolved:
        raise Conflict("The organization is dissolved.")
    account = db.session.scalar(visible_accounts(principal).where(Account.id == account_id))
    if account is None or not account.is_active:
        raise InvalidInput("No such active account.", errors={"account_id": ["Unknown account."]})
    exists = db.session.scalar(sa.select(Grant.id).where(
        Grant.account_id == account_id, Grant.role == role, Grant.org_id == org.id))
    if exists:
        raise Conflict("The account already holds this role here.")
    grant = Grant(account_id=account_id, role=role, org_id=org.id, org_code=org.code,
                  granted_by_account_id=principal.account_id)
    db.session.add(grant)
    db.session.flush()
    return grant


def revoke_grant(principal: Principal, grant_id: int) -> None:
    grant = get_grant(principal, grant_id)
    if grant.account_id != principal.account_id and not principal.may_grant(grant.role,
                                                                             grant.org_code):
        raise Forbidden("You may only revoke roles no stronger than your own, within your scope.")
    if grant.role == Role.tenant_admin:
        others = db.session.scalar(sa.select(sa.func.count()).select_from(Grant).where(
            Grant.role == Role.tenant_admin, Grant.id != grant.id))
        if not others:
            raise Conflict("The last tenant administrator cannot be removed.")
    db.session.delete(grant)
    db.session.flush()


@dataclasses.dataclass(frozen=True)
class GrantView:
    """A grant as a page lists it: who holds which role where."""

    id: int
    role: Role
    account_id: int
    username: str
    display_name: str
    org_id: int
    org_name: str
    org_code: str
    granted_by: str | None
    created_at: dt.datetime


def grant_views(principal: Principal, *, account_id: int | None = None,
                roles: Sequence[Role] | None = None, after_id: int | None = None,
                limit: int = 50) -> list[GrantView]:
    """The grants `list_grants` shows, with the names of their accounts and organizations."""
    visible = _visible(principal).with_only_columns(Grant.id)
    if account_id is not None:
        visible = visible.where(Grant.account_id == account_id)
    if roles:
        visible = visible.where(Grant.role.in_(list(roles)))
    if after_id is not None:
        visible = visible.where(Grant.id > after_id)
    granter = sa.orm.aliased(Account)
    rows = db.session.execute(
        sa.select(Grant, Account.username, Account.display_name, Org.name, granter.username)
        .join(Account, Account.id == Grant.account_id).join(Org, Org.id == Grant.org_id)
        .outerjoin(granter, granter.id == Grant.granted_by_account_id)
        .where(Grant.id.in_(visible.order_by(Grant.id).limit(limit).scalar_subquery()))
        .order_by(Grant.id)).all()
    return [GrantView(grant.id, Role(grant.role), grant.account_id, username, display_name,
                      grant.org_id, org_name, grant.org_code, granted_by, grant.created_at)
            for grant, username, display_name, org_name, granted_by in rows]


def grantable_roles(principal: Principal) -> list[Role]:
    """Roles the principal may grant somewhere (the delegation rule picks the place)."""
    return [role for role in Role
            if any(principal.may_grant(role, code) for _, code in principal.grants)]
