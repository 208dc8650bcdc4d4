"""Why the hub refuses a content message (the consumer quarantines it as handler_failed)."""

from __future__ import annotations


class ContentRefused(ValueError):
    """The item cannot be applied: an org outside the tenant's prefix, a key of another
    tenant, a content hash that does not match the content."""
