"""Articles and notices, their attachments and likes.

`updated_at` is the time of the last *content* change (it travels to the hub and orders
updates there): counting a view or a like does not touch it, so it is set by the services,
never by an `onupdate` hook.
"""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.audit.models import Audited
from node.db import NodeModel
from node.tenants.scoping import TenantScoped
from shared.db import utcnow
from shared.db.base import code_type


class ArticleKind(enum.StrEnum):
    article = "article"
    notice = "notice"


class Visibility(enum.StrEnum):
    """Who may read a published item: anyone; members of the org's subtree (and its viewers);
    the org's viewers and administrators only."""

    public = "public"
    members = "members"
    internal = "internal"


class ArticleStatus(enum.StrEnum):
    draft = "draft"
    published = "published"
    withdrawn = "withdrawn"


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=16, validate_strings=True)


class Article(TenantScoped, Audited, NodeModel):
    __tablename__ = "articles"
    __audit_name__ = "article"
    #: The body may be long, counters change on every view and the hub bookkeeping follows
    #: the publication: none is worth an audit copy.
    __audit_exclude__ = frozenset({"body", "view_count", "like_count", "org_code", "on_hub",
                                   "hub_views", "hub_likes"})
    __table_args__ = (
        sa.Index("ix_articles_org_code_id", "org_code", "id"),
        sa.Index("ix_articles_status_id", "status", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"), index=True)
    #: Denormalised code of the publishing org: reach and subtree filters are index ranges.
    org_code: Mapped[str] = mapped_column(code_type(64))
    kind: Mapped[ArticleKind] = mapped_column(_enum(ArticleKind))
    title: Mapped[str] = mapped_column(sa.String(200))
    summary: Mapped[str] = mapped_column(sa.String(1000), default="")
    #: Plain text (Markdown allowed, never rendered as raw HTML).
    body: Mapped[str] = mapped_column(sa.Text, default="")
    visibility: Mapped[Visibility] = mapped_column(_enum(Visibility))
    status: Mapped[ArticleStatus] = mapped_column(_enum(ArticleStatus),
                                                  default=ArticleStatus.draft)
    author_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    published_at: Mapped[dt.datetime | None]
    withdrawn_at: Mapped[dt.datetime | None]
    withdraw_reason: Mapped[str | None] = mapped_column(sa.String(500))
    view_count: Mapped[int] = mapped_column(default=0)
    like_count: Mapped[int] = mapped_column(default=0)
    #: The hub holds this item (a `published` message was queued and no withdrawal since).
    on_hub: Mapped[bool] = mapped_column(default=False)
    #: Counters last reported to the hub (`partynet.content.counters.v1`).
    hub_views: Mapped[int] = mapped_column(default=0)
    hub_likes: Mapped[int] = mapped_column(default=0)

    def audit_scope(self) -> str:
        return self.org_code

    def __repr__(self) -> str:
        return f"<Article {self.id} {self.status}>"


class Attachment(TenantScoped, NodeModel):
    """A file of an article, stored on disk by content (`<sha256[:2]>/<sha256>`)."""

    __tablename__ = "article_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("articles.id"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(255))
    content_type: Mapped[str] = mapped_column(sa.String(127))
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(sa.String(64))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)


class ArticleLike(TenantScoped, NodeModel):
    """One like per account and article."""

    __tablename__ = "article_likes"
    __table_args__ = (sa.UniqueConstraint("article_id", "account_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(sa.ForeignKey("articles.id"), index=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
