"""Queries per request stay constant as data grows: no N+1 in lists, cards or pages.

Each test counts the SQL statements one request sends (a `before_cursor_execute` listener on
the test's connection), with 10 and then 200 of everything the answer touches: members and
orgs, grants, audit entries, and the card member's history. The two counts must be equal.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from node.accounts.models import Account
from node.audit.models import AuditEntry
from node.auth.models import Token, token_digest
from node.db import db
from node.grants.models import Grant, Role
from node.members.models import (
    ActivityEntry,
    Gender,
    Member,
    OrgChange,
    Stage,
    StageChange,
    Status,
    StatusChange,
)
from node.orgs.models import Org, OrgKind
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants

SMALL, LARGE = 10, 200
#: A generous ceiling per request, so a constant but wasteful query plan is noticed too.
BUDGET = 12


def _insert(model: Any, rows: list[dict[str, Any]]) -> list[int]:
    stmt = sa.insert(model).returning(model.id, sort_by_parameter_order=True)
    return list(db.session.scalars(stmt, rows))


@dataclasses.dataclass
class Data:
    """One tenant: root > committee C > branches; C's administrator; a card member in C."""

    tenant: int
    prefix: str
    committee: int
    card_member: int
    headers: dict[str, str]
    size: int = 0
    branches: int = 0

    def grow(self, size: int) -> None:
        """Add branches, members, accounts with grants, audit entries and card history."""
        n = size - self.size
        today = dt.date.today()
        with all_tenants():
            first = self.branches + 1
            codes = [f"{self.prefix}001{seq:03d}" for seq in range(first, first + n)]
            branches = _insert(Org, [
                {"tenant_id": self.tenant, "parent_id": self.committee, "code": code,
                 "kind": OrgKind.branch, "name": f"支部{code[-3:]}", "depth": 2}
                for code in codes])
            db.session.execute(sa.update(Org).where(Org.id == self.committee)
                               .values(next_child_seq=first + n - 1))
            tag = secrets.token_hex(4)
            members = _insert(Member, [
                {"tenant_id": self.tenant, "member_number": f"{self.prefix}9{tag}{i:05d}",
                 "org_id": org, "org_code": code, "name": f"党员{i}", "gender": Gender.male,
                 "birth_date": dt.date(1980, 1, 1), "national_id_cipher": f"c{tag}{i}",
                 "national_id_hash": f"h{tag}{i}", "national_id_masked": "110***********0011",
                 "stage": Stage.full, "status": Status.active}
                for i, (org, code) in enumerate(zip(branches, codes, strict=True))])
            accounts = _insert(Account, [
                {"tenant_id": self.tenant, "username": f"u{tag}{i}", "display_name": "x",
                 "member_id": member} for i, member in enumerate(members)])
            db.session.execute(sa.insert(Grant), [
                {"tenant_id": self.tenant, "account_id": account, "role": Role.org_viewer,
                 "org_id": org, "org_code": code}
                for account, org, code in zip(accounts, branches, codes, strict=True)])
            db.session.execute(sa.insert(AuditEntry), [
                {"tenant_id": self.tenant, "at": dt.datetime.now(dt.UTC), "actor": "test",
                 "action": "member.create", "entity_type": "member", "entity_id": member,
                 "scope_code": code} for member, code in zip(members, codes, strict=True)])
            history = [{"tenant_id": self.tenant, "member_id": self.card_member,
                        "effective_on": today} for _ in range(n)]
            db.session.execute(sa.insert(StageChange), [
                {**row, "from_stage": Stage.probationary, "to_stage": Stage.full}
                for row in history])
            db.session.execute(sa.insert(StatusChange), [
                {**row, "from_status": Status.active, "to_status": Status.active}
                for row in history])
            db.session.execute(sa.insert(OrgChange), [
                {**row, "from_org_id": org, "to_org_id": self.committee}
                for row, org in zip(history, branches, strict=True)])
            db.session.execute(sa.insert(ActivityEntry), [
                {"tenant_id": self.tenant, "member_id": self.card_member, "kind": "meeting",
                 "title": f"支部大会{i}", "occurred_on": today} for i in range(n)])
            db.session.commit()
        db.session.remove()
        self.size, self.branches = size, self.branches + n


@pytest.fixture()
def data(connection: sa.Connection) -> Data:
    prefix = f"500103{secrets.randbelow(900) + 100}"
    with all_tenants():
        (tenant,) = _insert(Tenant, [{"slug": f"q{prefix}", "name": "Q", "code_prefix": prefix,
                                      "rules": {}}])
        (root,) = _insert(Org, [{"tenant_id": tenant, "code": prefix, "depth": 0,
                                 "kind": OrgKind.committee, "name": "root",
                                 "next_child_seq": 1}])
        (committee,) = _insert(Org, [{"tenant_id": tenant, "parent_id": root,
                                      "code": prefix + "001", "depth": 1,
                                      "kind": OrgKind.committee, "name": "C"}])
        (card_member,) = _insert(Member, [
            {"tenant_id": tenant, "member_number": f"{prefix}00000001", "org_id": committee,
             "org_code": prefix + "001", "name": "卡片", "gender": Gender.female,
             "birth_date": dt.date(1980, 1, 1), "national_id_cipher": "c",
             "national_id_hash": "h", "national_id_masked": "m", "stage": Stage.full,
             "status": Status.active}])
        (admin,) = _insert(Account, [{"tenant_id": tenant, "username": "c-admin",
                                      "display_name": "C admin"}])
        db.session.execute(sa.insert(Grant), [{"tenant_id": tenant, "account_id": admin,
                                               "role": Role.org_admin, "org_id": committee,
                                               "org_code": prefix + "001"}])
        raw = secrets.token_urlsafe(24)
        db.session.execute(sa.insert(Token), [{
            "access_token_hash": token_digest(raw), "tenant_id": tenant, "account_id": admin,
            "scope": "read write", "expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)}])
        db.session.commit()
    db.session.remove()
    return Data(tenant, prefix, committee, card_member, {"Authorization": f"Bearer {raw}"})


CountQueries = Callable[[Callable[[], Any]], tuple[int, Any]]


@pytest.fixture()
def count_queries(connection: sa.Connection) -> CountQueries:
    """Run a callable; return how many SQL statements it sent, and its result."""
    def count(fn: Callable[[], Any]) -> tuple[int, Any]:
        statements: list[str] = []

        def listener(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
            if not statement.startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO")):
                statements.append(statement)

        sa.event.listen(connection, "before_cursor_execute", listener)
        try:
            result = fn()
        finally:
            sa.event.remove(connection, "before_cursor_execute", listener)
        return len(statements), result
    return count


REQUESTS: dict[str, Callable[[Data], str]] = {
    "members-page": lambda d: f"/api/members?org_id={d.committee}&stage=full&limit=50",
    "member-card": lambda d: f"/api/members/{d.card_member}/card",
    "orgs-page": lambda d: "/api/orgs",
    "grants": lambda d: "/api/grants",
    "audit-page": lambda d: "/api/audit",
}


def _items(body: Any) -> int:
    if isinstance(body, list):
        return len(body)
    if "items" in body:
        return len(body["items"])
    return sum(len(v) for v in body.values() if isinstance(v, list))


@pytest.mark.parametrize("name", list(REQUESTS))
def test_queries_do_not_grow_with_data(name: str, data: Data, client: Any,
                                       count_queries: CountQueries) -> None:
    counts, sizes = [], []
    for size in (SMALL, LARGE):
        data.grow(size)
        url = REQUESTS[name](data)
        count, response = count_queries(lambda: client.get(url, headers=data.headers))  # noqa: B023
        assert response.status_code == 200, response.json
        counts.append(count)
        sizes.append(_items(response.json))
    print(f"\n{name}: {counts[0]} statements with {SMALL} rows "
          f"({sizes[0]} items), {counts[1]} with {LARGE} ({sizes[1]} items)")
    assert sizes[1] > sizes[0], "the larger data set must give a larger answer"
    assert counts[0] == counts[1], f"{name}: {counts} statements for {SMALL} vs {LARGE} rows"
    assert counts[1] <= BUDGET, f"{name}: {counts[1]} statements, budget {BUDGET}"
