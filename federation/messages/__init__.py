"""The message contract shared by the hub and the nodes: type name -> strict marshmallow schema.

Importing this package registers the built-in types (`federation.messages.bus`,
`federation.messages.stats`,
`federation.messages.content`, `federation.messages.directives`,
`federation.messages.identity`, `federation.messages.transfers`,
`federation.messages.floating`). Other packages
register their own types with `@register("partynet.<area>.<name>.v1")` on a `MessageSchema`.
"""

from federation.messages import bus, content, directives, floating, identity, stats, transfers
from federation.messages.fields import MessageSchema
from federation.messages.registry import (
    MESSAGE_TYPES,
    TYPE_PATTERN,
    register,
    schema_for,
    validate_data,
)

__all__ = [
    "MESSAGE_TYPES",
    "TYPE_PATTERN",
    "MessageSchema",
    "bus",
    "content",
    "directives",
    "floating",
    "identity",
    "register",
    "schema_for",
    "stats",
    "transfers",
    "validate_data",
]
