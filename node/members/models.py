"""Members (党员, including pipeline people) with dated stage, status and org history."""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.audit.models import Audited
from node.db import NodeModel
from node.tenants.scoping import TenantScoped
from shared.db import TimestampMixin, utcnow
from shared.db.base import code_type


class Stage(enum.StrEnum):
    applicant = "applicant"
    activist = "activist"
    candidate = "candidate"
    probationary = "probationary"
    full = "full"


STAGE_ORDER = list(Stage)


class Status(enum.StrEnum):
    active = "active"
    floating = "floating"
    lost_contact = "lost_contact"
    suspended = "suspended"
    transferred_out = "transferred_out"
    kept = "kept"
    left = "left"


class Gender(enum.StrEnum):
    male = "male"
    female = "female"


class Education(enum.StrEnum):
    primary = "primary"
    junior_secondary = "junior_secondary"
    senior_secondary = "senior_secondary"
    vocational = "vocational"
    associate = "associate"
    bachelor = "bachelor"
    master = "master"
    doctorate = "doctorate"


#: Fields a member maintains personally (分级维护: the member tier).
SELF_DECLARED_FIELDS = ("phone", "email", "address", "work_unit", "occupation")


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=32, validate_strings=True)


class Member(TenantScoped, Audited, TimestampMixin, NodeModel):
    __tablename__ = "members"
    __audit_name__ = "member"
    __audit_exclude__ = frozenset({"national_id_cipher", "national_id_hash", "org_code"})
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "national_id_hash"),
        sa.Index("ix_members_org_code_id", "org_code", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_number: Mapped[str] = mapped_column(code_type(24), unique=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"), index=True)
    #: Denormalised code of the member's org, so a subtree listing is one index range scan.
    org_code: Mapped[str] = mapped_column(code_type(64))
    name: Mapped[str] = mapped_column(sa.String(60), index=True)
    gender: Mapped[Gender] = mapped_column(_enum(Gender))
    birth_date: Mapped[dt.date]
    ethnicity: Mapped[str | None] = mapped_column(sa.String(30))
    education: Mapped[Education | None] = mapped_column(_enum(Education))
    national_id_cipher: Mapped[str] = mapped_column(sa.String(120))
    national_id_hash: Mapped[str] = mapped_column(sa.String(64))
    national_id_masked: Mapped[str] = mapped_column(sa.String(18))
    stage: Mapped[Stage] = mapped_column(_enum(Stage))
    status: Mapped[Status] = mapped_column(_enum(Status), default=Status.active)
    applied_on: Mapped[dt.date | None]
    admitted_on: Mapped[dt.date | None]  # party age counts from the branch assembly
    full_on: Mapped[dt.date | None]
    phone: Mapped[str | None] = mapped_column(sa.String(30))
    email: Mapped[str | None] = mapped_column(sa.String(120))
    address: Mapped[str | None] = mapped_column(sa.String(255))
    work_unit: Mapped[str | None] = mapped_column(sa.String(120))
    occupation: Mapped[str | None] = mapped_column(sa.String(60))

    def audit_scope(self) -> str:
        return self.org_code

    def __repr__(self) -> str:
        return f"<Member {self.id} {self.member_number}>"


class StageChange(TenantScoped, NodeModel):
    __tablename__ = "member_stage_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    from_stage: Mapped[Stage | None] = mapped_column(_enum(Stage))
    to_stage: Mapped[Stage] = mapped_column(_enum(Stage))
    effective_on: Mapped[dt.date]
    note: Mapped[str | None] = mapped_column(sa.String(255))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class StatusChange(TenantScoped, NodeModel):
    __tablename__ = "member_status_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    from_status: Mapped[Status | None] = mapped_column(_enum(Status))
    to_status: Mapped[Status] = mapped_column(_enum(Status))
    effective_on: Mapped[dt.date]
    reason: Mapped[str | None] = mapped_column(sa.String(255))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class OrgChange(TenantScoped, NodeModel):
    """The member's organization history: each membership of an org, with dates."""

    __tablename__ = "member_org_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    from_org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id"))
    to_org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"))
    effective_on: Mapped[dt.date]
    reason: Mapped[str | None] = mapped_column(sa.String(255))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ActivityEntry(TenantScoped, NodeModel):
    """One line of the activity card: meetings, study, dues, volunteering (later features)."""

    __tablename__ = "activity_entries"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.String(200))
    occurred_on: Mapped[dt.date]
    credits: Mapped[Decimal] = mapped_column(sa.Numeric(8, 2), default=Decimal("0"))
    points: Mapped[int] = mapped_column(default=0)
    source: Mapped[str | None] = mapped_column(sa.String(80))
