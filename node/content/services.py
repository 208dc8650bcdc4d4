"""Articles and notices: drafting, publishing, withdrawing, reading, counting, federating.

Who may do what (the principal may be None: an anonymous reader of the public site):

- **edit, publish, withdraw, attach**: an org administrator of the article's org subtree
  (anyone else gets 404: records outside one's reach for a role do not exist for it);
- **read a published item**: `public` anyone; `members` accounts whose member record lies in
  the article's org subtree, and org viewers (or stronger) with reach; `internal` org viewers
  (or stronger) with reach;
- **read a draft or a withdrawn item**: org viewers (or stronger) with reach.

Federation: a published **public** item is sent to the hub (`partynet.content.published.v1`)
when it is published or edited; when it stops being public (withdrawn, or made members-only or
internal) a tombstone (`partynet.content.withdrawn.v1`) follows. Both are written to the outbox
in the caller's transaction, so the hub learns exactly what was committed. Members and internal
items never leave the node.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from federation.delivery import send
from federation.keys import HUB, format_time, utcnow
from federation.messages.content import (
    BODY_MAX,
    COUNTERS,
    MAX_COUNTERS_PER_MESSAGE,
    PUBLISHED,
    WITHDRAWN,
    content_hash,
    content_key,
    parse_content_key,
)
from node.audit.recording import acting_as, record
from node.auth.principal import Principal
from node.auth.reach import require_reach, within
from node.content.models import (
    Article,
    ArticleKind,
    ArticleLike,
    ArticleStatus,
    Attachment,
    Visibility,
)
from node.db import db
from node.grants.models import Role
from node.members.models import Member
from node.orgs.models import Org
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from node.tenants.services import get_tenant_by_slug
from shared.errors import Conflict, DomainError, InvalidInput, NotFound

#: Default largest attachment, in bytes (the route may pass another limit).
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
_CHUNK = 64 * 1024


class AttachmentTooLarge(DomainError):
    status = 413
    code = "payload-too-large"
    title = "Payload too large"


# --- visibility -------------------------------------------------------------------------------


def _member_ancestry(principal: Principal | None) -> list[str]:
    """Codes of the org of the principal's member record and of all its ancestors (codes are
    prefixes of their descendants', so these are the prefixes of length >= 6)."""
    if principal is None or principal.member_id is None:
        return []
    code = db.session.scalar(sa.select(Member.org_code).where(Member.id == principal.member_id))
    if code is None:
        return []
    return [code[:n] for n in range(6, len(code) + 1)]


def _viewer_prefixes(principal: Principal | None) -> list[str]:
    return principal.prefixes(Role.org_viewer) if principal is not None else []


def visible_clause(principal: Principal | None) -> sa.ColumnElement[bool]:
    """SQL: the articles this principal may read (one condition; the tenant is already set)."""
    viewer = within(Article.org_code, _viewer_prefixes(principal))
    ancestry = _member_ancestry(principal)
    member = Article.org_code.in_(ancestry) if ancestry else sa.false()
    published = Article.status == ArticleStatus.published
    return sa.or_(
        sa.and_(published, Article.visibility == Visibility.public),
        sa.and_(published, Article.visibility == Visibility.members, sa.or_(member, viewer)),
        viewer,
    )


def may_read(principal: Principal | None, article: Article) -> bool:
    if principal is not None and principal.can(Role.org_viewer, article.org_code):
        return True
    if article.status != ArticleStatus.published:
        return False
    if article.visibility == Visibility.public:
        return True
    if article.visibility == Visibility.members:
        return article.org_code in _member_ancestry(principal)
    return False


def get_article(principal: Principal | None, article_id: int) -> Article:
    """The article if the principal may read it; 404 otherwise (existence is not revealed)."""
    article = db.session.get(Article, article_id)
    if article is None or not may_read(principal, article):
        raise NotFound()
    return article


def get_for_update(principal: Principal, article_id: int) -> Article:
    article = db.session.get(Article, article_id)
    if article is None:
        raise NotFound()
    require_reach(principal, Role.org_admin, article.org_code)
    return article


def list_articles(principal: Principal | None, *, org_id: int | None = None,
                  kind: ArticleKind | None = None, status: ArticleStatus | None = None,
                  visibility: Visibility | None = None, before_id: int | None = None,
                  limit: int = 50) -> Sequence[Article]:
    """Readable articles, newest first (by id), optionally within an org's subtree."""
    query = sa.select(Article).where(visible_clause(principal))
    if org_id is not None:
        org = db.session.get(Org, org_id)
        if org is None:
            raise InvalidInput("Unknown organization.", errors={"org_id": ["Unknown."]})
        query = query.where(within(Article.org_code, [org.code]))
    if kind is not None:
        query = query.where(Article.kind == kind)
    if status is not None:
        query = query.where(Article.status == status)
    if visibility is not None:
        query = query.where(Article.visibility == visibility)
    if before_id is not None:
        query = query.where(Article.id < before_id)
    return db.session.scalars(query.order_by(Article.id.desc()).limit(limit)).all()


def attachments_of(article: Article) -> Sequence[Attachment]:
    return db.session.scalars(sa.select(Attachment).where(Attachment.article_id == article.id)
                              .order_by(Attachment.id)).all()


def liked_by(principal: Principal | None, article: Article) -> bool:
    if principal is None:
        return False
    return db.session.scalar(sa.select(sa.func.count()).select_from(ArticleLike).where(
        ArticleLike.article_id == article.id,
        ArticleLike.account_id == principal.account_id)) == 1


# --- writing ----------------------------------------------------------------------------------


def _org_for_writing(principal: Principal, org_id: int) -> Org:
    org = db.session.get(Org, org_id)
    if org is None or not principal.can(Role.org_admin, org.code):
        raise InvalidInput("Unknown organization, or not one you administer.",
                           errors={"org_id": ["Unknown organization."]})
    if org.dissolved_on is not None:
        raise InvalidInput("The organization is dissolved.",
                           errors={"org_id": ["Dissolved."]})
    return org


def create_article(principal: Principal, data: dict[str, Any]) -> Article:
    """A new draft of an org administered by the principal."""
    org = _org_for_writing(principal, data["org_id"])
    now = utcnow()
    article = Article(org_id=org.id, org_code=org.code, kind=data["kind"], title=data["title"],
                      summary=data.get("summary") or "", body=data.get("body") or "",
                      visibility=data.get("visibility", Visibility.public),
                      status=ArticleStatus.draft,
                      author_account_id=principal.account_id or None,
                      created_at=now, updated_at=now)
    db.session.add(article)
    db.session.flush()
    return article


_EDITABLE = ("kind", "title", "summary", "body", "visibility")


def update_article(principal: Principal, article: Article, data: dict[str, Any],
                   tenant: Tenant) -> Article:
    """Edit an article. A published public item is re-sent to the hub; one that stops being
    public sends a tombstone; one that becomes public is sent."""
    require_reach(principal, Role.org_admin, article.org_code)
    changed = False
    for name in _EDITABLE:
        if name in data and data[name] is not None and getattr(article, name) != data[name]:
            setattr(article, name, data[name])
            changed = True
    if not changed:
        return article
    article.updated_at = utcnow()
    db.session.flush()
    _federate(article, tenant)
    return article


def publish_article(principal: Principal, article: Article, tenant: Tenant) -> Article:
    require_reach(principal, Role.org_admin, article.org_code)
    if article.status == ArticleStatus.published:
        raise Conflict("The article is already published.")
    now = utcnow()
    article.status = ArticleStatus.published
    article.published_at = article.published_at or now
    article.updated_at = now
    article.withdrawn_at = None
    article.withdraw_reason = None
    db.session.flush()
    _federate(article, tenant)
    return article


def withdraw_article(principal: Principal | None, article: Article, tenant: Tenant,
                     reason: str | None = None) -> Article:
    """Withdraw a published article (principal None: the hub's take-down, already checked)."""
    if principal is not None:
        require_reach(principal, Role.org_admin, article.org_code)
    if article.status != ArticleStatus.published:
        raise Conflict("Only a published article can be withdrawn.")
    article.status = ArticleStatus.withdrawn
    article.withdrawn_at = utcnow()
    article.withdraw_reason = reason
    db.session.flush()
    _federate(article, tenant)
    return article


def _federate(article: Article, tenant: Tenant) -> None:
    """Queue what the hub must learn about this article now, in the caller's transaction."""
    public = (article.status == ArticleStatus.published
              and article.visibility == Visibility.public)
    if public:
        send(db.session(), PUBLISHED, destination=HUB, tenant=tenant.slug, sequenced=True,
             data=published_data(article, tenant))
        article.on_hub = True
        article.hub_views, article.hub_likes = article.view_count, article.like_count
    elif article.on_hub:
        send(db.session(), WITHDRAWN, destination=HUB, tenant=tenant.slug, sequenced=True,
             data={"content_key": content_key(tenant.slug, article.id),
                   "withdrawn_at": format_time(article.withdrawn_at or article.updated_at)})
        article.on_hub = False


def published_data(article: Article, tenant: Tenant) -> dict[str, Any]:
    """The `partynet.content.published.v1` payload: public fields only, the body bounded."""
    org_name = db.session.scalar(sa.select(Org.name).where(Org.id == article.org_id)) or ""
    assert article.published_at is not None
    body = article.body
    truncated = len(body) > BODY_MAX
    data: dict[str, Any] = {
        "content_key": content_key(tenant.slug, article.id),
        "org_code": article.org_code,
        "org_name": org_name,
        "kind": str(article.kind),
        "title": article.title,
        "summary": article.summary,
        "body": body[:BODY_MAX],
        "body_truncated": truncated,
        "published_at": format_time(article.published_at),
        "updated_at": format_time(article.updated_at),
        "views": article.view_count,
        "likes": article.like_count,
    }
    data["content_hash"] = content_hash(data)
    return data


# --- reading counters ---------------------------------------------------------------------------


def count_view(principal: Principal | None, article_id: int) -> int:
    """One more view of a readable article (an atomic UPDATE: no lost increments)."""
    article = get_article(principal, article_id)
    if article.status != ArticleStatus.published:
        return article.view_count
    db.session.execute(sa.update(Article).where(Article.id == article.id)
                       .values(view_count=Article.view_count + 1))
    db.session.refresh(article, ["view_count"])
    return article.view_count


def like(principal: Principal, article_id: int) -> Article:
    """Like a readable, published article; liking twice changes nothing."""
    article = get_article(principal, article_id)
    if article.status != ArticleStatus.published:
        raise Conflict("Only a published article can be liked.")
    if liked_by(principal, article):
        return article
    try:
        with db.session.begin_nested():
            db.session.add(ArticleLike(article_id=article.id, account_id=principal.account_id))
            db.session.flush()
    except IntegrityError:  # a concurrent like by the same account won
        return article
    _recount_likes(article)
    return article


def unlike(principal: Principal, article_id: int) -> Article:
    article = get_article(principal, article_id)
    deleted = db.session.execute(sa.delete(ArticleLike).where(
        ArticleLike.article_id == article.id, ArticleLike.account_id == principal.account_id))
    if deleted.rowcount:  # type: ignore[attr-defined]
        _recount_likes(article)
    return article


def _recount_likes(article: Article) -> None:
    likes = (sa.select(sa.func.count()).select_from(ArticleLike)
             .where(ArticleLike.article_id == Article.id).scalar_subquery())
    db.session.execute(sa.update(Article).where(Article.id == article.id)
                       .values(like_count=likes))
    db.session.refresh(article, ["like_count"])


def publish_counters(tenant: Tenant, now: dt.datetime | None = None) -> list[str]:
    """Queue `partynet.content.counters.v1` for the tenant's items on the hub whose counters
    changed since last reported (in batches); returns the message ids."""
    rows = db.session.scalars(sa.select(Article).where(
        Article.on_hub.is_(True),
        sa.or_(Article.view_count != Article.hub_views,
               Article.like_count != Article.hub_likes)).order_by(Article.id)).all()
    counted_at = format_time(now or utcnow())
    ids = []
    for start in range(0, len(rows), MAX_COUNTERS_PER_MESSAGE):
        batch = rows[start:start + MAX_COUNTERS_PER_MESSAGE]
        ids.append(send(db.session(), COUNTERS, destination=HUB, tenant=tenant.slug,
                        data={"counted_at": counted_at, "items": [
                            {"content_key": content_key(tenant.slug, a.id),
                             "views": a.view_count, "likes": a.like_count} for a in batch]}))
        for article in batch:
            article.hub_views, article.hub_likes = article.view_count, article.like_count
    return ids


# --- attachments ----------------------------------------------------------------------------


_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")


def clean_filename(name: str | None) -> str:
    """A display file name without paths or control characters (never used on disk)."""
    name = unicodedata.normalize("NFC", name or "")
    name = _UNSAFE.sub("_", name.replace("\\", "/").rsplit("/", 1)[-1]).strip(" .")
    return name[:255] or "attachment"


def clean_content_type(value: str | None) -> str:
    value = (value or "").split(";", 1)[0].strip().lower()
    return value if _TYPE.fullmatch(value) else "application/octet-stream"


def blob_path(root: Path, sha256: str) -> Path:
    return root / sha256[:2] / sha256


def store_blob(root: Path, stream: IO[bytes], max_bytes: int) -> tuple[str, int]:
    """Write an upload under `root` by its SHA-256 (a temporary file renamed into place, so a
    blob is whole or absent); its (sha256, size). Beyond `max_bytes`: AttachmentTooLarge."""
    root.mkdir(parents=True, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, tmp_name = tempfile.mkstemp(dir=root, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in _chunks(stream):
                size += len(chunk)
                if size > max_bytes:
                    raise AttachmentTooLarge(f"Attachments are limited to {max_bytes} bytes.")
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        target = blob_path(root, sha)
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
    return sha, size


def add_attachment(principal: Principal, article: Article, stream: IO[bytes], *,
                   filename: str | None, content_type: str | None, root: Path,
                   max_bytes: int = MAX_ATTACHMENT_BYTES) -> Attachment:
    """Store an uploaded file by its SHA-256 under `root` and attach it to the article.

    The file is written before the row (a rolled-back request leaves at most an orphan blob,
    never a row without its file); a file beyond `max_bytes` is refused with 413.
    """
    require_reach(principal, Role.org_admin, article.org_code)
    sha, size = store_blob(root, stream, max_bytes)
    attachment = Attachment(article_id=article.id, filename=clean_filename(filename),
                            content_type=clean_content_type(content_type), size=size,
                            sha256=sha)
    db.session.add(attachment)
    db.session.flush()
    return attachment


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    while chunk := stream.read(_CHUNK):
        yield chunk


@dataclasses.dataclass(frozen=True)
class Download:
    path: Path
    filename: str
    content_type: str
    size: int


def get_attachment(principal: Principal | None, article_id: int, attachment_id: int,
                   root: Path) -> Download:
    """A readable article's attachment; 404 when the article or file is not there for you."""
    article = get_article(principal, article_id)
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.article_id != article.id:
        raise NotFound()
    path = blob_path(root, attachment.sha256)
    if not path.is_file():
        raise NotFound("The file of this attachment is missing.")
    return Download(path=path, filename=attachment.filename,
                    content_type=attachment.content_type, size=attachment.size)


# --- the hub's take-down ----------------------------------------------------------------------


def take_down(tenant: Tenant, article_id: int, *, by: str, reason: str) -> Article | None:
    """Withdraw an article because a hub administrator took it down (bus handler, tenant in
    context). Idempotent: an article that is gone or not published is left as it is."""
    article = db.session.get(Article, article_id)
    if article is None:
        return None
    record(db.session(), action="article.takedown", entity_type="article",
           entity_id=article.id, scope_code=article.org_code, before=None,
           after={"by": by, "reason": reason, "status": str(article.status)})
    if article.status != ArticleStatus.published:
        return article
    return withdraw_article(None, article, tenant, reason=f"hub take-down by {by}: {reason}"[:500])


def apply_takedown(tenant_slug: str | None, data: dict[str, Any]) -> Article | None:
    """Handler body of `partynet.content.takedown.v1` (hub -> node, in the consumer's
    transaction): withdraw the article, record who took it down and why."""
    slug, article_id = parse_content_key(data["content_key"])
    if tenant_slug is not None and tenant_slug != slug:
        raise InvalidInput(f"content key {data['content_key']} is not of tenant {tenant_slug}")
    tenant = get_tenant_by_slug(slug)
    with tenant_context(tenant.id), acting_as(f"hub:{data['by']}"[:120]):
        return take_down(tenant, article_id, by=data["by"], reason=data["reason"])
