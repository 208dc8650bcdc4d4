"""CSV and XLSX files of a rollup or a ranking: small (one row per category or per child)."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import Any

from openpyxl import Workbook

from federation.messages.stats import BREAKDOWNS, LIFE_BREAKDOWNS, ORG_KINDS
from hub.stats.metrics import Rollup
from hub.stats.services import Child, Trends

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def rollup_rows(rollup: Rollup) -> list[list[Any]]:
    rows: list[list[Any]] = [["prefix", "period", "breakdown", "category", "count"]]
    base = [rollup.prefix, rollup.period]
    rows.append([*base, "orgs", "total", rollup.orgs])
    rows += [[*base, "orgs_by_kind", kind, rollup.orgs_by_kind[kind]] for kind in ORG_KINDS]
    for breakdown, keys in BREAKDOWNS.items():
        rows += [[*base, breakdown, key, rollup.members[breakdown][key]] for key in keys]
    for breakdown, keys in LIFE_BREAKDOWNS.items():
        rows += [[*base, breakdown, key, rollup.life.get(breakdown, {}).get(key, 0)]
                 for key in keys]
    return rows


def ranking_rows(ranked: Sequence[Child], metric: str) -> list[list[Any]]:
    rows: list[list[Any]] = [["rank", "code", "name", "level", metric, "party_members",
                              "full_members", "female", "orgs"]]
    for rank, child in enumerate(ranked, start=1):
        r = child.rollup
        rows.append([rank, child.code, child.name, child.level, child.value, r.party_members,
                     r.members["by_stage"]["full"], r.members["by_gender"]["female"], r.orgs])
    return rows


def comparison_rows(compared: Sequence[Child], metric: str) -> list[list[Any]]:
    rows: list[list[Any]] = [["code", "name", "level", metric, "party_members", "full_members",
                              "female", "orgs", "oldest_period"]]
    for child in compared:
        r = child.rollup
        rows.append([child.code, child.name, child.level, child.value, r.party_members,
                     r.members["by_stage"]["full"], r.members["by_gender"]["female"], r.orgs,
                     r.oldest_period])
    return rows


def trend_rows(trends: Trends, metric: str) -> list[list[Any]]:
    """One row per day and code (a long table: easy to pivot in a spreadsheet)."""
    rows: list[list[Any]] = [["period", "code", "name", metric]]
    for line in trends.lines:
        rows += [[day, line.code, line.name, value]
                 for day, value in zip(trends.days, line.values, strict=True)]
    return rows


def to_csv(rows: list[list[Any]]) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese names right."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["" if v is None else _safe(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(rows: list[list[Any]], title: str) -> bytes:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(title[:31])
    for row in rows:
        sheet.append([_safe(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _safe(value: Any) -> Any:
    """Org names come from the nodes: never let one start a spreadsheet formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
