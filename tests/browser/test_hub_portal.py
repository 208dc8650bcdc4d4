"""The hub's national portal in real Chromium: accessible, fits a phone, charts drawn."""

from __future__ import annotations

import re

import pytest

from .conftest import DESKTOP, VIEWPORTS, check_accessibility, horizontal_overflow, screenshot

pytestmark = pytest.mark.xdist_group("browser")


def _an_item_path(page, live_hub) -> str:
    page.goto(live_hub.url("/"))
    href = page.locator("article.item a").first.get_attribute("href")
    assert href and re.fullmatch(r"/items/\d+", href)
    return href


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_portal_pages_are_accessible_and_fit_the_screen(live_hub, open_page, viewport):
    page = open_page(VIEWPORTS[viewport])
    item_path = _an_item_path(page, live_hub)
    for name, path in (("home", "/"), ("search", "/search?q=党建"), ("item", item_path),
                       ("directory", "/nodes"), ("statistics", "/statistics")):
        response = page.goto(live_hub.url(path))
        assert response is not None and response.status == 200
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("main#main").count() == 1
        if name == "statistics":
            page.wait_for_function("document.querySelectorAll('.chart canvas').length === 3")
        violations = check_accessibility(page)
        assert violations == [], f"{name} at {viewport}: {violations}"
        assert horizontal_overflow(page) <= 0, f"{name} scrolls sideways at {viewport}"
        screenshot(page, f"hub-{name}-{viewport}")


def test_search_from_the_home_page_and_open_an_item(live_hub, open_page):
    page = open_page(DESKTOP)
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(live_hub.url("/"))
    page.get_by_label("搜索全国内容").fill("党建")
    page.get_by_role("button", name="搜索").click()
    page.wait_for_url(re.compile(r".*/search\?q=.*"))
    assert page.locator("main mark").count() >= 2
    assert page.get_by_role("alert").count() == 0
    page.locator("article.item a").first.click()
    page.wait_for_url(re.compile(r".*/items/\d+"))
    assert "来源" in page.locator("main").inner_text()
    page.goto(live_hub.url("/search?q=党建&region=11"))
    page.locator("article.item a").first.click()  # the item with <script> in its title
    page.wait_for_url(re.compile(r".*/items/\d+"))
    assert "<script>alert('x')</script>" in page.locator("h1").inner_text()
    assert dialogs == []  # shown as text, never run


def test_the_statistics_page_draws_its_charts_under_its_own_csp(live_hub, open_page):
    page = open_page(DESKTOP, enforce_csp=True)
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text)
            if message.type == "error" else None)
    page.goto(live_hub.url("/statistics"))
    page.wait_for_function("document.querySelectorAll('.chart canvas').length === 3")
    assert errors == []
    page.get_by_label("排名指标").select_option("female_share")
    page.get_by_role("button", name="查看").click()
    page.wait_for_url(re.compile(r".*metric=female_share.*"))
    assert "按女党员占比排名" in page.locator("main").inner_text()


def test_english_is_one_click_away(live_hub, open_page):
    page = open_page(DESKTOP)
    page.goto(live_hub.url("/nodes"))
    page.get_by_role("navigation", name="语言").get_by_role("link", name="English").click()
    page.wait_for_url(re.compile(r".*lang=en"))
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Node directory").is_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Statistics").click()
    assert page.get_by_role("heading", name="National statistics").is_visible()
