"""Ed25519 keys, the key ring that decides which keys to trust, and the hub's signed key directory.

Every party (the hub and each node) signs with its own Ed25519 key, named `ed25519:<kid>`. The hub
is the key authority: it publishes a signed directory of every party's public keys with their
validity windows and revocations, and nodes pin the hub's own keys out of band.

Trust rule (Matrix-style, see docs/protocol.md): a key verifies a message signed at time t when
``valid_from <= t < min(valid_until, added_at + trust_horizon)`` and neither the key nor its
owner is revoked. `added_at` is when this process last learnt the key (added it or applied a
directory listing it), so a node cut off from the hub stops trusting keys after the horizon.
Revocation is sticky and total: once a revocation is known, the key (or every key of the owner)
is refused for every message, whatever its time, because a stolen key can sign any time it likes.
Revoking a key and later seeing it listed again does not revive it; a re-enrolling node gets a
new key id, and a revoked owner must come back under a new owner id.

Datetimes are timezone-aware UTC in Python and RFC 3339 strings with millisecond precision and a
"Z" suffix on the wire (`format_time` / `parse_time`), the only time format the protocol uses.
"""

from __future__ import annotations

import base64
import binascii
import re
import secrets
import string
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from federation.canonical import MAX_SAFE_INTEGER, decode_strict, encode_canonical, encode_decoded

__all__ = [
    "DIRECTORY_PROBLEMS",
    "HUB",
    "KEY_ID_PATTERN",
    "KEY_PROBLEMS",
    "PARTY_ID_PATTERN",
    "Directory",
    "DirectoryError",
    "KeyProblem",
    "KeyRing",
    "PublicKey",
    "SigningKey",
    "build_directory",
    "decode_base64",
    "encode_base64",
    "format_time",
    "load_directory",
    "parse_time",
    "utcnow",
]

#: The hub's party id: the owner of the hub's keys and the source/destination of hub messages.
HUB: Final = "hub"

#: `ed25519:` then 1–64 letters, digits, `_` or `-` (generated ids are 10 random alphanumerics).
KEY_ID_PATTERN: Final = re.compile(r"ed25519:[A-Za-z0-9_-]{1,64}")
#: A party id (node id or "hub"): what may appear as owner, source or destination.
PARTY_ID_PATTERN: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")

_KID_ALPHABET = string.ascii_letters + string.digits
_KID_LENGTH = 10


# ---------------------------------------------------------------------------------------------
# Wire helpers: time and base64
# ---------------------------------------------------------------------------------------------

_TIME_RE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z")


def utcnow() -> datetime:
    return datetime.now(UTC)


def format_time(dt: datetime) -> str:
    """RFC 3339, UTC, milliseconds, "Z": `2025-03-01T12:00:00.123Z` (sub-ms digits are dropped)."""
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise ValueError("naive datetime: federation times must be timezone-aware UTC")
    dt = dt.astimezone(UTC)
    return (
        f"{dt.year:04d}-{dt.month:02d}-{dt.day:02d}T{dt.hour:02d}:{dt.minute:02d}:"
        f"{dt.second:02d}.{dt.microsecond // 1000:03d}Z"
    )


def parse_time(text: str) -> datetime:
    """The inverse of `format_time`; any other spelling (offsets, no millis) is a ValueError."""
    if type(text) is not str or _TIME_RE.fullmatch(text) is None:
        raise ValueError(f"not a UTC time like 2025-03-01T12:00:00.123Z: {text!r:.60}")
    return datetime.fromisoformat(text)  # 3.11+: "Z" gives tzinfo=UTC; bad dates raise


def encode_base64(raw: bytes) -> str:
    """Unpadded standard base64, as Matrix writes keys and signatures."""
    return base64.b64encode(raw).decode("ascii").rstrip("=")


def decode_base64(text: str) -> bytes:
    """Strict inverse of `encode_base64`: one spelling per byte string, so no malleable forms."""
    if type(text) is not str or len(text) % 4 == 1:
        raise ValueError("not unpadded base64")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not unpadded base64") from None
    if encode_base64(raw) != text:  # padding given, or non-zero trailing bits
        raise ValueError("not canonical unpadded base64")
    return raw


def _aware_utc(name: str, value: datetime) -> datetime:
    if not isinstance(value, datetime) or value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
    return value.astimezone(UTC)


def _check_key_id(key_id: str) -> None:
    if type(key_id) is not str or KEY_ID_PATTERN.fullmatch(key_id) is None:
        raise ValueError(f"a key id looks like ed25519:<kid>, not {key_id!r:.80}")


def _check_party(name: str, party: str) -> None:
    if type(party) is not str or PARTY_ID_PATTERN.fullmatch(party) is None:
        raise ValueError(f"{name} must be a party id (letters, digits, . _ -), not {party!r:.80}")


# ---------------------------------------------------------------------------------------------
# Keys
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SigningKey:
    """A party's private Ed25519 key and its id. Equal when key id and public key are equal."""

    key_id: str
    private_key: Ed25519PrivateKey = field(repr=False)
    public_bytes: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        _check_key_id(self.key_id)
        if not isinstance(self.private_key, Ed25519PrivateKey):
            raise TypeError("private_key must be a cryptography Ed25519PrivateKey")
        object.__setattr__(self, "public_bytes", self.private_key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls, key_id: str | None = None) -> SigningKey:
        if key_id is None:
            key_id = "ed25519:" + "".join(secrets.choice(_KID_ALPHABET) for _ in range(_KID_LENGTH))
        return cls(key_id, Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, key_id: str, raw: bytes) -> SigningKey:
        """From the raw 32-byte seed (RFC 8032 "secret key")."""
        if len(raw) != 32:
            raise ValueError("an Ed25519 private key is 32 bytes")
        return cls(key_id, Ed25519PrivateKey.from_private_bytes(bytes(raw)))

    def private_bytes(self) -> bytes:
        """The raw 32-byte seed. Handle with care: whoever holds it speaks for the owner."""
        return self.private_key.private_bytes_raw()

    def sign(self, data: bytes) -> bytes:
        return self.private_key.sign(data)

    def to_text(self) -> str:
        """One line for a key file: `ed25519:<kid> <unpadded base64 seed>`."""
        return f"{self.key_id} {encode_base64(self.private_bytes())}"

    @classmethod
    def from_text(cls, text: str) -> SigningKey:
        parts = text.strip().split()
        if len(parts) != 2:
            raise ValueError("a key file holds one line: ed25519:<kid> <base64 seed>")
        return cls.from_private_bytes(parts[0], decode_base64(parts[1]))

    def public_key(self, owner: str, *, valid_from: datetime, valid_until: datetime) -> PublicKey:
        """The public half, as published in the key directory."""
        return PublicKey(owner, self.key_id, self.public_bytes, valid_from, valid_until)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SigningKey):
            return NotImplemented
        return self.key_id == other.key_id and self.public_bytes == other.public_bytes

    def __hash__(self) -> int:
        return hash((self.key_id, self.public_bytes))


@dataclass(frozen=True)
class PublicKey:
    """A published verification key with its validity window (aware datetimes, stored in UTC)."""

    owner: str
    key_id: str
    public: bytes = field(repr=False)
    valid_from: datetime
    valid_until: datetime
    revoked_at: datetime | None = None
    _verifier: VerifyKey = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_party("owner", self.owner)
        _check_key_id(self.key_id)
        if type(self.public) is not bytes or len(self.public) != 32:
            raise ValueError("an Ed25519 public key is 32 raw bytes")
        object.__setattr__(self, "valid_from", _aware_utc("valid_from", self.valid_from))
        object.__setattr__(self, "valid_until", _aware_utc("valid_until", self.valid_until))
        if self.valid_until <= self.valid_from:
            raise ValueError("valid_until must be after valid_from")
        if self.revoked_at is not None:
            object.__setattr__(self, "revoked_at", _aware_utc("revoked_at", self.revoked_at))
        Ed25519PublicKey.from_public_bytes(self.public)  # refuses a malformed key up front
        object.__setattr__(self, "_verifier", VerifyKey(self.public))

    def verify(self, signature: bytes, data: bytes) -> bool:
        """Checked with libsodium (PyNaCl), ~40 % cheaper than OpenSSL here, and the hub checks
        every message; signing stays with `cryptography`, so every signature crosses two
        independent implementations."""
        if len(signature) != 64:
            return False
        try:
            self._verifier.verify(data, signature)
        except BadSignatureError:
            return False
        return True


#: `KeyProblem.reason` values for key lookups.
KEY_PROBLEMS: Final = (
    "unknown_key",
    "expired_key",
    "revoked_key",
    "not_yet_valid_key",
    "revoked_owner",
)


class KeyProblem(Exception):
    """A key cannot be used; `reason` is one of `KEY_PROBLEMS` (envelope rejections reuse it)."""

    def __init__(self, reason: str, detail: str = "", *, owner: str | None = None,
                 key_id: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.owner = owner
        self.key_id = key_id


@dataclass
class _Entry:
    key: PublicKey
    added_at: datetime


class KeyRing:
    """The keys this process trusts, safe to share between threads.

    `trust_horizon` bounds how long a key is trusted after it was last added or refreshed by a
    directory (None: no bound, for tests and pinned keys only).
    """

    def __init__(self, keys: Iterable[PublicKey] = (), *,
                 trust_horizon: timedelta | None = timedelta(days=7),
                 now: datetime | None = None) -> None:
        self.trust_horizon = trust_horizon
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], _Entry] = {}
        self._revoked_keys: dict[tuple[str, str], datetime] = {}
        self._revoked_owners: dict[str, datetime] = {}
        self._directory_version: int | None = None
        for key in keys:
            self.add(key, now=now)

    @property
    def directory_version(self) -> int | None:
        """The version of the last directory applied (None before the first)."""
        return self._directory_version

    def add(self, key: PublicKey, *, now: datetime | None = None) -> None:
        """Add or replace the (owner, key_id) entry; the trust horizon restarts at `now`."""
        added_at = _aware_utc("now", now) if now is not None else utcnow()
        with self._lock:
            self._add_locked(key, added_at)

    def _add_locked(self, key: PublicKey, added_at: datetime) -> None:
        ident = (key.owner, key.key_id)
        if key.revoked_at is not None:
            self._revoke_key_locked(ident, key.revoked_at)
        known = self._revoked_keys.get(ident)
        if known is not None and key.revoked_at != known:
            key = replace(key, revoked_at=known)
        self._entries[ident] = _Entry(key, added_at)

    def revoke_key(self, owner: str, key_id: str, at: datetime) -> None:
        """Refuse this key from now on, even if it is (re)added later."""
        at = _aware_utc("at", at)
        with self._lock:
            self._revoke_key_locked((owner, key_id), at)

    def _revoke_key_locked(self, ident: tuple[str, str], at: datetime) -> None:
        earliest = min(at, self._revoked_keys.get(ident, at))
        self._revoked_keys[ident] = earliest
        entry = self._entries.get(ident)
        if entry is not None and entry.key.revoked_at != earliest:
            entry.key = replace(entry.key, revoked_at=earliest)

    def revoke_owner(self, owner: str, at: datetime) -> None:
        """Refuse every key of `owner`, present and future."""
        at = _aware_utc("at", at)
        with self._lock:
            self._revoked_owners[owner] = min(at, self._revoked_owners.get(owner, at))

    def revoked_owners(self) -> dict[str, datetime]:
        with self._lock:
            return dict(self._revoked_owners)

    def lookup(self, owner: str, key_id: str, *, at: datetime) -> PublicKey:
        """The key to verify a message `owner` signed at `at`, or `KeyProblem` saying why not."""
        with self._lock:
            if owner in self._revoked_owners:
                raise KeyProblem("revoked_owner", f"{owner} is revoked", owner=owner, key_id=key_id)
            entry = self._entries.get((owner, key_id))
        if entry is None:
            raise KeyProblem("unknown_key", f"no key {key_id} for {owner}", owner=owner,
                             key_id=key_id)
        key = entry.key
        if key.revoked_at is not None:
            raise KeyProblem("revoked_key", f"{key_id} of {owner} is revoked", owner=owner,
                             key_id=key_id)
        if at < key.valid_from:
            raise KeyProblem("not_yet_valid_key", f"{key_id} of {owner} is valid from "
                             f"{format_time(key.valid_from)}", owner=owner, key_id=key_id)
        until = key.valid_until
        if self.trust_horizon is not None:
            until = min(until, entry.added_at + self.trust_horizon)
        if at >= until:
            raise KeyProblem("expired_key", f"{key_id} of {owner} is not trusted after "
                             f"{format_time(until)}", owner=owner, key_id=key_id)
        return key

    def keys(self, owner: str | None = None) -> list[PublicKey]:
        with self._lock:
            found = [e.key for (o, _), e in self._entries.items() if owner is None or o == owner]
        return sorted(found, key=lambda k: (k.owner, k.key_id))

    def apply_directory(self, directory: Directory, now: datetime | None = None) -> bool:
        """Add the directory's keys and revocations; False (and no change) for an older version.

        Reapplying the current version refreshes the trust horizon of the keys it lists. Keys the
        directory no longer lists are kept until their own expiry or the horizon.
        """
        added_at = _aware_utc("now", now) if now is not None else utcnow()
        with self._lock:
            if self._directory_version is not None and directory.version < self._directory_version:
                return False
            for key in directory.keys:
                self._add_locked(key, added_at)
            for owner, at in directory.revoked_owners.items():
                self._revoked_owners[owner] = min(at, self._revoked_owners.get(owner, at))
            self._directory_version = directory.version
        return True


# ---------------------------------------------------------------------------------------------
# The hub's signed key directory
# ---------------------------------------------------------------------------------------------

#: `DirectoryError.reason` values beyond `KEY_PROBLEMS` (which apply to the hub's own key).
DIRECTORY_PROBLEMS: Final = ("malformed", "bad_signature", "stale_directory", "clock_skew")


class DirectoryError(KeyProblem):
    """A key directory that must not be applied; `reason` is in `DIRECTORY_PROBLEMS` or, when the
    hub key that signed it is not usable, in `KEY_PROBLEMS`."""


@dataclass(frozen=True)
class Directory:
    version: int
    issued_at: datetime
    keys: tuple[PublicKey, ...]
    revoked_owners: Mapping[str, datetime] = field(default_factory=dict)


_DIRECTORY_FIELDS = frozenset({"version", "issued_at", "keys", "revoked_owners", "signatures"})
_KEY_FIELDS = frozenset({"owner", "key_id", "public", "valid_from", "valid_until", "revoked_at"})
_REVOKED_OWNER_FIELDS = frozenset({"owner", "revoked_at"})


def _key_to_json(key: PublicKey) -> dict[str, Any]:
    return {
        "owner": key.owner,
        "key_id": key.key_id,
        "public": encode_base64(key.public),
        "valid_from": format_time(key.valid_from),
        "valid_until": format_time(key.valid_until),
        "revoked_at": None if key.revoked_at is None else format_time(key.revoked_at),
    }


def build_directory(keys: Iterable[PublicKey], *, hub_key: SigningKey, now: datetime,
                    version: int, revoked_owners: Mapping[str, datetime] | None = None) -> bytes:
    """The hub's key directory as signed canonical JSON; `version` must grow with each change."""
    if type(version) is not int or not 0 <= version <= MAX_SAFE_INTEGER:
        raise ValueError("version must be a non-negative integer")
    listed = sorted(keys, key=lambda k: (k.owner, k.key_id))
    idents = [(k.owner, k.key_id) for k in listed]
    if len(set(idents)) != len(idents):
        raise ValueError("a key directory lists each (owner, key_id) once")
    body: dict[str, Any] = {
        "version": version,
        "issued_at": format_time(now),
        "keys": [_key_to_json(k) for k in listed],
        "revoked_owners": [
            {"owner": owner, "revoked_at": format_time(at)}
            for owner, at in sorted((revoked_owners or {}).items())
        ],
    }
    signature = hub_key.sign(encode_canonical(body))
    body["signatures"] = {HUB: {hub_key.key_id: encode_base64(signature)}}
    return encode_decoded(body)


def load_directory(raw: bytes, *, hub_keys: Iterable[PublicKey], now: datetime,
                   max_age: timedelta = timedelta(days=1),
                   skew: timedelta = timedelta(minutes=5)) -> Directory:
    """Check and read a directory fetched from the hub.

    The signature must come from one of `hub_keys` (pinned by the node operator, owner "hub"),
    valid at `issued_at`; any hub signature by a pinned key that fails to verify rejects the
    directory. Issued more than `max_age` ago: "stale_directory"; more than `skew` in the
    future: "clock_skew". Raises `DirectoryError` (a `KeyProblem`) or `CanonicalJsonError`.
    """
    obj = decode_strict(raw)
    if obj.keys() != _DIRECTORY_FIELDS:
        raise DirectoryError("malformed", f"directory fields must be {sorted(_DIRECTORY_FIELDS)}")
    try:
        version = obj["version"]
        if type(version) is not int or version < 0:
            raise ValueError("version must be a non-negative integer")
        issued_at = parse_time(obj["issued_at"])
        keys = tuple(_key_from_json(item) for item in _list(obj["keys"], "keys"))
        revoked = {}
        for item in _list(obj["revoked_owners"], "revoked_owners"):
            if type(item) is not dict or item.keys() != _REVOKED_OWNER_FIELDS:
                raise ValueError(f"revoked_owners entries have {sorted(_REVOKED_OWNER_FIELDS)}")
            _check_party("owner", item["owner"])
            revoked[item["owner"]] = parse_time(item["revoked_at"])
        signatures = obj["signatures"]
        hub_signatures = signatures.get(HUB) if type(signatures) is dict else None
        if type(hub_signatures) is not dict or not hub_signatures:
            raise ValueError("no hub signature")
        decoded_signatures = {kid: decode_base64(sig) for kid, sig in hub_signatures.items()}
    except ValueError as error:
        raise DirectoryError("malformed", str(error)) from None

    signed = encode_decoded({k: v for k, v in obj.items() if k != "signatures"})
    pinned = {k.key_id: k for k in hub_keys if k.owner == HUB}
    verified = False
    for kid, signature in decoded_signatures.items():
        hub_key = pinned.get(kid)
        if hub_key is None:
            continue  # e.g. a new hub key this node has not pinned yet
        if hub_key.revoked_at is not None:
            raise DirectoryError("revoked_key", f"hub key {kid} is revoked", owner=HUB, key_id=kid)
        if not hub_key.valid_from <= issued_at < hub_key.valid_until:
            raise DirectoryError("expired_key", f"hub key {kid} is not valid at issued_at",
                                 owner=HUB, key_id=kid)
        if not hub_key.verify(signature, signed):
            raise DirectoryError("bad_signature", f"hub signature by {kid} does not verify",
                                 owner=HUB, key_id=kid)
        verified = True
    if not verified:
        raise DirectoryError("unknown_key", "no signature by a pinned hub key", owner=HUB)
    if now - issued_at > max_age:
        raise DirectoryError("stale_directory", f"issued at {format_time(issued_at)}, older "
                             f"than {max_age}")
    if issued_at - now > skew:
        raise DirectoryError("clock_skew", f"issued at {format_time(issued_at)}, in the future")
    return Directory(version=version, issued_at=issued_at, keys=keys, revoked_owners=revoked)


def _list(value: Any, name: str) -> list[Any]:
    if type(value) is not list:
        raise ValueError(f"{name} must be a list")
    return value


def _key_from_json(item: Any) -> PublicKey:
    if type(item) is not dict or item.keys() != _KEY_FIELDS:
        raise ValueError(f"key entries have exactly {sorted(_KEY_FIELDS)}")
    revoked_at = item["revoked_at"]
    return PublicKey(
        owner=item["owner"],
        key_id=item["key_id"],
        public=decode_base64(item["public"]),
        valid_from=parse_time(item["valid_from"]),
        valid_until=parse_time(item["valid_until"]),
        revoked_at=None if revoked_at is None else parse_time(revoked_at),
    )
