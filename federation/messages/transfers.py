"""Transfers of the organization relationship between nodes, routed by the hub, and the tenant
directory the hub distributes so that nodes know where every tenant lives.

A step of a transfer (`letter`, `claim`, `receipt`, ...) from one side to the other travels as
an inner envelope signed by the sending node and addressed to the receiving node, its body in
a sealed box for that node (`federation.sealed`). The sender wraps it in
`partynet.transfer.step.v1` to the hub with the metadata the hub routes and tracks by; the hub
forwards it in `partynet.transfer.routed.v1`, or answers `partynet.transfer.undeliverable.v1`.
No name, national ID or other member data is in clear in any of them: see docs/protocol.md
("Transfers between nodes").
"""

from __future__ import annotations

import re
from typing import Any, ClassVar, Final

from marshmallow import ValidationError, validate, validates_schema

from federation.messages.directives import TenantSlug
from federation.messages.fields import (
    Int,
    KeyId,
    List,
    MessageSchema,
    Nested,
    PartyId,
    Pattern,
    Str,
    Time,
)
from federation.messages.identity import IdentityHash, Region
from federation.messages.registry import register

__all__ = [
    "DIRECTORY",
    "IN_STEPS",
    "OUT_STEPS",
    "ROUTED",
    "SEALED",
    "STEP",
    "STEPS",
    "UNDELIVERABLE",
    "UNDELIVERABLE_REASONS",
]

STEP: Final = "partynet.transfer.step.v1"
ROUTED: Final = "partynet.transfer.routed.v1"
UNDELIVERABLE: Final = "partynet.transfer.undeliverable.v1"
SEALED: Final = "partynet.transfer.sealed.v1"
DIRECTORY: Final = "partynet.tenants.directory.v1"

#: Steps the origin (out side) sends to the destination (in side), and the other way round.
OUT_STEPS: Final = frozenset({"letter", "released", "refused", "cancelled"})
IN_STEPS: Final = frozenset({"rejected", "claim", "receipt"})
STEPS: Final = OUT_STEPS | IN_STEPS
UNDELIVERABLE_REASONS: Final = ("unknown_tenant", "node_revoked", "already_active",
                                "unreachable")

#: The signed inner envelope, dossier included (base64 of the sealed box): generous, bounded.
MAX_INNER = 4_000_000
#: Tenants and nodes in one directory (about 3,200 local committees nationwide).
MAX_TENANTS = 20_000
MAX_NODES = 5_000

_UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_PREFIX = re.compile(r"[0-9]{6,12}")
_ORG_CODE = re.compile(r"[0-9]{6,64}")
_BASE64_32 = re.compile(r"[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]")


class TransferUid(Pattern):
    """The network-wide id of a transfer: a lowercase UUID (uuid7 when made by a node)."""

    pattern = _UID
    message = "Not a lowercase UUID."


class CodePrefix(Pattern):
    pattern = _PREFIX
    message = "Not a code prefix (6-12 digits)."


class OrgCode(Pattern):
    pattern = _ORG_CODE
    message = "Not an organization code (digits)."


class PublicKeyText(Pattern):
    pattern = _BASE64_32
    message = "Not a 32-byte key in unpadded base64."


def _step_field() -> Str:
    return Str(required=True, validate=validate.OneOf(sorted(STEPS)))


_UID_EX = "019a4f3e-7c2b-7d10-8a11-2b3c4d5e6f70"
_INNER_EX = ('{"data":{"attempt":1,"from_tenant":"dadukou","recipient_key":"ed25519:Tl9xQ2mB7a",'
             '"sealed":"…","step":"letter","to_tenant":"tongguan","uid":"' + _UID_EX + '"},'
             '"destination":"tongling-1","id":"…","signatures":{"chongqing-1":{"…":"…"}},'
             '"source":"chongqing-1","specversion":"1.0","tenant":"tongguan","time":"…",'
             '"type":"partynet.transfer.sealed.v1"}')


@register(SEALED)
class Sealed(MessageSchema):
    """Inner envelope, origin node -> destination node, never sent on the bus by itself: the
    step's metadata, the key id it is sealed for and the sealed box (base64) of the canonical
    JSON {"meta": <these metadata>, "body": <the step body>}."""

    uid = TransferUid(required=True)
    step = _step_field()
    attempt = Int(required=True, validate=validate.Range(min=1))
    from_tenant = TenantSlug(required=True)
    to_tenant = TenantSlug(required=True)
    recipient_key = KeyId(required=True)
    sealed = Str(required=True, validate=validate.Length(min=1, max=MAX_INNER))
    example: ClassVar[dict[str, Any]] = {
        "uid": _UID_EX, "step": "letter", "attempt": 1, "from_tenant": "dadukou",
        "to_tenant": "tongguan", "recipient_key": "ed25519:Tl9xQ2mB7a",
        "sealed": "q1Zb3mVn0d2dX3r9yJ3c5P4k7oW6e1t0aQ",
    }


@register(STEP)
class Step(MessageSchema):
    """Node -> hub, sequenced, envelope `tenant` = `from_tenant`: one step of a transfer for
    another node. Metadata in clear (for routing and the national view), the step itself in
    `signed` (the inner envelope's canonical JSON text, for the destination only)."""

    uid = TransferUid(required=True)
    step = _step_field()
    attempt = Int(required=True, validate=validate.Range(min=1))
    from_node = PartyId(required=True)
    from_tenant = TenantSlug(required=True)
    to_node = PartyId(required=True)
    to_tenant = TenantSlug(required=True)
    #: `letter` only (else null): the addressed organization, its validity, and the keyed hash
    #: of the member's national ID (for the hub's "already active there" check).
    to_org_code = OrgCode(required=True, allow_none=True)
    valid_until = Time(required=True, allow_none=True)
    identity_hash = IdentityHash(required=True, allow_none=True)
    signed = Str(required=True, validate=validate.Length(min=2, max=MAX_INNER))
    example: ClassVar[dict[str, Any]] = {
        "uid": _UID_EX, "step": "letter", "attempt": 1,
        "from_node": "chongqing-1", "from_tenant": "dadukou",
        "to_node": "tongling-1", "to_tenant": "tongguan", "to_org_code": "340705001",
        "valid_until": "2025-05-30T00:00:00.000Z", "identity_hash": "3f" * 32,
        "signed": _INNER_EX,
    }

    @validates_schema
    def _letter_metadata(self, data: dict[str, Any], **_kwargs: Any) -> None:
        letter = data["step"] == "letter"
        for name in ("valid_until", "identity_hash"):
            if letter and data.get(name) is None:
                raise ValidationError("A letter carries its validity and identity hash.", name)
        if data["from_node"] == data["to_node"]:
            raise ValidationError("A step between tenants of one node is not routed.", "to_node")


@register(ROUTED)
class Routed(MessageSchema):
    """Hub -> destination node, sequenced, envelope `tenant` = `to_tenant`: a step the hub
    accepted, with the origin's inner envelope unchanged (the destination checks the origin's
    own signature and that these fields equal the signed ones)."""

    uid = TransferUid(required=True)
    step = _step_field()
    attempt = Int(required=True, validate=validate.Range(min=1))
    from_node = PartyId(required=True)
    from_tenant = TenantSlug(required=True)
    to_tenant = TenantSlug(required=True)
    signed = Str(required=True, validate=validate.Length(min=2, max=MAX_INNER))
    example: ClassVar[dict[str, Any]] = {
        "uid": _UID_EX, "step": "letter", "attempt": 1, "from_node": "chongqing-1",
        "from_tenant": "dadukou", "to_tenant": "tongguan", "signed": _INNER_EX,
    }


@register(UNDELIVERABLE)
class Undeliverable(MessageSchema):
    """Hub -> sending node, sequenced, envelope `tenant` = the sending tenant: the hub refused to
    route a step (`to_node` null when the destination tenant is unknown)."""

    uid = TransferUid(required=True)
    step = _step_field()
    attempt = Int(required=True, validate=validate.Range(min=1))
    from_tenant = TenantSlug(required=True)
    to_node = PartyId(required=True, allow_none=True)
    to_tenant = TenantSlug(required=True)
    reason_code = Str(required=True, validate=validate.OneOf(UNDELIVERABLE_REASONS))
    detail = Str(required=True, validate=validate.Length(max=500))
    example: ClassVar[dict[str, Any]] = {
        "uid": _UID_EX, "step": "letter", "attempt": 1, "from_tenant": "dadukou",
        "to_node": "tongling-1", "to_tenant": "tongguan", "reason_code": "already_active",
        "detail": "the person is already on the rolls of tongling-1/tongguan",
    }


class DirectoryNode(MessageSchema):
    """An active node and its current signing key (also what a step is sealed to)."""

    node = PartyId(required=True)
    key_id = KeyId(required=True)
    public = PublicKeyText(required=True)
    valid_from = Time(required=True)
    valid_until = Time(required=True)


class DirectoryTenant(MessageSchema):
    """Public facts about a tenant: where it lives, its name, region and code prefix."""

    node = PartyId(required=True)
    slug = TenantSlug(required=True)
    name = Str(required=True, validate=validate.Length(min=1, max=120))
    region = Region(required=True)
    code_prefix = CodePrefix(required=True)


@register(DIRECTORY)
class TenantDirectory(MessageSchema):
    """Hub -> every active node, sequenced, envelope `tenant` unset: the whole list of active
    nodes (with their keys) and their tenants. `version` grows with every registry change;
    a node keeps the highest version it received (a lower or equal one changes nothing)."""

    version = Int(required=True, validate=validate.Range(min=1))
    issued_at = Time(required=True)
    nodes = List(Nested(DirectoryNode), required=True,
                 validate=validate.Length(max=MAX_NODES))
    tenants = List(Nested(DirectoryTenant), required=True,
                   validate=validate.Length(max=MAX_TENANTS))
    example: ClassVar[dict[str, Any]] = {
        "version": 18, "issued_at": "2025-03-01T12:00:00.123Z",
        "nodes": [{"node": "chongqing-1", "key_id": "ed25519:Zk3vQ9aL2m",
                   "public": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg",
                   "valid_from": "2025-02-01T00:00:00.000Z",
                   "valid_until": "2026-02-01T00:00:00.000Z"}],
        "tenants": [{"node": "chongqing-1", "slug": "dadukou",
                     "name": "中共重庆市大渡口区委员会", "region": "500104",
                     "code_prefix": "500104"}],
    }

    @validates_schema
    def _tenants_on_listed_nodes(self, data: dict[str, Any], **_kwargs: Any) -> None:
        listed = {entry["node"] for entry in data["nodes"]}
        if any(tenant["node"] not in listed for tenant in data["tenants"]):
            raise ValidationError("Every tenant's node is listed in nodes.", "tenants")
