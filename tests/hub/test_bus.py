"""The hub on the federation bus: heartbeats, who may speak for which tenant, health, CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import stat

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from federation.delivery import Outcome, send
from federation.delivery.keystore import remember_key
from federation.delivery.models import KnownKey, QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import HUB, SigningKey, utcnow
from hub.cli import cli
from hub.db import db
from hub.keys import services as keys
from hub.nodes import services as nodes
from hub.nodes.models import EnrollmentToken, Node, NodeStatus
from shared.db.session import transaction
from shared.errors import Conflict

HEARTBEAT = "partynet.node.heartbeat.v1"
PING = "partynet.bus.ping.v1"


def _from(node_id: str, key: SigningKey, type: str, data: dict, *, tenant: str | None = None,
          sequence: int | None = 1) -> bytes:
    return seal(Envelope(id=new_id(), type=type, source=node_id, destination=HUB, time=utcnow(),
                         tenant=tenant, sequence=sequence, data=data), key)


def test_a_heartbeat_updates_the_registry(session, network, consumer):
    network.enroll("node-a", [("dadukou", "500104")])
    body = _from("node-a", network.node_keys["node-a"], HEARTBEAT,
                 {"version": "0.2.0", "backlog": 7, "lag_seconds": 3, "tenants": ["dadukou"]})
    assert consumer.handle(body) == Outcome.applied
    node = session.get(Node, "node-a")
    assert (node.version, node.backlog, node.lag_seconds) == ("0.2.0", 7, 3)
    assert (utcnow() - node.last_seen_at).total_seconds() < 60


def test_a_node_speaks_only_for_its_own_tenants(session, network, consumer):
    network.enroll("node-a", [("dadukou", "500104")])
    network.enroll("node-b", [("jiulongpo", "500107")])
    key = network.node_keys["node-a"]
    assert consumer.handle(_from("node-a", key, PING, {"n": 1}, tenant="dadukou")) == \
        Outcome.applied
    assert consumer.handle(_from("node-a", key, PING, {"n": 2}, tenant="jiulongpo",
                                 sequence=2)) == Outcome.quarantined
    [entry] = session.scalars(sa.select(QuarantinedMessage)).all()
    assert (entry.reason, entry.source) == ("tenant_not_owned", "node-a")
    assert "jiulongpo" in entry.detail


def test_revocations_take_effect_in_a_running_worker(session, network, consumer):
    """The worker's key ring was loaded before the revocations: the database still decides."""
    network.enroll("node-a", [("dadukou", "500104")])
    network.enroll("node-b", [("jiulongpo", "500107")])
    lost, other = network.node_keys["node-a"], network.node_keys["node-b"]
    assert consumer.handle(_from("node-a", lost, PING, {"n": 1})) == Outcome.applied
    assert consumer.handle(_from("node-b", other, PING, {"n": 1})) == Outcome.applied
    # node-a lost its key and re-enrolls with a new one; node-b is revoked.
    network.enroll("node-a", [("dadukou", "500104")],
                   token=network.token("node-a", ("500104",)))
    with transaction(db):
        nodes.revoke_node("node-b", by="test")
    assert consumer.handle(_from("node-a", lost, PING, {"n": 2}, sequence=2)) == \
        Outcome.quarantined
    assert consumer.handle(_from("node-b", other, PING, {"n": 2}, sequence=2)) == \
        Outcome.quarantined
    assert consumer.handle(_from("node-a", network.node_keys["node-a"], PING, {"n": 3},
                                 sequence=2)) == Outcome.applied
    reasons = session.execute(sa.select(QuarantinedMessage.source, QuarantinedMessage.reason)
                              .order_by(QuarantinedMessage.id)).all()
    assert reasons == [("node-a", "revoked_key"), ("node-b", "revoked_owner")]


def test_a_party_that_is_not_an_enrolled_node_is_refused(session, consumer):
    stray = SigningKey.generate()
    remember_key(session, stray.public_key("stray", valid_from=utcnow() - dt.timedelta(hours=1),
                                           valid_until=utcnow() + dt.timedelta(days=1)))
    session.flush()
    assert consumer.handle(_from("stray", stray, PING, {"n": 1})) == Outcome.quarantined
    assert session.scalars(sa.select(QuarantinedMessage.reason)).one() == "unauthorized_source"


def test_readyz_and_metrics_report_delivery_and_nodes(client, session, network):
    network.enroll("node-a", [("dadukou", "500104")])
    with transaction(db) as tx:
        send(tx, PING, destination="node-a", data={"n": 1})
    ready = client.get("/readyz")
    assert ready.status_code == 200
    federation = ready.json["federation"]
    assert federation["backlog"] == 1 and federation["quarantined"] == 0
    assert federation["nodes"] == {"active": 1, "revoked": 0}
    assert federation["directory_version"] == keys.directory_version()
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.content_type.startswith("text/plain")
    assert "partynet_outbox_backlog 1.0" in metrics.text
    assert 'partynet_hub_nodes{status="active"} 1.0' in metrics.text
    version = client.get("/api/version")
    assert version.json["name"] == "partynet-hub"
    spec = client.get("/api/openapi.json").json
    assert {"/api/federation/enroll", "/api/federation/directory"} <= set(spec["paths"])


def test_keygen_makes_a_private_key_file_once_and_publishes_it(settings, session, tmp_path):
    config = dataclasses.replace(settings, signing_key_file=str(tmp_path / "k" / "hub.key"))
    key = keys.create_signing_key(config)
    assert stat.S_IMODE((tmp_path / "k" / "hub.key").stat().st_mode) == 0o600
    assert keys.load_signing_key(config) == key
    with pytest.raises(Conflict):
        keys.create_signing_key(config)
    version = keys.directory_version()
    with transaction(db):
        assert keys.publish_hub_key(key, days=30)
        assert not keys.publish_hub_key(key, days=30)
    assert session.get(KnownKey, (HUB, key.key_id)) is not None
    assert keys.directory_version() == version + 1


@pytest.fixture()
def runner(app, monkeypatch) -> CliRunner:
    """The CLI on the test's app (so it runs inside the test's transaction)."""
    monkeypatch.setattr("hub.app.create_app", lambda _settings=None: app)
    for name in ("HUB_DATABASE_URL", "HUB_SECRET_KEY"):
        monkeypatch.setenv(name, "sqlite:///unused.db" if name.endswith("URL") else "x" * 20)
    return CliRunner()


def test_the_cli_issues_a_token_lists_and_revokes_nodes(runner, session, network):
    created = runner.invoke(cli, ["enroll-token", "create", "--node-id", "node-a", "--prefix",
                                  "500104", "--prefix", "500107", "--region", "500100",
                                  "--ttl-days", "2", "--by", "ops"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert token.startswith("pne_") and "shown once" in created.stderr
    row = session.scalars(sa.select(EnrollmentToken)).one()
    assert (row.node_id, row.allowed_prefixes, row.region) == ("node-a", ["500104", "500107"],
                                                              "500100")
    assert 47 * 3600 < (row.expires_at - row.created_at).total_seconds() <= 48 * 3600
    network.enroll("node-a", [("dadukou", "500104")], token=token)
    listed = runner.invoke(cli, ["node", "list"])
    assert listed.exit_code == 0 and "node-a\tactive\tdadukou:500104\tnever seen" in listed.output
    revoked = runner.invoke(cli, ["node", "revoke", "node-a", "--by", "ops"])
    assert revoked.exit_code == 0, revoked.output
    assert session.get(Node, "node-a").status == NodeStatus.revoked
    again = runner.invoke(cli, ["node", "revoke", "node-a", "--by", "ops"])
    assert again.exit_code == 1 and "already revoked" in again.output
    bad = runner.invoke(cli, ["enroll-token", "create", "--node-id", "node-b", "--prefix",
                              "12", "--by", "ops"])
    assert bad.exit_code == 1 and "allowed_prefixes: 12: a code prefix is 6 to 12 digits" in \
        bad.output


def test_consume_is_an_alias_of_bus_consume():
    assert cli.commands["consume"] is cli.commands["bus"].commands["consume"]
