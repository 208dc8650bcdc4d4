"""/api/identity: the people (by keyed hash) on the rolls of two or more tenants, for the hub's
administrators and auditors (the default role of an API read). Views translate HTTP only."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from hub.identity import services
from hub.identity.schemas import DuplicatePageSchema, DuplicateQueryArgsSchema
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("identity", __name__, url_prefix="/api/identity",
                description="Duplicate identity detection: keyed hashes active on two or more "
                            "tenants (no names, no national IDs).")


@blp.route("/duplicates")
class Duplicates(MethodView):
    @blp.arguments(DuplicateQueryArgsSchema, location="query")
    @blp.response(200, DuplicatePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Duplicates, in hash order"""
        after = decode_cursor(args["cursor"], (str,))
        items = services.list_duplicates(after=after[0] if after else None,
                                         limit=args["limit"])
        return page(items, args["limit"], lambda last: [last.hash])
