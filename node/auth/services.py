"""OAuth clients: registration by the operator, and the principal behind a bearer token.

Throttling of client authentication is shared with the hub (`shared.web.oauth`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import secrets
from collections.abc import Sequence

import sqlalchemy as sa

from node.accounts.models import Account
from node.accounts.services import hash_password
from node.audit.recording import record
from node.auth.models import OAuthClient, Token, token_digest
from node.auth.principal import Principal
from node.db import db
from node.grants.models import Grant, Role
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from shared.db import utcnow
from shared.errors import InvalidInput
from shared.web.oauth import client_problems


@dataclasses.dataclass(frozen=True)
class IssuedClient:
    client: OAuthClient
    #: The plain secret, known only now; None for public clients.
    secret: str | None
    service_account: Account | None


def _service_username(name: str, client_id: str) -> str:
    """'svc-<name>' when the name gives a free ASCII slug, else 'svc-<client id>'."""
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40]
    if slug:
        username = f"svc-{slug}"
        if db.session.scalar(sa.select(Account.id).where(Account.username == username)) is None:
            return username
    return f"svc-{client_id}"


def create_client(*, tenant: Tenant, name: str, redirect_uris: Sequence[str] = (),
                  grant_types: Sequence[str] = (), public: bool = False,
                  scope: str = "read write", service_account: str | None = None) -> IssuedClient:
    """Register a client of `tenant`; client-credentials clients act as a service account.

    Without `service_account`, a client-credentials client gets a new service account with no
    grants: an administrator grants it roles, as for any account.
    """
    kinds = list(dict.fromkeys(grant_types or ["authorization_code"]))
    scopes = list(dict.fromkeys(scope.split()))
    errors = client_problems(name=name, kinds=kinds, scopes=scopes, redirect_uris=redirect_uris,
                             public=public)
    if service_account and "client_credentials" not in kinds:
        errors["service_account"] = ["Only client-credentials clients act as a service account."]
    if errors:
        raise InvalidInput("The client cannot be created.", errors=errors)

    client_id = secrets.token_urlsafe(18)
    secret = None if public else secrets.token_urlsafe(32)
    account = None
    with tenant_context(tenant.id):
        if service_account:
            account = db.session.scalar(sa.select(Account).where(
                Account.username == service_account))
            if account is None or not account.is_service:
                raise InvalidInput("The client cannot be created.", errors={
                    "service_account": [f"{service_account!r} is not a service account of "
                                        f"tenant {tenant.slug}."]})
        elif "client_credentials" in kinds:
            account = Account(username=_service_username(name, client_id),
                              display_name=name.strip()[:60], is_service=True,
                              password_hash=None)
            db.session.add(account)
            db.session.flush()
    if "authorization_code" in kinds:
        kinds.append("refresh_token")
    client = OAuthClient(
        tenant_id=tenant.id, client_id=client_id, name=name.strip(),
        client_secret_hash=hash_password(secret) if secret else None,
        redirect_uris="\n".join(dict.fromkeys(redirect_uris)), grant_types=" ".join(kinds),
        scope=" ".join(scopes), service_account_id=account.id if account else None)
    db.session.add(client)
    db.session.flush()
    record(db.session(), action="oauth_client.create", entity_type="oauth_client",
           entity_id=client.id, scope_code=tenant.code_prefix, before=None, tenant_id=tenant.id,
           after={"client_id": client_id, "name": client.name, "public": public,
                  "grant_types": client.grant_types, "scope": client.scope,
                  "redirect_uris": client.redirect_uris.splitlines(),
                  "service_account_id": client.service_account_id})
    return IssuedClient(client=client, secret=secret, service_account=account)


def list_clients(tenant: Tenant) -> Sequence[OAuthClient]:
    return db.session.scalars(sa.select(OAuthClient).where(OAuthClient.tenant_id == tenant.id)
                              .order_by(OAuthClient.id)).all()


#: Built once: every authenticated request runs it, with only the digest and the time bound.
_PRINCIPAL_ROWS = (
    sa.select(Token.tenant_id, Token.scope, Account.id, Account.username, Account.member_id,
              Grant.role, Grant.org_id, Grant.org_code)
    .join(Account, sa.and_(Account.id == Token.account_id, Account.tenant_id == Token.tenant_id))
    .outerjoin(Grant, Grant.account_id == Account.id)
    .where(Token.access_token_hash == sa.bindparam("digest"), Token.revoked_at.is_(None),
           Token.expires_at > sa.bindparam("now", type_=Token.expires_at.type),
           Account.is_active.is_(True))
)


def principal_for_access_token(raw: str, now: dt.datetime | None = None) -> Principal | None:
    """The principal behind a bearer token, in one round trip: token, account and grants.

    Every authenticated request pays for this, so it is one statement, not three ORM loads.
    None when the token is unknown, expired or revoked, or its account is disabled.
    """
    with all_tenants():
        rows = db.session.execute(
            _PRINCIPAL_ROWS, {"digest": token_digest(raw), "now": now or utcnow()}).all()
    if not rows:
        return None
    first = rows[0]
    return Principal(account_id=first.id, tenant_id=first.tenant_id, username=first.username,
                     member_id=first.member_id, scopes=frozenset(first.scope.split()),
                     grants=tuple((Role(r.role), r.org_code) for r in rows if r.role),
                     granted_orgs={r.org_id: r.org_code for r in rows if r.role})
