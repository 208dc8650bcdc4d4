"""The national portal's pages through the Flask test client, on each database backend."""

from __future__ import annotations

import re

import pytest

from hub.portal import pages

from .seed import XSS

PAGES = ["/", "/search", "/search?q=党建", "/search?q=党建&order=popular&kind=article&region=5",
         "/nodes", "/statistics", "/statistics?prefix=50&metric=female_share",
         "/statistics?prefix=500104&period=2025-03-01&from=2025-02-01&to=2025-03-02"]


def _text(response) -> str:
    return response.get_data(as_text=True)


@pytest.mark.parametrize("path", PAGES)
def test_every_page_answers_in_chinese_by_default(client, seeded, path):
    response = client.get(path)
    assert response.status_code == 200, _text(response)[:2000]
    assert response.mimetype == "text/html"
    body = _text(response)
    assert '<html lang="zh-CN">' in body
    assert "全国党建门户" in body and "站点名录" in body
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "public, max-age=300"


def test_the_item_page_and_its_origin(client, seeded):
    item_id = seeded["区委部署基层党建年度任务"]
    body = _text(client.get(f"/items/{item_id}"))
    assert "<h1>区委部署基层党建年度任务</h1>" in body
    assert "<p>全区各级党组织要加强基层党建工作。</p><p>第二段正文。</p>" in body
    assert "中共大渡口区委员会" in body and "node-cq" in body and "dadukou党委" in body
    missing = client.get("/items/999999")
    assert missing.status_code == 404 and "没有这条内容" in _text(missing)


def test_home_lists_the_latest_items_newest_first(client, seeded):
    body = _text(client.get("/"))
    titles = re.findall(r'<a href="/items/(\d+)">', body)
    assert titles == [str(seeded[t]) for t in (f"党建学习 {XSS}", "关于开展主题党日活动的通知",
                                               "区委部署基层党建年度任务")]
    assert 'action="/search"' in body and 'href="/nodes"' in body and 'href="/statistics"' in body


def test_search_highlights_filters_and_orders(client, seeded):
    body = _text(client.get("/search?q=党建"))
    assert "区委部署基层<mark>党建</mark>年度任务" in body
    assert "关于开展主题党日活动的通知" not in body
    only_beijing = _text(client.get("/search?q=党建&region=11"))
    assert "区委部署" not in only_beijing and "<mark>党建</mark>学习" in only_beijing
    notices = _text(client.get("/search?q=党支部&kind=notice"))
    assert "主题党日" in notices and "区委部署" not in notices
    popular = _text(client.get("/search?q=党建&order=popular"))
    assert popular.index("区委部署") < popular.index("<mark>党建</mark>学习")  # 30 views > 12
    recent = _text(client.get("/search?q=党建&order=recent"))
    assert recent.index("<mark>党建</mark>学习") < recent.index("区委部署")
    later = _text(client.get("/search?q=党建&from=2025-03-02&to=2025-03-31"))
    assert "区委部署" not in later and "<mark>党建</mark>学习" in later
    assert "没有找到匹配的内容" in _text(client.get("/search?q=交通"))


def test_search_pages_through_the_results(client, seeded, monkeypatch):
    monkeypatch.setattr(pages, "PAGE_SIZE", 1)
    first = _text(client.get("/search?q=党建&order=recent&lang=zh_CN"))
    assert first.count('class="item"') == 1 and 'rel="prev"' not in first
    next_url = re.search(r'rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert "page=2" in next_url and "lang=" not in next_url
    second = _text(client.get(next_url))
    assert "区委部署" in second and 'rel="prev"' in second and 'rel="next"' not in second


def test_the_directory_lists_nodes_and_tenants_without_secrets(client, seeded):
    body = _text(client.get("/nodes"))
    for text in ("node-cq", "node-bj", "中共九龙坡区委员会", "500107", "110101", "运行中"):
        assert text in body
    assert "ed25519:" not in body and "token" not in body.lower()


def test_statistics_show_the_rollup_ranking_series_and_exports(client, seeded):
    body = _text(client.get("/statistics"))
    assert body.count('class="chart') == 3 and "echarts.min.js" in body
    assert "截至 2025-03-02" in body and "按党员数排名" in body
    exports = re.findall(r'href="(/api/stats/[^"]+)"', body)
    assert len(exports) == 4
    for url in exports:
        response = client.get(url.replace("&amp;", "&"))
        assert response.status_code == 200
        assert response.headers["Content-Disposition"].startswith("attachment")
    tenants = _text(client.get("/statistics?prefix=500104&metric=full_members"))
    assert "按正式党员排名" in tenants and "代码 500104" in tenants


def test_the_hub_serves_the_front_end_packages_itself(client):
    assert client.get("/api/vendor/echarts/echarts.min.js").status_code == 200
    assert client.get("/api/vendor/other/x.js").status_code == 404


@pytest.mark.parametrize(("path", "status", "text"), [
    ("/search?q=党建&region=abc", 400, "行政区划代码的 1 至 6 位数字"),
    ("/search?q=党建&kind=poem", 400, "文章或通知"),
    ("/search?q=党建&from=2025-13-40", 400, "YYYY-MM-DD"),
    ("/search?q=党建&from=2025-03-05&to=2025-03-01", 400, "不晚于截止日期"),
    ("/search?q=党建&order=best", 400, "最受关注"),
    ("/search?q=党建&page=0", 400, "页码"),
    ("/search?q=党建&page=99999999999999999999", 400, "页码"),
    ("/search?q=" + "党" * 201, 400, "最多 200 个字符"),
    ("/search?q=%21%21%21", 422, "不能只有符号"),
    ("/search?q=%00", 400, "部分搜索条件有误"),
    ("/statistics?metric=nothing", 400, "排名指标"),
    ("/statistics?prefix=5x", 400, "最多 12 位数字"),
    ("/statistics?period=yesterday", 400, "YYYY-MM-DD"),
    ("/statistics?from=2025-03-05&to=2025-03-01", 400, "不晚于截止日期"),
    ("/items/abc", 404, "此地址没有页面"),
    ("/items/99999999999999999999999", 404, "此地址没有页面"),
    ("/no-such-page", 404, "此地址没有页面"),
])
def test_bad_parameters_get_a_readable_page(client, seeded, path, status, text):
    response = client.get(path)
    assert response.status_code == status
    assert response.mimetype == "text/html"
    body = _text(response)
    assert 'role="alert"' in body and text in body
    assert response.headers["Cache-Control"] == "no-store"


def test_english_on_request_remembered_by_a_cookie(client, seeded):
    response = client.get("/search?q=党建&lang=en")
    body = _text(response)
    assert '<html lang="en">' in body and "Search the national feed" in body
    assert "lang=en" in response.headers["Set-Cookie"]
    assert response.headers["Cache-Control"] == "no-store"  # it sets a cookie
    # The switch keeps the query and offers the other language.
    assert 'href="/search?q=%E5%85%9A%E5%BB%BA&amp;lang=zh_CN"' in body
    later = _text(client.get("/statistics"))
    assert "National statistics" in later and "Ranking by Party members" in later
    assert "Node directory" in _text(client.get("/nodes"))
    assert "站点名录" in _text(client.get("/nodes?lang=zh-CN"))


def test_english_error_pages(client):
    body = _text(client.get("/search?q=x&kind=poem&lang=en"))
    assert "Kind: an article or a notice." in body


@pytest.mark.parametrize("path", ["/", "/search?q=党建", "/search?q=党建&region=11",
                                  "/items/{id}", "/statistics?prefix=110101"])
def test_markup_from_the_nodes_is_shown_as_text(client, seeded, path):
    response = client.get(path.format(id=seeded[f"党建学习 {XSS}"]))
    assert response.status_code == 200
    body = _text(response)
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in body or \
        "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in body or \
        "\\u003cscript\\u003e" in body


def test_withdrawn_and_taken_down_items_are_not_shown(client, seeded):
    from hub.db import db
    from hub.feed import services as feed
    from shared.db.session import transaction

    item = feed.get_item(seeded["区委部署基层党建年度任务"])
    with transaction(db):
        feed.take_down(item, by="审核员", reason="测试")
    assert client.get(f"/items/{item.id}").status_code == 404
    assert "区委部署" not in _text(client.get("/"))
    assert "区委部署" not in _text(client.get("/search?q=党建"))
