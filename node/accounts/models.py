"""Local accounts: each node owns its accounts, so it works without the hub."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.audit.models import Audited
from node.db import NodeModel
from node.tenants.scoping import TenantScoped
from shared.db import TimestampMixin


class Account(TenantScoped, Audited, TimestampMixin, NodeModel):
    __tablename__ = "accounts"
    __audit_name__ = "account"
    __audit_exclude__ = frozenset({"password_hash"})
    __table_args__ = (sa.UniqueConstraint("tenant_id", "username"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(60))
    display_name: Mapped[str] = mapped_column(sa.String(60))
    email: Mapped[str | None] = mapped_column(sa.String(120))
    #: The language of the account's pages and emails (`zh_CN`, `en`); None: the default.
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"), unique=True)
    #: A service account acts for an OAuth client (client-credentials grant); no password.
    is_service: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    last_login_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<Account {self.id} {self.username}>"


class LoginFailure(NodeModel):
    """Failed sign-in attempts per key (account or address), for brute-force throttling.

    Kept in the database, not in process memory, so every worker sees the same counts.
    """

    __tablename__ = "login_failures"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[dt.datetime]


class PasswordReset(TenantScoped, NodeModel):
    """A password-reset link sent by email: only a hash of its token is kept.

    A link works once, until `expires_at`, and only while no newer password was set (any
    password change marks the account's open links used).
    """

    __tablename__ = "password_resets"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(sa.ForeignKey("accounts.id"), index=True)
    #: SHA-256 of the token, hex: the token itself is only in the email.
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[dt.datetime]
    expires_at: Mapped[dt.datetime]
    used_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<PasswordReset {self.id} account={self.account_id}>"
