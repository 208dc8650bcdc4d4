"""Control messages of the bus itself: acknowledgements, resend requests, pings, heartbeats and
key revocations. Their meaning is in docs/protocol.md ("Message types")."""

from __future__ import annotations

from typing import Any, ClassVar

from marshmallow import validate

from federation.messages.fields import Int, KeyId, List, MessageSchema, PartyId, Str, Time
from federation.messages.registry import register

__all__ = ["Ack", "Heartbeat", "KeyRevoked", "Ping", "Resend"]

#: Longest ping payload: enough for ~1 KB benchmark messages and then some.
PING_PAYLOAD_MAX = 4096


@register("partynet.bus.ack.v1")
class Ack(MessageSchema):
    """Cumulative: the sender of the ack has applied the acked stream up to `up_to` inclusive.

    The acked stream is the one flowing the other way: (envelope.destination -> envelope.source).
    """

    up_to = Int(required=True, validate=validate.Range(min=0))
    example: ClassVar[dict[str, Any]] = {"up_to": 41}


@register("partynet.bus.resend.v1")
class Resend(MessageSchema):
    """The receiver saw a gap: resend the stream (destination -> source) from this sequence on."""

    from_sequence = Int(required=True, validate=validate.Range(min=1))
    example: ClassVar[dict[str, Any]] = {"from_sequence": 42}


@register("partynet.bus.ping.v1")
class Ping(MessageSchema):
    """Diagnostic and benchmark traffic; every field is optional."""

    note = Str(validate=validate.Length(max=1000))
    n = Int()
    payload = Str(validate=validate.Length(max=PING_PAYLOAD_MAX))
    example: ClassVar[dict[str, Any]] = {"note": "hello", "n": 7, "payload": "x" * 16}


@register("partynet.node.heartbeat.v1")
class Heartbeat(MessageSchema):
    """A node's periodic health report to the hub."""

    version = Str(required=True, validate=validate.Length(min=1, max=64))
    backlog = Int(required=True, validate=validate.Range(min=0))
    lag_seconds = Int(required=True, validate=validate.Range(min=0))
    tenants = List(Str(validate=validate.Length(min=1, max=255)), required=True)
    example: ClassVar[dict[str, Any]] = {
        "version": "0.1.0",
        "backlog": 3,
        "lag_seconds": 2,
        "tenants": ["tenant-a", "tenant-b"],
    }


@register("partynet.keys.revoked.v1")
class KeyRevoked(MessageSchema):
    """The hub revoked one key of `owner` (`key_id`), or the whole owner (`key_id` null)."""

    owner = PartyId(required=True)
    key_id = KeyId(required=True, allow_none=True)
    at = Time(required=True)
    example: ClassVar[dict[str, Any]] = {
        "owner": "node-a",
        "key_id": "ed25519:Ab3dE5gH7k",
        "at": "2025-03-01T12:00:00.000Z",
    }
