"""The state of the hub's signed key directory (the keys themselves are the federation tables)."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hub.db import HubModel
from shared.db import utcnow


class DirectoryState(HubModel):
    """One row: the directory's version, raised in the transaction of every change to the keys
    or revocations it lists, so nodes can refuse an older directory (no rollback)."""

    __tablename__ = "hub_directory_state"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    changed_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    #: What the last change was ("enrolled node-a", "revoked node-b"), for operators.
    reason: Mapped[str] = mapped_column(sa.String(200), default="")

    def __repr__(self) -> str:
        return f"<DirectoryState v{self.version}>"
