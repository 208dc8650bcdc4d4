"""Behavioural tests for shared.identity (national IDs, PII encryption, lookup hashes)."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from datetime import date

import pytest

from shared.identity import (
    IdentityHasher,
    InvalidNationalId,
    PiiCipher,
    PiiDecryptError,
    birth_date,
    gender,
    generate_key_b64,
    mask_national_id,
    normalize_national_id,
)

KNOWN_ID = "11010519491231002X"  # the GB 11643-1999 worked example
KNOWN_LEGACY = "110105491231002"  # the same person's pre-1999 15-digit number


def reference_check_char(first17: str) -> str:
    """Independent ISO 7064 MOD 11-2: weight_i = 2**(18 - i) mod 11 (i = 1..17), and the check
    value c is the one making (sum + c) ≡ 1 (mod 11); 10 is written X."""
    assert len(first17) == 17 and first17.isascii() and first17.isdigit()
    total = sum(int(d) * pow(2, 18 - i, 11) for i, d in enumerate(first17, start=1))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def make_id(region: str, born: str, sequence: str) -> str:
    first17 = region + born + sequence
    return first17 + reference_check_char(first17)


def test_reference_check_char_agrees_with_the_standard_example() -> None:
    assert make_id("110105", "19491231", "002") == KNOWN_ID


# --- normalize_national_id: valid ids -------------------------------------------------------

VALID_PARTS = [
    ("110101", "19900307", "123"),
    ("110101", "19900307", "002"),  # check character X
    ("500104", "19850815", "001"),
    ("500104", "19850815", "009"),  # check character X
    ("340702", "20000229", "456"),  # leap day
    ("340702", "20000229", "001"),  # check character X
    ("340702", "19000101", "000"),  # earliest accepted date
    ("820000", "20201231", "999"),  # Macao
]


@pytest.mark.parametrize(("region", "born", "sequence"), VALID_PARTS)
def test_valid_18_digit_ids_are_returned_unchanged(region: str, born: str, sequence: str) -> None:
    national_id = make_id(region, born, sequence)
    assert normalize_national_id(national_id, today=date(2024, 6, 1)) == national_id


def test_vectors_include_ids_ending_in_x() -> None:
    assert sum(make_id(*parts).endswith("X") for parts in VALID_PARTS) >= 3


@pytest.mark.parametrize(
    "national_id", [KNOWN_ID, "11010119900307002X", "50010419850815009X", "34070220000229001X"]
)
def test_known_ids_ending_in_x_are_valid(national_id: str) -> None:
    assert normalize_national_id(national_id) == national_id


@pytest.mark.parametrize(
    "raw", ["11010519491231002x", " 11010519491231002x\n", "\t11010519491231002X  "]
)
def test_lowercase_x_and_surrounding_whitespace_are_normalized(raw: str) -> None:
    assert normalize_national_id(raw) == KNOWN_ID


def test_birth_on_today_is_accepted() -> None:
    national_id = make_id("110101", "20200101", "123")
    assert normalize_national_id(national_id, today=date(2020, 1, 1)) == national_id


# --- normalize_national_id: legacy 15-digit form --------------------------------------------


@pytest.mark.parametrize(
    ("legacy", "expected"),
    [
        (KNOWN_LEGACY, KNOWN_ID),
        ("130503670401001", "130503196704010016"),
        ("500104850815123", make_id("500104", "19850815", "123")),
    ],
)
def test_legacy_15_digit_ids_are_converted(legacy: str, expected: str) -> None:
    assert normalize_national_id(legacy) == expected


def test_legacy_id_gets_century_19() -> None:
    assert birth_date(normalize_national_id("340702000101001")) == date(1900, 1, 1)


@pytest.mark.parametrize(
    ("legacy", "reason"),
    [
        ("990105491231002", "region"),
        ("110105490230002", "birth-date"),
        ("110105491331002", "birth-date"),
        ("11010549123100X", "format"),
    ],
)
def test_invalid_legacy_ids_are_rejected(legacy: str, reason: str) -> None:
    with pytest.raises(InvalidNationalId) as excinfo:
        normalize_national_id(legacy)
    assert excinfo.value.reason == reason


# --- normalize_national_id: rejections ------------------------------------------------------


@pytest.mark.parametrize("wrong", sorted(set("0123456789X") - {KNOWN_ID[-1]}))
def test_every_wrong_check_character_is_rejected(wrong: str) -> None:
    with pytest.raises(InvalidNationalId) as excinfo:
        normalize_national_id(KNOWN_ID[:17] + wrong)
    assert excinfo.value.reason == "check-digit"
    assert str(excinfo.value) == "The check digit does not match."


def test_wrong_lowercase_check_x_is_rejected_as_check_digit() -> None:
    national_id = make_id("110101", "19900307", "123")
    assert not national_id.endswith("X")
    with pytest.raises(InvalidNationalId) as excinfo:
        normalize_national_id(national_id[:17] + "x")
    assert excinfo.value.reason == "check-digit"


@pytest.mark.parametrize(
    "born",
    [
        "19900230",  # Feb 30
        "19000229",  # 1900 is not a leap year
        "19901301",  # month 13
        "19900001",  # month 0
        "19900100",  # day 0
        "19900431",  # Apr 31
        "18991231",  # before 1900
    ],
)
def test_impossible_birth_dates_are_rejected(born: str) -> None:
    with pytest.raises(InvalidNationalId) as excinfo:
        normalize_national_id(make_id("110101", born, "123"), today=date(2024, 1, 1))
    assert excinfo.value.reason == "birth-date"


def test_future_birth_date_is_rejected() -> None:
    national_id = make_id("110101", "20200102", "123")
    with pytest.raises(InvalidNationalId) as excinfo:
        normalize_national_id(national_id, today=date(2020, 1, 1))
    assert excinfo.value.reason == "birth-date"
    assert normalize_national_id(national_id, today=date(2020, 1, 2)) == national_id


def test_future_birth_date_is_rejected_against_the_real_today() -> None:
    next_year = date.today().year + 1
    with pytest.raises(InvalidNationalId) as excinfo:
        normalize_national_id(make_id("110101", f"{next_year}0101", "123"))
    assert excinfo.value.reason == "birth-date"


@pytest.mark.parametrize("region", ["990101", "000000", "100101", "200101", "720101", "910101"])
def test_unknown_region_codes_are_rejected(region: str) -> None:
    with pytest.raises(InvalidNationalId) as excinfo:
        normalize_national_id(make_id(region, "19900307", "123"))
    assert excinfo.value.reason == "region"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "   ",
        "1234",
        KNOWN_ID[:17],  # 17 characters
        KNOWN_ID + "0",  # 19 characters
        KNOWN_LEGACY[:14],  # 14 digits
        "1101054912310021",  # 16 digits
        "11010519491231002A",  # letter as check character
        "1101051949123100XX",  # X not only at the end
        "X1010519491231002X",
        "11010519491231 002X",  # inner whitespace
        "11010519491231-02X",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits
    ],
)
def test_malformed_input_is_rejected_as_format(raw: str) -> None:
    with pytest.raises(InvalidNationalId) as excinfo:
        normalize_national_id(raw)
    assert excinfo.value.reason == "format"


def test_invalid_national_id_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="check digit"):
        normalize_national_id(KNOWN_ID[:17] + "0")


# --- birth_date, gender, mask ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("national_id", "born", "sex"),
    [
        (KNOWN_ID, date(1949, 12, 31), "female"),
        (make_id("500104", "19850815", "001"), date(1985, 8, 15), "male"),
        (make_id("340702", "20000229", "456"), date(2000, 2, 29), "female"),
        (make_id("110101", "19900307", "124"), date(1990, 3, 7), "female"),
        (make_id("110101", "19900307", "127"), date(1990, 3, 7), "male"),
    ],
)
def test_birth_date_and_gender_are_extracted(national_id: str, born: date, sex: str) -> None:
    assert birth_date(national_id) == born
    assert gender(national_id) == sex


@pytest.mark.parametrize(
    ("national_id", "masked"),
    [
        (KNOWN_ID, "110***********002X"),
        ("130503196704010016", "130***********0016"),
    ],
)
def test_mask_shows_only_first_three_and_last_four(national_id: str, masked: str) -> None:
    assert mask_national_id(national_id) == masked
    assert len(masked) == 18


@pytest.mark.parametrize("raw", [KNOWN_LEGACY, "11010519491231002x", " " + KNOWN_ID, "abc"])
def test_helpers_refuse_unnormalized_ids(raw: str) -> None:
    for helper in (mask_national_id, birth_date, gender):
        with pytest.raises(InvalidNationalId) as excinfo:
            helper(raw)
        assert excinfo.value.reason == "format"


# --- PiiCipher ------------------------------------------------------------------------------

KEY_A = bytes(range(32))
KEY_B = bytes(range(100, 132))


@pytest.mark.parametrize("plaintext", [KNOWN_ID, "", "张三 · 党员", "x" * 10_000])
def test_cipher_round_trip(plaintext: str) -> None:
    cipher = PiiCipher(KEY_A)
    token = cipher.encrypt(plaintext)
    assert token.startswith("v1.")
    assert token.isascii()
    assert plaintext not in token or plaintext == ""
    assert cipher.decrypt(token) == plaintext
    assert PiiCipher(KEY_A).decrypt(token) == plaintext


def test_cipher_token_is_compact() -> None:
    token = PiiCipher(KEY_A).encrypt(KNOWN_ID)
    # 3 prefix + base64 of 12 nonce + 18 text + 16 tag = 46 bytes -> 62 chars without padding.
    assert len(token) == 3 + 62
    assert "=" not in token


def test_encryption_uses_a_random_nonce() -> None:
    cipher = PiiCipher(KEY_A)
    tokens = {cipher.encrypt(KNOWN_ID) for _ in range(20)}
    assert len(tokens) == 20
    nonces = {base64.urlsafe_b64decode(t[3:] + "==")[:12] for t in tokens}
    assert len(nonces) == 20


def _flip_byte(token: str, index: int) -> str:
    raw = bytearray(base64.urlsafe_b64decode(token[3:] + "=" * (-len(token[3:]) % 4)))
    raw[index] ^= 0x01
    return "v1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode("ascii")


@pytest.mark.parametrize("index", [0, 11, 12, 20, -16, -1])  # nonce, ciphertext, tag
def test_tampering_is_detected(index: int) -> None:
    cipher = PiiCipher(KEY_A)
    token = cipher.encrypt(KNOWN_ID)
    with pytest.raises(PiiDecryptError):
        cipher.decrypt(_flip_byte(token, index))


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-5],  # truncated
        lambda t: "v1." + t[3:13],  # shorter than nonce + tag
        lambda t: "v2." + t[3:],  # unknown version
        lambda t: t[3:],  # no prefix
        lambda t: t + "!",  # not base64
        lambda t: t[:10] + "+" + t[11:],  # standard alphabet is not a token
        lambda t: "v1.",
        lambda t: "",
    ],
)
def test_malformed_tokens_are_rejected(mangle: Callable[[str], str]) -> None:
    cipher = PiiCipher(KEY_A)
    with pytest.raises(PiiDecryptError):
        cipher.decrypt(mangle(cipher.encrypt(KNOWN_ID)))


def test_wrong_key_is_rejected() -> None:
    token = PiiCipher(KEY_A).encrypt(KNOWN_ID)
    with pytest.raises(PiiDecryptError):
        PiiCipher(KEY_B).decrypt(token)


def test_decrypt_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        PiiCipher(KEY_A).decrypt("garbage")


def test_key_rotation_decrypts_old_tokens_and_encrypts_with_new_key() -> None:
    old_token = PiiCipher(KEY_A).encrypt("old secret")
    rotated = PiiCipher(KEY_B, old_keys=[KEY_A])
    assert rotated.decrypt(old_token) == "old secret"

    new_token = rotated.encrypt("new secret")
    assert PiiCipher(KEY_B).decrypt(new_token) == "new secret"
    with pytest.raises(PiiDecryptError):
        PiiCipher(KEY_A).decrypt(new_token)
    with pytest.raises(PiiDecryptError):
        PiiCipher(KEY_B).decrypt(old_token)  # old key dropped


def test_old_keys_are_tried_in_order_after_the_current_key() -> None:
    key_c = bytes(range(200, 232))
    token = PiiCipher(KEY_A).encrypt("x")
    assert PiiCipher(KEY_B, old_keys=[key_c, KEY_A]).decrypt(token) == "x"


@pytest.mark.parametrize("key", [b"", b"short", bytes(16), bytes(31), bytes(33)])
def test_cipher_rejects_wrong_key_sizes(key: bytes) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        PiiCipher(key)
    with pytest.raises(ValueError, match="32 bytes"):
        PiiCipher(KEY_A, old_keys=[key])


def test_from_b64_accepts_standard_and_urlsafe_encodings() -> None:
    key = bytes([0xFB, 0xFF, 0xBF]) * 10 + b"\xfe\xff"  # encodes with + and / (or - and _)
    standard = base64.b64encode(key).decode()
    urlsafe = base64.urlsafe_b64encode(key).decode()
    assert {"+", "/"} & set(standard) and {"-", "_"} & set(urlsafe)

    token = PiiCipher(key).encrypt("hello")
    for text in (standard, urlsafe, urlsafe.rstrip("="), f"  {standard}\n"):
        assert PiiCipher.from_b64(text).decrypt(token) == "hello"


def test_from_b64_accepts_old_keys() -> None:
    token = PiiCipher(KEY_A).encrypt("hello")
    cipher = PiiCipher.from_b64(
        base64.b64encode(KEY_B).decode(), old_keys=[base64.b64encode(KEY_A).decode()]
    )
    assert cipher.decrypt(token) == "hello"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "32 bytes"),
        ("not base64!!", "base64"),
        ("éé", "base64"),
        (base64.b64encode(bytes(16)).decode(), "32 bytes, got 16"),
        (base64.b64encode(bytes(33)).decode(), "32 bytes, got 33"),
        (base64.b64encode(bytes(32)).decode()[:-3], "base64"),  # impossible length
    ],
)
def test_from_b64_rejects_bad_keys_with_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PiiCipher.from_b64(text)


def test_generate_key_b64_gives_distinct_usable_keys() -> None:
    first, second = generate_key_b64(), generate_key_b64()
    assert first != second
    assert len(base64.urlsafe_b64decode(first)) == 32
    cipher = PiiCipher.from_b64(first)
    assert cipher.decrypt(cipher.encrypt("round trip")) == "round trip"
    with pytest.raises(PiiDecryptError):
        PiiCipher.from_b64(second).decrypt(cipher.encrypt("round trip"))


# --- IdentityHasher -------------------------------------------------------------------------

SECRET = b"network-wide-secret-0123456789"


def test_hash_is_hmac_sha256_hex_of_the_normalized_id() -> None:
    digest = IdentityHasher(SECRET).hash(KNOWN_ID)
    assert digest == hmac.new(SECRET, KNOWN_ID.encode(), hashlib.sha256).hexdigest()
    assert len(digest) == 64
    assert digest == digest.lower()


def test_hash_is_deterministic_across_instances() -> None:
    assert IdentityHasher(SECRET).hash(KNOWN_ID) == IdentityHasher(SECRET).hash(KNOWN_ID)


@pytest.mark.parametrize("form", [KNOWN_LEGACY, "11010519491231002x", f" {KNOWN_ID} "])
def test_all_forms_of_one_id_hash_equal(form: str) -> None:
    hasher = IdentityHasher(SECRET)
    assert hasher.hash(form) == hasher.hash(KNOWN_ID)


def test_hash_depends_on_key_and_id() -> None:
    hasher = IdentityHasher(SECRET)
    other_person = make_id("110101", "19900307", "123")
    assert hasher.hash(KNOWN_ID) != hasher.hash(other_person)
    assert hasher.hash(KNOWN_ID) != IdentityHasher(SECRET + b"!").hash(KNOWN_ID)


def test_hash_rejects_invalid_ids() -> None:
    with pytest.raises(InvalidNationalId) as excinfo:
        IdentityHasher(SECRET).hash(KNOWN_ID[:17] + "0")
    assert excinfo.value.reason == "check-digit"


def test_short_secrets_are_rejected() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        IdentityHasher(b"x" * 15)
    with pytest.raises(ValueError):
        IdentityHasher(b"")
    assert len(IdentityHasher(b"x" * 16).hash(KNOWN_ID)) == 64
