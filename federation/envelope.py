"""The signed envelope every federation message travels in, and the checks a receiver runs on it.

The wire form is canonical JSON (federation.canonical) of CloudEvents-style fields plus a Matrix
style `signatures` map. The signature covers the canonical JSON of everything except
`signatures`, so `destination` and `time` are signed: a captured message cannot be sent to
another party, nor accepted outside the clock-skew window. Replays inside the window carry the
same (source, id) and the receiver's inbox drops them.

`open_envelope` refuses anything doubtful with `Rejected(reason)`; callers quarantine it with that
reason and never apply it. Input may use any key order and whitespace (we re-canonicalise before
verifying), but must have a canonical form: floats, duplicate keys, huge integers and invalid
UTF-8 are "non_canonical".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from marshmallow import ValidationError
from uuid6 import uuid7

from federation.canonical import (
    CanonicalJsonError,
    NotJson,
    decode_strict,
    encode_canonical,
    encode_decoded,
)
from federation.keys import (
    KEY_ID_PATTERN,
    PARTY_ID_PATTERN,
    KeyProblem,
    KeyRing,
    SigningKey,
    decode_base64,
    encode_base64,
    format_time,
    parse_time,
    utcnow,
)
from federation.messages import MESSAGE_TYPES, TYPE_PATTERN, validate_data

__all__ = [
    "REASONS",
    "SPECVERSION",
    "Envelope",
    "Rejected",
    "format_time",
    "new_id",
    "open_envelope",
    "parse_time",
    "seal",
]

SPECVERSION: Final = "1.0"

#: Why a message was refused; `Rejected.reason` is always one of these.
REASONS: Final = (
    "malformed",
    "non_canonical",
    "unknown_type",
    "schema_violation",
    "unknown_key",
    "expired_key",
    "not_yet_valid_key",
    "revoked_key",
    "revoked_owner",
    "bad_signature",
    "wrong_destination",
    "clock_skew",
    "tenant_not_owned",
    "unauthorized_source",
)

#: A UUIDv7 in its canonical lowercase spelling (one spelling per id keeps (source, id) unique).
_ID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")
_TENANT_RE = re.compile(r"[^\x00-\x1f\x7f]{1,255}")
_REQUIRED = frozenset({"specversion", "id", "type", "source", "destination", "time", "data"})
_ALLOWED = _REQUIRED | {"tenant", "sequence", "signatures"}
_MAX_SEQUENCE = 2**53 - 1


@dataclass(frozen=True)
class Envelope:
    """One message. `time` is when this transmission was signed (a retransmission re-seals the
    same `id` with a new time); `sequence` orders the (source -> destination) stream and is None
    for unsequenced control messages; `key_id` is filled by `open_envelope`."""

    id: str
    type: str
    source: str
    destination: str
    time: datetime
    tenant: str | None
    sequence: int | None
    data: dict[str, Any]
    key_id: str | None = None

    @classmethod
    def create(cls, type: str, *, source: str, destination: str, data: dict[str, Any],
               tenant: str | None = None, sequence: int | None = None,
               time: datetime | None = None) -> Envelope:
        """A new message with a fresh id, timed now unless `time` is given."""
        return cls(new_id(), type, source, destination, time or utcnow(), tenant, sequence, data)


def new_id() -> str:
    """A UUIDv7: unique, and sortable by creation time."""
    return str(uuid7())


class Rejected(Exception):
    """`open_envelope` refused a message. `envelope_id`, `source`, `message_type` and `tenant` are
    what the message claims (best effort, for the quarantine record): they are not authenticated
    unless the reason comes after the signature check ("unknown_type", "schema_violation")."""

    def __init__(self, reason: str, detail: str, *, envelope_id: str | None = None,
                 source: str | None = None, message_type: str | None = None,
                 tenant: str | None = None) -> None:
        if reason not in REASONS:
            raise ValueError(f"unknown rejection reason {reason!r}")
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.envelope_id = envelope_id
        self.source = source
        self.message_type = message_type
        self.tenant = tenant


def seal(envelope: Envelope, key: SigningKey, *, validate: bool = True) -> bytes:
    """The signed wire bytes of `envelope`, signed by `key` on behalf of `envelope.source`.

    Times are sent with millisecond precision. With `validate`, the data must pass the type's
    schema (a ValueError otherwise: sending a message the receiver will refuse is a bug).
    """
    _check_outgoing(envelope, validate)
    body: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": envelope.id,
        "type": envelope.type,
        "source": envelope.source,
        "destination": envelope.destination,
        "time": format_time(envelope.time),
        "data": envelope.data,
    }
    if envelope.tenant is not None:
        body["tenant"] = envelope.tenant
    if envelope.sequence is not None:
        body["sequence"] = envelope.sequence
    signature = key.sign(encode_canonical(body))
    body["signatures"] = {envelope.source: {key.key_id: encode_base64(signature)}}
    return encode_decoded(body)


def _check_outgoing(envelope: Envelope, validate: bool) -> None:
    problems = _field_problem(envelope.id, envelope.type, envelope.source, envelope.destination,
                              envelope.tenant, envelope.sequence, envelope.data)
    if problems:
        raise ValueError(f"cannot seal: {problems}")
    if validate:
        try:
            validate_data(envelope.type, envelope.data)
        except KeyError:
            raise ValueError(f"cannot seal: unknown message type {envelope.type}") from None
        except ValidationError as error:
            raise ValueError(f"cannot seal {envelope.type}: {error.messages}") from None


def _field_problem(id_: Any, type_: Any, source: Any, destination: Any, tenant: Any,
                   sequence: Any, data: Any) -> str | None:
    """What is wrong with the envelope fields, or None. Shared by `seal` and `open_envelope`."""
    if type(id_) is not str or _ID_RE.fullmatch(id_) is None:
        return "id must be a lowercase UUIDv7 string"
    if type(type_) is not str or TYPE_PATTERN.fullmatch(type_) is None:
        return "type must look like partynet.<area>.<name>.v<N>"
    if type(source) is not str or PARTY_ID_PATTERN.fullmatch(source) is None:
        return "source must be a party id"
    if type(destination) is not str or PARTY_ID_PATTERN.fullmatch(destination) is None:
        return "destination must be a party id"
    if tenant is not None and (type(tenant) is not str or _TENANT_RE.fullmatch(tenant) is None):
        return "tenant must be 1-255 printable characters, or absent"
    if sequence is not None and (type(sequence) is not int
                                 or not 1 <= sequence <= _MAX_SEQUENCE):
        return "sequence must be a positive integer, or absent"
    if type(data) is not dict:
        return "data must be an object"
    return None


def open_envelope(raw: bytes, *, keyring: KeyRing, me: str, now: datetime,
                  skew: timedelta = timedelta(minutes=5), validate: bool = True) -> Envelope:
    """Check everything about a received message and return it, or raise `Rejected`.

    Order: strict JSON, fields, destination, clock skew, signature (the source's key, looked up
    at the message's time), then the data against the type's schema (unless `validate` is
    False). The returned `data` is what the schema loaded.
    """
    try:
        obj = decode_strict(raw)
    except NotJson as error:
        raise Rejected("malformed", str(error)) from None
    except CanonicalJsonError as error:
        raise Rejected("non_canonical", str(error)) from None

    envelope_id = obj.get("id")
    source = obj.get("source")
    type_ = obj.get("type")
    claimed = {
        "envelope_id": envelope_id if type(envelope_id) is str else None,
        "source": source if type(source) is str else None,
        "message_type": type_ if type(type_) is str else None,
        "tenant": claimed_tenant if type(claimed_tenant := obj.get("tenant")) is str else None,
    }

    missing = _REQUIRED - obj.keys()
    if missing:
        raise Rejected("malformed", f"missing fields: {', '.join(sorted(missing))}", **claimed)
    extra = obj.keys() - _ALLOWED
    if extra:
        raise Rejected("malformed", f"unknown fields: {', '.join(sorted(extra))}", **claimed)
    if obj["specversion"] != SPECVERSION:
        raise Rejected("malformed", f"specversion must be {SPECVERSION!r}", **claimed)
    tenant = obj.get("tenant")
    sequence = obj.get("sequence")
    destination = obj["destination"]
    if ("tenant" in obj and tenant is None) or ("sequence" in obj and sequence is None):
        raise Rejected("malformed", "absent tenant or sequence is omitted, not null", **claimed)
    problem = _field_problem(envelope_id, type_, source, destination, tenant, sequence,
                             obj["data"])
    if problem:
        raise Rejected("malformed", problem, **claimed)
    try:
        time = parse_time(obj["time"])
    except ValueError as error:
        raise Rejected("malformed", f"time: {error}", **claimed) from None

    if destination != me:
        raise Rejected("wrong_destination", f"addressed to {destination}, this is {me}",
                       **claimed)
    if abs(now - time) > skew:
        raise Rejected("clock_skew", f"signed at {obj['time']}, now is {format_time(now)}, "
                       f"allowed skew {skew}", **claimed)

    key_id, signature = _source_signature(obj, source, claimed)
    try:
        key = keyring.lookup(source, key_id, at=time)
    except KeyProblem as key_problem:
        raise Rejected(key_problem.reason, key_problem.detail, **claimed) from None
    del obj["signatures"]  # the signed part is everything else (obj is ours: just decoded)
    signed = encode_decoded(obj)
    if not key.verify(signature, signed):
        raise Rejected("bad_signature", f"signature by {key_id} does not verify", **claimed)

    data = obj["data"]
    if validate:
        if type_ not in MESSAGE_TYPES:
            raise Rejected("unknown_type", f"no schema for {type_}", **claimed)
        try:
            data = validate_data(type_, data)
        except ValidationError as error:
            raise Rejected("schema_violation", str(error.messages), **claimed) from None
    return Envelope(envelope_id, type_, source, destination, time, tenant, sequence, data,
                    key_id=key_id)


def _source_signature(obj: dict[str, Any], source: str,
                      claimed: dict[str, Any]) -> tuple[str, bytes]:
    """The one (key id, signature) the source put in `signatures`; others' signatures are
    ignored. No signature from the source at all is "bad_signature" (the message is unsigned)."""
    signatures = obj.get("signatures")
    if signatures is None:
        raise Rejected("bad_signature", "the message is not signed", **claimed)
    if type(signatures) is not dict:
        raise Rejected("malformed", "signatures must be an object", **claimed)
    mine = signatures.get(source)
    if mine is None:
        raise Rejected("bad_signature", f"no signature by the source {source}", **claimed)
    if type(mine) is not dict or len(mine) != 1:
        raise Rejected("malformed", f"signatures.{source} must hold exactly one key id",
                       **claimed)
    ((key_id, text),) = mine.items()
    if KEY_ID_PATTERN.fullmatch(key_id) is None:
        raise Rejected("malformed", f"{key_id!r:.80} is not a key id", **claimed)
    try:
        signature = decode_base64(text)
    except ValueError:
        raise Rejected("malformed", "the signature is not unpadded base64", **claimed) from None
    return key_id, signature
