"""The quarantine for tenant administrators: their own tenant's held messages only, released
through the node's consumer (applied once) or discarded, both audited; refusals change nothing."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery import Consumer, Outcome
from federation.delivery.keystore import remember_key
from federation.delivery.models import InboxMessage, KnownKey, QuarantinedMessage
from federation.delivery.quarantine import hold
from federation.envelope import Envelope, new_id, seal
from federation.keys import SigningKey, format_time, utcnow
from node.audit.models import AuditEntry
from node.bus import services as bus
from node.grants.models import Role
from node.tenants.scoping import tenant_context


@dataclasses.dataclass
class Held:
    tenant: Any
    other: Any
    admin: dict[str, str]  # tenant administrator of `tenant`
    other_admin: dict[str, str]
    org_admin: dict[str, str]  # an org administrator of `tenant`
    mine: int  # a revocation claiming `tenant`, sent too long ago: held for clock skew
    theirs: int  # the same kind of message claiming `other`
    nobody: int  # claiming no tenant
    unknown_key: int  # claiming `tenant`, signed with a key the node does not know
    victim: tuple[str, str]  # (owner, key id) the held revocation revokes


@pytest.fixture()
def node_key(app: Any, tmp_path: Any) -> Any:
    """The node's signing key, which its consumer needs (as `partynet node bus` does)."""
    original = app.extensions["node"]
    settings = dataclasses.replace(original, signing_key_file=str(tmp_path / "node.key"))
    bus.create_signing_key(settings)
    app.extensions["node"] = settings
    yield settings
    app.extensions["node"] = original


def _revocation(hub: SigningKey, tenant: str | None, victim: SigningKey, *,
                age: dt.timedelta) -> bytes:
    at = utcnow() - age
    return seal(Envelope(id=new_id(), type=bus.KEY_REVOKED, source="hub",
                         destination="node-local", time=at, tenant=tenant, sequence=None,
                         data={"owner": "node-b", "key_id": victim.key_id,
                               "at": format_time(at)}), hub)


@pytest.fixture()
def held(world: Any, session: Any, node_key: Any) -> Held:
    tenant, other = world.tenant(), world.tenant()
    root = world.root(tenant)
    branch = world.org(tenant, root, "branch")
    admin = world.token(world.account(tenant, [(Role.tenant_admin, root)]))
    other_admin = world.token(world.account(other, [(Role.tenant_admin, world.root(other))]))
    org_admin = world.token(world.account(tenant, [(Role.org_admin, branch)]))
    hub, victim, stranger = SigningKey.generate(), SigningKey.generate(), SigningKey.generate()
    now = utcnow()
    remember_key(session, hub.public_key("hub", valid_from=now - dt.timedelta(days=2),
                                         valid_until=now + dt.timedelta(days=30)))
    remember_key(session, victim.public_key("node-b", valid_from=now - dt.timedelta(days=2),
                                            valid_until=now + dt.timedelta(days=30)))
    session.commit()
    consumer = Consumer(bus.node_party(node_key))
    late = dt.timedelta(hours=2)  # outside the five-minute window
    bodies = [_revocation(hub, tenant.slug, victim, age=late),
              _revocation(hub, other.slug, victim, age=late),
              _revocation(hub, None, victim, age=late),
              _revocation(stranger, tenant.slug, victim, age=dt.timedelta(0))]
    assert [consumer.handle(body) for body in bodies] == [Outcome.quarantined] * 4
    ids = session.scalars(sa.select(QuarantinedMessage.id).order_by(QuarantinedMessage.id)).all()
    return Held(tenant, other, admin, other_admin, org_admin, *ids[-4:],
                victim=("node-b", victim.key_id))


def _status(session: Any, entry: int) -> str:
    session.expire_all()
    return session.get(QuarantinedMessage, entry).status


def _audit(session: Any, tenant: Any, action: str) -> list[AuditEntry]:
    with tenant_context(tenant.id):
        return list(session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


def test_an_administrator_lists_only_their_tenants_messages(client, held):
    r = client.get("/api/federation/quarantine", headers=held.admin)
    assert r.status_code == 200
    assert [e["id"] for e in r.json["items"]] == [held.mine, held.unknown_key]
    assert {e["reason"] for e in r.json["items"]} == {"clock_skew", "unknown_key"}
    assert all(e["tenant"] == held.tenant.slug and e["status"] == "held"
               for e in r.json["items"])
    theirs = client.get("/api/federation/quarantine", headers=held.other_admin).json["items"]
    assert [e["id"] for e in theirs] == [held.theirs]
    page = client.get("/api/federation/quarantine?limit=1", headers=held.admin).json
    assert [e["id"] for e in page["items"]] == [held.mine] and page["next_cursor"]
    assert client.get("/api/federation/quarantine?status=lost",
                      headers=held.admin).status_code == 422


def test_another_tenants_message_or_one_claiming_none_is_not_found(client, held, session):
    for entry in (held.theirs, held.nobody):
        for suffix, method in (("", "get"), ("/release", "post"), ("/discard", "post")):
            r = getattr(client, method)(f"/api/federation/quarantine/{entry}{suffix}",
                                        headers=held.admin, json={"note": "mine?"}
                                        if method == "post" else None)
            assert r.status_code == 404, (entry, suffix, r.json)
            assert r.mimetype == "application/problem+json"
    assert _status(session, held.theirs) == _status(session, held.nobody) == "held"
    assert _audit(session, held.tenant, "quarantine.release") == []


def test_an_org_administrator_is_refused(client, held, session):
    assert client.get("/api/federation/quarantine",
                      headers=held.org_admin).status_code == 403
    assert client.get(f"/api/federation/quarantine/{held.mine}",
                      headers=held.org_admin).status_code == 403
    r = client.post(f"/api/federation/quarantine/{held.mine}/release", headers=held.org_admin,
                    json={})
    assert r.status_code == 403 and r.mimetype == "application/problem+json"
    assert _status(session, held.mine) == "held"


def test_the_detail_shows_the_message_as_received(client, held):
    r = client.get(f"/api/federation/quarantine/{held.mine}", headers=held.admin)
    assert r.status_code == 200
    assert r.json["type"] == bus.KEY_REVOKED and r.json["source"] == "hub"
    assert f'"tenant":"{held.tenant.slug}"' in r.json["body"]
    assert '"signatures"' in r.json["body"]


def test_release_applies_the_message_once_and_is_audited(client, held, session):
    r = client.post(f"/api/federation/quarantine/{held.mine}/release", headers=held.admin,
                    json={"note": "the hub's clock was wrong"})
    assert r.status_code == 200, r.json
    assert r.json["outcome"] == "applied"
    assert r.json["entry"]["status"] == "released"
    assert r.json["entry"]["resolved_by"].startswith(f"{held.tenant.slug}:")
    session.expire_all()
    assert session.get(KnownKey, held.victim).revoked_at is not None
    entry = session.get(QuarantinedMessage, held.mine)
    assert entry.resolution == "the hub's clock was wrong"
    assert entry.resolved_by.startswith(f"{held.tenant.slug}:")
    assert session.scalar(sa.select(sa.func.count()).select_from(InboxMessage).where(
        InboxMessage.message_id == entry.message_id)) == 1
    [audit] = _audit(session, held.tenant, "quarantine.release")
    assert audit.entity_type == "quarantine" and audit.entity_id == held.mine
    assert audit.actor_account_id is not None
    assert audit.after["outcome"] == "applied" and audit.after["note"] == \
        "the hub's clock was wrong"
    again = client.post(f"/api/federation/quarantine/{held.mine}/release",
                        headers=held.admin, json={})
    assert again.status_code == 409
    assert len(_audit(session, held.tenant, "quarantine.release")) == 1
    # The same message arriving again from the bus is a duplicate: applied once only.
    body = bytes(entry.body)
    assert Consumer(bus.node_party(client.application.extensions["node"])).handle(body) in (
        Outcome.duplicate, Outcome.quarantined)  # (still too old for the normal window)
    assert session.scalar(sa.select(sa.func.count()).select_from(InboxMessage).where(
        InboxMessage.message_id == entry.message_id)) == 1


def test_a_release_still_refused_changes_nothing(client, held, session):
    r = client.post(f"/api/federation/quarantine/{held.unknown_key}/release",
                    headers=held.admin, json={"note": "try"})
    assert r.status_code == 409 and "unknown_key" in r.json["detail"]
    assert _status(session, held.unknown_key) == "held"
    assert _audit(session, held.tenant, "quarantine.release") == []


def test_discard_marks_the_message_and_is_audited(client, held, session):
    r = client.post(f"/api/federation/quarantine/{held.unknown_key}/discard",
                    headers=held.admin, json={"note": "not from our hub"})
    assert r.status_code == 200 and r.json["status"] == "discarded"
    assert _status(session, held.unknown_key) == "discarded"
    [audit] = _audit(session, held.tenant, "quarantine.discard")
    assert audit.after["note"] == "not from our hub"
    listed = client.get("/api/federation/quarantine?status=discarded", headers=held.admin)
    assert [e["id"] for e in listed.json["items"]] == [held.unknown_key]
    assert client.post(f"/api/federation/quarantine/{held.unknown_key}/discard",
                       headers=held.admin, json={}).status_code == 409
    assert client.post(f"/api/federation/quarantine/{held.unknown_key}/release",
                       headers=held.admin, json={}).status_code == 409


def test_a_node_without_its_signing_key_says_so(client, held, app, session):
    settings = app.extensions["node"]
    app.extensions["node"] = dataclasses.replace(settings, signing_key_file="/nonexistent/k")
    try:
        r = client.post(f"/api/federation/quarantine/{held.mine}/release", headers=held.admin,
                        json={})
    finally:
        app.extensions["node"] = settings
    assert r.status_code == 422 and "keygen" in r.json["detail"]
    assert _status(session, held.mine) == "held"


def test_a_held_body_that_is_not_json_is_shown_as_text(client, held, session):
    hold(session, b"\xff<not json>", "malformed", "not JSON", source=None, message_id=None,
         type=None, tenant=held.tenant.slug)
    session.commit()
    entry = session.scalars(sa.select(QuarantinedMessage).order_by(
        QuarantinedMessage.id.desc())).first()
    r = client.get(f"/api/federation/quarantine/{entry.id}", headers=held.admin)
    assert r.status_code == 200 and r.json["body"] == "\ufffd<not json>"
