"""Dues in real Chromium against the demo node and its sandbox payment provider: the member
pays this month online ("pay now" → the sandbox's checkout → back to the node, paid), and the
secretary records a cash payment on the month's sheet; the pages pass axe and fit a phone."""

from __future__ import annotations

import datetime as dt

import pytest

from .conftest import DESKTOP, PHONE, check_accessibility, horizontal_overflow, screenshot
from .test_console import sign_in

pytestmark = pytest.mark.xdist_group("browser")

CST = dt.timezone(dt.timedelta(hours=8))


def _this_month() -> str:
    return dt.datetime.now(CST).strftime("%Y-%m")


def _check(page, name: str, viewport: str) -> None:
    violations = check_accessibility(page)
    assert violations == [], f"{name} at {viewport}: {violations}"
    assert horizontal_overflow(page) <= 0, f"{name} scrolls sideways at {viewport}"
    screenshot(page, f"{name}-{viewport}")


def test_a_member_pays_this_months_dues_through_the_sandbox(live_node, open_page):
    page = open_page(DESKTOP)
    sign_in(page, live_node, "member")
    page.goto(live_node.url("/me"))
    page.get_by_role("link", name="我的党费和网上缴纳").click()
    page.wait_for_url(live_node.url("/me/dues"))
    _check(page, "dues-mine", "desktop")
    month = _this_month()
    own = page.locator("section", has=page.get_by_role("heading", name="年月交党费"))
    own.get_by_label(month, exact=False).first.check()
    own.get_by_role("button", name="立即缴纳").click()
    page.wait_for_url("**/checkout?**")
    assert page.get_by_role("heading", name="收银台（沙箱）").is_visible()
    assert "¥" in page.locator("main").inner_text()
    _check(page, "dues-sandbox-checkout", "desktop")
    page.get_by_role("button", name="确认支付").click()
    page.wait_for_url("**/me/dues/orders/**")
    assert page.get_by_role("status").inner_text() == "交纳成功，谢谢！"
    _check(page, "dues-paid", "desktop")
    page.get_by_role("link", name="我的党费").click()
    page.wait_for_url(live_node.url("/me/dues"))
    table = page.locator("section", has=page.get_by_role("heading", name="年月交党费")).first
    row = table.get_by_role("row", name=month)
    assert "已缴" in row.inner_text()


def test_the_secretary_records_a_cash_payment(live_node, open_page):
    page = open_page(DESKTOP)
    sign_in(page, live_node, "secretary")
    page.goto(live_node.url("/console"))
    page.get_by_role("navigation", name="管理后台").get_by_role("link", name="党费").click()
    page.wait_for_url("**/console/dues**")
    assert page.get_by_role("heading", name="交纳情况").is_visible()
    _check(page, "dues-month", "desktop")
    buttons = page.locator("form[action$='/console/dues/record'] button")
    before = buttons.count()
    assert before > 0, "the demo branch has members who owe this month"
    buttons.first.click()
    page.wait_for_load_state()
    assert "已登记交纳" in page.locator("main").inner_text()
    assert page.locator("form[action$='/console/dues/record'] button").count() == before - 1
    page.get_by_role("link", name="汇总").click()
    page.wait_for_url("**/console/dues/totals**")
    _check(page, "dues-totals", "desktop")


def test_the_dues_pages_on_a_phone(live_node, open_page):
    page = open_page(PHONE)
    sign_in(page, live_node, "member")
    page.goto(live_node.url("/me/dues"))
    _check(page, "dues-mine", "phone")
    secretary = open_page(PHONE)
    sign_in(secretary, live_node, "secretary")
    secretary.goto(live_node.url("/console/dues"))
    _check(secretary, "dues-month", "phone")
