"""Tenant isolation is enforced by the session, not by each query."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from node.members.models import Member
from node.orgs.models import Org
from node.tenants.scoping import TenantContextMissing, all_tenants, tenant_context


def test_queries_only_see_the_current_tenant(world, session):
    a, b = world.tenant(), world.tenant()
    world.member(a, world.root(a), name="甲")
    world.member(b, world.root(b), name="乙")
    with tenant_context(a.id):
        assert [m.name for m in session.scalars(sa.select(Member))] == ["甲"]
        assert {o.tenant_id for o in session.scalars(sa.select(Org))} == {a.id}
    with tenant_context(b.id):
        assert [m.name for m in session.scalars(sa.select(Member))] == ["乙"]
    with all_tenants():
        assert {m.name for m in session.scalars(sa.select(Member))} >= {"甲", "乙"}


def test_get_by_primary_key_of_another_tenant_is_none(world, session):
    a, b = world.tenant(), world.tenant()
    other = world.member(b, world.root(b))
    session.expunge_all()
    with tenant_context(a.id):
        assert session.get(Member, other.id) is None


def test_bulk_update_cannot_touch_another_tenant(world, session):
    a, b = world.tenant(), world.tenant()
    mine, theirs = world.member(a, world.root(a)), world.member(b, world.root(b))
    with tenant_context(a.id):
        session.execute(sa.update(Member).values(occupation="changed"))
    session.expunge_all()
    with all_tenants():
        assert session.get(Member, mine.id).occupation == "changed"
        assert session.get(Member, theirs.id).occupation is None


def test_tenant_query_without_context_fails_loudly(world, session):
    world.tenant()
    with pytest.raises(TenantContextMissing):
        session.scalars(sa.select(Member)).all()


def test_new_rows_are_stamped_and_cannot_target_another_tenant(world, session):
    a, b = world.tenant(), world.tenant()
    with tenant_context(a.id):
        org = Org(code=a.code_prefix + "999", kind="branch", name="x", parent_id=None)
        session.add(org)
        session.flush()
        assert org.tenant_id == a.id
        stray = Org(code=a.code_prefix + "998", kind="branch", name="y", tenant_id=b.id)
        session.add(stray)
        with pytest.raises(TenantContextMissing):
            session.flush()
