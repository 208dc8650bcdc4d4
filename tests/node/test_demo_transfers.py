"""The demo's transfers: seeded once between the demo tenants of a node, in the states the
pages show (done, waiting in a secretary's inbox, waiting at the receiving committee), the
invariant holding; the cross-node letters wait for the hub's directory."""

from __future__ import annotations

import sqlalchemy as sa

from node import demo
from node.db import db
from node.members.models import Member, Status
from node.orgs.models import Org
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from node.transfers.models import Side, State, Transfer


def _tenant(slug: str) -> Tenant:
    with all_tenants():
        return db.session.scalars(sa.select(Tenant).where(Tenant.slug == slug)).one()


def _transfers() -> list[Transfer]:
    with all_tenants():
        return list(db.session.scalars(sa.select(Transfer).order_by(Transfer.id)))


def test_demo_transfers_between_the_tenants_of_a_node(session):
    demo.seed(scale=0.2)
    dadukou, jiulongpo = _tenant("dadukou"), _tenant("jiulongpo")
    # The codes other nodes address are the codes the seeding gave.
    for spec, tenant in ((demo.DADUKOU, dadukou), (demo.JIULONGPO, jiulongpo)):
        with tenant_context(tenant.id):
            for key in (spec.branch_key, spec.committee_key):
                assert db.session.scalar(sa.select(Org.id).where(
                    Org.code == demo._demo_code(spec, key))) is not None, key

    demo.seed_transfers()
    rows = _transfers()
    assert all(t.reason.endswith(demo.TRANSFER_REASON_MARK) for t in rows)
    outs = {t.uid: t for t in rows if t.side == Side.out}
    ins = {t.uid: t for t in rows if t.side == Side.in_}
    by_route = sorted((t.from_tenant, t.to_tenant, t.state.value,
                       ins[t.uid].state.value if t.uid in ins else None)
                      for t in outs.values())
    assert by_route == [
        ("dadukou", "dadukou", "applied", None),  # the secretary's inbox: approve first
        ("dadukou", "dadukou", "closed", "received"),
        ("dadukou", "jiulongpo", "closed", "received"),  # 九龙坡区 approves automatically
        ("jiulongpo", "dadukou", "issued", "delivered"),  # the receiving committee's turn
    ]
    waiting = next(t for t in outs.values() if t.state == State.applied)
    with tenant_context(dadukou.id):
        secretary_branch = db.session.scalar(sa.select(Org).where(
            Org.code == demo._demo_code(demo.DADUKOU, demo.DADUKOU.branch_key)))
    assert waiting.org_code == secretary_branch.code
    delivered = next(t for t in ins.values() if t.state == State.delivered)
    assert delivered.org_code == demo._demo_code(demo.DADUKOU, demo.DADUKOU.committee_key)

    # The invariant: each person active in exactly one place.
    with all_tenants():
        for t in outs.values():
            places = db.session.execute(sa.select(Member.tenant_id, Member.status).where(
                Member.national_id_hash == t.identity_hash)).all()
            active = [tenant for tenant, status in places if status == Status.active]
            assert len(active) == 1, (t, places)
            if t.state == State.closed and t.to_tenant != t.from_tenant:
                assert (t.tenant_id, Status.transferred_out) in places

    # Once: a later run changes nothing; letters to the other node wait for its directory.
    demo.seed_transfers()
    assert len(_transfers()) == len(rows)
    assert demo.seed_cross_node_transfers() == 0
    assert len(_transfers()) == len(rows)
