"""Chinese by default, English on request: the switch, the cookie, the account's language."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa

from node.accounts.models import Account
from node.orgs.models import Org
from node.tenants.scoping import tenant_context
from node.web.i18n import parse_language

from .conftest import sign_in

PAGES = ["/", "/orgs/{branch}", "/login", "/password/forgot"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_are_chinese_by_default_with_a_switch_to_english(client, site, path):
    base = f"http://{site.hosts[0]}"
    path = path.format(branch=site.branch.id)
    page = client.get(path, base_url=base)
    assert page.status_code == 200
    assert '<html lang="zh-CN">' in page.text and "跳到主要内容" in page.text
    assert f'<a href="{path}?lang=en" lang="en" hreflang="en"' in page.text
    english = client.get(path, query_string={"lang": "en"}, base_url=base)
    assert '<html lang="en">' in english.text and "Skip to main content" in english.text
    assert "跳到主要内容" not in english.text


def test_the_choice_is_remembered_in_a_cookie(client, site):
    base = f"http://{site.hosts[0]}"
    assert "组织架构" in client.get("/", base_url=base).text
    switched = client.get("/", query_string={"lang": "en"}, base_url=base)
    assert "Our organizations" in switched.text
    cookie = switched.headers["Set-Cookie"]
    assert cookie.startswith("lang=en;") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert switched.headers["Cache-Control"] == "no-store"  # it sets a cookie
    later = client.get(f"/orgs/{site.branch.id}", base_url=base)
    assert "Officers" in later.text and "<dt>Secretary</dt>" in later.text
    back = client.get("/", query_string={"lang": "zh-CN"}, base_url=base)
    assert "组织架构" in back.text
    assert "组织架构" in client.get("/", base_url=base).text


def test_the_switch_keeps_the_other_query_parameters(client, site):
    page = client.get(f"/t/{site.tenant.slug}/login", query_string={"next": "/x?y=1"})
    assert f"/t/{site.tenant.slug}/login?next=%2Fx%3Fy%3D1&amp;lang=en" in page.text


def test_dates_and_numbers_follow_the_language(client, site, world, session):
    for i in range(2):
        world.org(site.tenant, site.branch, "group", name=f"小组{i}")
    with tenant_context(site.tenant.id):
        session.execute(sa.update(Org).where(Org.id == site.branch.id)
                        .values(founded_on=dt.date(2016, 1, 3)))
        session.commit()
    base = f"http://{site.hosts[0]}"
    zh = client.get("/", base_url=base).text
    founded_zh = client.get(f"/orgs/{site.branch.id}", base_url=base).text
    en = client.get("/", query_string={"lang": "en"}, base_url=base).text
    founded_en = client.get(f"/orgs/{site.branch.id}", base_url=base).text
    assert "下设3个组织" in zh and "3 sub-organizations" in en
    assert "成立于2016年1月3日" in founded_zh and "Founded on January 3, 2016" in founded_en


def test_errors_and_form_messages_are_translated(client, site):
    base = f"http://{site.hosts[0]}"
    zh = client.post("/login", data={"csrf_token": "x"}, base_url=base)
    assert zh.status_code == 400 and "表单已过期" in zh.text
    assert "此地址下没有页面" in client.get("/nope", base_url=base).text
    en = client.post("/login?lang=en", data={"csrf_token": "x"}, base_url=base)
    assert "The form has expired" in en.text
    assert "There is no page at this address" in client.get("/nope", base_url=base).text


def test_an_account_keeps_the_language_it_chose(client, site, session):
    base = f"http://{site.hosts[0]}"
    client.get("/", query_string={"lang": "en"}, base_url=base)  # cookie: English
    assert sign_in(client, site.tenant.slug, base_url=base).status_code == 303
    with tenant_context(site.tenant.id):
        assert session.scalar(sa.select(Account.locale)
                              .where(Account.id == site.account.id)) == "en"
    client.delete_cookie("lang", domain=site.hosts[0])
    page = client.get("/", base_url=base)  # no cookie: the account's language
    assert "Our organizations" in page.text
    client.get("/", query_string={"lang": "zh_CN"}, base_url=base)
    with tenant_context(site.tenant.id):
        assert session.scalar(sa.select(Account.locale)
                              .where(Account.id == site.account.id)) == "zh_CN"


@pytest.mark.parametrize(("value", "expected"), [
    ("en", "en"), ("EN-us", "en"), ("zh", "zh_CN"), ("zh-CN", "zh_CN"), ("zh_CN", "zh_CN"),
    ("fr", None), ("", None), (None, None), ("x" * 50, None)])
def test_language_values(value, expected):
    assert parse_language(value) == expected
