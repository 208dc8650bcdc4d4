"""Articles and notices: visibility by role, federation messages, attachments, likes, views."""

from __future__ import annotations

import io
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery.models import OutboxMessage
from federation.messages.content import BODY_MAX, PUBLISHED, WITHDRAWN, content_hash
from node.audit.models import AuditEntry
from node.content import services
from node.content.models import Article
from node.db import db
from node.grants.models import Role
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context


@pytest.fixture()
def site(world, tmp_path, app) -> dict[str, Any]:
    """Tenant: root > committee C > branches B1, B2; accounts with roles and tokens."""
    app.config["CONTENT_ATTACHMENTS_DIR"] = str(tmp_path / "blobs")
    app.config["CONTENT_MAX_ATTACHMENT_BYTES"] = 1000
    tenant = world.tenant()
    root = world.root(tenant)
    c = world.org(tenant, root, "committee")
    b1, b2 = world.org(tenant, c), world.org(tenant, c)
    m1, m2 = world.member(tenant, b1), world.member(tenant, b2)
    accounts = {
        "admin_c": world.account(tenant, [(Role.org_admin, c)]),
        "admin_b1": world.account(tenant, [(Role.org_admin, b1)]),
        "viewer_b2": world.account(tenant, [(Role.org_viewer, b2)]),
        "member_b1": world.account(tenant, member=m1),
        "member_b2": world.account(tenant, member=m2),
        "nobody": world.account(tenant),
    }
    other = world.tenant()
    accounts["other_admin"] = world.account(other, [(Role.tenant_admin, world.root(other))])
    yield {"tenant": tenant, "c": c, "b1": b1, "b2": b2,
           "h": {name: world.token(acc) for name, acc in accounts.items()}}
    app.config.pop("CONTENT_ATTACHMENTS_DIR")
    app.config.pop("CONTENT_MAX_ATTACHMENT_BYTES")


def _create(client, site, who: str = "admin_b1", org: str = "b1", **fields: Any) -> Any:
    body = {"org_id": site[org].id, "title": "加强基层党建工作", "summary": "摘要",
            "body": "正文", "visibility": "public", **fields}
    r = client.post("/api/articles", json=body, headers=site["h"][who])
    assert r.status_code == 201, r.json
    return r.json


def _publish(client, site, article_id: int, who: str = "admin_b1") -> Any:
    r = client.post(f"/api/articles/{article_id}/publish", headers=site["h"][who])
    assert r.status_code == 200, r.json
    return r.json


def _outbox(session) -> list[OutboxMessage]:
    """What content sent (members' identity index entries go out too, from the fixtures)."""
    session.expire_all()
    return list(session.scalars(sa.select(OutboxMessage)
                                .where(OutboxMessage.type.startswith("partynet.content."))
                                .order_by(OutboxMessage.id)))


def _readers(client, site, article_id: int) -> set[str]:
    return {who for who in site["h"]
            if client.get(f"/api/articles/{article_id}", headers=site["h"][who]).status_code
            == 200}


def test_writing_needs_an_org_administrator_of_the_subtree(client, site):
    for who, status in [("admin_b1", 201), ("admin_c", 201), ("viewer_b2", 422),
                        ("member_b1", 422), ("other_admin", 422)]:
        r = client.post("/api/articles", json={"org_id": site["b1"].id, "title": "t"},
                        headers=site["h"][who])
        assert r.status_code == status, (who, r.json)
    article = _create(client, site)
    for who, status in [("admin_b1", 200), ("admin_c", 200), ("viewer_b2", 404),
                        ("member_b1", 404), ("other_admin", 404)]:
        r = client.patch(f"/api/articles/{article['id']}", json={"title": f"by {who}"},
                         headers=site["h"][who])
        assert r.status_code == status, (who, r.json)


@pytest.mark.parametrize(("visibility", "readers"), [
    ("public", {"admin_c", "admin_b1", "viewer_b2", "member_b1", "member_b2", "nobody"}),
    ("members", {"admin_c", "admin_b1", "member_b1"}),
    ("internal", {"admin_c", "admin_b1"}),
])
def test_who_reads_a_published_item(client, site, visibility, readers):
    article = _create(client, site, visibility=visibility)
    assert _readers(client, site, article["id"]) == {"admin_c", "admin_b1"}  # a draft
    _publish(client, site, article["id"])
    assert _readers(client, site, article["id"]) == readers
    for who in site["h"]:
        listed = client.get("/api/articles", headers=site["h"][who]).json["items"]
        assert (article["id"] in [i["id"] for i in listed]) is (who in readers), who


def test_members_of_the_subtree_read_members_items_of_ancestors(client, site):
    article = _create(client, site, who="admin_c", org="c", visibility="members")
    _publish(client, site, article["id"], who="admin_c")
    assert {"member_b1", "member_b2"} <= _readers(client, site, article["id"])
    assert "nobody" not in _readers(client, site, article["id"])
    by_org = client.get(f"/api/articles?org_id={site['b1'].id}",
                        headers=site["h"]["admin_c"]).json["items"]
    assert by_org == []
    assert client.get("/api/articles?org_id=999999", headers=site["h"]["admin_c"]
                      ).status_code == 422


def test_publishing_a_public_item_queues_it_for_the_hub(client, site, session):
    article = _create(client, site)
    assert _outbox(session) == []  # drafts never leave the node
    _publish(client, site, article["id"])
    (msg,) = _outbox(session)
    tenant = site["tenant"]
    assert (msg.type, msg.destination, msg.tenant, msg.sequenced) == (
        PUBLISHED, "hub", tenant.slug, True)
    data = msg.data
    assert data["content_key"] == f"{tenant.slug}:{article['id']}"
    assert (data["org_code"], data["title"], data["body"]) == (site["b1"].code,
                                                               "加强基层党建工作", "正文")
    assert data["content_hash"] == content_hash(data)
    assert client.post(f"/api/articles/{article['id']}/publish",
                       headers=site["h"]["admin_b1"]).status_code == 409
    # An edit of the published item is sent again, with a new hash.
    client.patch(f"/api/articles/{article['id']}", json={"body": "新正文"},
                 headers=site["h"]["admin_b1"])
    edited = _outbox(session)[-1]
    assert edited.type == PUBLISHED and edited.data["body"] == "新正文"
    assert edited.data["content_hash"] != data["content_hash"]
    # Withdrawing sends the tombstone.
    r = client.post(f"/api/articles/{article['id']}/withdraw", json={"reason": "过期"},
                    headers=site["h"]["admin_b1"])
    assert r.status_code == 200 and r.json["status"] == "withdrawn"
    tomb = _outbox(session)[-1]
    assert tomb.type == WITHDRAWN and tomb.data["content_key"] == data["content_key"]
    assert client.post(f"/api/articles/{article['id']}/withdraw", json={},
                       headers=site["h"]["admin_b1"]).status_code == 409


def test_members_and_internal_items_never_leave_the_node(client, site, session):
    for visibility in ("members", "internal"):
        article = _create(client, site, visibility=visibility)
        _publish(client, site, article["id"])
        client.patch(f"/api/articles/{article['id']}", json={"title": "改"},
                     headers=site["h"]["admin_b1"])
        client.post(f"/api/articles/{article['id']}/withdraw", json={},
                    headers=site["h"]["admin_b1"])
    assert _outbox(session) == []


def test_public_to_members_sends_a_withdrawal_and_back_publishes(client, site, session):
    article = _create(client, site)
    _publish(client, site, article["id"])
    r = client.patch(f"/api/articles/{article['id']}", json={"visibility": "members"},
                     headers=site["h"]["admin_b1"])
    assert r.status_code == 200 and r.json["on_hub"] is False
    assert [m.type for m in _outbox(session)] == [PUBLISHED, WITHDRAWN]
    client.patch(f"/api/articles/{article['id']}", json={"visibility": "public"},
                 headers=site["h"]["admin_b1"])
    assert [m.type for m in _outbox(session)] == [PUBLISHED, WITHDRAWN, PUBLISHED]


def test_a_long_body_is_truncated_for_the_hub(client, site, session):
    article = _create(client, site, body="党" * (BODY_MAX + 10))
    _publish(client, site, article["id"])
    (msg,) = _outbox(session)
    assert len(msg.data["body"]) == BODY_MAX and msg.data["body_truncated"] is True


def test_views_are_counted_with_post_and_likes_once_per_account(client, site, session):
    article = _create(client, site)
    aid = article["id"]
    assert client.put(f"/api/articles/{aid}/like", headers=site["h"]["nobody"]).status_code \
        == 404  # a draft is not there for readers
    _publish(client, site, aid)
    for _ in range(3):
        r = client.post(f"/api/articles/{aid}/views", headers=site["h"]["nobody"])
        assert r.status_code == 200
    assert r.json["view_count"] == 3
    for who in ("nobody", "nobody", "member_b1"):
        r = client.put(f"/api/articles/{aid}/like", headers=site["h"][who])
        assert r.status_code == 200
    assert r.json["like_count"] == 2
    got = client.get(f"/api/articles/{aid}", headers=site["h"]["nobody"]).json
    assert (got["view_count"], got["like_count"], got["liked"]) == (3, 2, True)
    assert client.delete(f"/api/articles/{aid}/like", headers=site["h"]["nobody"]
                         ).status_code == 204
    assert client.delete(f"/api/articles/{aid}/like", headers=site["h"]["nobody"]
                         ).status_code == 204
    got = client.get(f"/api/articles/{aid}", headers=site["h"]["nobody"]).json
    assert (got["like_count"], got["liked"]) == (1, False)
    # Counting does not change the content time, nor write audit entries.
    published = client.get(f"/api/articles/{aid}", headers=site["h"]["admin_b1"]).json
    assert got["updated_at"] == published["updated_at"]
    with all_tenants():
        updates = session.scalars(sa.select(AuditEntry.action).where(
            AuditEntry.entity_type == "article", AuditEntry.action == "article.update")).all()
    assert len(updates) == 1  # the publication only


def test_counters_are_reported_to_the_hub_in_batches(client, site, session):
    article = _create(client, site)
    _publish(client, site, article["id"])
    client.post(f"/api/articles/{article['id']}/views", headers=site["h"]["nobody"])
    tenant = site["tenant"]
    with tenant_context(tenant.id):
        ids = services.publish_counters(db.session.get(Tenant, tenant.id))
        assert services.publish_counters(db.session.get(Tenant, tenant.id)) == []
        db.session.commit()
    assert len(ids) == 1
    msg = _outbox(session)[-1]
    assert msg.data["items"] == [{"content_key": f"{tenant.slug}:{article['id']}",
                                  "views": 1, "likes": 0}]


def test_attachments_have_a_size_limit_and_follow_visibility(client, site):
    article = _create(client, site, visibility="internal")
    aid = article["id"]

    def upload(content: bytes, who: str = "admin_b1", name: str = "../../etc/报告.pdf") -> Any:
        return client.post(f"/api/articles/{aid}/attachments", headers=site["h"][who],
                           data={"file": (io.BytesIO(content), name, "application/pdf")},
                           content_type="multipart/form-data")

    assert upload(b"x" * 1001).status_code == 413
    assert upload(b"x", who="viewer_b2").status_code == 404
    assert client.post(f"/api/articles/{aid}/attachments", headers=site["h"]["admin_b1"],
                       data={"file": "not a file"}, content_type="multipart/form-data"
                       ).status_code == 422
    r = upload(b"%PDF-1.4 data")
    assert r.status_code == 201, r.json
    att = r.json
    assert (att["filename"], att["content_type"], att["size"]) == ("报告.pdf",
                                                                   "application/pdf", 13)
    _publish(client, site, aid)
    url = f"/api/articles/{aid}/attachments/{att['id']}"
    got = client.get(url, headers=site["h"]["admin_c"])
    assert got.status_code == 200 and got.data == b"%PDF-1.4 data"
    assert got.headers["Content-Disposition"].startswith("attachment")
    assert got.headers["X-Content-Type-Options"] == "nosniff"
    for who in ("member_b1", "nobody", "viewer_b2", "other_admin"):
        assert client.get(url, headers=site["h"][who]).status_code == 404, who
    assert client.get(f"/api/articles/{aid}/attachments/999999",
                      headers=site["h"]["admin_c"]).status_code == 404
    detail = client.get(f"/api/articles/{aid}", headers=site["h"]["admin_c"]).json
    assert [a["id"] for a in detail["attachments"]] == [att["id"]]


@pytest.mark.parametrize("body", [
    {}, {"org_id": "x", "title": "t"}, {"org_id": 1, "title": ""},
    {"org_id": 1, "title": "t", "visibility": "secret"}, {"org_id": 1, "title": "t" * 201},
    {"org_id": 2**40, "title": "t"}, {"org_id": 1, "title": "t", "kind": "poem"},
])
def test_bad_input_is_a_problem(client, site, body):
    r = client.post("/api/articles", json=body, headers=site["h"]["admin_c"])
    assert r.status_code == 422 and r.mimetype == "application/problem+json"


@pytest.mark.parametrize("query", ["limit=0", "cursor=!!", "kind=poem", "status=x",
                                   "org_id=-1", "cursor=WyJ4Il0"])
def test_bad_list_parameters_are_problems(client, site, query):
    r = client.get(f"/api/articles?{query}", headers=site["h"]["admin_c"])
    assert r.status_code == 422 and r.mimetype == "application/problem+json"


def test_list_pages_with_a_cursor(client, site):
    ids = [_create(client, site, title=f"第{n}篇")["id"] for n in range(5)]
    seen, cursor = [], None
    while True:
        url = "/api/articles?limit=2" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url, headers=site["h"]["admin_b1"]).json
        seen += [i["id"] for i in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(ids, reverse=True)


def test_the_hubs_takedown_withdraws_and_sends_the_tombstone(client, site, session):
    article = _create(client, site)
    _publish(client, site, article["id"])
    tenant = site["tenant"]
    key = f"{tenant.slug}:{article['id']}"
    data = {"content_key": key, "by": "国家管理员", "reason": "重复", "at":
            "2025-03-02T10:00:00.000Z"}
    services.apply_takedown(tenant.slug, data)
    services.apply_takedown(tenant.slug, data)  # a repeat changes nothing more
    db.session.commit()
    with tenant_context(tenant.id):
        row = db.session.get(Article, article["id"])
        assert row.status == "withdrawn" and "重复" in row.withdraw_reason
        entries = db.session.scalars(sa.select(AuditEntry).where(
            AuditEntry.action == "article.takedown")).all()
    assert len(entries) == 2 and entries[0].actor == "hub:国家管理员"
    assert [m.type for m in _outbox(session)] == [PUBLISHED, WITHDRAWN]
    with pytest.raises(Exception, match="not of tenant"):
        services.apply_takedown("elsewhere", data)
