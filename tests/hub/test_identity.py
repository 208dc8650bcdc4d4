"""The identity index on the hub: entries (latest as_of wins), duplicate detection across
tenants and nodes, notices to both nodes (once per change), resolution, resync, the transfer
check, the refusal of a tenant not owned, and the console page and API."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery import Consumer, Outcome
from federation.delivery.models import OutboxMessage, QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import HUB, format_time, utcnow
from federation.messages import validate_data
from federation.messages.identity import DUPLICATE, INDEXED, RESOLVED
from hub.accounts.models import HubRole
from hub.db import db
from hub.identity import services
from hub.identity.models import IdentityEntry
from hub.nodes.models import NodeTenant
from shared.db.session import transaction
from tests.hub.helpers import auth, bearer_token, hub_account, sign_in

P = "3f" * 32  # one person
Q = "a0" * 32  # another
T0 = dt.datetime(2025, 3, 1, 8, tzinfo=dt.UTC)


def at(minutes: int) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes)


class Node:
    """A node sending sealed index entries to the hub, with its own stream sequence."""

    def __init__(self, key: Any, consumer: Consumer, node_id: str) -> None:
        self.key, self.node_id, self.consumer, self.sequence = key, node_id, consumer, 0

    def index(self, tenant: str, *entries: tuple[str, bool, dt.datetime],
              sync: dict[str, Any] | None = None) -> Outcome:
        self.sequence += 1
        data = {"entries": [{"hash": h, "active": a, "as_of": format_time(t)}
                            for h, a, t in entries], "sync": sync}
        assert validate_data(INDEXED, data) == data
        body = seal(Envelope(id=new_id(), type=INDEXED, source=self.node_id, destination=HUB,
                             time=utcnow(), tenant=tenant, sequence=self.sequence, data=data),
                    self.key)
        return self.consumer.handle(body)


@pytest.fixture()
def nodes(network, consumer) -> dict[str, Node]:
    """node-a: dadukou (500104), jiulongpo (500107); node-b: tongguan (340705)."""
    network.enroll("node-a", [("dadukou", "500104"), ("jiulongpo", "500107")])
    network.enroll("node-b", [("tongguan", "340705")])
    return {n: Node(network.node_keys[n], consumer, n) for n in ("node-a", "node-b")}


def _notices(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(sa.select(OutboxMessage).where(
        OutboxMessage.type.in_([DUPLICATE, RESOLVED])).order_by(OutboxMessage.id)))


def _tenant(session, slug: str) -> NodeTenant:
    return session.scalars(sa.select(NodeTenant).where(NodeTenant.slug == slug)).one()


def test_a_person_active_on_two_nodes_is_flagged_and_both_are_told(nodes, session):
    a, b = nodes["node-a"], nodes["node-b"]
    assert a.index("dadukou", (P, True, at(0)), (Q, True, at(0))) == Outcome.applied
    assert _notices(session) == []  # one tenant each: nothing to tell
    assert services.list_duplicates() == []
    assert b.index("tongguan", (P, True, at(1))) == Outcome.applied
    out = _notices(session)
    assert [(m.destination, m.type, m.sequenced, m.tenant) for m in out] == [
        ("node-a", DUPLICATE, True, None), ("node-b", DUPLICATE, True, None)]
    for m in out:
        assert validate_data(DUPLICATE, m.data) == m.data
    assert out[0].data["flags"] == [{"tenant": "dadukou", "elsewhere": [
        {"node": "node-b", "tenant": "tongguan", "region": "340705"}]}]
    assert out[1].data["flags"] == [{"tenant": "tongguan", "elsewhere": [
        {"node": "node-a", "tenant": "dadukou", "region": "500104"}]}]
    [dup] = services.list_duplicates()
    assert dup.hash == P and dup.since is not None
    assert [(p.node_id, p.tenant) for p in dup.places] == [("node-a", "dadukou"),
                                                           ("node-b", "tongguan")]
    assert services.count_duplicates() == 1


def test_repeats_send_nothing_more_and_resolution_tells_both(nodes, session):
    a, b = nodes["node-a"], nodes["node-b"]
    a.index("dadukou", (P, True, at(0)))
    b.index("tongguan", (P, True, at(1)))
    assert len(_notices(session)) == 2
    # A duplicate on the bus, or the same state reported again: no new notice.
    b.index("tongguan", (P, True, at(1)))
    a.index("dadukou", (P, True, at(2)))
    assert len(_notices(session)) == 2
    # Transferred out of tongguan: both are told it is resolved.
    b.index("tongguan", (P, False, at(3)))
    out = _notices(session)[2:]
    assert [(m.destination, m.type) for m in out] == [("node-a", RESOLVED),
                                                      ("node-b", RESOLVED)]
    assert out[0].data["tenants"] == ["dadukou"] and out[1].data["tenants"] == ["tongguan"]
    for m in out:
        assert validate_data(RESOLVED, m.data) == m.data
    assert services.list_duplicates() == []
    b.index("tongguan", (P, False, at(4)))
    assert len(_notices(session)) == 4
    # Active again: a new duplicate, notices later than the resolution (per hash and tenant).
    b.index("tongguan", (P, True, at(5)))
    again = _notices(session)[4:]
    assert [m.type for m in again] == [DUPLICATE, DUPLICATE]
    assert again[0].data["as_of"] > out[0].data["as_of"]


def test_two_tenants_of_one_node_get_one_message(nodes, session):
    a = nodes["node-a"]
    a.index("dadukou", (P, True, at(0)))
    a.index("jiulongpo", (P, True, at(1)))
    [message] = _notices(session)
    assert message.destination == "node-a"
    assert [f["tenant"] for f in message.data["flags"]] == ["dadukou", "jiulongpo"]
    assert message.data["flags"][0]["elsewhere"] == [
        {"node": "node-a", "tenant": "jiulongpo", "region": "500107"}]


def test_a_third_place_updates_every_notice(nodes, session):
    a, b = nodes["node-a"], nodes["node-b"]
    a.index("dadukou", (P, True, at(0)))
    b.index("tongguan", (P, True, at(1)))
    a.index("jiulongpo", (P, True, at(2)))
    later = _notices(session)[2:]
    assert [m.destination for m in later] == ["node-a", "node-b"]
    assert len(later[0].data["flags"]) == 2  # dadukou's list changed, jiulongpo is new
    assert len(later[1].data["flags"][0]["elsewhere"]) == 2


def test_reordered_entries_the_latest_as_of_wins(nodes, session):
    a = nodes["node-a"]
    a.index("dadukou", (P, False, at(10)))
    a.index("dadukou", (P, True, at(5)))  # older, arriving late: ignored
    row = session.scalars(sa.select(IdentityEntry).where(IdentityEntry.hash == P)).one()
    assert (row.active, row.as_of) == (False, at(10))
    # Within one message, the latest entry of a hash wins too.
    a.index("dadukou", (P, True, at(12)), (P, False, at(11)))
    session.expire_all()
    row = session.scalars(sa.select(IdentityEntry).where(IdentityEntry.hash == P)).one()
    assert (row.active, row.as_of) == (True, at(12))


def test_is_active_elsewhere_answers_the_transfer_check(nodes, session):
    a, b = nodes["node-a"], nodes["node-b"]
    a.index("dadukou", (P, True, at(0)), (Q, False, at(0)))
    dadukou, tongguan = _tenant(session, "dadukou"), _tenant(session, "tongguan")
    # Transferring from dadukou: active nowhere else, the transfer may complete.
    assert services.is_active_elsewhere(P, dadukou) is False
    assert services.is_active_elsewhere(P, tongguan) is True
    assert services.is_active_elsewhere(P, dadukou.id) is False
    assert services.is_active_elsewhere(Q, tongguan) is False  # inactive everywhere
    assert services.is_active_elsewhere("00" * 32, tongguan) is False  # unknown
    # Already registered in tongguan (say, by hand): completing a transfer from dadukou into
    # tongguan must be refused.
    b.index("tongguan", (P, True, at(1)))
    assert services.is_active_elsewhere(P, dadukou) is True
    a.index("dadukou", (P, False, at(2)))  # transferred out of dadukou
    assert services.is_active_elsewhere(P, tongguan) is False


def test_a_full_resync_retires_what_it_no_longer_names(nodes, session):
    a, b = nodes["node-a"], nodes["node-b"]
    a.index("dadukou", (P, True, at(0)), (Q, True, at(0)))
    b.index("tongguan", (P, True, at(1)))
    assert len(_notices(session)) == 2
    taken = at(10)
    # Two chunks: Q only (P was deleted on the node, no message got through).
    a.index("dadukou", sync={"taken_at": format_time(taken), "chunk": 1, "chunks": 2})
    assert services.is_active_elsewhere(P, _tenant(session, "tongguan")) is True
    a.index("dadukou", (Q, True, taken),
            sync={"taken_at": format_time(taken), "chunk": 2, "chunks": 2})
    assert services.is_active_elsewhere(P, _tenant(session, "tongguan")) is False
    assert services.is_active_elsewhere(Q, _tenant(session, "tongguan")) is True
    assert [m.type for m in _notices(session)[2:]] == [RESOLVED, RESOLVED]
    # Repeating the resync changes nothing and sends nothing.
    a.index("dadukou", (Q, True, at(11)),
            sync={"taken_at": format_time(at(11)), "chunk": 1, "chunks": 1})
    assert len(_notices(session)) == 4
    assert services.list_duplicates() == []


def test_a_node_cannot_index_for_a_tenant_it_does_not_host(nodes, session):
    b = nodes["node-b"]
    assert b.index("dadukou", (P, True, at(0))) == Outcome.quarantined
    assert session.scalars(sa.select(QuarantinedMessage.reason)).all() == ["tenant_not_owned"]
    assert session.scalar(sa.select(sa.func.count()).select_from(IdentityEntry)) == 0
    assert _notices(session) == []


def test_the_hub_holds_hashes_only(nodes, session):
    nodes["node-a"].index("dadukou", (P, True, at(0)))
    columns = set(IdentityEntry.__table__.columns.keys())
    assert columns == {"id", "hash", "node_tenant_id", "active", "as_of", "received_at"}


def _duplicate(nodes) -> None:
    nodes["node-a"].index("dadukou", (P, True, at(0)))
    nodes["node-b"].index("tongguan", (P, True, at(1)))


def test_the_api_lists_duplicates_for_auditors(app, client, nodes, session):
    _duplicate(nodes)
    for role, status in ((HubRole.auditor, 200), (HubRole.administrator, 200),
                         (HubRole.region_viewer, 403)):
        response = client.get("/api/identity/duplicates", headers=auth(bearer_token(app, role)))
        assert response.status_code == status, role
    body = client.get("/api/identity/duplicates?limit=1",
                      headers=auth(bearer_token(app, HubRole.auditor))).json
    [item] = body["items"]
    assert item["hash"] == P
    assert [(p["node_id"], p["tenant"], p["region"]) for p in item["places"]] == [
        ("node-a", "dadukou", "500104"), ("node-b", "tongguan", "340705")]
    assert body["next_cursor"]
    bad = client.get("/api/identity/duplicates?cursor=nonsense",
                     headers=auth(bearer_token(app, HubRole.auditor)))
    assert bad.status_code == 422 and bad.headers["Content-Type"] == "application/problem+json"


def test_the_console_page_lists_duplicates(app, client, nodes, session):
    _duplicate(nodes)
    account = hub_account(app, HubRole.auditor)
    assert sign_in(client, account.username).status_code == 303
    page = client.get("/console/identity/duplicates")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert P[:16] in text and "node-b/tongguan" in text and "340705" in text


def test_notify_with_nothing_changed_sends_nothing(nodes, session):
    _duplicate(nodes)
    before = len(_notices(session))
    with transaction(db):
        assert services.notify([P, Q]) == []
    assert len(_notices(session)) == before


def test_many_hashes_are_notified_in_batches(nodes, session, monkeypatch):
    monkeypatch.setattr(services, "NOTIFY_BATCH", 2)
    people = [f"{n:064x}" for n in range(1, 6)]
    nodes["node-a"].index("dadukou", *((h, True, at(0)) for h in people))
    nodes["node-b"].index("tongguan", *((h, True, at(1)) for h in people[1:]),
                          sync={"taken_at": format_time(at(1)), "chunk": 1, "chunks": 1})
    out = _notices(session)
    assert len(out) == 8  # four shared people, one message per node each
    assert sorted({m.data["hash"] for m in out}) == people[1:]
    assert services.count_duplicates() == 4
    assert [d.hash for d in services.list_duplicates(after=people[2], limit=10)] == people[3:]
