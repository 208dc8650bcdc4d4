"""Errors of the hub's key authority."""

from __future__ import annotations

from shared.errors import DomainError


class HubKeyMissing(DomainError):
    """The hub has no signing key yet: it can neither sign a directory nor enroll nodes."""

    status = 503
    code = "hub-key-missing"
    title = "The hub has no signing key"
