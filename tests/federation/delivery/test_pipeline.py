"""The pipelined consumer: `Consumer.run` verifies a batch on the thread that reads the broker
while the previous batch commits on a worker thread. What is verified ahead must not outrun
what the batches before it changed (a key revocation), and streams still apply in order."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from federation.delivery import Outcome
from federation.delivery.keystore import revoke
from federation.delivery.models import InboxMessage, ParkedMessage, QuarantinedMessage, Stream
from federation.envelope import Envelope, new_id, seal
from federation.keys import format_time, parse_time
from shared.db.session import transaction
from tests.federation.delivery.harness import PING

KEY_REVOKED = "partynet.keys.revoked.v1"


def _sealed(sender, destination, sequence, type_=PING, data=None, time=None):
    envelope = Envelope(id=new_id(), type=type_, source=sender.id, destination=destination,
                        time=time or sender.relay.clock(), tenant=None, sequence=sequence,
                        data=data if data is not None else {"n": sequence})
    return seal(envelope, sender.party.signing_key)


def _on_key_revoked(session, envelope):
    data = envelope.data
    revoke(session, data["owner"], data["key_id"], parse_time(data["at"]))


def _count(node, model) -> int:
    with transaction(node.db) as session:
        return int(session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)


def test_a_revocation_applied_in_one_batch_counts_for_the_next_batch_already_verified(
        network, clock):
    """The next batch was verified with the old keys while this one committed; a key this
    batch revoked must still stop its messages."""
    hub, node, other = network("hub", "n1", "n2")
    node.party.handlers[KEY_REVOKED] = _on_key_revoked
    revocation = _sealed(hub, node.id, 1, KEY_REVOKED, {
        "owner": other.id, "key_id": other.party.signing_key.key_id,
        "at": format_time(clock.now)})
    from_other = _sealed(other, node.id, 1)
    first = node.consumer.prepare_batch([revocation])
    second = node.consumer.prepare_batch([from_other])  # the old keys: it verifies
    assert isinstance(second[0].item, Envelope)

    assert node.consumer.apply_batch([revocation], first) == [Outcome.applied]
    assert node.consumer.apply_batch([from_other], second) == [Outcome.quarantined]

    assert node.effects() == []
    with transaction(node.db) as session:
        [entry] = session.scalars(sa.select(QuarantinedMessage))
        assert entry.reason == "revoked_key"


def test_run_applies_interleaved_streams_in_order_while_verifying_ahead(network):
    hub, *nodes = network("hub", "n1", "n2", "n3")
    per_node = 40
    for n in range(1, per_node + 1):
        for node in nodes:
            node.send(hub.id, n)
    for node in nodes:
        assert node.relay.run_once() == per_node
    calls: list[tuple[str, str]] = []
    prepare_batch, apply_batch = hub.consumer.prepare_batch, hub.consumer.apply_batch

    def prepare(bodies):
        calls.append(("prepare", threading.current_thread().name))
        return prepare_batch(bodies)

    def apply(bodies, prepared):
        calls.append(("apply", threading.current_thread().name))
        return apply_batch(bodies, prepared)

    hub.consumer.prepare_batch, hub.consumer.apply_batch = prepare, apply
    hub.consumer.run(hub.bus, idle_timeout=0.5, batch_size=10)

    for node in nodes:
        assert hub.effects(node.id) == list(range(1, per_node + 1))
        with transaction(hub.db) as session:
            assert session.get(Stream, node.id).in_applied_up_to == per_node
    assert _count(hub, ParkedMessage) == 0  # batches never overtook each other
    assert _count(hub, QuarantinedMessage) == 0
    consuming = threading.current_thread().name
    assert {name for kind, name in calls if kind == "prepare"} == {consuming}
    assert {name for kind, name in calls if kind == "apply"} == {"partynet-apply"}
    assert hub.bus.queue_depth(hub.id) == 0


def test_a_batch_writes_one_inbox_row_per_applied_message_with_the_batch_time(network, clock):
    """The inbox rows of a batch go in with one statement (a JSON array on PostgreSQL): each
    applied message's source, id, type and sequence, the batch's time; not a duplicate's."""
    hub, node, other = network("hub", "n1", "n2")
    bodies = [_sealed(node, hub.id, 1), _sealed(other, hub.id, 1), _sealed(node, hub.id, 2),
              _sealed(other, hub.id, 2)]
    again = _sealed(node, hub.id, 2)  # a new id for sequence 2: a duplicate by position
    assert hub.consumer.handle_batch([*bodies, again]) == [Outcome.applied] * 4 + [
        Outcome.duplicate]

    expected = sorted((e.source, e.id, e.type, e.sequence)
                      for e in (hub.consumer.open(body, clock.now) for body in bodies))
    with transaction(hub.db) as session:
        rows = session.execute(sa.select(InboxMessage.source, InboxMessage.message_id,
                                         InboxMessage.type, InboxMessage.sequence,
                                         InboxMessage.received_at)).all()
    assert sorted(row[:4] for row in rows) == expected
    assert {row.received_at.replace(tzinfo=None) for row in rows} == {
        clock.now.replace(tzinfo=None)}
