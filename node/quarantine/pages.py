"""The tenant administrator's quarantine page: the bus messages claiming the tenant that were
not applied, each inspectable (the body as text), and released or discarded with a note.

Views translate HTTP only: who may see what and what release and discard do are the services'
(`node.quarantine.services`), the same ones the API uses.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from node.quarantine import services
from node.quarantine.schemas import STATUS_CHOICES
from node.web.console import FormErrors, FormReader, Visit, account_page, query_int
from shared.errors import Conflict, InvalidInput

blp = Blueprint("quarantine_pages", __name__)

PAGE_SIZE = 50
MAX_NOTE = 1000
#: Why a message was held, for a person (the code stays beside it: it is what the logs say).
REASONS = {
    "malformed": _l("Not a readable message"),
    "non_canonical": _l("Not in canonical form"),
    "schema_violation": _l("Its data does not fit its type"),
    "unknown_type": _l("A message type this node does not know"),
    "wrong_destination": _l("Addressed to another node"),
    "clock_skew": _l("Sent at a time too far from this node's clock"),
    "bad_signature": _l("The signature does not verify"),
    "unknown_key": _l("Signed with a key this node does not know"),
    "expired_key": _l("Signed with an expired key"),
    "revoked_key": _l("Signed with a revoked key"),
    "not_yet_valid_key": _l("Signed with a key not valid yet"),
    "unauthorized_source": _l("The sender may not send it"),
    "handler_failed": _l("Applying it failed"),
    "no_handler": _l("This node cannot apply this type"),
}
STATUSES = {"held": _l("Held"), "released": _l("Released"), "discarded": _l("Discarded"),
            "all": _l("All")}


def reason_label(code: str) -> str:
    found = REASONS.get(code)
    return str(found) if found is not None else code


def status_label(code: str) -> str:
    found = STATUSES.get(code)
    return str(found) if found is not None else code


LABELS = {"reason_label": reason_label, "quarantine_status": status_label}


@account_page(blp, "/console/quarantine", needs="tenant_admin")
def quarantine(visit: Visit) -> Any:
    status = request.args.get("status", "held")
    if status not in STATUS_CHOICES:
        status = "held"
    after = query_int("after")
    entries = services.list_entries(visit.principal, visit.tenant,
                                    status=None if status == "all" else status,
                                    after_id=after, limit=PAGE_SIZE)
    more = {"status": status, "after": entries[-1].id} if len(entries) == PAGE_SIZE else None
    return render_template("quarantine/list.html", entries=entries, status=status,
                           statuses=STATUS_CHOICES, more=more, **LABELS)


def _entry_page(visit: Visit, entry_id: int, *, error: str | None = None,
                status: int = 200) -> Any:
    entry = services.get_entry(visit.principal, visit.tenant, entry_id)
    return render_template("quarantine/entry.html", entry=entry,
                           body=services.body_text(entry), error=error, **LABELS,
                           note=request.form.get("note", "") if request.method == "POST" else ""
                           ), status


@account_page(blp, "/console/quarantine/<int:entry_id>", needs="tenant_admin")
def entry(visit: Visit, entry_id: int) -> Any:
    return _entry_page(visit, entry_id)


def _decide(visit: Visit, entry_id: int, release: bool) -> Any:
    services.get_entry(visit.principal, visit.tenant, entry_id)  # out of reach: 404 first
    form = FormReader()
    note = form.text("note", max_length=MAX_NOTE) or ""
    try:
        form.check()
        with visit.writing():
            settings = current_app.extensions["node"]
            if release:
                _entry, outcome = services.release_entry(visit.principal, visit.tenant,
                                                         entry_id,
                                                         note=note, settings=settings)
            else:
                services.discard_entry(visit.principal, visit.tenant, entry_id, note=note,
                                       settings=settings)
    except FormErrors as exc:
        return _entry_page(visit, entry_id, error=exc.errors["note"], status=400)
    except Conflict as exc:
        return _entry_page(visit, entry_id, error=_refusal(exc), status=409)
    except InvalidInput as exc:  # e.g. the node has no signing key yet
        return _entry_page(visit, entry_id, error=_("The node cannot do this now: %(why)s",
                                                    why=exc.detail or exc.title), status=409)
    if release:
        flash(_("The message was released: %(outcome)s.", outcome=_outcome(outcome.value)),
              "success")
    else:
        flash(_("The message was discarded."), "success")
    return redirect(visit.url("quarantine_pages.entry", entry_id=entry_id), 303)


def _refusal(exc: Conflict) -> str:
    detail = exc.detail or ""
    if detail.startswith("This message was already "):
        return _("Someone already decided about this message.")
    if detail.startswith(("Still refused", "Still failing")):
        return _("The message is still refused, so nothing changed: %(why)s", why=detail)
    return detail


def _outcome(value: str) -> str:
    return {"applied": _("applied"), "duplicate": _("already applied before"),
            "parked": _("waiting for earlier messages"), "quarantined": _("refused again"),
            "control": _("applied")}.get(value, value)


@account_page(blp, "/console/quarantine/<int:entry_id>/release", needs="tenant_admin",
              methods=("POST",))
def release(visit: Visit, entry_id: int) -> Any:
    return _decide(visit, entry_id, release=True)


@account_page(blp, "/console/quarantine/<int:entry_id>/discard", needs="tenant_admin",
              methods=("POST",))
def discard(visit: Visit, entry_id: int) -> Any:
    return _decide(visit, entry_id, release=False)
