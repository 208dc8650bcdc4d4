"""Dues pages through the test client on both backends: the secretary's month (record, close),
a member's dues account, reach, the member's "pay now"; and the arrears alerts mailed through
a real SMTP server, once per member and month."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
import sqlalchemy as sa

from node.accounts.models import Account
from node.audit.recording import acting_as
from node.db import db
from node.dues import mailing, services
from node.dues.models import DuesMonth, DuesPayment, DuesReminder, PaymentOrder
from node.dues.rules import DuesCategory
from node.members.models import Member
from node.orgs.models import Org
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context

from .conftest import csrf_of, sign_in_as

TODAY = services.local_today()
THIS_MONTH = services.month_of(TODAY).strftime("%Y-%m")


@pytest.fixture()
def dues_site(console: Any, session: Any) -> Any:
    """The plain member assessed (salaried, 4,000 yuan: 40.00 a month), last year's and this
    year's lines generated, nothing paid."""
    site = console.site
    principal = services.Principal(account_id=0, tenant_id=site.tenant.id, username="test",
                                   grants=((services.Role.tenant_admin, site.tenant.code_prefix),))
    with tenant_context(site.tenant.id), acting_as("test"):
        tenant = session.get(Tenant, site.tenant.id)
        for year in (TODAY.year - 1, TODAY.year):
            services.assess(principal, session.get(Member, site.plain_member.id), tenant,
                            year=year, category=DuesCategory.salaried, base=Decimal("4000"))
            services.generate(principal, session.get(Org, site.root.id), tenant, year=year)
        session.commit()
    return console


def _count(model: Any, tenant_id: int) -> int:
    with tenant_context(tenant_id):
        n = db.session.scalar(sa.select(sa.func.count()).select_from(model))
    db.session.remove()
    return int(n or 0)


def test_the_secretary_records_a_payment_and_closes_the_month(client: Any,
                                                              dues_site: Any) -> None:
    site, slug = dues_site.site, dues_site.slug
    sign_in_as(client, dues_site, "secretary")
    page = client.get(f"/t/{slug}/console/dues?org_id={site.branch.id}&month={THIS_MONTH}")
    assert page.status_code == 200 and site.plain_member.name in page.text
    assert "¥40.00" in page.text
    token = csrf_of(page)
    form = {"csrf_token": token, "member_id": site.plain_member.id, "months": THIS_MONTH,
            "method": "cash", "back_month": THIS_MONTH}
    done = client.post(f"/t/{slug}/console/dues/record", data=form)
    assert done.status_code == 303
    assert _count(DuesPayment, site.tenant.id) == 1
    again = client.post(f"/t/{slug}/console/dues/record", data=form)
    assert again.status_code == 409 and 'role="alert"' in again.text
    assert "已缴纳或已免交" in again.text
    assert _count(DuesPayment, site.tenant.id) == 1
    closed = client.post(f"/t/{slug}/console/dues/close", data={
        "csrf_token": token, "org_id": site.branch.id, "month": THIS_MONTH})
    assert closed.status_code == 303
    assert _count(DuesMonth, site.tenant.id) == 1
    shown = client.get(f"/t/{slug}/console/dues?org_id={site.branch.id}&month={THIS_MONTH}")
    assert "已结账" in shown.text or "closed" in shown.text


def test_a_payment_beyond_the_backpay_limit_is_refused_readably(client: Any,
                                                                dues_site: Any) -> None:
    site, slug = dues_site.site, dues_site.slug
    sign_in_as(client, dues_site, "secretary")
    old = services.add_months(services.month_of(TODAY), -7).strftime("%Y-%m")
    page = client.get(f"/t/{slug}/console/dues/members/{site.plain_member.id}")
    assert page.status_code == 200
    refused = client.post(f"/t/{slug}/console/dues/record", data={
        "csrf_token": csrf_of(page), "member_id": site.plain_member.id, "months": old,
        "method": "cash", "back": "member"})
    assert refused.status_code == 409
    assert "超出了可补交的期限" in refused.text
    assert _count(DuesPayment, site.tenant.id) == 0


def test_bad_form_values_change_nothing(client: Any, dues_site: Any) -> None:
    site, slug = dues_site.site, dues_site.slug
    sign_in_as(client, dues_site, "secretary")
    page = client.get(f"/t/{slug}/console/dues/members/{site.plain_member.id}")
    token = csrf_of(page)
    for data in ({"months": "2025-13", "method": "cash"}, {"months": THIS_MONTH,
                                                           "method": "online"},
                 {"months": "", "method": "cash"}):
        r = client.post(f"/t/{slug}/console/dues/record", data={
            "csrf_token": token, "member_id": site.plain_member.id, "back": "member", **data})
        assert r.status_code == 400, data
    r = client.post(f"/t/{slug}/console/dues/members/{site.plain_member.id}/large", data={
        "csrf_token": token, "amount": "12.345", "method": "cash"})
    assert r.status_code == 400
    r = client.post(f"/t/{slug}/console/dues/members/{site.plain_member.id}/assess", data={
        "csrf_token": token, "year": str(TODAY.year), "category": "salaried", "base": ""})
    assert r.status_code == 400 and "请填写申报的月收入" in r.text
    assert _count(DuesPayment, site.tenant.id) == 0


def test_a_secretary_cannot_reach_a_sibling_branchs_dues(client: Any, dues_site: Any) -> None:
    slug = dues_site.slug
    sign_in_as(client, dues_site, "secretary")
    assert client.get(f"/t/{slug}/console/dues/members/{dues_site.stranger.id}"
                      ).status_code == 404
    assert client.get(f"/t/{slug}/console/dues?org_id={dues_site.sibling.id}"
                      ).status_code == 404
    page = client.get(f"/t/{slug}/console/dues")
    r = client.post(f"/t/{slug}/console/dues/record", data={
        "csrf_token": csrf_of(page), "member_id": dues_site.stranger.id,
        "months": THIS_MONTH, "method": "cash"})
    assert r.status_code == 404
    assert dues_site.stranger.name not in r.text


def test_the_member_pays_now_through_the_provider(client: Any, dues_site: Any,
                                                  tweak_settings: Any) -> None:
    site, slug = dues_site.site, dues_site.slug
    tweak_settings(pay_provider="sandbox", pay_sandbox_url="http://127.0.0.1:9",
                   pay_sandbox_secret="page-test-sandbox-secret")
    sign_in_as(client, dues_site, "member")
    page = client.get(f"/t/{slug}/me/dues")
    assert page.status_code == 200 and "立即缴纳" in page.text
    card = client.get(f"/t/{slug}/me")
    assert "我的党费和网上缴纳" in card.text
    token = csrf_of(page)
    bad = client.post(f"/t/{slug}/me/dues/pay", data={"csrf_token": token, "months": "x"})
    assert bad.status_code == 400 and _count(PaymentOrder, site.tenant.id) == 0
    r = client.post(f"/t/{slug}/me/dues/pay", data={"csrf_token": token,
                                                    "months": THIS_MONTH})
    assert r.status_code == 303
    assert r.headers["Location"].startswith("http://127.0.0.1:9/checkout?")
    with tenant_context(site.tenant.id):
        order = db.session.scalars(sa.select(PaymentOrder)).one()
        assert order.amount == Decimal("40.00")
    db.session.remove()
    shown = client.get(f"/t/{slug}/me/dues/orders/{order.token}")
    assert shown.status_code == 200 and "¥40.00" in shown.text
    other = client.application.test_client()
    sign_in_as(other, dues_site, "secretary")
    assert other.get(f"/t/{slug}/me/dues/orders/{order.token}").status_code == 404


def test_arrears_alerts_are_mailed_once(app: Any, dues_site: Any, mail_app: Any, mailbox: Any,
                                        session: Any) -> None:
    site = dues_site.site
    with tenant_context(site.tenant.id):
        session.execute(sa.update(Account).where(Account.username == "member")
                        .values(email="he.xiuying@example.org"))
        session.commit()
    reports = mailing.remind(mail_app, site.tenant.slug)
    (report,) = reports
    assert (report.reminders, report.escalations, report.sent, report.failed) == (1, 1, 2, 0)
    messages = mailbox.wait_for(2)
    by_to = {str(m["To"]): m for m in messages}
    reminder = by_to["he.xiuying@example.org"]
    assert "党费" in str(reminder["Subject"]) and "未交" in str(reminder["Subject"])
    assert "/me/dues" in reminder.get_content()
    alert = by_to["jiang.ling@example.org"]
    assert site.plain_member.name in str(alert["Subject"])
    assert f"/console/dues/members/{site.plain_member.id}" in alert.get_content()
    again = mailing.remind(mail_app, site.tenant.slug)
    assert (again[0].reminders, again[0].escalations, again[0].sent) == (0, 0, 0)
    assert len(mailbox.messages) == 2
    assert _count(DuesReminder, site.tenant.id) == 2


def test_alerts_wait_when_mail_is_not_configured(app: Any, dues_site: Any,
                                                 tweak_settings: Any) -> None:
    tweak_settings(smtp_host="", debug=False)
    (report,) = mailing.remind(app, dues_site.site.tenant.slug)
    assert report.mail_off and (report.reminders, report.escalations) == (1, 1)
    with tenant_context(dues_site.site.tenant.id):
        assert all(r.sent_at is None for r in db.session.scalars(sa.select(DuesReminder)))
    db.session.remove()


def test_the_card_shows_the_dues_line(client: Any, dues_site: Any) -> None:
    site, slug = dues_site.site, dues_site.slug
    sign_in_as(client, dues_site, "secretary")
    page = client.get(f"/t/{slug}/console/members/{site.plain_member.id}")
    assert page.status_code == 200 and "党费" in page.text and "欠缴" in page.text


def test_the_settings_page_keeps_the_dues_rules(client: Any, dues_site: Any,
                                                session: Any) -> None:
    slug = dues_site.slug
    sign_in_as(client, dues_site, "admin")
    page = client.get(f"/t/{slug}/console/settings")
    assert page.status_code == 200 and 'name="dues_backpay_months"' in page.text
    form = {name: value for name, value in _inputs(page.text).items()}
    form.update(csrf_token=csrf_of(page), dues_reminder_months="6",
                dues_escalation_months="6")
    refused = client.post(f"/t/{slug}/console/settings", data=form)
    assert refused.status_code == 400
    form.update(dues_reminder_months="2", dues_escalation_months="5")
    assert client.post(f"/t/{slug}/console/settings", data=form).status_code == 303
    with tenant_context(dues_site.site.tenant.id):
        rules = db.session.get(Tenant, dues_site.site.tenant.id).rules
    assert rules["dues_reminder_months"] == 2 and rules["dues_escalation_months"] == 5


def _inputs(text: str) -> dict[str, str]:
    import re

    return dict(re.findall(r'<input type="(?:text|number)" id="[^"]*" name="([^"]+)"\s*'
                           r'value="([^"]*)"', text))



def test_the_branch_consents_to_paying_ahead_on_the_members_page(client: Any, dues_site: Any,
                                                                 session: Any,
                                                                 tweak_settings: Any) -> None:
    from node.dues.models import DuesAheadConsent

    site, slug = dues_site.site, dues_site.slug
    following = services.add_months(services.month_of(TODAY), 1)
    nxt = following.strftime("%Y-%m")
    if following.year != TODAY.year:  # December: next month's line is next year's
        with tenant_context(site.tenant.id), acting_as("test"):
            principal = services.Principal(
                account_id=0, tenant_id=site.tenant.id, username="test",
                grants=((services.Role.tenant_admin, site.tenant.code_prefix),))
            tenant = session.get(Tenant, site.tenant.id)
            services.assess(principal, session.get(Member, site.plain_member.id), tenant,
                            year=following.year, category=DuesCategory.salaried,
                            base=Decimal("4000"))
            services.generate(principal, session.get(Org, site.root.id), tenant,
                              year=following.year, months=[following])
            session.commit()
    sign_in_as(client, dues_site, "secretary")
    url = f"/t/{slug}/console/dues/members/{site.plain_member.id}"
    page = client.get(url)
    assert page.status_code == 200 and "预交党费" in page.text
    token = csrf_of(page)
    # ahead without consent: refused readably, nothing recorded
    form = {"csrf_token": token, "member_id": site.plain_member.id, "months": nxt,
            "method": "cash", "back": "member"}
    refused = client.post(f"/t/{slug}/console/dues/record", data=form)
    assert refused.status_code == 409 and "须经支部同意" in refused.text
    assert _count(DuesPayment, site.tenant.id) == 0
    bad = client.post(f"{url}/ahead-consent", data={"csrf_token": token,
                                                    "through_month": THIS_MONTH})
    assert bad.status_code == 400 and "请选择本月以后的月份" in bad.text
    assert _count(DuesAheadConsent, site.tenant.id) == 0
    done = client.post(f"{url}/ahead-consent", data={"csrf_token": token,
                                                     "through_month": nxt, "note": "按季度"})
    assert done.status_code == 303
    assert f"经支部同意，可预交至 {nxt}" in client.get(url).text
    # the member now sees next month among the months to pay
    member = client.application.test_client()
    sign_in_as(member, dues_site, "member")
    tweak_settings(pay_provider="sandbox", pay_sandbox_url="http://127.0.0.1:9",
                   pay_sandbox_secret="page-test-sandbox-secret")
    mine = member.get(f"/t/{slug}/me/dues")
    assert f'value="{nxt}"' in mine.text
    # revoked: the collector may still take it, recording the consent with the payment
    assert client.post(f"{url}/ahead-consent/revoke", data={"csrf_token": token}
                       ).status_code == 303
    assert f'value="{nxt}"' not in member.get(f"/t/{slug}/me/dues").text
    assert client.post(f"/t/{slug}/console/dues/record", data=form).status_code == 409
    sheet = client.get(f"/t/{slug}/console/dues?org_id={site.plain_member.org_id}"
                       f"&month={nxt}")
    assert sheet.status_code == 200 and 'name="consent_ahead"' in sheet.text
    assert 'name="consent_ahead"' not in client.get(
        f"/t/{slug}/console/dues?org_id={site.plain_member.org_id}&month={THIS_MONTH}").text
    recorded = client.post(f"/t/{slug}/console/dues/record", data={**form,
                                                                   "consent_ahead": "y"})
    assert recorded.status_code == 303
    assert _count(DuesPayment, site.tenant.id) == 1
    with tenant_context(site.tenant.id):
        consent = db.session.scalars(sa.select(DuesAheadConsent)).one()
        assert consent.revoked_at is None and consent.through_month == following
    db.session.remove()
