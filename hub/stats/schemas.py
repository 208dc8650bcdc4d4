"""The statistics API contract: query arguments and aggregate answers (counts only)."""

from __future__ import annotations

from typing import Any

from marshmallow import fields, post_load, validate

from federation.messages.stats import BREAKDOWNS, LIFE_BREAKDOWNS, ORG_KINDS
from hub.stats.metrics import METRICS, is_rate
from shared.web.pagination import CursorPageArgsSchema
from shared.web.schema import Schema

_prefix = dict(load_default="", validate=validate.Regexp(r"[0-9]{0,64}\Z"), metadata={
    "description": "A code prefix: a region (GB/T 2260 digits), a tenant or an organization "
                   "code; empty for the whole network"})
_period = dict(load_default=None, metadata={
    "description": "As of this day (YYYY-MM-DD): each tenant counts with its latest complete "
                   "snapshot on or before it. Default: the newest day with a snapshot"})


class _PeriodArgs(Schema):
    @post_load
    def _iso(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        for name in ("period", "start", "end"):
            if data.get(name) is not None:
                data[name] = data[name].isoformat()
        return data


class RollupQueryArgsSchema(_PeriodArgs):
    prefix = fields.String(**_prefix)
    period = fields.Date(**_period)


class CompareQueryArgsSchema(_PeriodArgs):
    prefix = fields.List(fields.String(validate=validate.Regexp(r"[0-9]{0,64}\Z")),
                         required=True, validate=validate.Length(min=1, max=20),
                         metadata={"description": "Repeat for each prefix to compare (1-20)"})
    period = fields.Date(**_period)


class SeriesQueryArgsSchema(_PeriodArgs, CursorPageArgsSchema):
    prefix = fields.String(**_prefix)
    start = fields.Date(required=True, data_key="from")
    end = fields.Date(required=True, data_key="to")


class RankingQueryArgsSchema(_PeriodArgs, CursorPageArgsSchema):
    prefix = fields.String(**_prefix)
    period = fields.Date(**_period)
    metric = fields.String(load_default="party_members", validate=validate.OneOf(list(METRICS)))
    order = fields.String(load_default="desc", validate=validate.OneOf(["desc", "asc"]))


class RankingExportQueryArgsSchema(_PeriodArgs):
    prefix = fields.String(**_prefix)
    period = fields.Date(**_period)
    metric = fields.String(load_default="party_members", validate=validate.OneOf(list(METRICS)))
    order = fields.String(load_default="desc", validate=validate.OneOf(["desc", "asc"]))
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


class RollupExportQueryArgsSchema(RollupQueryArgsSchema):
    format = fields.String(load_default="csv", validate=validate.OneOf(["csv", "xlsx"]))


def _counts(keys: tuple[str, ...]) -> fields.Dict:
    return fields.Dict(keys=fields.String(validate=validate.OneOf(keys)),
                       values=fields.Integer())


class MemberCountsSchema(Schema):
    by_stage = _counts(BREAKDOWNS["by_stage"])
    by_status = _counts(BREAKDOWNS["by_status"])
    by_gender = _counts(BREAKDOWNS["by_gender"])
    by_age_band = _counts(BREAKDOWNS["by_age_band"])
    by_education = _counts(BREAKDOWNS["by_education"])
    by_party_age_band = _counts(BREAKDOWNS["by_party_age_band"])


class LifeCountsSchema(Schema):
    meetings_held = _counts(LIFE_BREAKDOWNS["meetings_held"])
    meetings_due = _counts(LIFE_BREAKDOWNS["meetings_due"])
    meetings_met = _counts(LIFE_BREAKDOWNS["meetings_met"])
    attendance = _counts(LIFE_BREAKDOWNS["attendance"])
    dues = _counts(LIFE_BREAKDOWNS["dues"])


class RollupSchema(Schema):
    prefix = fields.String()
    period = fields.String(metadata={"description": "The day asked about"})
    tenants = fields.Integer(metadata={"description": "Tenant snapshots that contributed"})
    oldest_period = fields.String(allow_none=True)
    newest_period = fields.String(allow_none=True)
    orgs = fields.Integer()
    orgs_by_kind = _counts(ORG_KINDS)
    party_members = fields.Integer(metadata={"description": "Probationary and full members"})
    members = fields.Nested(MemberCountsSchema)
    life = fields.Nested(LifeCountsSchema, metadata={
        "description": "Organizational life and dues of the year to the snapshot date "
                       "(partynet.stats.snapshot.v2; zeros from tenants still sending v1): "
                       "meetings held, due and met per kind, attendance, dues members and "
                       "amounts in fen"})
    rates = fields.Method("_rates", metadata={
        "description": "Shares of party members, and the rates of organizational life and "
                       "dues (compliance, attendance, members paid up, amount collected), 4 "
                       "decimals (null when there is nothing to divide by)"})

    def _rates(self, rollup: Any) -> dict[str, float | None]:
        return {name: rollup.metric(name) for name in METRICS if is_rate(name)}


class RollupListSchema(Schema):
    items = fields.List(fields.Nested(RollupSchema))


class RollupPageSchema(RollupListSchema):
    next_cursor = fields.String(allow_none=True)


class RankedSchema(Schema):
    rank = fields.Integer()
    code = fields.String()
    name = fields.String()
    level = fields.String(metadata={"description": "org, tenant or region"})
    value = fields.Float(allow_none=True, metadata={"description": "The metric's value"})
    rollup = fields.Nested(RollupSchema)


class RankingPageSchema(Schema):
    metric = fields.String()
    items = fields.List(fields.Nested(RankedSchema))
    next_cursor = fields.String(allow_none=True)
