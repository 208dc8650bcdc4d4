"""Directives and study items received from the hub, and who read and completed them.

One `Directive` row per (targeted tenant, hub directive): each tenant keeps its own copy, so
tenant isolation applies to directives like to everything else. Reads are per account (the
member record, if any, is copied so that counts can be made per member).
"""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.db import NodeModel
from node.tenants.scoping import TenantScoped
from shared.db import utcnow


class DirectiveKind(enum.StrEnum):
    directive = "directive"
    study = "study"


class Priority(enum.StrEnum):
    normal = "normal"
    high = "high"
    urgent = "urgent"


class Audience(enum.StrEnum):
    """Everyone of the tenant, or its organization administrators (secretaries) only."""

    all = "all"
    secretaries = "secretaries"


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=16, validate_strings=True)


class Directive(TenantScoped, NodeModel):
    __tablename__ = "directives"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "hub_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The directive's id on the hub (what receipts name).
    hub_id: Mapped[int]
    kind: Mapped[DirectiveKind] = mapped_column(_enum(DirectiveKind))
    title: Mapped[str] = mapped_column(sa.String(200))
    #: Plain text (Markdown allowed), never rendered as HTML.
    body: Mapped[str] = mapped_column(sa.Text, default="")
    #: [{"title": ..., "url": ...}] as the hub sent them.
    links: Mapped[list[dict[str, str]]] = mapped_column(sa.JSON, default=list)
    priority: Mapped[Priority] = mapped_column(_enum(Priority))
    pinned: Mapped[bool] = mapped_column(default=False)
    deadline: Mapped[dt.datetime | None]
    audience: Mapped[Audience] = mapped_column(_enum(Audience))
    published_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[dt.datetime | None]
    #: The counts last sent to the hub (None: no receipt yet), so unchanged ones are not resent.
    reported_targeted: Mapped[int | None]
    reported_read: Mapped[int | None]
    reported_completed: Mapped[int | None]
    reported_at: Mapped[dt.datetime | None]

    @property
    def completable(self) -> bool:
        """Study items and directives with a deadline are marked completed by each person."""
        return self.kind == DirectiveKind.study or self.deadline is not None

    def __repr__(self) -> str:
        return f"<Directive {self.id} hub:{self.hub_id}>"


class DirectiveRead(TenantScoped, NodeModel):
    """An account opened the directive (and perhaps marked it completed)."""

    __tablename__ = "directive_reads"
    __table_args__ = (sa.UniqueConstraint("directive_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    directive_id: Mapped[int] = mapped_column(sa.ForeignKey("directives.id"), index=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    #: The account's member record when it read (counts for an `all` audience are per member).
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"), index=True)
    read_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[dt.datetime | None]
