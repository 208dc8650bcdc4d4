"""Member numbers allocated concurrently, on PostgreSQL (SQLite serializes every writer).

`allocate_member_numbers` locks the tenant row FOR NO KEY UPDATE: allocations queue behind one
another, but inserts of rows referencing the tenant (their foreign-key check takes FOR KEY
SHARE on it) do not wait for them. FOR UPDATE conflicts with FOR KEY SHARE: two receptions that
had each inserted a row referencing the tenant and then allocated a number deadlocked.

These tests commit from several connections at once, so they run on the suite's PostgreSQL
database (never rolled back around them) in a tenant of their own, deleted afterwards.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from node.db import NodeModel, db
from node.members.models import Gender, Member, Stage, Status
from node.members.services import MEMBER_SEQ_WIDTH, allocate_member_numbers
from node.orgs.models import Org, OrgKind
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from node.transfers.models import Side, State, Transfer, TransferSerial

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

LOCK_NOT_AVAILABLE, DEADLOCK = "55P03", "40P01"
#: Long enough for any allocation to wait its turn; short enough never to hang the suite.
PATIENCE = "5s"


@pytest.fixture()
def place(app: Any, engine: sa.Engine) -> Iterator[tuple[int, str]]:
    """A tenant with its root org, committed; the session handle bound to the engine so each
    thread gets a connection of its own. Everything of the tenant is deleted afterwards."""
    previous = db.session.session_factory.kw.get("bind")
    db.configure(bind=engine)
    prefix = f"5099{secrets.randbelow(10 ** 5):05d}"
    with Session(engine) as session, all_tenants():
        tenant = Tenant(slug=f"numbers-{prefix}", name="编号并发测试", code_prefix=prefix)
        session.add(tenant)
        session.flush()
        session.add(Org(tenant_id=tenant.id, code=prefix, kind=OrgKind.committee,
                        name="测试党委"))
        session.commit()
        tenant_id = tenant.id
    try:
        yield tenant_id, prefix
    finally:
        db.session.remove()
        with engine.begin() as conn:
            for table in reversed(NodeModel.metadata.sorted_tables):
                if "tenant_id" in table.c:
                    conn.execute(table.delete().where(table.c.tenant_id == tenant_id))
            conn.execute(sa.delete(Tenant).where(Tenant.id == tenant_id))
        db.configure(bind=previous)


def _sqlstate(exc: BaseException) -> str | None:
    return getattr(getattr(exc, "orig", None), "sqlstate", None)


def _member(tenant_id: int, prefix: str, number: str, n: int) -> Member:
    org_id = db.session.scalar(sa.select(Org.id).where(Org.code == prefix))
    assert org_id is not None
    return Member(tenant_id=tenant_id, member_number=number, org_id=org_id, org_code=prefix,
                  name=f"党员{n}", gender=Gender.female, birth_date=dt.date(1990, 1, 1),
                  national_id_cipher="-", national_id_hash=f"{prefix}-{n}",
                  national_id_masked="5001**********0000", stage=Stage.full,
                  status=Status.active)


def _incoming(tenant_id: int, prefix: str, n: int) -> Transfer:
    """An in side as a letter leaves it before reception: a row referencing the tenant."""
    return Transfer(tenant_id=tenant_id, uid=f"{prefix}-{n}", side=Side.in_,
                    state=State.claimed, member_name=f"党员{n}", org_code=prefix,
                    from_node="elsewhere", from_tenant="elsewhere", from_org_code="500100",
                    from_org_name="原党组织", to_node="here", to_tenant=f"numbers-{prefix}",
                    to_org_code=prefix, to_org_name="测试党委", reason="工作调动",
                    identity_hash=f"{prefix}-{n}")


def _run(workers: list[Callable[[], None]]) -> list[BaseException]:
    errors: list[BaseException] = []

    def guarded(work: Callable[[], None]) -> None:
        try:
            work()
        except BaseException as exc:  # reported to the test
            errors.append(exc)
        finally:
            db.session.rollback()
            db.session.remove()

    threads = [threading.Thread(target=guarded, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert not any(thread.is_alive() for thread in threads), "a worker hung"
    return errors


def _reception(tenant_id: int, prefix: str, n: int, barrier: threading.Barrier,
               allocate: Callable[[Tenant], str]) -> Callable[[], None]:
    """A transfer received: its row written first (the foreign-key check locks the tenant FOR
    KEY SHARE), then a member number and the member, in one transaction."""
    def work() -> None:
        with tenant_context(tenant_id):
            db.session.execute(sa.text(f"SET LOCAL lock_timeout = '{PATIENCE}'"))
            db.session.add(_incoming(tenant_id, prefix, n))
            db.session.flush()
            barrier.wait(timeout=10)  # every worker now holds its foreign-key lock
            tenant = db.session.get(Tenant, tenant_id)
            assert tenant is not None
            db.session.add(_member(tenant_id, prefix, allocate(tenant), n))
            db.session.commit()
    return work


def _creation(tenant_id: int, prefix: str, n: int,
              barrier: threading.Barrier) -> Callable[[], None]:
    """A member created by a secretary: a number, then the member."""
    def work() -> None:
        with tenant_context(tenant_id):
            db.session.execute(sa.text(f"SET LOCAL lock_timeout = '{PATIENCE}'"))
            barrier.wait(timeout=10)
            tenant = db.session.get(Tenant, tenant_id)
            assert tenant is not None
            db.session.add(_member(tenant_id, prefix, allocate_member_numbers(tenant, 1)[0],
                                   n))
            db.session.commit()
    return work


def _new_mode(tenant: Tenant) -> str:
    return allocate_member_numbers(tenant, 1)[0]


def _old_mode(tenant: Tenant) -> str:
    """The allocation as it was: the tenant row locked FOR UPDATE."""
    db.session.refresh(tenant, with_for_update=True)
    tenant.next_member_seq += 1
    return f"{tenant.code_prefix}{tenant.next_member_seq:0{MEMBER_SEQ_WIDTH}d}"


def test_concurrent_allocations_are_distinct_and_consecutive(place: tuple[int, str],
                                                             engine: sa.Engine) -> None:
    tenant_id, prefix = place
    receptions, creations = 4, 4
    barrier = threading.Barrier(receptions + creations)
    errors = _run([_reception(tenant_id, prefix, n, barrier, _new_mode)
                   for n in range(receptions)]
                  + [_creation(tenant_id, prefix, receptions + n, barrier)
                     for n in range(creations)])
    assert errors == []  # no deadlock, no lock timeout
    with Session(engine) as session:
        numbers = session.scalars(sa.select(Member.member_number)
                                  .where(Member.tenant_id == tenant_id)).all()
        seq = session.scalar(sa.select(Tenant.next_member_seq).where(Tenant.id == tenant_id))
        received = session.scalar(sa.select(sa.func.count()).select_from(Transfer)
                                  .where(Transfer.tenant_id == tenant_id))
    total = receptions + creations
    assert seq == total and received == receptions
    assert sorted(numbers) == [f"{prefix}{n:0{MEMBER_SEQ_WIDTH}d}" for n in range(1, total + 1)]


def test_the_old_lock_deadlocked_two_receptions(place: tuple[int, str]) -> None:
    """The same two receptions: FOR UPDATE deadlocks (one is aborted), the lock in use does
    not."""
    tenant_id, prefix = place
    barrier = threading.Barrier(2)
    errors = _run([_reception(tenant_id, prefix, n, barrier, _old_mode) for n in (1, 2)])
    assert [_sqlstate(e) for e in errors] == [DEADLOCK]
    barrier = threading.Barrier(2)
    errors = _run([_reception(tenant_id, prefix, n, barrier, _new_mode) for n in (3, 4)])
    assert errors == []


def _insert_referencing_tenant(engine: sa.Engine, tenant_id: int, year: int) -> str | None:
    """On another connection, a row referencing the tenant, waiting at most 200 ms for a
    lock: None when it went in, else the SQLSTATE."""
    with engine.connect() as conn, conn.begin():
        conn.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
        try:
            conn.execute(sa.insert(TransferSerial).values(tenant_id=tenant_id, year=year,
                                                          last_seq=0))
        except sa.exc.OperationalError as exc:
            return _sqlstate(exc)
    return None


def _allocate_elsewhere(engine: sa.Engine, tenant_id: int) -> str | None:
    """On another connection, an allocation waiting at most 200 ms for its turn."""
    with engine.connect() as conn, conn.begin():
        conn.execute(sa.text("SET LOCAL lock_timeout = '200ms'"))
        try:
            conn.execute(sa.select(Tenant.id).where(Tenant.id == tenant_id)
                         .with_for_update(key_share=True))
        except sa.exc.OperationalError as exc:
            return _sqlstate(exc)
    return None


def test_for_update_blocks_foreign_keys_and_the_lock_in_use_does_not(
        place: tuple[int, str], engine: sa.Engine) -> None:
    tenant_id, _ = place
    with tenant_context(tenant_id):
        # the allocation in use holds its lock until this transaction ends ...
        tenant = db.session.get(Tenant, tenant_id)
        assert tenant is not None
        allocate_member_numbers(tenant, 1)
        # ... which lets others insert rows referencing the tenant, and queues allocations
        assert _insert_referencing_tenant(engine, tenant_id, 2001) is None
        assert _allocate_elsewhere(engine, tenant_id) == LOCK_NOT_AVAILABLE
        db.session.rollback()
        # FOR UPDATE (the old lock) blocks the same insert
        db.session.execute(sa.select(Tenant.id).where(Tenant.id == tenant_id)
                           .with_for_update())
        assert _insert_referencing_tenant(engine, tenant_id, 2002) == LOCK_NOT_AVAILABLE
        db.session.rollback()
