"""The hub routing transfers between nodes by their metadata: forwarding the origin's sealed
step unchanged, refusing (undeliverable) an unknown or revoked destination and a person already
on the destination node's rolls, refusing lies (a tenant not owned, a step not the source's, a
transfer between other parties), recording the national view, the tenant directory, and the
API and console pages (auditors; no member data anywhere)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from federation.delivery import Consumer, Outcome
from federation.delivery.models import OutboxMessage, QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import HUB, SigningKey, decode_base64, format_time, utcnow
from federation.messages.identity import INDEXED
from federation.messages.transfers import DIRECTORY, ROUTED, STEP, UNDELIVERABLE
from federation.sealed import open_body, seal_step, verify_step
from hub.accounts.models import HubRole
from hub.nodes import services as nodes_services
from hub.transfers import schemas, services
from hub.transfers.models import HubTransfer
from shared.db.session import transaction
from tests.hub.helpers import auth, bearer_token, hub_account, sign_in

UID = "019a4f3e-7c2b-7d10-8a11-2b3c4d5e6f70"
P = "3f" * 32
NAME, NATIONAL_ID = "李四同志", "110101199003071234"
DOSSIER = {"name": NAME, "national_id": NATIONAL_ID, "phone": "13900000000"}


class Sender:
    """A node sending transfer steps (and index entries) to the hub on its own stream."""

    def __init__(self, node_id: str, key: SigningKey, keys: dict[str, SigningKey],
                 consumer: Consumer) -> None:
        self.node_id, self.key, self.keys, self.consumer = node_id, key, keys, consumer
        self.sequence = 0

    def envelope(self, type_name: str, tenant: str, data: dict[str, Any]) -> bytes:
        self.sequence += 1
        return seal(Envelope(id=new_id(), type=type_name, source=self.node_id, destination=HUB,
                             time=utcnow(), tenant=tenant, sequence=self.sequence, data=data),
                    self.key)

    def step(self, step: str, *, from_tenant: str, to_node: str, to_tenant: str,
             attempt: int = 1, uid: str = UID, tenant: str | None = None,
             signer: SigningKey | None = None, valid_until: dt.datetime | None = None,
             identity_hash: str = P, meta: dict[str, Any] | None = None) -> Outcome:
        return self.consumer.handle(self.envelope(STEP, tenant or from_tenant, self.data(
            step, from_tenant=from_tenant, to_node=to_node, to_tenant=to_tenant,
            attempt=attempt, uid=uid, signer=signer, valid_until=valid_until,
            identity_hash=identity_hash, meta=meta)))

    def data(self, step: str, *, from_tenant: str, to_node: str, to_tenant: str,
             attempt: int = 1, uid: str = UID, signer: SigningKey | None = None,
             valid_until: dt.datetime | None = None, identity_hash: str = P,
             meta: dict[str, Any] | None = None) -> dict[str, Any]:
        signed_meta = meta or {"uid": uid, "step": step, "attempt": attempt,
                               "from_tenant": from_tenant, "to_tenant": to_tenant}
        recipient = self.keys[to_node] if to_node in self.keys else SigningKey.generate()
        body = {"attempt": attempt, **({"dossier": DOSSIER} if step == "letter" else {})}
        inner = seal_step(signing_key=signer or self.key, source=self.node_id,
                          destination=to_node, tenant=to_tenant,
                          recipient_key_id=recipient.key_id,
                          recipient_public=recipient.public_bytes, meta=signed_meta, body=body)
        letter = step == "letter"
        valid_until = valid_until or utcnow() + dt.timedelta(days=90)
        return {"uid": uid, "step": step, "attempt": attempt, "from_node": self.node_id,
                "from_tenant": from_tenant, "to_node": to_node, "to_tenant": to_tenant,
                "to_org_code": "340705001" if letter else None,
                "valid_until": format_time(valid_until) if letter else None,
                "identity_hash": identity_hash if letter else None, "signed": inner}

    def index(self, tenant: str, digest: str) -> Outcome:
        data = {"entries": [{"hash": digest, "active": True, "as_of": format_time(utcnow())}],
                "sync": None}
        return self.consumer.handle(self.envelope(INDEXED, tenant, data))


@pytest.fixture()
def senders(network, consumer) -> dict[str, Sender]:
    """node-a: dadukou (500104), jiulongpo (500107); node-b: tongguan (340705)."""
    network.enroll("node-a", [("dadukou", "500104"), ("jiulongpo", "500107")])
    network.enroll("node-b", [("tongguan", "340705")])
    return {n: Sender(n, network.node_keys[n], network.node_keys, consumer)
            for n in ("node-a", "node-b")}


def _outbox(session, *types: str) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(sa.select(OutboxMessage).where(OutboxMessage.type.in_(types))
                                .order_by(OutboxMessage.id)))


def _row(session) -> HubTransfer:
    session.expire_all()
    return session.scalars(sa.select(HubTransfer).where(HubTransfer.uid == UID)).one()


def _letter(senders, **kwargs: Any) -> Outcome:
    return senders["node-a"].step("letter", from_tenant="dadukou", to_node="node-b",
                                  to_tenant="tongguan", **kwargs)


# --- routing ---------------------------------------------------------------------------------


def test_a_letter_is_forwarded_unchanged_and_only_the_destination_opens_it(senders, network,
                                                                         session):
    assert _letter(senders) == Outcome.applied
    [routed] = _outbox(session, ROUTED, UNDELIVERABLE)
    assert (routed.type, routed.destination, routed.tenant) == (ROUTED, "node-b", "tongguan")
    assert routed.data["from_node"] == "node-a" and routed.data["step"] == "letter"
    ring = senders["node-a"].consumer.party.keys.reload()
    inner = verify_step(routed.data["signed"], keyring=ring, me="node-b", now=utcnow())
    assert open_body(inner, network.node_keys["node-b"])["dossier"] == DOSSIER
    row = _row(session)
    assert (row.origin_node, row.origin_tenant, row.origin_region) == (
        "node-a", "dadukou", "500104")
    assert (row.destination_node, row.destination_tenant, row.destination_region) == (
        "node-b", "tongguan", "340705")
    assert (row.state, row.attempt, row.to_org_code, row.steps) == (
        "issued", 1, "340705001", 1)
    assert row.valid_until is not None and row.issued_at is not None


def test_the_saga_is_tracked_step_by_step_and_stale_steps_change_nothing(senders, session):
    a, b = senders["node-a"], senders["node-b"]
    back = dict(from_tenant="tongguan", to_node="node-a", to_tenant="dadukou")
    out = dict(from_tenant="dadukou", to_node="node-b", to_tenant="tongguan")
    _letter(senders)
    assert b.step("rejected", **back) == Outcome.applied
    assert _row(session).state == "rejected"
    a.step("letter", attempt=2, **out)  # corrected and resent
    assert (_row(session).state, _row(session).attempt) == ("issued", 2)
    b.step("claim", attempt=1, **back)  # a stale claim of the first letter: routed, not recorded
    assert _row(session).state == "issued"
    b.step("claim", attempt=2, **back)
    assert _row(session).state == "claimed"
    a.step("released", attempt=2, **out)
    b.step("receipt", attempt=2, **back)
    assert _row(session).state == "closed"
    a.step("cancelled", attempt=2, **out)  # too late: a closed transfer stays closed
    assert _row(session).state == "closed"
    routed = _outbox(session, ROUTED)
    assert [(m.destination, m.data["step"], m.data["attempt"]) for m in routed] == [
        ("node-b", "letter", 1), ("node-a", "rejected", 1), ("node-b", "letter", 2),
        ("node-a", "claim", 1), ("node-a", "claim", 2), ("node-b", "released", 2),
        ("node-a", "receipt", 2), ("node-b", "cancelled", 2)]
    assert _row(session).steps == 8


def test_an_unknown_destination_tenant_is_undeliverable(senders, session):
    senders["node-a"].step("letter", from_tenant="dadukou", to_node="node-b",
                           to_tenant="nowhere")
    [refusal] = _outbox(session, ROUTED, UNDELIVERABLE)
    assert (refusal.type, refusal.destination, refusal.tenant) == (
        UNDELIVERABLE, "node-a", "dadukou")
    assert refusal.data["reason_code"] == "unknown_tenant" and refusal.data["to_node"] is None
    assert (_row(session).state, _row(session).refusal) == ("undeliverable", "unknown_tenant")


def test_a_tenant_named_on_the_wrong_node_is_undeliverable(senders, session):
    senders["node-a"].step("letter", from_tenant="dadukou", to_node="node-c",
                           to_tenant="tongguan")
    [refusal] = _outbox(session, ROUTED, UNDELIVERABLE)
    assert refusal.data["reason_code"] == "unknown_tenant"


def test_a_revoked_destination_node_is_undeliverable(senders, session):
    with transaction(senders["node-a"].consumer.party.db):
        nodes_services.revoke_node("node-b", by="test")
    _letter(senders)
    [refusal] = _outbox(session, ROUTED, UNDELIVERABLE)
    assert refusal.data["reason_code"] == "node_revoked"
    assert refusal.data["to_node"] == "node-b"


def test_a_person_already_on_the_destination_nodes_rolls_is_refused(senders, session):
    assert senders["node-b"].index("tongguan", P) == Outcome.applied
    _letter(senders)
    [refusal] = _outbox(session, ROUTED, UNDELIVERABLE)
    assert refusal.data["reason_code"] == "already_active"
    assert NATIONAL_ID not in refusal.data["detail"]
    # Another person goes through.
    _letter(senders, uid="019a4f3e-7c2b-7d10-8a11-2b3c4d5e6f71", identity_hash="a0" * 32)
    assert [m.type for m in _outbox(session, ROUTED, UNDELIVERABLE)] == [UNDELIVERABLE, ROUTED]


def test_active_only_at_the_origin_does_not_block(senders, session):
    senders["node-a"].index("dadukou", P)  # the person is, of course, active at the origin
    _letter(senders)
    assert [m.type for m in _outbox(session, ROUTED, UNDELIVERABLE)] == [ROUTED]


def test_a_node_cannot_send_for_a_tenant_it_does_not_host(senders, session):
    outcome = senders["node-b"].step("letter", from_tenant="dadukou", to_node="node-a",
                                     to_tenant="jiulongpo")
    assert outcome == Outcome.quarantined
    assert session.scalars(sa.select(QuarantinedMessage.reason)).all() == ["tenant_not_owned"]
    assert _outbox(session, ROUTED, UNDELIVERABLE) == []


def test_the_metadata_must_name_the_envelopes_tenant(senders, session):
    """Allowed to speak for jiulongpo, node-a cannot slip in a step of dadukou's."""
    senders["node-a"].step("letter", from_tenant="dadukou", to_node="node-b",
                           to_tenant="tongguan", tenant="jiulongpo")
    assert session.scalars(sa.select(QuarantinedMessage.reason)).all() == ["handler_failed"]
    assert session.scalar(sa.select(sa.func.count()).select_from(HubTransfer)) == 0


@pytest.mark.parametrize("lie", ["signer", "meta"])
def test_a_step_that_is_not_the_sources_own_is_refused(senders, session, lie):
    kwargs: dict[str, Any] = ({"signer": SigningKey.generate()} if lie == "signer" else
                              {"meta": {"uid": UID, "step": "cancelled", "attempt": 1,
                                        "from_tenant": "dadukou", "to_tenant": "tongguan"}})
    _letter(senders, **kwargs)  # consumed (the stream goes on), not applied
    [entry] = session.scalars(sa.select(QuarantinedMessage)).all()
    assert entry.reason == "handler_failed"
    assert _outbox(session, ROUTED, UNDELIVERABLE) == []


def test_a_node_cannot_write_over_another_nodes_transfer(senders, network, consumer, session):
    network.enroll("node-c", [("tongling", "340700")], prefixes=("340700",))
    c = Sender("node-c", network.node_keys["node-c"], network.node_keys, consumer)
    _letter(senders)
    c.step("cancelled", from_tenant="tongling", to_node="node-b", to_tenant="tongguan")
    assert session.scalars(sa.select(QuarantinedMessage.reason)).all() == ["handler_failed"]
    assert _row(session).state == "issued"
    assert len(_outbox(session, ROUTED)) == 1


def test_a_duplicate_delivery_is_routed_once(senders, session):
    a = senders["node-a"]
    body = a.envelope(STEP, "dadukou", a.data("letter", from_tenant="dadukou", to_node="node-b",
                                             to_tenant="tongguan"))
    assert a.consumer.handle(body) == Outcome.applied
    assert a.consumer.handle(body) == Outcome.duplicate
    assert len(_outbox(session, ROUTED)) == 1 and _row(session).steps == 1


# --- the national view -----------------------------------------------------------------------


def _three(senders, session) -> dt.datetime:
    """Three letters: one fresh, one past its validity, one silent for 20 days."""
    now = utcnow()
    _letter(senders)
    _letter(senders, uid=UID[:-1] + "1", valid_until=now - dt.timedelta(minutes=1))
    _letter(senders, uid=UID[:-1] + "2")
    session.execute(sa.update(HubTransfer).where(HubTransfer.uid == UID[:-1] + "2").values(
        last_step_at=now - dt.timedelta(days=20)))
    session.flush()
    return now + dt.timedelta(minutes=5)


def test_summary_counts_in_flight_overdue_and_expired_by_region(senders, session):
    now = _three(senders, session)
    result = services.summary(now)
    assert (result.in_flight, result.overdue, result.expired, result.closed) == (3, 1, 1, 0)
    by_region = {r.region: r for r in result.regions}
    assert set(by_region) == {"500104", "340705"}
    assert (by_region["500104"].outgoing, by_region["500104"].overdue,
            by_region["500104"].expired, by_region["500104"].incoming) == (3, 1, 1, 0)
    assert by_region["340705"].incoming == 3 and by_region["340705"].outgoing == 0
    assert [r.uid[-1] for r in map(services.view, services.list_transfers(
        flag="expired", now=now))] == ["1"]
    assert [r.uid[-1] for r in map(services.view, services.list_transfers(
        flag="overdue", now=now))] == ["2"]
    assert len(services.list_transfers(region="34", now=now)) == 3
    assert services.list_transfers(region="11", now=now) == []


def test_the_api_lists_and_counts_for_auditors_only(app, client, senders, session):
    _letter(senders)
    for role, status in ((HubRole.auditor, 200), (HubRole.administrator, 200),
                         (HubRole.region_viewer, 403)):
        for path in ("/api/transfers", "/api/transfers/summary"):
            response = client.get(path, headers=auth(bearer_token(app, role)))
            assert response.status_code == status, (role, path)
    token = auth(bearer_token(app, HubRole.auditor))
    body = client.get("/api/transfers?flag=in_flight&region=500104", headers=token).json
    [item] = body["items"]
    assert item["uid"] == UID and item["origin"] == {"node": "node-a", "tenant": "dadukou",
                                                     "region": "500104"}
    assert item["state"] == "issued" and item["overdue"] is False and item["expired"] is False
    summary = client.get("/api/transfers/summary", headers=token).json
    assert summary["in_flight"] == 1 and summary["regions"][0]["region"] == "340705"
    for bad in ("flag=stuck", "state=lost", "region=abc", "cursor=nonsense", "limit=0"):
        response = client.get(f"/api/transfers?{bad}", headers=token)
        assert response.status_code == 422, bad
        assert response.headers["Content-Type"] == "application/problem+json"


def test_the_api_pages_with_a_cursor(app, client, senders, session):
    for n in range(3):
        _letter(senders, uid=UID[:-1] + str(n))
    token = auth(bearer_token(app, HubRole.auditor))
    first = client.get("/api/transfers?limit=2", headers=token).json
    second = client.get(f"/api/transfers?limit=2&cursor={first['next_cursor']}",
                        headers=token).json
    uids = [i["uid"] for i in first["items"] + second["items"]]
    assert uids == [UID[:-1] + "2", UID[:-1] + "1", UID[:-1] + "0"]
    assert second["next_cursor"] is None


def test_the_console_page_shows_the_national_view_without_member_data(app, client, senders,
                                                                     session):
    now = _three(senders, session)
    account = hub_account(app, HubRole.auditor)
    assert sign_in(client, account.username).status_code == 303
    page = client.get("/console/transfers")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "node-a/dadukou" in text and "340705" in text and UID[:13] in text
    assert NAME not in text and NATIONAL_ID not in text
    assert 'href="/console/transfers"' in text  # the console menu links it
    filtered = client.get("/console/transfers?flag=expired&region=5001").get_data(as_text=True)
    assert UID[:-1] + "1" in filtered and UID[:-1] + "2" not in filtered
    # Nonsense filters are dropped, not a 500.
    assert client.get("/console/transfers?flag=x&region=%00&after=-1").status_code == 200
    assert now  # (the summary's clock is the page's own)


def test_schema_states_follow_the_services():
    assert schemas.STATES == services.STATES


# --- the tenant directory --------------------------------------------------------------------


def test_the_tenant_directory_goes_to_every_active_node_when_the_registry_changes(
        senders, network, session):
    with transaction(senders["node-a"].consumer.party.db):
        assert services.publish_directory() == 2
    sent = _outbox(session, DIRECTORY)
    assert sorted(m.destination for m in sent) == ["node-a", "node-b"]
    data = sent[0].data
    assert [(t["node"], t["slug"], t["region"], t["code_prefix"]) for t in data["tenants"]] == [
        ("node-a", "dadukou", "500104", "500104"), ("node-a", "jiulongpo", "500107", "500107"),
        ("node-b", "tongguan", "340705", "340705")]
    keys = {n["node"]: (n["key_id"], decode_base64(n["public"])) for n in data["nodes"]}
    assert keys["node-b"] == (network.node_keys["node-b"].key_id,
                              network.node_keys["node-b"].public_bytes)
    with transaction(senders["node-a"].consumer.party.db):
        assert services.publish_directory() == 0  # nothing changed: nothing sent
        assert services.publish_directory(force=True) == 2  # on demand
        nodes_services.revoke_node("node-b", by="test")
        assert services.publish_directory() == 1
    latest = _outbox(session, DIRECTORY)[-1]
    assert latest.destination == "node-a" and latest.data["version"] > data["version"]
    assert {t["node"] for t in latest.data["tenants"]} == {"node-a"}


def test_a_reenrolled_node_is_announced_with_its_new_key(senders, network, session):
    with transaction(senders["node-a"].consumer.party.db):
        services.publish_directory()
    new_key = SigningKey.generate()
    network.enroll("node-b", [("tongguan", "340705")], key=new_key)
    with transaction(senders["node-a"].consumer.party.db):
        assert services.publish_directory() == 2
    latest = {m.destination: m.data for m in _outbox(session, DIRECTORY)}
    [entry] = [n for n in latest["node-a"]["nodes"] if n["node"] == "node-b"]
    assert entry["key_id"] == new_key.key_id


# --- no member data on the hub ---------------------------------------------------------------


def test_after_a_whole_saga_no_hub_table_holds_the_members_name_or_id(senders, session):
    """Every text (and JSON, and binary) column of every hub table, the bus's own tables
    (outbox with the routed steps, inbox, quarantine) included."""
    a, b = senders["node-a"], senders["node-b"]
    back = dict(from_tenant="tongguan", to_node="node-a", to_tenant="dadukou")
    out = dict(from_tenant="dadukou", to_node="node-b", to_tenant="tongguan")
    _letter(senders)
    b.step("claim", **back)
    a.step("released", **out)
    b.step("receipt", **back)
    a.step("letter", from_tenant="dadukou", to_node="node-b", to_tenant="nowhere",
           uid=UID[:-1] + "9")  # refused: the undeliverable answer is stored too
    _letter(senders, signer=SigningKey.generate(), uid=UID[:-1] + "8")  # quarantined
    session.flush()
    assert _row(session).state == "closed"
    bind = session.get_bind()
    tables = sa.inspect(bind).get_table_names()
    assert {"hub_transfers", "fed_outbox", "fed_quarantine"} <= set(tables)
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
    for secret in (NAME, NATIONAL_ID, DOSSIER["phone"]):
        assert secret not in everything


def test_the_relay_job_announces_a_registry_change(senders, session):
    """`partynet hub bus relay` runs this beside the relay: one round per interval."""
    from hub.transfers.cli import directory_job

    class OneRound:
        def __init__(self) -> None:
            self.rounds = 0

        def is_set(self) -> bool:
            self.rounds += 1
            return self.rounds > 1

        def wait(self, _seconds: float) -> bool:
            return True

    directory_job(OneRound())  # type: ignore[arg-type]
    assert sorted(m.destination for m in _outbox(session, DIRECTORY)) == ["node-a", "node-b"]
    directory_job(OneRound())  # type: ignore[arg-type]
    assert len(_outbox(session, DIRECTORY)) == 2  # nothing changed since
    assert services.directory_sent()[0] == session.scalar(sa.text(
        "SELECT version FROM hub_directory_state"))


def test_the_cli_sends_the_directory_on_demand_and_prints_the_counts(senders, app, session):
    from click.testing import CliRunner

    from hub.transfers.cli import transfers_group
    from shared.web.commands import fail_on_domain_error

    group = transfers_group(make_app=lambda: app, on_domain_error=fail_on_domain_error)
    runner = CliRunner()
    sent = runner.invoke(group, ["directory"])
    assert sent.exit_code == 0 and "queued for 2 node(s)" in sent.output, sent.output
    assert "up to date" in runner.invoke(group, ["directory"]).output
    assert "queued for 2" in runner.invoke(group, ["directory", "--force"]).output
    _letter(senders)
    summary = runner.invoke(group, ["summary"])
    assert summary.exit_code == 0
    assert "in flight 1" in summary.output and "340705" in summary.output
