"""Directives in real Chromium, both ends: a hub administrator writes a directive on the
console and publishes it, and sees the completion table and charts once receipts arrive
(seeded through the hub's receipt handler); on a demo node a member sees it pinned on their
card, opens it (the read is recorded) and marks it completed. Every page passes axe-core and
fits a phone; screenshots of both ends for the user guide."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from node.demo import DEMO_PASSWORD
from tests.hub.web.seed import CONSOLE_ADMIN

from .conftest import (
    DESKTOP,
    PARTYNET,
    PHONE,
    ROOT,
    VIEWPORTS,
    _free_port,
    check_accessibility,
    horizontal_overflow,
    hub_command,
    screenshot,
    serve,
)

pytestmark = pytest.mark.xdist_group("browser")

TITLE = "关于学习贯彻全会精神的通知"
BODY = "各基层党组织要认真组织党员学习全会公报。\n月底前完成学习并报告。"


class Server:
    def __init__(self, port: int, folder: Path, host: str = "127.0.0.1") -> None:
        self.port, self.folder, self.host = port, folder, host

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"


@pytest.fixture(scope="module")
def hub(chromium_path, tmp_path_factory) -> Iterator[Server]:
    """A hub with the portal's seeded network (three tenants on two nodes) and an
    administrator."""
    port, folder = _free_port(), tmp_path_factory.mktemp("browser-hub-directives")
    with serve(hub_command(port, folder, "--console"), f"http://127.0.0.1:{port}/", folder,
               prefix="HUB_"):
        yield Server(port, folder)


@pytest.fixture(scope="module")
def node(chromium_path, tmp_path_factory) -> Iterator[Server]:
    """A demo node of its own (a pinned directive would show on the shared demo's cards)."""
    port, folder = _free_port(), tmp_path_factory.mktemp("browser-node-directives")
    command = [PARTYNET, "node", "demo", "--port", str(port), "--workers", "1",
               "--instance", str(folder / "instance")]
    with serve(command, f"http://127.0.0.1:{port}/readyz", folder, prefix="NODE_"):
        yield Server(port, folder / "instance", host="dadukou.localhost")


def _helper(*args: str) -> None:
    done = subprocess.run([sys.executable, "-m", "tests.hub.web.directives_live", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items()
                               if not k.startswith(("HUB_", "NODE_"))})
    assert done.returncode == 0, done.stdout + done.stderr


def _check(page, name: str) -> None:
    violations = check_accessibility(page)
    assert violations == [], f"{name}: {violations}"
    assert horizontal_overflow(page) <= 0, f"{name} scrolls sideways"


def _console(page):
    return page.get_by_role("navigation", name="控制台")


def _sign_in_to_the_hub(page, hub: Server) -> None:
    page.goto(hub.url("/console/directives"))
    page.wait_for_url(re.compile(r".*/login\?next=.*"))
    page.get_by_label("用户名").fill(CONSOLE_ADMIN[0])
    page.get_by_label("密码").fill(CONSOLE_ADMIN[1])
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(re.compile(r".*/console/directives$"))


@pytest.fixture(scope="module")
def published(hub, browser) -> int:
    """The administrator writes and publishes the directive (the first test drives this)."""
    return _publish(hub, browser)


def _publish(hub: Server, browser) -> int:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        _sign_in_to_the_hub(page, hub)
        page.get_by_role("link", name="撰写指示").click()
        page.wait_for_url(re.compile(r".*/console/directives/new$"))
        page.get_by_label("标题").fill(TITLE)
        page.get_by_label("正文").fill(BODY)
        page.locator("select#kind").select_option("study")
        page.locator("select#priority").select_option("urgent")
        page.get_by_label("在党员页面置顶").check()
        page.get_by_role("button", name="保存草稿").click()
        page.wait_for_url(re.compile(r".*/console/directives/\d+\?done=created$"))
        directive_id = int(re.search(r"/directives/(\d+)", page.url).group(1))
        assert page.locator(".status-draft").inner_text() == "草稿"
        page.get_by_role("button", name="发布到各节点").click()
        page.wait_for_url(re.compile(r".*done=published$"))
        assert page.get_by_role("status").inner_text().startswith("指示已发布")
        assert page.locator(".status-published").inner_text() == "已发布"
        # Sent to the four tenants of the network; no receipt yet.
        assert "4 个单位中已有 0 个上报" in page.locator("#completion-title + p").inner_text()
        assert errors == []
        return directive_id
    finally:
        context.close()


def test_the_administrator_publishes_and_sees_the_completion(hub, published, open_page):
    _helper("receipts", "--folder", str(hub.folder), "--directive", str(published))
    page = open_page(DESKTOP, enforce_csp=True)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in_to_the_hub(page, hub)
    row = page.locator("table.data tbody tr", has_text=TITLE)
    assert row.locator(".status-published").count() == 1
    assert "3/4" in row.inner_text()  # node-fast's tenant has not reported
    row.get_by_role("link", name=TITLE).click()
    page.wait_for_url(re.compile(rf".*/console/directives/{published}$"))
    summary = page.locator("#completion-title + p").inner_text()
    assert summary.startswith("4 个单位中已有 3 个上报：95 人中 61 人已阅读，32 人已完成")
    # The region table (no region on the seeded tenants: one row) and both charts drawn.
    page.wait_for_function("document.querySelectorAll('.chart canvas').length === 2")
    by_node = page.locator("table.data").nth(1)
    assert "node-cq" in by_node.inner_text() and "node-bj" in by_node.inner_text()
    cq = by_node.locator("tr", has_text="node-cq").inner_text()
    assert "2/2" in cq and "55" in cq and "32" in cq  # read 30+25, completed 12+20 of 65
    assert "49%" in cq
    assert errors == []


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_the_hub_directive_pages_are_accessible(hub, published, open_page, viewport):
    page = open_page(VIEWPORTS[viewport])
    _sign_in_to_the_hub(page, hub)
    for name, path in (("list", "/console/directives"), ("new", "/console/directives/new"),
                       ("detail", f"/console/directives/{published}")):
        response = page.goto(hub.url(path))
        assert response is not None and response.status == 200, path
        if name == "detail":
            page.wait_for_function("document.querySelectorAll('.chart canvas').length === 2")
        _check(page, f"hub {name} at {viewport}")
        screenshot(page, f"hub-directives-{name}-{viewport}")


def test_the_administrator_reads_the_statistics_in_the_console(hub, open_page):
    page = open_page(DESKTOP)
    _sign_in_to_the_hub(page, hub)
    _console(page).get_by_role("link", name="统计").click()
    page.wait_for_url(re.compile(r".*/console/statistics$"))
    page.get_by_label("比较对象").fill("500104 110101")
    page.get_by_role("button", name="查看", exact=True).click()
    page.wait_for_url(re.compile(r".*compare=500104.*"))
    page.wait_for_function("document.querySelectorAll('.chart canvas').length === 4")
    compared = page.locator("#compare-title ~ .table-wrap").inner_text()
    assert "组织500104" in compared and "组织110101" in compared
    _check(page, "console statistics")
    screenshot(page, "hub-console-statistics-desktop")
    phone = open_page(PHONE)
    _sign_in_to_the_hub(phone, hub)
    phone.goto(page.url)
    phone.wait_for_function("document.querySelectorAll('.chart canvas').length === 4")
    _check(phone, "console statistics on a phone")
    screenshot(phone, "hub-console-statistics-phone")


def _sign_in_to_the_node(page, node: Server) -> None:
    page.goto(node.url("/login"))
    page.get_by_label("用户名").fill("member")
    page.get_by_label("密码").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(node.url("/login"))
    page.goto(node.url("/me"))


def test_a_member_sees_it_pinned_opens_it_and_marks_it_completed(node, open_page):
    _helper("node", "--instance", str(node.folder), "--directive", "7", "--title", TITLE,
            "--body", BODY)
    page = open_page(PHONE)
    _sign_in_to_the_node(page, node)
    pinned = page.locator("section.pinned-directives")
    assert TITLE in pinned.inner_text() and "紧急" in pinned.inner_text()
    _check(page, "the member's card")
    screenshot(page, "directives-card-phone")
    nav = page.get_by_role("navigation", name="主导航")
    nav.get_by_role("link", name="指示与学习").click()
    page.wait_for_url(node.url("/directives"))
    assert nav.get_by_role("link", name="指示与学习").get_attribute("aria-current") == "page"
    _check(page, "the node's directive list")
    screenshot(page, "directives-list-phone")
    page.get_by_role("link", name=TITLE).click()
    page.wait_for_url(re.compile(r".*/directives/\d+$"))
    read_on = page.locator("dt", has_text="您的阅读时间").locator("xpath=following-sibling::dd")
    assert read_on.inner_text() != "—"  # opening it recorded the read
    _check(page, "the node's directive page")
    screenshot(page, "directives-detail-phone")
    page.get_by_role("button", name="标记为已完成").click()
    page.wait_for_url(re.compile(r".*/directives/\d+$"))
    assert "已标记为完成" in page.locator("main").inner_text()
    assert page.get_by_role("button", name="标记为已完成").count() == 0
    desktop = open_page(DESKTOP)
    _sign_in_to_the_node(desktop, node)
    desktop.goto(node.url("/directives"))
    _check(desktop, "the node's directive list on a desktop")
    screenshot(desktop, "directives-list-desktop")
    desktop.get_by_role("link", name=TITLE).click()
    assert "您已于" in desktop.locator("main").inner_text()
    screenshot(desktop, "directives-detail-desktop")
