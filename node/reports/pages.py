"""Monthly report pages: the member's printable report and its XLSX download, the same for a
secretary reading a member of their branch, and the activity card's part (`report_card`).

Views translate HTTP only: which reports exist and who may read them is the services'
(`node.reports.services`).
"""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

from flask import Blueprint, Response, render_template
from flask_babel import gettext as _
from openpyxl import Workbook

from node.meetings.models import LOCAL_TZ
from node.meetings.pages import attendance_label, meeting_kind
from node.reports import services
from node.reports.models import MemberReport
from node.web.console import Visit, account_page

blp = Blueprint("report_pages", __name__)

@blp.app_template_global()
def report_card(member_id: int) -> services.CardReports:
    """The activity card's reports: the latest one and the months there are."""
    return services.card_reports(member_id)


@blp.app_template_global()
def report_time(value: str | None) -> str:
    """An absence's meeting time (stored as ISO 8601 UTC), in China Standard Time."""
    if not value:
        return ""
    return dt.datetime.fromisoformat(value).astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")


@blp.app_template_global()
def dues_status_label(status: str | None) -> str:
    if status is None:
        return _("No dues for this month")
    return {"paid": _("Paid"), "unpaid": _("Unpaid"), "exempt": _("Exempt")}.get(status, status)


# --- the member's own -------------------------------------------------------------------------

@account_page(blp, "/me/reports/<month>")
def my_report(visit: Visit, month: str) -> Any:
    report = services.own_report(visit.principal, month)
    return render_template("reports/report.html", report=report,
                           member=services.member_of(report),
                           download=visit.url("report_pages.my_report_download",
                                              month=report.month_label),
                           back=visit.url("member_pages.my_card"))


@account_page(blp, "/me/reports/<month>/download")
def my_report_download(visit: Visit, month: str) -> Any:
    return _download(services.own_report(visit.principal, month))


# --- a member of the secretary's branch -------------------------------------------------------

@account_page(blp, "/console/members/<int:member_id>/reports/<month>", needs="console")
def member_report(visit: Visit, member_id: int, month: str) -> Any:
    report = services.member_report(visit.principal, member_id, month)
    return render_template("reports/report.html", report=report,
                           member=services.member_of(report),
                           download=visit.url("report_pages.member_report_download",
                                              member_id=member_id, month=report.month_label),
                           back=visit.url("member_pages.member_detail", member_id=member_id))


@account_page(blp, "/console/members/<int:member_id>/reports/<month>/download", needs="console")
def member_report_download(visit: Visit, member_id: int, month: str) -> Any:
    return _download(services.member_report(visit.principal, member_id, month))


# --- the file ---------------------------------------------------------------------------------

def _cell(value: Any) -> Any:
    """Names and reasons are typed by people: never let one start a spreadsheet formula."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def report_rows(report: MemberReport) -> list[list[Any]]:
    """The report as rows of (label, value), then the absences: what the XLSX file holds."""
    def money(value: Any) -> Any:
        return None if value is None else float(value)

    rows: list[list[Any]] = [
        [_("Monthly report"), report.month_label],
        [_("Organization"), report.org_name],
        [_("Meetings invited to"), report.meetings_invited],
        [_("Attended"), report.meetings_attended],
        [_("On leave"), report.meetings_excused],
        [_("Missed"), report.meetings_missed],
        [_("Attendance rate"), report.attendance_rate],
        [_("Dues for the month (yuan)"), money(report.dues_due)],
        [_("Dues paid for the month (yuan)"), money(report.dues_paid)],
        [_("Dues"), dues_status_label(report.dues_status)],
        [_("Months overdue"), report.arrears_months],
        [_("Amount overdue (yuan)"), money(report.arrears_total)],
        [_("Directives received"), report.directives_received],
        [_("Directives read"), report.directives_read],
        [_("Study items and directives completed"), report.directives_completed],
        [],
        [_("Meetings missed"), _("Time"), _("Attendance"), _("Reason")],
    ]
    for absence in report.absences:
        rows.append([f"{meeting_kind(absence['kind'])} · {absence['title']}",
                     report_time(absence["starts_at"]), attendance_label(absence["status"]),
                     absence.get("reason") or ""])
    return rows


def _download(report: MemberReport) -> Response:
    book = Workbook(write_only=True)
    sheet = book.create_sheet(report.month_label)
    for row in report_rows(report):
        sheet.append([_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    response = Response(out.getvalue(), mimetype="application/vnd.openxmlformats-officedocument"
                                                 ".spreadsheetml.sheet")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="report-{report.month_label}.xlsx"')
    response.headers["Cache-Control"] = "private, no-store"
    return response
