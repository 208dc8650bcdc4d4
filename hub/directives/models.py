"""Directives and study items written on the hub, the tenants they reached, and the counts the
nodes sent back.

A directive's target is kept as written (all, a region prefix, listed tenants); publishing
resolves it once into `DirectiveTarget` rows, one per targeted tenant, which then carry that
tenant's latest receipt. Completion per node and per region is a `SUM` over those rows.
"""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import HubModel
from shared.db import utcnow
from shared.db.base import code_type


class DirectiveKind(enum.StrEnum):
    directive = "directive"
    study = "study"


class Priority(enum.StrEnum):
    normal = "normal"
    high = "high"
    urgent = "urgent"


class Audience(enum.StrEnum):
    all = "all"
    secretaries = "secretaries"


class TargetKind(enum.StrEnum):
    """Every enrolled node; the tenants of a region (code prefix); listed tenants."""

    all = "all"
    region = "region"
    tenants = "tenants"


class DirectiveStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    withdrawn = "withdrawn"


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=16, validate_strings=True)


class Directive(HubModel):
    __tablename__ = "directives"
    __table_args__ = (sa.Index("ix_directives_status_id", "status", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[DirectiveKind] = mapped_column(_enum(DirectiveKind))
    title: Mapped[str] = mapped_column(sa.String(200))
    #: Plain text (Markdown allowed), at most 64 K characters (the message's limit).
    body: Mapped[str] = mapped_column(sa.Text, default="")
    #: [{"title": ..., "url": ...}]: reading material and attachments kept elsewhere.
    links: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list)
    priority: Mapped[Priority] = mapped_column(_enum(Priority), default=Priority.normal)
    pinned: Mapped[bool] = mapped_column(default=False)
    deadline: Mapped[dt.datetime | None]
    audience: Mapped[Audience] = mapped_column(_enum(Audience), default=Audience.all)
    target_kind: Mapped[TargetKind] = mapped_column(_enum(TargetKind), default=TargetKind.all)
    #: For `region`: a prefix of the tenants' 6-digit region codes (50: Chongqing).
    target_region: Mapped[str | None] = mapped_column(code_type(6))
    #: For `tenants`: ["<node id>/<tenant slug>", ...].
    target_tenants: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    status: Mapped[DirectiveStatus] = mapped_column(_enum(DirectiveStatus),
                                                    default=DirectiveStatus.draft)
    created_by: Mapped[str] = mapped_column(sa.String(120))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_by: Mapped[str | None] = mapped_column(sa.String(120))
    published_at: Mapped[dt.datetime | None]
    withdrawn_by: Mapped[str | None] = mapped_column(sa.String(120))
    withdrawn_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<Directive {self.id} {self.status}>"


class DirectiveTarget(HubModel):
    """A tenant the directive was sent to, with the latest counts its node reported."""

    __tablename__ = "directive_targets"
    __table_args__ = (sa.UniqueConstraint("directive_id", "node_tenant_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    directive_id: Mapped[int] = mapped_column(sa.ForeignKey("directives.id"), index=True)
    node_tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("node_tenants.id"), index=True)
    #: Copies taken at publication (a region roll-up must not move if a tenant is re-enrolled).
    node_id: Mapped[str] = mapped_column(sa.String(128))
    tenant: Mapped[str] = mapped_column(sa.String(40))
    region: Mapped[str] = mapped_column(code_type(6))
    code_prefix: Mapped[str] = mapped_column(code_type(12))
    #: The latest receipt (None until the first one): counts of people, never names.
    targeted: Mapped[int | None]
    read: Mapped[int | None]
    completed: Mapped[int | None]
    as_of: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<DirectiveTarget {self.directive_id} {self.node_id}/{self.tenant}>"
