"""Hub accounts: the hub owns its own (argon2 hashes), like every node owns its own."""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import HubModel
from shared.db import utcnow
from shared.db.base import code_type


class HubRole(enum.StrEnum):
    """Hub roles, strongest first (ARCHITECTURE.md §4)."""

    #: Administers the network: enrollment, revocation, quarantine, take-downs, accounts.
    administrator = "administrator"
    #: Reads everything the administrator sees, changes nothing.
    auditor = "auditor"
    #: Reads aggregates under one code prefix (its region) only.
    region_viewer = "region_viewer"

    @property
    def strength(self) -> int:
        return {"administrator": 3, "auditor": 2, "region_viewer": 1}[self.value]

    def at_least(self, other: HubRole) -> bool:
        return self.strength >= other.strength


class HubAccount(HubModel):
    __tablename__ = "hub_accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(60), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(60))
    email: Mapped[str | None] = mapped_column(sa.String(120))
    #: argon2; None for a service account (an OAuth client acting as itself).
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    role: Mapped[HubRole] = mapped_column(sa.Enum(HubRole, native_enum=False, length=16))
    #: The code prefix (2–12 digits) a region viewer reads under; None for the other roles.
    region_prefix: Mapped[str | None] = mapped_column(code_type(12))
    #: The language of the account's pages (`zh_CN`, `en`); None: the default.
    locale: Mapped[str | None] = mapped_column(sa.String(10))
    is_service: Mapped[bool] = mapped_column(default=False)
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    created_by: Mapped[str] = mapped_column(sa.String(120), default="")
    last_login_at: Mapped[dt.datetime | None]
    deactivated_at: Mapped[dt.datetime | None]

    def __repr__(self) -> str:
        return f"<HubAccount {self.id} {self.username} {self.role}>"


class HubLoginFailure(HubModel):
    """Failed sign-ins and client authentications per key (`shared.web.throttle`)."""

    __tablename__ = "hub_login_failures"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    failures: Mapped[int] = mapped_column(default=0)
    window_started_at: Mapped[dt.datetime]
