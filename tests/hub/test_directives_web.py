"""Directives over the hub's API and console pages: administrators write and publish, auditors
and region viewers read (a region viewer only its region's completion), bad input is a clear
refusal that changes nothing."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery.models import OutboxMessage
from federation.messages.directives import PUBLISHED, WITHDRAWN
from hub.accounts.models import HubRole
from hub.db import db
from hub.directives.models import Directive, DirectiveTarget
from shared.db.session import transaction
from tests.hub.helpers import auth, bearer_token, csrf_of, hub_account, sign_in

PROBLEM = "application/problem+json"


@pytest.fixture()
def enrolled(network) -> None:
    network.enroll("node-a", [("dadukou", "500104"), ("jiulongpo", "500107")])
    network.enroll("node-b", [("tongguan", "340705")])


@pytest.fixture()
def tokens(app) -> dict[str, dict[str, str]]:
    return {"admin": auth(bearer_token(app, HubRole.administrator)),
            "auditor": auth(bearer_token(app, HubRole.auditor)),
            "chongqing": auth(bearer_token(app, HubRole.region_viewer, region_prefix="50")),
            "read_only_admin": auth(bearer_token(app, HubRole.administrator, scope="read"))}


def _count(session, model: Any) -> int:
    session.expire_all()
    return int(session.scalar(sa.select(sa.func.count()).select_from(model)))


def _directive_messages(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.type.in_([PUBLISHED, WITHDRAWN])).order_by(OutboxMessage.id)))


def _receipts(directive_id: int, counts: dict[str, tuple[int, int, int]]) -> None:
    """What the nodes' receipts would have stored (the handler is tested in
    test_directives.py)."""
    with transaction(db):
        for target in db.session.scalars(sa.select(DirectiveTarget).where(
                DirectiveTarget.directive_id == directive_id)):
            if target.tenant in counts:
                target.targeted, target.read, target.completed = counts[target.tenant]
                target.as_of = target.received_at = sa.func.now()


BODY = {"title": "关于开展主题党日活动的通知", "body": "请各支部按时开展。", "kind": "directive",
        "priority": "urgent", "pinned": True, "deadline": "2099-03-31T23:59:59+08:00",
        "links": [{"title": "活动方案", "url": "https://www.example.org/plan.pdf"}],
        "target_kind": "region", "target_region": "50"}


def test_administrators_write_publish_and_withdraw_over_the_api(enrolled, client, tokens,
                                                                session):
    created = client.post("/api/directives", json=BODY, headers=tokens["admin"])
    assert created.status_code == 201, created.json
    directive_id = created.json["id"]
    assert created.json["status"] == "draft" and created.json["deadline"].startswith(
        "2099-03-31T15:59:59")
    edited = client.patch(f"/api/directives/{directive_id}", json={"priority": "high"},
                          headers=tokens["admin"])
    assert edited.status_code == 200 and edited.json["priority"] == "high"
    published = client.post(f"/api/directives/{directive_id}/publish", headers=tokens["admin"])
    assert published.status_code == 200 and published.json["status"] == "published"
    assert published.json["totals"]["tenants"] == 2
    assert [(m.destination, m.data["tenants"]) for m in _directive_messages(session)] == [
        ("node-a", ["dadukou", "jiulongpo"])]
    again = client.post(f"/api/directives/{directive_id}/publish", headers=tokens["admin"])
    assert again.status_code == 409 and again.mimetype == PROBLEM
    late_edit = client.patch(f"/api/directives/{directive_id}", json={"title": "改"},
                             headers=tokens["admin"])
    assert late_edit.status_code == 409
    withdrawn = client.post(f"/api/directives/{directive_id}/withdraw", headers=tokens["admin"])
    assert withdrawn.status_code == 200 and withdrawn.json["status"] == "withdrawn"
    assert [m.type for m in _directive_messages(session)] == [PUBLISHED, WITHDRAWN]


@pytest.mark.parametrize("body", [
    {**BODY, "title": ""},
    {**BODY, "deadline": "2099-03-31T23:59:59"},  # no offset
    {**BODY, "deadline": "2001-01-01T00:00:00+08:00"},
    {**BODY, "links": [{"title": "x", "url": "ftp://e.org/x"}]},
    {**BODY, "target_region": "5x"},
    {**BODY, "target_kind": "tenants", "target_tenants": ["node-a/nowhere"]},
    {**BODY, "kind": "notice"},
    {**BODY, "pinned": "yes please"},
    {"body": "no title"},
])
def test_bad_input_is_a_problem_and_changes_nothing(enrolled, client, tokens, session, body):
    response = client.post("/api/directives", json=body, headers=tokens["admin"])
    assert response.status_code == 422, response.json
    assert response.mimetype == PROBLEM
    assert _count(session, Directive) == 0


def test_readers_see_what_their_role_allows(enrolled, client, tokens, session):
    draft = client.post("/api/directives", json={"title": "草稿"}, headers=tokens["admin"]).json
    everywhere = client.post("/api/directives", json={**BODY, "target_kind": "all"},
                             headers=tokens["admin"]).json
    client.post(f"/api/directives/{everywhere['id']}/publish", headers=tokens["admin"])
    _receipts(everywhere["id"], {"dadukou": (100, 60, 30), "jiulongpo": (100, 20, 10),
                                 "tongguan": (50, 50, 50)})
    # Region viewers read published directives only, and their region's completion.
    listed = client.get("/api/directives", headers=tokens["chongqing"]).json["items"]
    assert [d["id"] for d in listed] == [everywhere["id"]]
    assert client.get(f"/api/directives/{draft['id']}",
                      headers=tokens["chongqing"]).status_code == 404
    mine = client.get(f"/api/directives/{everywhere['id']}/completion",
                      query_string={"by": "region", "level": 4},
                      headers=tokens["chongqing"]).json
    assert [(i["key"], i["targeted"], i["read"]) for i in mine["items"]] == [("5001", 200, 80)]
    assert mine["total"]["read_rate"] == 0.4
    national = client.get(f"/api/directives/{everywhere['id']}/completion",
                          headers=tokens["auditor"]).json
    assert [(i["key"], i["reported"], i["completed"]) for i in national["items"]] == [
        ("node-a", 2, 40), ("node-b", 1, 50)]
    assert {d["id"] for d in client.get("/api/directives", headers=tokens["auditor"]).json[
        "items"]} == {draft["id"], everywhere["id"]}
    csv = client.get(f"/api/directives/{everywhere['id']}/completion/export",
                     headers=tokens["chongqing"])
    assert csv.status_code == 200 and csv.mimetype == "text/csv"
    lines = csv.get_data(as_text=True).lstrip("\ufeff").splitlines()
    assert lines[0].startswith("region,node,tenant") and len(lines) == 3  # not tongguan
    bad = client.get(f"/api/directives/{everywhere['id']}/completion",
                     query_string={"level": 3}, headers=tokens["auditor"])
    assert bad.status_code == 422 and bad.mimetype == PROBLEM
    # Writing is for administrators with the write scope.
    before = _count(session, Directive)
    for who in ("auditor", "chongqing", "read_only_admin"):
        refused = client.post("/api/directives", json=BODY, headers=tokens[who])
        assert refused.status_code == 403 and refused.mimetype == PROBLEM
        refused = client.post(f"/api/directives/{draft['id']}/publish", headers=tokens[who])
        assert refused.status_code == 403
    assert _count(session, Directive) == before
    assert client.get("/api/directives/999999", headers=tokens["admin"]).status_code == 404


# --- the console's pages ----------------------------------------------------------------------


def test_an_administrator_writes_and_publishes_from_the_console(enrolled, app, session):
    client = app.test_client()
    admin = hub_account(app, HubRole.administrator)
    assert sign_in(client, admin.username).status_code == 303
    assert "指示" in client.get("/console").get_data(as_text=True)
    form_page = client.get("/console/directives/new")
    assert form_page.status_code == 200
    csrf = csrf_of(client, "/console/directives/new")
    form = {"csrf_token": csrf, "title": "学习贯彻全会精神", "body": "第一段\n第二段",
            "kind": "study", "priority": "high", "audience": "all", "pinned": "1",
            "deadline": "2099-12-31", "target_kind": "tenants",
            "target_tenants": "node-a/dadukou\nnode-b/tongguan",
            "links": "全会公报 https://www.example.org/gongbao.html"}
    bad = client.post("/console/directives/new", data={**form, "target_region": "",
                                                        "links": "公报 javascript:alert(1)"})
    assert bad.status_code == 422
    text = bad.get_data(as_text=True)
    assert 'role="alert"' in text and "每行一个链接" in text
    assert _count(session, Directive) == 0
    created = client.post("/console/directives/new", data=form)
    assert created.status_code == 303
    detail_url = created.headers["Location"]
    directive = session.scalars(sa.select(Directive)).one()
    assert (directive.kind, directive.pinned, directive.target_tenants) == (
        "study", True, ["node-a/dadukou", "node-b/tongguan"])
    assert directive.links == [{"title": "全会公报", "url": "https://www.example.org/gongbao.html"}]
    page = client.get(detail_url).get_data(as_text=True)
    assert "学习贯彻全会精神" in page and "发布到各节点" in page
    published = client.post(f"/console/directives/{directive.id}/publish",
                            data={"csrf_token": csrf})
    assert published.status_code == 303
    assert sorted(m.destination for m in _directive_messages(session)) == ["node-a", "node-b"]
    _receipts(directive.id, {"dadukou": (10, 5, 1)})
    page = client.get(f"/console/directives/{directive.id}?level=6").get_data(as_text=True)
    assert 'data-chart=' in page and "500104" in page and "50%" in page
    assert client.get(f"/console/directives/{directive.id}/edit").status_code == 409
    listing = client.get("/console/directives").get_data(as_text=True)
    assert "学习贯彻全会精神" in listing and "1/2" in listing
    csv = client.get(f"/console/directives/{directive.id}/completion.csv")
    assert csv.status_code == 200 and "node-a,dadukou" in csv.get_data(as_text=True)


def test_region_viewers_read_but_never_write(enrolled, app, session):
    admin_client, viewer_client = app.test_client(), app.test_client()
    admin = hub_account(app, HubRole.administrator)
    viewer = hub_account(app, HubRole.region_viewer, region_prefix="34")
    sign_in(admin_client, admin.username)
    sign_in(viewer_client, viewer.username)
    csrf = csrf_of(admin_client, "/console/directives/new")
    admin_client.post("/console/directives/new", data={
        "csrf_token": csrf, "title": "全国通知", "kind": "directive", "priority": "normal",
        "audience": "secretaries", "target_kind": "all"})
    directive = session.scalars(sa.select(Directive)).one()
    assert viewer_client.get(f"/console/directives/{directive.id}").status_code == 404  # draft
    admin_client.post(f"/console/directives/{directive.id}/publish", data={"csrf_token": csrf})
    _receipts(directive.id, {"dadukou": (10, 5, 1), "tongguan": (4, 4, 4)})
    page = viewer_client.get(f"/console/directives/{directive.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "node-b" in text and "node-a" not in text
    assert viewer_client.get("/console/directives/new").status_code == 403
    viewer_csrf = csrf_of(viewer_client, "/account/password")
    refused = viewer_client.post(f"/console/directives/{directive.id}/withdraw",
                                 data={"csrf_token": viewer_csrf})
    assert refused.status_code == 403
    session.expire_all()
    assert session.get(Directive, directive.id).status == "published"
