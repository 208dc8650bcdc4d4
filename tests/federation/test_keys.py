"""Ed25519 keys, the key ring's trust rule, and the hub's signed key directory."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone

import nacl.signing
import pytest

from federation.canonical import CanonicalJsonError, decode_strict, encode_canonical
from federation.keys import (
    KEY_ID_PATTERN,
    KEY_PROBLEMS,
    DirectoryError,
    KeyProblem,
    KeyRing,
    PublicKey,
    SigningKey,
    build_directory,
    decode_base64,
    encode_base64,
    format_time,
    load_directory,
    parse_time,
)

NOW = datetime(2025, 3, 1, 12, 0, 0, 0, tzinfo=UTC)
MS = timedelta(milliseconds=1)
DAY = timedelta(days=1)

# RFC 8032, section 7.1, TEST 1 and TEST 2: (secret key, public key, message, signature).
RFC8032 = [
    (
        "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
        "",
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bac"
        "c61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    ),
    (
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
        "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
        "72",
        "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e"
        "458f3613d0f11d8c387b2eaeb4302aeeb00d291612bb0c00",
    ),
]


def public(key: SigningKey, owner: str = "node-a", *, valid_from: datetime = NOW - DAY,
           valid_until: datetime = NOW + 30 * DAY) -> PublicKey:
    return key.public_key(owner, valid_from=valid_from, valid_until=valid_until)


# --- keys --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("secret", "public_hex", "message", "signature"), RFC8032,
                         ids=["rfc8032-test1", "rfc8032-test2"])
def test_rfc8032_vectors(secret: str, public_hex: str, message: str, signature: str) -> None:
    key = SigningKey.from_private_bytes("ed25519:rfc8032", bytes.fromhex(secret))
    assert key.public_bytes == bytes.fromhex(public_hex)
    assert key.sign(bytes.fromhex(message)) == bytes.fromhex(signature)
    assert public(key).verify(bytes.fromhex(signature), bytes.fromhex(message))
    assert key.private_bytes() == bytes.fromhex(secret)


def test_generated_key_ids_are_random_and_well_formed() -> None:
    ids = {SigningKey.generate().key_id for _ in range(20)}
    assert len(ids) == 20
    for key_id in ids:
        assert KEY_ID_PATTERN.fullmatch(key_id)
        kid = key_id.removeprefix("ed25519:")
        assert len(kid) >= 8 and kid.isalnum()


def test_sign_and_verify_and_pynacl_agrees() -> None:
    key = SigningKey.generate()
    assert len(key.public_bytes) == 32 and len(key.private_bytes()) == 32
    signature = key.sign(b"hello")
    assert public(key).verify(signature, b"hello")
    assert not public(key).verify(signature, b"hellO")
    assert not public(key).verify(signature[:-1], b"hello")
    assert not public(key).verify(b"", b"hello")
    nacl.signing.VerifyKey(key.public_bytes).verify(b"hello", signature)  # raises if bad
    nacl_key = nacl.signing.SigningKey(key.private_bytes())
    assert nacl_key.sign(b"hello").signature == signature  # Ed25519 is deterministic


def test_text_form_round_trips_and_hides_nothing_it_should_not() -> None:
    key = SigningKey.generate()
    text = key.to_text()
    assert text == f"{key.key_id} {encode_base64(key.private_bytes())}"
    assert "=" not in text
    again = SigningKey.from_text(text + "\n")
    assert again == key and hash(again) == hash(key)
    assert again.private_bytes() == key.private_bytes()
    assert encode_base64(key.private_bytes()) not in repr(key)
    assert key != SigningKey.generate(key.key_id)


@pytest.mark.parametrize("text", ["", "ed25519:abc", "ed25519:abc AAAA", "rsa:abc " + "A" * 43,
                                  "ed25519:abc " + "A" * 43 + "=", "a b c"])
def test_bad_key_text_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        SigningKey.from_text(text)


def test_key_ids_are_checked() -> None:
    for bad in ("abc", "ed25519:", "ed25519:a b", "ED25519:abc", "ed25519:" + "a" * 65):
        with pytest.raises(ValueError):
            SigningKey.generate(bad)
    with pytest.raises(ValueError):
        SigningKey.from_private_bytes("ed25519:abc", b"short")


def test_public_key_checks_its_fields() -> None:
    key = SigningKey.generate()
    with pytest.raises(ValueError, match="aware"):
        key.public_key("node-a", valid_from=datetime(2025, 1, 1), valid_until=NOW)
    with pytest.raises(ValueError, match="after"):
        key.public_key("node-a", valid_from=NOW, valid_until=NOW)
    with pytest.raises(ValueError, match="32"):
        PublicKey("node-a", key.key_id, b"x" * 31, NOW, NOW + DAY)
    with pytest.raises(ValueError, match="party id"):
        key.public_key("node a", valid_from=NOW, valid_until=NOW + DAY)


def test_public_key_times_are_normalised_to_utc() -> None:
    plus8 = timezone(timedelta(hours=8))
    pk = public(SigningKey.generate(), valid_from=NOW.astimezone(plus8))
    assert pk.valid_from == NOW and pk.valid_from.tzinfo is UTC


# --- time and base64 on the wire ---------------------------------------------------------------


def test_format_and_parse_time() -> None:
    dt = datetime(2025, 3, 1, 12, 0, 5, 123456, tzinfo=UTC)
    assert format_time(dt) == "2025-03-01T12:00:05.123Z"
    assert parse_time("2025-03-01T12:00:05.123Z") == dt.replace(microsecond=123000)
    assert parse_time("2025-03-01T12:00:05.123Z").tzinfo == UTC
    beijing = dt.astimezone(timezone(timedelta(hours=8)))
    assert format_time(beijing) == "2025-03-01T12:00:05.123Z"
    assert format_time(datetime(33, 1, 2, tzinfo=UTC)) == "0033-01-02T00:00:00.000Z"
    with pytest.raises(ValueError):
        format_time(datetime(2025, 3, 1))


@pytest.mark.parametrize(
    "text",
    ["2025-03-01T12:00:05Z", "2025-03-01T12:00:05.123+00:00", "2025-03-01T12:00:05.123z",
     "2025-03-01 12:00:05.123Z", "2025-03-01T12:00:05.123456Z", "2025-02-30T12:00:05.123Z",
     "2025-03-01T24:00:00.000Z", "2025-03-01T12:00:05.123Z\n", 1740830405],
)
def test_parse_time_is_strict(text: object) -> None:
    with pytest.raises(ValueError):
        parse_time(text)  # type: ignore[arg-type]


def test_base64_is_unpadded_standard_and_strict() -> None:
    for raw in (b"", b"\x00", b"\xfb\xff", b"abc", bytes(range(64))):
        assert decode_base64(encode_base64(raw)) == raw
        assert "=" not in encode_base64(raw)
    for bad in ("AA==", "A", "AB", "-_8", "AA A", "ä", "AAF"):  # "AB"/"AAF": stray bits
        with pytest.raises(ValueError):
            decode_base64(bad)


# --- the key ring ------------------------------------------------------------------------------


def test_lookup_finds_a_valid_key() -> None:
    key = SigningKey.generate()
    ring = KeyRing([public(key)], now=NOW)
    assert ring.lookup("node-a", key.key_id, at=NOW).public == key.public_bytes


def reason(ring: KeyRing, owner: str, key_id: str, at: datetime) -> str:
    with pytest.raises(KeyProblem) as caught:
        ring.lookup(owner, key_id, at=at)
    assert caught.value.reason in KEY_PROBLEMS
    return caught.value.reason


def test_unknown_key_and_unknown_owner() -> None:
    key = SigningKey.generate()
    ring = KeyRing([public(key)], now=NOW)
    assert reason(ring, "node-a", "ed25519:nope", NOW) == "unknown_key"
    assert reason(ring, "node-b", key.key_id, NOW) == "unknown_key"


def test_validity_window_edges() -> None:
    key = SigningKey.generate()
    ring = KeyRing([public(key, valid_from=NOW, valid_until=NOW + DAY)], now=NOW)
    assert reason(ring, "node-a", key.key_id, NOW - MS) == "not_yet_valid_key"
    ring.lookup("node-a", key.key_id, at=NOW)
    ring.lookup("node-a", key.key_id, at=NOW + DAY - MS)
    assert reason(ring, "node-a", key.key_id, NOW + DAY) == "expired_key"


def test_trust_horizon_counts_from_when_the_key_was_added() -> None:
    key = SigningKey.generate()
    pk = public(key, valid_until=NOW + 365 * DAY)
    ring = KeyRing(trust_horizon=timedelta(days=7))
    ring.add(pk, now=NOW)
    ring.lookup("node-a", key.key_id, at=NOW + 7 * DAY - MS)
    assert reason(ring, "node-a", key.key_id, NOW + 7 * DAY) == "expired_key"
    ring.add(pk, now=NOW + 6 * DAY)  # refreshed, e.g. by a newer directory
    ring.lookup("node-a", key.key_id, at=NOW + 10 * DAY)
    assert KeyRing([pk], trust_horizon=None, now=NOW).lookup(
        "node-a", key.key_id, at=NOW + 300 * DAY) == pk


def test_rotation_with_overlap() -> None:
    old, new = SigningKey.generate(), SigningKey.generate()
    ring = KeyRing([public(old, valid_until=NOW + DAY), public(new, valid_from=NOW)], now=NOW)
    during = NOW + DAY / 2
    assert ring.lookup("node-a", old.key_id, at=during).public == old.public_bytes
    assert ring.lookup("node-a", new.key_id, at=during).public == new.public_bytes
    assert reason(ring, "node-a", old.key_id, NOW + DAY) == "expired_key"
    ring.lookup("node-a", new.key_id, at=NOW + DAY)
    assert [k.key_id for k in ring.keys("node-a")] == sorted([old.key_id, new.key_id])


def test_revoked_key_is_refused_whatever_the_message_time() -> None:
    key, other = SigningKey.generate(), SigningKey.generate()
    ring = KeyRing([public(key), public(other)], now=NOW)
    ring.revoke_key("node-a", key.key_id, NOW + DAY)  # revocation effective tomorrow...
    assert reason(ring, "node-a", key.key_id, NOW - DAY / 2) == "revoked_key"  # ...yet refused
    ring.lookup("node-a", other.key_id, at=NOW)
    ring.add(public(key), now=NOW)  # re-adding does not revive it
    assert reason(ring, "node-a", key.key_id, NOW) == "revoked_key"
    assert ring.keys("node-a")[[k.key_id for k in ring.keys("node-a")].index(key.key_id)] \
        .revoked_at == NOW + DAY


def test_revocation_known_before_the_key_still_applies() -> None:
    key = SigningKey.generate()
    ring = KeyRing()
    ring.revoke_key("node-a", key.key_id, NOW)
    ring.add(public(key), now=NOW)
    assert reason(ring, "node-a", key.key_id, NOW) == "revoked_key"


def test_revoked_owner_refuses_every_key_including_future_ones() -> None:
    key = SigningKey.generate()
    ring = KeyRing([public(key), public(SigningKey.generate(), "node-b")], now=NOW)
    ring.revoke_owner("node-a", NOW)
    assert reason(ring, "node-a", key.key_id, NOW - DAY / 2) == "revoked_owner"
    assert reason(ring, "node-a", "ed25519:unknown1", NOW) == "revoked_owner"
    fresh = SigningKey.generate()
    ring.add(public(fresh), now=NOW)
    assert reason(ring, "node-a", fresh.key_id, NOW) == "revoked_owner"
    assert ring.revoked_owners() == {"node-a": NOW}
    assert [k.owner for k in ring.keys("node-b")] == ["node-b"]


def test_add_replaces_the_same_owner_and_key_id() -> None:
    key = SigningKey.generate()
    ring = KeyRing([public(key, valid_until=NOW + DAY)], now=NOW)
    ring.add(public(key, valid_until=NOW + 2 * DAY), now=NOW)
    assert len(ring.keys()) == 1
    ring.lookup("node-a", key.key_id, at=NOW + DAY)


def test_key_ring_is_thread_safe() -> None:
    keys = [SigningKey.generate() for _ in range(4)]
    ring = KeyRing(now=NOW)
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(300):
                key = keys[(n + i) % len(keys)]
                ring.add(public(key, owner=f"node-{n}"), now=NOW)
                ring.lookup(f"node-{n}", key.key_id, at=NOW)
                if i % 50 == 0:
                    ring.revoke_key(f"node-{n}", "ed25519:gone", NOW)
                ring.keys()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(ring.keys()) == 16


# --- the key directory -------------------------------------------------------------------------


@pytest.fixture
def hub_key() -> SigningKey:
    return SigningKey.generate()


@pytest.fixture
def hub_public(hub_key: SigningKey) -> PublicKey:
    return public(hub_key, "hub", valid_from=NOW - 365 * DAY, valid_until=NOW + 365 * DAY)


def test_directory_round_trip(hub_key: SigningKey, hub_public: PublicKey) -> None:
    a, b = SigningKey.generate(), SigningKey.generate()
    keys = [public(b, "node-b"), public(a, "node-a")]
    raw = build_directory(keys, hub_key=hub_key, now=NOW, version=3,
                          revoked_owners={"node-x": NOW - DAY})
    assert encode_canonical(decode_strict(raw)) == raw
    wire = decode_strict(raw)
    assert set(wire) == {"version", "issued_at", "keys", "revoked_owners", "signatures"}
    assert wire["keys"][0] == {
        "owner": "node-a", "key_id": a.key_id, "public": encode_base64(a.public_bytes),
        "valid_from": format_time(NOW - DAY), "valid_until": format_time(NOW + 30 * DAY),
        "revoked_at": None,
    }
    assert list(wire["signatures"]) == ["hub"]
    assert list(wire["signatures"]["hub"]) == [hub_key.key_id]

    directory = load_directory(raw, hub_keys=[hub_public], now=NOW + timedelta(hours=1))
    assert directory.version == 3 and directory.issued_at == NOW
    assert sorted(directory.keys, key=lambda k: k.owner) == sorted(keys, key=lambda k: k.owner)
    assert dict(directory.revoked_owners) == {"node-x": NOW - DAY}

    ring = KeyRing()
    assert ring.apply_directory(directory, now=NOW)
    assert ring.directory_version == 3
    assert ring.lookup("node-a", a.key_id, at=NOW).public == a.public_bytes
    assert reason(ring, "node-x", "ed25519:whatever", NOW) == "revoked_owner"


def directory_problem(raw: bytes, hub_keys: list[PublicKey], now: datetime = NOW) -> str:
    with pytest.raises(DirectoryError) as caught:
        load_directory(raw, hub_keys=hub_keys, now=now)
    assert isinstance(caught.value, KeyProblem)
    return caught.value.reason


def test_tampered_directory_is_refused(hub_key: SigningKey, hub_public: PublicKey) -> None:
    rogue = SigningKey.generate()
    raw = build_directory([public(SigningKey.generate())], hub_key=hub_key, now=NOW, version=1)
    wire = decode_strict(raw)
    wire["keys"][0]["public"] = encode_base64(rogue.public_bytes)  # swap in an attacker's key
    assert directory_problem(encode_canonical(wire), [hub_public]) == "bad_signature"


def test_directory_signed_by_an_unpinned_key_is_refused(hub_public: PublicKey) -> None:
    impostor = SigningKey.generate()
    raw = build_directory([], hub_key=impostor, now=NOW, version=1)
    assert directory_problem(raw, [hub_public]) == "unknown_key"
    # Same key id as the pinned hub key but a different key: the signature does not verify.
    raw = build_directory([], hub_key=SigningKey.generate(hub_public.key_id), now=NOW, version=1)
    assert directory_problem(raw, [hub_public]) == "bad_signature"
    # Pinned keys of anyone but the hub do not count.
    raw = build_directory([], hub_key=impostor, now=NOW, version=1)
    assert directory_problem(raw, [public(impostor, "node-a")]) == "unknown_key"


def test_extra_signature_by_a_new_hub_key_is_ignored(hub_key: SigningKey,
                                                    hub_public: PublicKey) -> None:
    raw = build_directory([], hub_key=hub_key, now=NOW, version=1)
    wire = decode_strict(raw)
    unsigned = {k: v for k, v in wire.items() if k != "signatures"}
    new_hub = SigningKey.generate()
    wire["signatures"]["hub"][new_hub.key_id] = encode_base64(
        new_hub.sign(encode_canonical(unsigned)))
    assert load_directory(encode_canonical(wire), hub_keys=[hub_public], now=NOW).version == 1


def test_stale_and_future_directories_are_refused(hub_key: SigningKey,
                                                  hub_public: PublicKey) -> None:
    raw = build_directory([], hub_key=hub_key, now=NOW, version=1)
    load_directory(raw, hub_keys=[hub_public], now=NOW + DAY)
    assert directory_problem(raw, [hub_public], now=NOW + DAY + MS) == "stale_directory"
    with pytest.raises(DirectoryError):
        load_directory(raw, hub_keys=[hub_public], now=NOW + 2 * timedelta(hours=1),
                       max_age=timedelta(hours=1))
    assert directory_problem(raw, [hub_public], now=NOW - timedelta(minutes=6)) == "clock_skew"


def test_directory_by_a_revoked_or_expired_hub_key_is_refused(hub_key: SigningKey,
                                                             hub_public: PublicKey) -> None:
    raw = build_directory([], hub_key=hub_key, now=NOW, version=1)
    revoked = PublicKey("hub", hub_key.key_id, hub_key.public_bytes, NOW - DAY, NOW + DAY,
                        revoked_at=NOW)
    assert directory_problem(raw, [revoked]) == "revoked_key"
    expired = public(hub_key, "hub", valid_from=NOW - 2 * DAY, valid_until=NOW)
    assert directory_problem(raw, [expired]) == "expired_key"


def test_malformed_and_non_canonical_directories(hub_key: SigningKey,
                                                 hub_public: PublicKey) -> None:
    raw = build_directory([public(SigningKey.generate())], hub_key=hub_key, now=NOW, version=1)
    wire = decode_strict(raw)
    for mutate in (
        lambda w: w.pop("version"),
        lambda w: w.update(extra=1),
        lambda w: w.update(version=-1),
        lambda w: w.update(issued_at="yesterday"),
        lambda w: w["keys"][0].update(public="not base64!"),
        lambda w: w["keys"][0].update(owner="no spaces allowed"),
        lambda w: w["keys"][0].pop("revoked_at"),
        lambda w: w.update(revoked_owners=[{"owner": "node-a"}]),
        lambda w: w.update(signatures={}),
        lambda w: w.update(signatures={"hub": {"ed25519:abc": "!!"}}),
    ):
        broken = decode_strict(raw)
        mutate(broken)
        assert directory_problem(encode_canonical(broken), [hub_public]) == "malformed"
    with pytest.raises(CanonicalJsonError):
        load_directory(raw.replace(b'"version":1', b'"version":1.0'), hub_keys=[hub_public],
                       now=NOW)
    assert wire  # the untouched original still loads
    load_directory(raw, hub_keys=[hub_public], now=NOW)


def test_older_directory_is_ignored_no_rollback(hub_key: SigningKey,
                                               hub_public: PublicKey) -> None:
    old_key, new_key = SigningKey.generate(), SigningKey.generate()
    ring = KeyRing()
    v5 = load_directory(build_directory([public(new_key)], hub_key=hub_key, now=NOW, version=5,
                                        revoked_owners={"node-z": NOW}),
                        hub_keys=[hub_public], now=NOW)
    v4 = load_directory(build_directory([public(old_key)], hub_key=hub_key, now=NOW, version=4),
                        hub_keys=[hub_public], now=NOW)
    assert ring.apply_directory(v5, now=NOW)
    assert not ring.apply_directory(v4, now=NOW)
    assert ring.directory_version == 5
    assert reason(ring, "node-a", old_key.key_id, NOW) == "unknown_key"
    assert reason(ring, "node-z", "ed25519:any", NOW) == "revoked_owner"
    # The same version again is applied: it refreshes the trust horizon of what it lists.
    assert ring.apply_directory(v5, now=NOW + 6 * DAY)
    ring.lookup("node-a", new_key.key_id, at=NOW + 10 * DAY)


def test_directory_revocations_are_applied(hub_key: SigningKey, hub_public: PublicKey) -> None:
    key = SigningKey.generate()
    ring = KeyRing([public(key)], now=NOW)
    revoked = PublicKey("node-a", key.key_id, key.public_bytes, NOW - DAY, NOW + DAY,
                        revoked_at=NOW)
    raw = build_directory([revoked], hub_key=hub_key, now=NOW, version=1,
                          revoked_owners={"node-b": NOW})
    ring.apply_directory(load_directory(raw, hub_keys=[hub_public], now=NOW), now=NOW)
    assert reason(ring, "node-a", key.key_id, NOW - DAY / 2) == "revoked_key"
    assert reason(ring, "node-b", "ed25519:any", NOW) == "revoked_owner"
    # A later directory that forgets the revocation does not undo it.
    raw = build_directory([public(key)], hub_key=hub_key, now=NOW, version=2)
    ring.apply_directory(load_directory(raw, hub_keys=[hub_public], now=NOW), now=NOW)
    assert reason(ring, "node-a", key.key_id, NOW) == "revoked_key"
    assert reason(ring, "node-b", "ed25519:any", NOW) == "revoked_owner"


def test_build_directory_refuses_duplicates_and_bad_versions(hub_key: SigningKey) -> None:
    key = public(SigningKey.generate())
    with pytest.raises(ValueError, match="once"):
        build_directory([key, key], hub_key=hub_key, now=NOW, version=1)
    for version in (-1, True, 2**53):
        with pytest.raises(ValueError, match="version"):
            build_directory([], hub_key=hub_key, now=NOW, version=version)
