"""Tenants: the local organizations hosted by one node instance."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.db import NodeModel
from shared.db import utcnow
from shared.db.base import code_type

#: Local rules with their national defaults (DOMAIN.md); a tenant may override any of them.
DEFAULT_RULES: dict[str, Any] = {
    "branch_min_full_members": 3,
    "branch_max_members": 50,
    "general_branch_max_members": 100,
    "branch_committee_threshold": 7,
    "branch_committee_min": 3,
    "branch_committee_max": 7,
    "term_years_village": 5,
    "term_years_other": 3,
}


class Tenant(NodeModel):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    code_prefix: Mapped[str] = mapped_column(code_type(12), unique=True)
    next_member_seq: Mapped[int] = mapped_column(default=0)
    rules: Mapped[dict[str, Any]] = mapped_column(default=dict)
    #: Branding of the tenant's pages: a colour (#rrggbb, readable on white) and a short
    #: text shown as the logo next to the name.
    brand_color: Mapped[str | None] = mapped_column(sa.String(7))
    logo_text: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def region_code(self) -> str:
        return self.code_prefix[:6]

    def rule(self, name: str) -> Any:
        return (self.rules or {}).get(name, DEFAULT_RULES[name])

    def __repr__(self) -> str:
        return f"<Tenant {self.id} {self.slug}>"


class TenantHost(NodeModel):
    """A host name that serves a tenant's site (a tenant may have several, e.g. with and
    without `www.`). Node-wide like `Tenant`: the host is looked up before the tenant is known.
    """

    __tablename__ = "tenant_hosts"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"), index=True)
    #: Lowercase, no port, no trailing dot (see `node.tenants.services.normalize_host`).
    host: Mapped[str] = mapped_column(sa.String(255), unique=True)

    def __repr__(self) -> str:
        return f"<TenantHost {self.host} -> {self.tenant_id}>"
