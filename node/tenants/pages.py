"""The tenant administrator's pages: settings (name, branding, local rules) and the
administrators with their grants; and the tenant's brand stylesheet."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, redirect, render_template, request
from flask_babel import gettext as _

from node.grants.models import Role
from node.grants.services import grant_views
from node.tenants import services
from node.tenants.models import DEFAULT_RULES, Tenant
from node.web.console import FormReader, Visit, account_page, field_errors
from node.web.tenancy import tenant_route
from shared.errors import InvalidInput

blp = Blueprint("tenant_pages", __name__)


def _page(visit: Visit, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    tenant = visit.tenant
    values = request.form if request.method == "POST" else {
        "name": tenant.name, "brand_color": tenant.brand_color or "",
        "logo_text": tenant.logo_text or "",
        **{key: tenant.rule(key) for key in services.RULE_RANGES}}
    life = {key: span for key, span in services.RULE_RANGES.items() if key in LIFE_RULES}
    dues = {key: span for key, span in services.RULE_RANGES.items() if key.startswith("dues_")}
    structure = {key: span for key, span in services.RULE_RANGES.items()
                 if key not in life and key not in dues}
    return render_template("tenants/settings.html", values=values, errors=errors or {},
                           ranges=structure, life_ranges=life, dues_ranges=dues,
                           defaults=DEFAULT_RULES), status


#: The organizational-life settings (cadences of meetings, inactivity, review): their own
#: part of the form.
LIFE_RULES = frozenset(key for key in services.RULE_RANGES
                       if key.startswith("cadence_") or key in ("inactivity_months",
                                                                "meeting_review"))


@account_page(blp, "/console/settings", needs="tenant_admin", methods=("GET", "POST"))
def settings(visit: Visit) -> Any:
    if request.method == "GET":
        return _page(visit)
    form = FormReader()
    name = form.text("name", max_length=services.MAX_NAME, required=True)
    color = form.text("brand_color", max_length=7)
    logo = form.text("logo_text", max_length=services.MAX_LOGO_TEXT)
    rules = {}
    for key, (low, high) in services.RULE_RANGES.items():
        # (the organizational-life and dues fields may be left out: the current value stays)
        value = form.integer(key, required=key not in LIFE_RULES
                             and not key.startswith("dues_"), low=low, high=high)
        if value is not None:
            rules[key] = value
    if form.errors:
        return _page(visit, form.errors, 400)
    try:
        with visit.writing():
            services.update_tenant_settings(visit.principal, visit.tenant, name=name or "",
                                            brand_color=color, logo_text=logo, rules=rules)
    except InvalidInput as exc:
        return _page(visit, field_errors(exc), 400)
    flash(_("The settings have been saved."), "success")
    return redirect(visit.url("tenant_pages.settings"), 303)


@account_page(blp, "/console/admins", needs="tenant_admin")
def administrators(visit: Visit) -> Any:
    grants = grant_views(visit.principal, roles=(Role.tenant_admin, Role.org_admin),
                         limit=1000)
    by_account: dict[int, list[Any]] = {}
    for grant in grants:
        by_account.setdefault(grant.account_id, []).append(grant)
    return render_template("tenants/admins.html", accounts=list(by_account.values()))


@tenant_route(blp, "/brand.css", read_only=True)
def brand_css(tenant: Tenant) -> Any:
    """The tenant's colour for the header and links (a stylesheet: the CSP allows no inline
    styles). The colour was checked when saved: #rrggbb, readable on white."""
    color = tenant.brand_color if tenant.brand_color and services.BRAND_COLOR_RE.match(
        tenant.brand_color) else None
    css = (f":root {{ --red: {color}; --red-dark: {color}; }}\n" if color else "")
    response = Response(css, mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=86400"
    return response
