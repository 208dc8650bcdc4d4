"""Bulk member import: 100,000 rows into a tenant with 5,000 orgs on a fresh PostgreSQL database.

Run with `make bench`. Prints the rows/s and the split between checking and inserting; the
figures go into docs/performance.md ("Bulk import").
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import os
import resource
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from node import migrate
from node.app import create_app
from node.audit.models import AuditEntry
from node.audit.recording import acting_as
from node.db import db
from node.grants.models import Role
from node.imports.services import import_members
from node.members.models import Member, OrgChange, StageChange, StatusChange
from node.orgs.models import Org, OrgKind
from node.settings import NodeSettings
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from shared.codes import child_code
from shared.db import transaction, utcnow
from shared.db.session import make_engine
from shared.identity import normalize_national_id
from shared.testing.backends import create_pg_database, drop_pg_database, postgres_reachable

pytestmark = pytest.mark.bench

ROWS = 100_000
COMMITTEES, BRANCHES_EACH = 50, 99  # 50 + 50 * 99 = 5,000 orgs
MIN_ROWS_PER_SECOND = 5_000
PREFIX = "500104901"


@pytest.fixture(scope="module")
def bench_app() -> Iterator[Any]:
    if not postgres_reachable():
        pytest.fail("the import benchmark needs PostgreSQL at 127.0.0.1:5432")
    name = f"partynet_bench_import_{secrets.token_hex(3)}"
    url = create_pg_database(name)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    app = create_app(NodeSettings(
        database_url=url, secret_key=secrets.token_urlsafe(24),
        pii_key=base64.b64encode(os.urandom(32)).decode(),
        identity_hash_key=secrets.token_urlsafe(24)))
    try:
        yield app
    finally:
        db.dispose()
        drop_pg_database(name)


def _national_id(n: int) -> str:
    birth = (dt.date(1950, 1, 1) + dt.timedelta(days=n // 1000)).strftime("%Y%m%d")
    body = f"500104{birth}{n % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return normalize_national_id(body + check)


def _make_tenant_with_orgs() -> tuple[int, list[str]]:
    """The tenant through the service; its 5,000 orgs in bulk (setup, not measured)."""
    from node.tenants.services import create_tenant

    with acting_as("bench"), transaction(db):
        tenant = create_tenant(slug="bench", name="Bench", code_prefix=PREFIX,
                               admin_username="admin", admin_password="bench-password-1")
        return tenant.id, _make_orgs(tenant)


def _make_orgs(tenant: Tenant) -> list[str]:
    from node.tenants.services import root_org

    with tenant_context(tenant.id):
        root = root_org(tenant)
        now, orgs = utcnow(), Org.__table__
        common = {"tenant_id": tenant.id, "created_at": now, "updated_at": now,
                  "is_village_or_community": False, "next_child_seq": 0}
        committees = db.session.execute(
            sa.insert(orgs).returning(orgs.c.id, orgs.c.code, sort_by_parameter_order=True),
            [{**common, "parent_id": root.id, "code": child_code(root.code, i),
              "kind": OrgKind.committee, "name": f"委员会{i}", "depth": 1,
              "next_child_seq": BRANCHES_EACH} for i in range(1, COMMITTEES + 1)]).all()
        branches = [{**common, "parent_id": cid, "code": child_code(code, j),
                     "kind": OrgKind.branch, "name": f"支部{cid}-{j}", "depth": 2}
                    for cid, code in committees for j in range(1, BRANCHES_EACH + 1)]
        db.session.execute(sa.insert(orgs), branches)
        db.session.execute(sa.update(Org).where(Org.id == root.id)
                           .values(next_child_seq=COMMITTEES))
        return [b["code"] for b in branches]


def _write_csv(path: Path, branch_codes: list[str]) -> None:
    stages = ["applicant", "activist", "candidate", "probationary", "full"]
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["姓名", "身份证号", "组织编码", "发展阶段", "民族", "学历", "申请日期",
                         "入党日期", "转正日期", "手机", "邮箱", "地址", "工作单位", "职业"])
        for i in range(ROWS):
            stage = stages[i % 5]
            writer.writerow([
                f"党员{i}", _national_id(i), branch_codes[i % len(branch_codes)], stage, "汉族",
                "bachelor", "2010-03-01", "2012-07-01" if stage in ("probationary", "full") else "",
                "2013-07-01" if stage == "full" else "", f"138{i:08d}", f"m{i}@example.cn",
                f"重庆市大渡口区{i}号", "重庆钢铁集团", "工程师"])


def test_import_100k_rows(bench_app: Any, tmp_path: Path) -> None:
    tenant_id, branch_codes = _make_tenant_with_orgs()
    path = tmp_path / "members.csv"
    _write_csv(path, branch_codes)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tenant_context(tenant_id), acting_as("bench"):
        started = time.perf_counter()
        with transaction(db), path.open("rb") as stream:
            tenant = db.session.get(Tenant, tenant_id)
            assert tenant is not None
            principal = _operator(tenant)
            report = import_members(principal, tenant, stream, filename=path.name,
                                    max_errors=None)
            committing = time.perf_counter()
        finished = time.perf_counter()
        counts = {model.__name__: db.session.scalar(
            sa.select(sa.func.count()).select_from(model).where(model.tenant_id == tenant_id))
            for model in (Member, StageChange, StatusChange, OrgChange)}
        counts |= dict(db.session.execute(
            sa.select(AuditEntry.action, sa.func.count()).where(
                AuditEntry.tenant_id == tenant_id,
                AuditEntry.action.in_(["member.import", "members.import"]))
            .group_by(AuditEntry.action)).all())
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total = finished - started
    rate = ROWS / total
    print(f"\nbulk import: {ROWS:,} rows ({path.stat().st_size / 1e6:.1f} MB CSV), "
          f"{len(branch_codes) + COMMITTEES + 1:,} orgs, PostgreSQL")
    print(f"  check {report.validate_seconds:.2f}s, insert {report.insert_seconds:.2f}s, "
          f"commit {finished - committing:.2f}s, total {total:.2f}s -> {rate:,.0f} rows/s")
    print(f"  peak RSS {rss_before / 1024:.0f} MB before, {rss_after / 1024:.0f} MB after")
    assert report.error_rows == 0, report.errors[:5]
    assert report.created == ROWS
    assert counts == {"Member": ROWS, "StageChange": ROWS, "StatusChange": ROWS,
                      "OrgChange": ROWS, "member.import": ROWS, "members.import": 1}
    assert rate >= MIN_ROWS_PER_SECOND


def _operator(tenant: Tenant) -> Any:
    from node.auth.principal import Principal

    return Principal(account_id=0, tenant_id=tenant.id, username="bench",
                     grants=((Role.tenant_admin, tenant.code_prefix),))
