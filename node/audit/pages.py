"""The console's audit log: who changed what in one's scope, newest first, with filters."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from node.audit import services
from node.web.console import Visit, account_page, query_int

blp = Blueprint("audit_pages", __name__)

PAGE_SIZE = 50
ENTITY_TYPES = ("member", "org", "officer", "grant", "account", "tenant")


def _text(name: str, max_length: int = 60) -> str | None:
    value = request.args.get(name, "").strip()
    return value if value and len(value) <= max_length and value.isprintable() else None


@account_page(blp, "/console/audit", needs="admin")
def audit_log(visit: Visit) -> Any:
    entity_type = _text("entity_type")
    if entity_type not in ENTITY_TYPES:
        entity_type = None
    action, entity_id, before = _text("action"), query_int("entity_id"), query_int("before")
    entries = services.list_audit(visit.principal, entity_type=entity_type,
                                  entity_id=entity_id, action=action, before_id=before,
                                  limit=PAGE_SIZE)
    filters = {key: value for key, value in (("entity_type", entity_type), ("action", action),
                                             ("entity_id", entity_id)) if value}
    older = {**filters, "before": entries[-1].id} if len(entries) == PAGE_SIZE else None
    return render_template("audit/list.html", entries=entries, filters=filters, older=older,
                           entity_types=ENTITY_TYPES, newest=before is not None)
