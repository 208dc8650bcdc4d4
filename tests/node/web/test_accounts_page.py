"""The tenant administrator's accounts page: create, disable, enable; refusals change nothing."""

from __future__ import annotations

import sqlalchemy as sa

from node.accounts.models import Account
from node.audit.models import AuditEntry
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


# --- linking an account to a member record ------------------------------------------------------

def _new_account(world, console, username="zhang.wei"):
    return world.account(console.site.tenant, username=username)


def _linked(session, console, account_id):
    with tenant_context(console.site.tenant.id):
        session.expire_all()
        return session.get(Account, account_id).member_id


def test_an_administrator_links_an_account_to_a_member_found_by_search(client, console, world,
                                                                       session):
    account = _new_account(world, console)
    sign_in_as(client, console, "admin")
    base = f"/t/{console.slug}/console/accounts/{account.id}"
    page = client.get(base)
    assert page.status_code == 200 and "尚未关联党员档案" in page.text
    found = client.get(base, query_string={"q": "罗建"})
    assert found.status_code == 200 and 'type="radio"' in found.text
    assert console.stranger.name in found.text and found.text.count('type="radio"') == 1
    # The search box asks htmx for the results alone, in place.
    fragment = client.get(base, query_string={"q": "罗建"}, headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "<html" not in fragment.text
    assert console.stranger.name in fragment.text and 'name="member_id"' in fragment.text
    done = client.post(f"{base}/member", data={"csrf_token": csrf_of(found),
                                               "member_id": str(console.stranger.id)})
    assert done.status_code == 303 and done.headers["Location"].endswith(base)
    assert _linked(session, console, account.id) == console.stranger.id
    shown = client.get(base)
    assert "已关联" in shown.text and console.stranger.name in shown.text
    listed = _accounts(client, console)
    row = listed.text[listed.text.index("zhang.wei"):]
    assert console.stranger.name in row[:row.index("</tr>")]
    with tenant_context(console.site.tenant.id):
        audit = session.scalars(sa.select(AuditEntry).where(
            AuditEntry.entity_type == "account", AuditEntry.entity_id == account.id,
            AuditEntry.action == "account.update")).all()
    assert [a.after for a in audit] == [{"member_id": console.stranger.id}]


def test_a_member_with_an_account_is_offered_but_cannot_be_chosen(client, console, world,
                                                                   session):
    account = _new_account(world, console)
    sign_in_as(client, console, "admin")
    base = f"/t/{console.slug}/console/accounts/{account.id}"
    found = client.get(base, query_string={"q": console.site.plain_member.name})
    assert "已有账号 member" in found.text and " disabled " in found.text
    taken = client.post(f"{base}/member", data={"csrf_token": csrf_of(found),
                                                "member_id": str(console.site.plain_member.id)})
    assert taken.status_code == 409 and 'role="alert"' in taken.text
    assert "该党员已有账号（member）" in taken.text
    assert _linked(session, console, account.id) is None


def test_refused_links_say_why_and_change_nothing(client, console, world, session):
    account = _new_account(world, console)
    outsider = world.member(console.site.other, world.root(console.site.other), name="外人")
    sign_in_as(client, console, "admin")
    base = f"/t/{console.slug}/console/accounts/{account.id}"
    page = client.get(base)
    token = csrf_of(page)
    for member_id, status in ((outsider.id, 400), (999999, 400), ("", 400), ("abc", 400)):
        r = client.post(f"{base}/member", data={"csrf_token": token, "member_id": member_id})
        assert r.status_code == status, member_id
        assert 'role="alert"' in r.text
    assert "不在您的管理范围" in client.post(f"{base}/member", data={
        "csrf_token": token, "member_id": outsider.id}).text
    # another tenant's member is not even offered
    results = client.get(base, query_string={"q": "外人"}, headers={"HX-Request": "true"})
    assert 'type="radio"' not in results.text and "没有与“外人”匹配的党员" in results.text
    no_csrf = client.post(f"{base}/member", data={"member_id": console.stranger.id})
    assert no_csrf.status_code == 400
    assert _linked(session, console, account.id) is None


def test_an_administrator_unlinks_an_account(client, console, session):
    sign_in_as(client, console, "admin")
    account = console.member_account
    base = f"/t/{console.slug}/console/accounts/{account.id}"
    page = client.get(base)
    assert "取消关联" in page.text and 'hx-confirm="' in page.text
    done = client.post(f"{base}/member", data={"csrf_token": csrf_of(page), "unlink": "1"})
    assert done.status_code == 303
    assert _linked(session, console, account.id) is None
    assert "不再关联党员档案" in client.get(base).text


def test_the_account_page_is_for_tenant_administrators(client, console, world, session):
    sign_in_as(client, console, "secretary")
    base = f"/t/{console.slug}/console/accounts/{console.member_account.id}"
    assert client.get(base).status_code == 403
    token = csrf_of(client.get(f"/t/{console.slug}/console/members"))
    r = client.post(f"{base}/member", data={"csrf_token": token, "unlink": "1"})
    assert r.status_code == 403
    assert _linked(session, console, console.member_account.id) == console.site.plain_member.id
    admin = client.application.test_client()
    sign_in_as(admin, console, "admin")
    assert admin.get(f"/t/{console.slug}/console/accounts/999999").status_code == 404
    elsewhere = world.account(console.site.other, username="elsewhere")
    assert admin.get(f"/t/{console.slug}/console/accounts/{elsewhere.id}").status_code == 404
