"""OAuth 2 clients, authorization codes and tokens of the node's authorization server.

Tokens are stored as SHA-256 digests: a leaked database does not leak usable bearer tokens.
These tables are node-wide (not tenant-scoped) because a token is looked up before its tenant
is known; each row names its tenant, and the request's tenant is set from it.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.db import NodeModel
from shared.db import utcnow


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class OAuthClient(NodeModel):
    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"), index=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: argon2 hash of the secret; None for public clients (PKCE required).
    client_secret_hash: Mapped[str | None] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(120))
    redirect_uris: Mapped[str] = mapped_column(sa.Text, default="")  # newline-separated
    grant_types: Mapped[str] = mapped_column(sa.String(200))  # space-separated
    scope: Mapped[str] = mapped_column(sa.String(200), default="read write")
    #: For client-credentials: the service account the client acts as.
    service_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    is_active: Mapped[bool] = mapped_column(default=True)


class AuthorizationCode(NodeModel):
    __tablename__ = "oauth_authorization_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"))
    redirect_uri: Mapped[str] = mapped_column(sa.Text, default="")
    scope: Mapped[str] = mapped_column(sa.String(200), default="")
    nonce: Mapped[str | None] = mapped_column(sa.String(120))
    code_challenge: Mapped[str | None] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(sa.String(10))
    auth_time: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]


class Token(NodeModel):
    __tablename__ = "oauth_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    access_token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    client_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    tenant_id: Mapped[int] = mapped_column(sa.ForeignKey("tenants.id"))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    scope: Mapped[str] = mapped_column(sa.String(200), default="")
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    refresh_expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
