"""Sealing and opening envelopes: every way a message can be refused, and interop with PyNaCl."""

from __future__ import annotations

import base64
import dataclasses
import json
import unicodedata
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nacl.exceptions
import nacl.signing
import pytest

from federation.canonical import decode_strict, encode_canonical
from federation.envelope import (
    REASONS,
    SPECVERSION,
    Envelope,
    Rejected,
    new_id,
    open_envelope,
    seal,
)
from federation.keys import KeyRing, PublicKey, SigningKey, encode_base64, format_time

NOW = datetime(2025, 3, 1, 12, 0, 0, 250_000, tzinfo=UTC)
MS = timedelta(milliseconds=1)
DAY = timedelta(days=1)
SKEW = timedelta(minutes=5)


def public(key: SigningKey, owner: str, *, valid_from: datetime = NOW - DAY,
           valid_until: datetime = NOW + 30 * DAY) -> PublicKey:
    return key.public_key(owner, valid_from=valid_from, valid_until=valid_until)


@pytest.fixture
def node_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def hub_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def ring(node_key: SigningKey, hub_key: SigningKey) -> KeyRing:
    return KeyRing([public(node_key, "node-a"), public(hub_key, "hub")], now=NOW)


@pytest.fixture
def envelope() -> Envelope:
    return Envelope(
        id=new_id(),
        type="partynet.bus.ping.v1",
        source="node-a",
        destination="hub",
        time=NOW,
        tenant="tenant-1",
        sequence=7,
        data={"note": "hello", "n": 3},
    )


@pytest.fixture
def raw(envelope: Envelope, node_key: SigningKey) -> bytes:
    return seal(envelope, node_key)


def open_(raw: bytes, ring: KeyRing, *, me: str = "hub", now: datetime = NOW,
          **kwargs: Any) -> Envelope:
    return open_envelope(raw, keyring=ring, me=me, now=now, **kwargs)


def rejected(raw: bytes, ring: KeyRing, **kwargs: Any) -> Rejected:
    with pytest.raises(Rejected) as caught:
        open_(raw, ring, **kwargs)
    assert caught.value.reason in REASONS
    return caught.value


def rewire(raw: bytes, change: Callable[[dict[str, Any]], object]) -> bytes:
    """Decode the wire, change it, re-encode canonically; signatures are kept as they were."""
    wire = decode_strict(raw)
    change(wire)
    return encode_canonical(wire)


def unsigned_bytes(raw: bytes) -> bytes:
    return encode_canonical({k: v for k, v in decode_strict(raw).items() if k != "signatures"})


# --- the happy path and the wire form -----------------------------------------------------------


def test_reasons_are_exactly_the_documented_ones() -> None:
    assert REASONS == (
        "malformed", "non_canonical", "unknown_type", "schema_violation", "unknown_key",
        "expired_key", "not_yet_valid_key", "revoked_key", "revoked_owner", "bad_signature",
        "wrong_destination", "clock_skew", "tenant_not_owned", "unauthorized_source",
    )
    with pytest.raises(ValueError):
        Rejected("whatever", "no such reason")


def test_round_trip(envelope: Envelope, raw: bytes, ring: KeyRing, node_key: SigningKey) -> None:
    opened = open_(raw, ring)
    expected_time = NOW.replace(microsecond=250_000)  # already millisecond precision
    assert opened == dataclasses.replace(envelope, time=expected_time, key_id=node_key.key_id)


def test_wire_form(envelope: Envelope, raw: bytes, node_key: SigningKey) -> None:
    wire = decode_strict(raw)
    assert encode_canonical(wire) == raw
    assert wire == {
        "specversion": SPECVERSION,
        "id": envelope.id,
        "type": "partynet.bus.ping.v1",
        "source": "node-a",
        "destination": "hub",
        "time": "2025-03-01T12:00:00.250Z",
        "tenant": "tenant-1",
        "sequence": 7,
        "data": {"note": "hello", "n": 3},
        "signatures": {"node-a": {node_key.key_id: wire["signatures"]["node-a"][node_key.key_id]}},
    }
    assert SPECVERSION == "1.0"


def test_tenant_and_sequence_are_omitted_when_none(envelope: Envelope, node_key: SigningKey,
                                                   ring: KeyRing) -> None:
    control = dataclasses.replace(envelope, tenant=None, sequence=None)
    raw = seal(control, node_key)
    assert {"tenant", "sequence"}.isdisjoint(decode_strict(raw))
    opened = open_(raw, ring)
    assert opened.tenant is None and opened.sequence is None


def test_times_are_sent_with_millisecond_precision(envelope: Envelope, node_key: SigningKey,
                                                   ring: KeyRing) -> None:
    precise = dataclasses.replace(envelope, time=NOW + timedelta(microseconds=999))
    assert decode_strict(seal(precise, node_key))["time"] == "2025-03-01T12:00:00.250Z"
    assert open_(seal(precise, node_key), ring).time == NOW


def test_new_ids_are_uuid7_and_sortable() -> None:
    ids = [new_id() for _ in range(50)]
    assert all(uuid.UUID(i).version == 7 and i == i.lower() for i in ids)
    assert len(set(ids)) == 50
    assert ids == sorted(ids)


def test_retransmission_reseals_the_same_id_with_a_new_time(envelope: Envelope, raw: bytes,
                                                            node_key: SigningKey,
                                                            ring: KeyRing) -> None:
    later = dataclasses.replace(envelope, time=NOW + timedelta(minutes=3))
    again = seal(later, node_key)
    assert again != raw
    assert open_(again, ring, now=NOW + timedelta(minutes=3)).id == envelope.id


def test_create_fills_id_and_time() -> None:
    env = Envelope.create("partynet.bus.ack.v1", source="hub", destination="node-a",
                          data={"up_to": 1})
    assert uuid.UUID(env.id).version == 7
    assert abs(env.time - datetime.now(UTC)) < timedelta(seconds=5)
    assert env.tenant is None and env.sequence is None and env.key_id is None


# --- interoperability with PyNaCl --------------------------------------------------------------


def test_pynacl_verifies_what_seal_signed(raw: bytes, node_key: SigningKey) -> None:
    signature = decode_strict(raw)["signatures"]["node-a"][node_key.key_id]
    verify_key = nacl.signing.VerifyKey(node_key.public_bytes)
    padded = signature + "=" * (-len(signature) % 4)
    verify_key.verify(unsigned_bytes(raw), base64.b64decode(padded))  # raises if bad
    with pytest.raises(nacl.exceptions.BadSignatureError):
        verify_key.verify(unsigned_bytes(raw) + b" ", base64.b64decode(padded))


def test_openssl_verifies_what_pynacl_signed(node_key: SigningKey) -> None:
    """The reverse direction with two libraries the project does not use together for one
    signature: PyNaCl signs, `cryptography` (OpenSSL) verifies."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    data = encode_canonical({"a": "日本語", "n": 1})
    signature = nacl.signing.SigningKey(node_key.private_bytes()).sign(data).signature
    verifier = Ed25519PublicKey.from_public_bytes(node_key.public_bytes)
    verifier.verify(signature, data)  # raises if bad
    with pytest.raises(InvalidSignature):
        verifier.verify(signature, data + b" ")


def test_open_envelope_accepts_what_pynacl_signed(node_key: SigningKey, ring: KeyRing) -> None:
    body = {
        "specversion": "1.0", "id": new_id(), "type": "partynet.bus.ack.v1",
        "source": "node-a", "destination": "hub", "time": format_time(NOW),
        "sequence": 1, "data": {"up_to": 12},
    }
    nacl_key = nacl.signing.SigningKey(node_key.private_bytes())  # the same 32-byte seed
    signature = nacl_key.sign(encode_canonical(body)).signature
    body["signatures"] = {"node-a": {node_key.key_id: encode_base64(signature)}}
    opened = open_(json.dumps(body).encode(), ring)  # Python's default layout, not canonical
    assert opened.data == {"up_to": 12} and opened.key_id == node_key.key_id


# --- tampering ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "me"),
    [
        (lambda w: w["data"].update(n=4), "hub"),
        (lambda w: w["data"].pop("note"), "hub"),
        (lambda w: w.update(destination="node-b"), "node-b"),  # re-addressed, opened there
        (lambda w: w.update(time="2025-03-01T12:00:00.251Z"), "hub"),
        (lambda w: w.update(type="partynet.bus.ping.v2"), "hub"),
        (lambda w: w.update(sequence=8), "hub"),
        (lambda w: w.pop("sequence"), "hub"),
        (lambda w: w.update(tenant="tenant-2"), "hub"),
        (lambda w: w.pop("tenant"), "hub"),
        (lambda w: w.update(id=new_id()), "hub"),
    ],
    ids=["data", "data-field-removed", "destination", "time", "type", "sequence",
         "sequence-removed", "tenant", "tenant-removed", "id"],
)
def test_tampering_breaks_the_signature(raw: bytes, ring: KeyRing,
                                        change: Callable[[dict[str, Any]], object],
                                        me: str) -> None:
    error = rejected(rewire(raw, change), ring, me=me)
    assert error.reason == "bad_signature"
    assert error.source == "node-a"


def test_flipping_one_signature_bit_is_caught(raw: bytes, ring: KeyRing,
                                              node_key: SigningKey) -> None:
    def flip(w: dict[str, Any]) -> None:
        sig = w["signatures"]["node-a"][node_key.key_id]
        w["signatures"]["node-a"][node_key.key_id] = ("B" if sig[0] == "A" else "A") + sig[1:]

    assert rejected(rewire(raw, flip), ring).reason == "bad_signature"


def test_changing_the_source_finds_no_key(raw: bytes, ring: KeyRing) -> None:
    def claim_hub(w: dict[str, Any]) -> None:
        w["source"] = "hub"
        w["signatures"] = {"hub": w["signatures"]["node-a"]}

    assert rejected(rewire(raw, claim_hub), ring).reason == "unknown_key"


def test_unicode_nfc_and_nfd_sign_differently(envelope: Envelope, node_key: SigningKey,
                                              ring: KeyRing) -> None:
    nfc = unicodedata.normalize("NFC", "Zoë Café")
    nfd = unicodedata.normalize("NFD", "Zoë Café")
    raw_nfc = seal(dataclasses.replace(envelope, data={"note": nfc}), node_key)
    raw_nfd = seal(dataclasses.replace(envelope, data={"note": nfd}), node_key)
    assert decode_strict(raw_nfc)["signatures"] != decode_strict(raw_nfd)["signatures"]
    assert open_(raw_nfd, ring).data == {"note": nfd}  # kept as sent, not normalised
    # A relay that "helpfully" normalises the text breaks the signature.
    normalised = raw_nfc.replace(nfc.encode(), nfd.encode())
    assert normalised != raw_nfc
    assert rejected(normalised, ring).reason == "bad_signature"


# --- destination and clock -----------------------------------------------------------------------


def test_replay_to_another_destination(raw: bytes, ring: KeyRing) -> None:
    error = rejected(raw, ring, me="node-b")
    assert error.reason == "wrong_destination"
    assert error.envelope_id == decode_strict(raw)["id"] and error.source == "node-a"


@pytest.mark.parametrize("direction", [1, -1], ids=["message-from-future", "message-from-past"])
def test_clock_skew_edges(raw: bytes, ring: KeyRing, direction: int) -> None:
    # `now` is the receiver's clock; the message was signed at NOW.
    open_(raw, ring, now=NOW - direction * (SKEW - MS))
    open_(raw, ring, now=NOW - direction * SKEW)  # exactly the window: still fine
    assert rejected(raw, ring, now=NOW - direction * (SKEW + MS)).reason == "clock_skew"


def test_skew_is_a_parameter(raw: bytes, ring: KeyRing) -> None:
    later = NOW + timedelta(minutes=1)
    open_(raw, ring, now=later)
    assert rejected(raw, ring, now=later, skew=timedelta(seconds=30)).reason == "clock_skew"


def test_replay_much_later_is_refused(raw: bytes, ring: KeyRing) -> None:
    assert rejected(raw, ring, now=NOW + DAY).reason == "clock_skew"


# --- keys ----------------------------------------------------------------------------------------


def test_unknown_key_id(envelope: Envelope, ring: KeyRing) -> None:
    stranger = SigningKey.generate()
    assert rejected(seal(envelope, stranger), ring).reason == "unknown_key"


def test_expired_and_not_yet_valid_keys(envelope: Envelope) -> None:
    old, future = SigningKey.generate(), SigningKey.generate()
    ring = KeyRing([public(old, "node-a", valid_from=NOW - 2 * DAY, valid_until=NOW),
                    public(future, "node-a", valid_from=NOW + MS)], now=NOW)
    assert rejected(seal(envelope, old), ring).reason == "expired_key"
    assert rejected(seal(envelope, future), ring).reason == "not_yet_valid_key"


def test_keys_past_the_trust_horizon_expire(envelope: Envelope, node_key: SigningKey) -> None:
    ring = KeyRing([public(node_key, "node-a", valid_until=NOW + 365 * DAY)],
                   now=NOW - 7 * DAY)  # learnt a week ago and not refreshed since
    assert rejected(seal(envelope, node_key), ring).reason == "expired_key"


def test_revoked_key(raw: bytes, ring: KeyRing, node_key: SigningKey) -> None:
    ring.revoke_key("node-a", node_key.key_id, NOW + timedelta(minutes=1))
    error = rejected(raw, ring)  # even a message signed before the revocation time
    assert error.reason == "revoked_key"


def test_revoked_owner(raw: bytes, ring: KeyRing) -> None:
    ring.revoke_owner("node-a", NOW)
    assert rejected(raw, ring).reason == "revoked_owner"


def test_rotation_with_overlap(envelope: Envelope) -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    switch_over = NOW + timedelta(hours=1)
    ring = KeyRing([public(old, "node-a", valid_until=switch_over),
                    public(new, "node-a", valid_from=NOW - timedelta(hours=1))], now=NOW)
    open_(seal(envelope, old), ring)
    open_(seal(envelope, new), ring)
    after = dataclasses.replace(envelope, time=switch_over)
    assert rejected(seal(after, old), ring, now=switch_over).reason == "expired_key"
    assert open_(seal(after, new), ring, now=switch_over).key_id == new.key_id


def test_signature_by_another_owners_key(envelope: Envelope, ring: KeyRing) -> None:
    """Documented outcomes: node-b's key id under node-a's name is "unknown_key"; node-b signing
    under its own name leaves the message unsigned by its source ("bad_signature"); a key id
    that happens to match node-a's but holds node-b's key fails to verify ("bad_signature")."""
    node_b = SigningKey.generate()
    ring.add(public(node_b, "node-b"), now=NOW)
    assert rejected(seal(envelope, node_b), ring).reason == "unknown_key"

    def sign_as_b(w: dict[str, Any]) -> None:
        w["signatures"] = {"node-b": w["signatures"]["node-a"]}

    assert rejected(rewire(seal(envelope, node_b), sign_as_b), ring).reason == "bad_signature"
    a_kid = ring.keys("node-a")[0].key_id
    twin = SigningKey.generate(a_kid)  # same key id, different key
    assert rejected(seal(envelope, twin), ring).reason == "bad_signature"


# --- signatures map ----------------------------------------------------------------------------


def test_missing_signatures(raw: bytes, ring: KeyRing) -> None:
    assert rejected(rewire(raw, lambda w: w.pop("signatures")), ring).reason == "bad_signature"
    assert rejected(rewire(raw, lambda w: w.update(signatures={})), ring).reason \
        == "bad_signature"


def test_other_parties_signatures_are_ignored(raw: bytes, ring: KeyRing,
                                              hub_key: SigningKey) -> None:
    def countersign(w: dict[str, Any]) -> None:
        w["signatures"]["hub"] = {hub_key.key_id: encode_base64(hub_key.sign(b"anything"))}
        w["signatures"]["node-z"] = {"ed25519:junk": "not even base64!"}

    assert open_(rewire(raw, countersign), ring).source == "node-a"


@pytest.mark.parametrize(
    "signatures",
    [
        [],
        {"node-a": "abc"},
        {"node-a": {}},
        {"node-a": {"ed25519:one": "AAAA", "ed25519:two": "AAAA"}},
        {"node-a": {"not-a-key-id": "AAAA"}},
        {"node-a": {"ed25519:abc": "AA=="}},
        {"node-a": {"ed25519:abc": 12}},
    ],
)
def test_malformed_signatures(raw: bytes, ring: KeyRing, signatures: Any) -> None:
    assert rejected(rewire(raw, lambda w: w.update(signatures=signatures)), ring).reason \
        == "malformed"


def test_signature_of_the_wrong_length(raw: bytes, ring: KeyRing, node_key: SigningKey) -> None:
    short = {"node-a": {node_key.key_id: encode_base64(b"\x00" * 63)}}
    assert rejected(rewire(raw, lambda w: w.update(signatures=short)), ring).reason \
        == "bad_signature"


# --- what the bytes may and may not look like -------------------------------------------------


def test_any_key_order_and_whitespace_is_accepted(raw: bytes, ring: KeyRing) -> None:
    wire = decode_strict(raw)
    shuffled = dict(reversed(list(wire.items())))
    pretty = json.dumps(shuffled, indent=4, ensure_ascii=True).encode()
    assert pretty != raw
    assert open_(pretty, ring) == open_(raw, ring)


@pytest.mark.parametrize(
    "mangle",
    [
        lambda r: r.replace(b'"n":3', b'"n":3.0'),
        lambda r: r.replace(b'"n":3', b'"n":3e0'),
        lambda r: r.replace(b'"n":3', b'"n":NaN'),
        lambda r: r.replace(b'"n":3', b'"n":9007199254740992'),
        lambda r: r.replace(b'"n":3', b'"n":3,"n":3'),
        lambda r: r.replace(b'"note":"hello"', b'"note":"hel\xfflo"'),
        lambda r: r.replace(b'"note":"hello"', b'"note":"\\ud800"'),
    ],
    ids=["float", "exponent", "nan", "big-int", "duplicate-key", "invalid-utf8",
         "lone-surrogate"],
)
def test_non_canonical_wire(raw: bytes, ring: KeyRing, mangle: Callable[[bytes], bytes]) -> None:
    mangled = mangle(raw)
    assert mangled != raw
    assert rejected(mangled, ring).reason == "non_canonical"


@pytest.mark.parametrize("wire", [b"", b"not json", b"[]", b'"x"', b"{"])
def test_not_json_is_malformed(ring: KeyRing, wire: bytes) -> None:
    assert rejected(wire, ring).reason == "malformed"


@pytest.mark.parametrize(
    "change",
    [
        lambda w: w.pop("id"),
        lambda w: w.pop("time"),
        lambda w: w.pop("data"),
        lambda w: w.pop("specversion"),
        lambda w: w.update(specversion="1.1"),
        lambda w: w.update(extension="x"),
        lambda w: w.update(id=str(uuid.uuid4())),
        lambda w: w.update(id=w["id"].upper()),
        lambda w: w.update(type="Ping"),
        lambda w: w.update(type="partynet.bus.ping"),
        lambda w: w.update(source=""),
        lambda w: w.update(source=["node-a"]),
        lambda w: w.update(destination=None),
        lambda w: w.update(time="2025-03-01T12:00:00Z"),
        lambda w: w.update(time=1740830400),
        lambda w: w.update(tenant=None),
        lambda w: w.update(tenant=""),
        lambda w: w.update(tenant="a\nb"),
        lambda w: w.update(sequence=None),
        lambda w: w.update(sequence=0),
        lambda w: w.update(sequence=True),
        lambda w: w.update(sequence="7"),
        lambda w: w.update(data=[]),
    ],
)
def test_malformed_fields(raw: bytes, ring: KeyRing,
                          change: Callable[[dict[str, Any]], object]) -> None:
    assert rejected(rewire(raw, change), ring).reason == "malformed"


def test_rejections_carry_what_the_message_claims(raw: bytes, ring: KeyRing) -> None:
    error = rejected(rewire(raw, lambda w: w.update(sequence=0)), ring)
    assert error.envelope_id == decode_strict(raw)["id"]
    assert error.source == "node-a" and error.message_type == "partynet.bus.ping.v1"
    assert error.detail and error.reason in str(error)
    bare = rejected(b"[]", ring)
    assert bare.envelope_id is None and bare.source is None


# --- types and schemas ---------------------------------------------------------------------------


def test_unknown_type(envelope: Envelope, node_key: SigningKey, ring: KeyRing) -> None:
    odd = dataclasses.replace(envelope, type="partynet.test.nothing.v1", data={"x": 3})
    raw = seal(odd, node_key, validate=False)
    error = rejected(raw, ring)
    assert error.reason == "unknown_type" and error.message_type == "partynet.test.nothing.v1"
    assert open_(raw, ring, validate=False).data == {"x": 3}


def test_schema_violation(envelope: Envelope, node_key: SigningKey, ring: KeyRing) -> None:
    ack = dataclasses.replace(envelope, type="partynet.bus.ack.v1", data={"up_to": -1})
    assert rejected(seal(ack, node_key, validate=False), ring).reason == "schema_violation"
    extra = dataclasses.replace(envelope, data={"note": "x", "surprise": True})
    error = rejected(seal(extra, node_key, validate=False), ring)
    assert error.reason == "schema_violation" and "surprise" in error.detail


def test_returned_data_is_what_the_schema_loaded(envelope: Envelope, node_key: SigningKey,
                                                 ring: KeyRing) -> None:
    heartbeat = dataclasses.replace(envelope, type="partynet.node.heartbeat.v1", data={
        "version": "1.2.3", "backlog": 0, "lag_seconds": 0, "tenants": []})
    assert open_(seal(heartbeat, node_key), ring).data == heartbeat.data


# --- seal refuses to send what a receiver would refuse -------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"type": "partynet.nope.v1"},
        {"type": "not a type"},
        {"data": {"n": "three"}},
        {"data": {"n": 1.5}},
        {"id": "123"},
        {"source": "node a"},
        {"tenant": ""},
        {"sequence": 0},
        {"time": datetime(2025, 3, 1)},
    ],
)
def test_seal_refuses_bad_envelopes(envelope: Envelope, node_key: SigningKey,
                                    change: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        seal(dataclasses.replace(envelope, **change), node_key)


def test_seal_without_validation_still_insists_on_canonical_data(envelope: Envelope,
                                                                 node_key: SigningKey) -> None:
    with pytest.raises(ValueError, match=r"\$\.data\.n"):
        seal(dataclasses.replace(envelope, data={"n": 2**60}), node_key, validate=False)


# --- the example in docs/protocol.md is real ---------------------------------------------------


def test_the_documented_example_opens() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "protocol.md").read_text("utf-8")
    block = doc.split("<!-- sealed-example -->", 1)[1].split("```json\n", 1)[1]
    raw = block.split("\n```", 1)[0].encode()
    demo = SigningKey.from_private_bytes("ed25519:Zk3vQ9aL2m", bytes(range(32)))  # documented
    assert encode_base64(demo.public_bytes) in doc
    sent = datetime(2025, 3, 1, 12, 0, 0, 123_000, tzinfo=UTC)
    ring = KeyRing([public(demo, "node-a", valid_from=sent - DAY)], now=sent)
    opened = open_(raw, ring, now=sent)
    assert opened.type == "partynet.node.heartbeat.v1" and opened.sequence == 42
    assert encode_canonical(decode_strict(raw)) == raw
