"""Dues services on both backends: the yearly lines, paying (back-pay, ahead, for another
member, large dues), closing months and the totals up the tree, hardship, arrears alerts.

A fixed "today" (2025-09-15, China time) keeps the months still; services take it as an
argument, so nothing depends on the clock.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from node.accounts.models import Account
from node.audit.models import AuditEntry
from node.audit.recording import acting_as
from node.auth.principal import Principal
from node.db import db
from node.dues import services
from node.dues.models import (
    DuesLine,
    DuesMonth,
    DuesPayment,
    DuesReminder,
    LineStatus,
    OrderStatus,
    PaymentKind,
    PaymentMethod,
    PaymentOrder,
    ReductionKind,
    ReductionStatus,
    ReminderLevel,
)
from node.dues.rules import DuesCategory
from node.grants.models import Role
from node.members.models import Member
from node.orgs.models import Org
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound

TODAY = dt.date(2025, 9, 15)
NOW = dt.datetime(2025, 9, 15, 4, tzinfo=dt.UTC)  # 12:00 in China
YEAR = 2025


def m(text: str) -> dt.date:
    return services.parse_month(text)


@dataclasses.dataclass
class Dues:
    tenant: Tenant
    root: Any
    committee: Any
    b1: Any
    b2: Any
    salaried: Any  # B1, 6,000 yuan: 90.00 a month
    retiree: Any  # B1, pension 5,000: 25.00
    probationary: Any  # B1, admitted 2025-05-20, student: 0.20 from May
    applicant: Any  # B1, pays nothing
    unassessed: Any  # B1, full member without an assessment
    farmer: Any  # B2: 0.20
    admin: Principal  # tenant administrator
    branch_admin: Principal  # org_admin of B1
    committee_admin: Principal  # org_admin of the committee above B1 and B2

    def reload(self) -> Tenant:
        return db.session.get(Tenant, self.tenant.id)


def _principal(tenant: Tenant, role: Role, org: Any, account_id: int = 0) -> Principal:
    return Principal(account_id=account_id, tenant_id=tenant.id, username=f"{role}-{org.id}",
                     grants=((role, org.code),))


@pytest.fixture()
def dues(world: Any, session: Any) -> Dues:
    tenant = world.tenant()
    root = world.root(tenant)
    committee = world.org(tenant, root, "committee", name="街道党工委")
    b1 = world.org(tenant, committee, "branch", name="第一党支部")
    b2 = world.org(tenant, committee, "branch", name="第二党支部")
    people = dict(
        salaried=world.member(tenant, b1, name="王伟"),
        retiree=world.member(tenant, b1, name="李秀英"),
        probationary=world.member(tenant, b1, stage="probationary", name="张浩",
                                  admitted_on=dt.date(2025, 5, 20)),
        applicant=world.member(tenant, b1, stage="applicant", name="刘洋"),
        unassessed=world.member(tenant, b1, name="陈静"),
        farmer=world.member(tenant, b2, name="杨建国"))
    admin = world.root_principal(tenant)
    data = Dues(tenant, root, committee, b1, b2, **people, admin=admin,
                branch_admin=_principal(tenant, Role.org_admin, b1),
                committee_admin=_principal(tenant, Role.org_admin, committee))
    with tenant_context(tenant.id), acting_as("test"):
        t = data.reload()
        for member, category, base in ((data.salaried, DuesCategory.salaried, "6000"),
                                       (data.retiree, DuesCategory.retiree, "5000"),
                                       (data.probationary, DuesCategory.student, None),
                                       (data.farmer, DuesCategory.farmer, None)):
            services.assess(admin, db.session.get(Member, member.id), t, year=YEAR,
                            category=category, base=Decimal(base) if base else None)
        session.commit()
    return data


def lines_of(member: Any) -> list[DuesLine]:
    return list(db.session.scalars(sa.select(DuesLine).where(DuesLine.member_id == member.id)
                                   .order_by(DuesLine.month)))


def generate(d: Dues, org: Any = None) -> services.Generated:
    with tenant_context(d.tenant.id), acting_as("test"):
        done = services.generate(d.admin, db.session.get(Org, (org or d.root).id), d.reload(),
                                 year=YEAR)
        db.session.commit()
        return done


def pay(d: Dues, member: Any, months: list[str], principal: Principal | None = None,
        **kwargs: Any) -> DuesPayment:
    with tenant_context(d.tenant.id), acting_as("test"):
        kwargs.setdefault("method", PaymentMethod.cash)
        payment = services.record_payment(
            principal or d.branch_admin, db.session.get(Member, member.id), d.reload(),
            months=[m(x) for x in months], today=TODAY, now=NOW, **kwargs)
        db.session.commit()
        return payment


# --- the yearly lines -------------------------------------------------------------------------

def test_generating_the_year_prices_every_month_with_the_rule_version(dues: Dues) -> None:
    done = generate(dues)
    assert done.created == 12 + 12 + 8 + 12  # the probationary member pays from May
    assert done.unassessed == 1
    with tenant_context(dues.tenant.id):
        salaried = lines_of(dues.salaried)
        assert [line.month for line in salaried] == [dt.date(YEAR, n, 1) for n in range(1, 13)]
        assert {line.amount_due for line in salaried} == {Decimal("90.00")}
        assert {line.rule_version for line in salaried} == {"cpc-2008"}
        assert {line.status for line in salaried} == {LineStatus.unpaid}
        assert {line.org_code for line in salaried} == {dues.b1.code}
        assert {line.amount_due for line in lines_of(dues.retiree)} == {Decimal("25.00")}
        probationary = lines_of(dues.probationary)
        assert probationary[0].month == dt.date(YEAR, 5, 1)
        assert {line.amount_due for line in probationary} == {Decimal("0.20")}
        assert lines_of(dues.applicant) == [] and lines_of(dues.unassessed) == []
        assert {line.amount_due for line in lines_of(dues.farmer)} == {Decimal("0.20")}


def test_generating_again_creates_nothing(dues: Dues) -> None:
    generate(dues)
    again = generate(dues)
    assert (again.created, again.unassessed) == (0, 1)
    with tenant_context(dues.tenant.id):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DuesLine)) == 44


def test_a_subtree_is_generated_alone(dues: Dues) -> None:
    done = generate(dues, dues.b2)
    assert done.created == 12
    with tenant_context(dues.tenant.id):
        assert lines_of(dues.salaried) == []


def test_the_tenants_farmer_amount_applies(dues: Dues, session: Any) -> None:
    with tenant_context(dues.tenant.id), acting_as("test"):
        tenant = dues.reload()
        tenant.rules = {**tenant.rules, "dues_farmer_fen": 50}
        assessment = services.assess(dues.admin, db.session.get(Member, dues.farmer.id), tenant,
                                     year=YEAR, category=DuesCategory.farmer, base=None)
        assert assessment.monthly_amount == Decimal("0.50")


def test_reassessing_reprices_unpaid_lines_of_open_months_only(dues: Dues) -> None:
    generate(dues)
    pay(dues, dues.salaried, ["2025-03", "2025-04"])
    with tenant_context(dues.tenant.id), acting_as("test"):
        services.close_month(dues.branch_admin, db.session.get(Org, dues.b1.id),
                             month=m("2025-05"), today=TODAY)
        services.assess(dues.branch_admin, db.session.get(Member, dues.salaried.id),
                        dues.reload(), year=YEAR, category=DuesCategory.salaried,
                        base=Decimal("12000"), from_month=m("2025-01"))
        by_month = {line.month.month: line for line in lines_of(dues.salaried)}
    assert by_month[1].amount_due == Decimal("240.00")  # unpaid, open: re-priced
    assert by_month[3].amount_due == Decimal("90.00")  # paid: kept
    assert by_month[5].amount_due == Decimal("90.00")  # the month is closed: kept
    assert by_month[12].amount_due == Decimal("240.00")


@pytest.mark.parametrize(("category", "base", "field"), [
    (DuesCategory.salaried, None, "base"),
    (DuesCategory.student, Decimal("3000"), "base"),
])
def test_an_assessment_needs_a_base_exactly_when_the_category_uses_one(
        dues: Dues, category: DuesCategory, base: Decimal | None, field: str) -> None:
    with tenant_context(dues.tenant.id), pytest.raises(InvalidInput) as caught:
        services.assess(dues.admin, db.session.get(Member, dues.unassessed.id), dues.reload(),
                        year=YEAR, category=category, base=base)
    assert field in caught.value.errors


def test_an_org_administrator_of_a_sibling_branch_cannot_assess(dues: Dues) -> None:
    other = _principal(dues.tenant, Role.org_admin, dues.b2)
    with tenant_context(dues.tenant.id), pytest.raises(NotFound):
        services.assess(other, db.session.get(Member, dues.salaried.id), dues.reload(),
                        year=YEAR, category=DuesCategory.student, base=None)


# --- paying -----------------------------------------------------------------------------------

def test_paying_several_months_back_and_ahead(dues: Dues) -> None:
    generate(dues)
    payment = pay(dues, dues.salaried, ["2025-03", "2025-09", "2025-12"], reference="R-1",
                  consent_ahead=True)
    assert payment.amount == Decimal("270.00") and payment.kind == PaymentKind.monthly
    with tenant_context(dues.tenant.id):
        paid = [line.month.month for line in lines_of(dues.salaried)
                if line.status == LineStatus.paid]
        assert paid == [3, 9, 12]
        assert {line.payment_id for line in lines_of(dues.salaried)
                if line.status == LineStatus.paid} == {payment.id}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "dues_payment.create")) == 1
        # the collector gave the branch's consent in the same act, through the last month
        consent = services.ahead_consent(dues.salaried.id)
        assert consent is not None and consent.through_month == m("2025-12")
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "dues_ahead_consent.create")) == 1


@pytest.mark.parametrize(("months", "error"), [
    (["2025-02"], Conflict),  # seven months back: beyond the 6-month back-pay limit
    (["2025-03", "2025-02"], Conflict),  # one bad month refuses the whole payment
    (["2026-01"], Conflict),  # ahead within the limit, without the branch's consent
    (["2025-10"], Conflict),  # next month: ahead too
    (["2025-04", "2025-04"], InvalidInput),
])
def test_refused_payments_change_nothing(dues: Dues, months: list[str], error: type) -> None:
    generate(dues)
    with pytest.raises(error):
        pay(dues, dues.salaried, months)
    with tenant_context(dues.tenant.id):
        db.session.rollback()
        assert {line.status for line in lines_of(dues.salaried)} == {LineStatus.unpaid}
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DuesPayment)) == 0


def test_the_backpay_and_ahead_limits_are_tenant_settings(dues: Dues, session: Any) -> None:
    generate(dues)
    with tenant_context(dues.tenant.id):
        tenant = dues.reload()
        tenant.rules = {**tenant.rules, "dues_backpay_months": 8, "dues_ahead_months": 2}
        session.commit()
    assert pay(dues, dues.salaried, ["2025-01"]).amount == Decimal("90.00")
    with pytest.raises(Conflict, match="ahead"):
        pay(dues, dues.salaried, ["2025-12"], consent_ahead=True)
    with tenant_context(dues.tenant.id), pytest.raises(InvalidInput) as caught:
        services.grant_ahead_consent(dues.branch_admin, db.session.get(Member, dues.salaried.id),
                                     dues.reload(), through_month=m("2025-12"), today=TODAY)
    assert caught.value.errors == {"through_month": ["Beyond the months that may be paid "
                                                     "ahead."]}


# --- paying ahead: the branch's consent ---------------------------------------------------------

class _Provider:
    name = "sandbox"

    def checkout_url(self, request: Any) -> str:
        return f"https://pay.example/{request.order_token}?amount={request.amount}"


def _member_principal(d: Dues, member: Any) -> Principal:
    return Principal(account_id=0, tenant_id=d.tenant.id, username="member",
                     grants=((Role.member, d.b1.code),), member_id=member.id)


def _checkout(d: Dues, member: Any, months: list[str],
              today: dt.date = TODAY) -> PaymentOrder:
    order, _url = services.start_checkout(
        _member_principal(d, member), d.reload(), _Provider(), months=[m(x) for x in months],
        notify_url="https://node.example/cb",
        return_url=lambda token: f"https://node.example/{token}", today=today)
    return order


def _grant(d: Dues, member: Any, through: str, principal: Principal | None = None,
           today: dt.date = TODAY) -> Any:
    with tenant_context(d.tenant.id), acting_as("test"):
        consent = services.grant_ahead_consent(
            principal or d.branch_admin, db.session.get(Member, member.id), d.reload(),
            through_month=m(through), today=today)
        db.session.commit()
        return consent


def test_the_collector_pays_ahead_only_with_the_branchs_consent(dues: Dues) -> None:
    generate(dues)
    # the current month and back-pay need no consent
    assert pay(dues, dues.salaried, ["2025-07", "2025-09"]).amount == Decimal("180.00")
    with pytest.raises(services.AheadConsentRequired) as caught:
        pay(dues, dues.salaried, ["2025-10", "2025-11", "2025-12"])  # a quarter ahead
    assert caught.value.status == 409 and caught.value.code == "ahead-consent-required"
    assert caught.value.errors == {"months": ["Paying ahead needs the branch's consent."]}
    with tenant_context(dues.tenant.id):
        db.session.rollback()
        assert [line.month.month for line in lines_of(dues.salaried)
                if line.status == LineStatus.paid] == [7, 9]
        assert services.ahead_consent(dues.salaried.id) is None
    payment = pay(dues, dues.salaried, ["2025-10", "2025-11", "2025-12"], consent_ahead=True)
    assert payment.amount == Decimal("270.00")


def test_a_consent_covers_the_months_through_its_month_only(dues: Dues) -> None:
    generate(dues)
    consent = _grant(dues, dues.salaried, "2025-11")
    assert consent.through_month == m("2025-11") and consent.revoked_at is None
    assert pay(dues, dues.salaried, ["2025-10", "2025-11"]).amount == Decimal("180.00")
    with pytest.raises(services.AheadConsentRequired) as caught:
        pay(dues, dues.salaried, ["2025-12"])
    assert caught.value.extra["consented_through"] == "2025-11"
    # once its months are past, a consent no longer lets anyone pay ahead
    with tenant_context(dues.tenant.id):
        assert services.ahead_through(dues.salaried.id, TODAY) == m("2025-11")
        assert services.ahead_through(dues.salaried.id, dt.date(2025, 11, 3)) is None
        assert services.ahead_through(dues.retiree.id, TODAY) is None
        # the consent is the branch's: it does not follow the member to another branch
        member = db.session.get(Member, dues.salaried.id)
        member.org_id, member.org_code = dues.b2.id, dues.b2.code
        db.session.flush()
        assert services.ahead_through(dues.salaried.id, TODAY) is None
        db.session.rollback()


def test_revoking_stops_paying_ahead_and_keeps_the_paid_months(dues: Dues) -> None:
    generate(dues)
    _grant(dues, dues.salaried, "2025-12")
    pay(dues, dues.salaried, ["2025-10"])
    with tenant_context(dues.tenant.id), acting_as("test"):
        member = db.session.get(Member, dues.salaried.id)
        revoked = services.revoke_ahead_consent(dues.branch_admin, member, now=NOW)
        assert revoked is not None and revoked.revoked_at == NOW
        again = services.revoke_ahead_consent(dues.branch_admin, member)
        assert again is not None and again.revoked_at == NOW  # changes nothing
        db.session.commit()
        assert services.ahead_through(dues.salaried.id, TODAY) is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "dues_ahead_consent.update")) == 1
    with pytest.raises(services.AheadConsentRequired):
        pay(dues, dues.salaried, ["2025-11"])
    with tenant_context(dues.tenant.id):
        db.session.rollback()
        by_month = {line.month.month: line.status for line in lines_of(dues.salaried)}
        assert by_month[10] == LineStatus.paid and by_month[11] == LineStatus.unpaid
    # granting again renews it
    assert _grant(dues, dues.salaried, "2025-11").revoked_at is None
    assert pay(dues, dues.salaried, ["2025-11"]).amount == Decimal("90.00")


def test_online_checkout_ahead_needs_the_consent_and_the_account_says_so(dues: Dues) -> None:
    generate(dues)
    with tenant_context(dues.tenant.id), acting_as("test"):
        with pytest.raises(services.AheadConsentRequired):
            _checkout(dues, dues.salaried, ["2025-09", "2025-10"])
        account = services.dues_account(db.session.get(Member, dues.salaried.id),
                                        dues.reload(), today=TODAY)
        assert account.ahead_through is None
        assert max(line.month for line in account.payable) == m("2025-09")
        assert max(line.month for line in account.collectable) == m("2025-12")
        assert _checkout(dues, dues.salaried, ["2025-09"]).amount == Decimal("90.00")
        db.session.rollback()
    _grant(dues, dues.salaried, "2025-10")
    with tenant_context(dues.tenant.id), acting_as("test"):
        order = _checkout(dues, dues.salaried, ["2025-09", "2025-10"])
        assert order.amount == Decimal("180.00")
        with pytest.raises(services.AheadConsentRequired):
            _checkout(dues, dues.salaried, ["2025-11"])
        account = services.dues_account(db.session.get(Member, dues.salaried.id),
                                        dues.reload(), today=TODAY)
        assert account.ahead_through == m("2025-10")
        assert max(line.month for line in account.payable) == m("2025-10")


@pytest.mark.parametrize(("through", "field"), [
    ("2025-09", "through_month"),  # the current month: nothing ahead
    ("2025-03", "through_month"),
    ("2026-10", "through_month"),  # beyond the tenant's 12 months ahead
])
def test_a_consent_names_a_month_ahead_within_the_limit(dues: Dues, through: str,
                                                        field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        _grant(dues, dues.salaried, through)
    assert field in caught.value.errors
    with tenant_context(dues.tenant.id):
        db.session.rollback()
        assert services.ahead_consent(dues.salaried.id) is None


def test_only_administrators_over_the_members_branch_consent(dues: Dues) -> None:
    sibling = _principal(dues.tenant, Role.org_admin, dues.b2)
    viewer = _principal(dues.tenant, Role.org_viewer, dues.b1)
    for principal in (sibling, viewer):
        with pytest.raises(NotFound):
            _grant(dues, dues.salaried, "2025-12", principal=principal)
        with tenant_context(dues.tenant.id), pytest.raises(NotFound):
            services.revoke_ahead_consent(principal, db.session.get(Member, dues.salaried.id))
        with tenant_context(dues.tenant.id):
            db.session.rollback()
    assert _grant(dues, dues.salaried, "2025-12", principal=dues.committee_admin).org_code \
        == dues.b1.code


def test_a_paid_month_cannot_be_paid_again(dues: Dues) -> None:
    generate(dues)
    pay(dues, dues.salaried, ["2025-08"])
    with pytest.raises(Conflict, match="Already paid"):
        pay(dues, dues.salaried, ["2025-08"])


def test_the_collector_may_record_another_member_paying(dues: Dues) -> None:
    generate(dues)
    payment = pay(dues, dues.retiree, ["2025-09"], payer_member_id=dues.salaried.id)
    assert payment.payer_member_id == dues.salaried.id


def test_online_payment_for_another_member_needs_the_branchs_consent(dues: Dues,
                                                                     session: Any) -> None:
    generate(dues)
    payer = dataclasses.replace(dues.branch_admin, member_id=dues.salaried.id, account_id=0)

    class Provider:
        name = "sandbox"

        def checkout_url(self, request: Any) -> str:
            return f"https://pay.example/{request.order_token}?amount={request.amount}"

    def checkout() -> tuple[PaymentOrder, str]:
        return services.start_checkout(
            payer, dues.reload(), Provider(), months=[m("2025-09")],
            member_id=dues.retiree.id, notify_url="https://node.example/cb",
            return_url=lambda token: f"https://node.example/{token}", today=TODAY)

    with tenant_context(dues.tenant.id), acting_as("test"):
        with pytest.raises(NotFound):
            checkout()
        services.grant_consent(dues.branch_admin, db.session.get(Member, dues.retiree.id),
                               payer_member_id=dues.salaried.id)
        order, url = checkout()
        assert order.member_id == dues.retiree.id and order.payer_member_id == dues.salaried.id
        assert order.amount == Decimal("25.00") and order.status == OrderStatus.pending
        assert url.endswith("amount=25.00")
        assert services.order_months(order) == [m("2025-09")]
        with pytest.raises(Conflict):
            services.grant_consent(dues.branch_admin, db.session.get(Member, dues.retiree.id),
                                   payer_member_id=dues.salaried.id)


def test_large_dues_are_forwarded_to_the_committee_above(dues: Dues) -> None:
    with tenant_context(dues.tenant.id), acting_as("test"):
        member = db.session.get(Member, dues.salaried.id)
        with pytest.raises(InvalidInput) as caught:
            services.record_large_payment(dues.branch_admin, member, dues.reload(),
                                          amount=Decimal("999.99"), method=PaymentMethod.cash)
        assert "amount" in caught.value.errors
        payment = services.record_large_payment(
            dues.branch_admin, member, dues.reload(), amount=Decimal("1000"),
            method=PaymentMethod.bank_transfer, note="自愿交纳", now=NOW)
    assert payment.kind == PaymentKind.large and payment.amount == Decimal("1000.00")
    assert payment.forwarded_to_org_id == dues.committee.id


# --- closing and the totals up the tree -------------------------------------------------------

def test_closing_a_committee_closes_its_branches_and_the_totals_roll_up(dues: Dues) -> None:
    generate(dues)
    pay(dues, dues.salaried, ["2025-09", "2025-10"], consent_ahead=True)
    pay(dues, dues.farmer, ["2025-09"], principal=dues.admin)
    with tenant_context(dues.tenant.id), acting_as("test"):
        services.record_large_payment(dues.branch_admin,
                                      db.session.get(Member, dues.retiree.id), dues.reload(),
                                      amount=Decimal("2000"), method=PaymentMethod.cash, now=NOW)
        committee = db.session.get(Org, dues.committee.id)
        done = services.close_month(dues.committee_admin, committee, month=m("2025-09"),
                                    today=TODAY)
        assert (done.closed, done.already) == (2, 0)
        again = services.close_month(dues.committee_admin, committee, month=m("2025-09"),
                                     today=TODAY)
        assert (again.closed, again.already) == (0, 2)
        b1 = services.closed_month(dues.b1.id, m("2025-09"))
        assert (b1.lines, b1.paid_lines) == (3, 1)
        assert b1.due_total == Decimal("115.20") and b1.paid_total == Decimal("90.00")
        assert b1.unpaid_total == Decimal("25.20")
        assert b1.collected_total == Decimal("180.00")  # September and, ahead, October
        assert b1.large_total == Decimal("2000.00")
        totals = services.month_totals(dues.admin, db.session.get(Org, dues.root.id),
                                       month=m("2025-09"))
        assert totals.total.closed_branches == 2 and totals.open_branches == 0
        assert totals.total.figures["due_total"] == Decimal("115.40")
        assert totals.total.figures["paid_total"] == Decimal("90.20")
        assert totals.total.figures["collected_total"] == Decimal("180.20")
        (child,) = totals.children
        assert child.code == dues.committee.code and child.closed_branches == 2
        assert child.figures["lines"] == 4
        by_branch = services.month_totals(dues.admin, committee, month=m("2025-09"))
        assert {c.code: c.figures["lines"] for c in by_branch.children} == {
            dues.b1.code: 3, dues.b2.code: 1}


def test_a_closed_month_takes_no_more_payments_and_a_future_month_cannot_close(
        dues: Dues) -> None:
    generate(dues)
    with tenant_context(dues.tenant.id), acting_as("test"):
        b1 = db.session.get(Org, dues.b1.id)
        with pytest.raises(InvalidInput):
            services.close_month(dues.branch_admin, b1, month=m("2025-10"), today=TODAY)
        services.close_month(dues.branch_admin, b1, month=m("2025-09"), today=TODAY)
        db.session.commit()
    with pytest.raises(Conflict, match="closed"):
        pay(dues, dues.salaried, ["2025-08"])


def test_open_branches_are_counted_not_summed(dues: Dues) -> None:
    generate(dues)
    with tenant_context(dues.tenant.id), acting_as("test"):
        services.close_month(dues.branch_admin, db.session.get(Org, dues.b1.id),
                             month=m("2025-09"), today=TODAY)
        totals = services.month_totals(dues.committee_admin,
                                       db.session.get(Org, dues.committee.id),
                                       month=m("2025-09"))
    assert totals.total.closed_branches == 1 and totals.open_branches == 1
    assert totals.total.figures["lines"] == 3


def test_a_branch_secretary_cannot_read_a_sibling_branchs_totals(dues: Dues) -> None:
    with tenant_context(dues.tenant.id), pytest.raises(NotFound):
        services.month_totals(dues.branch_admin, db.session.get(Org, dues.b2.id),
                              month=m("2025-09"))


def test_an_org_move_carries_the_dues_codes(dues: Dues) -> None:
    from node.orgs.services import move_org

    generate(dues)
    with tenant_context(dues.tenant.id), acting_as("test"):
        admin_id = db.session.scalar(sa.select(Account.id).where(Account.username == "admin"))
        admin = dataclasses.replace(dues.admin, account_id=admin_id)
        moved = move_org(admin, db.session.get(Org, dues.b2.id), new_parent_id=dues.root.id)
        assert {line.org_code for line in lines_of(dues.farmer)} == {moved.code}


# --- hardship ---------------------------------------------------------------------------------

def test_hardship_is_decided_by_the_committee_above(dues: Dues) -> None:
    generate(dues)
    pay(dues, dues.salaried, ["2025-09"])
    with tenant_context(dues.tenant.id), acting_as("test"):
        tenant = dues.reload()
        member = db.session.get(Member, dues.salaried.id)
        request = services.request_reduction(
            dues.branch_admin, member, kind=ReductionKind.exempt, monthly_amount=None,
            from_month=m("2025-09"), to_month=m("2025-11"), reason="重病住院，支部大会讨论同意")
        with pytest.raises(Forbidden):
            services.decide_reduction(dues.branch_admin, request, tenant, approve=True)
        assert [r.id for r in services.pending_reductions(dues.committee_admin, tenant)] == \
            [request.id]
        assert services.pending_reductions(dues.branch_admin, tenant) == []
        services.decide_reduction(dues.committee_admin, request, tenant, approve=True,
                                  note="同意免交")
        assert request.status == ReductionStatus.approved
        by_month = {line.month.month: line for line in lines_of(dues.salaried)}
        assert by_month[9].status == LineStatus.paid  # already paid: untouched
        assert (by_month[10].status, by_month[10].amount_due) == (LineStatus.exempt, Decimal("0"))
        assert by_month[11].status == LineStatus.exempt
        assert by_month[12].status == LineStatus.unpaid
        with pytest.raises(Conflict):
            services.decide_reduction(dues.admin, request, tenant, approve=False)


def test_a_reduced_amount_prices_the_months(dues: Dues) -> None:
    generate(dues)
    with tenant_context(dues.tenant.id), acting_as("test"):
        tenant = dues.reload()
        request = services.request_reduction(
            dues.branch_admin, db.session.get(Member, dues.salaried.id),
            kind=ReductionKind.reduced, monthly_amount=Decimal("10"),
            from_month=m("2025-10"), to_month=m("2025-10"), reason="失业")
        services.decide_reduction(dues.admin, request, tenant, approve=True)
        assert [line.amount_due for line in lines_of(dues.salaried)][9:11] == [
            Decimal("10.00"), Decimal("90.00")]


@pytest.mark.parametrize(("kind", "amount", "first", "last", "field"), [
    (ReductionKind.reduced, None, "2025-10", "2025-12", "monthly_amount"),
    (ReductionKind.exempt, Decimal("5"), "2025-10", "2025-12", "monthly_amount"),
    (ReductionKind.exempt, None, "2025-12", "2025-10", "to_month"),
])
def test_a_malformed_hardship_request_is_refused(dues: Dues, kind: ReductionKind,
                                                 amount: Decimal | None, first: str,
                                                 last: str, field: str) -> None:
    with tenant_context(dues.tenant.id), pytest.raises(InvalidInput) as caught:
        services.request_reduction(dues.branch_admin, db.session.get(Member, dues.salaried.id),
                                   kind=kind, monthly_amount=amount, from_month=m(first),
                                   to_month=m(last), reason="x")
    assert field in caught.value.errors


# --- arrears ----------------------------------------------------------------------------------

def test_arrears_are_the_unpaid_months_since_the_last_settled_one(dues: Dues) -> None:
    generate(dues)
    pay(dues, dues.salaried, ["2025-04"])
    with tenant_context(dues.tenant.id):
        behind = services.arrears_of(None, TODAY, scope=dues.tenant.code_prefix)
    assert behind[dues.salaried.id] == services.Arrears(4, Decimal("360.00"))  # May-August
    assert behind[dues.retiree.id].months == 8  # January-August
    assert behind[dues.probationary.id].months == 4  # since May


def test_reminders_are_recorded_once_per_member_month_and_level(dues: Dues) -> None:
    generate(dues)
    pay(dues, dues.salaried, ["2025-04"])  # 4 months behind: a reminder only
    with tenant_context(dues.tenant.id):
        tenant = dues.reload()
        first = services.record_reminders(tenant, today=TODAY)
        again = services.record_reminders(tenant, today=TODAY)
        rows = db.session.execute(sa.select(DuesReminder.member_id, DuesReminder.level,
                                            DuesReminder.unpaid_months)).all()
        later = services.record_reminders(tenant, today=dt.date(2025, 10, 2))
    assert (first.reminders, first.escalations) == (4, 2)  # the retiree and the farmer: 8
    assert (again.reminders, again.escalations) == (0, 0)
    assert (dues.salaried.id, ReminderLevel.reminder, 4) in rows
    assert (dues.retiree.id, ReminderLevel.escalation, 8) in rows
    assert not any(member == dues.salaried.id and level == ReminderLevel.escalation
                   for member, level, _ in rows)
    assert later.reminders == 4  # a new month: once more


def test_the_escalation_threshold_is_a_tenant_setting(dues: Dues, session: Any) -> None:
    generate(dues)
    with tenant_context(dues.tenant.id):
        tenant = dues.reload()
        tenant.rules = {**tenant.rules, "dues_reminder_months": 2, "dues_escalation_months": 9}
        recorded = services.record_reminders(tenant, today=TODAY)
    assert (recorded.reminders, recorded.escalations) == (4, 0)


def test_the_card_says_paid_up_to_and_overdue(dues: Dues) -> None:
    generate(dues)
    pay(dues, dues.salaried, ["2025-03", "2025-04"])
    with tenant_context(dues.tenant.id):
        summary = services.card_summary(dues.salaried.id, TODAY)
        assert services.card_summary(dues.unassessed.id, TODAY) is None
    assert summary.paid_through == m("2025-04")
    assert summary.arrears.months == 4


def test_closed_months_are_frozen_even_if_paid_later(dues: Dues) -> None:
    generate(dues)
    with tenant_context(dues.tenant.id), acting_as("test"):
        services.close_month(dues.branch_admin, db.session.get(Org, dues.b1.id),
                             month=m("2025-08"), today=TODAY)
        db.session.commit()
    pay(dues, dues.salaried, ["2025-08"])  # back-pay of a closed month, in September
    with tenant_context(dues.tenant.id):
        frozen = services.closed_month(dues.b1.id, m("2025-08"))
        assert frozen.paid_lines == 0
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DuesMonth)) == 1
