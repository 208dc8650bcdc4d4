"""Hub OAuth clients (registered by the operator's CLI) and the principal behind a token."""

from __future__ import annotations

import dataclasses
import datetime as dt
import secrets
from collections.abc import Sequence

import sqlalchemy as sa

from hub.accounts.models import HubAccount, HubRole
from hub.accounts.services import create_account, principal_for
from hub.auth.models import HubOAuthClient, HubToken
from hub.auth.principal import HubPrincipal
from hub.db import db
from shared.db import utcnow
from shared.errors import InvalidInput
from shared.web.oauth import client_problems, token_digest
from shared.web.passwords import hash_password


@dataclasses.dataclass(frozen=True)
class IssuedClient:
    client: HubOAuthClient
    #: The plain secret, known only now; None for public clients.
    secret: str | None
    service_account: HubAccount | None


def create_client(*, name: str, created_by: str, redirect_uris: Sequence[str] = (),
                  grant_types: Sequence[str] = (), public: bool = False,
                  scope: str = "read write", role: HubRole = HubRole.auditor,
                  region_prefix: str | None = None) -> IssuedClient:
    """Register a client; a client-credentials client acts as a new service account holding
    `role` (and `region_prefix`, for a region viewer)."""
    kinds = list(dict.fromkeys(grant_types or ["authorization_code"]))
    scopes = list(dict.fromkeys(scope.split()))
    errors = client_problems(name=name, kinds=kinds, scopes=scopes, redirect_uris=redirect_uris,
                             public=public)
    if errors:
        raise InvalidInput("The client cannot be created.", errors=errors)
    client_id = secrets.token_urlsafe(18)
    secret = None if public else secrets.token_urlsafe(32)
    account = None
    if "client_credentials" in kinds:
        account = create_account(username=f"svc-{client_id.lower()}"[:60],
                                 display_name=name.strip()[:60], role=role, password=None,
                                 region_prefix=region_prefix, is_service=True,
                                 created_by=created_by)
    if "authorization_code" in kinds:
        kinds.append("refresh_token")
    client = HubOAuthClient(
        client_id=client_id, name=name.strip(),
        client_secret_hash=hash_password(secret) if secret else None,
        redirect_uris="\n".join(dict.fromkeys(redirect_uris)), grant_types=" ".join(kinds),
        scope=" ".join(scopes), service_account_id=account.id if account else None)
    db.session.add(client)
    db.session.flush()
    return IssuedClient(client=client, secret=secret, service_account=account)


def list_clients() -> Sequence[HubOAuthClient]:
    return db.session.scalars(sa.select(HubOAuthClient).order_by(HubOAuthClient.id)).all()


#: Built once: every authenticated request runs it, with only the digest and the time bound.
_PRINCIPAL_ROW = (
    sa.select(HubToken.scope, HubAccount)
    .join(HubAccount, HubAccount.id == HubToken.account_id)
    .where(HubToken.access_token_hash == sa.bindparam("digest"), HubToken.revoked_at.is_(None),
           HubToken.expires_at > sa.bindparam("now", type_=HubToken.expires_at.type),
           HubAccount.is_active.is_(True))
)


def principal_for_access_token(raw: str, now: dt.datetime | None = None) -> HubPrincipal | None:
    """The principal behind a bearer token, in one round trip; None when the token is
    unknown, expired or revoked, or its account deactivated."""
    row = db.session.execute(_PRINCIPAL_ROW,
                             {"digest": token_digest(raw), "now": now or utcnow()}).first()
    if row is None:
        return None
    return principal_for(row.HubAccount, frozenset(row.scope.split()))
