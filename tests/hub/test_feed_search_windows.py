"""Search looks for the newest matches in widening windows of publication time
(hub.feed.services.newest_matches): the result must be exactly the plain query's, whatever the
spread of the matches over time, the filters and the depth asked for."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from federation.keys import utcnow
from hub.db import db
from hub.feed import search, services
from hub.feed.models import FeedItem
from hub.nodes.models import NodeTenant
from shared.db.session import transaction

NOW = utcnow()
DAY = dt.timedelta(days=1)
#: (age in days, region tenant, matches "垃圾分类"): recent, mid-aged and old matches, with
#: non-matching items in between; two tenants in two regions.
SPREAD = ([(d, "dadukou", True) for d in (1, 2, 9)]
          + [(d, "tongguan", True) for d in (5, 40, 41)]
          + [(d, "dadukou", True) for d in (95, 96, 97, 120, 300, 301)]
          + [(d, "tongguan", True) for d in (700, 800, 900, 1000)]
          + [(d, "dadukou", False) for d in (0, 3, 50, 200, 999)])


@pytest.fixture()
def spread(network: Any, connection: sa.Connection) -> list[FeedItem]:
    """The items of SPREAD, inserted out of date order (ids do not follow time)."""
    network.enroll("node-a", [("dadukou", "500104"), ("tongguan", "340705")])
    rows = []
    with transaction(db) as session:
        tenants = {t.slug: t for t in session.scalars(sa.select(NodeTenant))}
        for n, (age, slug, matching) in enumerate(reversed(SPREAD)):
            tenant = tenants[slug]
            title = f"第{n}期 垃圾分类工作简报" if matching else f"第{n}期 安全生产工作简报"
            row = FeedItem(node_id="node-a", content_key=f"{slug}:{n}",
                           node_tenant_id=tenant.id, tenant=slug, region=tenant.region,
                           org_code=tenant.code_prefix + "001", title=title, summary="",
                           body="", published_at=NOW - age * DAY, updated_at=NOW - age * DAY,
                           content_hash="x" * 64, views=n % 5)
            session.add(row)
            session.flush()
            search.index_item(session, row.id, row.title, row.summary, row.body)
            rows.append(row)
    return rows


@pytest.fixture()
def statements(connection: sa.Connection) -> Iterator[list[str]]:
    """The SQL statements run meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    sa.event.listen(connection, "before_cursor_execute", record)
    yield seen
    sa.event.remove(connection, "before_cursor_execute", record)


def _expected(rows: list[FeedItem], count: int, **where: Any) -> list[int]:
    def keep(row: FeedItem) -> bool:
        return ("垃圾分类" in (row.title or "")
                and all(getattr(row, name) == value for name, value in where.items()))
    hits = sorted((r for r in rows if keep(r)), key=lambda r: (r.published_at, r.id),
                  reverse=True)
    return [r.id for r in hits[:count]]


def _windowed(statements: list[str]) -> int:
    return sum("published_at >=" in s and "ORDER BY" in s for s in statements)


@pytest.mark.parametrize("count", [1, 3, 4, 6, 9, 12, 13, 17, 40])
def test_the_windows_find_exactly_the_newest_matches(spread: list[FeedItem], count: int,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "FIRST_WINDOW", 10 * DAY)
    terms = search.query_tokens("垃圾分类")

    assert services.newest_matches(terms, services.Filters(), count) == _expected(spread, count)
    assert services.newest_matches(terms, services.Filters(tenant="tongguan"), count) == (
        _expected(spread, count, tenant="tongguan"))
    assert services.newest_matches(terms, services.Filters(region="5001"), count) == (
        _expected(spread, count, region="500104"))


def test_a_window_that_holds_enough_ends_the_search(spread: list[FeedItem],
                                                    statements: list[str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "FIRST_WINDOW", 10 * DAY)
    terms = search.query_tokens("垃圾分类")

    statements.clear()
    assert services.newest_matches(terms, services.Filters(), 4) == _expected(spread, 4)
    assert _windowed(statements) == 1  # 10 days hold 4 matches: no second query
    statements.clear()
    # 10 days hold 4 of the 6 asked for: the next window is sized from that density (at least
    # 4 times wider: 40 days, still 4), then once more (160 days: 10), which is enough.
    assert services.newest_matches(terms, services.Filters(), 6) == _expected(spread, 6)
    assert _windowed(statements) == 3
    statements.clear()
    # Fewer matches than asked for: the windows reach past the oldest item, then the
    # plain query runs (it is the window that holds everything).
    assert services.newest_matches(terms, services.Filters(), 50) == _expected(spread, 50)
    assert len([s for s in statements if "ORDER BY" in s]) <= services.MAX_WINDOWS + 1


def test_date_filters_bound_the_windows(spread: list[FeedItem],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "FIRST_WINDOW", 10 * DAY)
    terms = search.query_tokens("垃圾分类")
    old = services.Filters(end=NOW - 90 * DAY)  # windows count back from `to`

    assert services.newest_matches(terms, old, 3) == [
        r.id for r in sorted((r for r in spread if "垃圾分类" in (r.title or "")
                              and r.published_at < NOW - 90 * DAY),
                             key=lambda r: (r.published_at, r.id), reverse=True)[:3]]
    recent = services.Filters(start=NOW - 30 * DAY)  # narrower than any window
    assert services.newest_matches(terms, recent, 40) == [
        r.id for r in sorted((r for r in spread if "垃圾分类" in (r.title or "")
                              and r.published_at >= NOW - 30 * DAY),
                             key=lambda r: (r.published_at, r.id), reverse=True)]


def test_pages_of_every_order_are_the_plain_querys(spread: list[FeedItem], client: Any,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the API: `recent` pages newest first across windows; `relevance` and
    `popular` rank the newest RANKED_MATCHES matches, however far back they go."""
    monkeypatch.setattr(services, "FIRST_WINDOW", 10 * DAY)
    monkeypatch.setattr(services, "RANKED_MATCHES", 8)
    ids: list[int] = []
    params: dict[str, Any] = {"q": "垃圾分类", "order": "recent", "limit": 5}
    while True:
        page = client.get("/api/feed/search", query_string=params).json
        ids += [hit["id"] for hit in page["items"]]
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert ids == _expected(spread, 100)

    newest = set(_expected(spread, 8))
    by_id = {r.id: r for r in spread}
    popular = client.get("/api/feed/search", query_string={
        "q": "垃圾分类", "order": "popular", "limit": 20}).json["items"]
    assert [hit["id"] for hit in popular] == sorted(
        newest, key=lambda i: (by_id[i].views, by_id[i].published_at, i), reverse=True)
    relevance = client.get("/api/feed/search", query_string={"q": "垃圾分类"}).json["items"]
    assert {hit["id"] for hit in relevance} == newest


def test_an_empty_feed_needs_no_window(session: Any, statements: list[str]) -> None:
    assert session.scalar(sa.select(sa.func.count()).select_from(FeedItem)) == 0
    statements.clear()
    assert services.newest_matches(["垃圾"], services.Filters(), 5) == []
    assert _windowed(statements) == 0
