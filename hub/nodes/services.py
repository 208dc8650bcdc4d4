"""Enrollment: one-time tokens, the registry of nodes and tenants, re-enrollment, revocation.

The hub administrator issues a token for one node id and the code prefixes its tenants may take
(`issue_token`); the node operator enrolls with it (`enroll`): the node's key is registered, each
tenant gets its prefix and region, and the node receives the hub's keys and the signed key
directory. Enrolling a known node with a new key revokes its old keys and tells every other
node; `revoke_node` takes a node out of the network for good. Each of these raises the
directory's version in its own transaction, and takes the directory's lock first, so changes to
the registry and the keys happen one at a time.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import re
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from federation.delivery import send
from federation.delivery.keystore import remember_key, revoke
from federation.delivery.models import KnownKey, RevokedOwner
from federation.keys import (
    HUB,
    PARTY_ID_PATTERN,
    PublicKey,
    SigningKey,
    decode_base64,
    format_time,
    utcnow,
)
from hub.db import db
from hub.keys.services import bump_directory, hub_public_keys, lock_directory, signed_directory
from hub.nodes.errors import (
    KeyConflict,
    NodeRevoked,
    PrefixNotAllowed,
    PrefixTaken,
    TokenExpired,
    TokenForAnotherNode,
    TokenRevoked,
    TokenUnknown,
    TokenUsed,
)
from hub.nodes.models import (
    EnrollmentFailure,
    EnrollmentToken,
    Node,
    NodeStatus,
    NodeTenant,
)
from shared.codes import CodeError, overlapping, validate_root_prefix
from shared.errors import Conflict, InvalidInput, NotFound, TooManyAttempts

KEY_REVOKED = "partynet.keys.revoked.v1"
#: Tokens look like `pne_<43 url-safe characters>` (256 random bits).
TOKEN_PREFIX = "pne_"
#: A node's key is valid from a little before its enrollment: the node's clock may lag ours.
CLOCK_ALLOWANCE = dt.timedelta(minutes=5)
SLUG_RE = re.compile(r"[a-z][a-z0-9-]{1,39}")
REGION_RE = re.compile(r"[0-9]{6}")
PREFIX_RE = re.compile(r"[0-9]{6,12}")


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


# --- tokens --------------------------------------------------------------------------------


def issue_token(*, node_id: str, allowed_prefixes: Sequence[str], created_by: str,
                ttl: dt.timedelta, region: str | None = None, node_name: str | None = None,
                now: dt.datetime | None = None) -> tuple[EnrollmentToken, str]:
    """A one-time token for `node_id`; returns the row and the token text, shown only once."""
    errors: dict[str, list[str]] = {}
    if not PARTY_ID_PATTERN.fullmatch(node_id) or node_id == HUB:
        errors["node_id"] = ["A node id: 1–128 letters, digits, '.', '_' or '-', not 'hub'."]
    prefixes = sorted(set(allowed_prefixes))
    if not prefixes:
        errors["allowed_prefixes"] = ["Give at least one code prefix."]
    for prefix in prefixes:
        try:
            if not PREFIX_RE.fullmatch(prefix):
                raise CodeError("a code prefix is 6 to 12 digits")
            validate_root_prefix(prefix)
        except CodeError as exc:
            errors.setdefault("allowed_prefixes", []).append(f"{prefix}: {exc}")
    if region is not None:
        try:
            if not REGION_RE.fullmatch(region):
                raise CodeError("a region is a 6-digit GB/T 2260 division code")
            validate_root_prefix(region)
        except CodeError as exc:
            errors["region"] = [str(exc)]
    if not created_by.strip():
        errors["created_by"] = ["Say who issues the token."]
    if not dt.timedelta(minutes=5) <= ttl <= dt.timedelta(days=90):
        errors["ttl"] = ["Between 5 minutes and 90 days."]
    if errors:
        raise InvalidInput("The enrollment token cannot be issued.", errors=errors)
    session = db.session()
    if _is_revoked(node_id):
        raise NodeRevoked(f"Node {node_id} is revoked; it may come back under a new node id.")
    now = now or utcnow()
    text = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = EnrollmentToken(token_hash=token_digest(text), node_id=node_id, node_name=node_name,
                            allowed_prefixes=prefixes, region=region,
                            created_by=created_by.strip()[:120], created_at=now,
                            expires_at=now + ttl)
    session.add(token)
    session.flush()
    return token, text


def list_tokens(*, include_used: bool = False) -> Sequence[EnrollmentToken]:
    query = sa.select(EnrollmentToken).order_by(EnrollmentToken.id)
    if not include_used:
        query = query.where(EnrollmentToken.used_at.is_(None))
    return db.session.scalars(query).all()


def token_state(token: EnrollmentToken, now: dt.datetime | None = None) -> str:
    """`used`, `revoked`, `expired` or `unused` (the console's and the CLI's word for it)."""
    if token.used_at is not None:
        return "used"
    if token.revoked_at is not None:
        return "revoked"
    if token.expires_at <= (now or utcnow()):
        return "expired"
    return "unused"


def get_token(token_id: int) -> EnrollmentToken:
    token = db.session.get(EnrollmentToken, token_id)
    if token is None:
        raise NotFound("No such enrollment token.")
    return token


def revoke_token(token_id: int, *, by: str, now: dt.datetime | None = None) -> EnrollmentToken:
    """Withdraw a token that was not used yet (a used one already did its work)."""
    token = db.session.scalars(sa.select(EnrollmentToken).where(EnrollmentToken.id == token_id)
                               .with_for_update()).first()
    if token is None:
        raise NotFound("No such enrollment token.")
    state = token_state(token, now)
    if state != "unused":
        raise Conflict(f"This enrollment token is already {state}.")
    token.revoked_at, token.revoked_by = now or utcnow(), by.strip()[:120] or "?"
    db.session.flush()
    return token


def _admit(token: str, node_id: str, now: dt.datetime) -> EnrollmentToken:
    row = db.session.scalars(sa.select(EnrollmentToken)
                             .where(EnrollmentToken.token_hash == token_digest(token))
                             .with_for_update()).first()
    if row is None:
        raise TokenUnknown("This enrollment token is not known to the hub.")
    if row.revoked_at is not None:
        raise TokenRevoked("This enrollment token was revoked; ask the hub administrator "
                           "for a new one.")
    if row.used_at is not None:
        raise TokenUsed("This enrollment token was already used; ask the hub administrator "
                        "for a new one.")
    if row.expires_at <= now:
        raise TokenExpired(f"This enrollment token expired at {format_time(row.expires_at)}; "
                           "ask the hub administrator for a new one.")
    if row.node_id != node_id:
        raise TokenForAnotherNode(f"This enrollment token was issued for another node id, not "
                                  f"{node_id!r}; check NODE_NODE_ID.")
    return row


# --- enrollment ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Enrollment:
    """What the node receives: its registration, the hub's keys to pin, the signed directory."""

    node: Node
    tenants: list[NodeTenant]
    hub_keys: list[PublicKey]
    directory: bytes
    directory_version: int
    #: Key ids of the node revoked by this (re-)enrollment.
    revoked_keys: list[str]

    @property
    def node_id(self) -> str:
        return self.node.id


@dataclasses.dataclass
class _Claim:
    slug: str
    name: str
    code_prefix: str
    region: str
    existing: NodeTenant | None = None  # this node's registration of the slug
    takeover: NodeTenant | None = None  # the same prefix held by a revoked node


def enroll(*, token: str, node_id: str, key_id: str, public_key: str,
           tenants: Sequence[Mapping[str, Any]], hub_key: SigningKey, node_key_days: int = 365,
           now: dt.datetime | None = None) -> Enrollment:
    """Register the node, its key and its tenants with a one-time token (used up here).

    Every check runs before anything is written, so a refused enrollment changes nothing (the
    caller's transaction rolls back anyway). A known node enrolling with a new key has its old
    keys revoked, and every other active node is told, in this same transaction.
    """
    session = db.session()
    now = now or utcnow()
    lock_directory()
    row = _admit(token, node_id, now)
    node = session.get(Node, node_id)
    if (node is not None and node.status == NodeStatus.revoked) or _is_revoked(node_id):
        raise NodeRevoked(f"Node {node_id} is revoked; it may come back under a new node id.")
    public = _public_key_bytes(public_key)
    known = session.get(KnownKey, (node_id, key_id))
    if known is not None and (known.public != public or known.revoked_at is not None):
        raise KeyConflict(f"Key id {key_id} of {node_id} is already "
                          f"{'revoked' if known.revoked_at else 'registered with another key'}; "
                          "make a new key.")
    claims = _check_claims(node_id, row, tenants)

    if node is None:
        node = Node(id=node_id, name=row.node_name or node_id, status=NodeStatus.active,
                    created_at=now, enrolled_at=now)
        session.add(node)
    else:
        node.enrolled_at = now
        if row.node_name:
            node.name = row.node_name
    session.flush()
    old_keys = session.scalars(sa.select(KnownKey.key_id).where(
        KnownKey.owner == node_id, KnownKey.key_id != key_id,
        KnownKey.revoked_at.is_(None)).order_by(KnownKey.key_id)).all()
    for old in old_keys:
        revoke(session, node_id, old, now)
        _broadcast_revocation(node_id, old, now)
    remember_key(session, PublicKey(owner=node_id, key_id=key_id, public=public,
                                    valid_from=now - CLOCK_ALLOWANCE,
                                    valid_until=now + dt.timedelta(days=node_key_days)))
    registered = _register_tenants(node, claims, now)
    row.used_at = now
    version = bump_directory(f"enrolled {node_id}", now=now)
    return Enrollment(node=node, tenants=registered, hub_keys=hub_public_keys(now),
                      directory=signed_directory(hub_key, now), directory_version=version,
                      revoked_keys=list(old_keys))


def _public_key_bytes(text: str) -> bytes:
    try:
        raw = decode_base64(text)
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise InvalidInput("Not an Ed25519 public key.",
                           errors={"public_key": ["32 bytes in unpadded base64."]})
    return raw


def _check_claims(node_id: str, token: EnrollmentToken,
                  tenants: Sequence[Mapping[str, Any]]) -> list[_Claim]:
    claims = [_Claim(slug=t["slug"], name=t["name"], code_prefix=t["code_prefix"],
                     region=token.region or t["code_prefix"][:6]) for t in tenants]
    errors: dict[int, dict[str, list[str]]] = {}
    for i, claim in enumerate(claims):
        if not SLUG_RE.fullmatch(claim.slug):
            errors.setdefault(i, {})["slug"] = ["2–40 lowercase letters, digits or hyphens."]
        try:
            if not PREFIX_RE.fullmatch(claim.code_prefix):
                raise CodeError("a code prefix is 6 to 12 digits")
            validate_root_prefix(claim.code_prefix)
        except CodeError as exc:
            errors.setdefault(i, {})["code_prefix"] = [str(exc)]
        others = claims[:i]
        if any(c.slug == claim.slug for c in others):
            errors.setdefault(i, {})["slug"] = ["Listed twice."]
        clash = overlapping(claim.code_prefix, [c.code_prefix for c in others])
        if clash:
            errors.setdefault(i, {})["code_prefix"] = [f"Overlaps {clash}, listed above."]
    if errors:
        raise InvalidInput("The tenants cannot be registered.", errors={"tenants": errors})
    refused = {i: {"code_prefix": [f"{c.code_prefix} is not under the token's prefixes "
                                   f"({', '.join(token.allowed_prefixes)})."]}
               for i, c in enumerate(claims)
               if not any(c.code_prefix.startswith(p) for p in token.allowed_prefixes)}
    if refused:
        raise PrefixNotAllowed("The enrollment token does not allow these code prefixes.",
                               errors={"tenants": refused})
    for claim in claims:
        _check_prefix_free(node_id, claim)
    return claims


def _check_prefix_free(node_id: str, claim: _Claim) -> None:
    """Root prefixes are network-unique and prefix-free (a subtree query must not reach another
    tenant's codes). The same prefix held by a revoked node's tenant may be taken over."""
    session = db.session()
    prefix = claim.code_prefix
    ancestors = [prefix[:n] for n in range(6, len(prefix) + 1)]
    rows = session.scalars(sa.select(NodeTenant).where(sa.or_(
        NodeTenant.code_prefix.in_(ancestors),
        sa.and_(NodeTenant.code_prefix >= prefix, NodeTenant.code_prefix < prefix + ":"),
    )).order_by(NodeTenant.code_prefix)).all()
    for tenant in rows:
        if tenant.node_id == node_id and tenant.slug == claim.slug:
            if tenant.code_prefix != prefix:
                raise Conflict(f"Tenant {claim.slug} is registered with prefix "
                               f"{tenant.code_prefix}; a re-enrollment does not change it.")
            claim.existing = tenant
            continue
        owner = session.get(Node, tenant.node_id)
        if (tenant.code_prefix == prefix and owner is not None
                and owner.status == NodeStatus.revoked):
            claim.takeover = tenant
            continue
        holder = "this node" if tenant.node_id == node_id else "another node"
        raise PrefixTaken(f"Code prefix {prefix} overlaps {tenant.code_prefix}, registered "
                          f"by {holder}.", errors={"code_prefix": [prefix]})
    if claim.existing is None:
        existing = session.scalars(sa.select(NodeTenant).where(
            NodeTenant.node_id == node_id, NodeTenant.slug == claim.slug)).first()
        if existing is not None:
            raise Conflict(f"Tenant {claim.slug} is registered with prefix "
                           f"{existing.code_prefix}; a re-enrollment does not change it.")


def _register_tenants(node: Node, claims: list[_Claim], now: dt.datetime) -> list[NodeTenant]:
    session = db.session()
    for claim in claims:
        if claim.existing is not None:
            claim.existing.name = claim.name
            continue
        if claim.takeover is not None:  # the revoked node's tenant moves here, prefix and all
            tenant = claim.takeover
            tenant.node_id, tenant.slug, tenant.name = node.id, claim.slug, claim.name
            tenant.region, tenant.registered_at = claim.region, now
            continue
        session.add(NodeTenant(node_id=node.id, slug=claim.slug, name=claim.name,
                               code_prefix=claim.code_prefix, region=claim.region,
                               registered_at=now))
    session.flush()
    return list(node_tenants(node.id))


# --- revocation ----------------------------------------------------------------------------


def revoke_node(node_id: str, *, by: str, now: dt.datetime | None = None) -> Node:
    """Take a node out of the network: all its keys, present and future, are refused, and every
    other node is told. Its tenants keep their prefixes (a node coming back under a new id
    takes them over with a token allowing them)."""
    session = db.session()
    now = now or utcnow()
    lock_directory()
    node = session.get(Node, node_id)
    if node is None:
        raise NotFound(f"No node {node_id!r}.")
    if node.status == NodeStatus.revoked:
        raise Conflict(f"Node {node_id} is already revoked.")
    node.status, node.revoked_at, node.revoked_by = NodeStatus.revoked, now, by[:120]
    revoke(session, node_id, None, now)
    _broadcast_revocation(node_id, None, now)
    bump_directory(f"revoked {node_id}", now=now)
    return node


def _is_revoked(node_id: str) -> bool:
    return db.session.get(RevokedOwner, node_id) is not None


def _broadcast_revocation(owner: str, key_id: str | None, at: dt.datetime) -> None:
    """Tell every other active node at once; the directory remains the source of truth."""
    session = db.session()
    others = session.scalars(sa.select(Node.id).where(Node.status == NodeStatus.active,
                                                      Node.id != owner).order_by(Node.id))
    data = {"owner": owner, "key_id": key_id, "at": format_time(at)}
    for destination in others:
        send(session, KEY_REVOKED, destination=destination, data=data)


# --- the registry --------------------------------------------------------------------------


def list_nodes(*, status: NodeStatus | None = None) -> Sequence[Node]:
    query = sa.select(Node).order_by(Node.id)
    if status is not None:
        query = query.where(Node.status == status)
    return db.session.scalars(query).all()


def get_node(node_id: str) -> Node:
    node = db.session.get(Node, node_id)
    if node is None:
        raise NotFound(f"No node {node_id!r}.")
    return node


def node_tenants(node_id: str) -> Sequence[NodeTenant]:
    return db.session.scalars(sa.select(NodeTenant).where(NodeTenant.node_id == node_id)
                              .order_by(NodeTenant.slug)).all()


def node_keys(node_id: str) -> Sequence[KnownKey]:
    """The node's keys, newest validity first (revoked ones too)."""
    return db.session.scalars(sa.select(KnownKey).where(KnownKey.owner == node_id)
                              .order_by(KnownKey.valid_from.desc(), KnownKey.key_id)).all()


def silent_nodes(after: dt.timedelta, now: dt.datetime | None = None) -> Sequence[Node]:
    """Active nodes not heard from for longer than `after` (never heard from: since their
    enrollment), the longest silent first."""
    cutoff = (now or utcnow()) - after
    return db.session.scalars(sa.select(Node).where(
        Node.status == NodeStatus.active,
        sa.or_(Node.last_seen_at < cutoff,
               sa.and_(Node.last_seen_at.is_(None), Node.enrolled_at < cutoff)))
        .order_by(sa.func.coalesce(Node.last_seen_at, Node.enrolled_at), Node.id)).all()


def is_silent(node: Node, after: dt.timedelta, now: dt.datetime | None = None) -> bool:
    if node.status != NodeStatus.active:
        return False
    return (node.last_seen_at or node.enrolled_at) < (now or utcnow()) - after


def count_nodes() -> dict[str, int]:
    rows = db.session.execute(sa.select(Node.status, sa.func.count()).group_by(Node.status))
    counts = {status.value: 0 for status in NodeStatus}
    counts.update({NodeStatus(status).value: n for status, n in rows})
    return counts


def standing(node_id: str, key_id: str | None) -> tuple[str, str] | None:
    """Why a message signed by `node_id` with `key_id` must be refused, as (rejection reason,
    detail), or None when the node is active and the key is not revoked."""
    node = db.session.get(Node, node_id)
    if node is None:
        return "unauthorized_source", f"{node_id} is not an enrolled node"
    if node.status == NodeStatus.revoked or _is_revoked(node_id):
        return "revoked_owner", f"{node_id} is revoked"
    key = db.session.get(KnownKey, (node_id, key_id)) if key_id else None
    if key is None:
        return "unknown_key", f"no key {key_id} for {node_id}"
    if key.revoked_at is not None:
        return "revoked_key", f"{key_id} of {node_id} is revoked"
    return None


def owns_tenant(node_id: str, slug: str) -> bool:
    return db.session.scalar(sa.select(NodeTenant.id).where(
        NodeTenant.node_id == node_id, NodeTenant.slug == slug)) is not None


def record_heartbeat(node_id: str, *, at: dt.datetime, version: str, backlog: int,
                     lag_seconds: int) -> Node:
    """A node's health report (its signed time): the registry shows when it was last seen."""
    node = get_node(node_id)
    if node.last_seen_at is None or at >= node.last_seen_at:
        node.last_seen_at = at
        node.version, node.backlog, node.lag_seconds = version, backlog, lag_seconds
    return node


# --- throttling of failed enrollments ------------------------------------------------------


def throttle_keys(remote_addr: str | None) -> list[str]:
    return [f"enroll-addr:{remote_addr or 'unknown'}"]


def check_throttle(keys: Sequence[str], *, max_failures: int, window: int) -> None:
    """Refuse when an address has too many recent failed enrollments (token guessing)."""
    now = utcnow()
    rows = db.session.scalars(sa.select(EnrollmentFailure)
                              .where(EnrollmentFailure.key.in_(keys))).all()
    for row in rows:
        age = (now - row.window_started_at).total_seconds()
        if age < window and row.failures >= max_failures:
            raise TooManyAttempts("Too many failed enrollments; try again later.",
                                  headers={"Retry-After": str(int(window - age) + 1)})


def note_failure(keys: Sequence[str], *, window: int) -> None:
    now = utcnow()
    for key in keys:
        row = db.session.get(EnrollmentFailure, key)
        if row is None:
            db.session.add(EnrollmentFailure(key=key, failures=1, window_started_at=now))
        elif (now - row.window_started_at).total_seconds() >= window:
            row.failures, row.window_started_at = 1, now
        else:
            row.failures += 1
    db.session.flush()
