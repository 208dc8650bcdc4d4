"""Dues: the yearly assessment of each member, one line per member and month, payments,
online checkout orders, hardship reductions, consents to pay for another member, the
branch's closed months and the reminders sent.

Money columns are Numeric(12, 2) yuan, read and written as `Decimal`. Months are the first
day of the month (`dt.date`). Lines and closed months keep a denormalised copy of their
branch's code (`org_code`, kept in step by org moves), so a committee's totals and a
principal's reach are index ranges.
"""

from __future__ import annotations

import datetime as dt
import enum
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.audit.models import Audited
from node.db import NodeModel
from node.dues.rules import DuesCategory
from node.tenants.scoping import TenantScoped
from shared.db import utcnow
from shared.db.base import code_type


class LineStatus(enum.StrEnum):
    unpaid = "unpaid"
    paid = "paid"
    exempt = "exempt"  # an approved exemption covers the month


class PaymentMethod(enum.StrEnum):
    online = "online"  # through a payment provider
    cash = "cash"  # handed to the collector
    bank_transfer = "bank_transfer"  # to the branch's account, recorded by the collector


class PaymentKind(enum.StrEnum):
    monthly = "monthly"  # settles monthly lines
    large = "large"  # a voluntary one-off of at least the threshold, forwarded upward whole


class OrderStatus(enum.StrEnum):
    pending = "pending"
    paid = "paid"
    failed = "failed"


class ReductionKind(enum.StrEnum):
    reduced = "reduced"  # 少交: a lower monthly amount
    exempt = "exempt"  # 免交


class ReductionStatus(enum.StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"


class ReminderLevel(enum.StrEnum):
    reminder = "reminder"  # to the member, at 3 months unpaid
    escalation = "escalation"  # to the branch secretary, at 6 months unpaid


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=24, validate_strings=True)


class DuesAssessment(TenantScoped, Audited, NodeModel):
    """The member's monthly dues fixed for a year (核定), from the category and declared base."""

    __tablename__ = "dues_assessments"
    __audit_name__ = "dues_assessment"
    __table_args__ = (sa.UniqueConstraint("member_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"))
    year: Mapped[int]
    category: Mapped[DuesCategory] = mapped_column(_enum(DuesCategory))
    #: Declared monthly base in yuan (pay after tax, pension, average income); None for the
    #: flat categories.
    base: Mapped[Decimal | None]
    monthly_amount: Mapped[Decimal]
    rule_version: Mapped[str] = mapped_column(sa.String(20))
    org_code: Mapped[str] = mapped_column(code_type(64))
    assessed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def audit_scope(self) -> str:
        return self.org_code


class DuesLine(TenantScoped, NodeModel):
    """What one member owes for one month, priced by the rule version it names."""

    __tablename__ = "dues_lines"
    __table_args__ = (
        sa.UniqueConstraint("member_id", "month"),
        sa.Index("ix_dues_lines_org_code_month", "org_code", "month"),
        sa.Index("ix_dues_lines_org_id_month", "org_id", "month"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"))
    #: The branch holding the member's formal relationship, which collects the month.
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"))
    org_code: Mapped[str] = mapped_column(code_type(64))
    month: Mapped[dt.date]
    category: Mapped[DuesCategory] = mapped_column(_enum(DuesCategory))
    base: Mapped[Decimal | None]
    amount_due: Mapped[Decimal]
    rule_version: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[LineStatus] = mapped_column(_enum(LineStatus), default=LineStatus.unpaid)
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dues_payments.id"),
                                                   index=True)
    reduction_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dues_reductions.id"))
    paid_at: Mapped[dt.datetime | None]


class DuesPayment(TenantScoped, Audited, NodeModel):
    """Money received: monthly lines settled, or large dues forwarded to the committee above."""

    __tablename__ = "dues_payments"
    __audit_name__ = "dues_payment"
    __table_args__ = (
        sa.UniqueConstraint("provider", "provider_txn_id"),
        sa.Index("ix_dues_payments_org_code_paid_at", "org_code", "paid_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[PaymentKind] = mapped_column(_enum(PaymentKind))
    #: Whose dues.
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    #: Who paid, when another member paid (with the branch's consent).
    payer_member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"))
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"))
    org_code: Mapped[str] = mapped_column(code_type(64))
    method: Mapped[PaymentMethod] = mapped_column(_enum(PaymentMethod))
    amount: Mapped[Decimal]
    #: Large dues go whole to the committee above the branch (大额党费).
    forwarded_to_org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id"))
    provider: Mapped[str | None] = mapped_column(sa.String(40))
    provider_txn_id: Mapped[str | None] = mapped_column(sa.String(80))
    reference: Mapped[str | None] = mapped_column(sa.String(120))
    note: Mapped[str | None] = mapped_column(sa.String(255))
    recorded_by_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    paid_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def audit_scope(self) -> str:
        return self.org_code


class PaymentOrder(TenantScoped, NodeModel):
    """An online checkout: the lines it would settle, until the provider's signed callback."""

    __tablename__ = "dues_orders"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The merchant order reference sent to the provider: random, unguessable, node-unique.
    token: Mapped[str] = mapped_column(sa.String(40), unique=True)
    provider: Mapped[str] = mapped_column(sa.String(40))
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    payer_member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"))
    account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    amount: Mapped[Decimal]
    status: Mapped[OrderStatus] = mapped_column(_enum(OrderStatus), default=OrderStatus.pending)
    provider_txn_id: Mapped[str | None] = mapped_column(sa.String(80))
    payment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("dues_payments.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    completed_at: Mapped[dt.datetime | None]


class OrderLine(TenantScoped, NodeModel):
    __tablename__ = "dues_order_lines"

    order_id: Mapped[int] = mapped_column(sa.ForeignKey("dues_orders.id"), primary_key=True)
    line_id: Mapped[int] = mapped_column(sa.ForeignKey("dues_lines.id"), primary_key=True)


class DuesReduction(TenantScoped, Audited, NodeModel):
    """Hardship: the member applies, the branch discusses and asks, the committee above
    approves; approved, it prices the covered months lower or at nothing."""

    __tablename__ = "dues_reductions"
    __audit_name__ = "dues_reduction"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    org_code: Mapped[str] = mapped_column(code_type(64))
    kind: Mapped[ReductionKind] = mapped_column(_enum(ReductionKind))
    #: The monthly amount while reduced (None for an exemption).
    monthly_amount: Mapped[Decimal | None]
    from_month: Mapped[dt.date]
    to_month: Mapped[dt.date]
    reason: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[ReductionStatus] = mapped_column(_enum(ReductionStatus),
                                                    default=ReductionStatus.pending)
    requested_by_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    requested_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    decided_by_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    decided_at: Mapped[dt.datetime | None]
    decision_note: Mapped[str | None] = mapped_column(sa.String(500))

    def audit_scope(self) -> str:
        return self.org_code


class DuesConsent(TenantScoped, Audited, NodeModel):
    """The branch's consent that one member pays another's dues (e.g. a relative, 代交)."""

    __tablename__ = "dues_consents"
    __audit_name__ = "dues_consent"
    __table_args__ = (sa.UniqueConstraint("member_id", "payer_member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"))
    payer_member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"), index=True)
    org_code: Mapped[str] = mapped_column(code_type(64))
    granted_by_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def audit_scope(self) -> str:
        return self.org_code


class DuesMonth(TenantScoped, NodeModel):
    """A branch's month, closed: the figures reported up the tree (frozen when closed)."""

    __tablename__ = "dues_months"
    __table_args__ = (
        sa.UniqueConstraint("org_id", "month"),
        sa.Index("ix_dues_months_month_org_code", "month", "org_code"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"))
    org_code: Mapped[str] = mapped_column(code_type(64))
    month: Mapped[dt.date]
    #: The month's lines at closing: how many, what was due, paid, exempt, still unpaid.
    lines: Mapped[int] = mapped_column(default=0)
    paid_lines: Mapped[int] = mapped_column(default=0)
    exempt_lines: Mapped[int] = mapped_column(default=0)
    due_total: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    paid_total: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    unpaid_total: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    #: Money received during the month (any month's lines: back-pay and ahead included).
    collected_total: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    #: Large dues received during the month, forwarded to the committee above.
    large_total: Mapped[Decimal] = mapped_column(default=Decimal("0"))
    closed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    closed_by_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))


class DuesReminder(TenantScoped, NodeModel):
    """An arrears alert, at most one per member, month and level; mailed after it is recorded."""

    __tablename__ = "dues_reminders"
    __table_args__ = (sa.UniqueConstraint("member_id", "month", "level"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"))
    org_code: Mapped[str] = mapped_column(code_type(64))
    month: Mapped[dt.date]
    level: Mapped[ReminderLevel] = mapped_column(_enum(ReminderLevel))
    unpaid_months: Mapped[int]
    amount_owed: Mapped[Decimal]
    #: The addresses written to (comma-separated); empty when nobody had one.
    recipients: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[dt.datetime | None]


class DuesAheadConsent(TenantScoped, Audited, NodeModel):
    """The branch's consent that a member pays months ahead of the current one (quarterly, or
    several months at once), through `through_month`. Without it only the current month and
    back-pay may be paid. Revoked, no further month may be paid ahead; months already paid
    stay paid. One row per member: granting again moves the month (the audit log keeps the
    history)."""

    __tablename__ = "dues_ahead_consents"
    __audit_name__ = "dues_ahead_consent"
    __table_args__ = (sa.UniqueConstraint("member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("members.id"))
    org_code: Mapped[str] = mapped_column(code_type(64))
    #: The last month that may be paid ahead.
    through_month: Mapped[dt.date]
    note: Mapped[str | None] = mapped_column(sa.String(255))
    granted_by_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    granted_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    revoked_by_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    revoked_at: Mapped[dt.datetime | None]

    def audit_scope(self) -> str:
        return self.org_code
