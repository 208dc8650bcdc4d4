"""Tenants are created by the node operator (CLI), each with a root org and an administrator."""

from __future__ import annotations

import re
from collections.abc import Sequence

import sqlalchemy as sa

from node.accounts.models import Account
from node.accounts.services import hash_password
from node.db import db
from node.grants.models import Grant, Role
from node.orgs.models import Org, OrgKind
from node.tenants.models import Tenant, TenantHost
from node.tenants.scoping import all_tenants, current_tenant_id, tenant_context
from shared.codes import CodeError, overlapping, validate_root_prefix
from shared.errors import Conflict, InvalidInput, NotFound

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
