"""Public content, node -> hub (and take-downs, hub -> node): the national feed's contract.

A node tells the hub about its **public** articles and notices only; items visible to members or
to the organization never leave the node. An item is named network-wide by its source node and
its content key `<tenant slug>:<article id>`. Deletions travel as tombstones (`withdrawn`), so a
hub that missed the item, or that receives the withdrawal first, still ends in the right state.
See docs/protocol.md ("Message types") and docs/architecture.md ("Content and the national
feed").
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar

from marshmallow import validate

from federation.canonical import encode_canonical
from federation.messages.fields import Bool, Int, List, MessageSchema, Nested, Pattern, Str, Time
from federation.messages.registry import register

__all__ = [
    "BODY_MAX",
    "COUNTERS",
    "KINDS",
    "MAX_COUNTERS_PER_MESSAGE",
    "PUBLISHED",
    "TAKEDOWN",
    "WITHDRAWN",
    "content_hash",
    "content_key",
    "parse_content_key",
]

PUBLISHED = "partynet.content.published.v1"
WITHDRAWN = "partynet.content.withdrawn.v1"
COUNTERS = "partynet.content.counters.v1"
TAKEDOWN = "partynet.content.takedown.v1"

KINDS = ("article", "notice")
#: Longest body carried, in characters; a longer body is cut there and `body_truncated` is set.
BODY_MAX = 65_536
TITLE_MAX = 200
SUMMARY_MAX = 1000
MAX_COUNTERS_PER_MESSAGE = 500

#: `<tenant slug>:<article id>`; tenant slugs are 2-40 of a-z, 0-9 and "-" (enrollment rules).
CONTENT_KEY = re.compile(r"([a-z][a-z0-9-]{1,39}):([1-9][0-9]{0,17})")
_CODE = re.compile(r"[0-9]{6,64}")
_HASH = re.compile(r"[0-9a-f]{64}")

#: The fields a content hash covers, in the published message (counters excluded: popularity
#: changes are not content changes).
HASHED_FIELDS = ("content_key", "org_code", "org_name", "kind", "title", "summary", "body",
                 "body_truncated", "published_at", "updated_at")


def content_key(tenant_slug: str, article_id: int) -> str:
    return f"{tenant_slug}:{article_id}"


def parse_content_key(key: str) -> tuple[str, int]:
    """(tenant slug, article id); ValueError when `key` is not a content key."""
    match = CONTENT_KEY.fullmatch(key)
    if match is None:
        raise ValueError(f"not a content key: {key!r}")
    return match.group(1), int(match.group(2))


def content_hash(data: dict[str, Any]) -> str:
    """SHA-256 (hex) of the canonical JSON of the item's content fields: what both sides compare
    to skip an unchanged item."""
    item = {name: data[name] for name in HASHED_FIELDS}
    return hashlib.sha256(encode_canonical(item)).hexdigest()


class ContentKey(Pattern):
    pattern = CONTENT_KEY
    message = "Not a content key like <tenant slug>:<article id>."


class OrgCode(Pattern):
    pattern = _CODE
    message = "Not an organization code (6 to 64 digits)."


class Sha256(Pattern):
    pattern = _HASH
    message = "Not a lowercase hex SHA-256."


_KEY_EXAMPLE = "dadukou:42"


def _published_example() -> dict[str, Any]:
    data: dict[str, Any] = {
        "content_key": _KEY_EXAMPLE,
        "org_code": "500104001",
        "org_name": "中共大渡口区某某委员会",
        "kind": "article",
        "title": "加强基层党建工作",
        "summary": "区委组织部部署年度基层党建重点任务。",
        "body": "全面加强基层党建工作，推动党建引领基层治理。",
        "body_truncated": False,
        "published_at": "2025-03-01T08:00:00.000Z",
        "updated_at": "2025-03-01T08:00:00.000Z",
        "views": 12,
        "likes": 3,
    }
    data["content_hash"] = content_hash(data)
    return data


@register(PUBLISHED)
class Published(MessageSchema):
    """A public item, created or changed (the envelope's `tenant` is the item's tenant)."""

    content_key = ContentKey(required=True)
    org_code = OrgCode(required=True)
    org_name = Str(required=True, validate=validate.Length(min=1, max=120))
    kind = Str(required=True, validate=validate.OneOf(KINDS))
    title = Str(required=True, validate=validate.Length(min=1, max=TITLE_MAX))
    summary = Str(required=True, validate=validate.Length(max=SUMMARY_MAX))
    body = Str(required=True, validate=validate.Length(max=BODY_MAX))
    body_truncated = Bool(required=True)
    published_at = Time(required=True)
    updated_at = Time(required=True)
    content_hash = Sha256(required=True)
    views = Int(required=True, validate=validate.Range(min=0))
    likes = Int(required=True, validate=validate.Range(min=0))
    example: ClassVar[dict[str, Any]] = _published_example()


@register(WITHDRAWN)
class Withdrawn(MessageSchema):
    """A tombstone: the item is no longer public (withdrawn, taken down, or made non-public)."""

    content_key = ContentKey(required=True)
    withdrawn_at = Time(required=True)
    example: ClassVar[dict[str, Any]] = {"content_key": _KEY_EXAMPLE,
                                         "withdrawn_at": "2025-03-02T09:00:00.000Z"}


class Counter(MessageSchema):
    content_key = ContentKey(required=True)
    views = Int(required=True, validate=validate.Range(min=0))
    likes = Int(required=True, validate=validate.Range(min=0))


@register(COUNTERS)
class Counters(MessageSchema):
    """Popularity counters of a tenant's public items, as totals (not increments)."""

    counted_at = Time(required=True)
    items = List(Nested(Counter), required=True,
                 validate=validate.Length(min=1, max=MAX_COUNTERS_PER_MESSAGE))
    example: ClassVar[dict[str, Any]] = {
        "counted_at": "2025-03-02T01:00:00.000Z",
        "items": [{"content_key": _KEY_EXAMPLE, "views": 40, "likes": 5}],
    }


@register(TAKEDOWN)
class Takedown(MessageSchema):
    """Hub -> node: a hub administrator took the item down; the node withdraws it."""

    content_key = ContentKey(required=True)
    by = Str(required=True, validate=validate.Length(min=1, max=120))
    reason = Str(required=True, validate=validate.Length(min=1, max=500))
    at = Time(required=True)
    example: ClassVar[dict[str, Any]] = {
        "content_key": _KEY_EXAMPLE, "by": "national-admin",
        "reason": "Duplicate of a national notice.", "at": "2025-03-02T10:00:00.000Z"}
