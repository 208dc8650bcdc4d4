"""GET /api/federation/quarantine[/<id>], POST .../<id>/release and .../<id>/discard: the
quarantine over the API (auditors read, administrators act), the same operations as the
console's pages and `partynet hub bus quarantine`."""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask.views import MethodView

from hub.accounts.models import HubRole
from hub.auth.bearer import requires
from hub.auth.principal import current_hub_principal
from hub.console import services
from hub.console.schemas import (
    QuarantinedMessageDetailSchema,
    QuarantinedMessageSchema,
    QuarantinePageSchema,
    QuarantineQueryArgsSchema,
    ReleaseResultSchema,
    ResolutionSchema,
)
from hub.db import db
from shared.db import transaction
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("quarantine", __name__, url_prefix="/api/federation/quarantine",
                description="Messages from the nodes that were not applied, with the reason.")


def _settings() -> Any:
    return current_app.extensions["hub"]


def _with(entry: Any, **extra: Any) -> dict[str, Any]:
    """The entry's fields (for the response schema to dump) and what the view adds."""
    return {name: getattr(entry, name) for name in QuarantinedMessageSchema().fields} | extra


@blp.route("")
class Quarantine(MethodView):
    @requires(HubRole.auditor)
    @blp.arguments(QuarantineQueryArgsSchema, location="query")
    @blp.response(200, QuarantinePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Quarantined messages in id order (held ones unless `status` says otherwise)"""
        after = decode_cursor(args["cursor"], (int,))
        items = services.list_quarantine(
            status=None if args["status"] == "all" else args["status"], reason=args["reason"],
            source=args["source"], after_id=after[0] if after else 0, limit=args["limit"])
        return page(items, args["limit"], lambda last: [last.id])


@blp.route("/<int:entry_id>")
class QuarantinedById(MethodView):
    @requires(HubRole.auditor)
    @blp.response(200, QuarantinedMessageDetailSchema)
    def get(self, entry_id: int) -> Any:
        """One quarantined message, with its body as received"""
        entry = services.get_quarantined(entry_id)
        return _with(entry, body=services.body_text(entry))


@blp.route("/<int:entry_id>/release")
class Release(MethodView):
    @requires(HubRole.administrator)
    @blp.arguments(ResolutionSchema)
    @blp.response(200, ReleaseResultSchema)
    def post(self, data: dict[str, Any], entry_id: int) -> Any:
        """Check the message again (without the clock window) and receive it (409 when it is
        still refused or already resolved)"""
        by = f"hub:{current_hub_principal().username}"
        with transaction(db):
            outcome = services.release(_settings(), entry_id, by=by, note=data["note"])
        return _with(services.get_quarantined(entry_id), outcome=outcome.value)


@blp.route("/<int:entry_id>/discard")
class Discard(MethodView):
    @requires(HubRole.administrator)
    @blp.arguments(ResolutionSchema)
    @blp.response(200, QuarantinedMessageSchema)
    def post(self, data: dict[str, Any], entry_id: int) -> Any:
        """Discard the message: it is never applied (409 when already resolved)"""
        by = f"hub:{current_hub_principal().username}"
        with transaction(db):
            services.discard(_settings(), entry_id, by=by, note=data["note"])
        return services.get_quarantined(entry_id)
