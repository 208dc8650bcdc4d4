"""HTTP for the directives from the hub: translate requests to services, nothing more."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from node.auth.principal import current_principal
from node.directives import services
from node.directives.schemas import (
    CountsSchema,
    DirectivePageSchema,
    DirectiveQueryArgsSchema,
    DirectiveSchema,
)
from node.extensions import transactional
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, encode_cursor, page_link

blp = Blueprint("directives", __name__, url_prefix="/api/directives",
                description="Directives and study material from the hub (上情下达): pinned for "
                            "the members they are for; reads and completions go back to the "
                            "hub as counts.")


def _view(entry: services.Entry) -> dict[str, Any]:
    directive = entry.directive
    values = {name: getattr(directive, name) for name in DirectiveSchema._declared_fields
              if name not in ("read_at", "completed_at")}
    return {**values, "read_at": entry.read_at, "completed_at": entry.completed_at}


@blp.route("")
class Directives(MethodView):
    @blp.arguments(DirectiveQueryArgsSchema, location="query")
    @blp.response(200, DirectivePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Directives for you: pinned first, then by priority and deadline"""
        after = decode_cursor(args["cursor"], (int,))
        offset = after[0] if after else 0
        entries = services.list_directives(current_principal(), pinned_only=args["pinned"],
                                           kind=args["kind"], offset=offset,
                                           limit=args["limit"])
        next_cursor = (encode_cursor([offset + len(entries)])
                       if len(entries) == args["limit"] else None)
        return ({"items": [_view(e) for e in entries], "next_cursor": next_cursor}, 200,
                page_link(next_cursor))


@blp.route("/<int:directive_id>")
class DirectiveById(MethodView):
    @blp.response(200, DirectiveSchema)
    def get(self, directive_id: int) -> dict[str, Any]:
        """A directive for you (your read is recorded with POST .../read)"""
        return _view(services.entry(current_principal(), directive_id))


@blp.route("/<int:directive_id>/read")
class DirectiveRead(MethodView):
    @blp.response(200, DirectiveSchema)
    @transactional
    def post(self, directive_id: int) -> dict[str, Any]:
        """Record that you read it (again changes nothing)"""
        return _view(services.record_read(current_principal(), directive_id))


@blp.route("/<int:directive_id>/complete")
class DirectiveComplete(MethodView):
    @blp.response(200, DirectiveSchema)
    @transactional
    def post(self, directive_id: int) -> dict[str, Any]:
        """Mark a study item, or a directive with a deadline, completed"""
        return _view(services.complete(current_principal(), directive_id))


@blp.route("/<int:directive_id>/counts")
class DirectiveCounts(MethodView):
    @blp.response(200, CountsSchema)
    def get(self, directive_id: int) -> Any:
        """Who it is for, who read it and who completed it, in your subtrees (secretaries and
        administrators)"""
        return services.counts_for(current_principal(), directive_id)
