"""HTTP for grants (tiered authorization)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from node.auth.principal import current_principal
from node.extensions import transactional
from node.grants import services
from node.grants.schemas import (
    GrantCreateSchema,
    GrantPageSchema,
    GrantQueryArgsSchema,
    GrantSchema,
)
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("grants", __name__, url_prefix="/api/grants",
                description="Roles held over organization subtrees, delegated level by level.")


@blp.route("")
class Grants(MethodView):
    @blp.arguments(GrantQueryArgsSchema, location="query")
    @blp.response(200, GrantPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Grants inside the subtrees you administer, and your own"""
        after = decode_cursor(args["cursor"], (int,))
        items = services.list_grants(current_principal(), account_id=args.get("account_id"),
                                     after_id=after[0] if after else None, limit=args["limit"])
        return page(items, args["limit"], lambda last: [last.id])

    @blp.arguments(GrantCreateSchema)
    @blp.response(201, GrantSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Grant a role no stronger than your own, within your scope"""
        return services.create_grant(current_principal(), **data)


@blp.route("/<int:grant_id>")
class GrantById(MethodView):
    @blp.response(200, GrantSchema)
    def get(self, grant_id: int) -> Any:
        """A grant"""
        return services.get_grant(current_principal(), grant_id)

    @blp.response(204)
    @transactional
    def delete(self, grant_id: int) -> None:
        """Revoke a grant (same delegation rule as granting)"""
        services.revoke_grant(current_principal(), grant_id)
