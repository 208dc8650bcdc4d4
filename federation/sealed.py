"""End-to-end encryption of transfer steps between nodes: sealed boxes, signed by the origin.

The hub routes a member's transfer between two nodes but must not read it. A step travels as
an **inner envelope**: an ordinary signed envelope (`federation.envelope.seal`) of type
`partynet.transfer.sealed.v1`, from the origin node to the destination node, whose data holds
the step's metadata and `sealed`, a libsodium sealed box (X25519 + XSalsa20-Poly1305, anonymous
sender) of the canonical JSON of the step body. The origin's Ed25519 signature covers the
ciphertext, so a sealed box is anonymous but the step is not: the hub, which carries the inner
envelope nested in its own routed message, can neither read the body nor forge or alter a step.

Keys. The box is sealed to the destination node's X25519 key *derived* from its Ed25519 signing
key (libsodium's `crypto_sign_ed25519_pk_to_curve25519`, the birational map of RFC 7748 §4.1),
so there is no second key pair to generate, enroll, rotate and distribute: the key directory
that already tells every node every other node's Ed25519 key tells it where to seal. Using one
key pair for Ed25519 signatures and an X25519 KEM is proven jointly secure (Thormarker, "On
using the same key pair for Ed25519 and an X25519 based KEM", 2021) and is what libsodium's
conversion functions are for. What it costs: a box sealed to a key the destination has since
replaced (re-enrollment with a new key) cannot be opened; the inner data names the key id the
box is for, so that failure is explicit (`SealError`) and the origin reissues. No forward
secrecy: whoever steals a node's key file can open the boxes sealed to it that they captured.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Final

from nacl.bindings import (
    crypto_sign_ed25519_pk_to_curve25519,
    crypto_sign_ed25519_sk_to_curve25519,
)
from nacl.exceptions import CryptoError
from nacl.public import PrivateKey as CurvePrivateKey
from nacl.public import PublicKey as CurvePublicKey
from nacl.public import SealedBox

from federation.canonical import CanonicalJsonError, decode_strict, encode_canonical
from federation.envelope import Envelope, Rejected, open_envelope, seal
from federation.keys import KeyRing, SigningKey, decode_base64, encode_base64

__all__ = [
    "INNER",
    "INNER_SKEW",
    "SealError",
    "open_body",
    "open_sealed",
    "seal_for",
    "seal_step",
    "verify_step",
    "x25519_private",
    "x25519_public",
]

#: The type of a transfer's inner envelope (registered in `federation.messages.transfers`);
#: floating certificates seal their steps the same way under their own registered type
#: (`federation.messages.floating.SEALED`), passed as `inner_type`.
INNER: Final = "partynet.transfer.sealed.v1"
#: The inner envelope is signed once, when the step is decided; it may sit in outboxes and
#: queues for days before it is opened, so its time is not held to the bus's clock window
#: (the key must still have been valid at that time, and not be revoked).
INNER_SKEW: Final = dt.timedelta(days=3650)


class SealError(Exception):
    """A sealed box or an inner envelope that cannot be used: wrong key, tampered, malformed."""


# --- the primitive --------------------------------------------------------------------------


def x25519_public(ed25519_public: bytes) -> bytes:
    """The X25519 public key of a node, from its 32-byte Ed25519 public key."""
    if type(ed25519_public) is not bytes or len(ed25519_public) != 32:
        raise SealError("an Ed25519 public key is 32 bytes")
    try:
        return crypto_sign_ed25519_pk_to_curve25519(ed25519_public)
    except (CryptoError, RuntimeError, ValueError) as exc:  # not a point of the curve
        raise SealError(f"not a usable Ed25519 public key: {exc}") from None


def x25519_private(key: SigningKey) -> bytes:
    """The X25519 private key matching `x25519_public(key.public_bytes)`."""
    return crypto_sign_ed25519_sk_to_curve25519(key.private_bytes() + key.public_bytes)


def seal_for(ed25519_public: bytes, plaintext: bytes) -> bytes:
    """A sealed box of `plaintext` that only the holder of that Ed25519 key's seed can open."""
    return SealedBox(CurvePublicKey(x25519_public(ed25519_public))).encrypt(plaintext)


def open_sealed(key: SigningKey, box: bytes) -> bytes:
    """Open a box sealed with `seal_for(key.public_bytes, ...)`; SealError if it was sealed for
    another key or altered on the way (Poly1305 authenticates every byte)."""
    try:
        return SealedBox(CurvePrivateKey(x25519_private(key))).decrypt(box)
    except CryptoError:
        raise SealError("the sealed box does not open with this key (another recipient, or "
                        "altered on the way)") from None


# --- a transfer step as a signed inner envelope ---------------------------------------------


def seal_step(*, signing_key: SigningKey, source: str, destination: str, tenant: str,
              recipient_key_id: str, recipient_public: bytes, meta: dict[str, Any],
              body: dict[str, Any], now: dt.datetime | None = None,
              inner_type: str = INNER) -> str:
    """The origin's signed inner envelope for one step, as canonical JSON text.

    `meta` is what the hub may see (uid, step, attempt, tenants); `body` (the step's whole
    body, dossier included) is sealed to `recipient_public`, together with the metadata, so a
    box cannot be cut from one step and pasted into another.
    """
    try:
        plaintext = encode_canonical({"meta": meta, "body": body})
    except CanonicalJsonError as exc:
        raise SealError(f"the step body has no canonical JSON form: {exc}") from None
    box = seal_for(recipient_public, plaintext)
    data = {**meta, "recipient_key": recipient_key_id, "sealed": encode_base64(box)}
    envelope = Envelope.create(inner_type, source=source, destination=destination, data=data,
                               tenant=tenant, time=now)
    return seal(envelope, signing_key).decode("utf-8")


def verify_step(text: str, *, keyring: KeyRing, me: str, now: dt.datetime,
                inner_type: str = INNER) -> Envelope:
    """The inner envelope, checked: of `inner_type`, addressed to `me`, signed by its source
    with a key valid at its time and not revoked, data as the schema says. SealError
    otherwise."""
    try:
        envelope = open_envelope(text.encode("utf-8"), keyring=keyring, me=me, now=now,
                                 skew=INNER_SKEW)
    except Rejected as rejected:
        raise SealError(f"inner envelope refused: {rejected.reason}: {rejected.detail}"
                        ) from None
    if envelope.type != inner_type:
        raise SealError(f"inner envelope of type {envelope.type}, not {inner_type}")
    return envelope


def open_body(envelope: Envelope, key: SigningKey) -> dict[str, Any]:
    """The step body of a verified inner envelope, opened with our key.

    The sealed metadata must equal the signed metadata (uid, step, attempt, tenants)."""
    data = envelope.data
    if data["recipient_key"] != key.key_id:
        raise SealError(f"sealed for {data['recipient_key']}, this node signs with "
                        f"{key.key_id}: the origin must resend for the current key")
    try:
        box = decode_base64(data["sealed"])
    except ValueError:
        raise SealError("sealed is not unpadded base64") from None
    plaintext = open_sealed(key, box)
    try:
        content = decode_strict(plaintext)
    except CanonicalJsonError as exc:
        raise SealError(f"the sealed content is not JSON: {exc}") from None
    meta = {k: v for k, v in data.items() if k not in ("recipient_key", "sealed")}
    if type(content.get("body")) is not dict or content.get("meta") != meta:
        raise SealError("the sealed content does not match the signed metadata")
    return content["body"]
