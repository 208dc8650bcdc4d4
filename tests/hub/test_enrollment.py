"""Enrollment: one-time tokens, the registry, re-enrollment after a lost key, revocation, and the
signed key directory nodes fetch."""

from __future__ import annotations

import datetime as dt
import hashlib

import pytest
import sqlalchemy as sa

from federation.delivery.models import KnownKey, OutboxMessage, RevokedOwner
from federation.keys import HUB, SigningKey, load_directory, utcnow
from hub.db import db
from hub.keys import services as keys
from hub.keys.models import DirectoryState
from hub.nodes import services as nodes
from hub.nodes.models import EnrollmentToken, Node, NodeStatus, NodeTenant
from shared.db.session import transaction
from shared.errors import Conflict, InvalidInput
from tests.hub.helpers import enrollment_body

ENROLL = "/api/federation/enroll"
DIRECTORY = "/api/federation/directory"


def _snapshot(session) -> dict[str, object]:
    """Everything an enrollment may change, to show a refused one changed nothing."""
    return {
        "nodes": session.scalars(sa.select(Node.id).order_by(Node.id)).all(),
        "tenants": session.execute(sa.select(NodeTenant.node_id, NodeTenant.slug,
                                             NodeTenant.code_prefix)
                                   .order_by(NodeTenant.code_prefix)).all(),
        "keys": session.execute(sa.select(KnownKey.owner, KnownKey.key_id, KnownKey.revoked_at)
                                .order_by(KnownKey.owner, KnownKey.key_id)).all(),
        "used": session.scalars(sa.select(EnrollmentToken.id)
                                .where(EnrollmentToken.used_at.is_not(None))).all(),
        "outbox": session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)),
        "version": session.scalar(sa.select(DirectoryState.version)),
    }


def test_a_node_enrolls_over_http_and_gets_the_hub_keys_and_a_signed_directory(
        client, session, network, hub_key):
    token = network.token("node-a", ("500104", "500107"))
    node_key = SigningKey.generate()
    response = client.post(ENROLL, json=enrollment_body(
        token, "node-a", node_key, [("dadukou", "500104"), ("jiulongpo", "500107001")]))
    assert response.status_code == 200, response.json
    body = response.json
    assert body["node_id"] == "node-a"
    assert [k["key_id"] for k in body["hub_keys"]] == [hub_key.key_id]
    assert body["revoked_keys"] == []
    assert body["tenants"] == [
        {"slug": "dadukou", "name": "中共dadukou委员会", "code_prefix": "500104",
         "region": "500104"},
        {"slug": "jiulongpo", "name": "中共jiulongpo委员会", "code_prefix": "500107001",
         "region": "500107"},
    ]
    # The directory verifies with the hub key alone and lists the node's new key.
    directory = load_directory(body["directory"].encode(), now=utcnow(),
                               hub_keys=[hub_key.public_key(HUB, valid_from=utcnow() -
                                                            dt.timedelta(hours=1),
                                                            valid_until=utcnow() +
                                                            dt.timedelta(days=1))])
    assert directory.version == body["directory_version"]
    listed = {(k.owner, k.key_id): k.public for k in directory.keys}
    assert listed[("node-a", node_key.key_id)] == node_key.public_bytes
    assert listed[(HUB, hub_key.key_id)] == hub_key.public_bytes
    # The registry.
    node = session.get(Node, "node-a")
    assert node.status == NodeStatus.active and node.name == "node-a"
    assert session.get(KnownKey, ("node-a", node_key.key_id)).public == node_key.public_bytes
    row = session.scalars(sa.select(EnrollmentToken)).one()
    assert row.used_at is not None
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()  # never the token


def test_the_token_region_applies_to_every_tenant(network):
    token = network.token("node-r", ("500104",), region="500100")
    result = network.enroll("node-r", [("dadukou", "500104")], token=token)
    assert [(t.slug, t.region) for t in result.tenants] == [("dadukou", "500100")]


def _refused(client, session, body, status, code):
    before = _snapshot(session)
    response = client.post(ENROLL, json=body)
    assert response.status_code == status, response.json
    assert response.content_type == "application/problem+json"
    assert response.json["code"] == code
    assert _snapshot(session) == before
    return response.json


def test_an_unknown_expired_or_used_token_is_refused_and_nothing_changes(
        client, session, network):
    key = SigningKey.generate()
    tenants = [("dadukou", "500104")]
    _refused(client, session, enrollment_body("pne_nope", "node-a", key, tenants), 401,
             "enrollment-token-unknown")
    expired = network.token("node-a", now=utcnow() - dt.timedelta(days=8))
    problem = _refused(client, session, enrollment_body(expired, "node-a", key, tenants), 401,
                       "enrollment-token-expired")
    assert "expired at" in problem["detail"]
    used = network.token("node-a")
    assert client.post(ENROLL, json=enrollment_body(used, "node-a", key, tenants)
                       ).status_code == 200
    _refused(client, session, enrollment_body(used, "node-a", key, tenants), 401,
             "enrollment-token-used")


def test_a_token_for_another_node_id_is_refused(client, session, network):
    token = network.token("node-a")
    problem = _refused(client, session, enrollment_body(
        token, "node-b", SigningKey.generate(), [("dadukou", "500104")]), 403,
        "enrollment-token-wrong-node")
    assert "node-b" in problem["detail"]


def test_a_prefix_outside_the_token_is_refused(client, session, network):
    token = network.token("node-a", ("500104",))
    problem = _refused(client, session, enrollment_body(
        token, "node-a", SigningKey.generate(), [("dadukou", "500104"), ("yuzhong", "500103")]),
        403, "prefix-not-allowed")
    assert problem["errors"] == {"tenants": {"1": {"code_prefix": [
        "500103 is not under the token's prefixes (500104)."]}}}


@pytest.mark.parametrize("taken", ["500104", "500104001", "5001"])
def test_a_prefix_overlapping_another_nodes_tenant_is_refused(client, session, network, taken):
    network.enroll("node-a", [("dadukou", "500104001")] if taken != "500104001"
                   else [("dadukou", "500104")])
    if taken == "5001":  # shorter than a division code: refused by the schema already
        token = network.token("node-b", ("500104",))
        response = client.post(ENROLL, json=enrollment_body(
            token, "node-b", SigningKey.generate(), [("other", taken)]))
        assert response.status_code == 422
        return
    token = network.token("node-b", ("500104",))
    problem = _refused(client, session, enrollment_body(
        token, "node-b", SigningKey.generate(), [("other", taken)]), 409, "prefix-taken")
    assert "another node" in problem["detail"]


def test_bad_bodies_are_refused_by_the_schema(client, session, network):
    token = network.token("node-a")
    body = enrollment_body(token, "node-a", SigningKey.generate(), [("dadukou", "500104")])
    for field, value in (("node_id", "no spaces"), ("key_id", "rsa:x"), ("public_key", "x"),
                         ("tenants", [{"slug": "A", "name": "x", "code_prefix": "500104"}])):
        response = client.post(ENROLL, json={**body, field: value})
        assert response.status_code == 422, field
        assert field in response.json["errors"]
    assert _snapshot(session)["used"] == []


def test_failed_enrollments_are_throttled_per_address(client, session, network):
    body = enrollment_body("pne_guess", "node-a", SigningKey.generate(), [("dadukou", "500104")])
    for _ in range(3):  # enroll_max_failures=3 in the test settings
        assert client.post(ENROLL, json=body).status_code == 401
    good = network.token("node-a")
    throttled = client.post(ENROLL, json={**body, "token": good})
    assert throttled.status_code == 429
    assert int(throttled.headers["Retry-After"]) > 0
    assert session.get(Node, "node-a") is None


def test_reenrollment_with_a_new_key_revokes_the_old_one_and_tells_every_other_node(
        client, session, network):
    first = network.enroll("node-a", [("dadukou", "500104")])
    old_key = network.node_keys["node-a"]
    network.enroll("node-b", [("jiulongpo", "500107")])
    network.enroll("node-c", [("yuzhong", "500103")])
    with transaction(db):
        nodes.revoke_node("node-c", by="test")
    session.execute(sa.delete(OutboxMessage))
    new_key = SigningKey.generate()
    token = network.token("node-a", ("500104",))
    response = client.post(ENROLL, json=enrollment_body(token, "node-a", new_key,
                                                        [("dadukou", "500104")]))
    assert response.status_code == 200, response.json
    assert response.json["revoked_keys"] == [old_key.key_id]
    assert response.json["directory_version"] > first.directory_version
    assert session.get(KnownKey, ("node-a", old_key.key_id)).revoked_at is not None
    assert session.get(KnownKey, ("node-a", new_key.key_id)).revoked_at is None
    # One signed revocation to each other *active* node (not the revoked one, not itself).
    sent = session.scalars(sa.select(OutboxMessage)).all()
    assert [(m.destination, m.type) for m in sent] == [("node-b", nodes.KEY_REVOKED)]
    assert sent[0].data["owner"] == "node-a" and sent[0].data["key_id"] == old_key.key_id
    assert sent[0].sequenced
    # The node keeps its tenant and its prefix.
    assert [(t.node_id, t.code_prefix) for t in session.scalars(
        sa.select(NodeTenant).where(NodeTenant.slug == "dadukou"))] == [("node-a", "500104")]


def test_reenrollment_with_the_same_key_adds_tenants_and_revokes_nothing(session, network):
    network.enroll("node-a", [("dadukou", "500104")])
    key = network.node_keys["node-a"]
    token = network.token("node-a", ("500104", "500107"))
    result = network.enroll("node-a", [("dadukou", "500104"), ("jiulongpo", "500107")],
                            key=key, token=token)
    assert result.revoked_keys == []
    assert [t.slug for t in result.tenants] == ["dadukou", "jiulongpo"]
    assert session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage)) == 0
    with pytest.raises(Conflict, match="registered with prefix 500104"):
        network.enroll("node-a", [("dadukou", "500104009")], key=key,
                       token=network.token("node-a", ("500104",)))


def test_a_key_id_cannot_be_reused_with_another_key(network):
    network.enroll("node-a", [("dadukou", "500104")])
    key_id = network.node_keys["node-a"].key_id
    impostor = SigningKey.from_private_bytes(key_id, SigningKey.generate().private_bytes())
    with pytest.raises(Conflict, match="registered with another key"):
        network.enroll("node-a", [("dadukou", "500104")], key=impostor)


def test_revoking_a_node_revokes_its_keys_tells_the_others_and_shows_in_the_directory(
        client, session, network, hub_key):
    network.enroll("node-a", [("dadukou", "500104")])
    network.enroll("node-b", [("jiulongpo", "500107")])
    version = keys.directory_version()
    session.execute(sa.delete(OutboxMessage))
    with transaction(db):
        node = nodes.revoke_node("node-a", by="ops")
    assert (node.status, node.revoked_by) == (NodeStatus.revoked, "ops")
    assert session.get(RevokedOwner, "node-a") is not None
    [message] = session.scalars(sa.select(OutboxMessage)).all()
    assert (message.destination, message.data["owner"], message.data["key_id"]) == \
        ("node-b", "node-a", None)
    directory = _fetch_directory(client, hub_key)
    assert directory.version == version + 1
    assert "node-a" in directory.revoked_owners
    # A revoked node does not come back: not with a token, not under its id.
    with pytest.raises(Conflict, match="revoked"):
        network.token("node-a")
    with transaction(db), pytest.raises(Conflict, match="already revoked"):
        nodes.revoke_node("node-a", by="ops")


def test_a_new_node_takes_over_the_prefix_of_a_revoked_one(session, network):
    network.enroll("node-a", [("dadukou", "500104")])
    with transaction(db):
        nodes.revoke_node("node-a", by="ops")
    result = network.enroll("node-a2", [("dadukou", "500104")])
    assert [(t.node_id, t.code_prefix) for t in result.tenants] == [("node-a2", "500104")]
    assert session.scalar(sa.select(sa.func.count()).select_from(NodeTenant)) == 1


def test_issuing_a_token_checks_its_input(network):
    with transaction(db), pytest.raises(InvalidInput) as refused:
        nodes.issue_token(node_id="hub", allowed_prefixes=["12"], region="5001",
                          created_by=" ", ttl=dt.timedelta(days=1))
    assert set(refused.value.errors) == {"node_id", "allowed_prefixes", "region", "created_by"}


def _fetch_directory(client, hub_key):
    response = client.get(DIRECTORY)
    assert response.status_code == 200
    assert response.content_type == "application/json"
    pinned = hub_key.public_key(HUB, valid_from=utcnow() - dt.timedelta(hours=1),
                                valid_until=utcnow() + dt.timedelta(days=1))
    return load_directory(response.data, hub_keys=[pinned], now=utcnow())


def test_the_directory_is_signed_by_the_hub_and_its_version_grows_with_each_change(
        client, session, network, hub_key):
    before = _fetch_directory(client, hub_key)
    assert {(k.owner, k.key_id) for k in before.keys} >= {(HUB, hub_key.key_id)}
    network.enroll("node-a", [("dadukou", "500104")])
    after = _fetch_directory(client, hub_key)
    assert after.version == before.version + 1
    assert ("node-a", network.node_keys["node-a"].key_id) in {(k.owner, k.key_id)
                                                              for k in after.keys}
    again = _fetch_directory(client, hub_key)
    assert again.version == after.version  # no change, same version (re-signed)
    # Not signed by anyone else: a node pinning another key refuses it.
    from federation.keys import DirectoryError

    other = SigningKey.generate().public_key(HUB, valid_from=utcnow() - dt.timedelta(hours=1),
                                             valid_until=utcnow() + dt.timedelta(days=1))
    with pytest.raises(DirectoryError):
        load_directory(client.get(DIRECTORY).data, hub_keys=[other], now=utcnow())


def test_without_a_signing_key_the_hub_says_so(client, app, tmp_path, monkeypatch):
    import dataclasses

    settings = dataclasses.replace(app.extensions["hub"],
                                   signing_key_file=str(tmp_path / "missing.key"))
    monkeypatch.setitem(app.extensions, "hub", settings)
    response = client.get(DIRECTORY)
    assert response.status_code == 503
    assert response.json["code"] == "hub-key-missing"
    assert "partynet hub bus keygen" in response.json["detail"]
