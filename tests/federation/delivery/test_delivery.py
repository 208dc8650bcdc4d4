"""End-to-end delivery between parties: nothing lost, nothing applied twice, whatever the bus
does (duplicates, reordering, loss), and nothing doubtful applied at all."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from federation.delivery import Outcome
from federation.delivery.consumer import PARALLEL_OPEN_FROM
from federation.delivery.keystore import revoke
from federation.delivery.models import KnownKey, ParkedMessage, QuarantinedMessage, Stream
from federation.delivery.quarantine import held
from federation.envelope import Envelope, Rejected, new_id, seal
from federation.keys import SigningKey
from shared.db.session import transaction
from shared.errors import Conflict
from tests.federation.delivery.harness import KEY_LIFE, PING


def _stream(node, peer) -> Stream:
    with transaction(node.db) as session:
        return session.get(Stream, peer)


def _quarantine(node) -> list[QuarantinedMessage]:
    with transaction(node.db) as session:
        return list(session.scalars(sa.select(QuarantinedMessage).order_by(QuarantinedMessage.id)))


def _sealed(sender, destination, sequence, n, *, time=None, key=None, note=None, tenant=None):
    data = {"n": n, **({"note": note} if note else {})}
    envelope = Envelope(id=new_id(), type=PING, source=sender.id, destination=destination,
                        time=time or sender.relay.clock(), tenant=tenant, sequence=sequence,
                        data=data)
    return seal(envelope, key or sender.party.signing_key)


def test_a_message_is_applied_once_and_acknowledged_back(network):
    node, hub = network("n1", "hub")
    for n in range(1, 6):
        node.send(hub.id, n)
    assert node.relay.run_once() == 5
    hub.consume()
    assert hub.effects() == [1, 2, 3, 4, 5]
    assert _stream(hub, node.id).in_applied_up_to == 5
    assert hub.relay.run_once() == 1  # one cumulative ack for the five
    node.consume()
    assert node.outbox() == []
    assert _stream(node, hub.id).out_acked_up_to == 5


def test_duplicates_on_the_bus_are_applied_once(network):
    node, hub = network("n1", "hub")
    bodies = [_sealed(node, hub.id, seq, seq) for seq in (1, 2, 3)]
    for body in bodies + bodies + [bodies[0]]:
        hub.bus.publish(hub.id, body, message_id=new_id())
    hub.consume()
    assert hub.effects() == [1, 2, 3]
    # An unsequenced message is deduplicated by its id.
    once = _sealed(node, hub.id, None, 9)
    assert [hub.consumer.handle(once), hub.consumer.handle(once)] == [Outcome.applied,
                                                                      Outcome.duplicate]
    assert hub.effects() == [1, 2, 3, 9]


def test_reordered_messages_are_applied_in_stream_order(network):
    node, hub = network("n1", "hub")
    bodies = {seq: _sealed(node, hub.id, seq, seq) for seq in range(1, 7)}
    outcomes = [hub.consumer.handle(bodies[seq]) for seq in (3, 1, 6, 2, 5, 4)]
    assert outcomes == [Outcome.parked, Outcome.applied, Outcome.parked, Outcome.applied,
                        Outcome.parked, Outcome.applied]
    assert hub.effects() == [1, 2, 3, 4, 5, 6]
    with transaction(hub.db) as session:
        assert session.scalar(sa.select(sa.func.count()).select_from(ParkedMessage)) == 0


def test_a_gap_is_reported_and_the_sender_resends_it(network, clock):
    node, hub = network("n1", "hub")
    for n in (1, 2, 3):
        node.send(hub.id, n)
    node.relay.run_once()
    seen = []

    def lossy(delivery):  # the bus loses the second message
        seen.append(delivery)
        if len(seen) != 2:
            hub.consumer.handle(delivery.body)

    hub.bus.consume(hub.id, lossy, idle_timeout=0.3)
    assert hub.effects() == [1]  # 3 is parked behind the gap
    assert _stream(hub, node.id).in_applied_up_to == 1
    with transaction(hub.db) as session:
        assert session.scalars(sa.select(ParkedMessage.sequence)).all() == [3]
    # The hub asked n1 for a resend from 2 (and acks 1); n1 resends at once, before its timer.
    assert hub.relay.run_once() == 2
    node.consume()
    assert node.relay.run_once() == 2  # sequences 2 and 3 again
    hub.consume()
    assert hub.effects() == [1, 2, 3]


def test_unacknowledged_messages_are_retransmitted_with_backoff(network, clock):
    node, hub = network("n1", "hub")
    node.send(hub.id, 1)
    node.relay.run_once()
    hub.bus.consume(hub.id, lambda d: None, idle_timeout=0.3)  # the bus loses it
    assert node.relay.run_once() == 0  # not due yet
    clock.advance(seconds=15)  # past the first retransmission (10 s × 0.8–1.4)
    assert node.relay.run_once() == 1
    first = node.outbox()[0]
    assert first.attempts == 2
    wait = first.next_attempt_at - clock.now
    assert dt.timedelta(seconds=16) <= wait <= dt.timedelta(seconds=28)  # doubled, jittered
    hub.consume()
    assert hub.effects() == [1]
    hub.relay.run_once()
    node.consume()
    assert node.outbox() == []


def test_a_message_replayed_to_another_destination_or_too_late_is_quarantined(network, clock):
    node, hub, other = network("n1", "hub", "n2")
    for_other = _sealed(node, other.id, 1, 1)
    assert hub.consumer.handle(for_other) == Outcome.quarantined
    assert other.consumer.handle(for_other) == Outcome.applied
    # The same bytes much later: outside the clock window, even at its proper destination.
    clock.advance(minutes=6)
    assert other.consumer.handle(for_other) == Outcome.quarantined
    assert [q.reason for q in _quarantine(hub)] == ["wrong_destination"]
    assert [q.reason for q in _quarantine(other)] == ["clock_skew"]
    assert other.effects() == [1] and hub.effects() == []


def test_clock_skew_just_inside_is_accepted_and_just_outside_refused(network, clock):
    node, hub = network("n1", "hub")
    inside = _sealed(node, hub.id, None, 1, time=clock.now - dt.timedelta(minutes=5) +
                     dt.timedelta(milliseconds=1))
    outside = _sealed(node, hub.id, None, 2, time=clock.now + dt.timedelta(minutes=5) +
                      dt.timedelta(milliseconds=1))
    assert hub.consumer.handle(inside) == Outcome.applied
    assert hub.consumer.handle(outside) == Outcome.quarantined
    assert hub.effects() == [1]


def test_keys_rotation_unknown_revoked_and_release(network, clock):
    node, hub = network("n1", "hub")
    new_key = SigningKey.generate()
    unknown = _sealed(node, hub.id, 1, 1, key=new_key)
    assert hub.consumer.handle(unknown) == Outcome.quarantined
    [entry] = _quarantine(hub)
    assert entry.reason == "unknown_key" and entry.status == "held"
    # The hub learns the new key (rotation: both keys valid); an operator releases the message.
    hub.trust(node, new_key)
    assert hub.consumer.release(entry.id, by="operator", note="key now known") == Outcome.applied
    assert hub.effects() == [1]
    assert hub.consumer.handle(_sealed(node, hub.id, 2, 2)) == Outcome.applied  # old key too
    # Revoking the old key: its messages are refused; the new key still works.
    with transaction(hub.db) as session:
        revoke(session, node.id, node.party.signing_key.key_id, clock.now)
    hub.party.keys.reload()
    assert hub.consumer.handle(_sealed(node, hub.id, 3, 3)) == Outcome.quarantined
    assert hub.consumer.handle(_sealed(node, hub.id, 3, 3, key=new_key)) == Outcome.applied
    # Revoking the whole node refuses everything it sends.
    with transaction(hub.db) as session:
        revoke(session, node.id, None, clock.now)
    hub.party.keys.reload()
    assert hub.consumer.handle(_sealed(node, hub.id, 4, 4, key=new_key)) == Outcome.quarantined
    assert [q.reason for q in _quarantine(hub)][1:] == ["revoked_key", "revoked_owner"]
    assert hub.effects() == [1, 2, 3]


def test_an_expired_key_is_refused(network, clock):
    node, hub = network("n1", "hub")
    clock.advance(days=366)  # past the key's validity (harness: one year)
    hub.party.keys.reload()
    assert hub.consumer.handle(_sealed(node, hub.id, None, 1)) == Outcome.quarantined
    assert _quarantine(hub)[0].reason == "expired_key"
    assert dt.timedelta(days=365) == KEY_LIFE


def test_a_key_confirmed_again_is_trusted_without_a_restart(network, clock):
    """Past its trust horizon a key is refused; once a directory confirms it again (in the
    database), a running consumer trusts it without being restarted."""
    node, hub = network("n1", "hub")
    confirmed = sa.update(KnownKey).where(KnownKey.owner == node.id)
    with transaction(hub.db) as session:
        session.execute(confirmed.values(added_at=clock.now - dt.timedelta(days=8)))
    hub.party.keys.reload()
    assert hub.consumer.handle(_sealed(node, hub.id, None, 1)) == Outcome.quarantined
    assert _quarantine(hub)[0].reason == "expired_key"
    with transaction(hub.db) as session:
        session.execute(confirmed.values(added_at=clock.now))
    assert hub.consumer.handle(_sealed(node, hub.id, None, 2)) == Outcome.applied
    assert hub.effects() == [2]


def test_poison_is_quarantined_and_the_stream_goes_on(network):
    node, hub = network("n1", "hub")
    bodies = [_sealed(node, hub.id, 1, 1), _sealed(node, hub.id, 2, 2, note="poison"),
              _sealed(node, hub.id, 3, 3)]
    assert hub.consumer.handle_batch(bodies) == [Outcome.applied] * 3
    assert hub.effects() == [1, 3]
    [entry] = _quarantine(hub)
    assert (entry.reason, entry.times_seen) == ("handler_failed", 1)
    assert "cannot be applied" in entry.detail
    assert _stream(hub, node.id).in_applied_up_to == 3
    # Sent again by a sender that missed the ack: a duplicate, not a second quarantine entry.
    assert hub.consumer.handle(bodies[1]) == Outcome.duplicate
    assert len(_quarantine(hub)) == 1


def test_a_big_batch_verified_on_two_threads_keeps_every_outcome_in_its_place(network):
    """Batches from PARALLEL_OPEN_FROM on are verified half on a helper thread: the outcomes
    (forged ones among them, in either half) still line up with their messages."""
    node, hub = network("n1", "hub")
    size = 2 * PARALLEL_OPEN_FROM
    forged = {3, size - 2}  # one in each half
    bodies = [_sealed(node, hub.id, n, n, key=SigningKey.generate() if n in forged else None)
              for n in range(1, size + 1)]
    outcomes = hub.consumer.handle_batch(bodies)
    assert [n for n, o in enumerate(outcomes, 1) if o == Outcome.quarantined] == sorted(forged)
    assert outcomes[:2] == [Outcome.applied] * 2
    assert set(outcomes[3:]) == {Outcome.parked, Outcome.quarantined}  # after the gap at 3
    assert hub.effects() == [1, 2]
    assert {q.reason for q in _quarantine(hub)} == {"unknown_key"}  # keys of their own


def test_a_handler_failing_only_at_flush_is_pinned_on_its_message(network):
    """The fast pass flushes a batch's effects together; a failure there is found again
    message by message, so only the culprit is quarantined."""
    node, hub = network("n1", "hub")
    bodies = [_sealed(node, hub.id, 1, 1), _sealed(node, hub.id, 2, 2, note="fails-at-flush"),
              _sealed(node, hub.id, 3, 3)]
    assert hub.consumer.handle_batch(bodies) == [Outcome.applied] * 3
    assert hub.effects() == [1, 3]
    [entry] = _quarantine(hub)
    assert entry.reason == "handler_failed" and "IntegrityError" in entry.detail
    assert _stream(hub, node.id).in_applied_up_to == 3


def test_released_poison_runs_again_and_can_be_discarded(network):
    node, hub = network("n1", "hub")
    hub.consumer.handle(_sealed(node, hub.id, 1, 1, note="poison"))
    [entry] = _quarantine(hub)
    with pytest.raises(Conflict, match="Still failing"):
        hub.consumer.release(entry.id, by="operator")
    assert _quarantine(hub)[0].status == "held"
    hub.consumer.discard(entry.id, by="operator", note="obsolete")
    [entry] = _quarantine(hub)
    assert (entry.status, entry.resolved_by, entry.resolution) == ("discarded", "operator",
                                                                   "obsolete")
    with pytest.raises(Conflict):
        hub.consumer.discard(entry.id, by="operator")


def test_a_node_offline_does_not_hold_up_the_others_and_catches_up(network, clock):
    hub, n1, n2 = network("hub", "n1", "n2")
    for n in range(1, 21):
        hub.send(n1.id, n)
        hub.send(n2.id, n)
    hub.relay.run_once()
    n1.consume()  # n2 is offline
    hub.relay.run_once()
    n1.relay.run_once()
    hub.consume()
    assert n1.effects() == list(range(1, 21))
    assert {m.destination for m in hub.outbox()} == {n2.id}
    clock.advance(minutes=1)
    hub.relay.run_once()  # retransmits to n2: its queue now holds two copies of each
    n2.consume()
    assert n2.effects() == list(range(1, 21))
    n2.relay.run_once()
    hub.consume()
    assert hub.outbox() == []


def test_an_unroutable_destination_is_paused_with_backoff(network, clock):
    hub, n1 = network("hub", "n1")
    ghost_id = f"ghost-{hub.id}"
    hub.send(ghost_id, 1)
    hub.send(n1.id, 1)
    assert hub.relay.run_once() == 1  # n1's message went; ghost has no queue
    ghost = _stream(hub, ghost_id)
    assert ghost.blocked_until == clock.now + dt.timedelta(seconds=5)
    assert hub.relay.run_once() == 0
    clock.advance(seconds=6)
    hub.relay.run_once()
    assert _stream(hub, ghost_id).block_interval == 10  # doubled
    hub.bus.declare([ghost_id])
    clock.advance(seconds=11)
    hub.relay.run_once()
    assert [(m.destination, m.attempts) for m in hub.outbox() if m.destination == ghost_id] == [
        (ghost_id, 1)]
    ghost = _stream(hub, ghost_id)
    assert (ghost.blocked_until, ghost.block_interval) == (None, 0)


def test_retransmissions_to_a_silent_peer_stay_within_the_window(network, clock):
    hub, n1 = network("hub", "n1")
    for n in range(1, 121):
        hub.send(n1.id, n)
    assert hub.relay.run_once() == 120
    clock.advance(minutes=1)
    assert hub.relay.run_once() == 50  # the window (harness timing): probe, don't flood


def test_a_message_for_a_tenant_the_source_does_not_own_is_refused(network):
    node, hub = network("n1", "hub")

    def authorize(session, envelope):
        if envelope.data.get("n") == 13:
            raise Rejected("tenant_not_owned", "n1 does not host that tenant")

    hub.party.authorize = authorize
    assert hub.consumer.handle(_sealed(node, hub.id, None, 13, tenant="t-13")) == \
        Outcome.quarantined
    [entry] = _quarantine(hub)
    assert (entry.reason, entry.tenant) == ("tenant_not_owned", "t-13")
    assert hub.effects() == []


def test_a_release_refused_again_changes_nothing(network):
    node, hub = network("n1", "hub")

    def authorize(session, envelope):
        raise Rejected("tenant_not_owned", "n1 does not host that tenant")

    hub.party.authorize = authorize
    hub.consumer.handle(_sealed(node, hub.id, None, 13, tenant="t-13"))
    [entry] = _quarantine(hub)
    with pytest.raises(Conflict, match="Still refused"):
        hub.consumer.release(entry.id, by="test")
    [after] = _quarantine(hub)
    assert (after.status, after.times_seen, after.resolved_by) == ("held", 1, None)
    hub.party.authorize = None  # the sender may speak for it now
    assert hub.consumer.release(entry.id, by="test") == Outcome.applied
    assert hub.effects() == [13]


def test_the_quarantine_records_the_claimed_tenant_so_its_administrators_see_it(network):
    node, hub = network("n1", "hub")
    forged = _sealed(node, hub.id, None, 1, key=SigningKey.generate(), tenant="t-a")
    untenanted = _sealed(node, hub.id, None, 2, key=SigningKey.generate())
    for body in (forged, untenanted):
        assert hub.consumer.handle(body) == Outcome.quarantined
    assert [q.tenant for q in _quarantine(hub)] == ["t-a", None]
    with transaction(hub.db) as session:
        assert [q.tenant for q in held(session, tenants=["t-a"])] == ["t-a"]
        assert held(session, tenants=["t-b"]) == []


def test_the_same_bad_message_is_counted_not_stored_twice(network, clock):
    node, hub = network("n1", "hub")
    body = _sealed(node, hub.id, None, 1, key=SigningKey.generate())
    hub.consumer.handle(body)
    hub.consumer.handle(body)
    [entry] = _quarantine(hub)
    assert entry.times_seen == 2
