"""Domain errors: services raise these; the web layer renders them as RFC 9457 problems.

Each error has a stable kebab-case `code` (the problem `type` URI ends with it, and clients may
switch on it), an HTTP `status` and a human `title`. Codes are never translated.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class DomainError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad-request"
    title: ClassVar[str] = "Bad request"

    def __init__(self, detail: str | None = None, *, errors: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.errors = dict(errors) if errors else None
        self.headers = dict(headers) if headers else {}
        self.extra = extra


class NotFound(DomainError):
    """Missing, or outside the principal's reach: the two are indistinguishable on purpose."""

    status = 404
    code = "not-found"
    title = "Not found"


class Forbidden(DomainError):
    status = 403
    code = "forbidden"
    title = "Forbidden"


class Unauthorized(DomainError):
    status = 401
    code = "unauthorized"
    title = "Authentication required"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidInput(DomainError):
    """Input that passed the schema but breaks a domain rule; `errors` maps fields to messages."""

    status = 422
    code = "invalid-input"
    title = "Invalid input"


class UnsupportedBody(DomainError):
    status = 415
    code = "unsupported-media-type"
    title = "Unsupported media type"


class TooManyAttempts(DomainError):
    status = 429
    code = "too-many-attempts"
    title = "Too many attempts"
