"""Member listing over real HTTP: 100,000 members in 5,000 orgs on a fresh PostgreSQL database.

Run with `make bench`. The app runs under gunicorn (2 sync workers) in a subprocess; a
`requests.Session` times GET /api/version (the baseline: routing, WSGI, JSON, no database) and
GET /api/members?org_id=<committee>&stage=full&limit=50 with an org_admin token of that
committee, interleaved, varying the committee and the page cursor. The figures go into
docs/performance.md ("Member listing").
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import hashlib
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from node import migrate
from node.accounts.models import Account
from node.auth.models import Token, token_digest
from node.grants.models import Grant, Role
from node.tenants.models import Tenant
from shared.db.session import make_engine
from shared.testing.backends import fresh_pg_database
from shared.web.pagination import encode_cursor

pytestmark = pytest.mark.bench

REPO = Path(__file__).resolve().parents[2]
MEMBERS = 100_000
COMMITTEES, BRANCHES_EACH = 50, 99  # 50 + 50 * 99 = 5,000 orgs under the root
PREFIX = "500105"  # a 6-digit root prefix (GB/T 2260 region)
WARMUP, SAMPLES = 50, 400
MAX_RATIO, MAX_P95_MS = 3.0, 50.0
STAGES = ("full",) * 6 + ("probationary", "candidate", "activist", "applicant")


@dataclasses.dataclass(frozen=True)
class World:
    committees: list[int]
    tokens: dict[int, str]  # committee id -> org_admin bearer token
    full_members: dict[int, list[tuple[str, int]]]  # committee id -> (org code, id) of full members


def _copy(raw: Any, table: str, columns: list[str], rows: Iterator[tuple[Any, ...]]) -> None:
    with raw.cursor() as cursor, cursor.copy(
            f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def populate(engine: sa.Engine) -> World:
    """Bulk-load the tree and the members with COPY; accounts, grants, tokens with Core."""
    rng = random.Random(20261121)
    now = dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        tenant = conn.execute(sa.insert(Tenant).returning(Tenant.id), {
            "slug": "bench-list", "name": "Bench", "code_prefix": PREFIX, "rules": {},
            "next_member_seq": MEMBERS}).scalar_one()
    orgs: list[tuple[Any, ...]] = [(1, None, PREFIX, "committee", "root", 0, COMMITTEES)]
    branches: list[tuple[int, str, int]] = []  # (id, code, committee id)
    for c in range(1, COMMITTEES + 1):
        committee_id, code = len(orgs) + 1, f"{PREFIX}{c:03d}"
        orgs.append((committee_id, 1, code, "committee", f"委员会{c}", 1, BRANCHES_EACH))
        for b in range(1, BRANCHES_EACH + 1):
            orgs.append((len(orgs) + 1, committee_id, f"{code}{b:03d}", "branch",
                         f"支部{c}-{b}", 2, 0))
            branches.append((len(orgs), f"{code}{b:03d}", committee_id))
    # Members registered over time across the tree: ids are not clustered by org.
    placement = [branches[i % len(branches)] for i in range(MEMBERS)]
    rng.shuffle(placement)
    full: dict[int, list[tuple[str, int]]] = {}
    member_rows = []
    for member_id, (org_id, code, committee) in enumerate(placement, start=1):
        stage = rng.choice(STAGES)
        if stage == "full":
            full.setdefault(committee, []).append((code, member_id))
        digest = hashlib.sha256(f"bench-{member_id}".encode()).hexdigest()
        member_rows.append((
            member_id, tenant, f"{PREFIX}{member_id:08d}", org_id, code, f"党员{member_id}",
            rng.choice(("male", "female")), dt.date(1950, 1, 1) + dt.timedelta(days=member_id % 20000),
            digest[:96], digest, f"500105********{member_id % 10000:04d}", stage, "active",
            now, now))
    raw = engine.raw_connection()
    try:
        _copy(raw.driver_connection, "orgs",
              ["id", "parent_id", "code", "kind", "name", "depth", "next_child_seq",
               "tenant_id", "is_village_or_community", "created_at", "updated_at"],
              ((*row, tenant, False, now, now) for row in orgs))
        _copy(raw.driver_connection, "members",
              ["id", "tenant_id", "member_number", "org_id", "org_code", "name", "gender",
               "birth_date", "national_id_cipher", "national_id_hash", "national_id_masked",
               "stage", "status", "created_at", "updated_at"], iter(member_rows))
        raw.commit()
    finally:
        raw.close()
    committees = [row[0] for row in orgs if row[3] == "committee" and row[1] == 1]
    tokens: dict[int, str] = {}
    with engine.begin() as conn:
        for table in ("orgs", "members"):
            conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                 f"(SELECT max(id) FROM {table}))")
        for committee in committees:
            account = conn.execute(sa.insert(Account).returning(Account.id), {
                "tenant_id": tenant, "username": f"admin{committee}",
                "display_name": f"Committee {committee}"}).scalar_one()
            conn.execute(sa.insert(Grant), {"tenant_id": tenant, "account_id": account,
                                            "role": Role.org_admin, "org_id": committee,
                                            "org_code": orgs[committee - 1][2]})
            tokens[committee] = secrets.token_urlsafe(32)
            conn.execute(sa.insert(Token), {
                "access_token_hash": token_digest(tokens[committee]), "tenant_id": tenant,
                "account_id": account, "scope": "read write",
                "expires_at": now + dt.timedelta(hours=6)})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("ANALYZE")
    return World(committees, tokens, full)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    with fresh_pg_database("partynet_bench_list", required=True) as url:
        yield url


@pytest.fixture(scope="module")
def world(database: str) -> World:
    engine = make_engine(database)
    started = time.perf_counter()
    migrate.upgrade(engine)
    world = populate(engine)
    engine.dispose()
    print(f"\nbuilt {MEMBERS:,} members in {1 + COMMITTEES * (1 + BRANCHES_EACH):,} orgs "
          f"in {time.perf_counter() - started:.1f} s")
    return world


@pytest.fixture(scope="module")
def server(database: str, world: World) -> Iterator[str]:
    """gunicorn, 2 sync workers, on a free port; stopped (by its pid) afterwards."""
    port = _free_port()
    env = {**os.environ, "NODE_DATABASE_URL": database,
           "NODE_SECRET_KEY": secrets.token_urlsafe(24),
           "NODE_PII_KEY": base64.b64encode(os.urandom(32)).decode(),
           "NODE_IDENTITY_HASH_KEY": secrets.token_urlsafe(24)}
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "gunicorn"), "--workers", "2",
         "--worker-class", "sync", "--bind", f"127.0.0.1:{port}", "node.app:create_app()"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{base}/readyz", timeout=5).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert process.poll() is None, process.stderr.read().decode()[-2000:]  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "gunicorn did not become ready"
            time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)


def _ms(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples) * 1000, cuts[94] * 1000


def test_member_list_costs_at_most_three_baselines(server: str, world: World) -> None:
    rng = random.Random(7)
    session = requests.Session()

    def list_request() -> tuple[str, dict[str, str], dict[str, str]]:
        committee = rng.choice(world.committees)
        params = {"org_id": str(committee), "stage": "full", "limit": "50"}
        if rng.random() < 0.5:  # a later page: after a random full member of the subtree
            params["cursor"] = encode_cursor(list(rng.choice(world.full_members[committee])))
        return (f"{server}/api/members", params,
                {"Authorization": f"Bearer {world.tokens[committee]}"})

    def timed(url: str, params: dict[str, str] | None = None,
              headers: dict[str, str] | None = None) -> tuple[float, Any]:
        started = time.perf_counter()
        response = session.get(url, params=params, headers=headers, timeout=10)
        body = response.json()
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, body
        return elapsed, body

    def me_request() -> tuple[str, None, dict[str, str]]:
        """Diagnostic, not asserted: authentication plus one small query."""
        committee = rng.choice(world.committees)
        return f"{server}/api/me", None, {"Authorization": f"Bearer {world.tokens[committee]}"}

    for _ in range(WARMUP):
        timed(f"{server}/api/version")
        timed(*list_request())
        timed(*me_request())
    baseline, listing, me, items = [], [], [], []
    for _ in range(SAMPLES):  # interleaved, so load on the machine hits all alike
        baseline.append(timed(f"{server}/api/version")[0])
        elapsed, body = timed(*list_request())
        listing.append(elapsed)
        items.append(len(body["items"]))
        me.append(timed(*me_request())[0])
    assert statistics.mean(items) > 25, "the pages should be mostly full"

    (b50, b95), (l50, l95), (m50, m95) = _ms(baseline), _ms(listing), _ms(me)
    print(f"\nGET /api/version        p50 {b50:6.2f} ms  p95 {b95:6.2f} ms  (n={SAMPLES})"
          f"\nGET /api/members page   p50 {l50:6.2f} ms  p95 {l95:6.2f} ms  "
          f"(n={SAMPLES}, {statistics.mean(items):.1f} items/page)"
          f"\nGET /api/me (diagnostic) p50 {m50:6.2f} ms  p95 {m95:6.2f} ms"
          f"\nratio p50 {l50 / b50:.2f}  p95 {l95 / b95:.2f}")
    assert l50 / b50 <= MAX_RATIO, f"p50 ratio {l50 / b50:.2f} > {MAX_RATIO}"
    assert l95 / b95 <= MAX_RATIO, f"p95 ratio {l95 / b95:.2f} > {MAX_RATIO}"
    assert l95 <= MAX_P95_MS, f"p95 {l95:.1f} ms > {MAX_P95_MS} ms"
