"""The hub administrator's console in real Chromium: sign in, issue an enrollment token, see
silent nodes flagged, release a quarantined message; accessible (axe-core) and in Chinese."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest

from tests.hub.web.seed import CONSOLE_ADMIN

from .conftest import (
    DESKTOP,
    PHONE,
    LiveHub,
    _free_port,
    check_accessibility,
    horizontal_overflow,
    hub_command,
    screenshot,
    serve,
)

pytestmark = pytest.mark.xdist_group("browser")


@pytest.fixture(scope="module")
def console_hub(chromium_path, tmp_path_factory) -> Iterator[LiveHub]:
    """A hub process with the portal's seeded network, an administrator and a held message."""
    port, folder = _free_port(), tmp_path_factory.mktemp("browser-hub-console")
    with serve(hub_command(port, folder, "--console"), f"http://127.0.0.1:{port}/", folder,
               prefix="HUB_"):
        yield LiveHub(port)


def _sign_in(page, hub: LiveHub, next_path: str = "/console") -> None:
    page.goto(hub.url(next_path))
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    page.get_by_label("用户名").fill(CONSOLE_ADMIN[0])
    page.get_by_label("密码").fill(CONSOLE_ADMIN[1])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(re.escape(next_path) + r"$"))


def test_an_administrator_issues_a_token_sees_silent_nodes_and_releases_a_message(
        console_hub, open_page):
    page = open_page(DESKTOP, enforce_csp=True)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in(page, console_hub)
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    alert = page.get_by_role("alert")
    assert "未收到" in alert.inner_text()  # the silent nodes are flagged on the home page
    assert "node-cq" in page.locator("#silent-title + p + ul").inner_text()

    page.get_by_role("navigation", name="控制台").get_by_role("link", name="站点").click()
    page.wait_for_url(re.compile(r".*/console/nodes$"))
    assert page.locator(".status-silent").count() == 2  # node-cq and node-bj, not node-fast

    page.get_by_role("navigation", name="控制台").get_by_role("link", name="注册令牌").click()
    page.get_by_label("站点标识").fill("node-gz")
    page.get_by_label("组织编码前缀").fill("440106")
    page.get_by_role("button", name="签发令牌").click()
    token = page.locator("#issued-token").inner_text()
    assert re.fullmatch(r"pne_[\w-]{43}", token)
    page.goto(console_hub.url("/console/tokens"))
    assert token not in page.content() and "node-gz" in page.content()

    page.get_by_role("navigation", name="控制台").get_by_role("link", name="隔离区").click()
    page.locator("table.data a").first.click()
    page.wait_for_url(re.compile(r".*/console/quarantine/\d+$"))
    page.get_by_label("备注（可选）").first.fill("节点时钟已校正")
    page.get_by_role("button", name="放行").click()
    page.wait_for_url(re.compile(r".*done=released"))
    assert page.get_by_role("status").inner_text().startswith("消息已放行")
    assert errors == []


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_console_pages_are_accessible_and_fit_the_screen(console_hub, open_page,
                                                             viewport):
    page = open_page(viewport)
    page.goto(console_hub.url("/login"))
    violations = check_accessibility(page)
    assert violations == [], f"login: {violations}"
    _sign_in(page, console_hub)
    paths = ["/console", "/console/nodes", "/console/nodes/node-cq", "/console/tokens",
             "/console/quarantine", "/console/feed", "/console/accounts", "/account/password",
             "/console/transfers"]
    page.goto(console_hub.url("/console/quarantine?status=all"))
    paths.append(page.locator("table.data a").first.get_attribute("href"))
    for path in paths:
        response = page.goto(console_hub.url(path))
        assert response is not None and response.status == 200, path
        assert page.locator("main#main").count() == 1
        violations = check_accessibility(page)
        assert violations == [], f"{path}: {violations}"
        assert horizontal_overflow(page) <= 0, f"{path} scrolls sideways"
        name = path.strip("/").replace("/", "-") or "home"
        screenshot(page, f"hub-{name}-{'phone' if viewport is PHONE else 'desktop'}")
