"""The national portal's pages: home, search, an item, the node directory, the statistics.

Every answer comes from the feed, node and statistics services; these views only read the
query, call them and render. Wrong query parameters get a readable 400 page.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from federation.messages.content import KINDS
from hub.db import db
from hub.feed import services as feed
from hub.feed.schemas import ORDERS
from hub.portal import labels, services
from hub.portal.schemas import (
    MAX_PAGE,
    PAGE_SIZE,
    SearchPageArgsSchema,
    StatsPageArgsSchema,
    load,
)
from hub.stats.metrics import METRICS, is_rate
from shared.errors import InvalidInput
from shared.web.pages import page_error

blp = Blueprint("portal", __name__)

#: How many of the newest items the home page shows.
HOME_ITEMS = 10
#: What each query parameter must look like, for the 400 page.
PARAMETER_HINTS = {
    "q": _l("Search words: at most 200 characters."),
    "region": _l("Region: 1 to 6 digits of a region code, such as 5001."),
    "kind": _l("Kind: an article or a notice."),
    "from": _l("From: a day written as YYYY-MM-DD, not after “to”."),
    "to": _l("To: a day written as YYYY-MM-DD."),
    "order": _l("Order: by relevance, newest first or most popular."),
    "page": _l("Page: a page number from 1 to %(most)s.", most=MAX_PAGE),
    "prefix": _l("Code: up to 12 digits of a region or organization code."),
    "period": _l("Day: a day written as YYYY-MM-DD."),
    "metric": _l("Ranked by: one of the listed measures."),
    "compare": _l("Compare with: up to 5 codes of 1 to 12 digits, separated by spaces."),
    "what": _l("Download: the totals, the ranking, the comparison or the trend."),
    "format": _l("File: CSV or XLSX."),
}
ORDER_LABELS = {"relevance": _l("Relevance"), "recent": _l("Newest first"),
                "popular": _l("Most popular")}


def parameter_problems(names: list[str]) -> list[str]:
    return [str(PARAMETER_HINTS.get(name, _("The request could not be understood.")))
            for name in names]


@blp.before_request
def _read_only() -> None:
    """Every portal page only reads: no transaction round trips, no SQLite lock."""
    db.read_only()


def _page_url(endpoint: str, **changes: Any) -> str:
    args = {key: value for key, value in request.args.items() if key not in ("lang", "page")}
    args.update({key: value for key, value in changes.items() if value is not None})
    return url_for(endpoint) + ("?" + urlencode(args) if args else "")


@blp.get("/")
def home() -> Any:
    latest = feed.list_feed(feed.Filters(), limit=HOME_ITEMS)
    return render_template("portal/home.html", items=latest)


@blp.get("/search")
def search() -> Any:
    args, wrong = load(SearchPageArgsSchema(exclude=("cursor", "limit")), request.args)
    context = {"kinds": KINDS, "orders": [(o, ORDER_LABELS[o]) for o in ORDERS],
               "form": request.args, "hits": None, "page": 1, "next_url": None,
               "previous_url": None}
    if wrong:
        return render_template("portal/search.html", problems=parameter_problems(wrong),
                               **context), 400
    if not args["q"].strip():
        return render_template("portal/search.html", problems=[], **context)
    filters = feed.Filters(region=args["region"], kind=args["kind"], start=args["start"],
                           end=args["end"])
    page = args["page"]
    try:
        hits, terms = feed.search_feed(args["q"], filters, order=args["order"],
                                       offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE + 1)
    except InvalidInput:
        problems = [_("Enter words to search for: letters or characters, not only signs.")]
        return render_template("portal/search.html", problems=problems, **context), 422
    more = len(hits) > PAGE_SIZE and page < MAX_PAGE
    context.update(hits=hits[:PAGE_SIZE], terms=terms, page=page,
                   next_url=_page_url("portal.search", page=page + 1) if more else None,
                   previous_url=_page_url("portal.search", page=page - 1) if page > 1 else None)
    return render_template("portal/search.html", problems=[], **context)


@blp.get("/items/<int:item_id>")
def item(item_id: int) -> Any:
    found = feed.get_item(item_id)
    if found is None:
        return page_error(404, _("There is no such item, or it was withdrawn."))
    return render_template("portal/item.html", item=found, origin=services.item_origin(found))


@blp.get("/nodes")
def directory() -> Any:
    return render_template("portal/directory.html", entries=services.directory())


@blp.get("/statistics")
def statistics() -> Any:
    args, wrong = load(StatsPageArgsSchema(), request.args)
    if wrong:
        return page_error(400, " ".join(parameter_problems(wrong)))
    data = services.stats_page(args["prefix"], period=args["period"], metric=args["metric"],
                               start=args["start"], end=args["end"], compare=args["compare"])
    base = {"prefix": data.prefix, "period": data.period}
    exports = {
        "rollup": {fmt: "/api/stats/rollup/export?" + urlencode({**base, "format": fmt})
                   for fmt in ("csv", "xlsx")},
        "ranking": {fmt: "/api/stats/rankings/export?" + urlencode(
            {**base, "metric": data.metric, "format": fmt}) for fmt in ("csv", "xlsx")},
    }
    return render_template("portal/statistics.html", data=data, metrics=list(METRICS),
                           exports=exports, charts=stats_charts(data))


def stats_charts(data: services.StatsPage) -> dict[str, Any]:
    """What portal.js draws for a statistics page (the portal's and the console's)."""
    share = is_rate(data.metric)
    whole = str(_("The whole network"))
    return {
        "stage": {"type": "bar", "labels": [str(labels.stage(s)) for s, _n in data.stages],
                  "values": [n for _s, n in data.stages]},
        "ranking": {"type": "hbar", "labels": [c.name for c in data.ranking],
                    "values": [c.value for c in data.ranking], "share": share},
        "compare": {"type": "bar", "labels": [c.name or whole for c in data.compared],
                    "values": [c.value for c in data.compared], "share": share},
        "series": {"type": "line", "labels": data.trends.days, "share": share,
                   "values": data.trends.lines[0].values if data.trends.lines else [],
                   "series": [{"name": line.name or whole, "values": line.values}
                              for line in data.trends.lines]},
    }
