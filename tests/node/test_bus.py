"""The node on the federation bus: its key, its handlers, its health and metrics, its CLI."""

from __future__ import annotations

import dataclasses
import datetime as dt
import stat

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from federation.delivery import Consumer, Outcome, send
from federation.delivery.keystore import remember_key
from federation.delivery.models import KnownKey, QuarantinedMessage
from federation.envelope import Envelope, new_id, seal
from federation.keys import SigningKey, format_time, utcnow
from node.bus import services
from node.cli import cli
from node.db import db
from shared.db.session import transaction
from shared.errors import Conflict, InvalidInput


def _hub_key(session) -> SigningKey:
    key = SigningKey.generate()
    now = utcnow()
    remember_key(session, key.public_key("hub", valid_from=now - dt.timedelta(days=1),
                                         valid_until=now + dt.timedelta(days=30)))
    session.flush()
    return key


def _from(source: str, key: SigningKey, type: str, data: dict, me: str = "node-local") -> bytes:
    return seal(Envelope(id=new_id(), type=type, source=source, destination=me, time=utcnow(),
                         tenant=None, sequence=None, data=data), key)


def _consumer(app, tmp_path) -> Consumer:
    settings = dataclasses.replace(app.extensions["node"],
                                   signing_key_file=str(tmp_path / "node.key"))
    services.create_signing_key(settings)
    return Consumer(services.node_party(settings))


def test_the_node_applies_key_revocations_from_the_hub(app, session, tmp_path):
    hub = _hub_key(session)
    victim = SigningKey.generate()
    remember_key(session, victim.public_key("node-b", valid_from=utcnow(),
                                            valid_until=utcnow() + dt.timedelta(days=1)))
    session.flush()
    consumer = _consumer(app, tmp_path)
    body = _from("hub", hub, services.KEY_REVOKED,
                 {"owner": "node-b", "key_id": victim.key_id, "at": format_time(utcnow())})
    assert consumer.handle(body) == Outcome.applied
    assert session.get(KnownKey, ("node-b", victim.key_id)).revoked_at is not None


def test_the_node_takes_messages_from_the_hub_only(app, session, tmp_path):
    other = SigningKey.generate()
    remember_key(session, other.public_key("node-b", valid_from=utcnow(),
                                           valid_until=utcnow() + dt.timedelta(days=1)))
    session.flush()
    consumer = _consumer(app, tmp_path)
    body = _from("node-b", other, "partynet.bus.ping.v1", {"n": 1})
    assert consumer.handle(body) == Outcome.quarantined
    [entry] = session.scalars(sa.select(QuarantinedMessage)).all()
    assert (entry.reason, entry.source) == ("unauthorized_source", "node-b")


def test_readyz_and_metrics_report_the_backlog(client, session):
    with transaction(db) as tx:
        send(tx, "partynet.bus.ping.v1", destination="hub", data={"n": 1})
        send(tx, "partynet.bus.ping.v1", destination="hub", data={"n": 2})
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json["federation"]["backlog"] == 2
    assert ready.json["federation"]["quarantined"] == 0
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.content_type.startswith("text/plain")
    assert "partynet_outbox_backlog 2.0" in metrics.text
    assert "# TYPE partynet_outbox_lag_seconds gauge" in metrics.text


def test_keygen_makes_a_private_key_file_once(app, tmp_path):
    settings = dataclasses.replace(app.extensions["node"],
                                   signing_key_file=str(tmp_path / "keys" / "node.key"))
    key = services.create_signing_key(settings)
    path = tmp_path / "keys" / "node.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert services.load_signing_key(settings) == key
    with pytest.raises(Conflict):
        services.create_signing_key(settings)
    with pytest.raises(InvalidInput, match="partynet node bus keygen"):
        services.load_signing_key(dataclasses.replace(settings,
                                                      signing_key_file=str(tmp_path / "none")))


def test_quarantine_cli_lists_releases_and_discards(app, session, tmp_path, monkeypatch):
    hub = _hub_key(session)
    consumer = _consumer(app, tmp_path)
    unknown = SigningKey.generate()
    assert consumer.handle(_from("hub", unknown, "partynet.bus.ping.v1", {"n": 1})) == \
        Outcome.quarantined
    assert consumer.handle(_from("hub", hub, "partynet.bus.ping.v1", {"n": 2}, me="x")) == \
        Outcome.quarantined
    first, second = session.scalars(sa.select(QuarantinedMessage.id)
                                    .order_by(QuarantinedMessage.id)).all()
    settings = dataclasses.replace(app.extensions["node"],
                                   signing_key_file=str(tmp_path / "node.key"))
    for field in dataclasses.fields(settings):
        value = getattr(settings, field.name)
        text = (",".join(value) if isinstance(value, tuple)
                else str(value).lower() if isinstance(value, bool) else str(value))
        monkeypatch.setenv(f"NODE_{field.name.upper()}", text)
    runner = CliRunner()
    listed = runner.invoke(cli, ["bus", "quarantine", "list"])
    assert listed.exit_code == 0, listed.output
    assert "unknown_key" in listed.output and "wrong_destination" in listed.output
    # Still unknown: release is refused with a readable message, nothing changes.
    refused = runner.invoke(cli, ["bus", "quarantine", "release", str(first), "--by", "ops"])
    assert refused.exit_code != 0 and "Still refused: unknown_key" in refused.output
    discarded = runner.invoke(cli, ["bus", "quarantine", "discard", str(second), "--by", "ops",
                                    "--note", "test traffic"])
    assert discarded.exit_code == 0, discarded.output
    assert session.get(QuarantinedMessage, second).status == "discarded"
    status = runner.invoke(cli, ["bus", "status"])
    assert status.exit_code == 0 and "quarantined 1" in status.output
