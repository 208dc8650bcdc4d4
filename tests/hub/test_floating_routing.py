"""The hub routing floating-certificate steps between nodes by their metadata: forwarding the
origin's sealed step unchanged, refusing (undeliverable) an unknown or revoked destination,
refusing lies (a tenant not owned, a step not the source's own), keeping no record of the
certificate and no member data anywhere."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery import Consumer
from federation.delivery.models import OutboxMessage, QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import HUB, SigningKey, utcnow
from federation.messages.floating import ROUTED, SEALED, STEP, UNDELIVERABLE
from federation.messages.transfers import SEALED as TRANSFER_SEALED
from federation.sealed import open_body, seal_step, verify_step
from hub.nodes import services as nodes_services
from shared.db.session import transaction

UID = "019a4f3e-7c2b-7d10-8a11-2b3c4d5e6f71"
NAME, PHONE = "何秀英同志", "13900000002"
COPY = {"member_name": NAME, "member_phone": PHONE, "member_number": "A0000042"}


class Sender:
    """A node sending floating steps to the hub on its own stream."""

    def __init__(self, node_id: str, keys: dict[str, SigningKey], consumer: Consumer) -> None:
        self.node_id, self.keys, self.consumer = node_id, keys, consumer
        self.sequence = 0

    def step(self, step: str, *, from_tenant: str, to_node: str, to_tenant: str,
             from_side: str = "home", tenant: str | None = None,
             signer: SigningKey | None = None, meta: dict[str, Any] | None = None,
             inner_type: str = SEALED) -> None:
        signed_meta = meta or {"uid": UID, "step": step, "from_side": from_side,
                               "from_tenant": from_tenant, "to_tenant": to_tenant}
        recipient = self.keys.get(to_node) or SigningKey.generate()
        inner = seal_step(signing_key=signer or self.keys[self.node_id], source=self.node_id,
                          destination=to_node, tenant=to_tenant,
                          recipient_key_id=recipient.key_id,
                          recipient_public=recipient.public_bytes, meta=signed_meta,
                          body={"copy": COPY}, inner_type=inner_type)
        issued = step == "issued"
        data = {"uid": UID, "step": step, "from_side": from_side, "from_node": self.node_id,
                "from_tenant": from_tenant, "to_node": to_node, "to_tenant": to_tenant,
                "host_org_code": "340705001" if issued else None,
                "starts_on": "2026-11-01" if issued else None,
                "until": "2027-10-31" if issued else None, "signed": inner}
        self.sequence += 1
        self.consumer.handle(seal(Envelope(
            id=new_id(), type=STEP, source=self.node_id, destination=HUB, time=utcnow(),
            tenant=tenant or from_tenant, sequence=self.sequence, data=data),
            self.keys[self.node_id]))


@pytest.fixture()
def senders(network, consumer) -> dict[str, Sender]:
    """node-a: dadukou (500104), jiulongpo (500107); node-b: tongguan (340705)."""
    network.enroll("node-a", [("dadukou", "500104"), ("jiulongpo", "500107")])
    network.enroll("node-b", [("tongguan", "340705")])
    return {n: Sender(n, network.node_keys, consumer) for n in ("node-a", "node-b")}


def _outbox(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.type.in_((ROUTED, UNDELIVERABLE))).order_by(OutboxMessage.id)))


def _issue(senders, **kwargs: Any) -> None:
    senders["node-a"].step("issued", from_tenant="dadukou", to_node="node-b",
                           to_tenant="tongguan", **kwargs)


def test_a_step_is_forwarded_unchanged_and_only_the_destination_opens_it(senders, network,
                                                                       session):
    _issue(senders)
    [routed] = _outbox(session)
    assert (routed.type, routed.destination, routed.tenant) == (ROUTED, "node-b", "tongguan")
    assert {k: routed.data[k] for k in ("uid", "step", "from_side", "from_node",
                                        "from_tenant", "to_tenant")} == {
        "uid": UID, "step": "issued", "from_side": "home", "from_node": "node-a",
        "from_tenant": "dadukou", "to_tenant": "tongguan"}
    ring = senders["node-a"].consumer.party.keys.reload()
    inner = verify_step(routed.data["signed"], keyring=ring, me="node-b", now=utcnow(),
                        inner_type=SEALED)
    assert open_body(inner, network.node_keys["node-b"]) == {"copy": COPY}
    assert session.scalars(sa.select(QuarantinedMessage)).all() == []


def test_the_host_answers_the_other_way(senders, session):
    _issue(senders)
    senders["node-b"].step("accepted", from_side="host", from_tenant="tongguan",
                           to_node="node-a", to_tenant="dadukou")
    routed = _outbox(session)
    assert [(r.data["step"], r.destination, r.tenant) for r in routed] == [
        ("issued", "node-b", "tongguan"), ("accepted", "node-a", "dadukou")]


@pytest.mark.parametrize(("to_node", "to_tenant"), [("node-b", "nowhere"),
                                                    ("node-c", "tongguan")])
def test_an_unknown_destination_tenant_is_undeliverable(senders, session, to_node, to_tenant):
    senders["node-a"].step("issued", from_tenant="dadukou", to_node=to_node,
                           to_tenant=to_tenant)
    [refusal] = _outbox(session)
    assert (refusal.type, refusal.destination, refusal.tenant) == (
        UNDELIVERABLE, "node-a", "dadukou")
    assert (refusal.data["reason_code"], refusal.data["to_node"]) == ("unknown_tenant", None)
    assert (refusal.data["step"], refusal.data["from_side"]) == ("issued", "home")


def test_a_revoked_destination_node_is_undeliverable(senders, session):
    with transaction(senders["node-a"].consumer.party.db):
        nodes_services.revoke_node("node-b", by="test")
    _issue(senders)
    [refusal] = _outbox(session)
    assert (refusal.type, refusal.data["reason_code"], refusal.data["to_node"]) == (
        UNDELIVERABLE, "node_revoked", "node-b")


def test_a_node_cannot_send_for_a_tenant_it_does_not_host(senders, session):
    senders["node-a"].step("issued", from_tenant="tongguan", to_node="node-b",
                           to_tenant="dadukou")
    assert session.scalars(sa.select(QuarantinedMessage.reason)).all() == ["tenant_not_owned"]
    assert _outbox(session) == []


def test_the_metadata_must_name_the_envelopes_tenant(senders, session):
    """Allowed to speak for jiulongpo, node-a cannot slip in a step of dadukou's."""
    _issue(senders, tenant="jiulongpo")
    assert session.scalars(sa.select(QuarantinedMessage.reason)).all() == ["handler_failed"]
    assert _outbox(session) == []


@pytest.mark.parametrize("lie", [
    {"signer": SigningKey.generate()},  # not the source's key
    {"meta": {"uid": UID, "step": "ended", "from_side": "home", "from_tenant": "dadukou",
              "to_tenant": "tongguan"}},  # signed as another step
    {"inner_type": TRANSFER_SEALED,  # a transfer's step is not a floating one
     "meta": {"uid": UID, "step": "letter", "attempt": 1, "from_tenant": "dadukou",
              "to_tenant": "tongguan"}},
], ids=["signer", "meta", "type"])
def test_a_step_that_is_not_the_sources_own_is_refused(senders, session, lie):
    _issue(senders, **lie)
    [entry] = session.scalars(sa.select(QuarantinedMessage)).all()
    assert entry.reason == "handler_failed"
    assert _outbox(session) == []


def test_the_hub_keeps_no_member_data_and_no_certificate_record(senders, session):
    """Every text (and JSON, and binary) column of every hub table, the bus's own tables
    (outbox with the routed steps, inbox, quarantine) included."""
    tables_before = set(sa.inspect(session.get_bind()).get_table_names())
    _issue(senders)
    senders["node-b"].step("participation", from_side="host", from_tenant="tongguan",
                           to_node="node-a", to_tenant="dadukou")
    senders["node-a"].step("issued", from_tenant="dadukou", to_node="node-b",
                           to_tenant="nowhere")  # refused: the answer is stored too
    _issue(senders, signer=SigningKey.generate())  # quarantined
    session.flush()
    bind = session.get_bind()
    tables = sa.inspect(bind).get_table_names()
    assert not [t for t in tables if "floating" in t] and set(tables) == tables_before
    dump: list[str] = []
    for table in tables:
        for row in session.execute(sa.text(f'SELECT * FROM "{table}"')):
            for value in row:
                if isinstance(value, bytes | memoryview):
                    dump.append(bytes(value).decode("utf-8", "replace"))
                elif value is not None:
                    dump.append(str(value))
    everything = "\n".join(dump)
    assert "tongguan" in everything and UID in everything  # the dump holds the routing data
    for secret in (NAME, PHONE, COPY["member_number"]):
        assert secret not in everything
