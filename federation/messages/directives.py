"""Directives and study material, hub -> nodes, and their read-back, node -> hub (上情下达,
下情上传).

A hub administrator publishes a directive (指示/通知) or a study item to a target (every node,
a region, listed tenants). Each node gets **one** sequenced message naming the tenants it hosts
that are targeted; the node shows the item to those tenants' members (or only to their
secretaries) and sends back, per tenant, **counts only** (targeted, read, completed): never a
name or an id of a person. A withdrawal hides the item on every node that has it.
See docs/protocol.md ("Message types") and docs/architecture.md ("Directives").
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from marshmallow import ValidationError, validate, validates_schema

from federation.messages.fields import Bool, Int, List, MessageSchema, Nested, Str, Time
from federation.messages.registry import register

__all__ = [
    "AUDIENCES",
    "BODY_MAX",
    "KINDS",
    "LINKS_MAX",
    "PRIORITIES",
    "PUBLISHED",
    "RECEIPT",
    "TITLE_MAX",
    "WITHDRAWN",
    "Published",
    "Receipt",
    "Withdrawn",
]

PUBLISHED = "partynet.directive.published.v1"
WITHDRAWN = "partynet.directive.withdrawn.v1"
RECEIPT = "partynet.directive.receipt.v1"

KINDS = ("directive", "study")
#: Strongest last: nodes order by it (urgent first).
PRIORITIES = ("normal", "high", "urgent")
#: `all`: every member of the targeted tenants; `secretaries`: their organization
#: administrators (secretaries, party-affairs staff) only.
AUDIENCES = ("all", "secretaries")
TITLE_MAX = 200
BODY_MAX = 65_536
LINKS_MAX = 20
#: Tenants named in one message: a node hosts a handful; the bound keeps messages small.
TENANTS_MAX = 500

#: A tenant's slug on its node (the enrollment rules: 2-40 of a-z, 0-9 and "-").
_SLUG = re.compile(r"[a-z][a-z0-9-]{1,39}")
_URL = re.compile(r"https?://[^\s<>\"']{1,1990}")


class TenantSlug(Str):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _SLUG.fullmatch(text) is None:
            raise ValidationError("Not a tenant slug (2-40 of a-z, 0-9 and -).")
        return text


class Url(Str):
    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs)
        if _URL.fullmatch(text) is None:
            raise ValidationError("Not an http(s) URL without spaces (at most 2000 characters).")
        return text


class Link(MessageSchema):
    """A link to reading material or an attachment kept elsewhere (the hub's files, a portal)."""

    title = Str(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    url = Url(required=True)


@register(PUBLISHED)
class Published(MessageSchema):
    """Hub -> node: a published directive or study item for the listed tenants of the node
    (the envelope's `tenant` is unset: one message serves all of them)."""

    directive_id = Int(required=True, validate=validate.Range(min=1))
    kind = Str(required=True, validate=validate.OneOf(KINDS))
    title = Str(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    body = Str(required=True, validate=validate.Length(max=BODY_MAX))
    links = List(Nested(Link), required=True, validate=validate.Length(max=LINKS_MAX))
    priority = Str(required=True, validate=validate.OneOf(PRIORITIES))
    pinned = Bool(required=True)
    deadline = Time(required=True, allow_none=True)
    published_at = Time(required=True)
    audience = Str(required=True, validate=validate.OneOf(AUDIENCES))
    tenants = List(TenantSlug(), required=True,
                   validate=validate.Length(min=1, max=TENANTS_MAX))
    example: ClassVar[dict[str, Any]] = {
        "directive_id": 7,
        "kind": "study",
        "title": "学习贯彻党的二十届三中全会精神",
        "body": "各基层党组织要认真组织党员学习全会公报，月底前完成学习。",
        "links": [{"title": "全会公报", "url": "https://www.example.org/gongbao.html"}],
        "priority": "high",
        "pinned": True,
        "deadline": "2025-03-31T15:59:59.000Z",
        "published_at": "2025-03-01T08:00:00.000Z",
        "audience": "all",
        "tenants": ["dadukou", "jiulongpo"],
    }

    @validates_schema
    def _distinct_tenants(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if len(set(data["tenants"])) != len(data["tenants"]):
            raise ValidationError("A tenant is listed twice.", "tenants")


@register(WITHDRAWN)
class Withdrawn(MessageSchema):
    """Hub -> node: the directive is withdrawn; the node hides it from every tenant."""

    directive_id = Int(required=True, validate=validate.Range(min=1))
    withdrawn_at = Time(required=True)
    example: ClassVar[dict[str, Any]] = {"directive_id": 7,
                                         "withdrawn_at": "2025-03-02T09:00:00.000Z"}


@register(RECEIPT)
class Receipt(MessageSchema):
    """Node -> hub: how far one tenant (the envelope's `tenant`) has got with a directive, as
    counts of people at `as_of`. Totals, not increments: the latest `as_of` wins."""

    directive_id = Int(required=True, validate=validate.Range(min=1))
    targeted = Int(required=True, validate=validate.Range(min=0))
    read = Int(required=True, validate=validate.Range(min=0))
    completed = Int(required=True, validate=validate.Range(min=0))
    as_of = Time(required=True)
    example: ClassVar[dict[str, Any]] = {"directive_id": 7, "targeted": 120, "read": 87,
                                         "completed": 40, "as_of": "2025-03-05T02:00:00.000Z"}

    @validates_schema
    def _counts_nest(self, data: dict[str, Any], **_kwargs: Any) -> None:
        """Whoever completed it has read it, and whoever read it is targeted."""
        if data["read"] > data["targeted"]:
            raise ValidationError("read exceeds targeted.", "read")
        if data["completed"] > data["read"]:
            raise ValidationError("completed exceeds read.", "completed")
