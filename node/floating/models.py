"""Floating certificates (流动党员活动证) and the participation the host records.

A certificate has two sides sharing a network-wide `uid`, like a transfer: the `home` side in
the member's tenant (with the member) and the `host` side in the tenant of the organization
where the member takes part. Tenant isolation stays structural: each tenant only ever reads
its own rows, and the host's row carries a limited copy of the member (name, stage, contact,
home organization), never the national ID. Both rows live in one database when the host is a
tenant of this node; the sides talk only by steps (`node.floating.services.apply_step`), and a
host on another node gets the same steps over the bus (`node.floating.remote`, `peer_node`).
"""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.audit.models import Audited
from node.db import NodeModel
from node.members.models import Stage
from node.tenants.scoping import TenantScoped
from shared.db import utcnow
from shared.db.base import code_type


class FloatingSide(enum.StrEnum):
    home = "home"  # the member's own organization: the relationship stays here
    host = "host"  # where the member takes part, without a vote


class FloatingStatus(enum.StrEnum):
    pending = "pending"  # issued by the home organization, not yet accepted by the host
    active = "active"  # accepted: the member is `floating` at home and takes part at the host
    declined = "declined"  # the host declined, with a reason
    ended = "ended"  # returned, cancelled or expired (`end_reason`)


class EndReason(enum.StrEnum):
    returned = "returned"  # the member came back or left the host's area
    cancelled = "cancelled"  # withdrawn by the home organization
    expired = "expired"  # the validity (`until`) passed
    transferred = "transferred"  # the member's relationship moved away from the home tenant
    undeliverable = "undeliverable"  # the hub could not route a step to the other side


class ParticipationStatus(enum.StrEnum):
    present = "present"
    excused = "excused"
    absent = "absent"


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=16, validate_strings=True)


class FloatingCertificate(TenantScoped, Audited, NodeModel):
    __tablename__ = "floating_certificates"
    __audit_name__ = "floating_certificate"
    __audit_exclude__ = frozenset({"member_phone", "member_email", "org_code"})
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "uid", "side"),
        sa.UniqueConstraint("tenant_id", "side", "number"),
        sa.Index("ix_floating_certificates_tenant_org_code", "tenant_id", "org_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(sa.String(36))
    side: Mapped[FloatingSide] = mapped_column(_enum(FloatingSide))
    #: The certificate's number, given by the home tenant: `<code prefix>-LD-<year>-<seq>`.
    number: Mapped[str] = mapped_column(sa.String(40))
    status: Mapped[FloatingStatus] = mapped_column(_enum(FloatingStatus))
    #: The code this side's reach is checked on: the member's org (home), the host org (host).
    org_code: Mapped[str] = mapped_column(code_type(64))
    #: The member, on the home side only (the host has no member row).
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"), index=True)
    #: What the host may see of the member: name, number, stage, contact.
    member_name: Mapped[str] = mapped_column(sa.String(60))
    member_number: Mapped[str] = mapped_column(sa.String(24))
    member_stage: Mapped[Stage] = mapped_column(_enum(Stage))
    member_phone: Mapped[str | None] = mapped_column(sa.String(30))
    member_email: Mapped[str | None] = mapped_column(sa.String(120))
    home_tenant_slug: Mapped[str] = mapped_column(sa.String(40))
    home_org_code: Mapped[str] = mapped_column(code_type(64))
    home_org_name: Mapped[str] = mapped_column(sa.String(120))
    host_tenant_slug: Mapped[str] = mapped_column(sa.String(40))
    host_tenant_name: Mapped[str] = mapped_column(sa.String(120))
    host_org_code: Mapped[str] = mapped_column(code_type(64))
    host_org_name: Mapped[str] = mapped_column(sa.String(120))
    #: The other side's node when it is not this one (null: both sides on this node).
    peer_node: Mapped[str | None] = mapped_column(sa.String(128))
    starts_on: Mapped[dt.date]
    until: Mapped[dt.date]
    reason: Mapped[str] = mapped_column(sa.String(300))
    decline_reason: Mapped[str | None] = mapped_column(sa.String(300))
    end_reason: Mapped[EndReason | None] = mapped_column(_enum(EndReason))
    ended_on: Mapped[dt.date | None]
    #: Why it ended, for people, when the reason needs one (the hub's refusal to route).
    end_detail: Mapped[str | None] = mapped_column(sa.String(300))
    #: Who issued it (home side), who decided (host side); accounts of this side's tenant.
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    @property
    def is_open(self) -> bool:
        return self.status in (FloatingStatus.pending, FloatingStatus.active)

    def audit_scope(self) -> str:
        return self.org_code

    def __repr__(self) -> str:
        return f"<FloatingCertificate {self.id} {self.number} {self.side} {self.status}>"


class FloatingParticipation(TenantScoped, NodeModel):
    """A meeting of the host the floating member was recorded at (present, on leave or
    absent), kept on both sides: the host's record and the member's at home."""

    __tablename__ = "floating_participations"
    __table_args__ = (sa.UniqueConstraint("certificate_id", "meeting_ref"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    certificate_id: Mapped[int] = mapped_column(sa.ForeignKey("floating_certificates.id"),
                                                index=True)
    #: The host's meeting, network-wide: `<host tenant slug>:<meeting id>`.
    meeting_ref: Mapped[str] = mapped_column(sa.String(60))
    #: The meeting itself, on the host side only.
    meeting_id: Mapped[int | None] = mapped_column(sa.ForeignKey("meetings.id"))
    kind: Mapped[str] = mapped_column(sa.String(24))
    title: Mapped[str] = mapped_column(sa.String(200))
    occurred_on: Mapped[dt.date]
    status: Mapped[ParticipationStatus] = mapped_column(_enum(ParticipationStatus))
    reason: Mapped[str | None] = mapped_column(sa.String(300))
    recorded_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
