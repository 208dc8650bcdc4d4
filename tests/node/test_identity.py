"""The identity index on a node: keyed hashes (stable across nodes with the same key), entries
to the hub on registration, roll-status change, ID correction, deletion and import, a full
resync (chunked, repeatable), no personal data in any message, and the hub's flags stored by
the handlers (latest as_of wins; a tenant not hosted fails the message)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from federation.canonical import encode_canonical
from federation.delivery import Consumer, Outcome
from federation.delivery.keystore import remember_key
from federation.delivery.models import OutboxMessage, QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import SigningKey, format_time, utcnow
from federation.messages import validate_data
from federation.messages.identity import DUPLICATE, INDEXED, RESOLVED
from node.bus import services as bus
from node.db import db
from node.identity import services
from node.identity.cli import sync_all
from node.identity.models import IdentityFlag
from node.members import services as members
from node.members.identity import identity
from node.members.models import Member, Status
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from shared.db.session import transaction
from shared.errors import NotFound
from shared.identity import IdentityHasher
from tests.node.conftest import make_national_id

T0 = dt.datetime(2025, 3, 1, 8, tzinfo=dt.UTC)


def _indexed(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(sa.select(OutboxMessage).where(OutboxMessage.type == INDEXED)
                                .order_by(OutboxMessage.id)))


def _entries(message: OutboxMessage) -> list[tuple[str, bool]]:
    return [(e["hash"], e["active"]) for e in message.data["entries"]]


@pytest.fixture()
def branch(world) -> tuple[Any, Any]:
    tenant = world.tenant(slug="dadukou", prefix="500104")
    return tenant, world.org(tenant, world.root(tenant), "branch", name="第一党支部")


def test_the_hash_is_keyed_and_stable_across_nodes_with_the_same_key():
    nid = make_national_id(7)
    node_a, node_b = IdentityHasher(b"network-wide-key-0001"), IdentityHasher(
        b"network-wide-key-0001")
    assert node_a.hash(nid) == node_b.hash(nid)
    assert node_a.hash(nid) != IdentityHasher(b"another-network-key-2").hash(nid)
    assert node_a.hash(nid) != IdentityHasher(b"network-wide-key-0001").hash(make_national_id(8))
    legacy = nid[:6] + nid[8:17]  # the 15-digit form of the same person
    assert node_a.hash(legacy) == node_a.hash(nid)
    assert len(node_a.hash(nid)) == 64 and nid not in node_a.hash(nid)


def test_registration_sends_an_active_entry_in_the_same_transaction(branch, world, session):
    tenant, org = branch
    member = world.member(tenant, org, name="秘密姓名")
    [message] = _indexed(session)
    assert (message.destination, message.tenant, message.sequenced) == ("hub", "dadukou", True)
    assert _entries(message) == [(member.national_id_hash, True)]
    assert validate_data(INDEXED, message.data) == message.data
    assert message.data["sync"] is None


def test_a_refused_registration_sends_nothing(branch, world, session):
    tenant, org = branch
    nid = make_national_id(3)
    world.member(tenant, org, national_id=nid)
    with pytest.raises(Exception), tenant_context(tenant.id), transaction(db):  # noqa: B017
        members.create_member(world.root_principal(tenant), session.get(Tenant, tenant.id),
                              {"org_id": org.id, "name": "重复", "national_id": nid,
                               "stage": "full"})
    assert len(_indexed(session)) == 1


def _status(world, tenant, member, to: Status, day: dt.date) -> None:
    with tenant_context(tenant.id), transaction(db):
        members.change_status(world.root_principal(tenant), db.session.get(Member, member.id),
                              to_status=to, effective_on=day)


def test_roll_status_changes_send_entries_and_other_changes_do_not(branch, world, session):
    tenant, org = branch
    member = world.member(tenant, org)
    today = dt.date.today()
    _status(world, tenant, member, Status.floating, today)  # still on the rolls
    assert len(_indexed(session)) == 1
    _status(world, tenant, member, Status.left, today)  # off the rolls
    _status(world, tenant, member, Status.active, today)  # back on
    out = _indexed(session)
    assert [_entries(m) for m in out[1:]] == [[(member.national_id_hash, False)],
                                              [(member.national_id_hash, True)]]


def test_an_id_correction_and_a_deletion_send_entries(branch, world, session):
    tenant, org = branch
    member = world.member(tenant, org)
    new_hash = identity().hasher.hash(make_national_id(99))
    with tenant_context(tenant.id), transaction(db):
        row = db.session.get(Member, member.id)
        old_hash, row.national_id_hash = row.national_id_hash, new_hash
        services.member_indexed(row, old_hash=old_hash)
    with tenant_context(tenant.id), transaction(db):
        services.member_removed(db.session.get(Member, member.id))
    out = _indexed(session)[1:]
    assert [_entries(m) for m in out] == [[(member.national_id_hash, False), (new_hash, True)],
                                          [(new_hash, False)]]


def test_resync_sends_every_member_chunked_and_is_repeatable(branch, world, session):
    tenant, org = branch
    people = [world.member(tenant, org) for _ in range(5)]
    _status(world, tenant, people[0], Status.left, dt.date.today())
    before = len(_indexed(session))
    with transaction(db):
        first = services.resync(session.get(Tenant, tenant.id), chunk_size=2,
                                now=T0)
    with transaction(db):
        again = services.resync(session.get(Tenant, tenant.id), chunk_size=2,
                                now=T0 + dt.timedelta(hours=1))
    out = _indexed(session)[before:]
    assert first.entries == again.entries == 5 and len(out) == 6
    assert [(m.data["sync"]["chunk"], m.data["sync"]["chunks"]) for m in out[:3]] == [
        (1, 3), (2, 3), (3, 3)]
    assert {m.data["sync"]["taken_at"] for m in out[:3]} == {format_time(T0)}
    entries = dict(e for m in out[:3] for e in _entries(m))
    assert entries == {p.national_id_hash: p is not people[0] for p in people}
    assert dict(e for m in out[3:] for e in _entries(m)) == entries  # the same index again
    for m in out:
        assert validate_data(INDEXED, m.data) == m.data


def test_an_empty_tenant_resyncs_with_one_empty_chunk(world, session):
    tenant = world.tenant(slug="empty-t")
    with transaction(db):
        done = services.resync(session.get(Tenant, tenant.id))
    [message] = _indexed(session)
    assert done.entries == 0 and message.data["entries"] == []
    assert message.data["sync"]["chunks"] == 1


def test_the_cli_resyncs_each_tenant(branch, world, session):
    tenant, org = branch
    world.member(tenant, org)
    other = world.tenant(slug="jiulongpo", prefix="500107")
    world.member(other, world.org(other, world.root(other)))
    before = len(_indexed(session))
    done = sync_all(None)
    assert {d.tenant for d in done} >= {"dadukou", "jiulongpo"}
    assert len(_indexed(session)) == before + len(done)
    [only] = sync_all("dadukou")
    assert (only.tenant, only.entries) == ("dadukou", 1)
    assert _indexed(session)[-1].tenant == "dadukou"
    with pytest.raises(NotFound):
        sync_all("nowhere")


def test_no_personal_data_in_any_message(branch, world, session):
    tenant, org = branch
    nids = [make_national_id(40 + i) for i in range(3)]
    people = [world.member(tenant, org, name=f"秘密姓名{i}", national_id=nid,
                           phone="13800000009") for i, nid in enumerate(nids)]
    _status(world, tenant, people[1], Status.left, dt.date.today())
    with transaction(db):
        services.resync(session.get(Tenant, tenant.id))
    raw = "".join(encode_canonical(m.data).decode("utf-8") for m in _indexed(session))
    with tenant_context(tenant.id):
        rows = session.scalars(sa.select(Member)).all()
    for member, nid in zip(rows, nids, strict=True):
        for secret in (member.name, member.member_number, member.national_id_masked,
                       member.national_id_cipher, nid, nid[6:14], "13800000009"):
            assert secret not in raw
    assert "秘密" not in raw
    for message in _indexed(session):
        assert set(message.data) == {"entries", "sync"}
        assert set(message.data["sync"] or {}) <= {"taken_at", "chunk", "chunks"}
        for item in message.data["entries"]:
            assert set(item) == {"hash", "active", "as_of"}


def test_imported_members_are_indexed(branch, world, client, session, national_id):
    from node.grants.models import Role
    from tests.node.test_imports import csv_bytes, person, upload

    tenant, org = branch
    admin = world.token(world.account(tenant, [(Role.tenant_admin, world.root(tenant))]))
    rows = [person("王芳", national_id(1), org), person("李四", national_id(2), org)]
    response = upload(client, admin, csv_bytes(rows))
    assert response.status_code == 200, response.json
    [message] = _indexed(session)
    hasher = identity().hasher
    assert _entries(message) == [(hasher.hash(national_id(1)), True),
                                 (hasher.hash(national_id(2)), True)]
    assert "王芳" not in encode_canonical(message.data).decode("utf-8")


# --- flags from the hub -----------------------------------------------------------------------

H = "3f" * 32
ELSEWHERE = [{"node": "node-b", "tenant": "tongguan", "region": "340705"}]


def duplicate(as_of: dt.datetime, tenants: list[str], digest: str = H) -> dict[str, Any]:
    return {"hash": digest, "as_of": format_time(as_of),
            "flags": [{"tenant": t, "elsewhere": ELSEWHERE} for t in tenants]}


def resolved(as_of: dt.datetime, tenants: list[str], digest: str = H) -> dict[str, Any]:
    return {"hash": digest, "as_of": format_time(as_of), "tenants": tenants}


def _flags(session) -> list[IdentityFlag]:
    session.expire_all()
    with all_tenants():
        return list(session.scalars(sa.select(IdentityFlag).order_by(IdentityFlag.id)))


def test_flags_open_and_close_and_the_latest_as_of_wins(branch, session):
    with transaction(db):
        services.apply_duplicate(duplicate(T0, ["dadukou"]))
    [flag] = _flags(session)
    assert flag.is_open and flag.elsewhere == ELSEWHERE
    with transaction(db):  # a repeat changes nothing
        services.apply_duplicate(duplicate(T0, ["dadukou"]))
        services.apply_resolved(resolved(T0 - dt.timedelta(minutes=1), ["dadukou"]))  # older
    assert _flags(session)[0].is_open
    with transaction(db):
        services.apply_resolved(resolved(T0 + dt.timedelta(minutes=1), ["dadukou"]))
    [flag] = _flags(session)
    assert not flag.is_open and flag.elsewhere == []
    with transaction(db):  # a late, older duplicate does not bring it back
        services.apply_duplicate(duplicate(T0, ["dadukou"]))
    assert not _flags(session)[0].is_open
    with transaction(db):
        services.apply_duplicate(duplicate(T0 + dt.timedelta(minutes=2), ["dadukou"]))
    assert _flags(session)[0].is_open


def test_a_resolution_before_its_duplicate_is_harmless(branch, session):
    with transaction(db):
        services.apply_resolved(resolved(T0 + dt.timedelta(minutes=1), ["dadukou"]))
        services.apply_duplicate(duplicate(T0, ["dadukou"]))
    [flag] = _flags(session)
    assert not flag.is_open


def test_a_tenant_the_node_does_not_host_fails_the_message(branch, session):
    with pytest.raises(NotFound), transaction(db):
        services.apply_duplicate(duplicate(T0, ["dadukou", "nowhere"]))
    assert _flags(session) == []


def test_the_member_flag_and_the_flagged_filter(branch, world, session, client):
    tenant, org = branch
    flagged, plain = world.member(tenant, org), world.member(tenant, org)
    with transaction(db):
        services.apply_duplicate(duplicate(T0, ["dadukou"], flagged.national_id_hash))
    principal = world.root_principal(tenant)
    with tenant_context(tenant.id):
        assert services.flag_for(session.get(Member, flagged.id)) is not None
        assert services.flag_for(session.get(Member, plain.id)) is None
        rows = members.list_members(principal, members.MemberFilter(flagged=True), after=None,
                                    limit=50)
        assert [r["id"] for r in rows] == [flagged.id]
        listed = services.flagged_members(principal)
        assert [(m.member_id, m.elsewhere) for m in listed] == [(flagged.id, ELSEWHERE)]
    from node.grants.models import Role

    admin = world.token(world.account(tenant, [(Role.tenant_admin, world.root(tenant))]))
    api = client.get("/api/members?flagged=true", headers=admin)
    assert api.status_code == 200 and [m["id"] for m in api.json["items"]] == [flagged.id]
    assert len(client.get("/api/members", headers=admin).json["items"]) == 2


def test_the_bus_applies_the_hubs_notices(branch, app, session, tmp_path):
    hub = SigningKey.generate()
    now = utcnow()
    remember_key(session, hub.public_key("hub", valid_from=now - dt.timedelta(days=1),
                                         valid_until=now + dt.timedelta(days=30)))
    session.flush()
    settings = dataclasses.replace(app.extensions["node"],
                                   signing_key_file=str(tmp_path / "node.key"))
    bus.create_signing_key(settings)
    consumer = Consumer(bus.node_party(settings))

    def message(sequence: int, type_: str, data: dict[str, Any]) -> bytes:
        return seal(Envelope(id=new_id(), type=type_, source="hub", destination=settings.node_id,
                             time=utcnow(), tenant=None, sequence=sequence, data=data), hub)

    assert consumer.handle(message(1, DUPLICATE, duplicate(T0, ["dadukou"]))) == Outcome.applied
    assert _flags(session)[0].is_open
    assert consumer.handle(message(2, RESOLVED, resolved(T0 + dt.timedelta(seconds=1),
                                                         ["dadukou"]))) == Outcome.applied
    assert not _flags(session)[0].is_open
    # A tenant this node does not host: the handler fails, the message is quarantined (the
    # stream goes on).
    consumer.handle(message(3, DUPLICATE, duplicate(T0 + dt.timedelta(seconds=2), ["nowhere"])))
    assert session.scalars(sa.select(QuarantinedMessage.reason)).all() == ["handler_failed"]
    assert not _flags(session)[0].is_open
