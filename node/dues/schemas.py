"""API contract for dues: months are `YYYY-MM`, money is a string of yuan with two decimals."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Any

from marshmallow import ValidationError, fields, validate

from node.dues.models import (
    LineStatus,
    OrderStatus,
    PaymentKind,
    PaymentMethod,
    ReductionKind,
    ReductionStatus,
)
from node.dues.rules import DuesCategory
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema

_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
MAX_YUAN = Decimal("9999999999.99")


MONTH_PATTERN = r"^(20\d\d|2100)-(0[1-9]|1[0-2])$"


class Month(fields.Field):
    """A calendar month, `YYYY-MM` on the wire, the month's first day in Python."""

    def __init__(self, **kwargs: Any) -> None:
        metadata = {"type": "string", "pattern": MONTH_PATTERN, "example": "2026-03",
                    **kwargs.pop("metadata", {})}
        super().__init__(metadata=metadata, **kwargs)

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> Any:
        return None if value is None else value.strftime("%Y-%m")

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> dt.date:
        if not isinstance(value, str) or not re.match(MONTH_PATTERN, value):
            raise ValidationError("Use a month such as 2026-03.")
        return dt.date(int(value[:4]), int(value[5:7]), 1)


def _yuan(**kwargs: Any) -> fields.Decimal:
    """Money out: a string of yuan with two decimals (never a float)."""
    return fields.Decimal(places=2, as_string=True, metadata={
        "type": "string", "pattern": r"^-?\d+\.\d{2}$", "example": "15.00",
        **kwargs.pop("metadata", {})}, **kwargs)


class _Yuan:
    """Money in: 0 to MAX_YUAN with at most two decimals (0.015 yuan is a mistake, not
    something to round)."""

    def __call__(self, value: Decimal | None) -> Decimal | None:
        if value is None:
            return value
        if not Decimal("0") <= value <= MAX_YUAN:
            raise ValidationError("Not a valid amount.")
        if value != value.quantize(Decimal("0.01")):
            raise ValidationError("At most two decimals.")
        return value


def _money_in(**kwargs: Any) -> fields.Decimal:
    return fields.Decimal(allow_nan=False, as_string=True, validate=_Yuan(), metadata={
        "type": "string", "pattern": r"^\d{1,10}(\.\d{1,2})?$", "example": "3000.00",
        **kwargs.pop("metadata", {})}, **kwargs)


class AssessmentSchema(Schema):
    id = fields.Integer()
    member_id = fields.Integer()
    year = fields.Integer()
    category = fields.Enum(DuesCategory)
    base = _yuan(allow_none=True)
    monthly_amount = _yuan()
    rule_version = fields.String()
    assessed_at = fields.DateTime()


class AssessmentInputSchema(Schema):
    year = fields.Integer(required=True, validate=validate.Range(min=2008, max=2100))
    category = fields.Enum(DuesCategory, required=True)
    base = _money_in(allow_none=True, load_default=None,
                     metadata={"description": "Declared monthly base in yuan (pay after tax, "
                                              "pension, average income); empty for the flat "
                                              "categories"})
    from_month = Month(allow_none=True, load_default=None,
                       metadata={"description": "Re-price unpaid lines from this month"})


class LineSchema(Schema):
    id = fields.Integer()
    member_id = fields.Integer()
    org_id = fields.Integer()
    month = Month()
    category = fields.Enum(DuesCategory)
    base = _yuan(allow_none=True)
    amount_due = _yuan()
    rule_version = fields.String()
    status = fields.Enum(LineStatus)
    payment_id = fields.Integer(allow_none=True)
    paid_at = fields.DateTime(allow_none=True)


class LinePageSchema(Schema):
    items = fields.List(fields.Nested(LineSchema))
    next_cursor = fields.String(allow_none=True)


class LineQueryArgsSchema(CursorPageArgsSchema):
    org_id = _id
    month = Month()
    member_id = _id
    status = fields.Enum(LineStatus)


class GenerateSchema(Schema):
    org_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    year = fields.Integer(required=True, validate=validate.Range(min=2008, max=2100))
    months = fields.List(Month(), validate=validate.Length(min=1, max=12), load_default=None,
                         metadata={"description": "Default: the whole year"})


class GeneratedSchema(Schema):
    created = fields.Integer()
    unassessed = fields.Integer()
    rehomed = fields.Integer()


class PaymentSchema(Schema):
    id = fields.Integer()
    kind = fields.Enum(PaymentKind)
    member_id = fields.Integer()
    payer_member_id = fields.Integer(allow_none=True)
    org_id = fields.Integer()
    method = fields.Enum(PaymentMethod)
    amount = _yuan()
    forwarded_to_org_id = fields.Integer(allow_none=True)
    provider = fields.String(allow_none=True)
    provider_txn_id = fields.String(allow_none=True)
    reference = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    paid_at = fields.DateTime()


_collector_method = fields.Enum(PaymentMethod, required=True,
                                validate=validate.OneOf([PaymentMethod.cash,
                                                         PaymentMethod.bank_transfer]))


class PaymentInputSchema(Schema):
    member_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    months = fields.List(Month(), required=True, validate=validate.Length(min=1, max=36))
    method = _collector_method
    payer_member_id = fields.Integer(allow_none=True, load_default=None,
                                     validate=validate.Range(min=1, max=2**31 - 1),
                                     metadata={"description": "Another member who paid"})
    reference = fields.String(allow_none=True, load_default=None,
                              validate=validate.Length(max=120))
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=255))
    consent_ahead = fields.Boolean(load_default=False, metadata={
        "description": "Months after the current one need the branch's consent to pay ahead; "
                       "true gives it in the same act (through the last month paid)"})


class LargePaymentInputSchema(Schema):
    member_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    amount = _money_in(required=True)
    method = _collector_method
    reference = fields.String(allow_none=True, load_default=None,
                              validate=validate.Length(max=120))
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=255))


class CloseSchema(Schema):
    org_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    month = Month(required=True)


class ClosedSchema(Schema):
    closed = fields.Integer()
    already = fields.Integer()


class FiguresSchema(Schema):
    lines = fields.Integer()
    paid_lines = fields.Integer()
    exempt_lines = fields.Integer()
    due_total = _yuan()
    paid_total = _yuan()
    unpaid_total = _yuan()
    collected_total = _yuan()
    large_total = _yuan()


class TotalsRowSchema(Schema):
    code = fields.String()
    name = fields.String()
    closed_branches = fields.Integer()
    figures = fields.Nested(FiguresSchema)


class TotalsSchema(Schema):
    org_id = fields.Integer()
    month = Month()
    total = fields.Nested(TotalsRowSchema)
    children = fields.List(fields.Nested(TotalsRowSchema))
    open_branches = fields.Integer()


class TotalsArgsSchema(Schema):
    org_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    month = Month(required=True)


class ReductionSchema(Schema):
    id = fields.Integer()
    member_id = fields.Integer()
    kind = fields.Enum(ReductionKind)
    monthly_amount = _yuan(allow_none=True)
    from_month = Month()
    to_month = Month()
    reason = fields.String()
    status = fields.Enum(ReductionStatus)
    requested_at = fields.DateTime()
    decided_at = fields.DateTime(allow_none=True)
    decision_note = fields.String(allow_none=True)


class ReductionInputSchema(Schema):
    member_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    kind = fields.Enum(ReductionKind, required=True)
    monthly_amount = _money_in(allow_none=True, load_default=None)
    from_month = Month(required=True)
    to_month = Month(required=True)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))


class DecisionSchema(Schema):
    approve = fields.Boolean(required=True)
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=500))


class ConsentInputSchema(Schema):
    member_id = fields.Integer(required=True, validate=validate.Range(min=1, max=2**31 - 1))
    payer_member_id = fields.Integer(required=True,
                                     validate=validate.Range(min=1, max=2**31 - 1))


class ConsentSchema(Schema):
    id = fields.Integer()
    member_id = fields.Integer()
    payer_member_id = fields.Integer()
    granted_at = fields.DateTime()


class AheadConsentInputSchema(Schema):
    through_month = Month(required=True, metadata={
        "description": "The last month that may be paid ahead (after the current month, "
                       "within the tenant's `dues_ahead_months`)"})
    note = fields.String(allow_none=True, load_default=None, validate=validate.Length(max=255))


class AheadConsentSchema(Schema):
    id = fields.Integer()
    member_id = fields.Integer()
    through_month = Month()
    note = fields.String(allow_none=True)
    granted_at = fields.DateTime()
    revoked_at = fields.DateTime(allow_none=True)
    active = fields.Boolean(metadata={"description": "Not revoked (its months may be past)"})


class ArrearsSchema(Schema):
    months = fields.Integer(metadata={"description": "Consecutive unpaid months up to last "
                                                     "month"})
    owed = _yuan()


class DuesAccountSchema(Schema):
    member_id = fields.Integer(attribute="member.id")
    year = fields.Integer()
    assessment = fields.Nested(AssessmentSchema, allow_none=True)
    lines = fields.List(fields.Nested(LineSchema))
    arrears = fields.Nested(ArrearsSchema)
    payable = fields.List(fields.Nested(LineSchema),
                          metadata={"description": "Unpaid months the member may pay now "
                                                   "(ahead only through the branch's "
                                                   "consent)"})
    ahead_through = Month(allow_none=True, metadata={
        "description": "The last month that may be paid ahead by the branch's consent"})
    payments = fields.List(fields.Nested(PaymentSchema))
    payer_member_ids = fields.Method("_payers")
    reductions = fields.List(fields.Nested(ReductionSchema))

    def _payers(self, account: Any) -> list[int]:
        return [member.id for member in account.payers]


class DuesAccountArgsSchema(Schema):
    year = fields.Integer(validate=validate.Range(min=2008, max=2100))


class CheckoutInputSchema(Schema):
    months = fields.List(Month(), required=True, validate=validate.Length(min=1, max=36))
    member_id = fields.Integer(allow_none=True, load_default=None,
                               validate=validate.Range(min=1, max=2**31 - 1),
                               metadata={"description": "Another member's dues (with the "
                                                        "branch's consent)"})


class CheckoutSchema(Schema):
    order = fields.String(attribute="token")
    amount = _yuan()
    status = fields.Enum(OrderStatus)
    checkout_url = fields.String()


class CallbackResultSchema(Schema):
    result = fields.String(metadata={"description": "paid, duplicate (a replay) or failed"})
    order = fields.String()
