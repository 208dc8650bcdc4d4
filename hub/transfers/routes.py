"""/api/transfers: the national view of transfers between nodes, for the hub's administrators
and auditors (the default role of an API read). Metadata only. Views translate HTTP only."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from federation.keys import utcnow
from hub.transfers import services
from hub.transfers.schemas import (
    TransferPageSchema,
    TransferQueryArgsSchema,
    TransferSummarySchema,
)
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("transfers", __name__, url_prefix="/api/transfers",
                description="Transfers of the organization relationship routed between nodes: "
                            "metadata only (nodes, tenants, regions, steps, validity), never "
                            "member data.")


@blp.route("")
class Transfers(MethodView):
    @blp.arguments(TransferQueryArgsSchema, location="query")
    @blp.response(200, TransferPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Transfers, newest first"""
        after = decode_cursor(args["cursor"], (int,))
        now = utcnow()
        rows = services.list_transfers(flag=args["flag"], state=args["state"],
                                       region=args["region"], after=after[0] if after else None,
                                       limit=args["limit"], now=now)
        return page([services.view(row, now) for row in rows], args["limit"],
                    lambda last: [last.id])


@blp.route("/summary")
class TransferSummary(MethodView):
    @blp.response(200, TransferSummarySchema)
    def get(self) -> Any:
        """Counts in flight, overdue and expired, nationwide and by region"""
        return services.summary()
