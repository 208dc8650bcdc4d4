"""Every path of the saga within one tenant and across two tenants of one node (the carrier
applies each step at once, in the same transaction)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa

from node.db import db
from node.members import services as members
from node.members.models import ActivityEntry, Member, OrgChange, StageChange, Status
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from node.transfers import services
from node.transfers.models import Side, State, Transfer, TransferEvent
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound

from .conftest import Clock, Pair, check_invariant, in_row, out_row


def _apply(pair: Pair, *, to: Any = None, by_member: bool = True, **kw: Any) -> Transfer:
    a, b = pair.a, to or pair.b
    principal = a.as_member(pair.member) if by_member else a.org_admin(a.branch)
    return a(services.apply_transfer, principal,
             member_id=None if by_member else pair.member.id, to_tenant=b.tenant.slug,
             to_org_code=kw.pop("to_org_code", b.committee.code),
             reason=kw.pop("reason", "工作调动"), **kw)


def _approve_out(pair: Pair, t: Transfer) -> Transfer:
    a = pair.a
    a(services.approve, a.org_admin(a.branch), t.id)
    return a(services.approve, a.org_admin(a.committee), t.id, note="同意")


def _receive(pair: Pair, uid: str, branch: Any = None) -> Transfer:
    b = pair.b
    t = in_row(uid, b.tenant.id)
    assert t is not None
    b(services.approve, b.org_admin(b.committee), t.id, branch_id=(branch or b.branch).id)
    return b(services.approve, b.org_admin(branch or b.branch), t.id)


def _digest(pair: Pair) -> str:
    return pair.member.national_id_hash


def test_the_whole_saga_across_two_tenants(pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    t = _apply(pair)
    assert (t.state, t.side, t.attempt) == (State.applied, Side.out, 0)
    check_invariant(t.uid, a.tenant.id, _digest(pair))
    # the sending chain: branch, then the committee, which issues the letter
    a(services.approve, a.org_admin(a.branch), t.id)
    assert out_row(t.uid, a.tenant.id).state == State.approving
    assert in_row(t.uid, b.tenant.id) is None
    t = a(services.approve, a.org_admin(a.committee), t.id)
    assert t.state == State.issued and t.attempt == 1
    assert t.serial == f"{a.tenant.code_prefix}-2026-000001"
    assert t.valid_until == clock.now + dt.timedelta(days=30)  # same city (5001)
    check_invariant(t.uid, a.tenant.id, _digest(pair))
    incoming = in_row(t.uid, b.tenant.id)
    assert incoming.state == State.delivered and incoming.serial == t.serial
    assert incoming.dossier_cipher and "张三" not in incoming.dossier_cipher
    # the receiving chain: the committee assigns a branch and approves, the branch claims
    clock.advance(days=3)
    b(services.approve, b.org_admin(b.committee), incoming.id, branch_id=b.branch.id)
    check_invariant(t.uid, a.tenant.id, _digest(pair))
    incoming = b(services.approve, b.org_admin(b.branch), incoming.id)
    assert incoming.state == State.received
    out = out_row(t.uid, a.tenant.id)
    assert out.state == State.closed  # claim, release and receipt, all local
    assert out.destination_member_number and out.destination_org_code == b.branch.code
    check_invariant(t.uid, a.tenant.id, _digest(pair))
    with all_tenants():
        origin = db.session.get(Member, pair.member.id)
        moved = db.session.get(Member, incoming.member_id)
    assert origin.status == Status.transferred_out
    assert moved.tenant_id == b.tenant.id and moved.status == Status.active
    assert moved.org_id == b.branch.id and moved.name == "张三" and moved.stage == "full"
    assert moved.phone == "13800000000" and moved.member_number.startswith(
        b.tenant.code_prefix)
    with tenant_context(b.tenant.id):
        stages = db.session.scalars(sa.select(StageChange).where(
            StageChange.member_id == moved.id)).all()
        history = db.session.scalars(sa.select(ActivityEntry).where(
            ActivityEntry.member_id == moved.id, ActivityEntry.kind == "org_history")).all()
        orgs = db.session.scalars(sa.select(OrgChange).where(
            OrgChange.member_id == moved.id)).all()
    assert [s.to_stage for s in stages] == ["full"]
    assert any(a.branch.code in h.title for h in history)
    assert orgs[-1].to_org_id == b.branch.id and t.serial in orgs[-1].reason
    with tenant_context(a.tenant.id):
        trail = [e.action for e in services.events(out)]
    assert trail == ["applied", "approved", "approved", "issued", "released", "closed"]
    with tenant_context(b.tenant.id):
        trail = [e.action for e in services.events(in_row(t.uid, b.tenant.id))]
    assert trail == ["letter_received", "branch_assigned", "approved", "approved", "claimed",
                     "received"]
    assert in_row(t.uid, b.tenant.id).dossier_cipher is None


def test_a_transfer_within_one_tenant_moves_the_member(pair: Pair, clock: Clock) -> None:
    a = pair.a
    t = _apply(pair, to=a, to_org_code=a.branch2.code)
    t = _approve_out(pair, t)
    incoming = in_row(t.uid, a.tenant.id)
    assert incoming.state == State.delivered and incoming.receiving_org_id == a.branch2.id
    a(services.approve, a.org_admin(a.branch2), incoming.id)
    assert out_row(t.uid, a.tenant.id).state == State.closed
    with tenant_context(a.tenant.id):
        member = db.session.get(Member, pair.member.id)
        db.session.refresh(member)
    assert member.status == Status.active and member.org_id == a.branch2.id
    check_invariant(t.uid, a.tenant.id, _digest(pair))


def test_the_secretary_applies_on_the_members_behalf(pair: Pair, clock: Clock) -> None:
    t = _apply(pair, by_member=False)
    with tenant_context(pair.a.tenant.id):
        (event,) = services.events(t)
    assert "on behalf" in event.note and event.actor == f"admin-{pair.a.branch.id}"


def test_applying_is_checked(pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    with pytest.raises(InvalidInput, match="unknown"):
        a(services.apply_transfer, a.as_member(pair.member), member_id=None,
          to_tenant="nowhere", to_org_code="500199", reason="x")
    with pytest.raises(InvalidInput, match="unknown"):
        a(services.apply_transfer, a.as_member(pair.member), member_id=None,
          to_tenant=b.tenant.slug, to_org_code=b.tenant.code_prefix + "999", reason="x")
    with pytest.raises(InvalidInput, match="reason"):
        _apply(pair, reason="  ")
    with pytest.raises(InvalidInput, match="scope"):  # another branch's secretary
        a(services.apply_transfer, a.org_admin(a.branch2), member_id=pair.member.id,
          to_tenant=b.tenant.slug, to_org_code=b.committee.code, reason="x")
    _apply(pair)
    with pytest.raises(Conflict, match="under way"):
        _apply(pair)


def test_approvals_need_the_org_of_the_step(pair: Pair, clock: Clock) -> None:
    a = pair.a
    t = _apply(pair)
    with pytest.raises(Forbidden):  # the committee's turn comes after the branch's
        a(services.approve, a.org_admin(a.branch2), t.id) if False else \
            a(services.approve, a.viewer(a.committee), t.id)
    with pytest.raises(NotFound):  # the other branch does not even see it
        a(services.approve, a.org_admin(a.branch2), t.id)
    with pytest.raises(NotFound):  # nor does another tenant
        pair.b(services.approve, pair.b.admin, t.id)
    # an administrator above may decide a lower step
    t = a(services.approve, a.org_admin(a.committee), t.id)
    assert t.state == State.approving
    with pytest.raises(Forbidden):
        a(services.approve, a.org_admin(a.branch), t.id)  # the committee's step now


def test_the_sending_chain_may_decline_with_a_reason(pair: Pair, clock: Clock) -> None:
    a = pair.a
    t = _apply(pair)
    with pytest.raises(InvalidInput, match="reason"):
        a(services.reject, a.org_admin(a.branch), t.id, reason=" ")
    t = a(services.reject, a.org_admin(a.branch), t.id, reason="手续不全")
    assert t.state == State.cancelled and t.reason_text == "手续不全"
    assert in_row(t.uid, pair.b.tenant.id) is None
    _apply(pair)  # the member may apply again


def test_rejection_goes_back_and_the_sender_corrects_and_resends(pair: Pair,
                                                                 clock: Clock) -> None:
    a, b = pair.a, pair.b
    t = _approve_out(pair, _apply(pair))
    incoming = in_row(t.uid, b.tenant.id)
    with pytest.raises(InvalidInput):
        b(services.reject, b.org_admin(b.committee), incoming.id, reason="")
    b(services.reject, b.org_admin(b.committee), incoming.id, reason="接收支部有误",
      reason_code="unknown_org")
    out = out_row(t.uid, a.tenant.id)
    assert (out.state, out.reason_code, out.reason_text) == (
        State.rejected, "unknown_org", "接收支部有误")
    assert in_row(t.uid, b.tenant.id).state == State.rejected
    with pytest.raises(Forbidden):  # the issuing committee corrects, not the branch
        a(services.resend, a.org_admin(a.branch), out.id)
    out = a(services.resend, a.org_admin(a.committee), out.id, to_org_code=b.branch2.code)
    assert (out.state, out.attempt, out.serial) == (State.issued, 2, t.serial)
    incoming = in_row(t.uid, b.tenant.id)
    assert (incoming.state, incoming.attempt) == (State.delivered, 2)
    assert incoming.receiving_org_id == b.branch2.id  # addressed to a branch directly
    b(services.approve, b.org_admin(b.branch2), incoming.id)
    assert out_row(t.uid, a.tenant.id).state == State.closed
    check_invariant(t.uid, a.tenant.id, _digest(pair))


def test_cancellation_before_reception(pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    t = _approve_out(pair, _apply(pair))
    with pytest.raises(Forbidden):  # once issued, the member no longer cancels alone
        a(services.cancel, a.as_member(pair.member), t.id)
    t = a(services.cancel, a.org_admin(a.committee), t.id, reason="本人撤回")
    assert t.state == State.cancelled
    assert in_row(t.uid, b.tenant.id).state == State.cancelled
    check_invariant(t.uid, a.tenant.id, _digest(pair))
    with pytest.raises(Conflict):
        a(services.cancel, a.org_admin(a.committee), t.id)


def test_the_member_cancels_their_own_application(pair: Pair, clock: Clock) -> None:
    t = _apply(pair)
    t = pair.a(services.cancel, pair.a.as_member(pair.member), t.id)
    assert t.state == State.cancelled


def test_no_cancellation_after_reception(pair: Pair, clock: Clock) -> None:
    a = pair.a
    t = _approve_out(pair, _apply(pair))
    _receive(pair, t.uid)
    with pytest.raises(Conflict):
        a(services.cancel, a.org_admin(a.committee), t.id)


def test_expiry_then_reissue(pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    t = _approve_out(pair, _apply(pair))
    clock.advance(days=31)
    assert services.expire_due(clock.now) == services.Expired(out=1, in_=1)
    db.session.commit()
    assert services.expire_due(clock.now) == services.Expired(out=0, in_=0)
    out, incoming = out_row(t.uid, a.tenant.id), in_row(t.uid, b.tenant.id)
    assert out.state == incoming.state == State.expired
    with pytest.raises(Conflict):
        b(services.approve, b.org_admin(b.committee), incoming.id, branch_id=b.branch.id)
    out = a(services.reissue, a.org_admin(a.committee), out.id)
    assert (out.state, out.attempt) == (State.issued, 2)
    assert out.valid_until == clock.now + dt.timedelta(days=30)
    _receive(pair, t.uid)
    assert out_row(t.uid, a.tenant.id).state == State.closed
    check_invariant(t.uid, a.tenant.id, _digest(pair))


def test_a_claim_just_before_and_just_after_the_validity(pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    t = _approve_out(pair, _apply(pair))
    incoming = in_row(t.uid, b.tenant.id)
    b(services.approve, b.org_admin(b.committee), incoming.id, branch_id=b.branch.id)
    clock.now = t.valid_until + dt.timedelta(seconds=1)
    with pytest.raises(Conflict, match="expired"):  # the destination's own clock
        b(services.approve, b.org_admin(b.branch), incoming.id)
    assert in_row(t.uid, b.tenant.id).state == State.approving
    clock.now = t.valid_until
    b(services.approve, b.org_admin(b.branch), incoming.id)
    assert out_row(t.uid, a.tenant.id).state == State.closed
    check_invariant(t.uid, a.tenant.id, _digest(pair))


def test_origin_expired_before_the_claim_arrives_still_accepts_a_timely_claim(
        pair: Pair, clock: Clock) -> None:
    a = pair.a
    t = _approve_out(pair, _apply(pair))
    claimed_at = t.valid_until - dt.timedelta(minutes=5)
    clock.now = t.valid_until + dt.timedelta(hours=1)
    with tenant_context(a.tenant.id):
        services.expire_due(clock.now)
        db.session.commit()
    assert out_row(t.uid, a.tenant.id).state == State.expired
    body = {"attempt": 1, "claimed_at": services.format_time(claimed_at)}
    services.apply_step(db.session(), tenant_slug=a.tenant.slug, uid=t.uid, step="claim",
                        body=body, sender_node="node-local")
    db.session.commit()
    out = out_row(t.uid, a.tenant.id)
    assert out.state == State.closed
    check_invariant(t.uid, a.tenant.id, _digest(pair))


def test_a_late_claim_is_refused(pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    t = _approve_out(pair, _apply(pair))
    incoming = in_row(t.uid, b.tenant.id)
    b(services.approve, b.org_admin(b.committee), incoming.id, branch_id=b.branch.id)
    with tenant_context(b.tenant.id):  # pretend the destination claimed late
        incoming = in_row(t.uid, b.tenant.id)
        incoming.state = State.claimed
        db.session.commit()
    late = services.format_time(t.valid_until + dt.timedelta(seconds=1))
    services.apply_step(db.session(), tenant_slug=a.tenant.slug, uid=t.uid, step="claim",
                        body={"attempt": 1, "claimed_at": late}, sender_node="node-local")
    db.session.commit()
    assert out_row(t.uid, a.tenant.id).state == State.issued
    assert in_row(t.uid, b.tenant.id).state == State.refused
    assert in_row(t.uid, b.tenant.id).reason_code == "expired"
    check_invariant(t.uid, a.tenant.id, _digest(pair))


def test_a_lost_letter_is_voided_and_reissued(pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    t = _approve_out(pair, _apply(pair))
    first = t.serial
    with pytest.raises(InvalidInput):
        a(services.void, a.org_admin(a.committee), t.id, note="")
    t = a(services.void, a.org_admin(a.committee), t.id, note="信件遗失")
    assert t.attempt == 2 and t.serial != first and t.serial.endswith("000002")
    assert in_row(t.uid, b.tenant.id).attempt == 2
    # a claim of the lost letter is refused as void
    services.apply_step(db.session(), tenant_slug=a.tenant.slug, uid=t.uid, step="claim",
                        body={"attempt": 1, "claimed_at": services.format_time(clock.now)},
                        sender_node="node-local")
    assert out_row(t.uid, a.tenant.id).state == State.issued
    _receive(pair, t.uid)
    assert out_row(t.uid, a.tenant.id).state == State.closed


def test_the_destination_refuses_someone_already_on_its_rolls(pair: Pair, world: Any,
                                                              clock: Clock) -> None:
    a, b = pair.a, pair.b
    with all_tenants():  # the same person already registered at B, active
        world.member(b.tenant, b.branch, "full", national_id=pair.national_id)
    t = _approve_out(pair, _apply(pair))
    out = out_row(t.uid, a.tenant.id)
    assert (out.state, out.reason_code) == (State.rejected, "already_active")
    assert in_row(t.uid, b.tenant.id).state == State.rejected
    with all_tenants():
        assert db.session.get(Member, pair.member.id).status == Status.active


def test_a_member_coming_back_is_reactivated(pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    t = _approve_out(pair, _apply(pair))
    received = _receive(pair, t.uid)
    back = b(services.apply_transfer, b.org_admin(b.branch), member_id=received.member_id,
             to_tenant=a.tenant.slug, to_org_code=a.branch2.code, reason="返回原籍")
    b(services.approve, b.org_admin(b.committee), back.id)  # for the branch
    b(services.approve, b.org_admin(b.committee), back.id)  # and its own
    incoming = in_row(back.uid, a.tenant.id)
    a(services.approve, a.org_admin(a.branch2), incoming.id)
    with all_tenants():
        original = db.session.get(Member, pair.member.id)
        db.session.refresh(original)
    assert original.status == Status.active and original.org_id == a.branch2.id
    assert active_count(pair) == 1


def active_count(pair: Pair) -> int:
    from .conftest import active_places
    return len(active_places(pair.member.national_id_hash))


def test_the_transferred_out_member_is_read_only(pair: Pair, clock: Clock) -> None:
    a = pair.a
    t = _approve_out(pair, _apply(pair))
    _receive(pair, t.uid)
    with tenant_context(a.tenant.id):
        member = db.session.get(Member, pair.member.id)
        for call in (lambda: members.update_member(a.admin, member, {"phone": "1"}),
                     lambda: members.update_self_declared(member, {"phone": "1"}),
                     lambda: members.change_stage(a.admin, member, to_stage="full",
                                                  effective_on=dt.date(2026, 6, 1)),
                     lambda: members.move_member(a.admin, member, to_org_id=a.branch2.id,
                                                 effective_on=dt.date(2026, 6, 1))):
            with pytest.raises(Conflict, match="read-only"):
                call()
        db.session.rollback()


def test_automatic_approvals_run_both_chains(pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    b(lambda: services.set_transfer_rules(b.admin, db.session.get(Tenant, b.tenant.id),
                                          auto_approve=True))
    t = _apply(pair, to_org_code=b.branch.code, auto_approve=True)
    assert out_row(t.uid, a.tenant.id).state == State.closed
    assert in_row(t.uid, b.tenant.id).state == State.received
    check_invariant(t.uid, a.tenant.id, _digest(pair))
    with tenant_context(a.tenant.id):
        actors = {e.actor for e in db.session.scalars(sa.select(TransferEvent).where(
            TransferEvent.action == "approved"))}
    assert actors == {"auto"}


def test_validity_rules() -> None:
    class T:
        def __init__(self, prefix: str, rules: dict[str, int]) -> None:
            self.region_code, self.rules = prefix, rules

    assert services.validity(T("500104", {}), "500107") == dt.timedelta(days=30)
    assert services.validity(T("500104", {}), "340705") == dt.timedelta(days=90)
    assert services.validity(T("500104", {"transfer_validity_days": 10}), "340705") == \
        dt.timedelta(days=10)
    assert services.validity(T("500104", {"transfer_validity_days": 60}), "500107") == \
        dt.timedelta(days=30)


def test_lists_and_reach(pair: Pair, clock: Clock) -> None:
    a, b = pair.a, pair.b
    t = _approve_out(pair, _apply(pair))
    incoming = in_row(t.uid, b.tenant.id)
    flt = services.TransferFilter
    with tenant_context(a.tenant.id):
        assert [x.id for x in services.list_transfers(a.viewer(a.branch), flt())] == [t.id]
        assert services.list_transfers(a.viewer(a.branch2), flt()) == []
        assert [x.id for x in services.list_transfers(a.as_member(pair.member), flt())] \
            == [t.id]
        assert services.list_transfers(a.admin, flt(side=Side.in_)) == []
    with tenant_context(b.tenant.id):
        admin = b.org_admin(b.committee)
        assert [x.id for x in services.list_transfers(admin, flt(actionable=True))] == \
            [incoming.id]
        assert services.list_transfers(b.org_admin(b.branch), flt()) == []
        assert services.list_transfers(admin, flt(overdue=True)) == []
        assert [x.id for x in services.list_transfers(
            admin, flt(overdue=True), now=clock.now + dt.timedelta(days=31))] == [incoming.id]
        view = services.transfer_view(admin, services.get_transfer(admin, incoming.id))
        assert view.actions == {"approve", "reject", "assign"}
    with tenant_context(a.tenant.id), pytest.raises(NotFound):
        services.get_transfer(a.admin, incoming.id)  # another tenant's side


def test_saving_the_tenant_settings_keeps_the_transfer_rules(pair: Pair) -> None:
    from node.tenants.services import update_tenant_settings

    b = pair.b

    def save() -> None:
        tenant = db.session.get(Tenant, b.tenant.id)
        services.set_transfer_rules(b.admin, tenant, validity_days=15, auto_approve=True)
        update_tenant_settings(b.admin, tenant, name="新名称", brand_color=None,
                               logo_text=None, rules={"inactivity_months": 4})

    b(save)
    with all_tenants():
        tenant = db.session.get(Tenant, b.tenant.id)
        db.session.refresh(tenant)
    assert services.tenant_rule(tenant, "transfer_validity_days") == 15
    assert services.tenant_rule(tenant, "transfer_auto_approve") == 1
    assert tenant.rule("inactivity_months") == 4
    with pytest.raises(Forbidden):
        b(lambda: services.set_transfer_rules(b.org_admin(b.committee),
                                              db.session.get(Tenant, b.tenant.id),
                                              validity_days=5))
    with pytest.raises(InvalidInput):
        b(lambda: services.set_transfer_rules(b.admin, db.session.get(Tenant, b.tenant.id),
                                              validity_days=93))


def test_a_person_active_in_a_third_tenant_is_refused(pair: Pair, world: Any,
                                                     clock: Clock) -> None:
    """Registered twice on this node (the hub flags it): the destination will not take a
    second registration of someone on the rolls elsewhere."""
    from .conftest import build_side

    c = build_side(world)
    world.member(c.tenant, c.branch, "full", national_id=pair.national_id)
    t = _approve_out(pair, _apply(pair))
    out = out_row(t.uid, pair.a.tenant.id)
    assert (out.state, out.reason_code) == (State.rejected, "already_active")
    assert sorted(active_count_places(pair)) == sorted([pair.a.tenant.id, c.tenant.id])


def active_count_places(pair: Pair) -> list[int]:
    from .conftest import active_places
    return active_places(pair.member.national_id_hash)


def test_a_floating_certificate_ends_when_the_member_transfers_out(
        pair: Pair, clock: Clock, world: Any) -> None:
    """Away on a floating certificate with a third tenant's branch, the member transfers to
    another tenant: the certificate rested on the old relationship and ends with it, on both
    sides (reason `transferred`); the member is transferred out, not set back to active."""
    from node.floating import services as floating
    from node.floating.models import EndReason, FloatingCertificate, FloatingSide, FloatingStatus

    from .conftest import build_side

    a, host = pair.a, build_side(world)
    today = floating.local_today()
    cert = a(floating.issue_certificate, a.org_admin(a.branch), a.tenant, {
        "member_id": pair.member.id, "starts_on": today, "until": today + dt.timedelta(days=90),
        "reason": "外出务工", "host_tenant": host.tenant.slug, "host_org_code": host.branch.code})
    with tenant_context(host.tenant.id):
        hosted = db.session.scalars(sa.select(FloatingCertificate).where(
            FloatingCertificate.uid == cert.uid)).one()
    host(floating.accept_certificate, host.org_admin(host.branch), hosted)
    with all_tenants():
        assert db.session.get(Member, pair.member.id).status == Status.floating
    t = _approve_out(pair, _apply(pair))
    _receive(pair, t.uid)
    assert out_row(t.uid, a.tenant.id).state == State.closed
    with all_tenants():
        sides = {c.side: c for c in db.session.scalars(sa.select(FloatingCertificate).where(
            FloatingCertificate.uid == cert.uid))}
        assert db.session.get(Member, pair.member.id).status == Status.transferred_out
    assert {side: (c.status, c.end_reason) for side, c in sides.items()} == {
        FloatingSide.home: (FloatingStatus.ended, EndReason.transferred),
        FloatingSide.host: (FloatingStatus.ended, EndReason.transferred)}
