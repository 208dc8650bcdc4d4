"""Tenants are created by the node operator (CLI), each with a root org and an administrator."""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa

from node.accounts.models import Account
from node.accounts.services import hash_password
from node.audit.recording import record
from node.auth.principal import Principal
from node.db import db
from node.grants.models import Grant, Role
from node.orgs.models import Org, OrgKind
from node.tenants.models import CADENCE_CHOICES, DEFAULT_RULES, Tenant, TenantHost
from node.tenants.scoping import all_tenants, current_tenant_id, tenant_context
from shared.codes import CodeError, overlapping, validate_root_prefix
from shared.errors import Conflict, Forbidden, InvalidInput, NotFound

SLUG_RE = re.compile(r"^[a-z][a-z0-9-]{1,39}$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
HOST_RE = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*$")


def normalize_host(value: str) -> str:
    """A host name as stored and looked up: lowercase ASCII (IDNA), no port, no final dot."""
    host = value.strip().lower().rstrip(".")
    try:
        host = host.encode("idna").decode("ascii")
    except UnicodeError:
        host = ""
    if not HOST_RE.match(host) or host.replace(".", "").isdigit():
        raise InvalidInput(f"{value!r} is not a host name.",
                           errors={"host": ["Use a host name such as party.example.org."]})
    return host


def create_tenant(*, slug: str, name: str, code_prefix: str, admin_username: str,
                  admin_password: str, root_org_name: str | None = None,
                  hosts: Sequence[str] = ()) -> Tenant:
    session = db.session()
    errors: dict[str, list[str]] = {}
    if not SLUG_RE.match(slug):
        errors["slug"] = ["Use 2–40 lowercase letters, digits or hyphens, starting with a letter."]
    try:
        validate_root_prefix(code_prefix)
    except CodeError as exc:
        errors["code_prefix"] = [str(exc)]
    if len(admin_password) < 10:
        errors["admin_password"] = ["At least 10 characters."]
    if errors:
        raise InvalidInput("The tenant cannot be created.", errors=errors)
    with all_tenants():
        existing = session.execute(sa.select(Tenant.slug, Tenant.code_prefix)).all()
    if any(row.slug == slug for row in existing):
        raise Conflict(f"A tenant with slug {slug!r} exists.")
    clash = overlapping(code_prefix, [row.code_prefix for row in existing])
    if clash:
        raise Conflict(f"Code prefix {code_prefix} overlaps tenant prefix {clash}.")
    tenant = Tenant(slug=slug, name=name, code_prefix=code_prefix, rules={})
    session.add(tenant)
    session.flush()
    if hosts:
        set_tenant_hosts(tenant, hosts)
    with tenant_context(tenant.id):
        root = Org(code=code_prefix, kind=OrgKind.committee, name=root_org_name or name, depth=0)
        session.add(root)
        admin = Account(username=admin_username, display_name=admin_username,
                        password_hash=hash_password(admin_password))
        session.add(admin)
        session.flush()
        session.add(Grant(account_id=admin.id, role=Role.tenant_admin, org_id=root.id,
                          org_code=root.code))
        session.flush()
    return tenant


def set_tenant_hosts(tenant: Tenant, hosts: Sequence[str]) -> list[str]:
    """Replace the tenant's host names; a host serves one tenant only. Returns them, sorted."""
    wanted = sorted({normalize_host(host) for host in hosts})
    session = db.session()
    with all_tenants():
        taken = session.execute(sa.select(TenantHost.host, Tenant.slug)
                                .join(Tenant, Tenant.id == TenantHost.tenant_id)
                                .where(TenantHost.host.in_(wanted),
                                       TenantHost.tenant_id != tenant.id)).first()
        if taken is not None:
            raise Conflict(f"Host {taken.host!r} already belongs to tenant {taken.slug!r}.",
                           errors={"host": ["Taken by another tenant."]})
        current = session.scalars(sa.select(TenantHost)
                                  .where(TenantHost.tenant_id == tenant.id)).all()
        for row in current:
            if row.host not in wanted:
                session.delete(row)
        known = {row.host for row in current}
        session.add_all(TenantHost(tenant_id=tenant.id, host=host)
                        for host in wanted if host not in known)
        session.flush()
    return wanted


def tenant_hosts(tenant: Tenant) -> list[str]:
    with all_tenants():
        return list(db.session.scalars(sa.select(TenantHost.host)
                                       .where(TenantHost.tenant_id == tenant.id)
                                       .order_by(TenantHost.host)))


def get_tenant_by_host(host: str) -> Tenant | None:
    """The tenant served at this host name (already normalized), or None."""
    with all_tenants():
        return db.session.scalar(sa.select(Tenant).join(TenantHost,
                                                        TenantHost.tenant_id == Tenant.id)
                                 .where(TenantHost.host == host))


def list_tenants() -> Sequence[Tenant]:
    with all_tenants():
        return db.session.scalars(sa.select(Tenant).order_by(Tenant.id)).all()


def get_tenant_by_slug(slug: str) -> Tenant:
    with all_tenants():
        tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"No tenant {slug!r}.")
    return tenant


def root_org(tenant: Tenant) -> Org:
    with tenant_context(tenant.id):
        return db.session.scalars(sa.select(Org).where(Org.code == tenant.code_prefix)).one()


def current_tenant() -> Tenant:
    """The tenant of the current context (set from the token or the site's host)."""
    tenant_id = current_tenant_id()
    tenant = db.session.get(Tenant, tenant_id) if tenant_id is not None else None
    if tenant is None:
        raise NotFound("No tenant here.")
    return tenant


# --- settings (the tenant administrator's page) ------------------------------------------------

BRAND_COLOR_RE = re.compile(r"^#[0-9a-fA-F]{6}$")
#: Contrast of the brand colour on white (WCAG AA for text).
MIN_BRAND_CONTRAST = 4.5
MAX_NAME = 120
MAX_LOGO_TEXT = 20
#: The accepted range of each local rule.
RULE_RANGES: dict[str, tuple[int, int]] = {
    "branch_min_full_members": (1, 50),
    "branch_max_members": (3, 500),
    "general_branch_max_members": (3, 1000),
    "branch_committee_threshold": (1, 100),
    "branch_committee_min": (1, 20),
    "branch_committee_max": (1, 20),
    "term_years_village": (1, 10),
    "term_years_other": (1, 10),
    "cadence_member_assembly": (0, 12),
    "cadence_committee_meeting": (0, 12),
    "cadence_group_meeting": (0, 12),
    "cadence_party_lecture": (0, 12),
    "cadence_theme_day": (0, 12),
    "cadence_life_meeting": (0, 12),
    "cadence_talks": (0, 12),
    "inactivity_months": (1, 12),
    "meeting_review": (0, 1),
    "dues_backpay_months": (1, 24),
    "dues_ahead_months": (0, 24),
    "dues_reminder_months": (1, 12),
    "dues_escalation_months": (2, 24),
    "dues_farmer_fen": (20, 100),
    "dues_large_threshold": (100, 100000),
}


def contrast_on_white(color: str) -> float:
    """WCAG contrast ratio of a #rrggbb colour against white."""
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    return 1.05 / (luminance + 0.05)


def update_tenant_settings(principal: Principal, tenant: Tenant, *, name: str,
                           brand_color: str | None, logo_text: str | None,
                           rules: dict[str, int]) -> Tenant:
    """Name, branding and local rules; tenant administrators of the whole tenant only.

    Rules equal to the national default are not stored, so a later change of the default
    applies. Audited as one `tenant.settings` entry with the values before and after.
    """
    if not principal.can(Role.tenant_admin, tenant.code_prefix):
        raise Forbidden("Only the tenant's administrators change its settings.")
    errors: dict[str, list[str]] = {}
    name = name.strip()
    if not 1 <= len(name) <= MAX_NAME:
        errors["name"] = [f"Use 1–{MAX_NAME} characters."]
    if brand_color:
        if not BRAND_COLOR_RE.match(brand_color):
            errors["brand_color"] = ["Use a colour such as #b91c1c."]
        elif contrast_on_white(brand_color) < MIN_BRAND_CONTRAST:
            errors["brand_color"] = ["Too light to read on white; choose a darker colour."]
    if logo_text and len(logo_text) > MAX_LOGO_TEXT:
        errors["logo_text"] = [f"At most {MAX_LOGO_TEXT} characters."]
    unknown = set(rules) - set(RULE_RANGES)
    for key in sorted(unknown):
        errors[key] = ["Unknown rule."]
    for key, value in rules.items():
        low, high = RULE_RANGES.get(key, (0, 0))
        if key not in unknown and not (isinstance(value, int) and low <= value <= high):
            errors[key] = [f"From {low} to {high}."]
    for key, value in rules.items():
        if (key.startswith("cadence_") and key not in errors
                and value not in CADENCE_CHOICES):
            errors[key] = ["Use 0 (not required) or 1, 2, 3, 4, 6 or 12 months."]
    merged = {key: rules.get(key, tenant.rule(key)) for key in RULE_RANGES}
    if not errors and merged["branch_committee_min"] > merged["branch_committee_max"]:
        errors["branch_committee_min"] = ["More than the largest committee."]
    if not errors and merged["dues_reminder_months"] >= merged["dues_escalation_months"]:
        errors["dues_escalation_months"] = ["Must come after the reminder."]
    if errors:
        raise InvalidInput("The settings were not saved.", errors=errors)
    before = {"name": tenant.name, "brand_color": tenant.brand_color,
              "logo_text": tenant.logo_text, "rules": dict(tenant.rules or {})}
    tenant.name = name
    tenant.brand_color = brand_color.lower() if brand_color else None
    tenant.logo_text = logo_text or None
    # (rules this page does not manage, e.g. the transfers' `transfer_*`, are kept)
    kept = {key: value for key, value in (tenant.rules or {}).items() if key not in RULE_RANGES}
    tenant.rules = kept | {key: value for key, value in merged.items()
                           if value != DEFAULT_RULES[key]}
    after = {"name": tenant.name, "brand_color": tenant.brand_color,
             "logo_text": tenant.logo_text, "rules": dict(tenant.rules)}
    db.session.flush()
    if before != after:
        record(db.session(), action="tenant.settings", entity_type="tenant",
               entity_id=tenant.id, scope_code=tenant.code_prefix, before=before, after=after,
               tenant_id=tenant.id)
    return tenant
