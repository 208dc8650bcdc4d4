"""The node's pages in real Chromium: accessible, usable on a phone, sign-in and language."""

from __future__ import annotations

import re

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


def _an_org_page(page, live_node) -> str:
    """The first branch linked from the home page."""
    page.goto(live_node.url("/"))
    href = page.locator("ul.tree a", has_text="党支部").first.get_attribute("href")
    assert href and re.fullmatch(r"/orgs/\d+", href)
    return href


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_public_pages_are_accessible_and_fit_the_screen(live_node, open_page, viewport):
    page = open_page(VIEWPORTS[viewport])
    org_path = _an_org_page(page, live_node)
    for name, path in (("home", "/"), ("org", org_path), ("login", "/login"),
                       ("forgot-password", "/password/forgot")):
        response = page.goto(live_node.url(path))
        assert response is not None and response.status == 200
        assert page.locator("html").get_attribute("lang") == "zh-CN"
        assert page.locator("main#main").count() == 1
        assert page.locator("header nav[aria-label]").count() == 2  # main and language
        violations = check_accessibility(page)
        assert violations == [], f"{name} at {viewport}: {violations}"
        assert horizontal_overflow(page) <= 0, f"{name} scrolls sideways at {viewport}"
        screenshot(page, f"{name}-{viewport}")


def test_the_org_page_names_officers_only(live_node, open_page):
    page = open_page(DESKTOP)
    page.goto(live_node.url(_an_org_page(page, live_node)))
    assert page.locator("h1").inner_text()
    officers = page.locator("dl.officers dt")
    assert officers.count() >= 1 and "书记" in officers.all_inner_texts()
    body = page.locator("body").inner_text()
    assert not re.search(r"\d{17}[\dX]|\*{6}|1[3-9]\d{9}", body)  # no IDs, no phone numbers


def test_sign_in_as_the_secretary_and_sign_out(live_node, open_page):
    page = open_page(DESKTOP)
    page.goto(live_node.url("/"))
    page.get_by_role("link", name="登录", exact=True).click()
    page.wait_for_url(live_node.url("/login"))
    page.get_by_label("用户名").fill("secretary")
    page.get_by_label("密码").fill(live_node.password)
    screenshot(page, "login-filled-desktop")
    page.get_by_role("button", name="登录").click()

    page.wait_for_url(live_node.url("/login"))
    assert "您已登录" in page.locator("main").inner_text()
    nav = page.get_by_role("navigation", name="主导航")
    assert nav.get_by_role("button", name="退出登录").is_visible()
    page.get_by_role("link", name="修改密码").first.click()
    page.wait_for_url(live_node.url("/account/password"))
    assert check_accessibility(page) == []
    screenshot(page, "change-password-desktop")

    nav.get_by_role("button", name="退出登录").click()
    page.wait_for_url(live_node.url("/"))
    assert page.get_by_role("navigation", name="主导航").get_by_role(
        "link", name="登录", exact=True).is_visible()
    assert all(cookie["name"] != "session" for cookie in page.context.cookies())


def test_switch_to_english_and_stay_there(live_node, open_page):
    page = open_page(DESKTOP)
    page.goto(live_node.url("/"))
    assert page.get_by_role("heading", name="组织架构").is_visible()
    page.get_by_role("navigation", name="语言").get_by_role("link", name="English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert page.get_by_role("heading", name="Our organizations").is_visible()
    assert page.get_by_role("link", name="English").get_attribute("aria-current") == "true"
    screenshot(page, "home-english-desktop")
    page.locator("ul.tree a").first.click()
    page.wait_for_load_state()
    assert page.get_by_role("heading", name="Officers").is_visible()  # remembered


def test_phone_layout_and_keyboard(live_node, open_page):
    page = open_page(PHONE)
    page.goto(live_node.url("/", tenant="jiulongpo"))
    assert horizontal_overflow(page) <= 0
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    assert skip.get_attribute("href") == "#main" and skip.is_visible()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    path = page.goto(f"http://127.0.0.1:{live_node.port}/t/jiulongpo/")
    assert path is not None and path.status == 200
    assert horizontal_overflow(page) <= 0


def test_the_pages_keep_their_own_csp(live_node, open_page):
    """With the CSP enforced: htmx loads from the node and nothing is blocked or failing."""
    page = open_page(DESKTOP, enforce_csp=True)
    problems: list[str] = []
    page.on("console", lambda message: message.type == "error" and problems.append(
        message.text))
    page.on("pageerror", lambda error: problems.append(str(error)))
    for path in ("/", "/login", "/password/forgot"):
        response = page.goto(live_node.url(path))
        assert response is not None and response.status == 200
        assert "default-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_function("() => window.htmx !== undefined")
        page.wait_for_load_state("networkidle")
    assert problems == []


def test_the_accessibility_check_finds_problems(open_page):
    """The harness itself: axe runs and reports what it should."""
    page = open_page(DESKTOP)
    page.set_content('<html><body><img src="x.png"><input type="text"></body></html>')
    found = {violation["id"] for violation in check_accessibility(page)}
    assert {"image-alt", "label"} <= found
