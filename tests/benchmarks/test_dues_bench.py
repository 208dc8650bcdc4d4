"""Dues at county scale on a fresh PostgreSQL database: a year of monthly lines for 100,000
members, and a month closed for 5,000 branches, with the time and the queries each issues.

Run with `make bench` (or only this file, see docs/performance.md "Dues"). The tree is 50
committees × 100 branches under a root (5,051 orgs), 20 members a branch, every member
assessed for the year. Each operation is timed next to a baseline in the same run, so the
ratio says what our code costs beyond the database's raw work:

- generating: `services.generate` (one INSERT ... SELECT of members × assessments × months,
  existing lines skipped, plus its bookkeeping) against the same 1.2 M rows inserted into a
  bare copy of the table (no keys, no indexes, no NOT EXISTS);
- closing: `services.close_month` for the root (every branch of the tenant, 80 % of the
  month's lines paid, a payment each) against the two GROUP BYs alone;
- the committee's totals: `services.month_totals` for the root.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import statistics
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from node import migrate
from node.app import create_app
from node.audit.recording import acting_as
from node.auth.principal import Principal
from node.db import db
from node.dues import services
from node.dues.models import DuesLine, DuesMonth
from node.grants.models import Role
from node.orgs.models import Org
from node.settings import NodeSettings
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from shared.db import transaction
from shared.db.session import make_engine
from shared.testing.backends import create_pg_database, drop_pg_database, postgres_reachable

pytestmark = pytest.mark.bench

COMMITTEES, BRANCHES_EACH, MEMBERS_EACH = 50, 100, 20  # 5,000 branches, 100,000 members
MEMBERS = COMMITTEES * BRANCHES_EACH * MEMBERS_EACH
YEAR = 2025
MONTH = dt.date(YEAR, 6, 1)
PREFIX = "500199"
#: The numbers of statements are part of the design (one INSERT ... SELECT, a few GROUP BYs):
#: asserted, so a query per branch or per member cannot slip in.
MAX_GENERATE_QUERIES, MAX_CLOSE_QUERIES, MAX_TOTALS_QUERIES = 8, 12, 4


@pytest.fixture(scope="module")
def bench_app() -> Iterator[tuple[Any, str]]:
    if not postgres_reachable():
        pytest.fail("the dues benchmark needs PostgreSQL at 127.0.0.1:5432")
    name = f"partynet_bench_dues_{secrets.token_hex(3)}"
    url = create_pg_database(name)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app(NodeSettings(
        database_url=url, secret_key=secrets.token_urlsafe(24),
        pii_key=base64.b64encode(os.urandom(32)).decode(),
        identity_hash_key=secrets.token_urlsafe(24)))
    try:
        yield app, url
    finally:
        db.dispose()
        drop_pg_database(name)


def _copy(raw: Any, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _populate() -> int:
    """The tenant, 5,051 orgs and 100,000 full members by COPY; every member assessed."""
    assert db.engine is not None
    now = dt.datetime.now(dt.UTC)
    with db.engine.begin() as conn:
        tenant = conn.execute(sa.insert(Tenant).returning(Tenant.id), {
            "slug": "bench-dues", "name": "Bench", "code_prefix": PREFIX, "rules": {},
            "next_member_seq": MEMBERS}).scalar_one()
    orgs: list[tuple[Any, ...]] = [(1, None, PREFIX, "committee", "root", 0, COMMITTEES)]
    branches = []
    for c in range(1, COMMITTEES + 1):
        committee_id, code = len(orgs) + 1, f"{PREFIX}{c:03d}"
        orgs.append((committee_id, 1, code, "committee", f"委员会{c}", 1, BRANCHES_EACH))
        for b in range(1, BRANCHES_EACH + 1):
            orgs.append((len(orgs) + 1, committee_id, f"{code}{b:03d}", "branch",
                         f"支部{c}-{b}", 2, 0))
            branches.append((len(orgs), f"{code}{b:03d}"))
    members = ((n, tenant, f"{PREFIX}{n:08d}", org_id, code, f"党员{n}", "male",
                dt.date(1970, 1, 1), "x" * 40, f"{n:064d}", "500***********0000", "full",
                "active", now, now)
               for n, (org_id, code) in enumerate(
                   (branch for branch in branches for _ in range(MEMBERS_EACH)), start=1))
    raw = db.engine.raw_connection()
    try:
        _copy(raw.driver_connection, "orgs",
              ["id", "parent_id", "code", "kind", "name", "depth", "next_child_seq",
               "tenant_id", "is_village_or_community", "created_at", "updated_at"],
              ((*row, tenant, False, now, now) for row in orgs))
        _copy(raw.driver_connection, "members",
              ["id", "tenant_id", "member_number", "org_id", "org_code", "name", "gender",
               "birth_date", "national_id_cipher", "national_id_hash", "national_id_masked",
               "stage", "status", "created_at", "updated_at"], members)
        raw.commit()
    finally:
        raw.close()
    with db.engine.begin() as conn:
        for table in ("orgs", "members"):
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT max(id) FROM {table}))")
        conn.exec_driver_sql(
            "INSERT INTO dues_assessments (tenant_id, member_id, year, category, base, "
            "monthly_amount, rule_version, org_code, assessed_at) SELECT tenant_id, id, "
            f"{YEAR}, 'salaried', 6000 + mod(id, 5000), round((6000 + mod(id, 5000)) * 0.015, 2), "
            "'cpc-2008', org_code, now() FROM members")
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    return tenant


class Counter:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, *_args: Any) -> None:
        self.n += 1


def _timed(fn: Any) -> tuple[float, int, Any]:
    """Seconds, statements issued, result."""
    counter = Counter()
    assert db.engine is not None
    sa.event.listen(db.engine, "before_cursor_execute", counter)
    try:
        started = time.perf_counter()
        result = fn()
        return time.perf_counter() - started, counter.n, result
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", counter)


def _baseline_insert(including: str = "DEFAULTS") -> float:
    """The same rows into a copy of the table: bare (the raw cost of writing 1.2 M rows), or
    `INCLUDING ALL` (its indexes and unique constraint too, but no foreign keys)."""
    assert db.engine is not None
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE bare_lines (LIKE dues_lines INCLUDING {including})")
        started = time.perf_counter()
        conn.exec_driver_sql(
            "INSERT INTO bare_lines (tenant_id, member_id, org_id, org_code, month, category, "
            "base, amount_due, rule_version, status) SELECT m.tenant_id, m.id, m.org_id, "
            "m.org_code, months.month, a.category, a.base, a.monthly_amount, a.rule_version, "
            "'unpaid' FROM members m JOIN dues_assessments a ON a.member_id = m.id "
            f"AND a.year = {YEAR} CROSS JOIN generate_series(date '{YEAR}-01-01', "
            f"date '{YEAR}-12-01', interval '1 month') AS months(month)")
        seconds = time.perf_counter() - started
        conn.exec_driver_sql("DROP TABLE bare_lines")
    return seconds


def _pay_most_of_the_month(tenant: int) -> None:
    """Setup for closing (not measured): 80 % of the month's lines paid, one payment each."""
    assert db.engine is not None
    paid_at = dt.datetime.combine(MONTH + dt.timedelta(days=9), dt.time(2), dt.UTC)
    with db.engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO dues_payments (tenant_id, kind, member_id, org_id, org_code, method, "
            "amount, paid_at) SELECT tenant_id, 'monthly', member_id, org_id, org_code, "
            "'cash', amount_due, %(paid_at)s FROM dues_lines WHERE month = %(month)s "
            "AND mod(member_id, 5) <> 0", {"paid_at": paid_at, "month": MONTH})
        conn.exec_driver_sql(
            "UPDATE dues_lines l SET status = 'paid', payment_id = p.id, paid_at = p.paid_at "
            "FROM dues_payments p WHERE p.member_id = l.member_id AND l.month = %(month)s",
            {"month": MONTH})
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE dues_lines")
        conn.exec_driver_sql("ANALYZE dues_payments")


def _baseline_close() -> float:
    """The two aggregations closing needs, alone (no reach, no rows written)."""
    assert db.engine is not None
    with db.engine.connect() as conn:
        started = time.perf_counter()
        conn.exec_driver_sql(
            "SELECT org_id, count(*), sum(amount_due) FILTER (WHERE status = 'paid') FROM "
            "dues_lines WHERE month = %(month)s GROUP BY org_id", {"month": MONTH}).all()
        conn.exec_driver_sql(
            "SELECT org_id, sum(amount) FROM dues_payments WHERE paid_at >= %(start)s AND "
            "paid_at < %(end)s GROUP BY org_id",
            {"start": services.month_start_utc(MONTH),
             "end": services.month_start_utc(services.add_months(MONTH, 1))}).all()
        return time.perf_counter() - started


def test_a_year_of_lines_for_100000_members_and_closing_5000_branches(bench_app: Any) -> None:
    app, _url = bench_app
    load = os.getloadavg()
    started = time.perf_counter()
    tenant_id = _populate()
    print(f"\nbuilt {MEMBERS:,} members in {1 + COMMITTEES * (1 + BRANCHES_EACH):,} orgs, "
          f"assessed, in {time.perf_counter() - started:.1f} s; load average {load[0]:.2f}")
    principal = Principal(account_id=0, tenant_id=tenant_id, username="bench",
                          grants=((Role.tenant_admin, PREFIX),))
    with app.app_context(), tenant_context(tenant_id), acting_as("bench"):
        tenant = db.session.get(Tenant, tenant_id)
        root = db.session.scalar(sa.select(Org).where(Org.code == PREFIX))
        baseline = statistics.median(_baseline_insert() for _ in range(2))
        indexed = statistics.median(_baseline_insert("ALL") for _ in range(2))

        def generate() -> services.Generated:
            with transaction(db):
                return services.generate(principal, root, tenant, year=YEAR)

        seconds, queries, done = _timed(generate)
        assert done.created == MEMBERS * 12 and done.unassessed == 0
        print(f"generate a year: {done.created:,} lines in {seconds:.1f} s "
              f"({done.created / seconds:,.0f} lines/s), {queries} queries; bare INSERT ... "
              f"SELECT {baseline:.1f} s (ratio {seconds / baseline:.2f}), the same with the "
              f"table's indexes {indexed:.1f} s (ratio {seconds / indexed:.2f})")
        assert queries <= MAX_GENERATE_QUERIES
        again_seconds, again_queries, again = _timed(generate)
        assert again.created == 0
        print(f"generate again (nothing to do): {again_seconds:.1f} s, {again_queries} queries")

        _pay_most_of_the_month(tenant_id)
        close_baseline = statistics.median(_baseline_close() for _ in range(3))

        def close() -> services.Closed:
            with transaction(db):
                return services.close_month(principal, root, month=MONTH,
                                            today=dt.date(YEAR, 12, 31))

        seconds, queries, closed = _timed(close)
        assert closed.closed == COMMITTEES * BRANCHES_EACH and closed.already == 0
        print(f"close a month: {closed.closed:,} branches in {seconds:.2f} s, {queries} "
              f"queries; the aggregations alone {close_baseline:.2f} s; ratio "
              f"{seconds / close_baseline:.2f}")
        assert queries <= MAX_CLOSE_QUERIES

        seconds, queries, totals = _timed(
            lambda: services.month_totals(principal, root, month=MONTH))
        assert totals.total.closed_branches == COMMITTEES * BRANCHES_EACH
        assert totals.total.figures["lines"] == MEMBERS
        assert totals.total.figures["paid_lines"] == MEMBERS * 4 // 5
        assert len(totals.children) == COMMITTEES
        assert totals.total.figures["paid_total"] == sum(
            (c.figures["paid_total"] for c in totals.children), Decimal("0"))
        print(f"totals of the root (5,000 closed branches by 50 committees): {seconds:.2f} s, "
              f"{queries} queries")
        assert queries <= MAX_TOTALS_QUERIES
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DuesMonth)) == \
            COMMITTEES * BRANCHES_EACH
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DuesLine)) == \
            MEMBERS * 12
    print(f"load average after: {os.getloadavg()[0]:.2f}")
