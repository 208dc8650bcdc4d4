"""A member's monthly affairs report, stored as generated (a snapshot: later edits of
meetings, dues or directives do not rewrite a month already reported)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.db import NodeModel
from node.tenants.scoping import TenantScoped
from shared.db import utcnow
from shared.db.base import code_type


class MemberReport(TenantScoped, NodeModel):
    """One member's month: what they took part in and what they still owe."""

    __tablename__ = "member_reports"
    __table_args__ = (
        sa.UniqueConstraint("member_id", "month"),
        sa.Index("ix_member_reports_month_org_code", "month", "org_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"))
    #: The first day of the month reported.
    month: Mapped[dt.date]
    #: The member's branch when the report was generated (history: not rewritten by moves).
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"))
    org_code: Mapped[str] = mapped_column(code_type(64))
    org_name: Mapped[str] = mapped_column(sa.String(120))
    #: Held meetings of the month the member was invited to: attended, on leave (excused), missed
    #: (neither; an invitation never marked counts as missed).
    meetings_invited: Mapped[int] = mapped_column(default=0)
    meetings_attended: Mapped[int] = mapped_column(default=0)
    meetings_excused: Mapped[int] = mapped_column(default=0)
    meetings_missed: Mapped[int] = mapped_column(default=0)
    #: The meetings not attended: [{"title", "kind", "starts_at", "status", "reason"}].
    absences: Mapped[list[dict[str, Any]]] = mapped_column(sa.JSON, default=list)
    #: The month's dues line (None: no line for the month) and its state.
    dues_due: Mapped[Decimal | None]
    dues_paid: Mapped[Decimal | None]
    dues_status: Mapped[str | None] = mapped_column(sa.String(16))
    #: Consecutive unpaid months up to and including this one, and what they come to.
    arrears_months: Mapped[int] = mapped_column(default=0)
    arrears_total: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    #: Directives and study items for everyone that reached the tenant in the month, and
    #: those the member read and completed during the month.
    directives_received: Mapped[int] = mapped_column(default=0)
    directives_read: Mapped[int] = mapped_column(default=0)
    directives_completed: Mapped[int] = mapped_column(default=0)
    generated_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    @property
    def attendance_rate(self) -> float | None:
        if not self.meetings_invited:
            return None
        return round(self.meetings_attended / self.meetings_invited, 4)

    @property
    def month_label(self) -> str:
        return self.month.strftime("%Y-%m")
