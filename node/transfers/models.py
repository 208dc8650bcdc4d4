"""Transfers of the organization relationship (组织关系转接): one row per side of a transfer.

A transfer has a network-wide `uid` and two sides: `out` in the sending tenant and `in` in the
receiving tenant (the same database when both tenants live on this node, even the same
tenant). The sides talk only by steps (see `node.transfers.services.apply_step`); the member is
active at the origin until the origin accepts the destination's claim, and only then at the
destination (docs/architecture.md, "Transfers").
"""

from __future__ import annotations

import datetime as dt
import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.audit.models import Audited
from node.db import NodeModel
from node.tenants.scoping import TenantScoped
from shared.db import TimestampMixin, utcnow
from shared.db.base import code_type


class Side(enum.StrEnum):
    out = "out"  # the sending tenant's side
    in_ = "in"  # the receiving tenant's side


class State(enum.StrEnum):
    # out side
    applied = "applied"  # applied (member or secretary), no approval yet
    approving = "approving"  # approvals under way (the sending or the receiving chain)
    issued = "issued"  # letter out; the member is still active at the origin
    # in side
    delivered = "delivered"  # letter arrived, no approval yet
    claimed = "claimed"  # the receiving branch approved; asked the origin to release
    # both
    received = "received"  # out: claim accepted (member transferred out); in: member active
    closed = "closed"  # out: the receipt came back
    rejected = "rejected"  # out: the destination refused (may correct and resend); in: we did
    cancelled = "cancelled"
    expired = "expired"
    refused = "refused"  # in: the origin refused our claim


#: States in which nothing more happens to a side (an `out` side in `rejected` or `expired`
#: may still be resent or reissued, so those are not final there).
FINAL = {
    Side.out: frozenset({State.closed, State.cancelled}),
    Side.in_: frozenset({State.received, State.rejected, State.cancelled, State.expired,
                         State.refused}),
}


class Chain(enum.StrEnum):
    send = "send"  # the member's branch up to the issuing committee
    receive = "receive"  # the addressed committee down to the receiving branch


def _enum(cls: type[enum.Enum]) -> sa.Enum:
    return sa.Enum(cls, native_enum=False, length=20, validate_strings=True,
                   values_callable=lambda e: [m.value for m in e])


class Transfer(TenantScoped, Audited, TimestampMixin, NodeModel):
    __tablename__ = "transfers"
    __audit_name__ = "transfer"
    __audit_exclude__ = frozenset({"dossier_cipher", "identity_hash"})
    __table_args__ = (
        sa.UniqueConstraint("tenant_id", "uid", "side"),
        sa.Index("ix_transfers_tenant_state", "tenant_id", "state"),
        sa.Index("ix_transfers_org_code_id", "org_code", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(sa.String(36))
    side: Mapped[Side] = mapped_column(_enum(Side))
    state: Mapped[State] = mapped_column(_enum(State))
    #: Each letter sent is one attempt (correction, reissue, void): a step of an older attempt
    #: is stale and ignored.
    attempt: Mapped[int] = mapped_column(default=0)
    #: The letter's serial number (the sending tenant's): f"{prefix}-{year}-{seq:06d}".
    serial: Mapped[str | None] = mapped_column(sa.String(40))
    #: out: the member being transferred; in: the member once received here.
    member_id: Mapped[int | None] = mapped_column(sa.ForeignKey("members.id"), index=True)
    member_name: Mapped[str] = mapped_column(sa.String(60))
    #: The org whose administrators handle this side now (reach): out: the member's branch;
    #: in: the addressed org, then the receiving branch once assigned.
    org_code: Mapped[str] = mapped_column(code_type(64))
    #: in: the receiving branch chosen by the receiving committee.
    receiving_org_id: Mapped[int | None] = mapped_column(sa.ForeignKey("orgs.id"))
    #: out: the issuing committee (the end of the sending chain), whose administrators act on
    #: the letter (resend, reissue, void, cancel).
    issuer_org_code: Mapped[str | None] = mapped_column(code_type(64))
    #: both sides: the issuing committee's name (the letter is its, the receipt goes back to
    #: it); null on rows from before the letter carried it.
    issuer_org_name: Mapped[str | None] = mapped_column(sa.String(120))
    from_node: Mapped[str] = mapped_column(sa.String(64))
    from_tenant: Mapped[str] = mapped_column(sa.String(40))
    from_org_code: Mapped[str] = mapped_column(code_type(64))
    from_org_name: Mapped[str] = mapped_column(sa.String(120))
    to_node: Mapped[str] = mapped_column(sa.String(64))
    to_tenant: Mapped[str] = mapped_column(sa.String(40))
    to_org_code: Mapped[str] = mapped_column(code_type(64))
    to_org_name: Mapped[str] = mapped_column(sa.String(120))
    reason: Mapped[str] = mapped_column(sa.String(255))
    #: The keyed hash of the national ID (the hub routes and checks by it, never the ID).
    identity_hash: Mapped[str] = mapped_column(sa.String(64))
    #: in: the letter's member data, encrypted at rest with the node's PII key until reception.
    dossier_cipher: Mapped[str | None] = mapped_column(sa.Text)
    dues_paid_up_to: Mapped[str | None] = mapped_column(sa.String(7))
    issued_at: Mapped[dt.datetime | None]
    valid_until: Mapped[dt.datetime | None]
    claimed_at: Mapped[dt.datetime | None]
    released_at: Mapped[dt.datetime | None]
    received_at: Mapped[dt.datetime | None]
    closed_at: Mapped[dt.datetime | None]
    #: The latest refusal or rejection: a stable code and the text shown to people.
    reason_code: Mapped[str | None] = mapped_column(sa.String(30))
    reason_text: Mapped[str | None] = mapped_column(sa.String(500))
    #: From the receipt: the member's number and org at the destination.
    destination_member_number: Mapped[str | None] = mapped_column(sa.String(24))
    destination_org_code: Mapped[str | None] = mapped_column(sa.String(64))
    #: Approve each chain step as soon as it is due (benchmarks, the demo, or a tenant rule).
    auto_approve: Mapped[bool] = mapped_column(default=False)

    def audit_scope(self) -> str:
        return self.org_code

    def __repr__(self) -> str:
        return f"<Transfer {self.id} {self.side.value} {self.uid} {self.state.value}>"


class TransferApproval(TenantScoped, NodeModel):
    """One org of an approval chain for one attempt, in order; decided or pending."""

    __tablename__ = "transfer_approvals"
    __table_args__ = (sa.UniqueConstraint("transfer_id", "attempt", "chain", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(sa.ForeignKey("transfers.id"), index=True)
    attempt: Mapped[int]
    chain: Mapped[Chain] = mapped_column(_enum(Chain))
    position: Mapped[int]
    org_id: Mapped[int] = mapped_column(sa.ForeignKey("orgs.id"))
    org_code: Mapped[str] = mapped_column(code_type(64))
    org_name: Mapped[str] = mapped_column(sa.String(120))
    decided_at: Mapped[dt.datetime | None]
    decided_by: Mapped[str | None] = mapped_column(sa.String(80))
    note: Mapped[str | None] = mapped_column(sa.String(500))


class TransferEvent(TenantScoped, NodeModel):
    """The trail of a side: every step sent or received and every decision, with who and why."""

    __tablename__ = "transfer_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    transfer_id: Mapped[int] = mapped_column(sa.ForeignKey("transfers.id"), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    attempt: Mapped[int] = mapped_column(default=0)
    action: Mapped[str] = mapped_column(sa.String(40))
    actor: Mapped[str] = mapped_column(sa.String(80))
    actor_account_id: Mapped[int | None] = mapped_column(sa.ForeignKey("accounts.id"))
    org_code: Mapped[str | None] = mapped_column(code_type(64))
    state: Mapped[State] = mapped_column(_enum(State))
    note: Mapped[str | None] = mapped_column(sa.String(500))


class TransferSerial(TenantScoped, NodeModel):
    """The letter serial counter of a tenant, per year."""

    __tablename__ = "transfer_serials"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "year"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int]
    last_seq: Mapped[int] = mapped_column(default=0)
