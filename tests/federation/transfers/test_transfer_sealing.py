"""Sealed boxes for a node and the origin-signed inner envelope of a transfer step
(federation/sealed.py): only the destination opens, nobody alters or forges, and the X25519 key
derived from a node's Ed25519 key is the one an independent implementation derives."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from nacl.public import PrivateKey as NaclPrivateKey
from nacl.public import SealedBox

from federation.canonical import encode_canonical
from federation.keys import KeyRing, SigningKey, decode_base64, encode_base64, utcnow
from federation.sealed import (
    INNER_SKEW,
    SealError,
    open_body,
    open_sealed,
    seal_for,
    seal_step,
    verify_step,
    x25519_private,
    x25519_public,
)

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
DOSSIER = {"name": "张三", "national_id": "110101199003071234", "phone": "13800000000"}
META = {"uid": "019a4f3e-7c2b-7d10-8a11-2b3c4d5e6f70", "step": "letter", "attempt": 1,
        "from_tenant": "dadukou", "to_tenant": "tongguan"}


@pytest.fixture()
def keys() -> dict[str, SigningKey]:
    return {name: SigningKey.generate() for name in ("origin", "destination", "other")}


def _ring(keys: dict[str, SigningKey], **owners: str) -> KeyRing:
    ring = KeyRing(trust_horizon=None)
    for owner, name in owners.items():
        ring.add(keys[name].public_key(owner.replace("_", "-"),
                                       valid_from=NOW - dt.timedelta(days=1),
                                       valid_until=NOW + dt.timedelta(days=365)))
    return ring


def _step(keys: dict[str, SigningKey], body: dict | None = None, **overrides) -> str:
    args = dict(signing_key=keys["origin"], source="node-a", destination="node-b",
                tenant="tongguan", recipient_key_id=keys["destination"].key_id,
                recipient_public=keys["destination"].public_bytes, meta=META,
                body=body or {"attempt": 1, "dossier": DOSSIER}, now=NOW)
    return seal_step(**{**args, **overrides})


# --- the primitive ------------------------------------------------------------------------------


def test_a_sealed_box_round_trips_for_its_recipient(keys):
    box = seal_for(keys["destination"].public_bytes, "党员档案".encode())
    assert open_sealed(keys["destination"], box) == "党员档案".encode()


def test_another_node_cannot_open_it(keys):
    box = seal_for(keys["destination"].public_bytes, b"secret")
    with pytest.raises(SealError):
        open_sealed(keys["other"], box)
    with pytest.raises(SealError):
        open_sealed(keys["origin"], box)


def test_every_altered_byte_is_detected(keys):
    box = seal_for(keys["destination"].public_bytes, b"the member's dossier")
    for position in (0, 31, 32, len(box) // 2, len(box) - 1):
        tampered = bytearray(box)
        tampered[position] ^= 0x01
        with pytest.raises(SealError):
            open_sealed(keys["destination"], bytes(tampered))
    with pytest.raises(SealError):
        open_sealed(keys["destination"], box[:-1])


def test_boxes_are_randomized_and_carry_no_plaintext(keys):
    first = seal_for(keys["destination"].public_bytes, b"110101199003071234")
    second = seal_for(keys["destination"].public_bytes, b"110101199003071234")
    assert first != second and b"110101199003071234" not in first
    assert len(first) == 18 + 48  # ephemeral key 32 + MAC 16 + plaintext


def test_the_derived_x25519_key_agrees_with_the_cryptography_package(keys):
    """Interop: the X25519 private key libsodium derives from an Ed25519 seed is the clamped
    first half of SHA-512(seed) (RFC 8032 §5.1.5); `cryptography`'s independent X25519 turns it
    into the same public key as libsodium's birational map of the Ed25519 public key, and a
    Diffie-Hellman between the two implementations agrees."""
    key = keys["destination"]
    scalar = bytearray(hashlib.sha512(key.private_bytes()).digest()[:32])
    scalar[0] &= 248
    scalar[31] &= 127
    scalar[31] |= 64
    assert x25519_private(key) == bytes(scalar)
    ours = X25519PrivateKey.from_private_bytes(x25519_private(key))
    assert ours.public_key().public_bytes_raw() == x25519_public(key.public_bytes)

    ephemeral = NaclPrivateKey.generate()
    theirs = X25519PublicKey.from_public_bytes(bytes(ephemeral.public_key))
    from nacl.bindings import crypto_scalarmult

    assert ours.exchange(theirs) == crypto_scalarmult(bytes(ephemeral),
                                                      x25519_public(key.public_bytes))


def test_a_box_sealed_by_plain_libsodium_opens(keys):
    """A sender using only PyNaCl and the published X25519 key interoperates with us."""
    from nacl.public import PublicKey

    box = SealedBox(PublicKey(x25519_public(keys["destination"].public_bytes))).encrypt(b"hi")
    assert open_sealed(keys["destination"], box) == b"hi"


def test_a_malformed_public_key_is_refused():
    with pytest.raises(SealError):
        x25519_public(b"\x00" * 31)


# --- the inner envelope -------------------------------------------------------------------------


def test_the_destination_verifies_the_origin_and_opens_the_body(keys):
    text = _step(keys)
    inner = verify_step(text, keyring=_ring(keys, node_a="origin"), me="node-b", now=NOW)
    assert inner.source == "node-a" and inner.tenant == "tongguan"
    assert {k: inner.data[k] for k in META} == META
    assert open_body(inner, keys["destination"]) == {"attempt": 1, "dossier": DOSSIER}


def test_the_inner_envelope_shows_no_member_data(keys):
    text = _step(keys)
    assert "张三" not in text and DOSSIER["national_id"] not in text
    assert DOSSIER["phone"] not in text


def test_it_stays_valid_long_after_it_was_signed(keys):
    """Signed when the step was decided; a node offline for weeks still accepts it."""
    later = NOW + dt.timedelta(days=60)
    inner = verify_step(_step(keys), keyring=_ring(keys, node_a="origin"), me="node-b", now=later)
    assert open_body(inner, keys["destination"])["attempt"] == 1
    assert dt.timedelta(days=365) <= INNER_SKEW


def test_the_hub_cannot_alter_the_metadata_or_the_box(keys):
    ring = _ring(keys, node_a="origin")
    obj = json.loads(_step(keys))
    for field, value in (("attempt", 9), ("to_tenant", "jiulongpo"), ("step", "cancelled")):
        changed = {**obj, "data": {**obj["data"], field: value}}
        with pytest.raises(SealError, match="bad_signature"):
            verify_step(encode_canonical(changed).decode(), keyring=ring, me="node-b", now=NOW)
    box = bytearray(decode_base64(obj["data"]["sealed"]))
    box[40] ^= 1
    changed = {**obj, "data": {**obj["data"], "sealed": encode_base64(bytes(box))}}
    with pytest.raises(SealError, match="bad_signature"):
        verify_step(encode_canonical(changed).decode(), keyring=ring, me="node-b", now=NOW)


def test_the_hub_cannot_forge_a_step_in_the_origins_name(keys):
    """Signed by anyone but the origin (the hub's own key, say): refused."""
    forged = _step(keys, signing_key=keys["other"])
    with pytest.raises(SealError):
        verify_step(forged, keyring=_ring(keys, node_a="origin"), me="node-b", now=NOW)


def test_a_step_for_another_node_is_refused(keys):
    with pytest.raises(SealError, match="wrong_destination"):
        verify_step(_step(keys), keyring=_ring(keys, node_a="origin"), me="node-c", now=NOW)


def test_a_revoked_origin_key_is_refused(keys):
    ring = _ring(keys, node_a="origin")
    ring.revoke_key("node-a", keys["origin"].key_id, NOW)
    with pytest.raises(SealError, match="revoked_key"):
        verify_step(_step(keys), keyring=ring, me="node-b", now=NOW)


def test_a_box_for_an_old_key_says_so(keys):
    inner = verify_step(_step(keys), keyring=_ring(keys, node_a="origin"), me="node-b", now=NOW)
    with pytest.raises(SealError, match="resend for the current key"):
        open_body(inner, keys["other"])


def test_a_box_cut_from_another_step_is_refused(keys):
    """The origin's own box for the letter, pasted by the hub into a signed `cancelled` of the
    same transfer: the signature is fine (a real step), the sealed metadata do not match."""
    letter = json.loads(_step(keys))
    cancel_meta = {**META, "step": "cancelled"}
    cancelled = _step(keys, meta=cancel_meta, body={"attempt": 1})
    # The hub cannot re-sign, so build what an origin bug would: sign a mismatched pair.
    from federation.envelope import Envelope, seal

    data = {**cancel_meta, "recipient_key": keys["destination"].key_id,
            "sealed": letter["data"]["sealed"]}
    mixed = seal(Envelope.create("partynet.transfer.sealed.v1", source="node-a",
                                 destination="node-b", data=data, tenant="tongguan", time=NOW),
                 keys["origin"]).decode()
    ring = _ring(keys, node_a="origin")
    assert open_body(verify_step(cancelled, keyring=ring, me="node-b", now=NOW),
                     keys["destination"]) == {"attempt": 1}
    with pytest.raises(SealError, match="does not match"):
        open_body(verify_step(mixed, keyring=ring, me="node-b", now=NOW), keys["destination"])


def test_a_body_without_canonical_json_is_refused_at_the_origin(keys):
    with pytest.raises(SealError, match="canonical"):
        _step(keys, body={"fee": 1.5})


def test_it_is_not_sealed_with_the_bus_clock(keys):
    """A sanity check of the fixture: `utcnow` is far from NOW, and that is fine."""
    inner = verify_step(_step(keys), keyring=_ring(keys, node_a="origin"), me="node-b",
                        now=utcnow())
    assert inner.time == NOW
