"""The working pages in real Chromium: a member, a secretary and an administrator of the demo
tenant go through the main flows; the main pages pass axe and fit a phone."""

from __future__ import annotations

import datetime as dt
import re
import secrets

import pytest

from .conftest import (
    DESKTOP,
    PHONE,
    VIEWPORTS,
    check_accessibility,
    horizontal_overflow,
    screenshot,
)

pytestmark = pytest.mark.xdist_group("browser")


def _national_id() -> str:
    body = f"500104{dt.date(1990, 1, 1) + dt.timedelta(days=secrets.randbelow(4000)):%Y%m%d}" \
           f"{secrets.randbelow(1000):03d}"
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]


def sign_in(page, live_node, username: str, viewport=DESKTOP):
    page.goto(live_node.url("/login"))
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(live_node.password)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(live_node.url("/login"))


def _check(page, name: str, viewport: str) -> None:
    violations = check_accessibility(page)
    assert violations == [], f"{name} at {viewport}: {violations}"
    assert horizontal_overflow(page) <= 0, f"{name} scrolls sideways at {viewport}"
    screenshot(page, f"{name}-{viewport}")


def test_a_member_edits_the_self_declared_fields(live_node, open_page):
    page = open_page(DESKTOP)
    sign_in(page, live_node, "member")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="我的活动证").click()
    page.wait_for_url(live_node.url("/me"))
    assert page.get_by_role("heading", name="我的党员电子活动证").is_visible()
    assert page.get_by_role("heading", name="发展阶段记录").is_visible()
    _check(page, "member-card", "desktop")
    page.get_by_role("link", name="修改我的信息").click()
    phone = f"139{secrets.randbelow(10**8):08d}"
    page.get_by_label("手机号码").fill("not a phone")
    page.get_by_role("button", name="保存").click()
    assert page.locator(".field-error").first.is_visible()
    assert page.get_by_label("手机号码").get_attribute("aria-invalid") == "true"
    _check(page, "member-edit-error", "desktop")
    page.get_by_label("手机号码").fill(phone)
    page.get_by_role("button", name="保存").click()
    page.wait_for_url(live_node.url("/me"))
    assert "您的信息已保存" in page.locator("main").inner_text()
    assert phone in page.locator("main").inner_text()
    page.get_by_role("link", name="打印活动证").click()
    page.wait_for_url(live_node.url("/me/print"))
    page.emulate_media(media="print")
    assert not page.locator("header.site-header").is_visible()
    page.emulate_media(media="screen")
    screenshot(page, "member-print-desktop")


def test_pages_for_the_member_on_a_phone(live_node, open_page):
    page = open_page(PHONE)
    sign_in(page, live_node, "member")
    page.goto(live_node.url("/me"))
    _check(page, "member-card", "phone")
    page.goto(live_node.url("/console"))
    assert page.locator("main").inner_text().count("仅供") == 1  # a readable 403


def _branch_path(page, live_node, name: str) -> str:
    page.goto(live_node.url("/console/orgs"))
    href = page.get_by_role("link", name=name, exact=True).first.get_attribute("href")
    assert href and re.fullmatch(r"/console/orgs/\d+", href)
    return href


def test_the_admin_creates_an_org_and_the_secretary_a_member(live_node, open_page):
    admin = open_page(DESKTOP)
    sign_in(admin, live_node, "admin")
    admin.goto(live_node.url(_branch_path(admin, live_node, "钢花路社区第一党支部")))
    admin.get_by_role("link", name="新建下级组织").click()
    name = f"第{secrets.randbelow(900) + 100}党小组"
    admin.get_by_label("名称", exact=True).fill(name) if admin.get_by_label(
        "名称", exact=True).count() else admin.get_by_label("姓名").fill(name)
    admin.get_by_role("button", name="保存").click()
    admin.wait_for_url(re.compile(r".*/console/orgs/\d+$"))
    assert admin.get_by_role("heading", name=name).is_visible()
    assert "组织已建立" in admin.locator("main").inner_text()

    secretary = open_page(DESKTOP)
    sign_in(secretary, live_node, "secretary")
    secretary.goto(live_node.url("/console/members/new"))
    _check(secretary, "console-member-new", "desktop")
    secretary.get_by_label("所在组织").select_option(label="钢花路社区第一党支部")
    secretary.get_by_label("姓名").fill("周晓燕")
    secretary.get_by_label("身份证号").fill(_national_id())
    secretary.get_by_label("发展阶段").select_option("applicant")
    secretary.get_by_role("button", name="登记").click()
    secretary.wait_for_url(re.compile(r".*/console/members/\d+$"))
    assert "党员已登记" in secretary.locator("main").inner_text()
    assert secretary.get_by_role("heading", name="周晓燕").is_visible()
    _check(secretary, "console-member-detail", "desktop")


def test_an_import_with_one_bad_row_is_reported(live_node, open_page):
    page = open_page(DESKTOP)
    sign_in(page, live_node, "secretary")
    page.goto(live_node.url(_branch_path(page, live_node, "钢花路社区第一党支部")))
    code = page.locator(".facts .code").inner_text().strip()
    body = ("姓名,身份证号,组织编码,发展阶段\n"
            f"甲某,{_national_id()},{code},正式党员\n"
            f"乙某,11010519491231002,{code},正式党员\n"
            f"丙某,{_national_id()},{code},预备党员\n")
    page.goto(live_node.url("/console/import"))
    page.locator("input#file").set_input_files(
        files=[{"name": "members.csv", "mimeType": "text/csv", "buffer": body.encode()}])
    page.get_by_role("button", name="检查文件").click()
    page.wait_for_load_state()
    report = page.locator("table.report")
    assert "共 3 行：2 行可以导入，1 行有错误" in page.locator("main").inner_text()
    assert report.locator("tbody tr").count() == 1
    assert report.locator("tbody th").inner_text() == "3"
    _check(page, "console-import-report", "desktop")
    page.get_by_label(re.compile("只导入正确的")).check()
    page.get_by_role("button", name="确认导入").click()
    page.wait_for_load_state()
    assert "导入 2 名党员" in page.locator("main").inner_text()


def test_granting_a_role_and_refusing_one_above_ones_own(live_node, open_page):
    admin = open_page(DESKTOP)
    sign_in(admin, live_node, "admin")
    admin.goto(live_node.url("/console/grants"))
    viewer = admin.locator("#account_id option", has_text="(viewer)").get_attribute("value")
    admin.get_by_label("账号", exact=True).select_option(viewer)
    admin.get_by_label("角色", exact=True).select_option("org_viewer")
    admin.get_by_label("授权范围（组织）").select_option(label="钢花路社区第一党支部")
    admin.get_by_role("button", name="授权", exact=True).click()
    admin.wait_for_url(live_node.url("/console/grants"))
    assert "角色已授予" in admin.locator("main").inner_text()
    _check(admin, "console-grants", "desktop")

    secretary = open_page(DESKTOP)
    sign_in(secretary, live_node, "secretary")
    secretary.goto(live_node.url("/console/grants"))
    secretary.get_by_label("账号", exact=True).select_option(index=1)
    secretary.get_by_label("角色", exact=True).select_option("tenant_admin")
    secretary.get_by_label("授权范围（组织）").select_option(index=1)
    secretary.get_by_role("button", name="授权", exact=True).click()
    secretary.wait_for_load_state()
    assert "只能授予不高于自己的角色" in secretary.locator("main").inner_text()
    assert secretary.get_by_label("角色", exact=True).get_attribute("aria-invalid") == "true"


def test_a_secretary_gets_404_for_a_sibling_branch_member(live_node, open_page):
    admin = open_page(DESKTOP)
    sign_in(admin, live_node, "admin")
    admin.goto(live_node.url(_branch_path(admin, live_node, "钢花路社区第二党支部")))
    admin.get_by_role("link", name="本组织的党员").click()
    admin.wait_for_load_state()
    href = admin.locator("table.data tbody th a").first.get_attribute("href")
    assert href and re.fullmatch(r"/console/members/\d+", href)

    secretary = open_page(DESKTOP)
    sign_in(secretary, live_node, "secretary")
    response = secretary.goto(live_node.url(href))
    assert response is not None and response.status == 404
    assert "此地址下没有页面" in secretary.locator("main").inner_text()
    _check(secretary, "console-404", "desktop")


def test_switch_the_console_to_english(live_node, open_page):
    page = open_page(DESKTOP)
    sign_in(page, live_node, "secretary")
    page.goto(live_node.url("/console/members"))
    assert page.get_by_role("heading", name="党员管理").is_visible()
    page.get_by_role("navigation", name="语言").get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Members", exact=True).is_visible()
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Organizations").click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Organizations").is_visible()  # remembered
    screenshot(page, "console-orgs-english-desktop")
    page.get_by_role("navigation", name="Language").get_by_role("link", name="中文").click()


MAIN_PAGES = (("console-home", "/console"), ("console-orgs", "/console/orgs"),
              ("console-members", "/console/members"), ("console-audit", "/console/audit"),
              ("console-settings", "/console/settings"), ("console-admins", "/console/admins"),
              ("console-import", "/console/import"))


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_console_pages_are_accessible_and_fit_the_screen(live_node, open_page, viewport):
    page = open_page(VIEWPORTS[viewport])
    sign_in(page, live_node, "admin")
    pages = [*MAIN_PAGES, ("console-org", _branch_path(page, live_node, "钢花路社区第一党支部"))]
    for name, path in pages:
        response = page.goto(live_node.url(path))
        assert response is not None and response.status == 200, path
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        _check(page, name, viewport)
