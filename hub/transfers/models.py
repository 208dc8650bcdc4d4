"""Transfers routed between nodes, as the hub sees them: metadata only.

One row per transfer (`uid`): who sends to whom (nodes, tenants, regions), the addressed
organization's code, the attempt, the last step and when, the letter's validity. Never a name,
a national ID (not even its keyed hash: the check happens while routing, nothing is kept) or any
other member data: the hub cannot read the step bodies, which are sealed for the destination.
`TenantDirectoryState` remembers which registry version the nodes were last sent.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import HubModel
from shared.db import utcnow
from shared.db.base import code_type

_party = sa.String(128)


class HubTransfer(HubModel):
    __tablename__ = "hub_transfers"
    __table_args__ = (sa.Index("ix_hub_transfers_state_valid_until", "state", "valid_until"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(sa.String(36), unique=True)
    #: The sending side (the member's present organization) and the receiving side.
    origin_node: Mapped[str] = mapped_column(_party)
    origin_tenant: Mapped[str] = mapped_column(sa.String(40))
    origin_region: Mapped[str | None] = mapped_column(code_type(6), index=True)
    destination_node: Mapped[str] = mapped_column(_party)
    destination_tenant: Mapped[str] = mapped_column(sa.String(40))
    destination_region: Mapped[str | None] = mapped_column(code_type(6), index=True)
    #: The organization the letter is addressed to (an organization's code is public).
    to_org_code: Mapped[str | None] = mapped_column(sa.String(64))
    attempt: Mapped[int] = mapped_column(default=1)
    #: issued, rejected, claimed, released, closed, cancelled, refused, undeliverable.
    state: Mapped[str] = mapped_column(sa.String(16))
    last_step: Mapped[str] = mapped_column(sa.String(16))
    last_step_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: When the hub first saw the current attempt's letter, and its validity.
    issued_at: Mapped[dt.datetime | None]
    valid_until: Mapped[dt.datetime | None]
    #: Why the last step was refused (undeliverable), a reason code, not text about a person.
    refusal: Mapped[str | None] = mapped_column(sa.String(32))
    steps: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    def __repr__(self) -> str:
        return f"<HubTransfer {self.uid} {self.state}>"


class TenantDirectoryState(HubModel):
    """The registry version (`DirectoryState.version`) last sent to the nodes as the tenant
    directory; one row."""

    __tablename__ = "hub_tenant_directory"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version_sent: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[dt.datetime | None]
