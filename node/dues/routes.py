"""HTTP for dues: lines, assessments, payments, closing months, totals, hardship, consents,
the member's own dues and online checkout, and the payment provider's callback."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView

from node.audit.recording import acting_as
from node.auth.principal import current_principal
from node.db import db
from node.dues import services
from node.dues.links import notify_url
from node.dues.providers import configured_provider
from node.dues.schemas import (
    AheadConsentInputSchema,
    AheadConsentSchema,
    AssessmentInputSchema,
    AssessmentSchema,
    CallbackResultSchema,
    CheckoutInputSchema,
    CheckoutSchema,
    ClosedSchema,
    CloseSchema,
    ConsentInputSchema,
    ConsentSchema,
    DecisionSchema,
    DuesAccountArgsSchema,
    DuesAccountSchema,
    GeneratedSchema,
    GenerateSchema,
    LargePaymentInputSchema,
    LinePageSchema,
    LineQueryArgsSchema,
    PaymentInputSchema,
    PaymentSchema,
    ReductionInputSchema,
    ReductionSchema,
    TotalsArgsSchema,
    TotalsSchema,
)
from node.extensions import transactional
from node.grants.models import Role
from node.tenants.services import current_tenant
from node.web.tenancy import absolute_tenant_url
from shared.db import transaction
from shared.errors import Conflict
from shared.web.api import Blueprint
from shared.web.pagination import decode_cursor, page

blp = Blueprint("dues", __name__, url_prefix="/api/dues",
                description="Party dues: assessments, monthly lines, payments, months closed "
                            "and their totals up the tree, hardship, the provider's callback.")
me_blp = Blueprint("me_dues", __name__, url_prefix="/api/me/dues",
                   description="The signed-in member's dues and online payment.")


@blp.route("/lines")
class Lines(MethodView):
    @blp.arguments(LineQueryArgsSchema, location="query")
    @blp.response(200, LinePageSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Monthly lines within your reach (by org subtree, month, member, status)"""
        after = decode_cursor(args.pop("cursor"), (int,))
        limit = args.pop("limit")
        items = services.list_lines(current_principal(), services.LineFilter(**args),
                                    after=after[0] if after else None, limit=limit)
        return page(items, limit, lambda last: [last.id])


@blp.route("/members/<int:member_id>")
class MemberDues(MethodView):
    @blp.arguments(DuesAccountArgsSchema, location="query")
    @blp.response(200, DuesAccountSchema)
    def get(self, args: dict[str, Any], member_id: int) -> Any:
        """A member's dues: the year's assessment and lines, arrears, payments"""
        member = services.member_for(current_principal(), member_id)
        return services.dues_account(member, current_tenant(), year=args.get("year"))


@blp.route("/members/<int:member_id>/assessment")
class MemberAssessment(MethodView):
    @blp.arguments(AssessmentInputSchema)
    @blp.response(200, AssessmentSchema)
    @transactional
    def put(self, data: dict[str, Any], member_id: int) -> Any:
        """Fix the member's monthly dues for a year from the category and declared base
        (organization administrators); re-prices the year's unpaid lines of open months"""
        principal = current_principal()
        member = services.member_for(principal, member_id, Role.org_admin)
        return services.assess(principal, member, current_tenant(), **data)


def _ahead_payload(consent: Any) -> dict[str, Any]:
    return {"id": consent.id, "member_id": consent.member_id,
            "through_month": consent.through_month, "note": consent.note,
            "granted_at": consent.granted_at, "revoked_at": consent.revoked_at,
            "active": consent.revoked_at is None}


@blp.route("/members/<int:member_id>/ahead-consent")
class MemberAheadConsent(MethodView):
    @blp.arguments(AheadConsentInputSchema)
    @blp.response(200, AheadConsentSchema)
    @transactional
    def put(self, data: dict[str, Any], member_id: int) -> Any:
        """Consent that the member pays ahead (quarterly, or several months at once) through a
        month (organization administrators of the member's branch); again moves the month"""
        principal = current_principal()
        member = services.member_for(principal, member_id, Role.org_admin)
        return _ahead_payload(services.grant_ahead_consent(principal, member, current_tenant(),
                                                           **data))

    @blp.response(204)
    @transactional
    def delete(self, member_id: int) -> None:
        """Revoke the consent to pay ahead (months paid stay paid); idempotent"""
        principal = current_principal()
        member = services.member_for(principal, member_id, Role.org_admin)
        services.revoke_ahead_consent(principal, member)


@blp.route("/generate")
class Generate(MethodView):
    @blp.arguments(GenerateSchema)
    @blp.response(200, GeneratedSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Generate the monthly lines of an organization's subtree for a year (idempotent)"""
        principal = current_principal()
        org = services.org_in_reach(principal, data["org_id"], Role.org_admin)
        return services.generate(principal, org, current_tenant(), year=data["year"],
                                 months=data.get("months"))


@blp.route("/payments")
class Payments(MethodView):
    @blp.arguments(PaymentInputSchema)
    @blp.response(201, PaymentSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Record dues paid in cash or by bank transfer, for one or several months"""
        principal = current_principal()
        member = services.member_for(principal, data.pop("member_id"), Role.org_admin)
        return services.record_payment(principal, member, current_tenant(), **data)


@blp.route("/large-payments")
class LargePayments(MethodView):
    @blp.arguments(LargePaymentInputSchema)
    @blp.response(201, PaymentSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Record large dues (a voluntary one-off of at least the threshold), forwarded to the
        committee above"""
        principal = current_principal()
        member = services.member_for(principal, data.pop("member_id"), Role.org_admin)
        return services.record_large_payment(principal, member, current_tenant(), **data)


@blp.route("/close")
class Close(MethodView):
    @blp.arguments(CloseSchema)
    @blp.response(200, ClosedSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Close a month for every branch of an organization's subtree: the figures are frozen
        and reported up"""
        principal = current_principal()
        org = services.org_in_reach(principal, data["org_id"], Role.org_admin)
        return services.close_month(principal, org, month=data["month"])


@blp.route("/totals")
class Totals(MethodView):
    @blp.arguments(TotalsArgsSchema, location="query")
    @blp.response(200, TotalsSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """A month's closed figures of an organization's subtree, in total and by child"""
        principal = current_principal()
        org = services.org_for_reading(principal, args["org_id"])
        totals = services.month_totals(principal, org, month=args["month"])
        return {"org_id": org.id, "month": totals.month, "total": totals.total,
                "children": totals.children, "open_branches": totals.open_branches}


@blp.route("/reductions")
class Reductions(MethodView):
    @blp.arguments(ReductionInputSchema)
    @blp.response(201, ReductionSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Ask the committee above to reduce or waive a member's dues for hardship"""
        principal = current_principal()
        member = services.member_for(principal, data.pop("member_id"), Role.org_admin)
        return services.request_reduction(principal, member, **data)


@blp.route("/reductions/<int:reduction_id>/decision")
class ReductionDecision(MethodView):
    @blp.arguments(DecisionSchema)
    @blp.response(200, ReductionSchema)
    @transactional
    def post(self, data: dict[str, Any], reduction_id: int) -> Any:
        """Approve or reject a hardship request (administrators of the committee above)"""
        principal = current_principal()
        reduction = services.get_reduction(principal, reduction_id)
        return services.decide_reduction(principal, reduction, current_tenant(), **data)


@blp.route("/consents")
class Consents(MethodView):
    @blp.arguments(ConsentInputSchema)
    @blp.response(201, ConsentSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Consent that another member pays a member's dues online"""
        principal = current_principal()
        member = services.member_for(principal, data["member_id"], Role.org_admin)
        return services.grant_consent(principal, member,
                                      payer_member_id=data["payer_member_id"])


@blp.route("/callbacks/<provider>")
class Callback(MethodView):
    @blp.response(200, CallbackResultSchema)
    def post(self, provider: str) -> Any:
        """The payment provider's signed callback (no token: the signature is the proof).
        Idempotent on the provider's transaction id; refusals change nothing"""
        with acting_as(f"payment:{provider[:40]}"), transaction(db):
            return services.apply_callback(provider, request.get_data(cache=False),
                                           request.headers,
                                           settings=current_app.extensions["node"])


@me_blp.route("")
class MyDues(MethodView):
    @me_blp.arguments(DuesAccountArgsSchema, location="query")
    @me_blp.response(200, DuesAccountSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Your dues: the year's lines, what is overdue, what you may pay now"""
        member = services.own_member(current_principal())
        return services.dues_account(member, current_tenant(), year=args.get("year"))


@me_blp.route("/checkout")
class MyCheckout(MethodView):
    @me_blp.arguments(CheckoutInputSchema)
    @me_blp.response(201, CheckoutSchema)
    @transactional
    def post(self, data: dict[str, Any]) -> Any:
        """Start paying months online: an order and the provider's checkout URL"""
        settings = current_app.extensions["node"]
        provider = configured_provider(settings)
        if provider is None:
            raise Conflict("This node takes no online payments; pay your branch's collector.")
        tenant = current_tenant()
        order, url = services.start_checkout(
            current_principal(), tenant, provider, months=data["months"],
            member_id=data.get("member_id"), notify_url=notify_url(provider.name),
            return_url=lambda token: absolute_tenant_url(tenant, "dues_pages.order_page",
                                                         token=token))
        return {"token": order.token, "amount": order.amount, "status": order.status,
                "checkout_url": url}
