"""Grants (逐级授权): an account holds a role over an organization's subtree."""

from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.audit.models import Audited
from node.db import NodeModel
from node.tenants.scoping import TenantScoped
from shared.db import TimestampMixin
from shared.db.base import code_type


class Role(enum.StrEnum):
    tenant_admin = "tenant_admin"
    org_admin = "org_admin"
    org_viewer = "org_viewer"
    member = "member"

    @property
    def strength(self) -> int:
        return _STRENGTH[self]

    def at_least(self, other: Role) -> bool:
        return self.strength >= other.strength


_STRENGTH = {Role.tenant_admin: 40, Role.org_admin: 30, Role.org_viewer: 20, Role.member: 10}
#: Roles that may delegate (grant roles no stronger than their own inside their scope).
DELEGATING_ROLES = frozenset({Role.tenant_admin, Role.org_admin})


class Grant(TenantScoped, Audited, TimestampMixin, NodeModel):
    __tablename__ = "grants"
    __audit_name__ = "grant"
    __table_args__ = (sa.UniqueConstraint("account_id", "role", "org_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    role: Mapped[Role] = mapped_column(sa.Enum(Role, native_enum=False, length=20))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"), index=True)
    #: Code of the scope org, kept in step by org moves; authorization compares codes only.
    org_code: Mapped[str] = mapped_column(code_type(64), index=True)
    granted_by_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))

    def audit_scope(self) -> str:
        return self.org_code
