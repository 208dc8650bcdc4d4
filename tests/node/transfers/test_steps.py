"""Steps through a queue instead of at once: duplicates, replays, reordering, malformed bodies,
and a hypothesis property test of random interleavings checking the invariant throughout."""

from __future__ import annotations

import dataclasses
import datetime as dt
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from node.db import db
from node.members.models import Member
from node.tenants.scoping import all_tenants, tenant_context
from node.transfers import carrier, services
from node.transfers.models import FINAL, Side, State, TransferEvent
from shared.errors import DomainError, Forbidden, InvalidInput, NotFound

from .conftest import (
    Clock,
    Pair,
    Side_,
    active_places,
    build_side,
    check_invariant,
    in_row,
    out_row,
)


@dataclasses.dataclass
class Step:
    transfer: Any  # what the carrier needs: uid, nodes and tenants of both sides
    step: str
    body: dict[str, Any]


class Queue:
    """A carrier that holds steps until told; steps staged by a transaction that rolls back
    are dropped, like an outbox."""

    def __init__(self) -> None:
        self.items: list[Step] = []
        self.staged: list[Step] = []
        self.log: list[Step] = []

    def hook(self, session: Any, transfer: Any, step: str, body: dict[str, Any]) -> None:
        ref = types.SimpleNamespace(**{k: getattr(transfer, k) for k in (
            "uid", "from_node", "from_tenant", "to_node", "to_tenant")})
        self.staged.append(Step(ref, step, dict(body)))

    def run(self, fn: Callable[[], Any]) -> bool:
        """One transaction: commit and queue its steps, or roll back and drop them."""
        self.staged = []
        try:
            fn()
            db.session.commit()
        except DomainError:
            db.session.rollback()
            self.staged = []
            return False
        self.items += self.staged
        self.log += self.staged
        self.staged = []
        return True

    def deliver(self, item: Step) -> bool:
        return self.run(lambda: carrier.deliver_now(db.session(), item.transfer, item.step,
                                                    item.body))

    def pop(self, index: int = 0) -> Step:
        item = self.items.pop(index % len(self.items))
        self.deliver(item)
        return item

    def drain(self, limit: int = 200) -> None:
        for _ in range(limit):
            if not self.items:
                return
            self.pop(0)
        raise AssertionError("the queue never drains")


@pytest.fixture()
def queue() -> Iterator[Queue]:
    q = Queue()
    carrier.use(q.hook)
    yield q
    carrier.use(None)


def _start(pair: Pair, queue: Queue, member: Any = None) -> str:
    a, b = pair.a, pair.b
    member = member or pair.member
    holder: dict[str, Any] = {}

    def apply() -> None:
        with tenant_context(a.tenant.id):
            t = services.apply_transfer(a.admin, member_id=member.id, to_tenant=b.tenant.slug,
                                        to_org_code=b.committee.code, reason="工作调动")
            services.approve(a.admin, t.id)
            services.approve(a.admin, t.id)
            holder["uid"] = t.uid

    assert queue.run(apply)
    return str(holder["uid"])


def _in_id(pair: Pair, uid: str) -> int:
    t = in_row(uid, pair.b.tenant.id)
    assert t is not None
    return t.id


def _b(queue: Queue, pair: Pair, fn: Callable[..., Any], *args: Any, **kw: Any) -> bool:
    def call() -> None:
        with tenant_context(pair.b.tenant.id):
            fn(*args, **kw)
    return queue.run(call)


def test_every_step_twice_changes_nothing_more(pair: Pair, queue: Queue, clock: Clock) -> None:
    a, b = pair.a, pair.b
    uid = _start(pair, queue)
    digest = pair.member.national_id_hash
    while queue.items or in_row(uid, b.tenant.id) is None \
            or in_row(uid, b.tenant.id).state not in (State.received,):
        if not queue.items:
            incoming = _in_id(pair, uid)
            t = in_row(uid, b.tenant.id)
            assert _b(queue, pair, services.approve, b.admin, incoming,
                      branch_id=b.branch.id if t.receiving_org_id is None else None)
            continue
        item = queue.items.pop(0)
        queue.deliver(item)
        check_invariant(uid, a.tenant.id, digest)
        queue.deliver(item)  # the bus delivers at least once
        check_invariant(uid, a.tenant.id, digest)
    queue.drain()
    assert out_row(uid, a.tenant.id).state == State.closed
    # a replay of the whole history changes nothing
    counts = _event_counts(uid, pair)
    for item in list(queue.log):
        queue.deliver(item)
    queue.drain()
    assert out_row(uid, a.tenant.id).state == State.closed
    assert in_row(uid, b.tenant.id).state == State.received
    after = _event_counts(uid, pair)
    assert after == counts
    assert active_places(digest) == [b.tenant.id]
    with all_tenants():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Member).where(
            Member.national_id_hash == digest)) == 2


def _event_counts(uid: str, pair: Pair) -> tuple[int, int]:
    counts = []
    for tenant, side in ((pair.a.tenant.id, Side.out), (pair.b.tenant.id, Side.in_)):
        row = (out_row if side == Side.out else in_row)(uid, tenant)
        with tenant_context(tenant):
            counts.append(db.session.scalar(sa.select(sa.func.count()).select_from(
                TransferEvent).where(TransferEvent.transfer_id == row.id)))
    return counts[0], counts[1]


def test_a_cancellation_that_overtakes_its_letter(pair: Pair, queue: Queue,
                                                  clock: Clock) -> None:
    a, b = pair.a, pair.b
    uid = _start(pair, queue)
    letter = queue.items.pop()
    out = out_row(uid, a.tenant.id)
    assert queue.run(lambda: _in(a, services.cancel, a.admin, out.id))
    queue.drain()  # the cancellation arrives first: a tombstone
    assert in_row(uid, b.tenant.id).state == State.cancelled
    queue.deliver(letter)  # then the letter: stale
    assert in_row(uid, b.tenant.id).state == State.cancelled
    assert in_row(uid, b.tenant.id).member_name == ""
    check_invariant(uid, a.tenant.id, pair.member.national_id_hash)


def _in(side: Side_, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    with tenant_context(side.tenant.id):
        return fn(*args, **kw)


def test_a_claim_racing_a_cancellation_is_refused(pair: Pair, queue: Queue,
                                                  clock: Clock) -> None:
    a, b = pair.a, pair.b
    uid = _start(pair, queue)
    queue.drain()
    incoming = _in_id(pair, uid)
    assert _b(queue, pair, services.approve, b.admin, incoming, branch_id=b.branch.id)
    assert _b(queue, pair, services.approve, b.admin, incoming)
    assert in_row(uid, b.tenant.id).state == State.claimed
    out = out_row(uid, a.tenant.id)
    assert queue.run(lambda: _in(a, services.cancel, a.admin, out.id))
    queue.drain()
    assert out_row(uid, a.tenant.id).state == State.cancelled
    # the claim reached the origin after the cancellation (refused), and the cancellation
    # reached the destination before the refusal: either way the letter is dead
    assert in_row(uid, b.tenant.id).state in (State.cancelled, State.refused)
    assert in_row(uid, b.tenant.id).reason_code == "cancelled"
    assert active_places(pair.member.national_id_hash) == [a.tenant.id]


@pytest.mark.parametrize(("step", "body"), [
    ("claim", {"attempt": "1", "claimed_at": "2026-06-01T08:00:00.000Z"}),
    ("claim", {"attempt": 1, "claimed_at": "yesterday"}),
    ("rejected", {"attempt": 1, "reason_code": "because", "reason": "x"}),
    ("rejected", {"attempt": 1, "reason_code": "refused"}),
    ("receipt", {"attempt": 0, "received_at": "2026-06-01T08:00:00.000Z"}),
    ("teleport", {"attempt": 1}),
])
def test_malformed_steps_are_invalid_input(pair: Pair, queue: Queue, clock: Clock, step: str,
                                           body: dict[str, Any]) -> None:
    uid = _start(pair, queue)
    with pytest.raises(InvalidInput):
        services.apply_step(db.session(), tenant_slug=pair.a.tenant.slug, uid=uid, step=step,
                            body=body, sender_node=carrier.this_node())
    db.session.rollback()


def test_a_malformed_letter_is_invalid_input(pair: Pair, queue: Queue, clock: Clock) -> None:
    _start(pair, queue)
    letter = queue.items.pop()
    for broken in ({**letter.body, "dossier": None},
                   {**letter.body, "identity_hash": "0" * 64},
                   {**letter.body, "valid_until": "soon"},
                   {**letter.body, "dossier": {**letter.body["dossier"], "national_id": "1"}}):
        with pytest.raises(InvalidInput):
            services.apply_step(db.session(), tenant_slug=pair.b.tenant.slug,
                                uid=letter.transfer.uid, step="letter", body=broken,
                                sender_node=carrier.this_node())
        db.session.rollback()


def test_steps_from_a_stranger_or_for_an_unknown_tenant(pair: Pair, queue: Queue,
                                                        clock: Clock) -> None:
    uid = _start(pair, queue)
    queue.drain()
    with pytest.raises(Forbidden):
        services.apply_step(db.session(), tenant_slug=pair.a.tenant.slug, uid=uid,
                            step="claim", body={"attempt": 1,
                                                "claimed_at": "2026-06-01T08:00:00.000Z"},
                            sender_node="node-elsewhere")
    db.session.rollback()
    with pytest.raises(NotFound):
        services.apply_step(db.session(), tenant_slug="no-such-tenant", uid=uid,
                            step="claim", body={}, sender_node=carrier.this_node())
    db.session.rollback()
    assert out_row(uid, pair.a.tenant.id).state == State.issued


def test_an_unknown_addressed_org_is_rejected_back(pair: Pair, queue: Queue,
                                                  clock: Clock) -> None:
    uid = _start(pair, queue)
    letter = queue.items.pop()
    body = {**letter.body, "to_org_code": pair.b.tenant.code_prefix + "777"}
    queue.run(lambda: services.apply_step(db.session(), tenant_slug=pair.b.tenant.slug,
                                          uid=uid, step="letter", body=body,
                                          sender_node=carrier.this_node()))
    queue.drain()
    out = out_row(uid, pair.a.tenant.id)
    assert (out.state, out.reason_code) == (State.rejected, "unknown_org")


def test_undeliverable_is_treated_like_a_rejection(pair: Pair, queue: Queue,
                                                  clock: Clock) -> None:
    uid = _start(pair, queue)
    queue.items.clear()
    queue.run(lambda: services.apply_step(
        db.session(), tenant_slug=pair.a.tenant.slug, uid=uid, step="undeliverable",
        body={"attempt": 1, "reason_code": "unreachable", "detail": "node down"},
        sender_node="hub"))
    out = out_row(uid, pair.a.tenant.id)
    assert (out.state, out.reason_code, out.reason_text) == (State.rejected, "unreachable",
                                                             "node down")


# --- the property -----------------------------------------------------------------------------

#: Weighted by repetition: deliveries and approvals are the common case.
ACTIONS = ("approve_out", "approve_out", "decline_out", "approve_in", "approve_in",
           "approve_in", "reject_in", "cancel", "resend", "resend", "reissue", "reissue", "void",
           "tick", "tick", "deliver", "deliver", "deliver", "deliver", "deliver", "duplicate",
           "duplicate")


@pytest.fixture()
def arena(world: Any, national_id: Callable[[int], str], clock: Clock) -> Any:
    a, b = build_side(world), build_side(world)
    return types.SimpleNamespace(a=a, b=b, world=world, national_id=national_id, n=[0])


def _act(action: str, n: int, arena: Any, queue: Queue, uid: str, clock: Clock) -> None:
    a, b = arena.a, arena.dest
    out = out_row(uid, a.tenant.id)
    incoming = in_row(uid, b.tenant.id)

    def on_a(fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        queue.run(lambda: _in(a, fn, *args, **kw))

    def on_b(fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
        queue.run(lambda: _in(b, fn, *args, **kw))

    if action == "approve_out":
        on_a(services.approve, a.admin, out.id)
    elif action == "decline_out" and n % 3 == 0:  # (rarer: it ends the transfer)
        on_a(services.reject, a.admin, out.id, reason="材料不全")
    elif action == "cancel" and n % 3 == 0:
        on_a(services.cancel, a.admin, out.id, reason="撤回")
    elif action == "resend":
        on_a(services.resend, a.admin, out.id,
             to_org_code=(b.committee if n % 2 else arena.other_branch).code)
    elif action == "reissue":
        on_a(services.reissue, a.admin, out.id)
    elif action == "void":
        on_a(services.void, a.admin, out.id, note="遗失")
    elif action == "approve_in" and incoming is not None:
        on_b(services.approve, b.admin, incoming.id,
             branch_id=arena.receiving.id if incoming.receiving_org_id is None else None)
    elif action == "reject_in" and incoming is not None and n % 2 == 0:
        on_b(services.reject, b.admin, incoming.id, reason="不符合条件")
    elif action == "tick":
        clock.advance(days=n % 45, hours=n % 7)
        queue.run(lambda: services.expire_due(clock.now))
    elif action == "deliver" and queue.items:
        queue.pop(n)
    elif action == "duplicate" and queue.items:
        queue.deliver(queue.items[n % len(queue.items)])


def _id(uid: str, side: Side_) -> int:
    row = out_row(uid, side.tenant.id)
    assert row is not None
    return row.id


def _terminal(arena: Any, uid: str, digest: str) -> None:
    a, b = arena.a, arena.dest
    out, incoming = out_row(uid, a.tenant.id), in_row(uid, b.tenant.id)
    assert out.state in FINAL[Side.out], out.state
    assert incoming is None or incoming.state in FINAL[Side.in_], incoming.state
    received = incoming is not None and incoming.state == State.received
    assert (out.state == State.closed) == received
    assert active_places(digest) == ([b.tenant.id] if received else [a.tenant.id])


def test_random_interleavings_keep_the_invariant(arena: Any, clock: Clock,
                                                 backend: str) -> None:
    """Random approvals, rejections, cancellations, corrections, voids, clock moves and
    duplicate or reordered deliveries: the invariant holds after every action, and once the
    queue drains (and the sender gives up on what is still open) both sides are terminal and
    agree. (Fewer examples on PostgreSQL: the property is the saga's, not the database's.)"""

    @settings(max_examples=80 if backend == "sqlite" else 15, deadline=None,
              derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(st.booleans(), st.sampled_from(["other tenant", "other tenant", "same tenant"]),
           st.lists(st.tuples(st.sampled_from(ACTIONS), st.integers(0, 10_000)), min_size=10,
                    max_size=45))
    def run(issued: bool, where: str, actions: list[tuple[str, int]]) -> None:
        if where == "same tenant":  # to the member's committee, received by the other branch
            arena.dest, arena.receiving = arena.a, arena.a.branch2
            arena.other_branch = arena.a.branch2
        else:
            arena.dest, arena.receiving, arena.other_branch = arena.b, arena.b.branch, \
                arena.b.branch2
        event(where)
        _example(arena, clock, issued, actions)

    run()


def _example(arena: Any, clock: Clock, issued: bool, actions: list[tuple[str, int]]) -> None:
    arena.n[0] += 1
    member = arena.world.member(arena.a.tenant, arena.a.branch, "full",
                                national_id=arena.national_id(1000 + arena.n[0]))
    queue = Queue()
    carrier.use(queue.hook)
    try:
        a = arena.a
        uid_holder: dict[str, str] = {}

        def apply() -> None:
            with tenant_context(a.tenant.id):
                uid_holder["uid"] = services.apply_transfer(
                    a.admin, member_id=member.id, to_tenant=arena.dest.tenant.slug,
                    to_org_code=arena.dest.committee.code, reason="随机").uid
                if issued:  # start from the letter half the time
                    services.approve(a.admin, _id(uid_holder["uid"], a))
                    services.approve(a.admin, _id(uid_holder["uid"], a))

        assert queue.run(apply)
        uid, digest = uid_holder["uid"], member.national_id_hash
        seen: set[str] = set()
        for action, n in actions:
            _act(action, n, arena, queue, uid, clock)
            check_invariant(uid, a.tenant.id, digest)
            incoming = in_row(uid, arena.dest.tenant.id)
            seen |= {f"out {out_row(uid, a.tenant.id).state.value}"} | (
                {f"in {incoming.state.value}"} if incoming is not None else set())
        queue.drain()
        check_invariant(uid, a.tenant.id, digest)
        # nobody acts any more: the issuing committee cancels what is still open
        out = out_row(uid, a.tenant.id)
        if out.state not in FINAL[Side.out]:
            assert out.state != State.received  # the receipt came back with the drain
            queue.run(lambda: _in(a, services.cancel, a.admin, out.id, reason="结束"))
            queue.drain()
        _terminal(arena, uid, digest)
        for state in seen:
            event(f"went through {state}")
    finally:
        carrier.use(None)


def test_expiry_time_is_exact(pair: Pair, queue: Queue, clock: Clock) -> None:
    uid = _start(pair, queue)
    valid_until = out_row(uid, pair.a.tenant.id).valid_until
    assert services.expire_due(valid_until) == services.Expired(0, 0)
    assert services.expire_due(valid_until + dt.timedelta(microseconds=1)).out == 1
    db.session.rollback()


def test_an_undeliverable_release_takes_the_member_back(pair: Pair, queue: Queue,
                                                      clock: Clock) -> None:
    """The hub could not route our `released` (the destination node was revoked): the
    destination never activates the member, so the origin must not leave them nowhere."""
    a, b = pair.a, pair.b
    uid = _start(pair, queue)
    queue.drain()
    incoming = _in_id(pair, uid)
    assert _b(queue, pair, services.approve, b.admin, incoming, branch_id=b.branch.id)
    assert _b(queue, pair, services.approve, b.admin, incoming)
    queue.pop(0)  # the claim: accepted, `released` queued
    assert out_row(uid, a.tenant.id).state == State.received
    assert active_places(pair.member.national_id_hash) == []
    queue.items.clear()  # ... and refused by the hub
    body = {"attempt": 1, "reason_code": "node_revoked", "detail": "revoked"}
    for _ in range(2):  # (twice: the second changes nothing)
        queue.run(lambda: services.apply_step(db.session(), tenant_slug=a.tenant.slug,
                                              uid=uid, step="undeliverable", body=body,
                                              sender_node="hub"))
    out = out_row(uid, a.tenant.id)
    assert (out.state, out.reason_code) == (State.rejected, "node_revoked")
    assert active_places(pair.member.national_id_hash) == [a.tenant.id]
    check_invariant(uid, a.tenant.id, pair.member.national_id_hash)


def test_the_committee_may_still_refuse_before_naming_a_branch(pair: Pair, queue: Queue,
                                                              clock: Clock) -> None:
    b = pair.b
    uid = _start(pair, queue)
    queue.drain()
    incoming = _in_id(pair, uid)
    committee = b.org_admin(b.committee)
    assert _b(queue, pair, services.approve, committee, incoming)
    with tenant_context(b.tenant.id):
        t = services.get_transfer(committee, incoming)
        assert services.may(committee, t) == {"assign", "reject"}
    assert not _b(queue, pair, services.reject, b.org_admin(b.branch), incoming, reason="x")
    assert _b(queue, pair, services.reject, committee, incoming, reason="无此党员信息")
    queue.drain()
    assert out_row(uid, pair.a.tenant.id).state == State.rejected


def _states(uid: str, pair: Pair) -> tuple[State, State | None]:
    incoming = in_row(uid, pair.b.tenant.id)
    return out_row(uid, pair.a.tenant.id).state, incoming.state if incoming else None


@pytest.mark.parametrize("scenario", ["rejected", "cancelled_while_claimed", "voided"])
def test_replaying_every_step_of_a_path_changes_nothing(pair: Pair, queue: Queue,
                                                       clock: Clock, scenario: str) -> None:
    """Each step delivered twice as it goes, then the whole history again: the same end."""
    a, b = pair.a, pair.b
    uid = _start(pair, queue)

    def twice() -> None:
        while queue.items:
            item = queue.items.pop(0)
            queue.deliver(item)
            queue.deliver(item)
            check_invariant(uid, a.tenant.id, pair.member.national_id_hash)

    twice()
    incoming = _in_id(pair, uid)
    out_id = out_row(uid, a.tenant.id).id
    if scenario == "rejected":
        assert _b(queue, pair, services.reject, b.admin, incoming, reason="查无此人")
        twice()
        assert _states(uid, pair) == (State.rejected, State.rejected)
    elif scenario == "cancelled_while_claimed":
        assert _b(queue, pair, services.approve, b.admin, incoming, branch_id=b.branch.id)
        assert _b(queue, pair, services.approve, b.admin, incoming)
        claim = queue.items.pop(0)
        assert queue.run(lambda: _in(a, services.cancel, a.admin, out_id))
        twice()  # the cancellation first
        queue.items.append(claim)
        twice()  # then the claim, refused
        assert _states(uid, pair) == (State.cancelled, State.cancelled)
    else:
        assert queue.run(lambda: _in(a, services.void, a.admin, out_id, note="遗失"))
        twice()
        assert _b(queue, pair, services.approve, b.admin, incoming, branch_id=b.branch.id)
        assert _b(queue, pair, services.approve, b.admin, incoming)
        twice()
        assert _states(uid, pair) == (State.closed, State.received)
    end, counts = _states(uid, pair), _event_counts(uid, pair)
    for item in list(queue.log):
        queue.deliver(item)
    queue.drain()
    assert _states(uid, pair) == end
    assert _event_counts(uid, pair) == counts
    check_invariant(uid, a.tenant.id, pair.member.national_id_hash)
