"""The dues API: the collector's flow end to end, and bad input answered with problem+json
that names the field and changes nothing."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from node.db import db
from node.dues import services
from node.dues.models import (
    DuesAheadConsent,
    DuesAssessment,
    DuesConsent,
    DuesLine,
    DuesMonth,
    DuesPayment,
    DuesReduction,
)
from node.grants.models import Role
from node.tenants.scoping import tenant_context

TODAY = services.local_today()
MONTH = services.month_of(TODAY).strftime("%Y-%m")
NEXT = services.add_months(services.month_of(TODAY), 1).strftime("%Y-%m")
TABLES = (DuesAssessment, DuesLine, DuesPayment, DuesMonth, DuesReduction, DuesConsent,
          DuesAheadConsent)


@dataclasses.dataclass
class Api:
    tenant: Any
    branch: Any
    member: Any
    headers: dict[str, str]  # org_admin of the branch


@pytest.fixture()
def api(world: Any) -> Api:
    tenant = world.tenant()
    root = world.root(tenant)
    branch = world.org(tenant, root, "branch")
    member = world.member(tenant, branch, name="赵敏")
    account = world.account(tenant, grants=[(Role.org_admin, branch)])
    return Api(tenant, branch, member, world.token(account))


def counts(api: Api) -> dict[str, int]:
    with tenant_context(api.tenant.id):
        found = {model.__tablename__: int(db.session.scalar(
            sa.select(sa.func.count()).select_from(model)) or 0) for model in TABLES}
    db.session.remove()
    return found


def test_the_collectors_flow(client: Any, api: Api) -> None:
    r = client.put(f"/api/dues/members/{api.member.id}/assessment", headers=api.headers,
                   json={"year": TODAY.year, "category": "retiree", "base": "5000.01"})
    assert r.status_code == 200, r.json
    assert r.json["monthly_amount"] == "50.00" and r.json["rule_version"] == "cpc-2008"
    r = client.post("/api/dues/generate", headers=api.headers,
                    json={"org_id": api.branch.id, "year": TODAY.year})
    assert r.json == {"created": 12, "unassessed": 0, "rehomed": 0}
    r = client.post("/api/dues/payments", headers=api.headers,
                    json={"member_id": api.member.id, "months": [MONTH], "method": "cash",
                          "reference": "收据 0001"})
    assert r.status_code == 201 and r.json["amount"] == "50.00"
    account = client.get(f"/api/dues/members/{api.member.id}", headers=api.headers).json
    assert account["assessment"]["base"] == "5000.01"
    assert [line["status"] for line in account["lines"] if line["month"] == MONTH] == ["paid"]
    assert account["payments"][0]["method"] == "cash"
    lines = client.get(f"/api/dues/lines?org_id={api.branch.id}&month={MONTH}",
                       headers=api.headers).json
    assert [(line["amount_due"], line["status"]) for line in lines["items"]] == [
        ("50.00", "paid")]
    r = client.post("/api/dues/close", headers=api.headers,
                    json={"org_id": api.branch.id, "month": MONTH})
    assert r.json == {"closed": 1, "already": 0}
    totals = client.get(f"/api/dues/totals?org_id={api.branch.id}&month={MONTH}",
                        headers=api.headers).json
    assert totals["total"]["figures"]["paid_total"] == "50.00"
    assert totals["total"]["closed_branches"] == 1 and totals["open_branches"] == 0


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("PUT", "/api/dues/members/{member}/assessment", {"year": 2025, "category": "wizard"},
     "category"),
    ("PUT", "/api/dues/members/{member}/assessment",
     {"year": 2025, "category": "salaried", "base": "3000.001"}, "base"),
    ("PUT", "/api/dues/members/{member}/assessment",
     {"year": 2025, "category": "salaried", "base": "-1"}, "base"),
    ("PUT", "/api/dues/members/{member}/assessment",
     {"year": 2025, "category": "salaried", "base": "NaN"}, "base"),
    ("PUT", "/api/dues/members/{member}/assessment", {"year": 2025, "category": "salaried"},
     "base"),
    ("PUT", "/api/dues/members/{member}/assessment", {"year": 2007, "category": "student"},
     "year"),
    ("POST", "/api/dues/payments", {"member_id": "{member}", "months": ["2025-13"],
                                    "method": "cash"}, "months"),
    ("POST", "/api/dues/payments", {"member_id": "{member}", "months": [MONTH],
                                    "method": "online"}, "method"),
    ("POST", "/api/dues/payments", {"member_id": "{member}", "months": [],
                                    "method": "cash"}, "months"),
    ("POST", "/api/dues/payments", {"member_id": "{member}", "months": [MONTH],
                                    "method": "cash"}, "months"),  # no line generated
    ("POST", "/api/dues/large-payments", {"member_id": "{member}", "amount": "999.99",
                                          "method": "cash"}, "amount"),
    ("POST", "/api/dues/large-payments", {"member_id": "{member}", "amount": "一千",
                                          "method": "cash"}, "amount"),
    ("POST", "/api/dues/close", {"org_id": "{branch}", "month": "2999-01"}, "month"),
    ("POST", "/api/dues/close", {"org_id": "{branch}", "month": MONTH}, "month"),  # no lines
    ("POST", "/api/dues/reductions", {"member_id": "{member}", "kind": "reduced",
                                      "from_month": MONTH, "to_month": MONTH, "reason": "x"},
     "monthly_amount"),
    ("POST", "/api/dues/consents", {"member_id": "{member}", "payer_member_id": "{member}"},
     "payer_member_id"),
    ("POST", "/api/dues/generate", {"org_id": 2**31 - 1, "year": 2025}, "org_id"),
    ("POST", "/api/dues/payments", {"member_id": "{member}", "months": [NEXT],
                                    "method": "cash"}, "months"),  # ahead, no consent
    ("PUT", "/api/dues/members/{member}/ahead-consent", {"through_month": MONTH},
     "through_month"),  # the current month is not ahead
    ("PUT", "/api/dues/members/{member}/ahead-consent", {"through_month": "2025-13"},
     "through_month"),
    ("PUT", "/api/dues/members/{member}/ahead-consent", {"through_month": "2099-01"},
     "through_month"),  # beyond the months that may be paid ahead
    ("PUT", "/api/dues/members/{member}/ahead-consent", {}, "through_month"),
])
def test_bad_input_is_a_problem_and_changes_nothing(client: Any, api: Api, method: str,
                                                     path: str, body: dict[str, Any],
                                                     field: str | None) -> None:
    def fill(value: Any) -> Any:
        if value == "{member}":
            return api.member.id
        if value == "{branch}":
            return api.branch.id
        return value

    before = counts(api)
    r = client.open(path.format(member=api.member.id), method=method, headers=api.headers,
                    json={key: fill(value) for key, value in body.items()})
    assert r.status_code in (409, 422), r.json
    assert r.mimetype == "application/problem+json"
    assert r.json["status"] == r.status_code
    if field is not None:
        assert field in (r.json.get("errors") or {}), r.json
    assert counts(api) == before


def test_a_query_with_a_bad_month_is_a_problem(client: Any, api: Api) -> None:
    r = client.get(f"/api/dues/totals?org_id={api.branch.id}&month=2025-1", headers=api.headers)
    assert r.status_code == 422 and "month" in r.json["errors"]
    r = client.get("/api/dues/lines?cursor=garbage", headers=api.headers)
    assert r.status_code == 422


def test_amounts_are_strings_of_yuan(client: Any, api: Api) -> None:
    client.put(f"/api/dues/members/{api.member.id}/assessment", headers=api.headers,
               json={"year": TODAY.year, "category": "salaried", "base": "3000.01"})
    with tenant_context(api.tenant.id):
        assessment = db.session.scalars(sa.select(DuesAssessment)).one()
        assert assessment.monthly_amount == Decimal("30.00")
        assert isinstance(assessment.base, Decimal)
    db.session.remove()


def test_the_consent_to_pay_ahead(client: Any, api: Api) -> None:
    base = f"/api/dues/members/{api.member.id}"
    r = client.post("/api/dues/payments", headers=api.headers,
                    json={"member_id": api.member.id, "months": [NEXT], "method": "cash"})
    assert r.status_code == 409 and r.json["code"] == "ahead-consent-required"
    assert r.json["errors"] == {"months": ["Paying ahead needs the branch's consent."]}
    r = client.put(f"{base}/ahead-consent", headers=api.headers,
                   json={"through_month": NEXT, "note": "按季度交纳"})
    assert r.status_code == 200, r.json
    assert (r.json["through_month"], r.json["active"], r.json["note"]) == (NEXT, True, "按季度交纳")
    assert client.get(base, headers=api.headers).json["ahead_through"] == NEXT
    assert client.delete(f"{base}/ahead-consent", headers=api.headers).status_code == 204
    assert client.delete(f"{base}/ahead-consent", headers=api.headers).status_code == 204
    assert client.get(base, headers=api.headers).json["ahead_through"] is None
    with tenant_context(api.tenant.id):
        consent = db.session.scalars(sa.select(DuesAheadConsent)).one()
        assert consent.revoked_at is not None and consent.through_month.strftime("%Y-%m") == NEXT
