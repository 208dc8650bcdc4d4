"""The national feed: content received over the bus, tombstones, Chinese search, take-downs."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from federation.delivery import Consumer, Outcome
from federation.delivery.models import OutboxMessage, QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import HUB, format_time, utcnow
from federation.messages.content import COUNTERS, PUBLISHED, TAKEDOWN, WITHDRAWN, content_hash
from hub.feed import search, services
from hub.feed.models import FeedItem

T0 = dt.datetime(2025, 3, 1, 8, 0, tzinfo=dt.UTC)


def item(article_id: int, *, tenant: str = "dadukou", org_code: str = "500104001",
         title: str = "通知", summary: str = "", body: str = "", kind: str = "article",
         published: dt.datetime = T0, updated: dt.datetime | None = None, views: int = 0,
         likes: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {
        "content_key": f"{tenant}:{article_id}", "org_code": org_code, "org_name": "某党委",
        "kind": kind, "title": title, "summary": summary, "body": body,
        "body_truncated": False, "published_at": format_time(published),
        "updated_at": format_time(updated or published), "views": views, "likes": likes}
    data["content_hash"] = content_hash(data)
    return data


class Sender:
    """A node sending sealed content messages to the hub, with its own stream sequence."""

    def __init__(self, network, consumer: Consumer, node_id: str,
                 tenants: list[tuple[str, str]]) -> None:
        network.enroll(node_id, tenants)
        self.key, self.node_id, self.consumer = network.node_keys[node_id], node_id, consumer
        self.sequence = 0

    def send(self, type_: str, data: dict[str, Any], tenant: str = "dadukou") -> Outcome:
        self.sequence += 1
        body = seal(Envelope(id=new_id(), type=type_, source=self.node_id, destination=HUB,
                             time=utcnow(), tenant=tenant, sequence=self.sequence, data=data),
                    self.key)
        return self.consumer.handle(body)

    def publish(self, data: dict[str, Any], tenant: str = "dadukou") -> Outcome:
        return self.send(PUBLISHED, data, tenant)

    def withdraw(self, key: str, at: dt.datetime, tenant: str = "dadukou") -> Outcome:
        return self.send(WITHDRAWN, {"content_key": key, "withdrawn_at": format_time(at)},
                         tenant)


@pytest.fixture()
def node_a(network, consumer) -> Sender:
    return Sender(network, consumer, "node-a", [("dadukou", "500104"), ("shapingba", "500106")])


@pytest.fixture()
def node_b(network, consumer) -> Sender:
    return Sender(network, consumer, "node-b", [("jiulongpo", "500107")])


def _items(session) -> list[FeedItem]:
    session.expire_all()
    return list(session.scalars(sa.select(FeedItem).order_by(FeedItem.id)))


def _search(client, **params: Any) -> Any:
    r = client.get("/api/feed/search", query_string=params)
    assert r.status_code == 200, r.json
    return r.json


def test_a_published_item_is_stored_with_its_region_and_found_in_chinese(node_a, client,
                                                                       session):
    assert node_a.publish(item(1, title="区委部署年度任务", body="加强基层党建工作")) \
        == Outcome.applied
    (row,) = _items(session)
    assert (row.node_id, row.content_key, row.tenant, row.region) == (
        "node-a", "dadukou:1", "dadukou", "500104")
    body = _search(client, q="党建")
    assert body["terms"] == ["党建"]
    assert [hit["content_key"] for hit in body["items"]] == ["dadukou:1"]
    assert _search(client, q="基层党建")["items"][0]["content_key"] == "dadukou:1"
    assert _search(client, q="交通")["items"] == []
    feed = client.get("/api/feed").json
    assert [i["content_key"] for i in feed["items"]] == ["dadukou:1"]
    detail = client.get(f"/api/feed/{row.id}").json
    assert detail["body"] == "加强基层党建工作" and detail["node"] == "node-a"


def test_a_title_match_ranks_above_a_body_match(node_a, client):
    node_a.publish(item(1, title="学习通知", body="加强基层党建工作", published=T0))
    node_a.publish(item(2, title="党建工作要点", body="全年安排",
                        published=T0 - dt.timedelta(days=30)))
    node_a.publish(item(3, title="其他", summary="党建摘要", body="无关",
                        published=T0 + dt.timedelta(days=1)))
    keys = [hit["content_key"] for hit in _search(client, q="党建")["items"]]
    assert keys == ["dadukou:2", "dadukou:3", "dadukou:1"]
    recent = [hit["content_key"] for hit in _search(client, q="党建", order="recent")["items"]]
    assert recent == ["dadukou:3", "dadukou:1", "dadukou:2"]


def test_relevance_ranks_the_newest_matches_only(node_a, client, monkeypatch):
    """Ranking every match of a common word costs seconds over a million items: the ranked
    orders take the newest RANKED_MATCHES matches, and pages stay consistent within them."""
    node_a.publish(item(1, title="党建工作要点", published=T0 - dt.timedelta(days=30)))
    node_a.publish(item(2, title="学习", body="党建", published=T0, views=5))
    node_a.publish(item(3, title="其他", summary="党建摘要", published=T0 + dt.timedelta(days=1)))
    node_a.publish(item(4, title="无关", body="交通", published=T0 + dt.timedelta(days=2)))
    monkeypatch.setattr(services, "RANKED_MATCHES", 2)
    keys = [hit["content_key"] for hit in _search(client, q="党建")["items"]]
    assert keys == ["dadukou:3", "dadukou:2"]  # the title match of item 1 is too old
    popular = _search(client, q="党建", order="popular")["items"]
    assert [hit["content_key"] for hit in popular] == ["dadukou:2", "dadukou:3"]
    assert popular[0]["rank"] > 0
    # `recent` is not capped: it pages through every match, newest first, with its rank.
    first = _search(client, q="党建", order="recent", limit=2)
    rest = client.get("/api/feed/search", query_string={
        "q": "党建", "order": "recent", "limit": 2, "cursor": first["next_cursor"]}).json
    assert [hit["content_key"] for hit in first["items"] + rest["items"]] == [
        "dadukou:3", "dadukou:2", "dadukou:1"]
    assert all(hit["rank"] > 0 for hit in first["items"] + rest["items"])
    monkeypatch.setattr(services, "RANKED_MATCHES", 10)
    keys = [hit["content_key"] for hit in _search(client, q="党建")["items"]]
    assert keys == ["dadukou:1", "dadukou:3", "dadukou:2"]


def test_highlighting_escapes_html_and_marks_the_terms(node_a, client):
    node_a.publish(item(1, title="<script>党建</script> & 党建", summary="Party 党建 <b>"))
    (hit,) = _search(client, q="党建")["items"]
    assert hit["title_html"] == ("&lt;script&gt;<mark>党建</mark>&lt;/script&gt; &amp; "
                                 "<mark>党建</mark>")
    assert hit["summary_html"] == "Party <mark>党建</mark> &lt;b&gt;"
    assert hit["title"] == "<script>党建</script> & 党建"  # the raw field stays raw (JSON)


def test_highlight_merges_overlapping_terms():
    assert search.highlight("中华人民共和国", ["人民", "共和国", "民共"]) == \
        "中华<mark>人民共和国</mark>"
    assert search.highlight(None, ["x"]) == ""


def test_handlers_are_idempotent_and_skip_unchanged_content(node_a, session):
    data = item(1, title="党建", body="正文", views=1)
    assert node_a.publish(data) == Outcome.applied
    (first,) = _items(session)
    indexed_at = first.indexed_at
    # The same content again (a resync, a new message id): no rewrite, counters still follow.
    assert node_a.publish({**data, "views": 9}) == Outcome.applied
    (again,) = _items(session)
    assert (again.indexed_at, again.views, again.title) == (indexed_at, 9, "党建")
    # Changed content is rewritten and re-indexed.
    changed = item(1, title="新标题", body="正文", updated=T0 + dt.timedelta(hours=1))
    assert node_a.publish(changed) == Outcome.applied
    (row,) = _items(session)
    assert row.title == "新标题" and row.indexed_at > indexed_at
    # An older update arriving late is ignored, and noted.
    assert node_a.publish(item(1, title="旧标题", updated=T0 + dt.timedelta(minutes=1))) \
        == Outcome.applied
    (row,) = _items(session)
    assert row.title == "新标题" and row.retry_count == 1 and "older" in row.last_error


def test_a_withdrawal_hides_the_item_and_removes_it_from_search(node_a, client, session):
    node_a.publish(item(1, title="党建工作"))
    assert node_a.withdraw("dadukou:1", T0 + dt.timedelta(hours=2)) == Outcome.applied
    assert _search(client, q="党建")["items"] == []
    assert client.get("/api/feed").json["items"] == []
    (row,) = _items(session)
    assert row.withdrawn_at == T0 + dt.timedelta(hours=2)
    assert client.get(f"/api/feed/{row.id}").status_code == 404
    # Published again later (made public again): back in the feed and the index.
    node_a.publish(item(1, title="党建工作", updated=T0 + dt.timedelta(hours=3)))
    assert [h["content_key"] for h in _search(client, q="党建")["items"]] == ["dadukou:1"]


def test_a_withdrawal_before_the_creation_keeps_a_tombstone(node_a, client, session):
    assert node_a.withdraw("dadukou:7", T0 + dt.timedelta(hours=1)) == Outcome.applied
    (tomb,) = _items(session)
    assert tomb.title is None and tomb.withdrawn_at is not None
    assert node_a.publish(item(7, title="党建")) == Outcome.applied  # the late creation
    (row,) = _items(session)
    assert row.title is None and row.withdrawn_at is not None and row.retry_count == 1
    assert client.get("/api/feed").json["items"] == []
    assert _search(client, q="党建")["items"] == []


@pytest.mark.parametrize("bad", [
    {"org_code": "500107001"},  # another tenant's prefix (on another node)
    {"org_code": "500106001"},  # this node's other tenant: still not this tenant's
])
def test_an_org_code_outside_the_tenant_is_quarantined(node_a, node_b, session, bad):
    data = item(1, **bad)
    node_a.publish(data)  # consumed (the stream goes on), not applied
    entry = session.scalars(sa.select(QuarantinedMessage)).one()
    assert (entry.reason, entry.source, entry.type) == ("handler_failed", "node-a", PUBLISHED)
    assert "not under 500104" in entry.detail
    assert _items(session) == []
    assert node_a.publish(item(2)) == Outcome.applied  # the stream goes on


def test_a_key_of_another_tenant_or_a_wrong_hash_is_quarantined(node_a, session):
    node_a.publish(item(1, tenant="shapingba"), tenant="dadukou")
    node_a.publish({**item(2), "title": "改过的标题"})  # the hash no longer matches
    assert _items(session) == []
    reasons = [q.detail for q in session.scalars(sa.select(QuarantinedMessage)
                                                 .order_by(QuarantinedMessage.id))]
    assert "not of tenant dadukou" in reasons[0] and "content_hash" in reasons[1]


def test_counters_update_known_items(node_a, session):
    node_a.publish(item(1))
    data = {"counted_at": format_time(T0), "items": [
        {"content_key": "dadukou:1", "views": 50, "likes": 7},
        {"content_key": "dadukou:99", "views": 1, "likes": 0}]}
    assert node_a.send(COUNTERS, data) == Outcome.applied
    (row,) = _items(session)
    assert (row.views, row.likes) == (50, 7)


@pytest.fixture()
def several(node_a, node_b):
    node_a.publish(item(1, title="党建一", kind="article", published=T0))
    node_a.publish(item(2, title="党建二", kind="notice", published=T0 + dt.timedelta(days=1)),)
    node_a.publish(item(3, tenant="shapingba", org_code="500106002", title="党建三",
                        published=T0 + dt.timedelta(days=2), views=100), tenant="shapingba")
    node_b.publish(item(4, tenant="jiulongpo", org_code="500107003", title="党建四",
                        published=T0 + dt.timedelta(days=3), likes=3), tenant="jiulongpo")


def _keys(body: Any) -> list[str]:
    return [i["content_key"] for i in body["items"]]


def test_filters(several, client):
    assert _keys(client.get("/api/feed").json) == ["jiulongpo:4", "shapingba:3", "dadukou:2",
                                                   "dadukou:1"]
    assert _keys(client.get("/api/feed?region=500104").json) == ["dadukou:2", "dadukou:1"]
    assert _keys(client.get("/api/feed?region=5001").json) == _keys(client.get("/api/feed").json)
    assert _keys(client.get("/api/feed?tenant=shapingba").json) == ["shapingba:3"]
    assert _keys(client.get("/api/feed?node=node-b").json) == ["jiulongpo:4"]
    assert _keys(client.get("/api/feed?kind=notice").json) == ["dadukou:2"]
    assert _keys(client.get("/api/feed?org=500106002").json) == ["shapingba:3"]
    assert _keys(client.get("/api/feed?from=2025-03-02&to=2025-03-03").json) == [
        "shapingba:3", "dadukou:2"]
    assert _keys(_search(client, q="党建", region="500107")) == ["jiulongpo:4"]
    assert _keys(_search(client, q="党建", order="popular")) [:2] == ["shapingba:3",
                                                                     "jiulongpo:4"]


def test_paging_follows_the_cursor(several, client):
    seen, url = [], "/api/feed?limit=3"
    first = client.get(url)
    assert 'rel="next"' in first.headers["Link"]
    seen += _keys(first.json)
    second = client.get(f"/api/feed?limit=3&cursor={first.json['next_cursor']}").json
    seen += _keys(second)
    assert second["next_cursor"] is None
    assert seen == ["jiulongpo:4", "shapingba:3", "dadukou:2", "dadukou:1"]
    hits, cursor = [], None
    while True:
        params = {"q": "党建", "limit": 3, **({"cursor": cursor} if cursor else {})}
        body = _search(client, **params)
        hits += _keys(body)
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert sorted(hits) == sorted(seen)


@pytest.mark.parametrize("url", [
    "/api/feed?limit=0", "/api/feed?limit=abc", "/api/feed?region=abc", "/api/feed?kind=x",
    "/api/feed?from=2025-13-01", "/api/feed?from=2025-03-05&to=2025-03-01",
    "/api/feed?cursor=!!!", "/api/feed?cursor=WyJ4IiwxXQ", "/api/feed?tenant=A%00",
    "/api/feed/search", "/api/feed/search?q=", "/api/feed/search?q=%EF%BC%8C%E3%80%82",
    "/api/feed/search?q=党建&order=random", "/api/feed/search?q=党建&cursor=WzEwMDAwXQ",
    "/api/feed/search?q=党建&limit=500", "/api/feed/search?q=" + "党" * 201,
])
def test_bad_parameters_are_problems_not_errors(client, url):
    r = client.get(url)
    assert r.status_code == 422, r.get_data(as_text=True)
    assert r.mimetype == "application/problem+json"


def test_fts_syntax_in_queries_is_just_text(node_a, client):
    node_a.publish(item(1, title='党建 "OR" NEAR(a b)'))
    for q in ['"', "OR", "NEAR(", "a*", "党建 -", "AND OR NOT", "'; DROP TABLE feed_items"]:
        assert client.get("/api/feed/search", query_string={"q": q}).status_code in (200, 422)
    assert _keys(_search(client, q="near")) == ["dadukou:1"]


def test_takedown_hides_the_item_and_asks_the_node_to_withdraw(node_a, client, session):
    from hub.db import db
    from shared.db.session import transaction

    node_a.publish(item(1, title="党建"))
    with transaction(db):
        message_id = services.take_down(services.find_item("dadukou:1"), by="国家管理员",
                                        reason="重复发布")
    assert message_id is not None
    out = session.scalars(sa.select(OutboxMessage).where(OutboxMessage.type == TAKEDOWN)).one()
    assert (out.destination, out.tenant, out.sequenced) == ("node-a", "dadukou", True)
    assert out.data["content_key"] == "dadukou:1" and out.data["reason"] == "重复发布"
    assert client.get("/api/feed").json["items"] == []
    assert _search(client, q="党建")["items"] == []
    # Sticky: a later update from the node stays hidden; a second take-down sends nothing.
    node_a.publish(item(1, title="党建", updated=T0 + dt.timedelta(hours=1)))
    assert _search(client, q="党建")["items"] == []
    with transaction(db):
        assert services.take_down(services.find_item("dadukou:1"), by="x", reason="y") is None


def test_takedown_over_the_api_is_an_administrators_write(node_a, app, client, session):
    from tests.hub.helpers import auth, bearer_token

    node_a.publish(item(1, title="党建"))
    item_id = client.get("/api/feed").json["items"][0]["id"]
    url = f"/api/feed/{item_id}/takedown"
    assert client.post(url, json={"reason": "重复发布"}).status_code == 401
    auditor = bearer_token(app, "auditor")
    assert client.post(url, json={"reason": "重复发布"}, headers=auth(auditor)).status_code == 403
    admin = auth(bearer_token(app))
    bad = client.post(url, json={"reason": ""}, headers=admin)
    assert bad.status_code == 422 and bad.content_type == "application/problem+json"
    assert client.post("/api/feed/999999/takedown", json={"reason": "x"},
                       headers=admin).status_code == 404
    assert session.scalars(sa.select(OutboxMessage).where(OutboxMessage.type == TAKEDOWN)).all() \
        == []  # refusals changed nothing
    done = client.post(url, json={"reason": "重复发布"}, headers=admin)
    assert done.status_code == 200, done.json
    assert done.json["takedown_reason"] == "重复发布"
    assert done.json["taken_down_by"].startswith("hub:")
    assert client.get("/api/feed").json["items"] == []
    again = client.post(url, json={"reason": "再次"}, headers=admin)
    assert again.status_code == 200 and again.json["takedown_reason"] == "重复发布"
    sent = session.scalars(sa.select(OutboxMessage).where(OutboxMessage.type == TAKEDOWN)).all()
    assert len(sent) == 1 and sent[0].destination == "node-a"


def test_takedown_cli(node_a, app, session):
    from hub.feed.cli import feed_group
    from shared.web.commands import fail_on_domain_error

    node_a.publish(item(1, title="党建"))
    group = feed_group(make_app=lambda: app, on_domain_error=fail_on_domain_error)
    runner = CliRunner()
    result = runner.invoke(group, ["takedown", "dadukou:1", "--by", "admin",
                                         "--reason", "违规"])
    assert result.exit_code == 0, result.output
    assert "taken down" in result.output
    missing = runner.invoke(group, ["takedown", "dadukou:404", "--by", "admin",
                                          "--reason", "x"])
    assert missing.exit_code != 0
    session.expire_all()
    assert session.scalars(sa.select(FeedItem)).one().taken_down_by == "admin"


def test_segmentation_drops_punctuation_and_lowercases():
    assert search.tokens("加强基层党建工作，Party!") == ["加强", "基层", "党建", "工作", "party"]
    assert search.query_tokens("党建 党建") == ["党建"]
