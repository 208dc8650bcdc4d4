"""The administrator's console: enrollment tokens, nodes (revoke, silent alerts), the
quarantine (pages and API), take-downs; the same services as the CLI."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from federation.delivery import Consumer, Outcome
from federation.delivery.models import OutboxMessage, QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import HUB, utcnow
from hub.accounts.models import HubRole
from hub.bus import services as bus
from hub.cli import cli
from hub.db import db
from hub.feed.models import FeedItem
from hub.nodes import services as nodes
from hub.nodes.models import EnrollmentToken, Node, NodeStatus
from shared.db.session import transaction
from tests.hub.helpers import auth, bearer_token, csrf_of, hub_account, sign_in
from tests.hub.web.seed import seed

HEARTBEAT = "partynet.node.heartbeat.v1"
PING = "partynet.bus.ping.v1"


def _get(model, key):  # type: ignore[no-untyped-def]
    """A row as the database has it now (not a copy the test's session kept from before)."""
    return db.session().get(model, key, populate_existing=True)


@pytest.fixture()
def admin(app, client):
    account = hub_account(app, HubRole.administrator, username="admin")
    assert sign_in(client, account.username).status_code == 303
    return account


def _csrf(client) -> str:
    return csrf_of(client, "/account/password")


# --- enrollment tokens ---------------------------------------------------------------------------

def test_an_administrator_issues_a_token_shown_once_and_revokes_one(client, session, admin):
    issued = client.post("/console/tokens/issue", data={
        "csrf_token": _csrf(client), "node_id": "node-cq", "node_name": "重庆站点",
        "prefixes": "500104, 500107", "region": "", "ttl_days": "3"})
    assert issued.status_code == 200
    html = issued.get_data(as_text=True)
    token = re.search(r'id="issued-token">(pne_[\w-]+)<', html).group(1)
    row = session.scalars(sa.select(EnrollmentToken)).one()
    assert row.token_hash == nodes.token_digest(token) and row.created_by == "hub:admin"
    assert row.allowed_prefixes == ["500104", "500107"] and row.node_name == "重庆站点"
    assert 71 * 3600 < (row.expires_at - row.created_at).total_seconds() <= 72 * 3600
    listing = client.get("/console/tokens").get_data(as_text=True)
    assert "node-cq" in listing and token not in listing  # never shown again
    revoked = client.post(f"/console/tokens/{row.id}/revoke", data={"csrf_token": _csrf(client)})
    assert revoked.status_code == 303
    assert nodes.token_state(_get(EnrollmentToken, row.id)) == "revoked"
    again = client.post(f"/console/tokens/{row.id}/revoke", data={"csrf_token": _csrf(client)})
    assert again.status_code == 409
    every = client.get("/console/tokens?all=1").get_data(as_text=True)
    assert "status-revoked" in every


def test_a_revoked_token_no_longer_enrolls(client, session, network):
    text = network.token("node-a")
    with transaction(db):
        nodes.revoke_token(session.scalars(sa.select(EnrollmentToken.id)).one(), by="test")
    with pytest.raises(Exception, match="revoked"):
        network.enroll("node-a", [("dadukou", "500104")], token=text)


@pytest.mark.parametrize(("form", "field_hint"), [
    ({"node_id": "hub"}, "node_id-error"),
    ({"prefixes": "12"}, "prefixes-error"),
    ({"region": "5001"}, "region-error"),
    ({"ttl_days": "0"}, "ttl_days-error"),
])
def test_a_wrong_token_form_is_refused_readably_and_changes_nothing(client, session, admin,
                                                                   form, field_hint):
    data = {"csrf_token": _csrf(client), "node_id": "node-x", "prefixes": "500104",
            "region": "", "ttl_days": "7", **form}
    refused = client.post("/console/tokens/issue", data=data)
    assert refused.status_code == 422
    assert f'id="{field_hint}"' in refused.get_data(as_text=True)
    assert session.scalar(sa.select(sa.func.count()).select_from(EnrollmentToken)) == 0


def test_an_auditor_sees_the_tokens_but_no_forms(app, client, network):
    network.token("node-a")
    auditor = hub_account(app, HubRole.auditor)
    sign_in(client, auditor.username)
    page = client.get("/console/tokens").get_data(as_text=True)
    assert "node-a" in page and "/console/tokens/issue" not in page and "/revoke" not in page


# --- nodes ---------------------------------------------------------------------------------------

def test_the_node_page_shows_tenants_keys_and_health_and_revokes_with_confirmation(
        client, session, network, admin):
    network.enroll("node-a", [("dadukou", "500104"), ("jiulongpo", "500107")])
    network.enroll("node-b", [("dongcheng", "110101")])
    with transaction(db):
        nodes.record_heartbeat("node-a", at=utcnow(), version="1.4.2", backlog=12,
                               lag_seconds=30)
    page = client.get("/console/nodes/node-a").get_data(as_text=True)
    for expected in ("500104", "500107", "1.4.2", ">12<", ">30<",
                     network.node_keys["node-a"].key_id):
        assert expected in page
    unconfirmed = client.post("/console/nodes/node-a/revoke",
                              data={"csrf_token": _csrf(client), "confirm": "node-b"})
    assert unconfirmed.status_code == 422
    assert _get(Node, "node-a").status == NodeStatus.active
    revoked = client.post("/console/nodes/node-a/revoke",
                          data={"csrf_token": _csrf(client), "confirm": "node-a"})
    assert revoked.status_code == 303
    node = _get(Node, "node-a")
    assert node.status == NodeStatus.revoked and node.revoked_by == "hub:admin"
    told = session.scalars(sa.select(OutboxMessage.destination).where(
        OutboxMessage.type == nodes.KEY_REVOKED)).all()
    assert told == ["node-b"]  # every other node is told
    assert client.get("/console/nodes/nobody").status_code == 404


def test_a_silent_node_is_flagged_on_the_console_in_metrics_and_by_the_cli(
        app, client, session, network, admin, monkeypatch):
    network.enroll("node-quiet", [("dadukou", "500104")])
    network.enroll("node-fine", [("dongcheng", "110101")])
    now = utcnow()
    with transaction(db):
        nodes.record_heartbeat("node-quiet", at=now - dt.timedelta(hours=2), version="1.0",
                               backlog=0, lag_seconds=0)
        nodes.record_heartbeat("node-fine", at=now, version="1.0", backlog=0, lag_seconds=0)
    assert [n.id for n in nodes.silent_nodes(dt.timedelta(minutes=15))] == ["node-quiet"]
    home = client.get("/console").get_data(as_text=True)
    assert "node-quiet" in home and "node-fine" not in home.split("silent-title")[1][:2000]
    listing = client.get("/console/nodes").get_data(as_text=True)
    assert listing.count("status-silent") == 1
    metrics = client.get("/metrics").get_data(as_text=True)
    assert "partynet_hub_nodes_silent 1.0" in metrics
    monkeypatch.setattr("hub.app.create_app", lambda _settings=None: app)
    monkeypatch.setenv("HUB_DATABASE_URL", "sqlite:///unused.db")
    monkeypatch.setenv("HUB_SECRET_KEY", "x" * 20)
    flagged = CliRunner().invoke(cli, ["node", "silent"])
    assert flagged.exit_code == 1 and flagged.output.startswith("node-quiet\t")
    quiet = CliRunner().invoke(cli, ["node", "silent", "--after", str(3 * 3600)])
    assert quiet.exit_code == 0 and "no node silent" in quiet.output


# --- quarantine ----------------------------------------------------------------------------------

def _held(session, network, settings) -> tuple[int, int]:
    """Two held messages of node-a: a heartbeat from a clock running fast (releasable) and a ping for
    a tenant node-a does not host (still refused on release)."""
    network.enroll("node-a", [("dadukou", "500104")])
    network.enroll("node-b", [("jiulongpo", "500107")])
    key = network.node_keys["node-a"]
    consumer = Consumer(bus.hub_party(settings))
    ahead = utcnow() + dt.timedelta(hours=2)  # a node clock running fast: out of the window
    late = seal(Envelope(id=new_id(), type=HEARTBEAT, source="node-a", destination=HUB,
                         time=ahead, tenant=None, sequence=1,
                         data={"version": "0.9", "backlog": 1, "lag_seconds": 2,
                               "tenants": ["dadukou"]}), key)
    foreign = seal(Envelope(id=new_id(), type=PING, source="node-a", destination=HUB,
                            time=utcnow(), tenant="jiulongpo", sequence=1, data={"n": 1}), key)
    assert consumer.handle(late) == Outcome.quarantined
    assert consumer.handle(foreign) == Outcome.quarantined
    rows = session.scalars(sa.select(QuarantinedMessage).order_by(QuarantinedMessage.id)).all()
    return rows[0].id, rows[1].id


def test_the_quarantine_api_lists_reads_releases_and_discards(app, client, session, network,
                                                             settings):
    late, foreign = _held(session, network, settings)
    auditor, admin = bearer_token(app, HubRole.auditor), bearer_token(app, HubRole.administrator)
    listed = client.get("/api/federation/quarantine", headers=auth(auditor))
    assert listed.status_code == 200
    assert [i["id"] for i in listed.get_json()["items"]] == [late, foreign]
    one = client.get(f"/api/federation/quarantine/{foreign}", headers=auth(auditor)).get_json()
    assert one["reason"] == "tenant_not_owned" and one["tenant"] == "jiulongpo"
    assert '"jiulongpo"' in one["body"]
    refused = client.post(f"/api/federation/quarantine/{late}/release", json={},
                          headers=auth(auditor))
    assert refused.status_code == 403
    released = client.post(f"/api/federation/quarantine/{late}/release",
                           json={"note": "clock fixed"}, headers=auth(admin))
    assert released.status_code == 200, released.get_json()
    body = released.get_json()
    assert (body["status"], body["outcome"], body["resolution"]) == ("released", "applied",
                                                                      "clock fixed")
    assert _get(Node, "node-a").version == "0.9"  # the heartbeat was applied
    twice = client.post(f"/api/federation/quarantine/{late}/release", json={},
                        headers=auth(admin))
    assert twice.status_code == 409
    assert twice.headers["Content-Type"] == "application/problem+json"
    still = client.post(f"/api/federation/quarantine/{foreign}/release", json={},
                        headers=auth(admin))
    assert still.status_code == 409 and "Still refused" in still.get_json()["detail"]
    assert _get(QuarantinedMessage, foreign).status == "held"
    discarded = client.post(f"/api/federation/quarantine/{foreign}/discard", json={},
                            headers=auth(admin))
    assert discarded.status_code == 200 and discarded.get_json()["status"] == "discarded"
    held = client.get("/api/federation/quarantine", headers=auth(auditor)).get_json()
    assert held["items"] == []
    every = client.get("/api/federation/quarantine?status=all", headers=auth(auditor))
    assert len(every.get_json()["items"]) == 2
    assert client.get("/api/federation/quarantine/999999",
                      headers=auth(auditor)).status_code == 404
    assert client.get("/api/federation/quarantine?status=lost",
                      headers=auth(auditor)).status_code == 422


def test_the_quarantine_pages_release_and_discard(app, client, session, network, settings,
                                                  admin):
    late, foreign = _held(session, network, settings)
    listing = client.get("/console/quarantine").get_data(as_text=True)
    assert "tenant_not_owned" in listing and f"/console/quarantine/{late}" in listing
    entry = client.get(f"/console/quarantine/{foreign}").get_data(as_text=True)
    assert "jiulongpo" in entry and "/release" in entry
    still = client.post(f"/console/quarantine/{foreign}/release",
                        data={"csrf_token": _csrf(client)})
    assert still.status_code == 409 and 'role="alert"' in still.get_data(as_text=True)
    assert _get(QuarantinedMessage, foreign).status == "held"
    released = client.post(f"/console/quarantine/{late}/release",
                           data={"csrf_token": _csrf(client), "note": "时钟已校正"})
    assert released.status_code == 303
    entry = _get(QuarantinedMessage, late)
    assert (entry.status, entry.resolved_by, entry.resolution) == ("released", "hub:admin",
                                                                   "时钟已校正")
    discarded = client.post(f"/console/quarantine/{foreign}/discard",
                            data={"csrf_token": _csrf(client)})
    assert discarded.status_code == 303
    assert _get(QuarantinedMessage, foreign).status == "discarded"
    after = client.get(f"/console/quarantine/{foreign}").get_data(as_text=True)
    assert "/discard" not in after  # nothing left to decide
    assert client.get("/console/quarantine/999999").status_code == 404


# --- feed ------------------------------------------------------------------------------------------

def test_an_item_is_found_and_taken_down_with_a_reason(client, session, hub_key, admin):
    ids = seed(hub_key)
    item_id = next(iter(ids.values()))
    item = _get(FeedItem, item_id)
    found = client.get(f"/console/feed?q={item.content_key}").get_data(as_text=True)
    assert f"/console/feed/{item_id}" in found
    searched = client.get("/console/feed?q=党建").get_data(as_text=True)
    assert f"/console/feed/{item_id}" in searched
    no_reason = client.post(f"/console/feed/{item_id}/takedown",
                            data={"csrf_token": _csrf(client), "reason": " "})
    assert no_reason.status_code == 422 and _get(FeedItem, item_id).taken_down_at is None
    taken = client.post(f"/console/feed/{item_id}/takedown",
                        data={"csrf_token": _csrf(client), "reason": "内容不实"})
    assert taken.status_code == 303
    item = _get(FeedItem, item_id)
    assert (item.taken_down_by, item.takedown_reason) == ("hub:admin", "内容不实")
    message = session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.destination == item.node_id)).all()[-1]
    assert message.data["reason"] == "内容不实"  # the node is asked to withdraw it
    assert client.get(f"/items/{item_id}").status_code == 404  # gone from the portal
    page = client.get(f"/console/feed/{item_id}").get_data(as_text=True)
    assert "内容不实" in page and "/takedown" not in page


# --- accounts --------------------------------------------------------------------------------------

def test_an_administrator_creates_and_deactivates_accounts_on_the_console(client, session,
                                                                         admin):
    made = client.post("/console/accounts/new", data={
        "csrf_token": _csrf(client), "username": "cq-viewer", "display_name": "重庆观察员",
        "role": "region_viewer", "region_prefix": "50", "password": "viewer-password-1",
        "confirm_password": "viewer-password-1"})
    assert made.status_code == 303
    from hub.accounts import services
    viewer = services.get_account_by_username("cq-viewer")
    assert (viewer.role, viewer.region_prefix, viewer.created_by) == (
        HubRole.region_viewer, "50", "hub:admin")
    no_region = client.post("/console/accounts/new", data={
        "csrf_token": _csrf(client), "username": "other", "display_name": "其他",
        "role": "region_viewer", "password": "viewer-password-1",
        "confirm_password": "viewer-password-1"})
    assert no_region.status_code == 422 and 'id="new-region_prefix-error"' in \
        no_region.get_data(as_text=True)
    taken = client.post("/console/accounts/new", data={
        "csrf_token": _csrf(client), "username": "cq-viewer", "display_name": "重复",
        "role": "auditor", "password": "viewer-password-1",
        "confirm_password": "viewer-password-1"})
    assert taken.status_code == 409
    own = client.post(f"/console/accounts/{admin.id}/deactivate",
                      data={"csrf_token": _csrf(client)})
    assert own.status_code == 409 and services.get_account(admin.id).is_active
    gone = client.post(f"/console/accounts/{viewer.id}/deactivate",
                       data={"csrf_token": _csrf(client)})
    assert gone.status_code == 303 and not services.get_account(viewer.id).is_active


# --- hostile input ---------------------------------------------------------------------------------

JUNK = "\x00<script>alert(1)</script>\n" + "長" * 300
FIELDS = ("node_id", "node_name", "prefixes", "region", "ttl_days", "confirm", "note", "reason",
          "username", "display_name", "email", "password", "confirm_password", "role",
          "region_prefix", "current_password", "new_password")


def test_no_form_or_query_a_client_can_send_gets_a_500(app, client, session, network, admin):
    network.enroll("node-a", [("dadukou", "500104")])
    csrf = _csrf(client)
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if getattr(view, "console_needs", None) is None:
            continue
        url = re.sub(r"<int:\w+>", "1", rule.rule).replace("<node_id>", "node-a")
        if "POST" in rule.methods:
            data = {"csrf_token": csrf, **dict.fromkeys(FIELDS, JUNK)}
            response = client.post(url, data=data)
            assert response.status_code < 500, (url, response.status_code)
        response = client.get(url, query_string={"q": JUNK, "status": JUNK, "after": JUNK,
                                                 "all": JUNK, "done": JUNK})
        assert response.status_code < 500, (url, response.status_code)
    assert _get(Node, "node-a").status == NodeStatus.active
