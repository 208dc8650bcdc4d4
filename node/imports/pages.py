"""The console's bulk import: upload a file, read the row-by-row check, then apply it.

Between the two steps the uploaded file is kept on the server, in the instance folder
(`<instance>/import-uploads/`), under a random name that only this browser session knows
(the session holds the name, the account, the tenant and an expiry time). Applying runs the
import service again on the same bytes (checking everything again: the database may have
changed) and deletes the file. Files older than `UPLOAD_TTL` are deleted on the next upload,
so an abandoned upload does not stay. Nothing of the file reaches the browser again.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, render_template, request, session
from flask_babel import gettext as _

from node.imports import parsing, services
from node.web.console import Visit, account_page, explain, readable
from shared.errors import Forbidden, InvalidInput

blp = Blueprint("import_pages", __name__)

#: How long an uploaded file waits for "Apply" (seconds).
UPLOAD_TTL = 3600
SESSION_KEY = "import_upload"
#: Rows shown in the report (the counts are always complete).
REPORTED_ERRORS = 500
_SUFFIXES = {".csv", ".xlsx"}


def upload_dir() -> Path:
    folder = Path(current_app.config.get("IMPORT_UPLOAD_DIR")
                  or Path(current_app.instance_path) / "import-uploads")
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    return folder


def _purge_old(folder: Path) -> None:
    cutoff = time.time() - UPLOAD_TTL
    for path in folder.glob("*.upload"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
        except OSError:
            pass


def _kept(visit: Visit) -> tuple[Path, str] | None:
    """The file this session uploaded, if it is still waiting and belongs to this account."""
    kept = session.get(SESSION_KEY)
    if not isinstance(kept, dict):
        return None
    token, name = kept.get("token"), kept.get("filename")
    if (not isinstance(token, str) or not isinstance(name, str)
            or kept.get("account") != visit.account.id or kept.get("tenant") != visit.tenant.id
            or not isinstance(kept.get("expires"), int | float)
            or kept["expires"] < time.time() or not token.isalnum()):
        return None
    path = upload_dir() / f"{token}.upload"
    return (path, name) if path.is_file() else None


def _report_page(report: services.ImportReport | None = None, *, error: str | None = None,
                 filename: str | None = None, can_apply: bool = False, status: int = 200,
                 all_or_nothing: bool = True) -> Any:
    errors = [(e.row, e.field, readable(e.message)) for e in
              (report.errors[:REPORTED_ERRORS] if report else [])]
    return render_template("imports/upload.html", report=report, error=error,
                           filename=filename, can_apply=can_apply, errors=errors,
                           fields=parsing.FIELD_HEADERS, required=parsing.REQUIRED_FIELDS,
                           all_or_nothing=all_or_nothing, shown=REPORTED_ERRORS), status


@account_page(blp, "/console/import", needs="admin", methods=("GET", "POST"), read_only=False)
def upload(visit: Visit) -> Any:
    if request.method == "GET":
        return _report_page()
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _report_page(error=_("Choose a .csv or .xlsx file."), status=400)
    filename = os.path.basename(upload.filename)[:200]
    if Path(filename).suffix.lower() not in _SUFFIXES:
        return _report_page(error=_("Choose a .csv or .xlsx file."), status=400)
    folder = upload_dir()
    _purge_old(folder)
    token = secrets.token_hex(16)
    path = folder / f"{token}.upload"
    upload.save(path)
    try:
        with path.open("rb") as stream:
            report = services.import_members(visit.principal, visit.tenant, stream,
                                             filename=filename, dry_run=True,
                                             max_errors=REPORTED_ERRORS)
    except (InvalidInput, parsing.UnsupportedFileType, Forbidden) as exc:
        path.unlink(missing_ok=True)
        message = (exc.errors or {}).get("file", [explain(exc)])[0] if exc.errors else \
            explain(exc)
        return _report_page(error=_("The file cannot be read: %(reason)s",
                                    reason=readable(str(message))), filename=filename,
                            status=400)
    old = _kept(visit)
    if old is not None:
        old[0].unlink(missing_ok=True)
    session[SESSION_KEY] = {"token": token, "filename": filename, "account": visit.account.id,
                            "tenant": visit.tenant.id, "expires": time.time() + UPLOAD_TTL}
    return _report_page(report, filename=filename, can_apply=report.valid_rows > 0)


@account_page(blp, "/console/import/apply", needs="admin", methods=("POST",))
def apply(visit: Visit) -> Any:
    kept = _kept(visit)
    if kept is None:
        session.pop(SESSION_KEY, None)
        return _report_page(error=_("The uploaded file is no longer waiting. Upload it "
                                    "again."), status=400)
    path, filename = kept
    all_or_nothing = request.form.get("mode") != "valid_rows"
    try:
        with visit.writing(), path.open("rb") as stream:
            report = services.import_members(visit.principal, visit.tenant, stream,
                                             filename=filename, all_or_nothing=all_or_nothing,
                                             max_errors=REPORTED_ERRORS)
    except (InvalidInput, parsing.UnsupportedFileType) as exc:
        return _report_page(error=explain(exc), filename=filename, status=400)
    if report.applied:
        path.unlink(missing_ok=True)
        session.pop(SESSION_KEY, None)
        return render_template("imports/done.html", report=report, filename=filename)
    return _report_page(report, filename=filename, can_apply=report.valid_rows > 0,
                        status=409, all_or_nothing=all_or_nothing)
