"""Dues pages: the secretary's month (who has paid, record a cash or bank payment, generate the
year's lines, close the month), a member's dues account, the committee's totals and the
hardship requests it decides; the member's own dues with "pay now" through the provider.

Views translate HTTP only: forms are read with the API's schemas, and every rule (reach, the
back-pay and ahead limits, consent, closing, who approves) is the services'
(`node.dues.services`).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import marshmallow as ma
from flask import Blueprint, current_app, flash, redirect, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from node.dues import services
from node.dues.links import notify_url
from node.dues.models import (
    LineStatus,
    OrderStatus,
    PaymentMethod,
    ReductionKind,
    ReductionStatus,
)
from node.dues.providers import configured_provider
from node.dues.rules import BASED_CATEGORIES, DuesCategory
from node.dues.schemas import (
    AheadConsentInputSchema,
    AssessmentInputSchema,
    CheckoutInputSchema,
    ConsentInputSchema,
    DecisionSchema,
    LargePaymentInputSchema,
    PaymentInputSchema,
    ReductionInputSchema,
)
from node.grants.models import Role
from node.members.services import MemberFilter, list_members
from node.web.console import Visit, account_page, field_errors, readable
from node.web.i18n import current_language
from node.web.tenancy import tenant_url
from shared.errors import Conflict, DomainError, InvalidInput, NotFound

blp = Blueprint("dues_pages", __name__)

CATEGORIES = {
    DuesCategory.salaried: _l("Salaried (monthly pay after tax)"),
    DuesCategory.annual_salary: _l("Annual salary (the month's actual pay)"),
    DuesCategory.self_employed: _l("No monthly pay (last quarter's average income)"),
    DuesCategory.retiree: _l("Retired (pension)"),
    DuesCategory.farmer: _l("Farmer (flat amount)"),
    DuesCategory.student: _l("Student (0.20 yuan)"),
    DuesCategory.unemployed: _l("Unemployed, on relief or subsistence allowance (0.20 yuan)"),
    DuesCategory.exempt: _l("Exempt"),
}
LINE_STATUSES = {LineStatus.unpaid: _l("Unpaid"), LineStatus.paid: _l("Paid"),
                 LineStatus.exempt: _l("Exempt")}
METHODS = {PaymentMethod.online: _l("Online"), PaymentMethod.cash: _l("Cash"),
           PaymentMethod.bank_transfer: _l("Bank transfer")}
REDUCTION_KINDS = {ReductionKind.reduced: _l("Reduced"), ReductionKind.exempt: _l("Exempted")}
REDUCTION_STATUSES = {ReductionStatus.pending: _l("Awaiting decision"),
                      ReductionStatus.approved: _l("Approved"),
                      ReductionStatus.rejected: _l("Rejected")}
ORDER_STATUSES = {OrderStatus.pending: _l("Waiting for the payment provider"),
                  OrderStatus.paid: _l("Paid"), OrderStatus.failed: _l("Not paid")}
#: The services' and schemas' messages, readable.
MESSAGES = {
    "Required.": _l("Required."),
    "Choose at least one month.": _l("Choose at least one month."),
    "Use a month such as 2026-03.": _l("Enter a month such as 2026-03."),
    "Beyond the back-pay limit.": _l("This month is older than back-pay allows."),
    "Beyond the months that may be paid ahead.":
        _l("This month is further ahead than may be paid in advance."),
    "No such month.": _l("There is no dues line for this month; generate the year's lines "
                         "first."),
    "Already settled.": _l("This month is already paid or exempt."),
    "Listed twice.": _l("A month is listed twice."),
    "Too many.": _l("Too many months at once."),
    "The collection month is closed.":
        _l("This month is closed for the branch; payments can no longer be recorded in it."),
    "Below the large-dues threshold.": _l("Large dues are at least the threshold amount."),
    "Required for this category.": _l("Enter the declared monthly amount."),
    "Leave empty: this category pays a flat amount.":
        _l("Leave it empty: this category pays a flat amount."),
    "A month of the assessed year.": _l("Choose a month of the same year."),
    "Before the 2008 dues rules.": _l("The dues rules apply from April 2008."),
    "Unknown member.": _l("Choose a member of the organization."),
    "Unknown organization.": _l("Choose an organization in your scope."),
    "The member themself.": _l("A member pays their own dues without consent."),
    "Already consented.": _l("This consent exists already."),
    "Before the first month.": _l("The last month is before the first."),
    "At most 24 months at a time.": _l("At most 24 months at a time."),
    "A reduced amount above 0.": _l("Enter the reduced monthly amount (above 0)."),
    "Leave empty for an exemption.": _l("Leave the amount empty for an exemption."),
    "Already decided.": _l("The request was already decided."),
    "In the future.": _l("A month that has not begun cannot be closed."),
    "No lines.": _l("There are no dues lines for this month; generate them first."),
    "Nothing due.": _l("Nothing is due for these months."),
    "Cash or bank transfer.": _l("Choose cash or bank transfer."),
    "At most two decimals.": _l("Enter yuan with at most two decimals."),
    "The committee above the branch decides.":
        _l("The committee above the branch decides on hardship requests."),
    "Outside the year.": _l("Choose months of the same year."),
    "Not a valid amount.": _l("Enter an amount in yuan, such as 3000.00."),
    "Check this value.": _l("Check this value."),
    "Paying ahead needs the branch's consent.":
        _l("Paying months after the current one needs the branch's consent; ask your "
           "branch (or the collector may record the consent with the payment)."),
    "A month after the current one.": _l("Choose a month after the current one."),
}


def _say(message: str) -> str:
    found = MESSAGES.get(message)
    return str(found) if found is not None else readable(message)


def _errors(exc: DomainError) -> dict[str, str]:
    errors = {key: _say(str(exc.errors[key][0])) if exc.errors and isinstance(
        exc.errors.get(key), list) and exc.errors[key] else value
        for key, value in field_errors(exc).items()}
    if "_form" in errors:
        errors["_form"] = _say(exc.detail or exc.title)
    return errors


def _load(schema: ma.Schema, data: dict[str, Any]) -> dict[str, Any]:
    """A form read with the API's schema; errors readable, keyed by field."""
    data = {key: value for key, value in data.items() if value not in ("", None, [])}
    try:
        loaded: dict[str, Any] = schema.load(data)
        return loaded
    except ma.ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_form": exc.messages}
        errors = {}
        for key, value in messages.items():
            while isinstance(value, dict | list) and value:
                value = next(iter(value.values())) if isinstance(value, dict) else value[0]
            errors[str(key)] = _schema_text(str(value))
        raise InvalidInput("The form has errors.", errors={k: [v] for k, v in errors.items()}
                           ) from None


def _schema_text(message: str) -> str:
    if message.startswith("Missing data") or message == "Field may not be null.":
        return "Required."
    if message.startswith(("Must be one of", "Not a valid", "Must be greater", "Must be less")):
        return "Check this value."
    return message


# --- template helpers -----------------------------------------------------------------------

@blp.app_template_global()
def dues_category(value: Any) -> str:
    return str(CATEGORIES[DuesCategory(value)]) if value else ""


@blp.app_template_global()
def line_status(value: Any) -> str:
    return str(LINE_STATUSES[LineStatus(value)])


@blp.app_template_global()
def payment_method(value: Any) -> str:
    return str(METHODS[PaymentMethod(value)])


@blp.app_template_global()
def reduction_label(kind: Any, status: Any) -> str:
    return f"{REDUCTION_KINDS[ReductionKind(kind)]} · {REDUCTION_STATUSES[ReductionStatus(status)]}"


@blp.app_template_global()
def yuan(value: Decimal | None) -> str:
    return "—" if value is None else f"¥{value:,.2f}"


@blp.app_template_global()
def month_label(value: dt.date | None) -> str:
    return "" if value is None else value.strftime("%Y-%m")


@blp.app_template_global()
def dues_summary(member_id: int) -> Any:
    """The activity card's dues line (None before any line exists)."""
    return services.card_summary(member_id)


@blp.app_template_filter()
def dues_category_option(value: DuesCategory) -> tuple[str, str]:
    return value.value, dues_category(value)


@blp.app_template_filter()
def payment_method_option(value: PaymentMethod) -> tuple[str, str]:
    return value.value, payment_method(value)


@blp.app_template_filter()
def reduction_kind_option(value: ReductionKind) -> tuple[str, str]:
    return value.value, str(REDUCTION_KINDS[value])


@blp.app_template_filter()
def member_option(row: Any) -> tuple[int, str]:
    return row["id"], f"{row['name']} ({row['member_number']})"


def _month_arg(name: str = "month") -> dt.date:
    value = request.values.get(name, "")
    try:
        return services.parse_month(value) if value else services.month_of(services.local_today())
    except InvalidInput:
        return services.month_of(services.local_today())


def _org_arg(visit: Visit) -> Any:
    """The organization asked for, or the principal's first branch."""
    raw = request.values.get("org_id", "")
    if raw.isdigit() and len(raw) < 10:
        return services.org_for_reading(visit.principal, int(raw))
    choices = services.branch_choices(visit.principal)
    if not choices:
        raise NotFound()
    granted = [o for o in choices if o.id in visit.principal.granted_orgs]
    return (granted or choices)[0]


def _back(org_id: Any, month: dt.date) -> Any:
    return redirect(tenant_url("dues_pages.month_page", org_id=org_id,
                               month=month.strftime("%Y-%m")), 303)


# --- the secretary's month --------------------------------------------------------------------

def _month_context(visit: Visit, org: Any, month: dt.date) -> dict[str, Any]:
    sheet = services.month_sheet(visit.principal, org, month=month)
    return {"sheet": sheet, "org": org, "month": month,
            "orgs": services.branch_choices(visit.principal),
            "can_admin": visit.principal.can(Role.org_admin, org.code),
            "previous": services.add_months(month, -1).strftime("%Y-%m"),
            "following": services.add_months(month, 1).strftime("%Y-%m"),
            "methods": [PaymentMethod.cash, PaymentMethod.bank_transfer],
            "ahead_month": month > services.month_of(services.local_today()),
            "remind_at": int(visit.tenant.rule("dues_reminder_months")),
            "escalate_at": int(visit.tenant.rule("dues_escalation_months"))}


@account_page(blp, "/console/dues", needs="console")
def month_page(visit: Visit) -> Any:
    org, month = _org_arg(visit), _month_arg()
    return render_template("dues/month.html", **_month_context(visit, org, month),
                           errors={})


def _month_error(visit: Visit, org_id: Any, month: dt.date, exc: DomainError) -> Any:
    org = services.org_for_reading(visit.principal, int(org_id))
    status = 409 if isinstance(exc, Conflict) else 400
    return render_template("dues/month.html", **_month_context(visit, org, month),
                           errors=_errors(exc)), status


@account_page(blp, "/console/dues/generate", needs="admin", methods=("POST",))
def generate(visit: Visit) -> Any:
    org_id, month = request.form.get("org_id", ""), _month_arg()
    try:
        with visit.writing():
            org = services.org_in_reach(visit.principal, int(org_id) if org_id.isdigit()
                                        and len(org_id) < 10 else 0, Role.org_admin)
            done = services.generate(visit.principal, org, visit.tenant, year=month.year)
    except (InvalidInput, Conflict) as exc:
        if not (org_id.isdigit() and len(org_id) < 10):
            raise NotFound() from None
        return _month_error(visit, org_id, month, exc)
    flash(_("%(n)s monthly lines were generated for %(year)s.", n=done.created,
            year=month.year), "success")
    if done.unassessed:
        flash(_("%(n)s paying members have no assessment for %(year)s and got no lines: "
                "assess them on their dues page.", n=done.unassessed, year=month.year),
              "warning")
    return _back(org_id, month)


@account_page(blp, "/console/dues/close", needs="admin", methods=("POST",))
def close(visit: Visit) -> Any:
    org_id, month = request.form.get("org_id", ""), _month_arg()
    try:
        with visit.writing():
            org = services.org_in_reach(visit.principal, int(org_id) if org_id.isdigit()
                                        and len(org_id) < 10 else 0, Role.org_admin)
            services.close_month(visit.principal, org, month=month)
    except (InvalidInput, Conflict) as exc:
        if not (org_id.isdigit() and len(org_id) < 10):
            raise NotFound() from None
        return _month_error(visit, org_id, month, exc)
    flash(_("%(month)s is closed; its figures are reported to the committees above.",
            month=month.strftime("%Y-%m")), "success")
    return _back(org_id, month)


@account_page(blp, "/console/dues/record", needs="admin", methods=("POST",))
def record(visit: Visit) -> Any:
    """Record a cash or bank payment, from the month sheet (one month) or a member's dues
    page (several); back to where it came from."""
    form = request.form
    back_member = form.get("back") == "member"
    month = _month_arg("back_month")
    raw_member = form.get("member_id", "")
    if not (raw_member.isdigit() and len(raw_member) < 10):
        raise NotFound()
    try:
        data = _load(PaymentInputSchema(), {
            "member_id": raw_member, "months": form.getlist("months"),
            "method": form.get("method"), "payer_member_id": form.get("payer_member_id"),
            "reference": form.get("reference"), "note": form.get("note"),
            "consent_ahead": form.get("consent_ahead") == "y"})
        with visit.writing():
            member = services.member_for(visit.principal, data.pop("member_id"),
                                         Role.org_admin)
            payment = services.record_payment(visit.principal, member, visit.tenant, **data)
            amount, org_id = payment.amount, member.org_id
    except (InvalidInput, Conflict) as exc:
        if back_member:
            return _member_page(visit, int(raw_member), _errors(exc), "record",
                                409 if isinstance(exc, Conflict) else 400)
        member = services.member_for(visit.principal, int(raw_member))
        return _month_error(visit, member.org_id, month, exc)
    flash(_("A payment of %(amount)s was recorded.", amount=yuan(amount)), "success")
    if back_member:
        return redirect(tenant_url("dues_pages.member_page", member_id=int(raw_member)), 303)
    return _back(org_id, month)


# --- a member's dues (console) ------------------------------------------------------------------

def _member_page(visit: Visit, member_id: int, errors: dict[str, str] | None = None,
                 form_name: str | None = None, status: int = 200) -> Any:
    member = services.member_for(visit.principal, member_id)
    year = request.args.get("year", "")
    account = services.dues_account(member, visit.tenant, year=int(year) if year.isdigit()
                                    and len(year) == 4 else None)
    return render_template(
        "dues/member.html", account=account, member=member, errors=errors or {},
        form_name=form_name, form=request.form if request.method == "POST" else {},
        ahead=services.ahead_consent(member.id), current=services.month_of(
            services.local_today()),
        can_admin=visit.principal.can(Role.org_admin, member.org_code),
        categories=list(DuesCategory), based=BASED_CATEGORIES,
        methods=[PaymentMethod.cash, PaymentMethod.bank_transfer],
        reduction_kinds=list(ReductionKind),
        threshold=services.large_threshold(visit.tenant),
        colleagues=_colleagues(visit, member) if visit.principal.can(
            Role.org_admin, member.org_code) else []), status


def _colleagues(visit: Visit, member: Any) -> list[Any]:
    """Members of the same branch, for "paid by" and consents."""
    rows = list_members(visit.principal, MemberFilter(org_id=member.org_id, subtree=False),
                        after=None, limit=200)
    return [row for row in rows if row["id"] != member.id]


@account_page(blp, "/console/dues/members/<int:member_id>", needs="console")
def member_page(visit: Visit, member_id: int) -> Any:
    return _member_page(visit, member_id)


def _member_form(visit: Visit, member_id: int, form_name: str, schema: ma.Schema,
                 data: dict[str, Any], apply: Any, done: str) -> Any:
    try:
        loaded = _load(schema, data)
        with visit.writing():
            member = services.member_for(visit.principal, member_id, Role.org_admin)
            apply(member, loaded)
    except (InvalidInput, Conflict) as exc:
        return _member_page(visit, member_id, _errors(exc), form_name,
                            409 if isinstance(exc, Conflict) else 400)
    flash(done, "success")
    return redirect(tenant_url("dues_pages.member_page", member_id=member_id), 303)


@account_page(blp, "/console/dues/members/<int:member_id>/assess", needs="admin",
              methods=("POST",))
def assess(visit: Visit, member_id: int) -> Any:
    form = request.form
    return _member_form(
        visit, member_id, "assess", AssessmentInputSchema(),
        {"year": form.get("year"), "category": form.get("category"), "base": form.get("base"),
         "from_month": form.get("from_month")},
        lambda member, data: services.assess(visit.principal, member, visit.tenant, **data),
        _("The monthly dues have been fixed."))


@account_page(blp, "/console/dues/members/<int:member_id>/large", needs="admin",
              methods=("POST",))
def large(visit: Visit, member_id: int) -> Any:
    form = request.form

    def apply(member: Any, data: dict[str, Any]) -> None:
        data.pop("member_id")
        services.record_large_payment(visit.principal, member, visit.tenant, **data)

    return _member_form(
        visit, member_id, "large", LargePaymentInputSchema(),
        {"member_id": member_id, "amount": form.get("amount"), "method": form.get("method"),
         "reference": form.get("reference"), "note": form.get("note")}, apply,
        _("The large dues were recorded and are forwarded to the committee above."))


@account_page(blp, "/console/dues/members/<int:member_id>/reduction", needs="admin",
              methods=("POST",))
def reduction(visit: Visit, member_id: int) -> Any:
    form = request.form

    def apply(member: Any, data: dict[str, Any]) -> None:
        data.pop("member_id")
        services.request_reduction(visit.principal, member, **data)

    return _member_form(
        visit, member_id, "reduction", ReductionInputSchema(),
        {"member_id": member_id, "kind": form.get("kind"),
         "monthly_amount": form.get("monthly_amount"), "from_month": form.get("from_month"),
         "to_month": form.get("to_month"), "reason": (form.get("reason") or "").strip()},
        apply, _("The request has been sent to the committee above."))


@account_page(blp, "/console/dues/members/<int:member_id>/consent", needs="admin",
              methods=("POST",))
def consent(visit: Visit, member_id: int) -> Any:
    form = request.form
    return _member_form(
        visit, member_id, "consent", ConsentInputSchema(),
        {"member_id": member_id, "payer_member_id": form.get("payer_member_id")},
        lambda member, data: services.grant_consent(
            visit.principal, member, payer_member_id=data["payer_member_id"]),
        _("The consent has been recorded."))


@account_page(blp, "/console/dues/members/<int:member_id>/ahead-consent", needs="admin",
              methods=("POST",))
def ahead_consent(visit: Visit, member_id: int) -> Any:
    form = request.form
    return _member_form(
        visit, member_id, "ahead", AheadConsentInputSchema(),
        {"through_month": (form.get("through_month") or "").strip(),
         "note": (form.get("note") or "").strip()},
        lambda member, data: services.grant_ahead_consent(visit.principal, member,
                                                          visit.tenant, **data),
        _("The consent to pay ahead has been recorded."))


@account_page(blp, "/console/dues/members/<int:member_id>/ahead-consent/revoke",
              needs="admin", methods=("POST",))
def ahead_revoke(visit: Visit, member_id: int) -> Any:
    return _member_form(
        visit, member_id, "ahead", ma.Schema(), {},
        lambda member, data: services.revoke_ahead_consent(visit.principal, member),
        _("The consent to pay ahead has been revoked."))


# --- the committee's totals and decisions -----------------------------------------------------

@account_page(blp, "/console/dues/totals", needs="console")
def totals_page(visit: Visit) -> Any:
    org, month = _org_arg(visit), _month_arg()
    totals = services.month_totals(visit.principal, org, month=month)
    return render_template("dues/totals.html", totals=totals, org=org, month=month,
                           orgs=services.branch_choices(visit.principal),
                           previous=services.add_months(month, -1).strftime("%Y-%m"),
                           following=services.add_months(month, 1).strftime("%Y-%m"))


@account_page(blp, "/console/dues/reductions", needs="console")
def reductions_page(visit: Visit) -> Any:
    pending = services.pending_reductions(visit.principal, visit.tenant)
    names = services.member_names([r.member_id for r in pending])
    return render_template("dues/reductions.html", pending=pending, names=names)


@account_page(blp, "/console/dues/reductions/<int:reduction_id>/decide", needs="admin",
              methods=("POST",))
def decide(visit: Visit, reduction_id: int) -> Any:
    try:
        data = _load(DecisionSchema(), {"approve": request.form.get("approve") == "yes",
                                        "note": request.form.get("note")})
        with visit.writing():
            item = services.get_reduction(visit.principal, reduction_id)
            services.decide_reduction(visit.principal, item, visit.tenant, **data)
    except (InvalidInput, Conflict) as exc:
        flash(_say(exc.detail or exc.title) if not exc.errors else
              next(iter(_errors(exc).values())), "error")
        return redirect(tenant_url("dues_pages.reductions_page"), 303)
    flash(_("The request was approved.") if data["approve"] else _("The request was rejected."),
          "success")
    return redirect(tenant_url("dues_pages.reductions_page"), 303)


# --- the member's own dues ----------------------------------------------------------------------

def _my_page(visit: Visit, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    payer = services.own_member(visit.principal)
    accounts = [services.dues_account(member, visit.tenant)
                for member in services.payable_for(payer)]
    provider = configured_provider(current_app.extensions["node"])
    return render_template("dues/mine.html", accounts=accounts, payer=payer,
                           online=provider is not None, errors=errors or {},
                           remind_at=int(visit.tenant.rule("dues_reminder_months"))), status


@account_page(blp, "/me/dues")
def my_dues(visit: Visit) -> Any:
    return _my_page(visit)


@account_page(blp, "/me/dues/pay", methods=("POST",))
def pay(visit: Visit) -> Any:
    """Pay now: an order for the chosen months, then off to the provider's checkout."""

    provider = configured_provider(current_app.extensions["node"])
    if provider is None:
        return _my_page(visit, {"_form": _("Online payment is not available here; pay your "
                                           "branch's collector.")}, 409)
    base = request.host_url.rstrip("/")
    try:
        data = _load(CheckoutInputSchema(), {"months": request.form.getlist("months"),
                                             "member_id": request.form.get("member_id")})
        with visit.writing():
            _order, url = services.start_checkout(
                visit.principal, visit.tenant, provider, months=data["months"],
                member_id=data.get("member_id"), notify_url=notify_url(provider.name),
                return_url=lambda token: base + tenant_url("dues_pages.order_page",
                                                           token=token),
                language=current_language())
    except (InvalidInput, Conflict) as exc:
        return _my_page(visit, _errors(exc), 409 if isinstance(exc, Conflict) else 400)
    return redirect(url, 303)


@account_page(blp, "/me/dues/orders/<token>")
def order_page(visit: Visit, token: str) -> Any:
    if not (0 < len(token) <= 40 and token.replace("-", "").replace("_", "").isalnum()):
        raise NotFound()
    order = services.own_order(visit.principal, token)
    return render_template("dues/order.html", order=order, months=services.order_months(order),
                           statuses=ORDER_STATUSES, paid=order.status == OrderStatus.paid)

