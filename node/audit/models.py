"""The audit log: who changed what, when, with the values before and after.

Models that inherit `Audited` are audited automatically by `node.audit.recording`, in the same
flush as the change itself, so no service can change an org, member or grant without a trace.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.db import NodeModel
from node.tenants.scoping import TenantScoped
from shared.db import utcnow
from shared.db.base import code_type


class Audited:
    """Mixin: changes to these rows are written to the audit log."""

    __audit_name__: ClassVar[str]
    __audit_exclude__: ClassVar[frozenset[str]] = frozenset()

    def audit_scope(self) -> str | None:
        """The org code whose subtree administrators may read this row's audit entries."""
        return None


class AuditEntry(TenantScoped, NodeModel):
    __tablename__ = "audit_entries"
    __table_args__ = (sa.Index("ix_audit_entries_tenant_scope", "tenant_id", "scope_code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    actor_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    actor: Mapped[str] = mapped_column(sa.String(80))
    action: Mapped[str] = mapped_column(sa.String(60))
    entity_type: Mapped[str] = mapped_column(sa.String(40))
    entity_id: Mapped[int | None]
    scope_code: Mapped[str | None] = mapped_column(code_type(64))
    before: Mapped[dict[str, Any] | None]
    after: Mapped[dict[str, Any] | None]
    remote_addr: Mapped[str | None] = mapped_column(sa.String(64))
