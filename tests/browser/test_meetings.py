"""Meetings in real Chromium: the secretary schedules a meeting and shows its code, a member
checks in with the code, the secretary sees the attendance; the committee's compliance
dashboard draws its chart. The pages pass axe and fit a phone."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from node.meetings.models import LOCAL_TZ

from .conftest import DESKTOP, PHONE, check_accessibility, horizontal_overflow, screenshot

pytestmark = pytest.mark.xdist_group("browser")


def sign_in(page, live_node, username: str) -> None:
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


def _present(page) -> int:
    return int(page.locator("table.attendance select").evaluate_all(
        "els => els.filter(e => e.value === 'present').length"))


def test_a_member_checks_in_with_the_code_and_the_secretary_sees_it(live_node, open_page):
    now = dt.datetime.now(LOCAL_TZ)
    starts, ends = now - dt.timedelta(minutes=5), now + dt.timedelta(hours=2)
    secretary = open_page(DESKTOP)
    sign_in(secretary, live_node, "secretary")
    secretary.goto(live_node.url("/console/meetings/new"))
    _check(secretary, "meeting-new", "desktop")
    branch = secretary.locator("select#org_id option", has_text="钢花路社区第一党支部")
    secretary.locator("select#org_id").select_option(branch.get_attribute("value"))
    secretary.locator("select#kind").select_option("theme_day")
    secretary.get_by_label("标题").fill("主题党日：学习党章")
    secretary.get_by_label("开始时间").fill(starts.strftime("%Y-%m-%dT%H:%M"))
    secretary.get_by_label("结束时间").fill(ends.strftime("%Y-%m-%dT%H:%M"))
    secretary.get_by_label("地点").fill("社区党员活动室")
    secretary.get_by_role("button", name="安排", exact=True).click()
    secretary.wait_for_url(re.compile(r".*/console/meetings/\d+$"))
    assert "会议已安排" in secretary.locator("main").inner_text()
    detail_url = secretary.url
    assert _present(secretary) == 0
    secretary.get_by_role("link", name="签到码").click()
    secretary.wait_for_url(re.compile(r".*/console/meetings/\d+/checkin$"))
    code = secretary.locator(".big-code").inner_text().strip()
    assert re.fullmatch(r"\d{6}", code)
    qr = secretary.get_by_role("img", name="签到链接的二维码")
    assert qr.is_visible() and qr.evaluate("img => img.naturalWidth") > 0
    _check(secretary, "meeting-code", "desktop")

    member = open_page(PHONE)
    sign_in(member, live_node, "member")
    member.goto(live_node.url("/me/meetings"))
    member.get_by_role("link", name="输入签到码签到").click()
    _check(member, "meeting-enter-code", "phone")
    member.get_by_label("签到码").fill("000000" if code != "000000" else "111111")
    member.get_by_role("button", name="签到").click()
    assert member.locator(".field-error").first.is_visible()
    member.get_by_label("签到码").fill(code)
    member.get_by_role("button", name="签到").click()
    member.wait_for_url(re.compile(r".*/me/meetings/\d+$"))
    assert "签到成功" in member.locator("main").inner_text()
    assert "已到" in member.locator("main").inner_text()
    _check(member, "meeting-member", "phone")

    secretary.goto(detail_url)
    assert _present(secretary) == 1
    assert "签到码签到" in secretary.locator("table.attendance").inner_text()
    _check(secretary, "meeting-sheet", "desktop")


def test_the_compliance_dashboard_draws_its_chart(live_node, open_page):
    page = open_page(DESKTOP)
    sign_in(page, live_node, "committee")
    page.goto(live_node.url("/console/compliance"))
    assert page.get_by_role("heading", name=re.compile("组织生活落实情况")).is_visible()
    chart = page.locator("#compliance-chart")
    chart.locator("canvas").wait_for()
    assert chart.get_attribute("data-drawn") == "1"
    rows = page.locator("table.branches tbody tr")
    assert rows.count() >= 3
    assert page.locator("table.branches tr.inactive").count() >= 1  # the demo's quiet branch
    _check(page, "meeting-compliance", "desktop")
    page.get_by_role("link", name="本年").click()
    page.wait_for_url(re.compile(r".*period=\d{4}$"))
    assert page.locator("#compliance-chart canvas").count() == 1

    calendar = open_page(PHONE)
    sign_in(calendar, live_node, "secretary")
    calendar.goto(live_node.url("/console/meetings"))
    assert calendar.locator(".meeting-list").is_visible()
    assert not calendar.locator(".month-grid").is_visible()
    _check(calendar, "meeting-calendar", "phone")
