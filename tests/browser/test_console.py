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


# --- issue 3: link accounts, reveal national IDs, search in place; the quarantine -------------


def test_the_admin_links_a_new_account_to_a_member(live_node, open_page):
    page = open_page(DESKTOP)
    sign_in(page, live_node, "admin")
    page.goto(live_node.url("/console/accounts"))
    username = f"link{secrets.randbelow(10**6):06d}"
    page.get_by_label("用户名").fill(username)
    page.get_by_label("显示名称").fill("新账号")
    page.get_by_label("初始密码").fill(live_node.password)
    page.get_by_role("button", name="创建账号").click()
    page.wait_for_url(live_node.url("/console/accounts"))
    page.get_by_role("row", name=re.compile(username)).get_by_role(
        "link", name=re.compile("关联党员")).click()
    page.wait_for_url(re.compile(r".*/console/accounts/\d+$"))
    account_url = page.url
    page.get_by_label("查找党员").fill("王")  # results arrive in place (htmx), no new page
    choice = page.locator("#candidates input[type=radio]:not([disabled])").first
    choice.wait_for()
    assert page.url == account_url
    label = page.locator(f"label[for='{choice.get_attribute('id')}']").inner_text()
    name = label.split(" ")[0]
    _check(page, "console-account-link", "desktop")
    choice.check()
    page.get_by_role("button", name=re.compile(f"将 {username} 关联到所选党员")).click()
    page.wait_for_url(account_url)
    main = page.locator("main").inner_text()
    assert f"{username} 已关联到 {name}" in main and "该账号已关联党员" in main
    page.goto(live_node.url("/console/accounts"))
    assert name in page.get_by_role("row", name=re.compile(username)).inner_text()


def test_the_secretary_reveals_a_national_id_and_finds_the_audit_entry(live_node, open_page):
    page = open_page(DESKTOP)
    sign_in(page, live_node, "secretary")
    page.goto(live_node.url("/console/members"))
    page.locator("table.data tbody th a").first.click()
    page.wait_for_url(re.compile(r".*/console/members/\d+$"))
    member_id = page.url.rsplit("/", 1)[1]
    value = page.locator("#national-id-value")
    masked = value.inner_text()
    assert "*" in masked
    page.get_by_role("button", name=re.compile("显示完整号码")).click()
    page.wait_for_function(
        "() => !document.querySelector('#national-id-value').textContent.includes('*')")
    full = page.locator("#national-id-value").inner_text().strip()
    assert re.fullmatch(r"\d{17}[\dX]", full) and full[:3] == masked[:3]
    assert full[-4:] == masked.strip()[-4:]
    page.wait_for_function("() => document.activeElement.id === 'national-id-value'")
    assert "已记入审计日志" in page.locator("main").inner_text()
    _check(page, "console-member-revealed", "desktop")
    page.goto(live_node.url(f"/console/audit?action=member.reveal_national_id"
                            f"&entity_type=member&entity_id={member_id}"))
    rows = page.locator("table.audit tbody tr")
    assert rows.count() >= 1
    assert "secretary" in rows.first.inner_text()
    assert "member.reveal_national_id" in rows.first.inner_text()


def test_the_member_search_updates_the_list_in_place(live_node, open_page):
    page = open_page(DESKTOP)
    sign_in(page, live_node, "secretary")
    page.goto(live_node.url("/console/members"))
    first = page.locator("table.data tbody th a").first.inner_text()
    page.evaluate("() => { window.stillHere = true; }")
    page.get_by_label("姓名、党员编号或身份证号").fill(first)
    page.wait_for_url(re.compile(r".*/console/members\?.*q="))
    page.wait_for_function(
        "name => [...document.querySelectorAll('#results tbody th')].every("
        "c => c.textContent.includes(name))", arg=first)
    assert page.evaluate("() => window.stillHere") is True  # no page load: swapped in place
    assert "显示" in page.locator("#results-status").inner_text()
    page.get_by_label("发展阶段").select_option("applicant")
    page.wait_for_url(re.compile(r".*stage=applicant"))
    assert page.evaluate("() => window.stillHere") is True
    _check(page, "console-members-search", "desktop")


def _hold_for_the_demo_tenant(live_node, n: int) -> list[int]:
    """Held messages claiming the demo tenant, written into the live node's database as its
    consumer would have (a ping whose handler failed: releasing it re-runs it harmlessly)."""
    import sqlalchemy as sa
    from sqlalchemy.orm import Session

    from federation.delivery.consumer import PING, envelope_record
    from federation.delivery.models import QuarantinedMessage
    from federation.envelope import Envelope
    from federation.keyfile import create_signing_key

    assert live_node.instance is not None
    key = live_node.instance / "node-signing.key"  # the node's NODE_SIGNING_KEY_FILE default
    if not key.exists():
        create_signing_key(str(key))
    engine = sa.create_engine(f"sqlite:///{live_node.instance / 'node.db'}")
    try:
        with Session(engine) as session:
            entries = []
            for i in range(n):
                envelope = Envelope.create(PING, source="hub", destination="node-demo",
                                           tenant="dadukou", data={"n": i, "note": "<b>x</b>"})
                entries.append(QuarantinedMessage(
                    reason="handler_failed", detail="RuntimeError: the test broke it",
                    source="hub", message_id=envelope.id, type=PING, tenant="dadukou",
                    body=envelope_record(envelope)))
            session.add_all(entries)
            session.commit()
            return [entry.id for entry in entries]
    finally:
        engine.dispose()


def test_the_admin_inspects_releases_and_discards_quarantined_messages(live_node, open_page):
    release_id, discard_id = _hold_for_the_demo_tenant(live_node, 2)
    page = open_page(DESKTOP)
    sign_in(page, live_node, "admin")
    page.get_by_role("navigation", name="主导航").get_by_role("link", name="管理后台").click()
    page.get_by_role("navigation", name="管理后台").get_by_role("link", name="隔离区").click()
    page.wait_for_url(live_node.url("/console/quarantine"))
    _check(page, "console-quarantine", "desktop")
    page.locator(f"a[href='/console/quarantine/{release_id}']").click()
    page.wait_for_url(live_node.url(f"/console/quarantine/{release_id}"))
    body = page.locator("pre.message-body").inner_text()
    assert '"note": "<b>x</b>"' in body  # shown as text, not markup
    assert page.locator("pre.message-body b").count() == 0
    _check(page, "console-quarantine-entry", "desktop")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_label("备注").first.fill("测试放行")
    page.get_by_role("button", name="放行", exact=True).click()
    page.wait_for_function("() => document.body.innerText.includes('消息已放行')")
    assert "已应用" in page.locator(".notices").inner_text()
    assert page.get_by_role("button", name="放行", exact=True).count() == 0
    page.goto(live_node.url(f"/console/quarantine/{discard_id}"))
    page.once("dialog", lambda dialog: dialog.dismiss())  # changed one's mind: nothing happens
    page.get_by_role("button", name="丢弃", exact=True).click()
    assert page.get_by_role("button", name="丢弃", exact=True).is_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="丢弃", exact=True).click()
    page.wait_for_function("() => document.body.innerText.includes('消息已丢弃')")
    page.goto(live_node.url("/console/quarantine?status=all"))
    listed = page.locator("table.data tbody").inner_text()
    assert "已放行" in listed and "已丢弃" in listed


def test_the_secretary_has_no_quarantine(live_node, open_page):
    page = open_page(PHONE)
    sign_in(page, live_node, "secretary")
    response = page.goto(live_node.url("/console/quarantine"))
    assert response is not None and response.status == 403
    assert page.get_by_role("navigation", name="管理后台").get_by_role(
        "link", name="隔离区").count() == 0
