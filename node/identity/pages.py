"""Duplicate identity warnings for secretaries: the "also registered elsewhere" notice on a
member's page and the list of flagged members within the principal's reach.

Views translate HTTP only: which flags exist is the hub's word, stored by the bus handler, and
whom a secretary may see is the services' (`node.identity.services`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template

from node.identity import services
from node.members.models import Member
from node.web.console import Visit, account_page

blp = Blueprint("identity_pages", __name__)


@blp.app_context_processor
def _template_helpers() -> dict[str, Any]:
    def identity_flag(member: Member) -> Any:
        return services.flag_for(member)

    return {"identity_flag": identity_flag}


@account_page(blp, "/console/identity/flagged", needs="console")
def flagged(visit: Visit) -> Any:
    return render_template("identity/flagged.html",
                           rows=services.flagged_members(visit.principal))
