"""Transfer fixtures: two tenants of one node, each root > committee > two branches, a member
to transfer, principals for every role of the chains, a movable clock and an invariant check."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher

from node.auth.principal import Principal
from node.db import db
from node.grants.models import Role
from node.identity.services import GONE
from node.members.models import Member, Status
from node.tenants.scoping import all_tenants, tenant_context
from node.transfers import carrier, services
from node.transfers.models import Side, State, Transfer
from shared.web import passwords

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)


class Clock:
    """The saga's clock, moved by tests (`services.clock` reads it)."""

    def __init__(self, now: dt.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, **delta: float) -> dt.datetime:
        self.now += dt.timedelta(**delta)
        return self.now


@pytest.fixture()
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    c = Clock()
    monkeypatch.setattr(services, "clock", c)
    return c


@pytest.fixture(autouse=True)
def _cheap_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    """Accounts here never sign in with a password: cheap argon2 parameters save seconds."""
    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


@pytest.fixture(autouse=True)
def _default_carrier() -> Iterator[None]:
    carrier.use(None)
    yield
    carrier.use(None)


@dataclasses.dataclass
class Side_:
    tenant: Any
    root: Any
    committee: Any
    branch: Any
    branch2: Any
    account_id: int

    @property
    def admin(self) -> Principal:
        return Principal(account_id=self.account_id, tenant_id=self.tenant.id, username="root-admin",
                         grants=((Role.tenant_admin, self.tenant.code_prefix),))

    def org_admin(self, org: Any) -> Principal:
        return Principal(account_id=self.account_id, tenant_id=self.tenant.id, username=f"admin-{org.id}",
                         grants=((Role.org_admin, org.code),))

    def viewer(self, org: Any) -> Principal:
        return Principal(account_id=self.account_id, tenant_id=self.tenant.id, username=f"viewer-{org.id}",
                         grants=((Role.org_viewer, org.code),))

    def as_member(self, member: Any) -> Principal:
        return Principal(account_id=self.account_id, tenant_id=self.tenant.id, username="member",
                         member_id=member.id, grants=((Role.member, member.org_code),))

    def __call__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run a service in this tenant's context, committed like a request."""
        with tenant_context(self.tenant.id):
            try:
                result = fn(*args, **kwargs)
                db.session.commit()
            except Exception:
                db.session.rollback()
                raise
        return result


@dataclasses.dataclass
class Pair:
    a: Side_
    b: Side_
    member: Any
    national_id: str


def build_side(world: Any, prefix: str | None = None) -> Side_:
    tenant = world.tenant(prefix=prefix)
    root = world.root(tenant)
    committee = world.org(tenant, root, "committee", "街道党工委")
    branch = world.org(tenant, committee, "branch", "社区第一支部")
    branch2 = world.org(tenant, committee, "branch", "社区第二支部")
    account = world.account(tenant, username=f"clerk-{tenant.id}")
    return Side_(tenant, root, committee, branch, branch2, account.id)


@pytest.fixture()
def pair(world: Any, national_id: Callable[[int], str]) -> Pair:
    a, b = build_side(world), build_side(world)
    nid = national_id(1)
    member = world.member(a.tenant, a.branch, "full", name="张三", national_id=nid,
                          phone="13800000000", work_unit="某公司")
    return Pair(a, b, member, nid)


def out_row(uid: str, tenant_id: int) -> Transfer | None:
    with tenant_context(tenant_id):
        return db.session.scalar(sa.select(Transfer).where(Transfer.uid == uid,
                                                           Transfer.side == Side.out))


def in_row(uid: str, tenant_id: int) -> Transfer | None:
    with tenant_context(tenant_id):
        return db.session.scalar(sa.select(Transfer).where(Transfer.uid == uid,
                                                           Transfer.side == Side.in_))


def active_places(digest: str) -> list[int]:
    """Tenants where the person is on the rolls."""
    with all_tenants():
        rows = db.session.execute(sa.select(Member.tenant_id, Member.status)
                                  .where(Member.national_id_hash == digest)).all()
    return sorted(tenant for tenant, status in rows if Status(status) not in GONE)


def check_invariant(uid: str, origin_tenant_id: int, digest: str) -> None:
    """Never active in two places; active at the origin until its side is `received`."""
    db.session.expire_all()
    places = active_places(digest)
    assert len(places) <= 1, f"active in {places}"
    out = out_row(uid, origin_tenant_id)
    assert out is not None
    released = out.state in (State.received, State.closed)
    assert (origin_tenant_id in places) or released, (out.state, places)
    if out.state == State.closed:
        assert (places and places[0] != origin_tenant_id) or out.to_tenant == out.from_tenant
