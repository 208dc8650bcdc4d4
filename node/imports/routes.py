"""HTTP for bulk imports: one multipart upload in, a per-row report out."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import Request
from flask.views import MethodView
from webargs.flaskparser import FlaskParser
from werkzeug.datastructures import CombinedMultiDict

from node.auth.principal import current_principal
from node.extensions import transactional
from node.imports import services
from node.imports.schemas import (
    ImportOptionsSchema,
    MemberImportProblemSchema,
    MemberImportReportSchema,
    MemberImportUploadSchema,
)
from node.tenants.services import current_tenant
from shared.errors import InvalidInput
from shared.web.api import Blueprint
from shared.web.problems import PROBLEM_MIMETYPE, ProblemSchema


class _MultipartParser(FlaskParser):
    """Adds the `multipart` location: the form fields and files of one body, read together."""

    __location_map__ = {**FlaskParser.__location_map__, "multipart": "load_multipart"}

    def load_multipart(self, req: Request, schema: ma.Schema) -> Any:
        return self._makeproxy(CombinedMultiDict([req.form, req.files]), schema)


blp = Blueprint("imports", __name__, url_prefix="/api/imports",
                description="Bulk imports from CSV or XLSX files, with a per-row report.")
blp.ARGUMENTS_PARSER = _MultipartParser()
blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING = {**blp.DEFAULT_LOCATION_CONTENT_TYPE_MAPPING,
                                             "multipart": "multipart/form-data"}


def _option(name: str, query: dict[str, Any], form: dict[str, Any], default: bool) -> bool:
    given = {value for value in (query.get(name), form.get(name)) if value is not None}
    if len(given) > 1:
        raise InvalidInput(f"{name} is given twice with different values.",
                           errors={name: ["The query and the form disagree."]})
    return given.pop() if given else default


@blp.route("/members")
class MemberImports(MethodView):
    @blp.arguments(ImportOptionsSchema, location="query")
    @blp.arguments(MemberImportUploadSchema, location="multipart")
    @blp.response(200, MemberImportReportSchema)
    @blp.alt_response(422, schema=MemberImportProblemSchema, content_type=PROBLEM_MIMETYPE,
                      description="The file is unreadable, or rows have errors and nothing was "
                                  "imported (`report` lists them)")
    @blp.alt_response(413, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE,
                      description="The file is larger than the server accepts")
    @blp.alt_response(415, schema=ProblemSchema, content_type=PROBLEM_MIMETYPE,
                      description="Not a .csv or .xlsx file")
    @transactional
    def post(self, query: dict[str, Any], form: dict[str, Any]) -> services.ImportReport:
        """Import members from a CSV or XLSX file (organization administrators)

        Every row is checked first; rows for organizations outside your reach are errors. By
        default one error means nothing is imported (422 with the report); with
        `all_or_nothing=false` the valid rows are imported and the rest reported (200).
        `dry_run=true` only checks.
        """
        upload = form["file"]
        report = services.import_members(
            current_principal(), current_tenant(), upload.stream, filename=upload.filename,
            dry_run=_option("dry_run", query, form, False),
            all_or_nothing=_option("all_or_nothing", query, form, True))
        if report.rejected:
            detail = (f"{report.error_rows} of {report.total_rows} rows have errors; "
                      "nothing was imported.")
            raise services.ImportRejected(detail, errors={"rows": [detail]},
                                          report=MemberImportReportSchema().dump(report))
        return report
