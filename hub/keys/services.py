"""The hub as key authority: its own signing key and the signed key directory nodes fetch.

Every party's public key lives in the federation key table (`fed_keys`), the hub's own included
(owner "hub"), so the directory is simply that table, signed. Whoever changes what the directory
lists (an enrollment, a revocation, a new hub key) calls `bump_directory` in the same
transaction: the version only grows, and a node refuses a directory older than one it applied.
"""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from federation import keyfile
from federation.delivery.keystore import remember_key
from federation.delivery.models import KnownKey, RevokedOwner
from federation.keys import HUB, PublicKey, SigningKey, build_directory, utcnow
from hub.db import db
from hub.keys.errors import HubKeyMissing
from hub.keys.models import DirectoryState
from hub.settings import HubSettings
from shared.errors import Conflict

#: The one row of `hub_directory_state`.
STATE_ID = 1


def load_signing_key(settings: HubSettings) -> SigningKey:
    try:
        return keyfile.read_signing_key(settings.signing_key_file)
    except keyfile.KeyFileMissing:
        raise HubKeyMissing(f"No signing key at {settings.signing_key_file}: run "
                    f"`partynet hub bus keygen`.") from None


def create_signing_key(settings: HubSettings) -> SigningKey:
    """A new Ed25519 key in HUB_SIGNING_KEY_FILE, readable by the owner only."""
    try:
        return keyfile.create_signing_key(settings.signing_key_file)
    except FileExistsError:
        raise Conflict(f"{settings.signing_key_file} exists; the hub keeps its key "
                       f"(rotation is a later step).") from None


def publish_hub_key(key: SigningKey, *, days: int, now: dt.datetime | None = None) -> bool:
    """List the hub's signing key in its own key table (and so in the directory), once.

    Returns True when it was not listed yet (the directory changed).
    """
    session = db.session()
    if session.get(KnownKey, (HUB, key.key_id)) is not None:
        return False
    now = now or utcnow()
    remember_key(session, key.public_key(HUB, valid_from=now,
                                         valid_until=now + dt.timedelta(days=days)))
    bump_directory(f"hub key {key.key_id}", now=now)
    return True


def ready_signing_key(settings: HubSettings) -> SigningKey:
    """The hub's signing key, listed in the directory (for a key file made before the database)."""
    key = load_signing_key(settings)
    publish_hub_key(key, days=settings.hub_key_days)
    return key


def lock_directory() -> DirectoryState:
    """Take the directory's lock for the rest of the transaction: changes to the registry and
    the keys (enrollments, revocations) run one at a time."""
    session = db.session()
    state = session.scalars(sa.select(DirectoryState).where(DirectoryState.id == STATE_ID)
                            .with_for_update()).first()
    if state is None:  # the migration creates it; a database built otherwise may lack it
        state = DirectoryState(id=STATE_ID, version=0, reason="")
        session.add(state)
        session.flush()
    return state


def bump_directory(reason: str, *, now: dt.datetime | None = None) -> int:
    """Raise the directory version: call in the transaction that changed keys or revocations."""
    state = lock_directory()
    state.version += 1
    state.changed_at = now or utcnow()
    state.reason = reason[:200]
    db.session.flush()
    return state.version


def directory_version() -> int:
    """The current version (0 before any change); reads only."""
    return db.session.scalar(sa.select(DirectoryState.version)
                             .where(DirectoryState.id == STATE_ID)) or 0


def hub_public_keys(now: dt.datetime | None = None) -> list[PublicKey]:
    """The hub's keys a node should pin: not revoked and not expired."""
    now = now or utcnow()
    rows = db.session.scalars(sa.select(KnownKey).where(
        KnownKey.owner == HUB, KnownKey.revoked_at.is_(None), KnownKey.valid_until > now)
        .order_by(KnownKey.key_id))
    return [_public(row) for row in rows]


def signed_directory(hub_key: SigningKey, now: dt.datetime | None = None) -> bytes:
    """Every key the hub knows and every revoked party, signed now at the current version.

    Signed afresh on each call: nodes refuse a directory older than a day, whatever its version.
    """
    session = db.session()
    keys = [_public(row) for row in session.scalars(sa.select(KnownKey))]
    revoked = {row.owner: row.revoked_at for row in session.scalars(sa.select(RevokedOwner))}
    return build_directory(keys, hub_key=hub_key, now=now or utcnow(),
                           version=directory_version(), revoked_owners=revoked)


def _public(row: KnownKey) -> PublicKey:
    return PublicKey(owner=row.owner, key_id=row.key_id, public=row.public,
                     valid_from=row.valid_from, valid_until=row.valid_until,
                     revoked_at=row.revoked_at)
