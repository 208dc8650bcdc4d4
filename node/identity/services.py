"""The node's side of the identity index (duplicate identity detection across the network).

- **Entries**: whenever a member's national ID or roll status changes (registered, status
  changed, ID corrected, deleted), the members services call `send_entries` in the same
  transaction: one sequenced `partynet.identity.indexed.v1` to the hub, for the member's tenant,
  carrying only the keyed hash, whether the person is on the rolls here (`active`: any status
  but transferred out and left) and the time. `resync` sends every member of a tenant, in
  chunks, all in one transaction (the hub then retires the tenant's hashes the resync no
  longer names).
- **Flags**: the hub's `partynet.identity.duplicate.v1` and `.resolved.v1` are stored per
  (tenant, hash), the latest `as_of` winning; secretaries see them on the member page and as a
  list of the flagged members within their reach.

Never a name, member number, member id or national ID in a message: only hashes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from federation.delivery import send
from federation.keys import HUB, format_time, parse_time, utcnow
from federation.messages.identity import INDEXED, MAX_ENTRIES
from node.auth.principal import Principal
from node.auth.reach import within
from node.db import db
from node.grants.models import Role
from node.identity.models import IdentityFlag
from node.members.models import Member, Status
from node.tenants.models import Tenant
from node.tenants.scoping import all_tenants, tenant_context
from shared.errors import NotFound

#: Statuses of people no longer on this tenant's rolls (the same as the statistics').
GONE = frozenset({Status.transferred_out, Status.left})
#: Entries per resync message (the contract allows up to MAX_ENTRIES).
CHUNK_SIZE = 500


def is_active(status: Status) -> bool:
    """On the rolls here: what the hub compares across tenants."""
    return status not in GONE


def entry(digest: str, active: bool, as_of: dt.datetime) -> dict[str, Any]:
    return {"hash": digest, "active": active, "as_of": format_time(as_of)}


def _slug(tenant_id: int) -> str:
    tenant = db.session.get(Tenant, tenant_id)
    assert tenant is not None
    return tenant.slug


def send_entries(tenant_id: int, entries: Sequence[tuple[str, bool]],
                 now: dt.datetime | None = None) -> list[str]:
    """Queue (hash, active) entries of a tenant to the hub, in the caller's transaction (one
    message per MAX_ENTRIES entries)."""
    when, slug = now or utcnow(), _slug(tenant_id)
    items = [entry(h, active, when) for h, active in entries]
    return [send(db.session(), INDEXED, destination=HUB, tenant=slug, sequenced=True,
                 data={"entries": items[i:i + MAX_ENTRIES], "sync": None})
            for i in range(0, len(items), MAX_ENTRIES)]


def member_indexed(member: Member, *, old_hash: str | None = None) -> list[str]:
    """A member was registered, changed status or had the national ID corrected (`old_hash`:
    the previous hash, now retired)."""
    entries = [(member.national_id_hash, is_active(member.status))]
    if old_hash is not None and old_hash != member.national_id_hash:
        entries.insert(0, (old_hash, False))
    return send_entries(member.tenant_id, entries)


def member_removed(member: Member) -> list[str]:
    """A member record is deleted: the hash is no longer on this tenant's rolls."""
    return send_entries(member.tenant_id, [(member.national_id_hash, False)])


@dataclasses.dataclass(frozen=True)
class Resynced:
    tenant: str
    entries: int
    message_ids: list[str]


def resync(tenant: Tenant, *, now: dt.datetime | None = None,
           chunk_size: int = CHUNK_SIZE) -> Resynced:
    """Queue the tenant's whole index (every member's hash and whether on the rolls), chunked,
    in the caller's transaction. Repeating it is harmless: the same entries, a later time."""
    if not 1 <= chunk_size <= MAX_ENTRIES:
        raise ValueError(f"chunk_size must be 1 to {MAX_ENTRIES}")
    when = now or utcnow()
    with tenant_context(tenant.id):
        rows = db.session.execute(sa.select(Member.national_id_hash, Member.status)
                                  .order_by(Member.id)).all()
    # One person is one hash per tenant (unique); active wins if a row were ever doubled.
    state: dict[str, bool] = {}
    for digest, status in rows:
        state[digest] = state.get(digest, False) or is_active(Status(status))
    entries = [entry(h, active, when) for h, active in state.items()]
    chunks = [entries[i:i + chunk_size] for i in range(0, len(entries), chunk_size)] or [[]]
    taken_at = format_time(when)
    ids = [send(db.session(), INDEXED, destination=HUB, tenant=tenant.slug, sequenced=True,
                data={"entries": chunk,
                      "sync": {"taken_at": taken_at, "chunk": n, "chunks": len(chunks)}})
           for n, chunk in enumerate(chunks, start=1)]
    return Resynced(tenant=tenant.slug, entries=len(entries), message_ids=ids)


# --- flags from the hub -----------------------------------------------------------------------


def get_tenant_by_slug(slug: str) -> Tenant:
    """(node.tenants.services imports the members services, which import this module.)"""
    with all_tenants():
        tenant = db.session.scalar(sa.select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise NotFound(f"No tenant {slug!r}.")
    return tenant


def _flag(digest: str) -> IdentityFlag | None:
    return db.session.scalar(sa.select(IdentityFlag).where(IdentityFlag.hash == digest))


def apply_duplicate(data: dict[str, Any]) -> list[IdentityFlag]:
    """Handler body of `partynet.identity.duplicate.v1`: open (or update) the flag of each
    named tenant; an older notice than the one stored changes nothing. A tenant this node does
    not host makes the handler fail (quarantine)."""
    as_of = parse_time(data["as_of"])
    stored = []
    for item in data["flags"]:
        tenant = get_tenant_by_slug(item["tenant"])
        with tenant_context(tenant.id):
            flag = _flag(data["hash"])
            if flag is None:
                flag = IdentityFlag(hash=data["hash"], as_of=as_of, flagged_at=utcnow())
                db.session.add(flag)
            elif as_of <= flag.as_of:
                continue
            else:
                if flag.resolved_at is not None:
                    flag.flagged_at = utcnow()
                flag.as_of = as_of
            flag.elsewhere = [dict(place) for place in item["elsewhere"]]
            flag.resolved_at = None
            db.session.flush()
            stored.append(flag)
    return stored


def apply_resolved(data: dict[str, Any]) -> list[IdentityFlag]:
    """Handler body of `partynet.identity.resolved.v1`: close the flags (a repeat, an older
    notice or an unknown hash changes nothing)."""
    as_of = parse_time(data["as_of"])
    closed = []
    for slug in data["tenants"]:
        tenant = get_tenant_by_slug(slug)
        with tenant_context(tenant.id):
            flag = _flag(data["hash"])
            if flag is None:
                flag = IdentityFlag(hash=data["hash"], as_of=as_of, elsewhere=[],
                                    flagged_at=utcnow(), resolved_at=utcnow())
                db.session.add(flag)
            elif as_of <= flag.as_of:
                continue
            else:
                flag.as_of, flag.elsewhere = as_of, []
                flag.resolved_at = flag.resolved_at or utcnow()
            db.session.flush()
            closed.append(flag)
    return closed


# --- what secretaries see ---------------------------------------------------------------------


def flag_for(member: Member) -> IdentityFlag | None:
    """The open flag of a member (the caller has checked reach), if any."""
    flag = _flag(member.national_id_hash)
    return flag if flag is not None and flag.is_open else None


def flagged_condition() -> sa.ColumnElement[bool]:
    """`Member` rows with an open flag (for the member list's "flagged" filter)."""
    return sa.exists().where(IdentityFlag.hash == Member.national_id_hash,
                             IdentityFlag.tenant_id == Member.tenant_id,
                             IdentityFlag.resolved_at.is_(None))


@dataclasses.dataclass(frozen=True)
class FlaggedMember:
    member_id: int
    name: str
    member_number: str
    org_code: str
    status: str
    elsewhere: list[dict[str, str]]
    flagged_at: dt.datetime


def flagged_members(principal: Principal, *, limit: int = 500) -> list[FlaggedMember]:
    """Members within the principal's reach whose flag is open, in tree order."""
    rows = db.session.execute(
        sa.select(Member.id, Member.name, Member.member_number, Member.org_code,
                  Member.status, IdentityFlag.elsewhere, IdentityFlag.flagged_at)
        .join(IdentityFlag, sa.and_(IdentityFlag.hash == Member.national_id_hash,
                                    IdentityFlag.tenant_id == Member.tenant_id))
        .where(IdentityFlag.resolved_at.is_(None),
               within(Member.org_code, principal.prefixes(Role.org_viewer)))
        .order_by(Member.org_code, Member.id).limit(limit)).all()
    return [FlaggedMember(r.id, r.name, r.member_number, r.org_code, str(r.status),
                          list(r.elsewhere), r.flagged_at) for r in rows]

