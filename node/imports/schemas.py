"""API contract of the member import: the upload, its options and the per-row report."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask_smorest.fields import Upload
from marshmallow import fields
from werkzeug.datastructures import FileStorage

from shared.web.problems import ProblemSchema
from shared.web.schema import Schema

_DRY_RUN = "Only check the file; write nothing (default false)."
_ALL_OR_NOTHING = ("Write nothing if any row has an error (default true); false writes the valid "
                   "rows and reports the others.")


def _is_upload(value: Any) -> None:
    if not isinstance(value, FileStorage):
        raise ma.ValidationError("Upload the file as a multipart file part.")


class ImportOptionsSchema(Schema):
    """Options, given as form fields of the upload or in the query string."""

    dry_run = fields.Boolean(metadata={"description": _DRY_RUN, "default": False})
    all_or_nothing = fields.Boolean(metadata={"description": _ALL_OR_NOTHING,
                                              "default": True})


class MemberImportUploadSchema(ImportOptionsSchema):
    file = Upload(required=True, validate=_is_upload, metadata={
        "description": "A .csv (UTF-8 or GB18030) or .xlsx file. Row 1 holds the column names, "
                       "in English (name, national_id, org_code or org_external_code, stage, "
                       "ethnicity, education, applied_on, admitted_on, full_on, phone, email, "
                       "address, work_unit, occupation) or Chinese (姓名, 身份证号, 组织编码 or "
                       "组织外部编码, 发展阶段, 民族, 学历, 申请日期, 入党日期, 转正日期, 手机, "
                       "邮箱, 地址, 工作单位, 职业). Dates are YYYY-MM-DD or real spreadsheet "
                       "dates."})


class RowErrorSchema(Schema):
    row = fields.Integer(metadata={"description": "Row number in the file; the header is row 1"})
    field = fields.String(allow_none=True, metadata={"description": "Field name, or null"})
    message = fields.String()


class MemberImportReportSchema(Schema):
    format = fields.String(metadata={"description": "csv or xlsx"})
    dry_run = fields.Boolean()
    all_or_nothing = fields.Boolean()
    total_rows = fields.Integer(metadata={"description": "Data rows (blank rows not counted)"})
    valid_rows = fields.Integer()
    error_rows = fields.Integer()
    applied = fields.Boolean(metadata={"description": "Whether anything was written"})
    created = fields.Integer(metadata={"description": "Members created"})
    first_member_number = fields.String(allow_none=True)
    last_member_number = fields.String(allow_none=True)
    errors = fields.List(fields.Nested(RowErrorSchema))
    errors_truncated = fields.Boolean(
        metadata={"description": "True when more errors exist than are listed"})


class MemberImportProblemSchema(ProblemSchema):
    """The 422 answer when nothing was imported: the problem, with the full report."""

    report = fields.Nested(MemberImportReportSchema)
