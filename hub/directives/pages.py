"""The console's directives: the list, writing and editing a draft, publishing, withdrawing,
and the completion per node and per region (a table, an ECharts bar chart and a CSV file).

Administrators write; auditors read everything; region viewers read published directives and
the completion of the tenants under their code prefix. Forms are read with the API's own
schema, and every rule is the services' (`hub.directives.services`).
"""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
from flask import Blueprint, Response, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import pgettext

from hub.console.layout import add_console_link
from hub.console.web import Visit, console_page
from hub.directives import services
from hub.directives.models import (
    Audience,
    Directive,
    DirectiveKind,
    DirectiveStatus,
    Priority,
    TargetKind,
)
from hub.directives.schemas import DirectiveCreateSchema
from hub.stats.export import CSV_TYPE, to_csv
from shared.errors import Conflict, InvalidInput

blp = Blueprint("directive_console", __name__, url_prefix="/console/directives")
add_console_link("directive_console.directive_list", _l("Directives"), "account")

PAGE_SIZE = 50
KINDS = {DirectiveKind.directive: _l("Directive"), DirectiveKind.study: _l("Study item")}
PRIORITIES = {Priority.normal: _l("Normal"), Priority.high: _l("High priority"),
              Priority.urgent: _l("Urgent")}
AUDIENCES = {Audience.all: _l("All members"), Audience.secretaries: _l("Secretaries only")}
TARGETS = {TargetKind.all: _l("Every node"), TargetKind.region: _l("A region"),
           TargetKind.tenants: _l("Listed tenants")}
STATUSES = {DirectiveStatus.draft: _l("Draft"), DirectiveStatus.published: _l("Published"),
            DirectiveStatus.withdrawn: _l("Withdrawn")}
LEVELS = {2: _l("Province"), 4: _l("City"), 6: _l("County")}
#: What a refused field needs, in the page's language.
FIELD_MESSAGES = {
    "title": _l("A title of 1 to 200 characters."),
    "body": _l("The text is too long (at most 65,536 characters)."),
    "links": _l("One link per line: a title, a space, then an http(s) address (at most 20)."),
    "deadline": _l("A day in the future, such as 2025-03-31."),
    "target_region": _l("The first 1 to 6 digits of a region code, such as 50 or 500104."),
    "target_tenants": _l("Known tenants of active nodes, one per line as node/tenant, such "
                         "as chongqing-1/dadukou."),
    "target": _l("The target matches no tenant of an active node."),
}
DONE = {"created": _l("The draft was saved."), "saved": _l("The draft was saved."),
        "published": _l("The directive was published; the nodes receive it now."),
        "withdrawn": _l("The directive was withdrawn from every node.")}
_SPLIT = re.compile(r"[\s,，;；]+")
FORM_FIELDS = ("title", "body", "kind", "priority", "audience", "target_kind",
               "target_region")


def label(labels: dict[Any, Any], value: Any) -> str:
    found = labels.get(value)
    return str(found) if found is not None else str(value)


def status_label(value: Any) -> str:
    """"Published" the state, not "Published" the date heading (a different word in Chinese)."""
    if value == DirectiveStatus.published:
        return pgettext("directive status", "Published")
    return label(STATUSES, value)


@blp.app_context_processor
def _helpers() -> dict[str, Any]:
    return {"directive_kind_label": lambda v: label(KINDS, v),
            "priority_label": lambda v: label(PRIORITIES, v),
            "audience_label": lambda v: label(AUDIENCES, v),
            "target_label": lambda v: label(TARGETS, v),
            "directive_status_label": status_label,
            "percent": lambda v: "—" if v is None else f"{v:.0%}"}


def _done() -> str | None:
    key = request.args.get("done", "")
    return str(DONE[key]) if key in DONE else None


# --- the list ------------------------------------------------------------------------------------

@console_page(blp, "", needs="account")
def directive_list(visit: Visit) -> Any:
    status = request.args.get("status")
    chosen = DirectiveStatus(status) if status in {s.value for s in DirectiveStatus} else None
    before = request.args.get("before", "")
    rows = services.list_directives(
        visit.principal, status=chosen, limit=PAGE_SIZE + 1,
        before_id=int(before) if before.isdigit() and len(before) < 10 else None)
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    totals = {d.id: services.completion_total(visit.principal, d) for d in rows}
    return render_template("directives/list.html", visit=visit, rows=rows, totals=totals,
                           status=chosen, statuses=STATUSES, done=_done(),
                           next_before=rows[-1].id if more else None)


# --- writing -------------------------------------------------------------------------------------

def _links(text: str) -> list[dict[str, str]]:
    """One per line: `title https://...` (or just the address)."""
    links = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        title, _sep, url = line.rpartition(" ")
        links.append({"title": title.strip() or url, "url": url})
    return links


def _read_form() -> dict[str, Any]:
    """The form as the API's create schema reads it; InvalidInput names wrong fields."""
    form = request.form
    raw: dict[str, Any] = {name: (form.get(name) or "").strip() for name in FORM_FIELDS}
    raw = {name: value for name, value in raw.items() if value}
    raw["pinned"] = "pinned" in form
    raw["links"] = _links(form.get("links") or "")
    raw["target_tenants"] = [t for t in _SPLIT.split(form.get("target_tenants") or "") if t]
    try:
        data: dict[str, Any] = DirectiveCreateSchema().load(raw)
    except ma.ValidationError as exc:
        names = exc.messages if isinstance(exc.messages, dict) else {"title": exc.messages}
        raise InvalidInput("The form is not valid.",
                           errors={str(k): ["Invalid."] for k in names}) from None
    data["deadline"] = services.parse_deadline(form.get("deadline"))
    data.setdefault("target_region", None)
    return data


def _errors(exc: InvalidInput) -> dict[str, str]:
    errors = {}
    for field in exc.errors or {"_form": []}:
        errors[field] = str(FIELD_MESSAGES.get(field, _("Check this field.")))
    return errors


def _form_page(visit: Visit, directive: Directive | None, errors: dict[str, str] | None = None,
               status: int = 200) -> Any:
    if request.method == "POST":
        values: dict[str, Any] = {**request.form, "pinned": "pinned" in request.form}
    elif directive is not None:
        values = {name: getattr(directive, name) for name in FORM_FIELDS}
        values.update(pinned=directive.pinned, target_region=directive.target_region or "",
                      links="\n".join(f"{link['title']} {link['url']}"
                                      for link in directive.links),
                      target_tenants="\n".join(directive.target_tenants),
                      deadline=directive.deadline.astimezone(services.CHINA).date().isoformat()
                      if directive.deadline else "")
    else:
        values = {"kind": "directive", "priority": "normal", "audience": "all",
                  "target_kind": "all"}
    return render_template("directives/form.html", visit=visit, directive=directive,
                           values=values, errors=errors or {}, kinds=KINDS,
                           priorities=PRIORITIES, audiences=AUDIENCES,
                           targets=TARGETS), status


@console_page(blp, "/new", needs="admin", methods=("GET", "POST"))
def directive_new(visit: Visit) -> Any:
    if request.method == "GET":
        return _form_page(visit, None)
    try:
        data = _read_form()
        with visit.writing():
            directive_id = services.create_directive(data, by=visit.actor).id
    except InvalidInput as exc:
        return _form_page(visit, None, _errors(exc), 422)
    return redirect(url_for("directive_console.directive_detail", directive_id=directive_id,
                            done="created"), 303)


@console_page(blp, "/<int:directive_id>/edit", needs="admin", methods=("GET", "POST"))
def directive_edit(visit: Visit, directive_id: int) -> Any:
    directive = services.get_directive(directive_id)
    if directive.status != DirectiveStatus.draft:
        return _detail(visit, directive_id, _("Only a draft can be edited."), 409)
    if request.method == "GET":
        return _form_page(visit, directive)
    try:
        data = _read_form()
        with visit.writing():
            services.update_directive(services.get_directive(directive_id), data)
    except InvalidInput as exc:
        return _form_page(visit, directive, _errors(exc), 422)
    return redirect(url_for("directive_console.directive_detail", directive_id=directive_id,
                            done="saved"), 303)


@console_page(blp, "/<int:directive_id>/publish", needs="admin", methods=("POST",))
def directive_publish(visit: Visit, directive_id: int) -> Any:
    try:
        with visit.writing():
            services.publish(services.get_directive(directive_id), by=visit.actor)
    except InvalidInput as exc:
        return _detail(visit, directive_id, " ".join(_errors(exc).values()), 422)
    except Conflict:
        return _detail(visit, directive_id, _("Only a draft can be published."), 409)
    return redirect(url_for("directive_console.directive_detail", directive_id=directive_id,
                            done="published"), 303)


@console_page(blp, "/<int:directive_id>/withdraw", needs="admin", methods=("POST",))
def directive_withdraw(visit: Visit, directive_id: int) -> Any:
    try:
        with visit.writing():
            services.withdraw(services.get_directive(directive_id), by=visit.actor)
    except Conflict:
        return _detail(visit, directive_id, _("Only a published directive can be withdrawn."),
                       409)
    return redirect(url_for("directive_console.directive_detail", directive_id=directive_id,
                            done="withdrawn"), 303)


# --- one directive and its completion ------------------------------------------------------------

def _chart(rows: list[services.Completion], rate: str) -> dict[str, Any]:
    return {"type": "bar", "share": True, "labels": [row.key for row in rows],
            "values": [round(100 * (getattr(row, rate) or 0), 1) for row in rows]}


def _detail(visit: Visit, directive_id: int, error: str | None = None,
            status: int = 200) -> Any:
    directive = services.readable(visit.principal, directive_id)
    level = request.args.get("level", "2")
    digits = int(level) if level in ("2", "4", "6") else 2
    by_node = services.completion_by_node(visit.principal, directive)
    by_region = services.completion_by_region(visit.principal, directive, digits)
    return render_template(
        "directives/detail.html", visit=visit, directive=directive, error=error,
        done=_done(), by_node=by_node, by_region=by_region, level=digits, levels=LEVELS,
        total=services.completion_total(visit.principal, directive),
        charts={"read": _chart(by_region, "read_rate"),
                "completed": _chart(by_region, "completion_rate")}), status


@console_page(blp, "/<int:directive_id>", needs="account")
def directive_detail(visit: Visit, directive_id: int) -> Any:
    return _detail(visit, directive_id)


@console_page(blp, "/<int:directive_id>/completion.csv", needs="account")
def directive_csv(visit: Visit, directive_id: int) -> Any:
    rows = services.csv_rows(visit.principal, services.readable(visit.principal, directive_id))
    return Response(to_csv(rows), mimetype=CSV_TYPE, headers={
        "Content-Disposition": f'attachment; filename="directive-{directive_id}.csv"'})
