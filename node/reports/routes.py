"""HTTP for the monthly reports: translate requests to services, nothing more."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from node.auth.principal import current_principal
from node.reports import services
from node.reports.schemas import ReportListSchema, ReportSchema
from shared.web.api import Blueprint

me_blp = Blueprint("me_reports", __name__, url_prefix="/api/me/reports",
                   description="The signed-in member's monthly affairs reports: meetings "
                               "attended and missed, dues paid and owed, directives read.")
blp = Blueprint("reports", __name__, url_prefix="/api/reports",
                description="Members' monthly reports, for the secretaries and viewers of "
                            "their branches.")


@me_blp.route("")
class MyReports(MethodView):
    @me_blp.response(200, ReportListSchema)
    def get(self) -> Any:
        """Your monthly reports, newest first"""
        return {"items": services.own_reports(current_principal())}


@me_blp.route("/<month>")
class MyReport(MethodView):
    @me_blp.response(200, ReportSchema)
    def get(self, month: str) -> Any:
        """Your report for a month (`YYYY-MM`)"""
        return services.own_report(current_principal(), month)


@blp.route("/members/<int:member_id>")
class MemberReports(MethodView):
    @blp.response(200, ReportListSchema)
    def get(self, member_id: int) -> Any:
        """A member's monthly reports (viewers and administrators of the member's branch)"""
        return {"items": services.member_reports(current_principal(), member_id)}


@blp.route("/members/<int:member_id>/<month>")
class MemberReport(MethodView):
    @blp.response(200, ReportSchema)
    def get(self, member_id: int, month: str) -> Any:
        """A member's report for a month (`YYYY-MM`)"""
        return services.member_report(current_principal(), member_id, month)
