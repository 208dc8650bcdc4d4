"""Resident identity numbers (居民身份证号, GB 11643-1999) and how we protect them.

Members are identified across the network by their national ID, which is sensitive personal
data. This module is the single place that knows how to validate and normalize such an ID,
how to show it (masked), how to store it (AES-256-GCM, :class:`PiiCipher`) and how to look it
up without storing it in clear (keyed hash, :class:`IdentityHasher`).

It is deliberately free of Flask so that the hub, the nodes and the federation layer can all
use it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Sequence
from datetime import date
from typing import Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "PROVINCE_CODES",
    "IdentityHasher",
    "InvalidNationalId",
    "InvalidReason",
    "PiiCipher",
    "PiiDecryptError",
    "birth_date",
    "gender",
    "generate_key_b64",
    "mask_national_id",
    "normalize_national_id",
]

InvalidReason = Literal["format", "region", "birth-date", "check-digit"]

#: First two digits of the administrative division code (GB/T 2260 provinces, plus Taiwan,
#: Hong Kong and Macao as used on mainland-issued numbers).
PROVINCE_CODES: frozenset[str] = frozenset(
    {
        "11", "12", "13", "14", "15",
        "21", "22", "23",
        "31", "32", "33", "34", "35", "36", "37",
        "41", "42", "43", "44", "45", "46",
        "50", "51", "52", "53", "54",
        "61", "62", "63", "64", "65",
        "71", "81", "82",
    }
)  # fmt: skip

# ISO 7064 MOD 11-2, as specified by GB 11643-1999.
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARS = "10X98765432"
_EARLIEST_BIRTH = date(1900, 1, 1)

# Explicit ASCII classes: str.isdigit() and \d would also accept full-width or Arabic digits.
_RE_18 = re.compile(r"[0-9]{17}[0-9X]")
_RE_15 = re.compile(r"[0-9]{15}")


class InvalidNationalId(ValueError):
    """A national ID failed validation.

    ``reason`` is a stable machine-readable code ("format", "region", "birth-date" or
    "check-digit") for API clients and translations; the message is short English text.
    """

    def __init__(self, reason: InvalidReason, message: str) -> None:
        super().__init__(message)
        self.reason: InvalidReason = reason


def _check_char(first17: str) -> str:
    total = sum(int(digit) * weight for digit, weight in zip(first17, _WEIGHTS, strict=True))
    return _CHECK_CHARS[total % 11]


def _parse_birth(yyyymmdd: str) -> date:
    try:
        return date(int(yyyymmdd[:4]), int(yyyymmdd[4:6]), int(yyyymmdd[6:8]))
    except ValueError:
        raise InvalidNationalId("birth-date", "The date of birth is not a valid date.") from None


def normalize_national_id(raw: str, *, today: date | None = None) -> str:
    """Validate an ID and return its canonical 18-character form.

    Everything we store, hash or compare goes through here, so that one person always has one
    representation: surrounding whitespace is stripped, a trailing ``x`` is upper-cased and a
    legacy 15-digit number (issued before 1999, century implied as 19) is converted to 18
    characters with its check character computed. Checks are made in the order format,
    region, birth date (real date, from 1900-01-01 up to ``today``), check character; the first
    failure raises :class:`InvalidNationalId`.
    """
    if not isinstance(raw, str):
        raise TypeError(f"national ID must be a str, not {type(raw).__name__}")
    text = raw.strip()
    if len(text) == 18 and text.endswith("x"):
        text = text[:17] + "X"

    if _RE_18.fullmatch(text):
        first17, given_check = text[:17], text[17]
    elif _RE_15.fullmatch(text):
        first17, given_check = text[:6] + "19" + text[6:], None
    else:
        raise InvalidNationalId("format", "An ID number must have 18 characters (or 15 digits).")

    if first17[:2] not in PROVINCE_CODES:
        raise InvalidNationalId("region", "The region code is not valid.")

    born = _parse_birth(first17[6:14])
    if born < _EARLIEST_BIRTH:
        raise InvalidNationalId("birth-date", "The date of birth is before 1900.")
    if born > (today if today is not None else date.today()):
        raise InvalidNationalId("birth-date", "The date of birth is in the future.")

    expected = _check_char(first17)
    if given_check is not None and given_check != expected:
        raise InvalidNationalId("check-digit", "The check digit does not match.")
    return first17 + expected


def _require_normalized(national_id: str) -> str:
    if not isinstance(national_id, str) or not _RE_18.fullmatch(national_id):
        raise InvalidNationalId(
            "format", "Expected a normalized 18-character ID; call normalize_national_id first."
        )
    return national_id


def birth_date(national_id: str) -> date:
    """Date of birth encoded in a normalized ID (characters 7-14)."""
    return _parse_birth(_require_normalized(national_id)[6:14])


def gender(national_id: str) -> str:
    """``"male"`` or ``"female"`` from the parity of the 17th digit of a normalized ID."""
    return "male" if int(_require_normalized(national_id)[16]) % 2 else "female"


def mask_national_id(national_id: str) -> str:
    """Display form of a normalized ID: first 3 and last 4 characters, the rest as ``*``.

    The region prefix and the tail are enough for a person to recognise their own number
    without exposing the date of birth.
    """
    nid = _require_normalized(national_id)
    return nid[:3] + "*" * (len(nid) - 7) + nid[-4:]


class PiiDecryptError(ValueError):
    """A PII token could not be decrypted: malformed, tampered with, or under an unknown key."""


def _b64decode_any(text: str) -> bytes:
    """Decode standard or URL-safe base64, padding optional; raise ValueError otherwise."""
    cleaned = text.strip().replace("-", "+").replace("_", "/")
    cleaned += "=" * (-len(cleaned) % 4)
    return base64.b64decode(cleaned, validate=True)


def generate_key_b64() -> str:
    """A fresh random 256-bit key as URL-safe base64, suitable for :meth:`PiiCipher.from_b64`."""
    return base64.urlsafe_b64encode(os.urandom(PiiCipher.KEY_BYTES)).decode("ascii")


class PiiCipher:
    """AES-256-GCM encryption at rest for personal data such as national IDs.

    Tokens look like ``"v1." + urlsafe_b64(nonce || ciphertext || tag)`` (no padding): plain
    ASCII, so they fit in any text column. GCM authenticates the data, so tampering or a wrong
    key is detected rather than yielding garbage.

    Key rotation: new tokens are always encrypted with ``key``; ``old_keys`` are only tried for
    decryption, in order, after the current key. Tokens carry no key id, so decryption simply
    tries each key (a failed GCM tag check is cheap). Re-encrypt old rows, then drop the key.
    """

    KEY_BYTES = 32
    NONCE_BYTES = 12
    TAG_BYTES = 16
    PREFIX = "v1."
    _BODY_RE = re.compile(r"[A-Za-z0-9_-]+")

    def __init__(self, key: bytes, old_keys: Sequence[bytes] = ()) -> None:
        keys = (key, *old_keys)
        for candidate in keys:
            if not isinstance(candidate, bytes | bytearray):
                raise TypeError("PII encryption keys must be bytes")
            if len(candidate) != self.KEY_BYTES:
                raise ValueError(
                    f"PII encryption keys must be {self.KEY_BYTES} bytes, got {len(candidate)}"
                )
        self._aeads = tuple(AESGCM(bytes(candidate)) for candidate in keys)

    @classmethod
    def from_b64(cls, text: str, old_keys: Sequence[str] = ()) -> PiiCipher:
        """Build a cipher from base64 keys (standard or URL-safe, e.g. from the environment)."""
        return cls(cls._decode_key(text), [cls._decode_key(old) for old in old_keys])

    @classmethod
    def _decode_key(cls, text: str) -> bytes:
        if not isinstance(text, str):
            raise TypeError("a base64 PII key must be a str")
        try:
            key = _b64decode_any(text)
        except ValueError:  # binascii.Error and non-ASCII input
            raise ValueError("PII encryption key is not valid base64") from None
        if len(key) != cls.KEY_BYTES:
            raise ValueError(
                f"PII encryption key must decode to {cls.KEY_BYTES} bytes, got {len(key)}"
            )
        return key

    def encrypt(self, plaintext: str) -> str:
        """Encrypt ``plaintext`` under the current key with a fresh random nonce."""
        if not isinstance(plaintext, str):
            raise TypeError("PiiCipher.encrypt expects a str")
        nonce = os.urandom(self.NONCE_BYTES)
        sealed = self._aeads[0].encrypt(nonce, plaintext.encode("utf-8"), None)
        body = base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")
        return self.PREFIX + body

    def decrypt(self, token: str) -> str:
        """Decrypt a token from :meth:`encrypt`, trying the current key then the old keys."""
        if not isinstance(token, str) or not token.startswith(self.PREFIX):
            raise PiiDecryptError("not a v1 PII token")
        body = token[len(self.PREFIX) :]
        if not self._BODY_RE.fullmatch(body):
            raise PiiDecryptError("PII token is not valid base64")
        try:
            raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (binascii.Error, ValueError):
            raise PiiDecryptError("PII token is not valid base64") from None
        if len(raw) < self.NONCE_BYTES + self.TAG_BYTES:
            raise PiiDecryptError("PII token is too short")
        nonce, sealed = raw[: self.NONCE_BYTES], raw[self.NONCE_BYTES :]
        for aead in self._aeads:
            try:
                plain = aead.decrypt(nonce, sealed, None)
            except InvalidTag:
                continue
            try:
                return plain.decode("utf-8")
            except UnicodeDecodeError:
                raise PiiDecryptError("PII token does not hold UTF-8 text") from None
        raise PiiDecryptError("PII token was tampered with or encrypted under an unknown key")


class IdentityHasher:
    """Keyed lookup hash (HMAC-SHA256) of a national ID, so IDs can be matched without storing
    them in clear.

    The secret is shared network-wide: every node and the hub use the same one, so equal hashes
    on two nodes mean the same person and the hub can detect duplicate memberships. It must
    still be kept secret: the ID space is small enough that an unkeyed hash could be reversed
    by brute force. IDs are normalized first, so the 15- and 18-digit forms hash equal.
    """

    MIN_SECRET_BYTES = 16

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, bytes | bytearray):
            raise TypeError("the identity hash secret must be bytes")
        if len(secret) < self.MIN_SECRET_BYTES:
            raise ValueError(
                f"the identity hash secret must be at least {self.MIN_SECRET_BYTES} bytes"
            )
        self._secret = bytes(secret)

    def hash(self, national_id: str) -> str:
        """Lowercase hex HMAC-SHA256 (64 chars) of the normalized ID; invalid IDs raise."""
        normalized = normalize_national_id(national_id)
        return hmac.new(self._secret, normalized.encode("ascii"), hashlib.sha256).hexdigest()
