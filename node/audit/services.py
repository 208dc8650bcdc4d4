"""Reading the audit log: administrators see the entries of their subtrees."""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from node.audit.models import AuditEntry
from node.auth.principal import Principal
from node.auth.reach import within
from node.db import db
from node.grants.models import Role
from shared.errors import Forbidden


def list_audit(principal: Principal, *, entity_type: str | None = None,
               entity_id: int | None = None, action: str | None = None,
               before_id: int | None = None, limit: int = 50) -> Sequence[AuditEntry]:
    """Newest first. Tenant administrators also see entries with no org scope (accounts)."""
    prefixes = principal.prefixes(Role.org_admin)
    if not prefixes:
        raise Forbidden("Reading the audit log needs an administrator role.")
    reach = within(AuditEntry.scope_code, prefixes)
    if principal.prefixes(Role.tenant_admin):
        reach = sa.or_(reach, AuditEntry.scope_code.is_(None))
    stmt = sa.select(AuditEntry).where(reach).order_by(AuditEntry.id.desc()).limit(limit)
    if entity_type:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if before_id is not None:
        stmt = stmt.where(AuditEntry.id < before_id)
    return db.session.scalars(stmt).all()
