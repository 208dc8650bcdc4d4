"""The node's end of cross-node transfers (node/transfers/remote.py, node/directory/): the
tenant directory from the hub, sealing a step for the destination node and queueing it to the
hub in the caller's transaction, and opening a routed step: the origin's own signature checked,
the box opened, the signed metadata compared, then `node.transfers.services.apply_step`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import types
from typing import Any

import pytest
import sqlalchemy as sa

from federation.canonical import encode_canonical
from federation.delivery import Consumer, Outcome
from federation.delivery.keystore import remember_key, revoke
from federation.delivery.models import OutboxMessage, QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import HUB, SigningKey, encode_base64, format_time, utcnow
from federation.messages.transfers import DIRECTORY, ROUTED, STEP, UNDELIVERABLE
from federation.sealed import open_body, seal_step, verify_step
from node.bus import services as bus
from node.directory import identity as node_identity
from node.directory import services as directory
from node.transfers import remote
from node.transfers import services as transfer_services
from shared.errors import InvalidInput

UID = "019a4f3e-7c2b-7d10-8a11-2b3c4d5e6f70"
NOW = utcnow()
DOSSIER = {"name": "王五", "national_id": "110101199003071234"}


@pytest.fixture()
def keys() -> dict[str, SigningKey]:
    return {"node-a": SigningKey.generate(), "node-b": SigningKey.generate()}


def directory_data(keys: dict[str, SigningKey], version: int = 3) -> dict[str, Any]:
    return {
        "version": version, "issued_at": format_time(NOW),
        "nodes": [{"node": node, "key_id": key.key_id, "public": encode_base64(key.public_bytes),
                   "valid_from": format_time(NOW - dt.timedelta(days=1)),
                   "valid_until": format_time(NOW + dt.timedelta(days=365))}
                  for node, key in sorted(keys.items())],
        "tenants": [
            {"node": "node-a", "slug": "dadukou", "name": "中共重庆市大渡口区委员会",
             "region": "500104", "code_prefix": "500104"},
            {"node": "node-b", "slug": "tongguan", "name": "中共铜陵市铜官区委员会",
             "region": "340705", "code_prefix": "340705"},
        ],
    }


@pytest.fixture()
def at_node_a(keys, session):
    """This node is node-a; the hub's directory names node-a and node-b."""
    node_identity.configure("node-a", keys["node-a"])
    assert directory.apply_directory(session, directory_data(keys))
    yield
    node_identity.forget()


def _transfer(**changes: Any) -> Any:
    fields = dict(uid=UID, attempt=1, from_node="node-a", from_tenant="dadukou",
                  to_node="node-b", to_tenant="tongguan", to_org_code="340705001",
                  valid_until=NOW + dt.timedelta(days=90), identity_hash="3f" * 32)
    return types.SimpleNamespace(**{**fields, **changes})


def _outbox(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(sa.select(OutboxMessage).where(OutboxMessage.type == STEP)))


# --- the tenant directory -------------------------------------------------------------------


def test_the_directory_says_where_tenants_live(session, keys):
    assert directory.apply_directory(session, directory_data(keys))
    place = directory.locate_tenant(session, "tongguan")
    assert (place.node, place.name, place.region_code, place.code_prefix) == (
        "node-b", "中共铜陵市铜官区委员会", "340705", "340705")
    assert directory.locate_tenant(session, "nowhere") is None
    assert directory.locate_org(session, "340705001002").slug == "tongguan"
    assert directory.locate_org(session, "110101001") is None
    assert [p.slug for p in directory.known_tenants(session)] == ["tongguan", "dadukou"]
    assert [p.slug for p in directory.known_tenants(session, exclude_node="node-a")] == [
        "tongguan"]
    assert directory.node_key(session, "node-b").public == keys["node-b"].public_bytes


def test_a_newer_directory_replaces_it_and_an_older_one_changes_nothing(session, keys):
    directory.apply_directory(session, directory_data(keys, version=5))
    smaller = {**directory_data(keys, version=6), "tenants": directory_data(keys)["tenants"][:1],
               "nodes": directory_data(keys)["nodes"][:1]}
    assert directory.apply_directory(session, smaller)
    assert directory.locate_tenant(session, "tongguan") is None
    assert directory.node_key(session, "node-b") is None
    assert not directory.apply_directory(session, directory_data(keys, version=4))
    assert directory.locate_tenant(session, "tongguan") is None
    assert directory.held_version(session).version == 6


def test_a_slug_on_two_nodes_is_ambiguous_without_its_node(session, keys):
    data = directory_data(keys)
    data["tenants"].append({"node": "node-b", "slug": "dadukou", "name": "同名",
                            "region": "340705", "code_prefix": "340706"})
    directory.apply_directory(session, data)
    assert directory.locate_tenant(session, "dadukou") is None
    assert directory.locate_tenant(session, "dadukou", node="node-b").code_prefix == "340706"


def test_remote_lists_only_other_nodes(session, at_node_a):
    assert [p.slug for p in remote.known_tenants(session)] == ["tongguan"]
    assert remote.locate_tenant(session, "tongguan").node == "node-b"
    assert remote.locate_tenant(session, "dadukou") is None  # ours: the carrier knows it


# --- sending ----------------------------------------------------------------------------------


def test_a_letter_is_sealed_for_the_destination_and_queued_to_the_hub(session, keys,
                                                                       at_node_a):
    body = {"attempt": 1, "serial": "500104-2026-000001", "dossier": DOSSIER}
    message_id = remote.send_step(session, _transfer(), "letter", body)
    [row] = _outbox(session)
    assert (row.message_id, row.destination, row.tenant) == (message_id, HUB, "dadukou")
    data = row.data
    assert {k: data[k] for k in ("uid", "step", "attempt", "from_node", "from_tenant",
                                 "to_node", "to_tenant", "to_org_code", "identity_hash")} == {
        "uid": UID, "step": "letter", "attempt": 1, "from_node": "node-a",
        "from_tenant": "dadukou", "to_node": "node-b", "to_tenant": "tongguan",
        "to_org_code": "340705001", "identity_hash": "3f" * 32}
    assert "王五" not in json.dumps(data, ensure_ascii=False)
    assert DOSSIER["national_id"] not in json.dumps(data)
    ring = directory.verification_ring(session)
    inner = verify_step(data["signed"], keyring=ring, me="node-b", now=utcnow())
    assert open_body(inner, keys["node-b"]) == body


def test_a_step_back_to_the_origin_goes_the_other_way(session, keys):
    node_identity.configure("node-b", keys["node-b"])
    try:
        directory.apply_directory(session, directory_data(keys))
        remote.send_step(session, _transfer(attempt=2), "claim",
                         {"attempt": 2, "claimed_at": format_time(NOW)})
        [row] = _outbox(session)
        assert row.tenant == "tongguan"
        assert (row.data["from_node"], row.data["to_node"], row.data["to_tenant"]) == (
            "node-b", "node-a", "dadukou")
        assert row.data["to_org_code"] is None and row.data["valid_until"] is None
        inner = verify_step(row.data["signed"], keyring=directory.verification_ring(session),
                            me="node-a", now=utcnow())
        assert open_body(inner, keys["node-a"])["attempt"] == 2
    finally:
        node_identity.forget()


def test_an_unknown_destination_node_is_a_clear_error(session, at_node_a):
    with pytest.raises(InvalidInput):
        remote.send_step(session, _transfer(to_node="node-z"), "letter", {"attempt": 1})
    assert _outbox(session) == []


# --- receiving --------------------------------------------------------------------------------


@pytest.fixture()
def applied(monkeypatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(transfer_services, "apply_step",
                        lambda session, **kwargs: calls.append(kwargs))
    return calls


def _routed(keys: dict[str, SigningKey], *, step: str = "letter", signer: str = "node-b",
            recipient: str = "node-a", body: dict[str, Any] | None = None,
            **changes: Any) -> Envelope:
    meta = {"uid": UID, "step": step, "attempt": 1, "from_tenant": "tongguan",
            "to_tenant": "dadukou"}
    inner = seal_step(signing_key=keys[signer], source="node-b", destination="node-a",
                      tenant="dadukou", recipient_key_id=keys[recipient].key_id,
                      recipient_public=keys[recipient].public_bytes, meta=meta,
                      body=body or {"attempt": 1, "dossier": DOSSIER})
    data = {**meta, "from_node": "node-b", "signed": inner, **changes}
    return Envelope.create(ROUTED, source=HUB, destination="node-a", data=data,
                           tenant="dadukou", sequence=1)


def test_a_routed_step_is_opened_and_applied(session, keys, at_node_a, applied):
    remote.apply_routed(session, _routed(keys))
    assert applied == [{"tenant_slug": "dadukou", "uid": UID, "step": "letter",
                        "body": {"attempt": 1, "dossier": DOSSIER}, "sender_node": "node-b"}]


@pytest.mark.parametrize("lie", ["from_node", "attempt", "signer", "recipient", "tenant"])
def test_a_routed_step_that_is_not_the_origins_is_refused(session, keys, at_node_a, applied,
                                                          lie):
    keys = {**keys, "intruder": SigningKey.generate()}
    envelope = {
        "from_node": lambda: _routed(keys, from_node="node-c"),
        "attempt": lambda: _routed(keys, attempt=2),
        "signer": lambda: _routed(keys, signer="intruder"),
        "recipient": lambda: _routed(keys, recipient="intruder"),
        "tenant": lambda: dataclasses.replace(_routed(keys), tenant="jiulongpo"),
    }[lie]()
    with pytest.raises(remote.RoutedStepRefused):
        remote.apply_routed(session, envelope)
    assert applied == []


def test_a_revoked_origin_is_refused_even_if_the_directory_still_lists_it(session, keys,
                                                                           at_node_a, applied):
    revoke(session, "node-b", None, NOW)
    with pytest.raises(remote.RoutedStepRefused, match="revoked"):
        remote.apply_routed(session, _routed(keys))
    assert applied == []


def test_an_undeliverable_letter_becomes_the_step_undeliverable(session, at_node_a, applied):
    data = {"uid": UID, "step": "letter", "attempt": 2, "from_tenant": "dadukou",
            "to_node": None, "to_tenant": "nowhere", "reason_code": "unknown_tenant",
            "detail": "no such tenant"}
    remote.apply_undeliverable(session, Envelope.create(
        UNDELIVERABLE, source=HUB, destination="node-a", data=data, tenant="dadukou"))
    assert applied == [{"tenant_slug": "dadukou", "uid": UID, "step": "undeliverable",
                        "body": {"attempt": 2, "reason_code": "unknown_tenant",
                                 "detail": "no such tenant"}, "sender_node": HUB}]
    # A refused step of the receiving side changes nothing there.
    remote.apply_undeliverable(session, Envelope.create(
        UNDELIVERABLE, source=HUB, destination="node-a",
        data={**data, "step": "claim", "reason_code": "node_revoked"}, tenant="dadukou"))
    assert len(applied) == 1


def test_the_bus_worker_applies_directory_and_routed_steps(app, session, tmp_path, keys,
                                                         applied):
    """Through the node's consumer: the handlers are registered, and the worker's party
    configures the node's identity for the steps it sends back."""
    hub = SigningKey.generate()
    remember_key(session, hub.public_key("hub", valid_from=NOW - dt.timedelta(days=1),
                                         valid_until=NOW + dt.timedelta(days=30)))
    session.flush()
    settings = dataclasses.replace(app.extensions["node"],
                                   signing_key_file=str(tmp_path / "node.key"))
    key = bus.create_signing_key(settings)
    keys = {**keys, "node-a": key}
    consumer = Consumer(bus.node_party(settings))
    try:
        def message(sequence: int, type_: str, data: dict[str, Any],
                    tenant: str | None = None) -> bytes:
            return seal(Envelope(id=new_id(), type=type_, source="hub",
                                 destination=settings.node_id, time=utcnow(), tenant=tenant,
                                 sequence=sequence, data=data), hub)

        me = settings.node_id
        data = directory_data(keys)
        data["nodes"][0]["node"] = data["tenants"][0]["node"] = me
        data["nodes"].sort(key=lambda n: n["node"])
        assert consumer.handle(message(1, DIRECTORY, data)) == Outcome.applied
        assert directory.locate_tenant(session, "tongguan").node == "node-b"
        meta = {"uid": UID, "step": "claim", "attempt": 1, "from_tenant": "tongguan",
                "to_tenant": "dadukou"}
        inner = seal_step(signing_key=keys["node-b"], source="node-b", destination=me,
                          tenant="dadukou", recipient_key_id=key.key_id,
                          recipient_public=key.public_bytes, meta=meta,
                          body={"attempt": 1, "claimed_at": format_time(NOW)})
        routed = {**meta, "from_node": "node-b", "signed": inner}
        assert consumer.handle(message(2, ROUTED, routed, "dadukou")) == Outcome.applied
        assert [c["step"] for c in applied] == ["claim"]
        # Tampered on the way (a flipped byte in the inner envelope): quarantined.
        obj = json.loads(inner)
        obj["data"]["attempt"] = 2
        bad = {**routed, "attempt": 2, "signed": encode_canonical(obj).decode()}
        consumer.handle(message(3, ROUTED, bad, "dadukou"))
        assert session.scalars(sa.select(QuarantinedMessage.reason)).all() == ["handler_failed"]
        assert len(applied) == 1
        assert node_identity.me() == (me, key)
    finally:
        node_identity.forget()
