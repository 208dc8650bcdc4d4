"""Dues: every rule of the collection is enforced here, for the API, the pages and the CLI.

- The yearly assessment (核定) fixes a member's monthly amount from the category and the
  declared base, with the rule set in force (`node.dues.rules`); changing it re-prices the
  unpaid lines of open months.
- The monthly cycle: one line per paying member and month (probationary members from the
  month the branch assembly admitted them), generated in one statement, idempotently; paid to
  the collector (cash, bank transfer) or online; back-pay at most `dues_backpay_months`; months
  after the current one (quarterly, or several ahead) only with the branch's consent to pay
  ahead (`DuesAheadConsent`, at most `dues_ahead_months`); the collector needs the same consent
  and may give it in the same act; another member pays only with the branch's consent; large dues
  (a one-off of at least `dues_large_threshold` yuan) are forwarded to the committee above.
- Closing a month freezes each branch's figures; a committee's totals are the sum over its
  subtree's closed months (an index range on the code).
- Online payment: a checkout order names the lines; only the provider's signed callback marks
  them paid, once per provider transaction, and only for the exact amount.
- Arrears: consecutive unpaid months; a reminder to the member from `dues_reminder_months`, an
  alert to the branch secretary from `dues_escalation_months`, each recorded once per member
  and month before any mail is sent.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from node.accounts.models import Account
from node.audit.recording import record
from node.auth.principal import Principal
from node.auth.reach import require_reach, within
from node.db import db
from node.dues.models import (
    DuesAheadConsent,
    DuesAssessment,
    DuesConsent,
    DuesLine,
    DuesMonth,
    DuesPayment,
    DuesReduction,
    DuesReminder,
    LineStatus,
    OrderLine,
    OrderStatus,
    PaymentKind,
    PaymentMethod,
    PaymentOrder,
    ReductionKind,
    ReductionStatus,
    ReminderLevel,
)
from node.dues.providers import (
    CheckoutRequest,
    InvalidCallback,
    PaymentProvider,
    provider_for,
)
from node.dues.rules import (
    BASED_CATEGORIES,
    DuesCategory,
    NoRules,
    money,
    monthly_amount,
    rules_for,
)
from node.grants.models import Grant, Role
from node.meetings.models import LOCAL_TZ  # China time: months begin and end there
from node.members.models import Member, Stage, Status
from node.members.services import get_member, own_member
from node.orgs.models import Org
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from shared.codes import SEGMENT_WIDTH
from shared.db import utcnow
from shared.errors import Conflict, DomainError, InvalidInput, NotFound

#: Who pays: probationary and full members whose relationship is held here.
PAYING_STAGES = (Stage.probationary, Stage.full)
PAYING_STATUSES = (Status.active, Status.floating, Status.lost_contact, Status.kept)
ZERO = Decimal("0.00")
MAX_MONTHS_PER_PAYMENT = 36


class AheadConsentRequired(Conflict):
    """Months after the current one, without (or beyond) the branch's consent to pay ahead."""

    code = "ahead-consent-required"
    title = "The branch's consent to pay ahead is required"


class InvalidSignature(DomainError):
    """A payment callback whose signature does not verify: refused before anything is read."""

    status = 403
    code = "invalid-signature"
    title = "Invalid signature"


# --- months -----------------------------------------------------------------------------------

def local_today() -> dt.date:
    return dt.datetime.now(LOCAL_TZ).date()


def month_of(day: dt.date) -> dt.date:
    return day.replace(day=1)


def add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def months_between(first: dt.date, last: dt.date) -> int:
    return (last.year - first.year) * 12 + last.month - first.month


def month_start_utc(month: dt.date) -> dt.datetime:
    return dt.datetime.combine(month, dt.time(), LOCAL_TZ).astimezone(dt.UTC)


def parse_month(value: str, field: str = "month") -> dt.date:
    """`YYYY-MM` as the first day of that month; anything else is a field error."""
    try:
        year, month = value.split("-")
        if len(year) != 4 or len(month) != 2:
            raise ValueError(value)
        return dt.date(int(year), int(month), 1)
    except ValueError:
        raise InvalidInput(f"{value!r} is not a month such as 2026-03.",
                           errors={field: ["Use a month such as 2026-03."]}) from None


# --- tenant settings --------------------------------------------------------------------------

def farmer_amount(tenant: Tenant) -> Decimal:
    return (Decimal(int(tenant.rule("dues_farmer_fen"))) / 100).quantize(Decimal("0.01"))


def large_threshold(tenant: Tenant) -> Decimal:
    return Decimal(int(tenant.rule("dues_large_threshold")))


# --- lookups ----------------------------------------------------------------------------------

def org_in_reach(principal: Principal, org_id: int, role: Role,
                  field: str = "org_id") -> Org:
    """An org named in a request body: out of reach is "unknown" (422), never revealed."""
    org = db.session.get(Org, org_id)
    if org is None or not principal.can(role, org.code):
        raise InvalidInput("No such organization in your scope.",
                           errors={field: ["Unknown organization."]})
    return org


def org_for_reading(principal: Principal, org_id: int) -> Org:
    """An org whose dues the principal may read; anything else is 404."""
    org = db.session.get(Org, org_id)
    if org is None:
        raise NotFound("No such organization.")
    require_reach(principal, Role.org_viewer, org.code)
    return org


def member_for(principal: Principal, member_id: int, role: Role = Role.org_viewer) -> Member:
    return get_member(principal, member_id, role)


def _assessment(member_id: int, year: int) -> DuesAssessment | None:
    return db.session.scalar(sa.select(DuesAssessment).where(
        DuesAssessment.member_id == member_id, DuesAssessment.year == year))


def _closed_months(org_ids: Iterable[int], months: Iterable[dt.date]) -> set[tuple[int, dt.date]]:
    org_ids, months = list(set(org_ids)), list(set(months))
    if not org_ids or not months:
        return set()
    rows = db.session.execute(sa.select(DuesMonth.org_id, DuesMonth.month).where(
        DuesMonth.org_id.in_(org_ids), DuesMonth.month.in_(months))).all()
    return {(org_id, month) for org_id, month in rows}


# --- the yearly assessment --------------------------------------------------------------------

def assess(principal: Principal, member: Member, tenant: Tenant, *, year: int,
           category: DuesCategory, base: Decimal | None,
           from_month: dt.date | None = None) -> DuesAssessment:
    """Fix the member's monthly dues for `year` (org administrators of the member).

    Re-assessing (a new salary, Art. 10) re-prices the year's unpaid lines from `from_month`
    (default: the whole year), except in closed months and months under a hardship decision.
    """
    require_reach(principal, Role.org_admin, member.org_code)
    errors: dict[str, list[str]] = {}
    if category in BASED_CATEGORIES and base is None:
        errors["base"] = ["Required for this category."]
    if category not in BASED_CATEGORIES and base is not None:
        errors["base"] = ["Leave empty: this category pays a flat amount."]
    if from_month is not None and from_month.year != year:
        errors["from_month"] = ["A month of the assessed year."]
    try:
        rules = rules_for(dt.date(year, 12, 1))
    except NoRules:
        errors["year"] = ["Before the 2008 dues rules."]
    if errors:
        raise InvalidInput("The assessment was not saved.", errors=errors)
    amount = monthly_amount(rules, category, base, farmer_amount=farmer_amount(tenant))
    assessment = _assessment(member.id, year)
    if assessment is None:
        assessment = DuesAssessment(member_id=member.id, year=year)
        db.session.add(assessment)
    assessment.category, assessment.base = category, money(base) if base is not None else None
    assessment.monthly_amount, assessment.rule_version = amount, rules.version
    assessment.org_code, assessment.assessed_at = member.org_code, utcnow()
    db.session.flush()
    start = from_month or dt.date(year, 1, 1)
    lines = db.session.scalars(sa.select(DuesLine).where(
        DuesLine.member_id == member.id, DuesLine.status == LineStatus.unpaid,
        DuesLine.reduction_id.is_(None), DuesLine.month >= start,
        DuesLine.month <= dt.date(year, 12, 1))).all()
    closed = _closed_months((line.org_id for line in lines), (line.month for line in lines))
    for line in lines:
        if (line.org_id, line.month) not in closed:
            line.category, line.base, line.amount_due = category, assessment.base, amount
            line.rule_version = rules.version
    db.session.flush()
    return assessment


# --- generating the lines ---------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Generated:
    created: int
    #: Paying members of the subtree with no assessment for the year (no lines for them).
    unassessed: int
    #: Unpaid lines of open months moved to the member's current branch.
    rehomed: int


def _month_table(months: Sequence[dt.date]) -> sa.Subquery:
    """The months as a small table (month, next month): a UNION ALL, portable."""
    selects = [sa.select(sa.literal(m, sa.Date).label("month"),
                         sa.literal(add_months(m, 1), sa.Date).label("next_month"))
               for m in months]
    return sa.union_all(*selects).subquery("months")


def generate(principal: Principal, org: Org, tenant: Tenant, *, year: int,
             months: Sequence[dt.date] | None = None) -> Generated:
    """Lines for every paying, assessed member of `org`'s subtree for the months of `year`
    (default: all twelve, the "fix the whole year" practice). Idempotent: existing lines are
    kept, so it may run every month to pick up new probationary members and transfers in.

    One INSERT ... SELECT (members × assessments × months), whatever the subtree's size.
    """
    require_reach(principal, Role.org_admin, org.code)
    wanted = sorted(set(months or [dt.date(year, m, 1) for m in range(1, 13)]))
    if any(m.year != year for m in wanted):
        raise InvalidInput("Months of the year only.", errors={"month": ["Outside the year."]})
    try:
        first_rules = rules_for(wanted[0])
    except NoRules:
        raise InvalidInput("Before the 2008 dues rules.",
                           errors={"year": ["Before the 2008 dues rules."]}) from None
    del first_rules
    table = _month_table(wanted)
    existing = sa.select(DuesLine.id).where(DuesLine.member_id == Member.id,
                                            DuesLine.month == table.c.month).exists()
    paying = sa.and_(
        within(Member.org_code, [org.code]), Member.stage.in_(PAYING_STAGES),
        Member.status.in_(PAYING_STATUSES))
    select = (
        sa.select(sa.literal(tenant.id), Member.id, Member.org_id, Member.org_code,
                  table.c.month, DuesAssessment.category, DuesAssessment.base,
                  DuesAssessment.monthly_amount, DuesAssessment.rule_version,
                  sa.literal(LineStatus.unpaid.value))
        .select_from(Member)
        .join(DuesAssessment, sa.and_(DuesAssessment.member_id == Member.id,
                                      DuesAssessment.year == year))
        .join(table, sa.true())
        .where(paying, sa.or_(Member.admitted_on.is_(None),
                              Member.admitted_on < table.c.next_month),
               ~existing))
    columns = ["tenant_id", "member_id", "org_id", "org_code", "month", "category", "base",
               "amount_due", "rule_version", "status"]
    # Core, with the row count kept (SQLAlchemy keeps it for UPDATE and DELETE only).
    result = db.session.connection().execute(
        sa.insert(DuesLine.__table__).from_select(columns, select),
        execution_options={"preserve_rowcount": True})
    created = max(result.rowcount or 0, 0)
    unassessed = db.session.scalar(
        sa.select(sa.func.count()).select_from(Member).where(
            paying, ~sa.select(DuesAssessment.id).where(
                DuesAssessment.member_id == Member.id, DuesAssessment.year == year).exists()))
    rehomed = _rehome_lines(org, wanted)
    _apply_reductions(org.code, wanted[0], wanted[-1])
    record(db.session(), action="dues.generate", entity_type="org", entity_id=org.id,
           scope_code=org.code, before=None,
           after={"year": year, "months": [m.isoformat()[:7] for m in wanted],
                  "created": created, "unassessed": unassessed})
    db.session.flush()
    return Generated(created, int(unassessed or 0), rehomed)


def _rehome_lines(org: Org, months: Sequence[dt.date]) -> int:
    """Unpaid lines of open months follow a member who moved within the subtree: the branch
    holding the relationship collects (Art. 12)."""
    moved = db.session.execute(
        sa.select(DuesLine.id, DuesLine.org_id, DuesLine.month, Member.org_id, Member.org_code)
        .join(Member, Member.id == DuesLine.member_id)
        .where(within(Member.org_code, [org.code]), DuesLine.month.in_(months),
               DuesLine.status == LineStatus.unpaid, DuesLine.org_id != Member.org_id)).all()
    if not moved:
        return 0
    closed = _closed_months((row[1] for row in moved), (row[2] for row in moved))
    updates = [{"line_id": line_id, "new_org": new_org, "new_code": new_code}
               for line_id, old_org, month, new_org, new_code in moved
               if (old_org, month) not in closed]
    for row in updates:
        db.session.execute(sa.update(DuesLine).where(DuesLine.id == row["line_id"])
                           .values(org_id=row["new_org"], org_code=row["new_code"]))
    return len(updates)


def _apply_reductions(code: str, first: dt.date, last: dt.date,
                      member_id: int | None = None) -> None:
    """Approved hardship decisions price the unpaid lines they cover."""
    stmt = sa.select(DuesReduction).where(
        within(DuesReduction.org_code, [code]), DuesReduction.status == ReductionStatus.approved,
        DuesReduction.from_month <= last, DuesReduction.to_month >= first)
    if member_id is not None:
        stmt = sa.select(DuesReduction).where(
            DuesReduction.member_id == member_id,
            DuesReduction.status == ReductionStatus.approved,
            DuesReduction.from_month <= last, DuesReduction.to_month >= first)
    for reduction in db.session.scalars(stmt):
        exempt = reduction.kind == ReductionKind.exempt
        db.session.execute(
            sa.update(DuesLine)
            .where(DuesLine.member_id == reduction.member_id,
                   DuesLine.status == LineStatus.unpaid,
                   DuesLine.month >= reduction.from_month, DuesLine.month <= reduction.to_month)
            .values(reduction_id=reduction.id,
                    amount_due=ZERO if exempt else reduction.monthly_amount,
                    status=LineStatus.exempt if exempt else LineStatus.unpaid)
            .execution_options(synchronize_session=False))


# --- paying -----------------------------------------------------------------------------------

def _payable_lines(member: Member, tenant: Tenant, months: Sequence[dt.date], *,
                   today: dt.date, ahead_through: dt.date | None,
                   lock: bool = False) -> list[DuesLine]:
    """The member's unpaid lines for exactly these months, within the back-pay and ahead
    limits, months after the current one only through `ahead_through` (the branch's consent);
    any other month is refused with the reason."""
    if not months:
        raise InvalidInput("Choose at least one month.", errors={"months": ["Required."]})
    if len(set(months)) != len(months):
        raise InvalidInput("A month is listed twice.", errors={"months": ["Listed twice."]})
    if len(months) > MAX_MONTHS_PER_PAYMENT:
        raise InvalidInput("Too many months at once.", errors={"months": ["Too many."]})
    current = month_of(today)
    earliest = add_months(current, -int(tenant.rule("dues_backpay_months")))
    latest = add_months(current, int(tenant.rule("dues_ahead_months")))
    too_old = sorted(m for m in months if m < earliest)
    if too_old:
        raise Conflict(f"Back-pay reaches {earliest.isoformat()[:7]} at the earliest "
                       f"({tenant.rule('dues_backpay_months')} months).",
                       errors={"months": ["Beyond the back-pay limit."]},
                       earliest=earliest.isoformat()[:7])
    too_far = sorted(m for m in months if m > latest)
    if too_far:
        raise Conflict(f"Dues may be paid ahead up to {latest.isoformat()[:7]}.",
                       errors={"months": ["Beyond the months that may be paid ahead."]},
                       latest=latest.isoformat()[:7])
    ahead = sorted(m for m in months if m > current)
    if ahead and (ahead_through is None or ahead[-1] > ahead_through):
        through = ahead_through.isoformat()[:7] if ahead_through else None
        raise AheadConsentRequired(
            "Paying months after the current one needs the branch's consent"
            + (f" (given through {through})." if through else "."),
            errors={"months": ["Paying ahead needs the branch's consent."]},
            consented_through=through)
    stmt = sa.select(DuesLine).where(DuesLine.member_id == member.id,
                                     DuesLine.month.in_(months)).order_by(DuesLine.month)
    if lock:
        stmt = stmt.with_for_update()
    lines = list(db.session.scalars(stmt))
    found = {line.month for line in lines}
    missing = sorted(set(months) - found)
    if missing:
        raise InvalidInput("There is no dues line for " + ", ".join(
            m.isoformat()[:7] for m in missing) + ".", errors={"months": ["No such month."]})
    settled = [line.month.isoformat()[:7] for line in lines if line.status != LineStatus.unpaid]
    if settled:
        raise Conflict("Already paid or exempt: " + ", ".join(settled) + ".",
                       errors={"months": ["Already settled."]})
    return lines


def _check_collection_month(org_id: int, now: dt.datetime) -> None:
    month = month_of(now.astimezone(LOCAL_TZ).date())
    if _closed_months([org_id], [month]):
        raise Conflict(f"The branch has closed {month.isoformat()[:7]}; "
                       "payments are recorded once it is reopened or in the next month.",
                       errors={"months": ["The collection month is closed."]})


def _settle(lines: Sequence[DuesLine], payment: DuesPayment) -> None:
    for line in lines:
        line.status, line.payment_id, line.paid_at = LineStatus.paid, payment.id, payment.paid_at


def _other_member(member_id: int, field: str) -> Member:
    other = db.session.get(Member, member_id)
    if other is None:
        raise InvalidInput("No such member.", errors={field: ["Unknown member."]})
    return other


def record_payment(principal: Principal, member: Member, tenant: Tenant, *,
                   months: Sequence[dt.date], method: PaymentMethod,
                   payer_member_id: int | None = None, reference: str | None = None,
                   note: str | None = None, consent_ahead: bool = False,
                   today: dt.date | None = None,
                   now: dt.datetime | None = None) -> DuesPayment:
    """The collector records money received in cash or by bank transfer, for one or several
    months (back-pay within the limit). A collector recording another member's payment is the
    branch's consent to it. Months after the current one need the branch's consent to pay
    ahead, like online; with `consent_ahead` the collector (an administrator of the member's
    branch) gives it in the same act, recorded and audited as a consent through the last
    month paid."""
    require_reach(principal, Role.org_admin, member.org_code)
    if method == PaymentMethod.online:
        raise InvalidInput("Online payments come from the provider.",
                           errors={"method": ["Cash or bank transfer."]})
    now = now or utcnow()
    today = today or now.astimezone(LOCAL_TZ).date()
    payer = None
    if payer_member_id is not None and payer_member_id != member.id:
        payer = _other_member(payer_member_id, "payer_member_id")
    current = month_of(today)
    latest = add_months(current, int(tenant.rule("dues_ahead_months")))
    if consent_ahead and months and current < max(months) <= latest:
        through = max(max(months), ahead_through(member.id, today) or current)
        grant_ahead_consent(principal, member, tenant, through_month=through,
                            note="recorded with a payment", today=today, now=now)
    lines = _payable_lines(member, tenant, months, today=today,
                           ahead_through=ahead_through(member.id, today), lock=True)
    _check_collection_month(member.org_id, now)
    payment = DuesPayment(
        kind=PaymentKind.monthly, member_id=member.id, payer_member_id=payer.id if payer else None,
        org_id=member.org_id, org_code=member.org_code, method=method,
        amount=money(sum((line.amount_due for line in lines), ZERO)), reference=reference,
        note=note, recorded_by_account_id=principal.account_id or None, paid_at=now)
    db.session.add(payment)
    db.session.flush()
    _settle(lines, payment)
    db.session.flush()
    return payment


def record_large_payment(principal: Principal, member: Member, tenant: Tenant, *,
                         amount: Decimal, method: PaymentMethod, note: str | None = None,
                         reference: str | None = None,
                         now: dt.datetime | None = None) -> DuesPayment:
    """A voluntary one-off of at least the threshold (大额党费): recorded as forwarded whole to
    the committee above the member's branch (Art. 11)."""
    require_reach(principal, Role.org_admin, member.org_code)
    threshold = large_threshold(tenant)
    if method == PaymentMethod.online:
        raise InvalidInput("Online payments come from the provider.",
                           errors={"method": ["Cash or bank transfer."]})
    if amount < threshold:
        raise InvalidInput(f"Large dues are at least {threshold} yuan.",
                           errors={"amount": ["Below the large-dues threshold."]},
                           threshold=str(threshold))
    now = now or utcnow()
    _check_collection_month(member.org_id, now)
    org = db.session.get(Org, member.org_id)
    assert org is not None
    payment = DuesPayment(
        kind=PaymentKind.large, member_id=member.id, org_id=org.id, org_code=org.code,
        method=method, amount=money(amount), forwarded_to_org_id=org.parent_id or org.id,
        reference=reference, note=note, recorded_by_account_id=principal.account_id or None,
        paid_at=now)
    db.session.add(payment)
    db.session.flush()
    return payment


# --- consent to pay for another member --------------------------------------------------------

def grant_consent(principal: Principal, member: Member, *, payer_member_id: int) -> DuesConsent:
    """The branch consents that `payer_member_id` pays `member`'s dues online (代交)."""
    require_reach(principal, Role.org_admin, member.org_code)
    if payer_member_id == member.id:
        raise InvalidInput("A member pays their own dues without consent.",
                           errors={"payer_member_id": ["The member themself."]})
    payer = _other_member(payer_member_id, "payer_member_id")
    if db.session.scalar(sa.select(DuesConsent.id).where(
            DuesConsent.member_id == member.id, DuesConsent.payer_member_id == payer.id)):
        raise Conflict("The consent exists.", errors={"payer_member_id": ["Already consented."]})
    consent = DuesConsent(member_id=member.id, payer_member_id=payer.id,
                          org_code=member.org_code,
                          granted_by_account_id=principal.account_id or None)
    db.session.add(consent)
    db.session.flush()
    return consent


# --- consent to pay ahead -------------------------------------------------------------------------

def ahead_consent(member_id: int) -> DuesAheadConsent | None:
    """The member's consent to pay ahead, revoked or not (None if never given)."""
    return db.session.scalar(sa.select(DuesAheadConsent).where(
        DuesAheadConsent.member_id == member_id))


def ahead_through(member_id: int, today: dt.date) -> dt.date | None:
    """The last month the member may pay ahead by the branch's consent, or None (no consent,
    revoked, its months are past, or given by a branch the member has since left)."""
    through = db.session.scalar(
        sa.select(DuesAheadConsent.through_month)
        .join(Member, Member.id == DuesAheadConsent.member_id)
        .where(DuesAheadConsent.member_id == member_id, DuesAheadConsent.revoked_at.is_(None),
               DuesAheadConsent.org_code == Member.org_code))
    return through if through is not None and through > month_of(today) else None


def grant_ahead_consent(principal: Principal, member: Member, tenant: Tenant, *,
                        through_month: dt.date, note: str | None = None,
                        today: dt.date | None = None,
                        now: dt.datetime | None = None) -> DuesAheadConsent:
    """The branch consents that the member pays ahead, through `through_month` (org
    administrators of the member's branch). Granting again moves the month, or renews a
    revoked consent."""
    require_reach(principal, Role.org_admin, member.org_code)
    today = today or local_today()
    current = month_of(today)
    latest = add_months(current, int(tenant.rule("dues_ahead_months")))
    if through_month <= current:
        raise InvalidInput("Consent to pay ahead names a month after the current one.",
                           errors={"through_month": ["A month after the current one."]})
    if through_month > latest:
        raise InvalidInput(f"Dues may be paid ahead up to {latest.isoformat()[:7]}.",
                           errors={"through_month": ["Beyond the months that may be paid "
                                                     "ahead."]},
                           latest=latest.isoformat()[:7])
    consent = ahead_consent(member.id)
    if consent is None:
        consent = DuesAheadConsent(member_id=member.id)
        db.session.add(consent)
    consent.org_code, consent.through_month, consent.note = member.org_code, through_month, note
    consent.granted_by_account_id = principal.account_id or None
    consent.granted_at = now or utcnow()
    consent.revoked_at, consent.revoked_by_account_id = None, None
    db.session.flush()
    return consent


def revoke_ahead_consent(principal: Principal, member: Member, *,
                         now: dt.datetime | None = None) -> DuesAheadConsent | None:
    """No further month may be paid ahead (months paid already stay paid; an order already
    at the provider is still honoured when its callback comes). Revoking what is not there
    changes nothing."""
    require_reach(principal, Role.org_admin, member.org_code)
    consent = ahead_consent(member.id)
    if consent is None or consent.revoked_at is not None:
        return consent
    consent.revoked_at = now or utcnow()
    consent.revoked_by_account_id = principal.account_id or None
    db.session.flush()
    return consent


def payable_for(payer: Member) -> list[Member]:
    """The members whose dues `payer` may pay online: themself, and those the branch consented."""
    others = db.session.scalars(
        sa.select(Member).join(DuesConsent, DuesConsent.member_id == Member.id)
        .where(DuesConsent.payer_member_id == payer.id).order_by(Member.name)).all()
    return [payer, *others]


def _member_paid_by(principal: Principal, member_id: int | None) -> tuple[Member, Member]:
    """(whose dues, who pays) for the signed-in member; another member needs a consent,
    otherwise they do not exist for this principal (404)."""
    payer = own_member(principal)
    if member_id is None or member_id == payer.id:
        return payer, payer
    member = db.session.scalar(
        sa.select(Member).join(DuesConsent, DuesConsent.member_id == Member.id)
        .where(Member.id == member_id, DuesConsent.payer_member_id == payer.id))
    if member is None:
        raise NotFound("No such member.")
    return member, payer


# --- online payment ---------------------------------------------------------------------------

def start_checkout(principal: Principal, tenant: Tenant, provider: PaymentProvider, *,
                   months: Sequence[dt.date], notify_url: str,
                   return_url: Callable[[str], str], member_id: int | None = None,
                   language: str = "zh_CN", today: dt.date | None = None
                   ) -> tuple[PaymentOrder, str]:
    """An order for the member's (or, with consent, another member's) unpaid months, and the
    provider's checkout URL. Nothing is paid until the provider's signed callback."""
    member, payer = _member_paid_by(principal, member_id)
    today = today or local_today()
    lines = _payable_lines(member, tenant, months, today=today,
                           ahead_through=ahead_through(member.id, today))
    amount = money(sum((line.amount_due for line in lines), ZERO))
    if amount <= ZERO:
        raise Conflict("Nothing to pay for these months.", errors={"months": ["Nothing due."]})
    order = PaymentOrder(token=secrets.token_urlsafe(18), provider=provider.name,
                         member_id=member.id,
                         payer_member_id=payer.id if payer.id != member.id else None,
                         account_id=principal.account_id or None, amount=amount)
    db.session.add(order)
    db.session.flush()
    db.session.add_all(OrderLine(order_id=order.id, line_id=line.id) for line in lines)
    db.session.flush()
    months_text = "、".join(line.month.strftime("%Y-%m") for line in lines)
    url = provider.checkout_url(CheckoutRequest(
        order_token=order.token, amount=amount, subject=f"{tenant.name} 党费 {months_text}",
        notify_url=notify_url, return_url=return_url(order.token), language=language))
    return order, url


def own_order(principal: Principal, token: str) -> PaymentOrder:
    """An order the signed-in account started (anything else is 404)."""
    order = db.session.scalar(sa.select(PaymentOrder).where(PaymentOrder.token == token))
    if order is None or order.account_id != principal.account_id:
        raise NotFound("No such order.")
    return order


def order_months(order: PaymentOrder) -> list[dt.date]:
    return list(db.session.scalars(
        sa.select(DuesLine.month).join(OrderLine, OrderLine.line_id == DuesLine.id)
        .where(OrderLine.order_id == order.id).order_by(DuesLine.month)))


@dataclasses.dataclass(frozen=True)
class CallbackResult:
    result: str  # paid, duplicate, failed
    order: str


def apply_callback(provider_name: str, body: bytes, headers: Mapping[str, str], *,
                   settings: Any, now: dt.datetime | None = None) -> CallbackResult:
    """A provider's callback, in one transaction: verify the signature before reading anything;
    find the order; once per provider transaction; the amount must equal the order's and its
    lines' (still unpaid); only then are the lines marked paid. Refusals change nothing."""
    try:
        provider = provider_for(provider_name, settings)
    except LookupError:
        raise NotFound("No such payment provider.") from None
    try:
        callback = provider.verify_callback(body, headers)
    except InvalidCallback as exc:
        raise InvalidSignature(str(exc)) from None
    with all_tenants():
        order = db.session.scalar(
            sa.select(PaymentOrder).where(PaymentOrder.token == callback.order_token,
                                          PaymentOrder.provider == provider.name)
            .with_for_update())
    if order is None:
        raise NotFound("No such order.", errors={"order": ["Unknown order."]})
    with tenant_context(order.tenant_id):
        return _apply_to_order(order, provider.name, callback.txn_id, callback.amount,
                               callback.succeeded, now or utcnow())


def _apply_to_order(order: PaymentOrder, provider: str, txn_id: str, amount: Decimal,
                    succeeded: bool, now: dt.datetime) -> CallbackResult:
    if order.status == OrderStatus.paid:
        if order.provider_txn_id == txn_id:
            return CallbackResult("duplicate", order.token)  # a replay: already applied
        raise Conflict("The order was already paid by another transaction.",
                       errors={"txn_id": ["The order is paid."]})
    used = db.session.scalar(sa.select(DuesPayment.id).where(
        DuesPayment.provider == provider, DuesPayment.provider_txn_id == txn_id))
    if used is not None:
        raise Conflict("This transaction already paid another order.",
                       errors={"txn_id": ["Already used."]})
    if amount != order.amount:
        raise InvalidInput(f"The amount {amount} is not the order's {order.amount}.",
                           errors={"amount": ["Does not match the order."]})
    if not succeeded:
        if order.status == OrderStatus.pending:
            order.status, order.completed_at = OrderStatus.failed, now
            order.provider_txn_id = txn_id
            db.session.flush()
        return CallbackResult("failed", order.token)
    lines = list(db.session.scalars(
        sa.select(DuesLine).join(OrderLine, OrderLine.line_id == DuesLine.id)
        .where(OrderLine.order_id == order.id).with_for_update()))
    if not lines or any(line.status != LineStatus.unpaid for line in lines):
        raise Conflict("A month of the order was settled meanwhile.",
                       errors={"order": ["Settled meanwhile."]})
    if money(sum((line.amount_due for line in lines), ZERO)) != order.amount:
        raise Conflict("The months were re-priced since the order was made.",
                       errors={"amount": ["Re-priced."]})
    member = db.session.get(Member, order.member_id)
    assert member is not None
    payment = DuesPayment(
        kind=PaymentKind.monthly, member_id=member.id, payer_member_id=order.payer_member_id,
        org_id=member.org_id, org_code=member.org_code, method=PaymentMethod.online,
        amount=order.amount, provider=provider, provider_txn_id=txn_id, reference=order.token,
        recorded_by_account_id=None, paid_at=now)
    db.session.add(payment)
    db.session.flush()
    _settle(lines, payment)
    order.status, order.provider_txn_id, order.payment_id = OrderStatus.paid, txn_id, payment.id
    order.completed_at = now
    db.session.flush()
    return CallbackResult("paid", order.token)


# --- hardship ---------------------------------------------------------------------------------

def request_reduction(principal: Principal, member: Member, *, kind: ReductionKind,
                      monthly_amount: Decimal | None, from_month: dt.date, to_month: dt.date,
                      reason: str) -> DuesReduction:
    """The branch asks, after the member applied and it discussed (org administrators of the
    member); the committee above decides."""
    require_reach(principal, Role.org_admin, member.org_code)
    errors: dict[str, list[str]] = {}
    if to_month < from_month:
        errors["to_month"] = ["Before the first month."]
    elif months_between(from_month, to_month) >= 24:
        errors["to_month"] = ["At most 24 months at a time."]
    if kind == ReductionKind.reduced:
        if monthly_amount is None or monthly_amount <= ZERO:
            errors["monthly_amount"] = ["A reduced amount above 0."]
    elif monthly_amount is not None:
        errors["monthly_amount"] = ["Leave empty for an exemption."]
    if errors:
        raise InvalidInput("The request was not recorded.", errors=errors)
    reduction = DuesReduction(
        member_id=member.id, org_code=member.org_code, kind=kind,
        monthly_amount=money(monthly_amount) if monthly_amount is not None else None,
        from_month=from_month, to_month=to_month, reason=reason,
        requested_by_account_id=principal.account_id or None)
    db.session.add(reduction)
    db.session.flush()
    return reduction


def parent_code(code: str, tenant: Tenant) -> str | None:
    """The code of the org above, or None for the tenant's root."""
    if len(code) <= len(tenant.code_prefix):
        return None
    return code[:-SEGMENT_WIDTH]


def get_reduction(principal: Principal, reduction_id: int) -> DuesReduction:
    reduction = db.session.get(DuesReduction, reduction_id)
    if reduction is None:
        raise NotFound("No such request.")
    require_reach(principal, Role.org_viewer, reduction.org_code)
    return reduction


def may_decide(principal: Principal, reduction: DuesReduction, tenant: Tenant) -> bool:
    """An administrator of the committee above the member's branch (the root's own requests:
    the tenant administrators)."""
    above = parent_code(reduction.org_code, tenant)
    if above is None:
        return principal.can(Role.tenant_admin, reduction.org_code)
    return principal.can(Role.org_admin, above)


def decide_reduction(principal: Principal, reduction: DuesReduction, tenant: Tenant, *,
                     approve: bool, note: str | None = None,
                     now: dt.datetime | None = None) -> DuesReduction:
    from shared.errors import Forbidden

    if not may_decide(principal, reduction, tenant):
        raise Forbidden("The committee above the branch decides.")
    if reduction.status != ReductionStatus.pending:
        raise Conflict("The request was already decided.",
                       errors={"approve": ["Already decided."]})
    reduction.status = ReductionStatus.approved if approve else ReductionStatus.rejected
    reduction.decided_by_account_id = principal.account_id or None
    reduction.decided_at, reduction.decision_note = now or utcnow(), note
    db.session.flush()
    if approve:
        _apply_reductions(reduction.org_code, reduction.from_month, reduction.to_month,
                          member_id=reduction.member_id)
        db.session.flush()
    return reduction


def pending_reductions(principal: Principal, tenant: Tenant) -> list[DuesReduction]:
    """Requests this principal may decide."""
    rows = db.session.scalars(
        sa.select(DuesReduction).where(
            within(DuesReduction.org_code, principal.prefixes(Role.org_admin)),
            DuesReduction.status == ReductionStatus.pending)
        .order_by(DuesReduction.requested_at).limit(500)).all()
    return [r for r in rows if may_decide(principal, r, tenant)]


# --- closing a month and the totals up the tree -----------------------------------------------

@dataclasses.dataclass(frozen=True)
class Closed:
    closed: int
    already: int


def _month_figures(code: str, month: dt.date) -> dict[int, dict[str, Any]]:
    """Per org of the subtree: the month's lines and the money received in the month."""
    paid = DuesLine.status == LineStatus.paid
    exempt = DuesLine.status == LineStatus.exempt
    unpaid = DuesLine.status == LineStatus.unpaid
    figures: dict[int, dict[str, Any]] = {}

    def row(org_id: int, org_code: str) -> dict[str, Any]:
        return figures.setdefault(org_id, {
            "org_id": org_id, "org_code": org_code, "lines": 0, "paid_lines": 0,
            "exempt_lines": 0, "due_total": ZERO, "paid_total": ZERO, "unpaid_total": ZERO,
            "collected_total": ZERO, "large_total": ZERO})

    for r in db.session.execute(
            sa.select(DuesLine.org_id, sa.func.min(DuesLine.org_code), sa.func.count(),
                      sa.func.count().filter(paid), sa.func.count().filter(exempt),
                      sa.func.coalesce(sa.func.sum(DuesLine.amount_due), 0),
                      sa.func.coalesce(sa.func.sum(DuesLine.amount_due).filter(paid), 0),
                      sa.func.coalesce(sa.func.sum(DuesLine.amount_due).filter(unpaid), 0))
            .where(within(DuesLine.org_code, [code]), DuesLine.month == month)
            .group_by(DuesLine.org_id)):
        target = row(r[0], r[1])
        target.update(lines=r[2], paid_lines=r[3], exempt_lines=r[4], due_total=money(r[5]),
                      paid_total=money(r[6]), unpaid_total=money(r[7]))
    start, end = month_start_utc(month), month_start_utc(add_months(month, 1))
    for org_id, org_code, kind, total in db.session.execute(
            sa.select(DuesPayment.org_id, sa.func.min(DuesPayment.org_code), DuesPayment.kind,
                      sa.func.sum(DuesPayment.amount))
            .where(within(DuesPayment.org_code, [code]), DuesPayment.paid_at >= start,
                   DuesPayment.paid_at < end)
            .group_by(DuesPayment.org_id, DuesPayment.kind)):
        key = "large_total" if PaymentKind(kind) == PaymentKind.large else "collected_total"
        row(org_id, org_code)[key] = money(total)
    return figures


def close_month(principal: Principal, org: Org, *, month: dt.date, today: dt.date | None = None,
                now: dt.datetime | None = None) -> Closed:
    """Close `month` for every branch of `org`'s subtree with lines or money in it (one branch,
    or a whole committee at once). Closed, a branch's figures are frozen and reported up."""
    require_reach(principal, Role.org_admin, org.code)
    if month > month_of(today or local_today()):
        raise InvalidInput("A month that has not begun cannot be closed.",
                           errors={"month": ["In the future."]})
    figures = _month_figures(org.code, month)
    done = {org_id for (org_id,) in db.session.execute(
        sa.select(DuesMonth.org_id).where(within(DuesMonth.org_code, [org.code]),
                                          DuesMonth.month == month))}
    now = now or utcnow()
    rows = [{**values, "month": month, "closed_at": now, "tenant_id": principal.tenant_id,
             "closed_by_account_id": principal.account_id or None}
            for org_id, values in figures.items() if org_id not in done]
    if rows:
        db.session.execute(sa.insert(DuesMonth), rows)
    if not rows and not done:
        raise Conflict("There are no dues lines for this month; generate them first.",
                       errors={"month": ["No lines."]})
    record(db.session(), action="dues.close", entity_type="org", entity_id=org.id,
           scope_code=org.code, before=None,
           after={"month": month.isoformat()[:7], "closed": len(rows), "already": len(done)})
    db.session.flush()
    return Closed(len(rows), len(done))


TOTAL_FIELDS = ("lines", "paid_lines", "exempt_lines", "due_total", "paid_total",
                "unpaid_total", "collected_total", "large_total")


@dataclasses.dataclass
class TotalsRow:
    code: str
    name: str
    closed_branches: int = 0
    figures: dict[str, Any] = dataclasses.field(
        default_factory=lambda: {key: ZERO if key.endswith("total") else 0
                                 for key in TOTAL_FIELDS})

    def add(self, values: Mapping[str, Any]) -> None:
        self.closed_branches += 1
        for key in TOTAL_FIELDS:
            self.figures[key] += values[key]


@dataclasses.dataclass(frozen=True)
class Totals:
    org: Org
    month: dt.date
    total: TotalsRow
    children: list[TotalsRow]
    #: Branches of the subtree with lines in the month that have not closed it yet.
    open_branches: int


def month_totals(principal: Principal, org: Org, *, month: dt.date) -> Totals:
    """The closed figures of `org`'s subtree for `month`, in total and by child organization
    (the roll-up up the tree: a SUM over an index range of codes)."""
    require_reach(principal, Role.org_viewer, org.code)
    columns = [getattr(DuesMonth, key) for key in TOTAL_FIELDS]
    rows = db.session.execute(
        sa.select(DuesMonth.org_id, DuesMonth.org_code, *columns)
        .where(within(DuesMonth.org_code, [org.code]), DuesMonth.month == month)).all()
    children = {child.code: TotalsRow(child.code, child.name) for child in db.session.scalars(
        sa.select(Org).where(Org.parent_id == org.id).order_by(Org.code))}
    total = TotalsRow(org.code, org.name)
    closed_ids = set()
    width = len(org.code) + SEGMENT_WIDTH
    for row in rows:
        values = dict(zip(TOTAL_FIELDS, row[2:], strict=True))
        closed_ids.add(row[0])
        total.add(values)
        child = children.get(row[1][:width])
        if child is not None:
            child.add(values)
    with_lines = set(db.session.scalars(
        sa.select(DuesLine.org_id).where(within(DuesLine.org_code, [org.code]),
                                         DuesLine.month == month).distinct()))
    return Totals(org, month, total, list(children.values()), len(with_lines - closed_ids))


def closed_month(org_id: int, month: dt.date) -> DuesMonth | None:
    return db.session.scalar(sa.select(DuesMonth).where(DuesMonth.org_id == org_id,
                                                        DuesMonth.month == month))


# --- what the pages and the API show ----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Arrears:
    months: int  # consecutive unpaid months up to last month
    owed: Decimal  # what those months come to


def arrears_of(member_ids: Sequence[int] | None, today: dt.date, *,
               scope: str | None = None, at_least: int = 1) -> dict[int, Arrears]:
    """Consecutive unpaid months ending last month (the current month is not overdue yet),
    per member: the unpaid lines after the last settled one. Two GROUP BYs, however many."""
    current = month_of(today)
    where = [DuesLine.month < current]
    if member_ids is not None:
        where.append(DuesLine.member_id.in_(member_ids))
    if scope is not None:
        where.append(within(DuesLine.org_code, [scope]))
    settled = (sa.select(DuesLine.member_id.label("member_id"),
                         sa.func.max(DuesLine.month).filter(
                             DuesLine.status != LineStatus.unpaid).label("settled"))
               .where(*where).group_by(DuesLine.member_id).subquery())
    stmt = (sa.select(DuesLine.member_id, sa.func.count(), sa.func.sum(DuesLine.amount_due))
            .join(settled, settled.c.member_id == DuesLine.member_id)
            .where(*where, DuesLine.status == LineStatus.unpaid,
                   sa.or_(settled.c.settled.is_(None), DuesLine.month > settled.c.settled))
            .group_by(DuesLine.member_id).having(sa.func.count() >= at_least))
    return {member_id: Arrears(int(n), money(owed))
            for member_id, n, owed in db.session.execute(stmt)}


@dataclasses.dataclass(frozen=True)
class DuesAccount:
    member: Member
    year: int
    assessment: DuesAssessment | None
    lines: list[DuesLine]
    arrears: Arrears
    #: Unpaid months the member may pay now: back-pay within the limit, the current month,
    #: months ahead through the branch's consent.
    payable: list[DuesLine]
    #: What the collector may record (months ahead within the limit: the collector may give
    #: the consent in the same act).
    collectable: list[DuesLine]
    #: The last month that may be paid ahead by the branch's consent (None: none now).
    ahead_through: dt.date | None
    payments: list[DuesPayment]
    payers: list[Member]  # who may pay this member's dues (consents)
    reductions: list[DuesReduction]


def dues_account(member: Member, tenant: Tenant, *, year: int | None = None,
                 today: dt.date | None = None) -> DuesAccount:
    today = today or local_today()
    year = year or today.year
    current = month_of(today)
    earliest = add_months(current, -int(tenant.rule("dues_backpay_months")))
    latest = add_months(current, int(tenant.rule("dues_ahead_months")))
    lines = list(db.session.scalars(sa.select(DuesLine).where(
        DuesLine.member_id == member.id, DuesLine.month >= min(dt.date(year, 1, 1), earliest),
        DuesLine.month <= max(dt.date(year, 12, 1), latest)).order_by(DuesLine.month)))
    collectable = [line for line in lines if line.status == LineStatus.unpaid
                   and earliest <= line.month <= latest and line.amount_due > ZERO]
    through = ahead_through(member.id, today)
    payable = [line for line in collectable
               if line.month <= current or (through is not None and line.month <= through)]
    year_lines = [line for line in lines if line.month.year == year]
    arrears = arrears_of([member.id], today).get(member.id, Arrears(0, ZERO))
    payments = list(db.session.scalars(sa.select(DuesPayment).where(
        DuesPayment.member_id == member.id).order_by(DuesPayment.paid_at.desc()).limit(50)))
    payers = list(db.session.scalars(
        sa.select(Member).join(DuesConsent, DuesConsent.payer_member_id == Member.id)
        .where(DuesConsent.member_id == member.id).order_by(Member.name)))
    reductions = list(db.session.scalars(sa.select(DuesReduction).where(
        DuesReduction.member_id == member.id).order_by(DuesReduction.requested_at.desc())))
    return DuesAccount(member, year, _assessment(member.id, year), year_lines, arrears,
                       payable, collectable, through, payments, payers, reductions)


@dataclasses.dataclass(frozen=True)
class SheetRow:
    member: Any  # id, name, member_number, stage, status
    line: DuesLine | None
    arrears: Arrears | None


@dataclasses.dataclass(frozen=True)
class MonthSheet:
    org: Org
    month: dt.date
    rows: list[SheetRow]
    closed: DuesMonth | None
    live: dict[str, Any]  # the figures now (the same as closing would freeze)


def month_sheet(principal: Principal, org: Org, *, month: dt.date,
                today: dt.date | None = None) -> MonthSheet:
    """The branch's month: each paying member with the month's line and arrears."""
    require_reach(principal, Role.org_viewer, org.code)
    today = today or local_today()
    members = db.session.execute(
        sa.select(Member.id, Member.name, Member.member_number, Member.stage, Member.status)
        .where(Member.org_id == org.id, Member.stage.in_(PAYING_STAGES),
               Member.status.in_(PAYING_STATUSES)).order_by(Member.name, Member.id)).all()
    lines = {line.member_id: line for line in db.session.scalars(
        sa.select(DuesLine).where(DuesLine.org_id == org.id, DuesLine.month == month))}
    ids = [m.id for m in members] + [mid for mid in lines if mid not in {m.id for m in members}]
    arrears = arrears_of(ids, today) if ids else {}
    rows = [SheetRow(m, lines.get(m.id), arrears.get(m.id)) for m in members]
    known = {m.id for m in members}
    extra = [mid for mid in lines if mid not in known]  # e.g. a member who left this month
    if extra:
        for m in db.session.execute(
                sa.select(Member.id, Member.name, Member.member_number, Member.stage,
                          Member.status).where(Member.id.in_(extra))):
            rows.append(SheetRow(m, lines[m.id], arrears.get(m.id)))
    live = _month_figures(org.code, month).get(org.id) or {
        key: ZERO if key.endswith("total") else 0 for key in TOTAL_FIELDS}
    return MonthSheet(org, month, rows, closed_month(org.id, month), live)


def branch_choices(principal: Principal, role: Role = Role.org_viewer) -> list[Org]:
    """Organizations that hold members, in the principal's reach, in tree order."""
    from node.orgs.models import OrgKind

    return list(db.session.scalars(
        sa.select(Org).where(within(Org.code, principal.prefixes(role)),
                             Org.kind != OrgKind.group, Org.dissolved_on.is_(None))
        .order_by(Org.code).limit(2000)))


@dataclasses.dataclass(frozen=True)
class LineFilter:
    org_id: int | None = None
    month: dt.date | None = None
    member_id: int | None = None
    status: LineStatus | None = None


def list_lines(principal: Principal, flt: LineFilter, *, after: int | None,
               limit: int) -> Sequence[DuesLine]:
    stmt = sa.select(DuesLine).where(
        within(DuesLine.org_code, principal.prefixes(Role.org_viewer)))
    if flt.org_id is not None:
        org = db.session.get(Org, flt.org_id)
        if org is None or not principal.can(Role.org_viewer, org.code):
            raise NotFound("No such organization.")
        stmt = stmt.where(within(DuesLine.org_code, [org.code]))
    if flt.month is not None:
        stmt = stmt.where(DuesLine.month == flt.month)
    if flt.member_id is not None:
        stmt = stmt.where(DuesLine.member_id == flt.member_id)
    if flt.status is not None:
        stmt = stmt.where(DuesLine.status == flt.status)
    if after is not None:
        stmt = stmt.where(DuesLine.id > after)
    return db.session.scalars(stmt.order_by(DuesLine.id).limit(limit)).all()


@dataclasses.dataclass(frozen=True)
class CardSummary:
    paid_through: dt.date | None
    arrears: Arrears


def card_summary(member_id: int, today: dt.date | None = None) -> CardSummary | None:
    """One line of the activity card: paid up to which month, and what is overdue."""
    today = today or local_today()
    if not db.session.scalar(sa.select(DuesLine.id).where(DuesLine.member_id == member_id)
                             .limit(1)):
        return None
    paid_through = db.session.scalar(sa.select(sa.func.max(DuesLine.month)).where(
        DuesLine.member_id == member_id, DuesLine.status != LineStatus.unpaid))
    arrears = arrears_of([member_id], today).get(member_id, Arrears(0, ZERO))
    return CardSummary(paid_through, arrears)


# --- arrears alerts ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Recorded:
    reminders: int
    escalations: int


def record_reminders(tenant: Tenant, *, today: dt.date | None = None) -> Recorded:
    """Record this month's arrears alerts of the tenant, each once per member and level:
    a reminder to every member `dues_reminder_months` or more behind, an alert to the branch
    secretary for those `dues_escalation_months` or more behind. Mail follows
    (`pending_reminders`); the "self-withdrawal" procedure itself is for people to decide."""
    today = today or local_today()
    month = month_of(today)
    remind_at = int(tenant.rule("dues_reminder_months"))
    escalate_at = int(tenant.rule("dues_escalation_months"))
    behind = arrears_of(None, today, scope=tenant.code_prefix, at_least=remind_at)
    if not behind:
        return Recorded(0, 0)
    members = dict(db.session.execute(
        sa.select(Member.id, Member.org_code).where(
            Member.id.in_(list(behind)), Member.stage.in_(PAYING_STAGES),
            Member.status.in_(PAYING_STATUSES))).all())
    done = set(db.session.execute(sa.select(DuesReminder.member_id, DuesReminder.level).where(
        DuesReminder.month == month, DuesReminder.member_id.in_(list(members)))).all())
    rows = []
    for member_id, code in members.items():
        state = behind[member_id]
        levels = [ReminderLevel.reminder]
        if state.months >= escalate_at:
            levels.append(ReminderLevel.escalation)
        for level in levels:
            if (member_id, level) not in done and (member_id, level.value) not in done:
                rows.append({"tenant_id": tenant.id, "member_id": member_id, "org_code": code,
                             "month": month, "level": level, "unpaid_months": state.months,
                             "amount_owed": state.owed, "recipients": "",
                             "created_at": utcnow()})
    if rows:
        db.session.execute(sa.insert(DuesReminder), rows)
        db.session.flush()
    return Recorded(sum(1 for r in rows if r["level"] == ReminderLevel.reminder),
                    sum(1 for r in rows if r["level"] == ReminderLevel.escalation))


@dataclasses.dataclass(frozen=True)
class Recipient:
    email: str
    name: str
    language: str | None


@dataclasses.dataclass(frozen=True)
class PendingReminder:
    reminder: DuesReminder
    member: Member
    org_name: str
    recipients: list[Recipient]


def _member_recipients(member: Member) -> list[Recipient]:
    account = db.session.scalar(sa.select(Account).where(Account.member_id == member.id,
                                                         Account.is_active.is_(True)))
    email = member.email or (account.email if account is not None else None)
    if not email:
        return []
    return [Recipient(email, member.name, account.locale if account is not None else None)]


def _secretary_recipients(code: str) -> list[Recipient]:
    """The administrators of the member's branch; where it has none with an address, those of
    the nearest organization above."""
    prefixes = [code[:n] for n in range(len(code), 0, -SEGMENT_WIDTH)]
    rows = db.session.execute(
        sa.select(Grant.org_code, Account.email, Account.display_name, Account.locale)
        .join(Account, Account.id == Grant.account_id)
        .where(Grant.org_code.in_(prefixes), Grant.role.in_((Role.org_admin, Role.tenant_admin)),
               Account.email.is_not(None), Account.is_active.is_(True))).all()
    if not rows:
        return []
    nearest = max(len(row[0]) for row in rows)
    seen: dict[str, Recipient] = {}
    for org_code, email, name, locale in rows:
        if len(org_code) == nearest and email not in seen:
            seen[email] = Recipient(email, name, locale)
    return list(seen.values())


def pending_reminders(tenant: Tenant, *, limit: int = 1000) -> list[PendingReminder]:
    """Recorded alerts not mailed yet, with whom to write to."""
    rows = db.session.execute(
        sa.select(DuesReminder, Member, Org.name).join(Member, Member.id == DuesReminder.member_id)
        .join(Org, Org.id == Member.org_id).where(DuesReminder.sent_at.is_(None))
        .order_by(DuesReminder.id).limit(limit)).all()
    pending = []
    for reminder, member, org_name in rows:
        recipients = (_member_recipients(member) if reminder.level == ReminderLevel.reminder
                      else _secretary_recipients(member.org_code))
        pending.append(PendingReminder(reminder, member, org_name, recipients))
    return pending


def member_names(member_ids: Sequence[int]) -> dict[int, str]:
    if not member_ids:
        return {}
    return dict(db.session.execute(sa.select(Member.id, Member.name).where(
        Member.id.in_(list(member_ids)))).all())


def mark_sent(reminder_id: int, recipients: Sequence[Recipient],
              now: dt.datetime | None = None) -> None:
    db.session.execute(sa.update(DuesReminder).where(DuesReminder.id == reminder_id).values(
        sent_at=now or utcnow(), recipients=",".join(r.email for r in recipients)[:500]))


# --- the members' monthly reports (node/reports) ------------------------------------------------

@dataclasses.dataclass(frozen=True)
class MonthLine:
    amount_due: Decimal
    status: LineStatus


def month_lines(members: sa.Select[Any], month: dt.date) -> dict[int, MonthLine]:
    """Each member's line for `month` (`members`: a SELECT of member ids), in one query."""
    return {member_id: MonthLine(money(amount), LineStatus(status))
            for member_id, amount, status in db.session.execute(
                sa.select(DuesLine.member_id, DuesLine.amount_due, DuesLine.status)
                .where(DuesLine.member_id.in_(members), DuesLine.month == month))}


# --- the statistics snapshot to the hub (node/stats) --------------------------------------------

@dataclasses.dataclass(frozen=True)
class OrgDues:
    """One branch's dues over some months: members with lines, fully paid, with an unpaid
    month; what those lines come to and what was paid."""

    assessed: int
    paid_up: int
    in_arrears: int
    due_total: Decimal
    paid_total: Decimal


def org_dues(first: dt.date, end: dt.date) -> dict[int, OrgDues]:
    """Per collecting org of the current tenant, the lines of the months in [first, end):
    two GROUP BYs whatever the number of members and branches."""
    where = (DuesLine.month >= first, DuesLine.month < end)
    per_member = (sa.select(DuesLine.org_id.label("org_id"), DuesLine.member_id,
                            sa.func.count().filter(DuesLine.status == LineStatus.unpaid)
                            .label("unpaid"))
                  .where(*where).group_by(DuesLine.org_id, DuesLine.member_id).subquery())
    members = {org_id: (int(n), int(owing or 0)) for org_id, n, owing in db.session.execute(
        sa.select(per_member.c.org_id, sa.func.count(),
                  sa.func.count().filter(per_member.c.unpaid > 0))
        .group_by(per_member.c.org_id))}
    amounts = {org_id: (money(due), money(paid)) for org_id, due, paid in db.session.execute(
        sa.select(DuesLine.org_id, sa.func.coalesce(sa.func.sum(DuesLine.amount_due), 0),
                  sa.func.coalesce(sa.func.sum(DuesLine.amount_due)
                                   .filter(DuesLine.status == LineStatus.paid), 0))
        .where(*where).group_by(DuesLine.org_id))}
    return {org_id: OrgDues(n, n - owing, owing, *amounts.get(org_id, (ZERO, ZERO)))
            for org_id, (n, owing) in members.items()}
