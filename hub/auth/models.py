"""OAuth 2 clients, authorization codes and tokens of the hub's authorization server.

Tokens and codes are stored as SHA-256 digests and client secrets as argon2 hashes: a leaked
database does not leak a usable credential (`shared.web.oauth`).
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import HubModel
from shared.db import utcnow


class HubOAuthClient(HubModel):
    __tablename__ = "hub_oauth_clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    #: argon2 hash of the secret; None for public clients (PKCE required).
    client_secret_hash: Mapped[str | None] = mapped_column(sa.String(200))
    name: Mapped[str] = mapped_column(sa.String(120))
    redirect_uris: Mapped[str] = mapped_column(sa.Text, default="")  # newline-separated
    grant_types: Mapped[str] = mapped_column(sa.String(200))  # space-separated
    scope: Mapped[str] = mapped_column(sa.String(200), default="read write")
    #: For client credentials: the service account (with its hub role) the client acts as.
    service_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("hub_accounts.id"))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    is_active: Mapped[bool] = mapped_column(default=True)


class HubAuthorizationCode(HubModel):
    __tablename__ = "hub_oauth_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("hub_accounts.id"))
    redirect_uri: Mapped[str] = mapped_column(sa.Text, default="")
    scope: Mapped[str] = mapped_column(sa.String(200), default="")
    code_challenge: Mapped[str | None] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(sa.String(10))
    expires_at: Mapped[dt.datetime]


class HubToken(HubModel):
    __tablename__ = "hub_oauth_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    access_token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    refresh_token_hash: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    client_id: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("hub_accounts.id"), index=True)
    scope: Mapped[str] = mapped_column(sa.String(200), default="")
    issued_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[dt.datetime]
    refresh_expires_at: Mapped[dt.datetime | None]
    revoked_at: Mapped[dt.datetime | None]
