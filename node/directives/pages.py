"""Directive pages: the list of directives and study items for the signed-in account, one
directive (opening it records the read), marking it completed, and the pinned items at the
top of the member's card and the console's overview.

Views translate HTTP only: who sees what, what counts as read or completed, and whose counts a
secretary sees are the services' (`node.directives.services`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, flash, redirect, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from node.directives import services
from node.directives.models import Audience, DirectiveKind, Priority
from node.web.console import Visit, account_page, current_visit

blp = Blueprint("directive_pages", __name__)

PAGE_SIZE = 100

KINDS = {DirectiveKind.directive: _l("Directive"), DirectiveKind.study: _l("Study item")}
PRIORITIES = {Priority.normal: _l("Normal"), Priority.high: _l("High priority"),
              Priority.urgent: _l("Urgent")}
AUDIENCES = {Audience.all: _l("All members"), Audience.secretaries: _l("Secretaries only")}


def _pinned_directives() -> list[services.Entry]:
    """The pinned items for the page's account (the card and the console overview)."""
    visit = current_visit()
    return services.pinned_for(visit.principal) if visit is not None else []


def _any_directives() -> bool:
    """Whether the page's account has any directive at all (to link to the list)."""
    visit = current_visit()
    return visit is not None and bool(services.list_directives(visit.principal, limit=1))


@blp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    return {"pinned_directives": _pinned_directives, "any_directives": _any_directives,
            "directive_kind_label": lambda kind: str(KINDS[DirectiveKind(kind)]),
            "priority_label": lambda priority: str(PRIORITIES[Priority(priority)]),
            "audience_label": lambda audience: str(AUDIENCES[Audience(audience)])}


@account_page(blp, "/directives")
def directive_list(visit: Visit) -> Any:
    entries = services.list_directives(visit.principal, limit=PAGE_SIZE)
    return render_template("directives/list.html", entries=entries,
                           counts=services.scoped_counts(visit.principal, entries),
                           show_counts=services.may_see_counts(visit.principal))


@account_page(blp, "/directives/<int:directive_id>", read_only=False)
def directive_detail(visit: Visit, directive_id: int) -> Any:
    """Opening the page is reading the directive: the read is recorded (once)."""
    with visit.writing():
        entry = services.record_read(visit.principal, directive_id)
    counts = (services.counts_for(visit.principal, directive_id)
              if services.may_see_counts(visit.principal) else None)
    return render_template("directives/detail.html", entry=entry, counts=counts)


@account_page(blp, "/directives/<int:directive_id>/complete", methods=("POST",))
def directive_complete(visit: Visit, directive_id: int) -> Any:
    with visit.writing():
        services.complete(visit.principal, directive_id)
    flash(_("Marked as completed."), "success")
    return redirect(visit.url("directive_pages.directive_detail", directive_id=directive_id), 303)
