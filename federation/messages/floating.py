"""Floating certificates (流动党员活动证) between tenants of two nodes, routed by the hub.

A step of a certificate (`issued`, `accepted`, `declined`, `participation`, `ended`) from one
side to the other travels like a transfer's (`federation.messages.transfers`): an inner
envelope of type `partynet.floating.sealed.v1` signed by the sending node and addressed to the
receiving node, its body (the limited member copy, a participation line...) in a sealed box
for that node (`federation.sealed`). The sender wraps it in `partynet.floating.step.v1` to the
hub with the metadata the hub routes by; the hub forwards it in `partynet.floating.routed.v1`,
or answers `partynet.floating.undeliverable.v1`. No name, member number, contact or national
ID is in clear in any of them: see docs/protocol.md ("Floating certificates between nodes").
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any, ClassVar, Final

from marshmallow import ValidationError, validate, validates_schema

from federation.messages.directives import TenantSlug
from federation.messages.fields import KeyId, MessageSchema, PartyId, Pattern, Str
from federation.messages.registry import register
from federation.messages.transfers import MAX_INNER, OrgCode, TransferUid

__all__ = [
    "FROM_HOME",
    "FROM_HOST",
    "ROUTED",
    "SEALED",
    "SIDES",
    "STEP",
    "STEPS",
    "UNDELIVERABLE",
    "UNDELIVERABLE_REASONS",
]

STEP: Final = "partynet.floating.step.v1"
ROUTED: Final = "partynet.floating.routed.v1"
UNDELIVERABLE: Final = "partynet.floating.undeliverable.v1"
SEALED: Final = "partynet.floating.sealed.v1"

SIDES: Final = ("home", "host")
#: Steps the home side (the member's organization) sends, and the host side; `ended` both.
FROM_HOME: Final = frozenset({"issued", "ended"})
FROM_HOST: Final = frozenset({"accepted", "declined", "participation", "ended"})
STEPS: Final = FROM_HOME | FROM_HOST
UNDELIVERABLE_REASONS: Final = ("unknown_tenant", "node_revoked")

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class Day(Pattern):
    """A calendar date, `YYYY-MM-DD` (a certificate's validity is in days, not instants)."""

    pattern = _DAY
    message = "Not a date like 2025-03-01."

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            dt.date.fromisoformat(text)
        except ValueError:
            raise ValidationError(self.message) from None
        return text


def _step_field() -> Str:
    return Str(required=True, validate=validate.OneOf(sorted(STEPS)))


def _side_field() -> Str:
    return Str(required=True, validate=validate.OneOf(SIDES))


def _check_direction(data: dict[str, Any]) -> None:
    allowed = FROM_HOME if data["from_side"] == "home" else FROM_HOST
    if data["step"] not in allowed:
        raise ValidationError(f"The {data['from_side']} side does not send {data['step']}.",
                              "step")


_UID_EX = "019a4f3e-7c2b-7d10-8a11-2b3c4d5e6f71"
_INNER_EX = ('{"data":{"from_side":"home","from_tenant":"dadukou","recipient_key":'
             '"ed25519:Tl9xQ2mB7a","sealed":"…","step":"issued","to_tenant":"nanshan",'
             '"uid":"' + _UID_EX + '"},"destination":"shenzhen-1","id":"…","signatures":'
             '{"chongqing-1":{"…":"…"}},"source":"chongqing-1","specversion":"1.0",'
             '"tenant":"nanshan","time":"…","type":"partynet.floating.sealed.v1"}')


@register(SEALED)
class Sealed(MessageSchema):
    """Inner envelope, sending node -> receiving node, never sent on the bus by itself: the
    step's metadata, the key id it is sealed for and the sealed box (base64) of the canonical
    JSON {"meta": <these metadata>, "body": <the step body>}."""

    uid = TransferUid(required=True)
    step = _step_field()
    from_side = _side_field()
    from_tenant = TenantSlug(required=True)
    to_tenant = TenantSlug(required=True)
    recipient_key = KeyId(required=True)
    sealed = Str(required=True, validate=validate.Length(min=1, max=MAX_INNER))
    example: ClassVar[dict[str, Any]] = {
        "uid": _UID_EX, "step": "issued", "from_side": "home", "from_tenant": "dadukou",
        "to_tenant": "nanshan", "recipient_key": "ed25519:Tl9xQ2mB7a",
        "sealed": "q1Zb3mVn0d2dX3r9yJ3c5P4k7oW6e1t0aQ",
    }

    @validates_schema
    def _direction(self, data: dict[str, Any], **_kwargs: Any) -> None:
        _check_direction(data)


@register(STEP)
class Step(MessageSchema):
    """Node -> hub, sequenced, envelope `tenant` = `from_tenant`: one step of a floating
    certificate for a tenant of another node. Metadata in clear (for routing), the step itself
    in `signed` (the inner envelope's canonical JSON text, for the destination only)."""

    uid = TransferUid(required=True)
    step = _step_field()
    from_side = _side_field()
    from_node = PartyId(required=True)
    from_tenant = TenantSlug(required=True)
    to_node = PartyId(required=True)
    to_tenant = TenantSlug(required=True)
    #: `issued` only (else null): the host organization addressed and the validity.
    host_org_code = OrgCode(required=True, allow_none=True)
    starts_on = Day(required=True, allow_none=True)
    until = Day(required=True, allow_none=True)
    signed = Str(required=True, validate=validate.Length(min=2, max=MAX_INNER))
    example: ClassVar[dict[str, Any]] = {
        "uid": _UID_EX, "step": "issued", "from_side": "home", "from_node": "chongqing-1",
        "from_tenant": "dadukou", "to_node": "shenzhen-1", "to_tenant": "nanshan",
        "host_org_code": "440305001", "starts_on": "2025-03-01", "until": "2026-02-28",
        "signed": _INNER_EX,
    }

    @validates_schema
    def _metadata(self, data: dict[str, Any], **_kwargs: Any) -> None:
        _check_direction(data)
        issued = data["step"] == "issued"
        for name in ("host_org_code", "starts_on", "until"):
            if issued and data.get(name) is None:
                raise ValidationError("An issued certificate names its host and validity.",
                                      name)
            if not issued and data.get(name) is not None:
                raise ValidationError("Only the issued step carries the certificate's host "
                                      "and validity.", name)
        if issued and data["until"] < data["starts_on"]:
            raise ValidationError("The validity ends before it starts.", "until")
        if data["from_node"] == data["to_node"]:
            raise ValidationError("A step between tenants of one node is not routed.", "to_node")


@register(ROUTED)
class Routed(MessageSchema):
    """Hub -> destination node, sequenced, envelope `tenant` = `to_tenant`: a step the hub
    accepted, with the origin's inner envelope unchanged (the destination checks the origin's
    own signature and that these fields equal the signed ones)."""

    uid = TransferUid(required=True)
    step = _step_field()
    from_side = _side_field()
    from_node = PartyId(required=True)
    from_tenant = TenantSlug(required=True)
    to_tenant = TenantSlug(required=True)
    signed = Str(required=True, validate=validate.Length(min=2, max=MAX_INNER))
    example: ClassVar[dict[str, Any]] = {
        "uid": _UID_EX, "step": "issued", "from_side": "home", "from_node": "chongqing-1",
        "from_tenant": "dadukou", "to_tenant": "nanshan", "signed": _INNER_EX,
    }

    @validates_schema
    def _direction(self, data: dict[str, Any], **_kwargs: Any) -> None:
        _check_direction(data)


@register(UNDELIVERABLE)
class Undeliverable(MessageSchema):
    """Hub -> sending node, sequenced, envelope `tenant` = the sending tenant: the hub refused to
    route a step (`to_node` null when the destination tenant is unknown)."""

    uid = TransferUid(required=True)
    step = _step_field()
    from_side = _side_field()
    from_tenant = TenantSlug(required=True)
    to_node = PartyId(required=True, allow_none=True)
    to_tenant = TenantSlug(required=True)
    reason_code = Str(required=True, validate=validate.OneOf(UNDELIVERABLE_REASONS))
    detail = Str(required=True, validate=validate.Length(max=500))
    example: ClassVar[dict[str, Any]] = {
        "uid": _UID_EX, "step": "issued", "from_side": "home", "from_tenant": "dadukou",
        "to_node": None, "to_tenant": "nanshan", "reason_code": "unknown_tenant",
        "detail": "no tenant 'nanshan' on node 'shenzhen-1' in the registry",
    }

    @validates_schema
    def _direction(self, data: dict[str, Any], **_kwargs: Any) -> None:
        _check_direction(data)
