"""The identity index: duplicate memberships across the network, by keyed hash only.

A node tells the hub, per tenant (the envelope's `tenant`), which keyed hashes of national IDs
(HMAC-SHA256 under the network-wide `NODE_IDENTITY_HASH_KEY`, `shared.identity.IdentityHasher`)
are on its rolls (`active`) and which no longer are, when a member is registered, changes
status or national ID, or is deleted, and as a full resync on demand (`sync` set, in chunks).
The hub flags a hash active on two or more tenants and tells each node concerned which *other*
tenants (node, slug, region code) hold it; `resolved` when that stops.

No name, member number, member id or national ID (in any form but the keyed hash) is in any of
these messages: see docs/protocol.md ("partynet.identity.indexed.v1") and
docs/architecture.md ("Identity index").
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from marshmallow import ValidationError, validate, validates_schema

from federation.messages.directives import TenantSlug
from federation.messages.fields import (
    Bool,
    Int,
    List,
    MessageSchema,
    Nested,
    PartyId,
    Pattern,
    Time,
)
from federation.messages.registry import register

__all__ = [
    "DUPLICATE",
    "INDEXED",
    "MAX_ENTRIES",
    "RESOLVED",
    "Duplicate",
    "Indexed",
    "Resolved",
]

INDEXED = "partynet.identity.indexed.v1"
DUPLICATE = "partynet.identity.duplicate.v1"
RESOLVED = "partynet.identity.resolved.v1"

#: Entries per message (about 100 KB of JSON at 1,000).
MAX_ENTRIES = 1000
#: Places named in one duplicate notice.
MAX_PLACES = 100

_HASH = re.compile(r"[0-9a-f]{64}")
_REGION = re.compile(r"[0-9]{6}")


class IdentityHash(Pattern):
    """A keyed hash of a national ID: 64 lowercase hex characters (never the ID itself)."""

    pattern = _HASH
    message = "Not a keyed hash (64 lowercase hex characters)."


class Region(Pattern):
    pattern = _REGION
    message = "Not a 6-digit region code."


class Entry(MessageSchema):
    """One person on one tenant's rolls (`active`) or no longer (`false`), as of a time."""

    hash = IdentityHash(required=True)
    active = Bool(required=True)
    as_of = Time(required=True)


class Sync(MessageSchema):
    """Part `chunk` of `chunks` of a full resync of the tenant taken at `taken_at`."""

    taken_at = Time(required=True)
    chunk = Int(required=True, validate=validate.Range(min=1))
    chunks = Int(required=True, validate=validate.Range(min=1, max=100_000))


_H1 = "3f" * 32
_H2 = "a0" * 32


@register(INDEXED)
class Indexed(MessageSchema):
    """Node -> hub: index entries of the envelope's tenant (latest `as_of` per hash wins)."""

    entries = List(Nested(Entry), required=True,
                   validate=validate.Length(min=0, max=MAX_ENTRIES))
    sync = Nested(Sync, required=True, allow_none=True)
    example: ClassVar[dict[str, Any]] = {
        "entries": [{"hash": _H1, "active": True, "as_of": "2025-03-01T02:00:00.000Z"},
                    {"hash": _H2, "active": False, "as_of": "2025-03-01T02:00:00.000Z"}],
        "sync": None,
    }

    @validates_schema
    def _chunk_within_chunks(self, data: dict[str, Any], **_kwargs: Any) -> None:
        sync = data.get("sync")
        if sync is not None and sync["chunk"] > sync["chunks"]:
            raise ValidationError("chunk is beyond chunks.", "sync")
        if sync is None and not data["entries"]:
            raise ValidationError("An update names at least one entry.", "entries")


class Place(MessageSchema):
    """Another tenant where the person is on the rolls: public facts about the tenant only."""

    node = PartyId(required=True)
    tenant = TenantSlug(required=True)
    region = Region(required=True)


class Flag(MessageSchema):
    tenant = TenantSlug(required=True)
    elsewhere = List(Nested(Place), required=True,
                     validate=validate.Length(min=1, max=MAX_PLACES))


@register(DUPLICATE)
class Duplicate(MessageSchema):
    """Hub -> node: the person with this hash, on the rolls of the node's `flags[].tenant`, is
    also on the rolls of the tenants in `elsewhere` (the whole current list: it replaces the
    previous one). Envelope `tenant` unset: one message per node per change."""

    hash = IdentityHash(required=True)
    as_of = Time(required=True)
    flags = List(Nested(Flag), required=True, validate=validate.Length(min=1, max=MAX_PLACES))
    example: ClassVar[dict[str, Any]] = {
        "hash": _H1, "as_of": "2025-03-01T02:00:05.000Z",
        "flags": [{"tenant": "dadukou",
                   "elsewhere": [{"node": "chengdu-1", "tenant": "jinniu", "region": "510106"}]}],
    }


@register(RESOLVED)
class Resolved(MessageSchema):
    """Hub -> node: the person with this hash is no longer active elsewhere (for `tenants`)."""

    hash = IdentityHash(required=True)
    as_of = Time(required=True)
    tenants = List(TenantSlug(), required=True, validate=validate.Length(min=1, max=MAX_PLACES))
    example: ClassVar[dict[str, Any]] = {"hash": _H1, "as_of": "2025-03-02T02:00:05.000Z",
                                         "tenants": ["dadukou"]}
