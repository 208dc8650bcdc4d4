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
    # Organizational life: months between required meetings of each kind per branch (0: not
    # required). Windows are aligned to the calendar year, so a cadence divides 12.
    "cadence_member_assembly": 3,
    "cadence_committee_meeting": 1,
    "cadence_group_meeting": 1,
    "cadence_party_lecture": 3,
    "cadence_theme_day": 1,
    "cadence_life_meeting": 12,
    "cadence_talks": 12,
    #: A branch with no meeting held for this many months is flagged.
    "inactivity_months": 3,
    #: 1: held meetings are reviewed by the committee above (and count once approved).
    "meeting_review": 0,
    # Dues (2008 rules): back-pay normally at most 6 months; paying ahead; arrears alerts at 3
    # (the member) and 6 months (the secretary); the farmers' monthly amount in fen (the
    # province sets 0.2-1 yuan); the one-off payment that counts as large dues, in yuan.
    "dues_backpay_months": 6,
    "dues_ahead_months": 12,
    "dues_reminder_months": 3,
    "dues_escalation_months": 6,
    "dues_farmer_fen": 20,
    "dues_large_threshold": 1000,
}
#: Cadences (months) a setting may take: divisors of 12, or 0 for "not required".
CADENCE_CHOICES = (0, 1, 2, 3, 4, 6, 12)


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
