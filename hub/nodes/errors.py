"""Why an enrollment is refused. Problem codes are stable: the node's CLI shows them."""

from __future__ import annotations

from shared.errors import Conflict, DomainError, Forbidden


class EnrollmentRefused(DomainError):
    """The enrollment token does not admit this request (counted for throttling)."""

    status = 401
    code = "enrollment-refused"
    title = "Enrollment refused"


class TokenUnknown(EnrollmentRefused):
    code = "enrollment-token-unknown"
    title = "Unknown enrollment token"


class TokenExpired(EnrollmentRefused):
    code = "enrollment-token-expired"
    title = "Enrollment token expired"


class TokenUsed(EnrollmentRefused):
    code = "enrollment-token-used"
    title = "Enrollment token already used"


class TokenRevoked(EnrollmentRefused):
    code = "enrollment-token-revoked"
    title = "Enrollment token revoked"


class TokenForAnotherNode(EnrollmentRefused):
    status = 403
    code = "enrollment-token-wrong-node"
    title = "Enrollment token issued for another node"


class PrefixNotAllowed(Forbidden):
    code = "prefix-not-allowed"
    title = "Code prefix not allowed by the enrollment token"


class PrefixTaken(Conflict):
    code = "prefix-taken"
    title = "Code prefix registered by another node"


class NodeRevoked(Conflict):
    code = "node-revoked"
    title = "Node revoked"


class KeyConflict(Conflict):
    code = "key-conflict"
    title = "Key id already used"
