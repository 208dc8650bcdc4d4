"""Receiving the nodes' public content, answering the feed and its search, taking items down.

Receiving is CKAN-style harvesting made idempotent (each handler runs in the consumer's
transaction):

- an item is keyed by (source node, content key); a `published` message with the stored
  `content_hash` changes nothing but the counters (no rewrite, no re-index);
- a `published` message older than what is stored (`updated_at`), or older than the item's
  tombstone, is ignored (noted in `last_error`, counted in `retry_count`);
- a `withdrawn` message for an unknown item creates a bare tombstone, so a creation arriving
  late is ignored; for a known item it hides it and drops it from the search index;
- the item's org code must lie under the prefix of the envelope's tenant (which the bus
  already checked the source node hosts), else the handler raises and the message is
  quarantined (`handler_failed`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from federation.delivery import send
from federation.envelope import Envelope
from federation.keys import format_time, parse_time, utcnow
from federation.messages.content import TAKEDOWN, content_hash, parse_content_key
from hub.db import db
from hub.feed import search
from hub.feed.errors import ContentRefused
from hub.feed.models import FeedItem
from hub.nodes.models import NodeTenant
from shared.errors import Conflict, InvalidInput, NotFound

ORDERS = ("relevance", "recent", "popular")
#: Search pages reach at most this deep (relevance is not a stable keyset).
MAX_SEARCH_OFFSET = 1000
#: `relevance` and `popular` rank this many of the newest matches (every page fits in it).
RANKED_MATCHES = MAX_SEARCH_OFFSET + 100


# --- receiving --------------------------------------------------------------------------------


def _tenant(envelope: Envelope, key: str) -> NodeTenant:
    if envelope.tenant is None:
        raise ContentRefused("a content message must name its tenant")
    try:
        slug, _article_id = parse_content_key(key)
    except ValueError as exc:
        raise ContentRefused(str(exc)) from None
    if slug != envelope.tenant:
        raise ContentRefused(f"content key {key} is not of tenant {envelope.tenant}")
    tenant = db.session.scalar(sa.select(NodeTenant).where(
        NodeTenant.node_id == envelope.source, NodeTenant.slug == envelope.tenant))
    if tenant is None:  # authorize() refused this already; kept for direct callers
        raise ContentRefused(f"{envelope.source} does not host {envelope.tenant!r}")
    return tenant


def _item(node_id: str, key: str) -> FeedItem | None:
    return db.session.scalar(sa.select(FeedItem).where(FeedItem.node_id == node_id,
                                                       FeedItem.content_key == key))


def _ignored(item: FeedItem, why: str) -> FeedItem:
    item.last_error = why[:500]
    item.retry_count += 1
    return item


def apply_published(envelope: Envelope) -> FeedItem:
    """Handler of partynet.content.published.v1."""
    data = envelope.data
    key = data["content_key"]
    tenant = _tenant(envelope, key)
    if not data["org_code"].startswith(tenant.code_prefix):
        raise ContentRefused(f"org code {data['org_code']} is not under {tenant.code_prefix}, "
                             f"the prefix of {envelope.source}/{tenant.slug}")
    if content_hash(data) != data["content_hash"]:
        raise ContentRefused(f"content_hash of {key} does not match its content")
    updated_at = parse_time(data["updated_at"])
    session = db.session()
    item = _item(envelope.source, key)
    if item is None:
        item = FeedItem(node_id=envelope.source, content_key=key, node_tenant_id=tenant.id,
                        tenant=tenant.slug, region=tenant.region)
        session.add(item)
    else:
        if item.withdrawn_at is not None and updated_at <= item.withdrawn_at:
            return _ignored(item, f"update of {data['updated_at']} predates the withdrawal")
        if item.updated_at is not None and updated_at < item.updated_at:
            return _ignored(item, f"update of {data['updated_at']} is older than the stored one")
        if item.content_hash == data["content_hash"] and item.withdrawn_at is None:
            item.views, item.likes = data["views"], data["likes"]  # popularity only
            return item
    item.org_code, item.org_name, item.kind = data["org_code"], data["org_name"], data["kind"]
    item.title, item.summary, item.body = data["title"], data["summary"], data["body"]
    item.body_truncated = data["body_truncated"]
    item.published_at = parse_time(data["published_at"])
    item.updated_at = updated_at
    item.content_hash = data["content_hash"]
    item.views, item.likes = data["views"], data["likes"]
    item.withdrawn_at = None
    item.received_at = item.indexed_at = utcnow()
    item.last_error = None
    session.flush()
    if item.taken_down_at is None:
        search.index_item(session, item.id, item.title, item.summary, item.body)
    return item


def apply_withdrawn(envelope: Envelope) -> FeedItem:
    """Handler of partynet.content.withdrawn.v1: a tombstone, even before the item exists."""
    data = envelope.data
    key = data["content_key"]
    tenant = _tenant(envelope, key)
    withdrawn_at = parse_time(data["withdrawn_at"])
    session = db.session()
    item = _item(envelope.source, key)
    if item is None:
        item = FeedItem(node_id=envelope.source, content_key=key, node_tenant_id=tenant.id,
                        tenant=tenant.slug, region=tenant.region, withdrawn_at=withdrawn_at)
        session.add(item)
        session.flush()
        return item
    if item.updated_at is not None and withdrawn_at < item.updated_at:
        return _ignored(item, f"withdrawal of {data['withdrawn_at']} predates the content")
    item.withdrawn_at = max(withdrawn_at, item.withdrawn_at or withdrawn_at)
    item.received_at = utcnow()
    session.flush()
    search.unindex_item(session, item.id)
    return item


def apply_counters(envelope: Envelope) -> int:
    """Handler of partynet.content.counters.v1: totals, so a repeat is harmless. Unknown
    items are skipped (their `published` message carries the counters too)."""
    data = envelope.data
    updated = 0
    for entry in data["items"]:
        _tenant(envelope, entry["content_key"])
        item = _item(envelope.source, entry["content_key"])
        if item is not None:
            item.views, item.likes = entry["views"], entry["likes"]
            updated += 1
    return updated


# --- take-down ----------------------------------------------------------------------------------


def find_item(content_key: str, node_id: str | None = None) -> FeedItem:
    """The item with this content key (on `node_id`, needed when two nodes use the key)."""
    query = sa.select(FeedItem).where(FeedItem.content_key == content_key)
    if node_id is not None:
        query = query.where(FeedItem.node_id == node_id)
    items = db.session.scalars(query.limit(2)).all()
    if not items:
        raise NotFound(f"No feed item {content_key!r}.")
    if len(items) > 1:
        raise Conflict(f"Several nodes have an item {content_key!r}: name the node.")
    return items[0]


def take_down(item: FeedItem, *, by: str, reason: str,
              now: dt.datetime | None = None) -> str | None:
    """Hide the item from the feed and search, and ask its node to withdraw it (sequenced,
    in the caller's transaction). Returns the message id; None when already taken down."""
    by, reason = by.strip(), reason.strip()
    if not by or not reason:
        raise InvalidInput("Say who takes the item down and why.",
                           errors={"by" if not by else "reason": ["Required."]})
    if item.taken_down_at is not None:
        return None
    now = now or utcnow()
    item.taken_down_at, item.taken_down_by, item.takedown_reason = now, by[:120], reason[:500]
    db.session.flush()
    search.unindex_item(db.session(), item.id)
    return send(db.session(), TAKEDOWN, destination=item.node_id, tenant=item.tenant,
                data={"content_key": item.content_key, "by": by[:120], "reason": reason[:500],
                      "at": format_time(now)})


def find_items(content_key: str) -> Sequence[FeedItem]:
    """Every item with this content key, whatever its state (the console's look-up)."""
    return db.session.scalars(sa.select(FeedItem).where(FeedItem.content_key == content_key)
                              .order_by(FeedItem.node_id).limit(20)).all()


def get_any_item(item_id: int) -> FeedItem:
    """An item whatever its state (withdrawn, taken down): for the administrators."""
    item = db.session.get(FeedItem, item_id)
    if item is None:
        raise NotFound("No such feed item.")
    return item


# --- reading ----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Filters:
    region: str | None = None
    tenant: str | None = None
    node: str | None = None
    org: str | None = None
    kind: str | None = None
    start: dt.datetime | None = None
    end: dt.datetime | None = None


def _visible() -> sa.ColumnElement[bool]:
    return sa.and_(FeedItem.withdrawn_at.is_(None), FeedItem.taken_down_at.is_(None),
                   FeedItem.published_at.is_not(None))


def _filtered(query: sa.Select[Any], f: Filters) -> sa.Select[Any]:
    query = query.where(_visible())
    if f.region:
        query = query.where(FeedItem.region.startswith(f.region, autoescape=True))
    if f.org:
        query = query.where(FeedItem.org_code.startswith(f.org, autoescape=True))
    if f.tenant:
        query = query.where(FeedItem.tenant == f.tenant)
    if f.node:
        query = query.where(FeedItem.node_id == f.node)
    if f.kind:
        query = query.where(FeedItem.kind == f.kind)
    if f.start is not None:
        query = query.where(FeedItem.published_at >= f.start)
    if f.end is not None:
        query = query.where(FeedItem.published_at < f.end)
    return query


def list_feed(f: Filters, *, after: tuple[dt.datetime, int] | None = None,
              limit: int = 50) -> Sequence[FeedItem]:
    """Visible items, newest published first (keyset on published_at, id)."""
    query = _filtered(sa.select(FeedItem), f)
    if after is not None:
        published, item_id = after
        query = query.where(sa.or_(FeedItem.published_at < published,
                                   sa.and_(FeedItem.published_at == published,
                                           FeedItem.id < item_id)))
    query = query.order_by(FeedItem.published_at.desc(), FeedItem.id.desc()).limit(limit)
    return db.session.scalars(query).all()


@dataclasses.dataclass(frozen=True)
class Hit:
    item: FeedItem
    rank: float
    title_html: str
    summary_html: str


def search_feed(q: str, f: Filters, *, order: str = "relevance", offset: int = 0,
                limit: int = 20) -> tuple[list[Hit], list[str]]:
    """Items matching every token of `q`, with highlighted title and summary; and the tokens.

    `recent` walks the matches newest first. `relevance` and `popular` rank the newest
    RANKED_MATCHES matches: ranking every match of a common word ("党员" is in most items)
    costs seconds over a million items, while the newest matches are found on the
    (published_at, id) index; the pages reach no deeper than that anyway.
    """
    terms = search.query_tokens(q)
    if not terms:
        raise InvalidInput("The query has no searchable words.", errors={"q": ["No words."]})
    session = db.session()
    newest = (FeedItem.published_at.desc(), FeedItem.id.desc())
    ids = newest_matches(terms, f, offset + limit if order == "recent" else RANKED_MATCHES)
    if not ids:
        return [], terms
    query, rank = search.with_rank(
        session, sa.select(FeedItem).where(search.among(session, FeedItem.id, ids)), terms)
    query = query.add_columns(rank.label("rank"))
    if order == "recent":
        query = query.order_by(*newest)
    elif order == "popular":
        query = query.order_by((FeedItem.views + 10 * FeedItem.likes).desc(), *newest)
    else:
        query = query.order_by(sa.desc("rank"), *newest)
    rows = session.execute(query.offset(offset).limit(limit)).all()
    hits = [Hit(item=item, rank=float(rank or 0.0),
                title_html=search.highlight(item.title, terms),
                summary_html=search.highlight(item.summary, terms)) for item, rank in rows]
    return hits, terms


#: The newest matches are looked for in this window of publication time first (back from
#: now, or from the `to` filter), then in windows sized from what it held (see
#: `newest_matches`), then without a window.
FIRST_WINDOW = dt.timedelta(days=30)
MAX_WINDOWS = 3
#: A window that was short of matches grows at least this much, at most this much.
GROWTH = (4.0, 64.0)


def newest_matches(terms: Sequence[str], f: Filters, count: int) -> list[int]:
    """Ids of the newest `count` visible matches (published_at, id descending), found in
    widening windows of publication time.

    Without a window the database cannot know how far back the newest `count` matches go:
    for a word in a few percent of the items (垃圾分类 is searched as 垃圾 & 分类, whose
    selectivities PostgreSQL multiplies, estimating 5,000 matches for 75,000), it reads every
    match's row to sort them, ~60,000 heap pages for a million items. Within a window it
    reads only the window's matches: the first window inside the full-text index (on
    PostgreSQL its first column is the publication time, `search.published_since`), a wider
    one as a bitmap AND with a date index ((published_at, id), or (region|tenant,
    published_at) under a filter); a common word walks the date index. A window that holds
    `count` matches holds the newest ones (every match outside it is older); one that holds
    fewer is widened from the density it found (twice the width that would have sufficed),
    and after MAX_WINDOWS, or once a window would reach back past the oldest item, the search
    goes without one. The result is the same as the plain query's.
    """
    session = db.session()
    query = (_filtered(sa.select(FeedItem.id).where(search.matching(session, terms)), f)
             .order_by(FeedItem.published_at.desc(), FeedItem.id.desc()).limit(count))
    anchor = utcnow() if f.end is None else min(f.end, utcnow())
    oldest = session.scalar(sa.select(sa.func.min(FeedItem.published_at)))
    window = FIRST_WINDOW
    for step in range(MAX_WINDOWS):
        since = anchor - window
        if oldest is None or since <= oldest or (f.start is not None and since <= f.start):
            break  # the window would hold every item the filters allow: no window
        windowed = query.where(FeedItem.published_at >= since)
        if step == 0:
            # Narrow: matched inside the full-text index. A wider window's time range would
            # cost the index as much as the items it covers: those go by the date indexes.
            windowed = windowed.where(search.published_since(session, since))
        ids = list(session.scalars(windowed))
        if len(ids) >= count:
            return ids
        low, high = GROWTH
        window *= min(high, max(low, 2 * count / len(ids))) if ids else high
    return list(session.scalars(query))


def get_item(item_id: int) -> FeedItem | None:
    """A visible item, or None (withdrawn and taken-down items are not there for readers)."""
    return db.session.scalar(sa.select(FeedItem).where(FeedItem.id == item_id, _visible()))
