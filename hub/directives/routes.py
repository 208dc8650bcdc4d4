"""/api/directives: the hub's directives and study items, their publication, withdrawal and
completion. Administrators write; auditors read everything; region viewers read published
directives and the completion of the tenants under their code prefix. Views translate HTTP to
the services, nothing more."""

from __future__ import annotations

from typing import Any

from flask import Response
from flask.views import MethodView

from hub.accounts.models import HubRole
from hub.auth.bearer import requires
from hub.auth.principal import current_hub_principal
from hub.db import db
from hub.directives import services
from hub.directives.schemas import (
    CompletionQueryArgsSchema,
    CompletionSchema,
    DirectiveCreateSchema,
    DirectivePageSchema,
    DirectiveQueryArgsSchema,
    DirectiveSchema,
    DirectiveUpdateSchema,
)
from hub.stats.export import CSV_TYPE, to_csv
from shared.db import transaction
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("directives", __name__, url_prefix="/api/directives",
                description="Directives and study material for the nodes (上情下达) and their "
                            "read-back per node and region (下情上传).")


def _view(directive: Any) -> dict[str, Any]:
    values = {name: getattr(directive, name) for name in DirectiveSchema._declared_fields
              if name != "totals"}
    return {**values, "totals": services.completion_total(current_hub_principal(), directive)}


def _actor() -> str:
    return f"hub:{current_hub_principal().username}"


@blp.route("")
class Directives(MethodView):
    @requires(HubRole.region_viewer)
    @blp.arguments(DirectiveQueryArgsSchema, location="query")
    @blp.response(200, DirectivePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Directives, newest first (region viewers: published and withdrawn ones)"""
        after = decode_cursor(args["cursor"], (int,))
        items = services.list_directives(current_hub_principal(), status=args["status"],
                                         before_id=after[0] if after else None,
                                         limit=args["limit"])
        body, status, headers = page(items, args["limit"], lambda last: [last.id])
        return {**body, "items": [_view(d) for d in items]}, status, headers

    @blp.arguments(DirectiveCreateSchema)
    @blp.response(201, DirectiveSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Write a draft"""
        with transaction(db):
            directive = services.create_directive(data, by=_actor())
        return _view(directive)


@blp.route("/<int:directive_id>")
class DirectiveById(MethodView):
    @requires(HubRole.region_viewer)
    @blp.response(200, DirectiveSchema)
    def get(self, directive_id: int) -> Any:
        """One directive with its totals"""
        return _view(services.readable(current_hub_principal(), directive_id))

    @blp.arguments(DirectiveUpdateSchema)
    @blp.response(200, DirectiveSchema)
    def patch(self, data: dict[str, Any], directive_id: int) -> Any:
        """Edit a draft"""
        with transaction(db):
            directive = services.update_directive(services.get_directive(directive_id), data)
        return _view(directive)


@blp.route("/<int:directive_id>/publish")
class DirectivePublish(MethodView):
    @blp.response(200, DirectiveSchema)
    def post(self, directive_id: int) -> Any:
        """Send a draft to its targeted tenants (one message per node)"""
        with transaction(db):
            directive = services.get_directive(directive_id)
            services.publish(directive, by=_actor())
        return _view(directive)


@blp.route("/<int:directive_id>/withdraw")
class DirectiveWithdraw(MethodView):
    @blp.response(200, DirectiveSchema)
    def post(self, directive_id: int) -> Any:
        """Withdraw a published directive from every node that has it"""
        with transaction(db):
            directive = services.get_directive(directive_id)
            services.withdraw(directive, by=_actor())
        return _view(directive)


@blp.route("/<int:directive_id>/completion")
class DirectiveCompletion(MethodView):
    @requires(HubRole.region_viewer)
    @blp.arguments(CompletionQueryArgsSchema, location="query")
    @blp.response(200, CompletionSchema)
    def get(self, args: dict[str, Any], directive_id: int) -> Any:
        """Read and completion per node or per region (the latest receipts summed)"""
        principal = current_hub_principal()
        directive = services.readable(principal, directive_id)
        if args["by"] == "region":
            items = services.completion_by_region(principal, directive, args["level"])
        else:
            items = services.completion_by_node(principal, directive)
        return {"by": args["by"], "level": args["level"] if args["by"] == "region" else None,
                "items": items, "total": services.completion_total(principal, directive)}


@blp.route("/<int:directive_id>/completion/export")
class DirectiveCompletionExport(MethodView):
    @requires(HubRole.region_viewer)
    @blp.alt_response(200, description="CSV (UTF-8 with BOM), one row per targeted tenant")
    def get(self, directive_id: int) -> Response:
        """Completion per tenant as CSV"""
        principal = current_hub_principal()
        rows = services.csv_rows(principal, services.readable(principal, directive_id))
        return Response(to_csv(rows), mimetype=CSV_TYPE, headers={
            "Content-Disposition": f'attachment; filename="directive-{directive_id}.csv"'})
