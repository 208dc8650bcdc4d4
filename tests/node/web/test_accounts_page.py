"""The tenant administrator's accounts page: create, disable, enable; refusals change nothing."""

from __future__ import annotations

import sqlalchemy as sa

from node.accounts.models import Account
from node.tenants.scoping import tenant_context

from .conftest import csrf_of, sign_in, sign_in_as


def _accounts(client, console):
    return client.get(f"/t/{console.slug}/console/accounts")


def _count(session, tenant):
    with tenant_context(tenant.id):
        return session.scalar(sa.select(sa.func.count()).select_from(Account))


def test_an_administrator_creates_disables_and_enables_an_account(client, console, session):
    sign_in_as(client, console, "admin")
    page = _accounts(client, console)
    assert page.status_code == 200 and "secretary" in page.text
    done = client.post(f"/t/{console.slug}/console/accounts", data={
        "csrf_token": csrf_of(page), "username": "zhang.wei", "display_name": "张伟",
        "email": "zhang.wei@example.org", "password": "initial-pass-1"})
    assert done.status_code == 303
    listed = _accounts(client, console)
    assert "账号 zhang.wei 已创建" in listed.text and "张伟" in listed.text
    with tenant_context(console.site.tenant.id):
        account = session.scalars(sa.select(Account).where(Account.username == "zhang.wei")).one()
    off = client.post(f"/t/{console.slug}/console/accounts/{account.id}/active",
                      data={"csrf_token": csrf_of(listed), "active": "0"})
    assert off.status_code == 303
    session.expire_all()
    assert session.get(Account, account.id).is_active is False
    fresh = client.application.test_client()
    assert sign_in(fresh, console.slug, "zhang.wei", "initial-pass-1").status_code != 303
    page = _accounts(client, console)
    assert "zhang.wei 已停用" in page.text
    client.post(f"/t/{console.slug}/console/accounts/{account.id}/active",
                data={"csrf_token": csrf_of(page), "active": "1"})
    session.expire_all()
    assert session.get(Account, account.id).is_active is True
    assert sign_in(fresh, console.slug, "zhang.wei", "initial-pass-1").status_code == 303


def test_refused_accounts_say_why_and_change_nothing(client, console, session):
    sign_in_as(client, console, "admin")
    before = _count(session, console.site.tenant)
    page = _accounts(client, console)
    taken = client.post(f"/t/{console.slug}/console/accounts", data={
        "csrf_token": csrf_of(page), "username": "secretary", "display_name": "重名",
        "password": "initial-pass-1"})
    assert taken.status_code == 409
    assert 'aria-invalid="true"' in taken.text
    short = client.post(f"/t/{console.slug}/console/accounts", data={
        "csrf_token": csrf_of(page), "username": "x", "display_name": "",
        "password": "short"})
    assert short.status_code == 400
    assert short.text.count('aria-invalid="true"') >= 3
    no_csrf = client.post(f"/t/{console.slug}/console/accounts", data={
        "username": "nocsrf", "display_name": "无", "password": "initial-pass-1"})
    assert no_csrf.status_code == 400
    assert _count(session, console.site.tenant) == before


def test_the_administrator_cannot_disable_themself(client, console, session):
    sign_in_as(client, console, "admin")
    page = _accounts(client, console)
    with tenant_context(console.site.tenant.id):
        me = session.scalars(sa.select(Account).where(Account.username == "admin")).one()
    client.post(f"/t/{console.slug}/console/accounts/{me.id}/active",
                data={"csrf_token": csrf_of(page), "active": "0"})
    assert "不能停用自己的账号" in _accounts(client, console).text
    session.expire_all()
    assert session.get(Account, me.id).is_active is True
