"""Why the hub refuses a statistics snapshot (the consumer quarantines it as handler_failed)."""

from __future__ import annotations


class SnapshotRefused(ValueError):
    """The chunk cannot be applied: an org outside the tenant's prefix, inconsistent chunks."""
