"""Statistics for signed-in hub accounts: the console's page (rankings, comparisons, trends,
exports), a region viewer kept under its region by the services, and the portal's comparison.

The seeded network (seed.py): tenants 500104 and 500107 (node-cq) and 110101 (node-bj), each
with 21 party members on 2025-03-01 and 22 on 2025-03-02 (6 of them women).
"""

from __future__ import annotations

import csv
import io
import re

import pytest
from openpyxl import load_workbook

from hub.accounts.models import HubRole
from hub.auth.principal import HubPrincipal
from hub.portal import services as portal
from hub.stats import services as stats
from shared.errors import NotFound
from tests.hub.helpers import hub_account, sign_in

VIEWER = HubPrincipal(account_id=1, username="viewer", role=HubRole.region_viewer,
                      region_prefix="5001")
AUDITOR = HubPrincipal(account_id=2, username="auditor", role=HubRole.auditor)
NOWHERE = HubPrincipal(account_id=3, username="broken", role=HubRole.region_viewer)


def _text(response) -> str:
    return response.get_data(as_text=True)


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data().decode("utf-8-sig"))))


# --- the services -------------------------------------------------------------------------------

def test_a_region_viewer_reaches_only_its_region(seeded):
    assert stats.reach(VIEWER, "") == "5001"
    assert stats.reach(VIEWER, "500104") == "500104"
    assert stats.reach(AUDITOR, "") == "" and stats.reach(None, "11") == "11"
    for outside in ("50", "5", "110101", "5002"):
        with pytest.raises(NotFound):
            stats.reach(VIEWER, outside)
    with pytest.raises(NotFound):
        stats.reach(NOWHERE, "")
    assert stats.rollup("", "2025-03-02", principal=VIEWER).party_members == 44
    assert stats.rollup("", "2025-03-02").party_members == 66
    ranked = stats.ranking("", "2025-03-02", "party_members", principal=VIEWER)
    assert [c.code for c in ranked] == ["500104", "500107"]
    with pytest.raises(NotFound):
        stats.ranking("11", "2025-03-02", "party_members", principal=VIEWER)
    with pytest.raises(NotFound):
        stats.compare(["500104", "110101"], "2025-03-02", principal=VIEWER)
    with pytest.raises(NotFound):
        stats.series("", start="2025-03-01", end="2025-03-02", principal=NOWHERE)


def test_comparisons_name_each_code_and_keep_the_order_asked(seeded):
    compared = stats.comparison(["110101", "500104", "50"], "2025-03-02", "party_members")
    assert [(c.code, c.name, c.level, c.value) for c in compared] == [
        ("110101", "组织110101", "tenant", 22), ("500104", "组织500104", "tenant", 22),
        ("50", "50", "region", 44)]
    assert compared[0].rollup.members["by_gender"]["female"] == 6
    share = stats.comparison(["500104001"], "2025-03-01", "female_share")
    assert share[0].level == "org" and share[0].value == round(5 / 19, 4)


def test_trends_share_their_days_across_codes(seeded):
    trends = stats.trends(["50", "110101"], "party_members", start="2025-02-01",
                          end="2025-03-31")
    assert trends.days == ["2025-03-01", "2025-03-02"]
    assert [(line.code, line.values) for line in trends.lines] == [
        ("50", [42, 44]), ("110101", [21, 22])]
    later = stats.trends(["50"], "party_members", start="2025-03-02", end="2025-03-31")
    assert later.days == ["2025-03-02"] and later.lines[0].values == [44]
    last = stats.trends(["50"], "orgs", start="2025-02-01", end="2025-03-31", points=1)
    assert last.days == ["2025-03-02"] and last.lines[0].values == [4]


def test_long_trends_are_spread_over_the_span():
    days = [f"2025-01-{d:02}" for d in range(1, 32)]
    assert stats._spread(days, 4) == ["2025-01-01", "2025-01-11", "2025-01-21", "2025-01-31"]
    assert stats._spread(days[:3], 4) == days[:3]
    with pytest.raises(NotFound):
        stats.trends(["500104", "11"], "orgs", start="2025-03-01", end="2025-03-02",
                     principal=VIEWER)


def test_the_statistics_page_of_a_region_viewer_is_its_region(seeded):
    data = portal.stats_page("", period=None, metric="party_members", start=None, end=None,
                             compare=["500107"], principal=VIEWER)
    assert data.prefix == "5001" and data.rollup.party_members == 44
    assert [c.code for c in data.compared] == ["5001", "500107"]
    assert [line.code for line in data.trends.lines] == ["5001", "500107"]
    with pytest.raises(NotFound):
        portal.stats_page("5001", period=None, metric="orgs", start=None, end=None,
                          compare=["110101"], principal=VIEWER)


# --- the console's page -------------------------------------------------------------------------

@pytest.mark.parametrize("role", [HubRole.administrator, HubRole.auditor])
def test_the_console_shows_rankings_comparisons_trends_and_exports(app, client, seeded, role):
    account = hub_account(app, role)
    assert sign_in(client, account.username).status_code == 303
    page = client.get("/console/statistics?prefix=50&compare=110101&metric=party_members"
                      "&from=2025-02-01")
    body = _text(page)
    assert page.status_code == 200, body[:2000]
    assert body.count('class="chart') == 4 and "echarts.min.js" in body
    assert "按党员数排名" in body and "按党员数比较" in body and "党员数变化趋势" in body
    assert 'aria-current="page">统计' in body  # the console's menu
    exports = [url.replace("&amp;", "&")
               for url in re.findall(r'href="(/console/statistics/export[^"]+)"', body)]
    assert len(exports) == 8
    files = {}
    for url in exports:
        response = client.get(url)
        assert response.status_code == 200, url
        assert response.headers["Content-Disposition"].startswith("attachment")
        files[re.search(r"what=(\w+)", url).group(1), re.search(r"format=(\w+)", url)
              .group(1)] = response
    assert _csv(files["ranking", "csv"])[1:] == [  # the cities of province 50: one
        ["1", "5001", "5001", "region", "44", "44", "40", "12", "4"]]
    assert [row[:4] for row in _csv(files["compare", "csv"])[1:]] == [
        ["50", "50", "region", "44"], ["110101", "组织110101", "tenant", "22"]]
    assert _csv(files["trends", "csv"])[1:] == [
        ["2025-03-01", "50", "50", "42"], ["2025-03-02", "50", "50", "44"],
        ["2025-03-01", "110101", "组织110101", "21"], ["2025-03-02", "110101", "组织110101", "22"]]
    assert ["50", "2025-03-02", "by_stage", "full", "40"] in _csv(files["rollup", "csv"])
    sheet = load_workbook(io.BytesIO(files["compare", "xlsx"].get_data())).active
    assert [cell.value for cell in sheet[2]][:4] == ["50", "50", "region", 44]


def test_a_region_viewer_sees_its_region_only(app, client, seeded):
    account = hub_account(app, HubRole.region_viewer, region_prefix="5001")
    assert sign_in(client, account.username).status_code == 303
    home = _text(client.get("/console"))
    assert 'href="/console/statistics"' in home
    body = _text(client.get("/console/statistics"))
    assert "代码 5001" in body and "仅能查看 5001" in body
    ranking = body[body.index('id="ranking-title"'):body.index('id="series-title"')]
    assert re.findall(r'href="/console/statistics\?prefix=(\d+)', ranking) == ["500104",
                                                                             "500107"]
    assert "110101" not in body
    for url in ("/console/statistics?prefix=11", "/console/statistics?prefix=50",
                "/console/statistics?compare=110101",
                "/console/statistics/export?prefix=110101&what=rollup",
                "/console/statistics/export?compare=500104+110101&what=compare&format=xlsx"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "110101" not in _text(response) or "<html" in _text(response)
    exported = client.get("/console/statistics/export?what=ranking")
    assert [row[1] for row in _csv(exported)[1:]] == ["500104", "500107"]


@pytest.mark.parametrize(("query", "text"), [
    ("prefix=abc", "代码"), ("metric=height", "排名指标"), ("compare=1+2+3+4+5+6", "比较"),
    ("compare=x1", "比较"), ("from=2025-03-05&to=2025-03-01", "起始"),
])
def test_bad_parameters_get_a_readable_page(app, client, seeded, query, text):
    account = hub_account(app, HubRole.auditor)
    assert sign_in(client, account.username).status_code == 303
    for path in ("/console/statistics", "/console/statistics/export", "/statistics"):
        response = client.get(f"{path}?{query}")
        assert response.status_code == 400, (path, query)
        assert text in _text(response) and "<html" in _text(response)
    wrong = client.get("/console/statistics/export?what=everything&format=pdf")
    assert wrong.status_code == 400 and "CSV" in _text(wrong)


# --- the portal's comparison --------------------------------------------------------------------

def test_the_portal_compares_codes_and_draws_their_trends(client, seeded):
    body = _text(client.get("/statistics?prefix=500104&compare=500107,110101"
                            "&metric=female_share&from=2025-02-01"))
    assert body.count('class="chart') == 4
    assert "按女党员占比比较" in body and "女党员占比变化趋势" in body
    section = body[body.index('id="compare-title"'):body.index('id="series-title"')]
    assert section.index("组织500104") < section.index("组织500107") < section.index("组织110101")
    assert "27.3%" in section  # 6 of 22
    assert 'value="500107 110101"' in body
    plain = _text(client.get("/statistics"))
    assert 'id="compare-title"' not in plain and plain.count('class="chart') == 3
