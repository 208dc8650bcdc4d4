"""Floating certificates across two nodes, in one process: the real services on both sides,
every step sealed by `node.floating.remote.send_step` as the sending node, carried as the hub
forwards it (`partynet.floating.routed.v1`, the origin's inner envelope unchanged) and opened
by `remote.apply_routed` as the receiving node, later, in its own unit of work, possibly
twice.

The two "nodes" share this test's database (two tenants): what makes them two is the node each
side believes it is, which tenants it finds at home (`services._tenant`), where the directory
says the other tenant lives, and the key each one signs, seals and opens with (as in
tests/node/transfers/test_routed_through_the_hub.py). The hub's routing is tested in
tests/hub/test_floating_routing.py."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery import Consumer, Outcome, Party
from federation.delivery.keystore import remember_key
from federation.delivery.models import OutboxMessage, QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import HUB, SigningKey, encode_base64, format_time, utcnow
from federation.messages import validate_data
from federation.messages.floating import ROUTED, STEP, UNDELIVERABLE
from node.audit.recording import acting_as
from node.bus import services as bus
from node.db import db
from node.directory import identity as node_identity
from node.directory import services as directory
from node.floating import remote, services
from node.floating.models import (
    EndReason,
    FloatingCertificate,
    FloatingParticipation,
    FloatingSide,
    FloatingStatus,
    ParticipationStatus,
)
from node.members.models import ActivityEntry, Member, Status
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from shared.errors import InvalidInput
from tests.node.floating.test_floating import admin, held_meeting

TODAY = services.local_today()
NODES = ("node-a", "node-b", "node-c")
NAME, PHONE, EMAIL = "何秀英", "13900000002", "he@example.org"
SIGNED = ("uid", "step", "from_side", "from_node", "from_tenant", "to_tenant", "signed")


@dataclasses.dataclass
class World2:
    home: Any
    host: Any
    home_branch: Any
    host_branch: Any
    member: Any


class TwoNodes:
    """Who we are at the moment, the keys of the nodes, and the hub's queue of routed steps."""

    def __init__(self, w: World2) -> None:
        self.w = w
        self.keys = {node: SigningKey.generate() for node in NODES}
        self.where = {w.home.slug: "node-a", w.host.slug: "node-b"}
        self.current = "node-a"
        self.routed: list[Envelope] = []
        self.sent: list[dict[str, Any]] = []

    def be(self, node: str) -> None:
        self.current = node
        node_identity.configure(node, self.keys[node])

    def local_tenant(self, slug: str) -> Tenant | None:
        """`services._tenant` as this node sees it: only the tenants it hosts."""
        if self.where.get(slug, self.current) != self.current:
            return None
        return db.session.scalar(sa.select(Tenant).where(Tenant.slug == slug))

    def capture(self, send_step: Any) -> Any:
        def carry(session: Any, **kwargs: Any) -> str:
            message_id = send_step(session, **kwargs)
            row = session.scalar(sa.select(OutboxMessage).where(
                OutboxMessage.message_id == message_id))
            assert row.type == STEP and row.destination == HUB
            validate_data(STEP, row.data)
            assert row.data["from_node"] == self.current
            self.sent.append(row.data)
            # What the hub forwards (hub/floating/services.py): the inner envelope unchanged.
            self.routed.append(Envelope.create(
                ROUTED, source=HUB, destination=row.data["to_node"],
                tenant=row.data["to_tenant"], data={k: row.data[k] for k in SIGNED}))
            return message_id
        return carry

    def deliver(self, *, twice: bool = False) -> list[str]:
        """The bus delivering what the hub routed, each in the receiver's own transaction."""
        delivered = []
        queued, self.routed = self.routed, []
        for envelope in queued:
            for _ in range(2 if twice else 1):
                self.receive(envelope)
            delivered.append(envelope.data["step"])
        return delivered

    def receive(self, envelope: Envelope) -> None:
        self.be(envelope.destination)
        try:
            remote.apply_routed(db.session(), envelope)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise


@pytest.fixture()
def w(world: Any) -> World2:
    home, host = world.tenant(), world.tenant()
    committee = world.org(home, world.root(home), "committee")
    branch = world.org(home, committee, "branch", name="钢花路社区第一党支部")
    host_branch = world.org(host, world.root(host), "branch", name="深圳南山科技园党支部")
    member = world.member(home, branch, name=NAME, phone=PHONE, email=EMAIL)
    return World2(home, host, branch, host_branch, member)


@pytest.fixture()
def nodes(w: World2, world: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[TwoNodes]:
    net = TwoNodes(w)
    now = utcnow()
    directory.apply_directory(db.session(), {
        "version": 1, "issued_at": format_time(now),
        "nodes": [{"node": node, "key_id": key.key_id, "public": encode_base64(key.public_bytes),
                   "valid_from": format_time(now - dt.timedelta(days=1)),
                   "valid_until": format_time(now + dt.timedelta(days=365))}
                  for node, key in net.keys.items()],
        "tenants": [{"node": node, "slug": t.slug, "name": t.name, "region": t.region_code,
                     "code_prefix": t.code_prefix}
                    for node, t in (("node-a", w.home), ("node-b", w.host))]
        + [{"node": "node-c", "slug": "faraway", "name": "中共远方县委组织部",
            "region": "650101", "code_prefix": "650101"}],
    })
    db.session.commit()
    monkeypatch.setattr(services, "_tenant", net.local_tenant)
    monkeypatch.setattr(remote, "send_step", net.capture(remote.send_step))
    net.be("node-a")
    yield net
    node_identity.forget()


def issue(session: Any, w: World2, **data: Any) -> FloatingCertificate:
    with tenant_context(w.home.id), acting_as("test"):
        cert = services.issue_certificate(
            admin(w.home, w.home_branch), session.get(Tenant, w.home.id), {
                "member_id": w.member.id, "starts_on": TODAY - dt.timedelta(days=20),
                "until": TODAY + dt.timedelta(days=200), "reason": "外出务工，地点不固定",
                "host_tenant": w.host.slug, "host_org_code": w.host_branch.code, **data})
        session.commit()
        return cert


def side(session: Any, tenant: Any, which: FloatingSide) -> FloatingCertificate | None:
    session.expire_all()
    with tenant_context(tenant.id):
        return session.scalar(sa.select(FloatingCertificate)
                              .where(FloatingCertificate.side == which))


def as_host(session: Any, w: World2, fn: Any, *args: Any, **kwargs: Any) -> Any:
    with tenant_context(w.host.id), acting_as("test"):
        cert = side(session, w.host, FloatingSide.host)
        with tenant_context(w.host.id):
            result = fn(admin(w.host, w.host_branch), cert, *args, **kwargs)
            session.commit()
        return result


def member_status(session: Any, w: World2) -> Status:
    session.expire_all()
    with tenant_context(w.home.id):
        return session.get(Member, w.member.id).status


def no_member_data(data: dict[str, Any], *secrets: str) -> None:
    """The hub sees metadata only: no name, number, contact or national ID, in any form."""
    text = json.dumps(data, ensure_ascii=False)
    for secret in (NAME, PHONE, EMAIL, "钢花路社区第一党支部", "主题党日", *secrets):
        assert secret not in text


def test_issue_accept_participation_end_across_nodes(session, w, nodes):
    cert = issue(session, w)
    with tenant_context(w.home.id):
        member = session.get(Member, w.member.id)
        secrets = (member.member_number, member.national_id_hash)
    assert (cert.peer_node, cert.host_org_name) == ("node-b", w.host_branch.code)
    [issued] = nodes.sent
    assert (issued["step"], issued["from_side"], issued["from_node"], issued["to_node"]) == (
        "issued", "home", "node-a", "node-b")
    assert issued["host_org_code"] == w.host_branch.code
    assert issued["until"] == (TODAY + dt.timedelta(days=200)).isoformat()
    no_member_data(issued, *secrets)
    assert side(session, w.host, FloatingSide.host) is None  # nothing before the bus delivers

    assert nodes.deliver(twice=True) == ["issued"]
    host = side(session, w.host, FloatingSide.host)
    assert (host.status, host.peer_node, host.member_name, host.member_phone) == (
        FloatingStatus.pending, "node-a", NAME, PHONE)
    assert host.member_id is None and host.home_org_name == "钢花路社区第一党支部"
    with tenant_context(w.host.id):
        assert session.scalar(sa.select(sa.func.count()).select_from(FloatingCertificate)) == 1

    nodes.be("node-b")
    as_host(session, w, services.accept_certificate)
    assert member_status(session, w) == Status.active  # not before the step arrives
    assert nodes.deliver(twice=True) == ["accepted"]
    home = side(session, w.home, FloatingSide.home)
    assert home.status == FloatingStatus.active and home.host_org_name == "深圳南山科技园党支部"
    assert member_status(session, w) == Status.floating

    meeting_id = held_meeting(session, w.host, w.host_branch)
    nodes.be("node-b")
    as_host(session, w, services.record_participation, meeting_id=meeting_id,
            status=ParticipationStatus.present)
    present = nodes.routed[-1]
    assert nodes.deliver(twice=True) == ["participation"]
    with tenant_context(w.home.id):
        [entry] = session.scalars(sa.select(ActivityEntry).where(
            ActivityEntry.member_id == w.member.id,
            ActivityEntry.kind == services.ACTIVITY_KIND)).all()
        assert entry.title == "深圳南山科技园党支部: 主题党日"
    # corrected to absent; the old "present" replayed afterwards changes nothing
    nodes.be("node-b")
    as_host(session, w, services.record_participation, meeting_id=meeting_id,
            status=ParticipationStatus.absent)
    assert nodes.deliver() == ["participation"]
    nodes.receive(present)
    with tenant_context(w.home.id):
        assert session.scalar(sa.select(FloatingParticipation.status).where(
            FloatingParticipation.certificate_id == home.id)) == ParticipationStatus.absent
        assert session.scalar(sa.select(sa.func.count()).select_from(ActivityEntry).where(
            ActivityEntry.kind == services.ACTIVITY_KIND)) == 0
    for data in nodes.sent:
        no_member_data(data, *secrets)

    nodes.be("node-b")
    as_host(session, w, services.end_certificate)
    assert nodes.deliver(twice=True) == ["ended"]
    home = side(session, w.home, FloatingSide.home)
    assert (home.status, home.end_reason) == (FloatingStatus.ended, EndReason.returned)
    assert member_status(session, w) == Status.active
    assert [s["step"] for s in nodes.sent] == [
        "issued", "accepted", "participation", "participation", "ended"]


def test_the_home_side_ends_it_and_the_host_learns(session, w, nodes):
    issue(session, w)
    nodes.deliver()
    nodes.be("node-a")
    with tenant_context(w.home.id), acting_as("test"):
        services.end_certificate(admin(w.home, w.home_branch),
                                 side(session, w.home, FloatingSide.home))
        session.commit()
    assert nodes.deliver(twice=True) == ["ended"]
    host = side(session, w.host, FloatingSide.host)
    assert (host.status, host.end_reason) == (FloatingStatus.ended, EndReason.cancelled)


def test_a_step_for_a_certificate_that_does_not_exist_yet_is_ignored(session, w, nodes):
    cert = issue(session, w)
    nodes.routed.clear()  # the issued step is still on its way
    nodes.be("node-b")
    with tenant_context(w.host.id):
        remote.send_step(session, uid=cert.uid, step="accepted", from_side="host",
                         from_tenant=w.host.slug, to_node="node-a", to_tenant=w.home.slug,
                         body={"on": TODAY.isoformat()})
        session.commit()
    [accepted] = nodes.routed
    nodes.routed.clear()
    # the host side does not exist: an "ended" for it is ignored
    nodes.be("node-a")
    remote.send_step(session, uid=cert.uid, step="ended", from_side="home",
                     from_tenant=w.home.slug, to_node="node-b", to_tenant=w.host.slug,
                     body={"reason": "cancelled", "on": TODAY.isoformat()})
    session.commit()
    assert nodes.deliver() == ["ended"]
    assert side(session, w.host, FloatingSide.host) is None
    # and a step the home side did expect, applied twice, moves it once
    nodes.receive(accepted)
    nodes.receive(accepted)
    assert side(session, w.home, FloatingSide.home).status == FloatingStatus.active
    assert member_status(session, w) == Status.floating


def _tampered(envelope: Envelope, **changes: Any) -> Envelope:
    return Envelope.create(ROUTED, source=HUB, destination=envelope.destination,
                           tenant=envelope.tenant, data={**envelope.data, **changes})


def test_a_tampered_or_wrongly_signed_step_is_refused(session, w, nodes):
    issue(session, w)
    [routed] = nodes.routed
    nodes.routed.clear()
    inner = json.loads(routed.data["signed"])
    for bad in (
        _tampered(routed, step="ended", from_side="home"),  # the hub says another step
        _tampered(routed, from_node="node-c"),  # another origin
        _tampered(routed, signed=json.dumps({**inner, "data": {
            **inner["data"], "sealed": inner["data"]["sealed"][:-4] + "AAAA"}})),
    ):
        with pytest.raises(remote.RoutedStepRefused):
            nodes.receive(bad)
    # a step signed by a key the directory does not know
    stranger = SigningKey.generate()
    nodes.keys["node-a"], real = stranger, nodes.keys["node-a"]
    nodes.be("node-a")
    with tenant_context(w.home.id):
        remote.send_step(session, uid=routed.data["uid"], step="ended", from_side="home",
                         from_tenant=w.home.slug, to_node="node-b", to_tenant=w.host.slug,
                         body={"reason": "cancelled", "on": TODAY.isoformat()})
    session.rollback()
    nodes.keys["node-a"] = real
    [forged] = nodes.routed
    nodes.routed.clear()
    with pytest.raises(remote.RoutedStepRefused, match=r"signature|key"):
        nodes.receive(forged)
    assert side(session, w.host, FloatingSide.host) is None
    nodes.receive(routed)  # the genuine one still applies
    assert side(session, w.host, FloatingSide.host).status == FloatingStatus.pending


def test_a_refused_step_is_quarantined_by_the_consumer(app, session, w, nodes):
    """What a real node does with the refusal: the handler raises, the consumer quarantines
    the message as handler_failed (federation.delivery), and nothing is applied."""
    issue(session, w)
    [routed] = nodes.routed
    nodes.routed.clear()
    hub_key, now = SigningKey.generate(), utcnow()
    remember_key(session, hub_key.public_key(HUB, valid_from=now - dt.timedelta(days=1),
                                             valid_until=now + dt.timedelta(days=30)))
    session.commit()
    nodes.be("node-b")
    consumer = Consumer(Party(id="node-b", db=db, signing_key=nodes.keys["node-b"],
                              handlers=bus.HANDLERS, authorize=bus._only_the_hub))
    lie = {**routed.data, "step": "ended", "from_side": "home"}
    raw = seal(Envelope(id=new_id(), type=ROUTED, source=HUB, destination="node-b", time=now,
                        tenant=w.host.slug, sequence=None, data=lie), hub_key)
    consumer.handle(raw)  # consumed (the stream goes on), not applied
    assert session.scalars(sa.select(QuarantinedMessage.reason)).all() == ["handler_failed"]
    assert side(session, w.host, FloatingSide.host) is None
    genuine = seal(Envelope(id=new_id(), type=ROUTED, source=HUB, destination="node-b",
                            time=now, tenant=w.host.slug, sequence=None, data=routed.data),
                   hub_key)
    assert consumer.handle(genuine) == Outcome.applied
    assert len(session.scalars(sa.select(QuarantinedMessage)).all()) == 1
    assert side(session, w.host, FloatingSide.host).status == FloatingStatus.pending


def test_only_the_certificates_other_side_may_move_it(session, w, nodes):
    issue(session, w)
    nodes.deliver()
    host = side(session, w.host, FloatingSide.host)
    nodes.be("node-c")  # a third node, enrolled, signing with its own key
    remote.send_step(session, uid=host.uid, step="ended", from_side="home",
                     from_tenant="faraway", to_node="node-b", to_tenant=w.host.slug,
                     body={"reason": "cancelled", "on": TODAY.isoformat()})
    session.commit()
    with pytest.raises(remote.RoutedStepRefused, match="not shared"):
        nodes.deliver()
    assert side(session, w.host, FloatingSide.host).status == FloatingStatus.pending


def test_an_undeliverable_step_ends_the_home_side_with_the_reason(session, w, nodes):
    cert = issue(session, w)
    nodes.routed.clear()  # the hub did not route it: the host tenant is unknown there
    data = {"uid": cert.uid, "step": "issued", "from_side": "home", "from_tenant": w.home.slug,
            "to_node": None, "to_tenant": w.host.slug, "reason_code": "unknown_tenant",
            "detail": "no tenant on node-b in the registry"}
    validate_data(UNDELIVERABLE, data)
    for _ in range(2):  # a duplicate changes nothing more
        remote.apply_undeliverable(db.session(), Envelope.create(
            UNDELIVERABLE, source=HUB, destination="node-a", tenant=w.home.slug, data=data))
        db.session.commit()
    home = side(session, w.home, FloatingSide.home)
    assert (home.status, home.end_reason) == (FloatingStatus.ended, EndReason.undeliverable)
    assert "unknown_tenant" in home.end_detail
    assert member_status(session, w) == Status.active
    # the member may be given a new certificate at once
    issue(session, w, host_tenant=w.host.slug)


def test_a_code_the_host_does_not_hold_is_declined_by_the_host_node(session, w, nodes, world):
    group = world.org(w.host, w.host_branch, "group")
    issue(session, w, host_org_code=group.code)
    assert nodes.deliver() == ["issued"]
    assert side(session, w.host, FloatingSide.host) is None  # no row kept for it
    assert nodes.deliver() == ["declined"]
    home = side(session, w.home, FloatingSide.home)
    assert home.status == FloatingStatus.declined and "党支部" in home.decline_reason


def test_the_host_picker_offers_other_nodes_and_checks_what_it_can(session, w, nodes):
    picks = services.host_tenants()
    assert ("faraway", "node-c") in [(t.slug, t.node) for t in picks]
    assert picks[0].node is None  # this node's own first
    for data, field in (({"host_tenant": "nowhere"}, "host_tenant"),
                        ({"host_tenant": "faraway", "host_org_code": "110101001"},
                         "host_org_code"),
                        ({"host_tenant": "faraway", "host_org_code": "650101"},
                         "host_org_code")):
        with pytest.raises(InvalidInput) as caught:
            issue(session, w, **data)
        session.rollback()
        assert field in caught.value.errors
    assert nodes.sent == []
    cert = issue(session, w, host_tenant="faraway", host_org_code="650101002")
    assert (cert.peer_node, cert.host_tenant_name) == ("node-c", "中共远方县委组织部")
    assert nodes.sent[-1]["to_node"] == "node-c"


def test_ending_for_a_member_who_transfers_out_tells_every_host(session, w, nodes, world):
    cert = issue(session, w)
    nodes.deliver()
    nodes.be("node-b")
    as_host(session, w, services.accept_certificate)
    nodes.deliver()
    assert member_status(session, w) == Status.floating
    nodes.be("node-a")
    with acting_as("test"):
        ended = services.end_for_member(w.member.id, session.get(Tenant, w.home.id), TODAY)
        session.commit()
    assert ended == 1
    home = side(session, w.home, FloatingSide.home)
    assert (home.status, home.end_reason, home.ended_on) == (
        FloatingStatus.ended, EndReason.transferred, TODAY)
    assert member_status(session, w) == Status.floating  # the transfer sets it, not us
    assert nodes.deliver() == ["ended"]
    host = side(session, w.host, FloatingSide.host)
    assert (host.status, host.end_reason) == (FloatingStatus.ended, EndReason.transferred)
    with acting_as("test"):  # again: nothing open, nothing sent
        assert services.end_for_member(w.member.id, session.get(Tenant, w.home.id)) == 0
        session.commit()
    assert nodes.routed == [] and cert.uid == host.uid


def test_ending_for_a_member_with_a_host_on_this_node(session, w, world, nodes):
    nodes.where.clear()  # both tenants on this node: steps applied at once, nothing sent
    sibling = world.org(w.home, world.root(w.home), "branch", name="另一支部")
    issue(session, w, host_tenant=w.home.slug, host_org_code=sibling.code)
    with acting_as("test"):
        assert services.end_for_member(w.member.id, session.get(Tenant, w.home.id)) == 1
        session.commit()
    session.expire_all()
    with tenant_context(w.home.id):
        certs = session.scalars(sa.select(FloatingCertificate)).all()
    assert {(c.side, c.status, c.end_reason) for c in certs} == {
        (FloatingSide.home, FloatingStatus.ended, EndReason.transferred),
        (FloatingSide.host, FloatingStatus.ended, EndReason.transferred)}
    assert nodes.sent == []


@pytest.mark.parametrize("reason", [EndReason.transferred, EndReason.undeliverable,
                                    EndReason.expired])
def test_the_node_only_reasons_are_not_given_by_hand(session, w, nodes, reason):
    issue(session, w)
    with tenant_context(w.home.id), acting_as("test"), pytest.raises(InvalidInput):
        services.end_certificate(admin(w.home, w.home_branch),
                                 side(session, w.home, FloatingSide.home), reason=reason)
    session.rollback()
