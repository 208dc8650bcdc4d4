"""The saga across two nodes, in one process: the real services on both sides, every step
sealed by `node.transfers.remote.send_step` as the sending node, carried as the hub forwards it
(`partynet.transfer.routed.v1`, the origin's inner envelope unchanged) and opened by
`remote.apply_routed` as the receiving node, later, in its own unit of work, possibly twice.

The two "nodes" share this test's database (two tenants): what makes them two is the node each
side believes it is (`carrier.this_node`), where the directory says the other tenant lives, and
the key each one signs, seals and opens with. The hub's own routing is tested in
tests/hub/transfers/; the real processes in tests/test_transfers_end_to_end.py."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery.models import OutboxMessage
from federation.envelope import Envelope
from federation.keys import HUB, SigningKey, encode_base64, format_time, utcnow
from federation.messages.transfers import OUT_STEPS, ROUTED, STEP
from node.db import db
from node.directory import identity as node_identity
from node.directory import services as directory
from node.members.models import Member, Status
from node.tenants.scoping import all_tenants, tenant_context
from node.transfers import carrier, remote, services
from node.transfers.models import State

from .conftest import Clock, Pair, check_invariant, in_row, out_row

NODES = ("node-a", "node-b")


class TwoNodes:
    """Who we are at the moment, the keys of both nodes, and the hub's queue of routed steps."""

    def __init__(self, pair: Pair) -> None:
        self.pair = pair
        self.keys = {node: SigningKey.generate() for node in NODES}
        self.current = "node-a"
        self.routed: list[Envelope] = []
        self.sent: list[dict[str, Any]] = []

    def be(self, node: str) -> None:
        self.current = node
        node_identity.configure(node, self.keys[node])

    def locate(self, session: Any, slug: str) -> carrier.TenantPlace | None:
        place = directory.locate_tenant(session, slug)
        if place is None:
            return None
        return carrier.TenantPlace(place.node, place.slug, place.name, place.region_code,
                                   place.code_prefix)

    def carry(self, session: Any, transfer: Any, step: str, body: dict[str, Any]) -> None:
        """The carrier for a remote tenant: seal and queue to the hub, as the sending node."""
        sender = transfer.from_node if step in OUT_STEPS else transfer.to_node
        assert sender == self.current, (step, sender, self.current)
        message_id = remote.send_step(session, transfer, step, body)
        row = session.scalar(sa.select(OutboxMessage).where(
            OutboxMessage.message_id == message_id))
        assert row.type == STEP and row.destination == HUB
        data = row.data
        self.sent.append(data)
        # What the hub forwards (hub/transfers/services.py): the inner envelope unchanged.
        self.routed.append(Envelope.create(
            ROUTED, source=HUB, destination=data["to_node"], tenant=data["to_tenant"],
            data={k: data[k] for k in ("uid", "step", "attempt", "from_node", "from_tenant",
                                       "to_tenant", "signed")}))

    def deliver(self, *, twice: bool = False) -> list[str]:
        """The bus delivering what the hub routed, each in the receiver's own transaction."""
        delivered = []
        queued, self.routed = self.routed, []
        for envelope in queued:
            for _ in range(2 if twice else 1):
                self.be(envelope.destination)
                try:
                    remote.apply_routed(db.session(), envelope)
                    db.session.commit()
                except Exception:
                    db.session.rollback()
                    raise
            delivered.append(envelope.data["step"])
        return delivered


@pytest.fixture()
def nodes(pair: Pair, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoNodes]:
    net = TwoNodes(pair)
    now = utcnow()
    a, b = pair.a.tenant, pair.b.tenant
    directory.apply_directory(db.session(), {
        "version": 1, "issued_at": format_time(now),
        "nodes": [{"node": node, "key_id": key.key_id, "public": encode_base64(key.public_bytes),
                   "valid_from": format_time(now - dt.timedelta(days=1)),
                   "valid_until": format_time(now + dt.timedelta(days=365))}
                  for node, key in net.keys.items()],
        "tenants": [{"node": node, "slug": t.slug, "name": t.name, "region": t.region_code,
                     "code_prefix": t.code_prefix} for node, t in (("node-a", a), ("node-b", b))],
    })
    db.session.commit()
    monkeypatch.setattr(carrier, "this_node", lambda: net.current)
    # On a real node-b the origin's member rows are not in its database: leave them out of the
    # destination's "already on our rolls" check (the hub checks across nodes).
    elsewhere = services._active_elsewhere

    def active_elsewhere(digest: str, t: Any) -> bool:
        with all_tenants():
            others = db.session.scalar(sa.select(sa.func.count()).select_from(Member).where(
                Member.national_id_hash == digest, Member.tenant_id != a.id,
                Member.status == Status.active))
        return bool(others) and elsewhere(digest, t)

    monkeypatch.setattr(services, "_active_elsewhere", active_elsewhere)
    monkeypatch.setattr(carrier, "locate", net.locate)
    carrier.use(net.carry)
    net.be("node-a")
    yield net
    carrier.use(None)
    node_identity.forget()


def _issue(pair: Pair, nodes: TwoNodes) -> Any:
    a, b = pair.a, pair.b
    nodes.be("node-a")
    t = a(services.apply_transfer, a.as_member(pair.member), member_id=None,
          to_tenant=b.tenant.slug, to_org_code=b.committee.code, reason="工作调动")
    a(services.approve, a.org_admin(a.branch), t.id)
    return a(services.approve, a.org_admin(a.committee), t.id)


def test_a_member_moves_between_two_nodes_through_sealed_steps(pair: Pair, nodes: TwoNodes,
                                                              clock: Clock):
    a, b = pair.a, pair.b
    digest = pair.member.national_id_hash
    t = _issue(pair, nodes)
    assert t.state == State.issued and t.to_node == "node-b"
    # The letter left as a sealed step to the hub: the metadata in clear, no member data.
    [letter] = nodes.sent
    assert (letter["step"], letter["from_node"], letter["to_node"]) == (
        "letter", "node-a", "node-b")
    assert letter["identity_hash"] == digest and letter["to_org_code"] == b.committee.code
    text = json.dumps(letter, ensure_ascii=False)
    assert "张三" not in text and pair.national_id not in text and "13800000000" not in text
    assert in_row(t.uid, b.tenant.id) is None  # nothing arrives before the bus delivers
    check_invariant(t.uid, a.tenant.id, digest)

    # Each routed step is delivered twice (a sender's resend): a no-op, or the same answer again.
    assert nodes.deliver(twice=True) == ["letter"]
    incoming = in_row(t.uid, b.tenant.id)
    assert incoming.state == State.delivered and incoming.from_node == "node-a"
    assert incoming.serial == t.serial

    nodes.be("node-b")
    b(services.approve, b.org_admin(b.committee), incoming.id, branch_id=b.branch.id)
    incoming = b(services.approve, b.org_admin(b.branch), incoming.id)
    assert incoming.state == State.claimed
    check_invariant(t.uid, a.tenant.id, digest)  # still active at the origin only

    assert set(nodes.deliver(twice=True)) == {"claim"}  # the origin releases
    assert out_row(t.uid, a.tenant.id).state == State.received
    check_invariant(t.uid, a.tenant.id, digest)  # active nowhere is allowed only in transit
    assert set(nodes.deliver(twice=True)) == {"released"}  # the destination activates, receipts
    assert in_row(t.uid, b.tenant.id).state == State.received
    check_invariant(t.uid, a.tenant.id, digest)
    assert set(nodes.deliver(twice=True)) == {"receipt"}
    assert out_row(t.uid, a.tenant.id).state == State.closed
    check_invariant(t.uid, a.tenant.id, digest)
    assert list(dict.fromkeys(s["step"] for s in nodes.sent)) == [
        "letter", "claim", "released", "receipt"]
    assert nodes.deliver() in ([], ["receipt"])  # whatever is left changes nothing
    assert out_row(t.uid, a.tenant.id).state == State.closed

    with all_tenants():
        moved = db.session.scalar(sa.select(Member).where(Member.tenant_id == b.tenant.id,
                                                          Member.national_id_hash == digest))
        origin = db.session.get(Member, pair.member.id)
    assert origin.status == Status.transferred_out
    assert moved.status == Status.active and moved.name == "张三"
    assert moved.phone == "13800000000" and moved.org_id == b.branch.id


def test_a_refusal_by_the_hub_comes_back_as_undeliverable(pair: Pair, nodes: TwoNodes,
                                                         clock: Clock):
    a = pair.a
    t = _issue(pair, nodes)
    nodes.routed.clear()  # the hub did not route it: the destination is unknown there
    remote.apply_undeliverable(db.session(), Envelope.create(
        "partynet.transfer.undeliverable.v1", source=HUB, destination="node-a",
        tenant=a.tenant.slug,
        data={"uid": t.uid, "step": "letter", "attempt": 1, "from_tenant": a.tenant.slug,
              "to_node": None, "to_tenant": pair.b.tenant.slug,
              "reason_code": "unknown_tenant", "detail": "not registered at the hub"}))
    db.session.commit()
    out = out_row(t.uid, a.tenant.id)
    assert out.state == State.rejected and out.reason_code == "unknown_tenant"
    check_invariant(t.uid, a.tenant.id, pair.member.national_id_hash)
    with tenant_context(a.tenant.id):
        assert db.session.get(Member, pair.member.id).status == Status.active
