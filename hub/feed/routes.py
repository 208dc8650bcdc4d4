"""GET /api/feed...: the national feed of public articles and notices, and its search.

Only public items ever reach the hub, so these read-only endpoints are public, like the
statistics; withdrawn and taken-down items are never listed. Taking an item down is a hub
administrator's write (a bearer token: the hub's default for every API write).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask.views import MethodView

from hub.auth.principal import current_hub_principal
from hub.db import db
from hub.feed import services
from hub.feed.schemas import (
    FeedItemDetailSchema,
    FeedPageSchema,
    FeedQueryArgsSchema,
    SearchPageSchema,
    SearchQueryArgsSchema,
    TakedownResultSchema,
    TakedownSchema,
)
from shared.db.session import transaction
from shared.errors import InvalidInput, NotFound
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, encode_cursor, page_link

blp = Blueprint("feed", __name__, url_prefix="/api/feed",
                description="The national feed: the nodes' public articles and notices, with "
                            "Chinese full-text search.")

_FILTERS = ("region", "org", "tenant", "node", "kind", "start", "end")


def _filters(args: dict[str, Any]) -> services.Filters:
    return services.Filters(**{name: args.get(name) for name in _FILTERS})


def _invalid_cursor() -> InvalidInput:
    return InvalidInput("The cursor is not valid.", errors={"cursor": ["Invalid cursor."]})


@blp.route("")
class Feed(MethodView):
    @blp.arguments(FeedQueryArgsSchema, location="query")
    @blp.response(200, FeedPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Public items, newest first"""
        after = None
        cursor = decode_cursor(args["cursor"], (str, int))
        if cursor is not None:
            try:
                published = dt.datetime.fromisoformat(cursor[0])
            except ValueError:
                raise _invalid_cursor() from None
            if published.tzinfo is None:
                raise _invalid_cursor()
            after = (published, cursor[1])
        items = services.list_feed(_filters(args), after=after, limit=args["limit"])
        next_cursor = (encode_cursor([items[-1].published_at.isoformat(), items[-1].id])
                       if len(items) == args["limit"] else None)
        return {"items": items, "next_cursor": next_cursor}, 200, page_link(next_cursor)


@blp.route("/search")
class FeedSearch(MethodView):
    @blp.arguments(SearchQueryArgsSchema, location="query")
    @blp.response(200, SearchPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Search public items in Chinese (every word must match), best first

        Ordered by `relevance` (title matches first, then summary, then body), `recent` or
        `popular`; the title and summary come back highlighted.
        """
        cursor = decode_cursor(args["cursor"], (int,))
        offset = cursor[0] if cursor else 0
        if offset > services.MAX_SEARCH_OFFSET:
            raise InvalidInput("Search results go no deeper; refine the query.",
                               errors={"cursor": ["Too deep."]})
        hits, terms = services.search_feed(args["q"], _filters(args), order=args["order"],
                                           offset=offset, limit=args["limit"])
        next_cursor = (encode_cursor([offset + len(hits)])
                       if len(hits) == args["limit"] else None)
        items = [{**{name: getattr(hit.item, name) for name in
                     ("id", "content_key", "node_id", "tenant", "region", "org_code",
                      "org_name", "kind", "title", "summary", "published_at", "updated_at",
                      "views", "likes")},
                  "rank": hit.rank, "title_html": hit.title_html,
                  "summary_html": hit.summary_html} for hit in hits]
        return ({"terms": terms, "items": items, "next_cursor": next_cursor}, 200,
                page_link(next_cursor))


@blp.route("/<int:item_id>")
class FeedItemById(MethodView):
    @blp.response(200, FeedItemDetailSchema)
    def get(self, item_id: int) -> Any:
        """One public item with its body"""
        item = services.get_item(item_id)
        if item is None:
            raise NotFound()
        return item


@blp.route("/<int:item_id>/takedown")
class FeedItemTakedown(MethodView):
    @blp.arguments(TakedownSchema)
    @blp.response(200, TakedownResultSchema)
    def post(self, data: dict[str, Any], item_id: int) -> Any:
        """Take an item down: hidden from the feed and search at once, and its node is asked
        to withdraw it (administrators; taking it down again changes nothing)"""
        by = f"hub:{current_hub_principal().username}"
        with transaction(db):
            item = services.get_any_item(item_id)
            services.take_down(item, by=by, reason=data["reason"])
        return item
