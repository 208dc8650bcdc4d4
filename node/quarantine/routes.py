"""HTTP for the quarantine of a tenant's messages (tenant administrators)."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from federation.delivery.models import QuarantinedMessage
from node.auth.principal import current_principal
from node.extensions import transactional
from node.quarantine import services
from node.quarantine.schemas import (
    QuarantineEntryDetailSchema,
    QuarantineEntrySchema,
    QuarantinePageSchema,
    QuarantineQueryArgsSchema,
    QuarantineReleaseSchema,
    QuarantineResolveSchema,
)
from node.tenants.services import current_tenant
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("quarantine", __name__, url_prefix="/api/federation/quarantine",
                description="Bus messages claiming your tenant that were not applied: inspect, "
                            "release or discard (tenant administrators).")


@blp.route("")
class QuarantineEntries(MethodView):
    @blp.arguments(QuarantineQueryArgsSchema, location="query")
    @blp.response(200, QuarantinePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Messages claiming your tenant that were not applied, oldest first (`status`, `reason`)"""
        after = decode_cursor(args["cursor"], (int,))
        items = services.list_entries(
            current_principal(), current_tenant(),
            status=None if args["status"] == "all" else args["status"], reason=args["reason"],
            after_id=after[0] if after else None, limit=args["limit"])
        return page(items, args["limit"], lambda last: [last.id])


@blp.route("/<int:entry_id>")
class QuarantineEntryById(MethodView):
    @blp.response(200, QuarantineEntryDetailSchema)
    def get(self, entry_id: int) -> QuarantinedMessage:
        """A quarantined message with its body as received"""
        return services.get_entry(current_principal(), current_tenant(), entry_id)


@blp.route("/<int:entry_id>/release")
class QuarantineRelease(MethodView):
    @blp.arguments(QuarantineResolveSchema)
    @blp.response(200, QuarantineReleaseSchema)
    @transactional
    def post(self, data: dict[str, Any], entry_id: int) -> dict[str, Any]:
        """Check the message again without the clock window and receive it (audited)"""
        entry, outcome = services.release_entry(current_principal(), current_tenant(), entry_id,
                                                note=data["note"],
                                                settings=current_app.extensions["node"])
        return {"entry": entry, "outcome": outcome.value}


@blp.route("/<int:entry_id>/discard")
class QuarantineDiscard(MethodView):
    @blp.arguments(QuarantineResolveSchema)
    @blp.response(200, QuarantineEntrySchema)
    @transactional
    def post(self, data: dict[str, Any], entry_id: int) -> QuarantinedMessage:
        """Discard the message: kept and marked, never applied (audited)"""
        return services.discard_entry(current_principal(), current_tenant(), entry_id,
                                      note=data["note"], settings=current_app.extensions["node"])
