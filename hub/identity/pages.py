"""The console's duplicate identities: who (by keyed hash) is on the rolls of two or more
tenants, where, and since when. Auditors and administrators; the rule is the services'."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, render_template, request
from flask_babel import lazy_gettext as _l

from hub.console.layout import add_console_link
from hub.console.web import Visit, console_page
from hub.identity import services

blp = Blueprint("identity_console", __name__, url_prefix="/console/identity")
add_console_link("identity_console.duplicates", _l("Duplicate identities"), "auditor")

PAGE_SIZE = 100
_HASH_PREFIX = re.compile(r"[0-9a-f]{0,128}")


@console_page(blp, "/duplicates", needs="auditor")
def duplicates(visit: Visit) -> Any:
    after = (request.args.get("after") or "").strip().lower()
    if not _HASH_PREFIX.fullmatch(after):  # as the other console lists: a bad cursor starts over
        after = ""
    rows = services.list_duplicates(after=after or None, limit=PAGE_SIZE)
    return render_template("identity/duplicates.html", rows=rows, total=services.count_duplicates(),
                           next_after=rows[-1].hash if len(rows) == PAGE_SIZE else None)
