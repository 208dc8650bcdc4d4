"""GET /api/stats/...: national statistics, aggregates only.

The hub has no accounts yet, so these read-only endpoints are public: they expose counts that
the national portal publishes anyway, never a person. When hub accounts arrive they take the
hub roles (hub administrator, auditor, region viewer) like every other hub endpoint.
"""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from hub.stats import export, services
from hub.stats.schemas import (
    CompareQueryArgsSchema,
    RankingExportQueryArgsSchema,
    RankingPageSchema,
    RankingQueryArgsSchema,
    RollupExportQueryArgsSchema,
    RollupListSchema,
    RollupPageSchema,
    RollupQueryArgsSchema,
    RollupSchema,
    SeriesQueryArgsSchema,
)
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, encode_cursor, page_link

blp = Blueprint("stats", __name__, url_prefix="/api/stats",
                description="National statistics from the nodes' snapshots: rollups by code "
                            "prefix, time series, rankings, comparisons and exports.")



def _period(args: dict[str, Any]) -> str:
    return args.get("period") or services.latest_period()


@blp.route("/rollup")
class Rollups(MethodView):
    @blp.arguments(RollupQueryArgsSchema, location="query")
    @blp.response(200, RollupSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Totals of every organization whose code starts with the prefix"""
        return services.rollup(args["prefix"], _period(args))


@blp.route("/compare")
class Comparisons(MethodView):
    @blp.arguments(CompareQueryArgsSchema, location="query")
    @blp.response(200, RollupListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Rollups of several prefixes side by side, as of one day"""
        return {"items": services.compare(args["prefix"], _period(args))}


@blp.route("/series")
class Series(MethodView):
    @blp.arguments(SeriesQueryArgsSchema, location="query")
    @blp.response(200, RollupPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The rollup of a prefix on each day with new snapshots between `from` and `to`"""
        after = decode_cursor(args["cursor"], (str,))
        items = services.series(args["prefix"], start=args["start"], end=args["end"],
                                after=after[0] if after else None, limit=args["limit"])
        next_cursor = (encode_cursor([items[-1].period]) if len(items) == args["limit"]
                       else None)
        return {"items": items, "next_cursor": next_cursor}, 200, page_link(next_cursor)


@blp.route("/rankings")
class Rankings(MethodView):
    @blp.arguments(RankingQueryArgsSchema, location="query")
    @blp.response(200, RankingPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """The direct children of a prefix ranked by a metric

        Children of an organization are its child organizations; of a prefix shorter than a
        county code, the next administrative level; otherwise the tenants under it.
        """
        after = decode_cursor(args["cursor"], (int,))
        start = after[0] if after else 0
        ranked = services.ranking(args["prefix"], _period(args), args["metric"],
                                  descending=args["order"] == "desc")
        items = [{"rank": start + i + 1, "code": c.code, "name": c.name, "level": c.level,
                  "value": c.value, "rollup": c.rollup}
                 for i, c in enumerate(ranked[start:start + args["limit"]])]
        end = start + len(items)
        next_cursor = encode_cursor([end]) if end < len(ranked) else None
        return ({"metric": args["metric"], "items": items, "next_cursor": next_cursor}, 200,
                page_link(next_cursor))


def _file(rows: list[list[Any]], name: str, fmt: str) -> Response:
    if fmt == "xlsx":
        body, mimetype = export.to_xlsx(rows, name), export.XLSX_TYPE
    else:
        body, mimetype = export.to_csv(rows), export.CSV_TYPE
    return Response(body, mimetype=mimetype, headers={
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


@blp.route("/rollup/export")
class RollupExport(MethodView):
    @blp.arguments(RollupExportQueryArgsSchema, location="query")
    @blp.response(200, content_type="text/csv", description="CSV or XLSX (`format`)")
    def get(self, args: dict[str, Any]) -> Any:
        """A rollup as a file: one row per breakdown category"""
        rollup = services.rollup(args["prefix"], _period(args))
        name = f"rollup-{args['prefix'] or 'all'}-{rollup.period}"
        return _file(export.rollup_rows(rollup), name, args["format"])


@blp.route("/rankings/export")
class RankingExport(MethodView):
    @blp.arguments(RankingExportQueryArgsSchema, location="query")
    @blp.response(200, content_type="text/csv", description="CSV or XLSX (`format`)")
    def get(self, args: dict[str, Any]) -> Any:
        """A whole ranking as a file: one row per child"""
        period = _period(args)
        ranked = services.ranking(args["prefix"], period, args["metric"],
                                  descending=args["order"] == "desc")
        name = f"ranking-{args['prefix'] or 'all'}-{args['metric']}-{period}"
        return _file(export.ranking_rows(ranked, args["metric"]), name, args["format"])
