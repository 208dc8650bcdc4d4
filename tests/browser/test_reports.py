"""Monthly reports in real Chromium against the demo node (which generates the last three
months' reports when it seeds): the member finds last month's report on the activity card,
opens the printable page and downloads it as an Excel file; the pages pass axe and fit a phone.
"""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import pytest
from openpyxl import load_workbook

from .conftest import DESKTOP, PHONE, check_accessibility, horizontal_overflow, screenshot
from .test_console import sign_in

pytestmark = pytest.mark.xdist_group("browser")

CST = dt.timezone(dt.timedelta(hours=8))


def _last_month() -> str:
    first = dt.datetime.now(CST).date().replace(day=1)
    return (first - dt.timedelta(days=1)).strftime("%Y-%m")


def _check(page, name: str, viewport: str) -> None:
    violations = check_accessibility(page)
    assert violations == [], f"{name} at {viewport}: {violations}"
    assert horizontal_overflow(page) <= 0, f"{name} scrolls sideways at {viewport}"
    screenshot(page, f"{name}-{viewport}")


def test_the_member_sees_the_report_on_the_card_and_downloads_it(live_node, open_page):
    page = open_page(DESKTOP)
    sign_in(page, live_node, "member")
    page.goto(live_node.url("/me"))
    month = _last_month()
    section = page.locator("section", has=page.get_by_role("heading", name="月度报告"))
    assert f"最近一期：{month}" in section.inner_text()
    _check(page, "reports-card", "desktop")
    section.get_by_role("link", name=f"{month} 月度报告").click()
    page.wait_for_url(live_node.url(f"/me/reports/{month}"))
    assert page.get_by_role("heading", level=1).inner_text().startswith(f"{month} 月度报告")
    assert page.get_by_role("heading", name="组织生活").is_visible()
    _check(page, "report", "desktop")
    with page.expect_download() as info:
        page.get_by_role("link", name="下载（Excel）").click()
    download = info.value
    assert download.suggested_filename == f"report-{month}.xlsx"
    book = load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    rows = list(book.active.iter_rows(values_only=True))
    assert rows[0][:2] == ("月度报告", month)
    assert any(row[0] == "应参加的会议" and isinstance(row[1], int) for row in rows)


def test_the_report_on_a_phone(live_node, open_page):
    page = open_page(PHONE)
    sign_in(page, live_node, "member")
    page.goto(live_node.url(f"/me/reports/{_last_month()}"))
    _check(page, "report", "phone")
