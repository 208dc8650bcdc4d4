"""The tenant directory the hub distributes: where every tenant of the network lives.

Replaced as a whole by each `partynet.tenants.directory.v1` the hub sends (a higher version;
the same version again changes nothing worth keeping apart). Public facts only: node ids and
their current signing keys, tenants' slugs, names, region codes and code prefixes. Node-wide,
not tenant-scoped: every tenant of this node may send a transfer anywhere.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from node.db import NodeModel
from shared.db import utcnow
from shared.db.base import code_type


class DirectoryNode(NodeModel):
    """An active node and the key a transfer step is sealed to (and its steps verified by)."""

    __tablename__ = "directory_nodes"

    node: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    key_id: Mapped[str] = mapped_column(sa.String(80))
    public: Mapped[bytes] = mapped_column(sa.LargeBinary(32))
    valid_from: Mapped[dt.datetime]
    valid_until: Mapped[dt.datetime]


class DirectoryTenant(NodeModel):
    __tablename__ = "directory_tenants"
    __table_args__ = (sa.UniqueConstraint("node", "slug"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    node: Mapped[str] = mapped_column(sa.String(128))
    slug: Mapped[str] = mapped_column(sa.String(40), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    region: Mapped[str] = mapped_column(code_type(6))
    code_prefix: Mapped[str] = mapped_column(code_type(12), index=True)


class DirectoryVersion(NodeModel):
    """One row: the version of the directory held, and when it came."""

    __tablename__ = "directory_version"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    version: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    issued_at: Mapped[dt.datetime]
    received_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
