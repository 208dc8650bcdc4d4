"""The organization tree (党组织) with unified codes, officers and recorded moves."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from node.audit.models import Audited
from node.db import NodeModel
from node.tenants.scoping import TenantScoped
from shared.db import TimestampMixin, utcnow
from shared.db.base import code_type


class OrgKind(enum.StrEnum):
    committee = "committee"
    general_branch = "general_branch"
    branch = "branch"
    joint_branch = "joint_branch"
    group = "group"


class OfficerPosition(enum.StrEnum):
    secretary = "secretary"
    deputy_secretary = "deputy_secretary"
    organization = "organization"  # 组织委员
    propaganda = "propaganda"  # 宣传委员
    discipline = "discipline"  # 纪检委员
    committee_member = "committee_member"
    group_leader = "group_leader"


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=32, validate_strings=True)


class Org(TenantScoped, Audited, TimestampMixin, NodeModel):
    __tablename__ = "orgs"
    __audit_name__ = "org"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "external_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id"), index=True)
    code: Mapped[str] = mapped_column(code_type(64), unique=True)
    kind: Mapped[OrgKind] = mapped_column(_enum(OrgKind))
    name: Mapped[str] = mapped_column(sa.String(120))
    short_name: Mapped[str | None] = mapped_column(sa.String(40))
    external_code: Mapped[str | None] = mapped_column(sa.String(64))
    description: Mapped[str | None] = mapped_column(sa.Text)
    #: Shown on the tenant's public site; `description` stays internal.
    public_description: Mapped[str | None] = mapped_column(sa.Text)
    is_village_or_community: Mapped[bool] = mapped_column(default=False)
    founded_on: Mapped[dt.date | None]
    dissolved_on: Mapped[dt.date | None]
    depth: Mapped[int] = mapped_column(default=0)
    next_child_seq: Mapped[int] = mapped_column(default=0)

    parent: Mapped[Org | None] = relationship(remote_side=[id], lazy="raise")

    @property
    def is_dissolved(self) -> bool:
        return self.dissolved_on is not None

    def audit_scope(self) -> str:
        return self.code

    def __repr__(self) -> str:
        return f"<Org {self.id} {self.code}>"


class Officer(TenantScoped, Audited, NodeModel):
    """An officer of an organization for one term (secretary, committee member, ...)."""

    __tablename__ = "org_officers"
    __audit_name__ = "officer"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"), index=True)
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(60))
    position: Mapped[OfficerPosition] = mapped_column(_enum(OfficerPosition))
    term_start: Mapped[dt.date]
    term_end: Mapped[dt.date | None]
    #: The org's code, kept for audit scoping and the "current officers" query.
    org_code: Mapped[str] = mapped_column(code_type(64), index=True)

    def audit_scope(self) -> str:
        return self.org_code


class OrgMove(TenantScoped, NodeModel):
    """A recorded move of a subtree to a new parent, with the codes before and after."""

    __tablename__ = "org_moves"

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"), index=True)
    from_parent_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"))
    to_parent_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"))
    old_code: Mapped[str] = mapped_column(code_type(64))
    new_code: Mapped[str] = mapped_column(code_type(64))
    subtree_size: Mapped[int]
    reason: Mapped[str | None] = mapped_column(sa.String(255))
    actor_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    moved_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
