"""HTTP for the audit log."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from node.audit import services
from node.audit.schemas import AuditPageSchema, AuditQueryArgsSchema
from node.auth.principal import current_principal
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("audit", __name__, url_prefix="/api/audit",
                description="Who changed what, when, before and after.")


@blp.route("")
class AuditEntries(MethodView):
    @blp.arguments(AuditQueryArgsSchema, location="query")
    @blp.response(200, AuditPageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Audit entries of the subtrees you administer, newest first"""
        before = decode_cursor(args.pop("cursor"), (int,))
        limit = args.pop("limit")
        items = services.list_audit(current_principal(), **args,
                                    before_id=int(before[0]) if before else None, limit=limit)
        return page(items, limit, lambda last: [last.id])
