"""The console's national view of transfers: counts in flight, overdue and expired by region,
and the list, with no member data anywhere (the hub has none). Auditors and administrators."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l

from federation.keys import utcnow
from hub.console.layout import add_console_link
from hub.console.web import Visit, console_page
from hub.transfers import services

blp = Blueprint("transfers_console", __name__, url_prefix="/console/transfers")
add_console_link("transfers_console.overview", _l("Transfers"), "auditor")

PAGE_SIZE = 100
FLAGS = ("in_flight", "overdue", "expired")
_REGION = re.compile(r"[0-9]{2,6}")


@console_page(blp, "", needs="auditor")
def overview(visit: Visit) -> Any:
    # As the other console lists: a filter or cursor that makes no sense is simply dropped.
    flag = request.args.get("flag", "")
    flag = flag if flag in FLAGS else ""
    region = (request.args.get("region") or "").strip()
    region = region if _REGION.fullmatch(region) else ""
    after_text = request.args.get("after", "")
    after = int(after_text) if after_text.isdigit() and len(after_text) < 19 else None
    now = utcnow()
    rows = [services.view(row, now) for row in services.list_transfers(
        flag=flag or None, region=region or None, after=after, limit=PAGE_SIZE, now=now)]
    return render_template("transfers/overview.html", summary=services.summary(now), rows=rows,
                           flag=flag, region=region, flags=FLAGS,
                           next_after=rows[-1].id if len(rows) == PAGE_SIZE else None,
                           overdue_days=services.OVERDUE_AFTER.days)
