"""The administrator's console: the network at a glance, nodes (revoke), enrollment tokens
(issue, revoke), the quarantine (release, discard), the feed (take down) and the statistics
(rankings, comparisons, trends and their files; region viewers see their region's only).

Auditors open every page; only administrators send its forms (each POST is its own rule, so
`console_page` checks the role before anything is read). Views read the form, call the same
services as the CLI and the API, and render.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from flask import Blueprint, Response, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from federation.delivery.quarantine import HELD
from hub.console import services
from hub.console.web import Visit, console_page
from hub.feed import services as feed
from hub.nodes import services as nodes
from hub.nodes.models import NodeStatus
from hub.portal import services as portal
from hub.portal.pages import parameter_problems, stats_charts
from hub.portal.schemas import StatsExportArgsSchema, StatsPageArgsSchema, load
from hub.settings import HubSettings
from hub.stats import export
from hub.stats.metrics import METRICS
from shared.errors import Conflict, InvalidInput
from shared.web.pages import page_error

blp = Blueprint("console", __name__, url_prefix="/console")

#: What the notice after a form says (`?done=...` on the page the form returns to).
DONE = {
    "revoked": _l("The node was revoked. Every node is being told."),
    "token-revoked": _l("The enrollment token was revoked."),
    "released": _l("The message was released and received."),
    "discarded": _l("The message was discarded."),
    "taken-down": _l("The item was taken down; its node is asked to withdraw it."),
}
#: Readable reasons a form was refused (field -> message), in the page's language.
TOKEN_FIELDS = {
    "node_id": _l("A node id: 1–128 letters, digits, '.', '_' or '-' (not 'hub')."),
    "allowed_prefixes": _l("Code prefixes: 6 to 12 digits each, beginning with a region code "
                           "such as 500104."),
    "region": _l("Region: a 6-digit region code such as 500104, or empty."),
    "ttl": _l("Valid for: 1 to 90 days."),
    "node_name": _l("Name: at most 200 characters."),
}
_SPLIT = re.compile(r"[\s,，;；]+")


def _settings() -> HubSettings:
    settings: HubSettings = current_app.extensions["hub"]
    return settings


def _done() -> str | None:
    key = request.args.get("done", "")
    return str(DONE[key]) if key in DONE else None


@console_page(blp, "", needs="account")
def home(visit: Visit) -> Any:
    if not visit.principal.reads_everything:
        return render_template("console/region.html", visit=visit)
    return render_template("console/home.html", visit=visit,
                           overview=services.overview(_settings()),
                           silent_minutes=_settings().silent_after // 60)


# --- nodes ---------------------------------------------------------------------------------------

@console_page(blp, "/nodes")
def nodes_page(visit: Visit) -> Any:
    status = request.args.get("status")
    chosen = NodeStatus(status) if status in {s.value for s in NodeStatus} else None
    return render_template("console/nodes.html", visit=visit, status=chosen,
                           rows=services.node_rows(_settings(), status=chosen),
                           silent_minutes=_settings().silent_after // 60)


@console_page(blp, "/nodes/<node_id>")
def node_page(visit: Visit, node_id: str) -> Any:
    return _node(visit, node_id)


def _node(visit: Visit, node_id: str, error: str | None = None, status: int = 200) -> Any:
    record = services.node_record(_settings(), node_id)
    return render_template("console/node.html", visit=visit, record=record, error=error,
                           done=_done(), now=dt.datetime.now(dt.UTC)), status


@console_page(blp, "/nodes/<node_id>/revoke", needs="admin", methods=("POST",))
def revoke_node(visit: Visit, node_id: str) -> Any:
    if request.form.get("confirm") != node_id:
        return _node(visit, node_id, _("Type the node's id to confirm the revocation."), 422)
    with visit.writing():
        nodes.revoke_node(node_id, by=visit.actor)
    return redirect(url_for("console.node_page", node_id=node_id, done="revoked"), 303)


# --- enrollment tokens ---------------------------------------------------------------------------

def _tokens(visit: Visit, *, issued: Any = None, text: str | None = None,
            errors: dict[str, str] | None = None, status: int = 200) -> Any:
    show_all = request.args.get("all") == "1"
    rows = nodes.list_tokens(include_used=True)
    states = {row.id: nodes.token_state(row) for row in rows}
    if not show_all:
        rows = [row for row in rows if states[row.id] == "unused"]
    return render_template("console/tokens.html", visit=visit, rows=rows, states=states,
                           show_all=show_all, issued=issued, token_text=text,
                           errors=errors or {}, form=request.form, done=_done(),
                           default_days=max(1, _settings().enrollment_token_ttl // 86400),
                           base_url=_settings().base_url), status


@console_page(blp, "/tokens")
def tokens(visit: Visit) -> Any:
    return _tokens(visit)


@console_page(blp, "/tokens/issue", needs="admin", methods=("POST",))
def issue_token(visit: Visit) -> Any:
    """Issue a token; it is shown on this answer only (the hub keeps a hash)."""
    form = request.form
    errors: dict[str, str] = {}
    days_text = (form.get("ttl_days") or "").strip()
    days = int(days_text) if days_text.isdigit() and len(days_text) < 4 else None
    if days is None or not 1 <= days <= 90:
        errors["ttl"] = str(TOKEN_FIELDS["ttl"])
    name = (form.get("node_name") or "").strip() or None
    if name is not None and (len(name) > 200 or not name.isprintable()):
        errors["node_name"] = str(TOKEN_FIELDS["node_name"])
    prefixes = [p for p in _SPLIT.split(form.get("prefixes") or "") if p][:20]
    region = (form.get("region") or "").strip() or None
    if errors:
        return _tokens(visit, errors=errors, status=422)
    try:
        with visit.writing():
            token, text = nodes.issue_token(
                node_id=(form.get("node_id") or "").strip()[:200], allowed_prefixes=prefixes,
                region=region, node_name=name, ttl=dt.timedelta(days=days or 1),
                created_by=visit.actor)
    except InvalidInput as exc:
        return _tokens(visit, errors={field: str(TOKEN_FIELDS.get(field, exc.detail or ""))
                                      for field in (exc.errors or {})}, status=422)
    except Conflict:
        return _tokens(visit, errors={"node_id": _(
            "This node was revoked; it may come back only under a new node id.")}, status=409)
    return _tokens(visit, issued=token, text=text)


@console_page(blp, "/tokens/<int:token_id>/revoke", needs="admin", methods=("POST",))
def revoke_token(visit: Visit, token_id: int) -> Any:
    try:
        with visit.writing():
            nodes.revoke_token(token_id, by=visit.actor)
    except Conflict:
        return _tokens(visit, errors={"_form": _(
            "Only a token that is still unused can be revoked.")}, status=409)
    return redirect(url_for("console.tokens", done="token-revoked"), 303)


# --- quarantine ----------------------------------------------------------------------------------

@console_page(blp, "/quarantine")
def quarantine(visit: Visit) -> Any:
    state = request.args.get("status", HELD)
    if state not in (*services.QUARANTINE_STATES, "all"):
        state = HELD
    after = request.args.get("after", "")
    rows = services.list_quarantine(status=None if state == "all" else state,
                                    after_id=int(after) if after.isdigit() and len(after) < 10
                                    else 0, limit=51)
    more = len(rows) > 50
    return render_template("console/quarantine.html", visit=visit, rows=rows[:50], state=state,
                           next_after=rows[49].id if more else None, done=_done())


def _entry(visit: Visit, entry_id: int, error: str | None = None, status: int = 200) -> Any:
    entry = services.get_quarantined(entry_id)
    return render_template("console/quarantine_entry.html", visit=visit, entry=entry,
                           body=services.body_text(entry), error=error, done=_done()), status


@console_page(blp, "/quarantine/<int:entry_id>")
def quarantine_entry(visit: Visit, entry_id: int) -> Any:
    return _entry(visit, entry_id)


def _note() -> str:
    """The optional note, on one line, without control characters."""
    return " ".join((request.form.get("note") or "").split())[:1000]


@console_page(blp, "/quarantine/<int:entry_id>/release", needs="admin", methods=("POST",))
def release(visit: Visit, entry_id: int) -> Any:
    try:
        with visit.writing():
            services.release(_settings(), entry_id, by=visit.actor, note=_note())
    except Conflict as exc:
        return _entry(visit, entry_id, _("The message cannot be released: %(why)s",
                                         why=exc.detail or exc.title), 409)
    return redirect(url_for("console.quarantine_entry", entry_id=entry_id, done="released"),
                    303)


@console_page(blp, "/quarantine/<int:entry_id>/discard", needs="admin", methods=("POST",))
def discard(visit: Visit, entry_id: int) -> Any:
    try:
        with visit.writing():
            services.discard(_settings(), entry_id, by=visit.actor, note=_note())
    except Conflict as exc:
        return _entry(visit, entry_id, _("The message cannot be discarded: %(why)s",
                                         why=exc.detail or exc.title), 409)
    return redirect(url_for("console.quarantine_entry", entry_id=entry_id, done="discarded"),
                    303)


# --- the feed ------------------------------------------------------------------------------------

@console_page(blp, "/feed")
def feed_page(visit: Visit) -> Any:
    """Search the feed by words, or find an item by its content key (`tenant:id`)."""
    q = (request.args.get("q") or "").strip()[:200]
    items, problem = [], None
    if q and not q.isprintable():
        problem = _("Enter words to search for: letters or characters, not only signs.")
    elif not q:
        items = list(feed.list_feed(feed.Filters(), limit=20))
    elif re.fullmatch(r"[a-z][a-z0-9-]{1,39}:\S{1,40}", q):
        items = list(feed.find_items(q))
    else:
        try:
            hits, _terms = feed.search_feed(q, feed.Filters(), order="recent", limit=50)
            items = [hit.item for hit in hits]
        except InvalidInput:
            problem = _("Enter words to search for: letters or characters, not only signs.")
    return render_template("console/feed.html", visit=visit, q=q, items=items,
                           problem=problem), 422 if problem else 200


def _feed_item(visit: Visit, item_id: int, error: str | None = None, status: int = 200) -> Any:
    item = feed.get_any_item(item_id)
    return render_template("console/feed_item.html", visit=visit, item=item, error=error,
                           done=_done(), reason=request.form.get("reason", "")), status


@console_page(blp, "/feed/<int:item_id>")
def feed_item(visit: Visit, item_id: int) -> Any:
    return _feed_item(visit, item_id)


@console_page(blp, "/feed/<int:item_id>/takedown", needs="admin", methods=("POST",))
def takedown(visit: Visit, item_id: int) -> Any:
    reason = " ".join((request.form.get("reason") or "").split())  # one line
    if not reason or len(reason) > 500 or not reason.isprintable():
        return _feed_item(visit, item_id, _("Give the reason (at most 500 characters): it is "
                                            "recorded and sent to the node."), 422)
    with visit.writing():
        item = feed.get_any_item(item_id)
        feed.take_down(item, by=visit.actor, reason=reason)
    return redirect(url_for("console.feed_item", item_id=item_id, done="taken-down"), 303)


# --- statistics ----------------------------------------------------------------------------------

#: What the statistics page offers as files.
EXPORTS = ("rollup", "ranking", "compare", "trends")


@console_page(blp, "/statistics", needs="account")
def statistics(visit: Visit) -> Any:
    """Rankings, comparisons and trends; a region viewer's figures stay under its region (the
    services refuse any other code: 404)."""
    args, wrong = load(StatsPageArgsSchema(), request.args)
    if wrong:
        return page_error(400, " ".join(parameter_problems(wrong)))
    data = portal.stats_page(args["prefix"], period=args["period"], metric=args["metric"],
                             start=args["start"], end=args["end"], compare=args["compare"],
                             principal=visit.principal)
    query = {"prefix": data.prefix, "period": data.period, "metric": data.metric,
             "from": data.start, "to": data.end, "compare": " ".join(data.compare_codes)}
    exports = {what: {fmt: url_for("console.statistics_export", what=what, format=fmt, **query)
                      for fmt in ("csv", "xlsx")} for what in EXPORTS}
    return render_template("console/statistics.html", visit=visit, data=data,
                           metrics=list(METRICS), exports=exports, charts=stats_charts(data),
                           region=visit.principal.region_prefix)


@console_page(blp, "/statistics/export", needs="account")
def statistics_export(visit: Visit) -> Any:
    """A CSV or XLSX file of what the statistics page shows (the same services, the same
    reach)."""
    args, wrong = load(StatsExportArgsSchema(), request.args)
    if wrong:
        return page_error(400, " ".join(parameter_problems(wrong)))
    data = portal.stats_page(args["prefix"], period=args["period"], metric=args["metric"],
                             start=args["start"], end=args["end"], compare=args["compare"],
                             principal=visit.principal)
    what, fmt = args["what"], args["format"]
    if what == "rollup":
        rows = export.rollup_rows(data.rollup)
    elif what == "ranking":
        rows = export.ranking_rows(data.ranked, data.metric)
    elif what == "compare":
        rows = export.comparison_rows(data.compared, data.metric)
    else:
        rows = export.trend_rows(data.trends, data.metric)
    name = f"{what}-{data.prefix or 'all'}-{data.metric}-{data.period}"
    body = export.to_xlsx(rows, name) if fmt == "xlsx" else export.to_csv(rows)
    return Response(body, mimetype=export.XLSX_TYPE if fmt == "xlsx" else export.CSV_TYPE,
                    headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})
