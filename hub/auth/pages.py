"""Sign-in, sign-out and the signed-in account's password: the hub's browser session.

Pages answer with readable HTML (never problem+json); every form carries the session's CSRF
token; sign-in is throttled per account and per address (`hub.accounts.services`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from flask_babel import gettext as _

from hub.accounts import services
from hub.auth.session import csrf_valid, current_hub_account, end_session, start_session
from hub.console.web import Visit, console_page, form_expired
from hub.db import db
from hub.settings import HubSettings
from shared.db import transaction
from shared.errors import InvalidInput, TooManyAttempts
from shared.web import i18n
from shared.web.session import safe_next

blp = Blueprint("hub_auth", __name__)

#: Longer sign-in input is refused unread (usernames are at most 60 characters).
MAX_USERNAME = 60
MAX_PASSWORD = 1024


def _settings() -> HubSettings:
    settings: HubSettings = current_app.extensions["hub"]
    return settings


@blp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    next_url = safe_next(request.values.get("next"))
    account = current_hub_account()

    def page(error: str | None = None, status: int = 200, **headers: str) -> Any:
        return render_template("auth/login.html", next_url=next_url, error=error,
                               signed_in=account,
                               username=request.form.get("username", "")[:MAX_USERNAME]
                               ), status, headers

    if request.method == "GET":
        return page()
    if not csrf_valid():
        return form_expired()
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    if not (username and password):
        return page(_("Enter your username and password."), 400)
    if (len(username) > MAX_USERNAME or not username.isprintable()
            or len(password) > MAX_PASSWORD):
        return page(_("Wrong username or password."))
    settings = _settings()
    chosen = i18n.explicit_language()
    try:
        with transaction(db):
            account = services.authenticate(username=username, password=password,
                                            remote_addr=request.remote_addr,
                                            max_failures=settings.login_max_failures,
                                            window=settings.login_window)
            if account is not None and chosen:
                services.set_locale(account, chosen)
    except TooManyAttempts as exc:
        return page(_("Too many failed sign-in attempts. Wait a while and try again."), 429,
                    **exc.headers)
    if account is None:
        return page(_("Wrong username or password."))
    start_session(account)
    return redirect(next_url or url_for("console.home"), 303)


@blp.post("/logout")
def logout() -> Any:
    if not csrf_valid():
        return form_expired()
    end_session()
    return redirect(url_for("hub_auth.login"), 303)


@console_page(blp, "/account/password", needs="account", methods=("GET", "POST"))
def change_password(visit: Visit) -> Any:
    """Any signed-in account changes its own password; its other sessions end."""
    errors: dict[str, str] = {}
    if request.method == "POST":
        current = request.form.get("current_password", "")
        new = request.form.get("new_password", "")
        if new != request.form.get("confirm_password", ""):
            errors["confirm_password"] = _("The two new passwords differ.")
        else:
            try:
                with visit.writing():
                    services.change_password(visit.account, current=current[:MAX_PASSWORD],
                                             new=new)
            except InvalidInput as exc:
                field = next(iter(exc.errors or {"new_password": ""}))
                errors[field] = (_("The current password is wrong.")
                                 if field == "current_password" else
                                 _("Use at least %(n)s characters.",
                                   n=services.MIN_PASSWORD_LENGTH))
            else:
                start_session(visit.account)  # this session goes on with the new stamp
                return render_template("auth/password.html", errors={}, done=True)
        return render_template("auth/password.html", errors=errors, done=False), 422
    return render_template("auth/password.html", errors=errors, done=False)
