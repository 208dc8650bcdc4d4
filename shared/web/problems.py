"""RFC 9457 problem details for every error the API answers.

One renderer for domain errors, HTTP errors (including webargs' 422 with field errors) and
unexpected exceptions, so a client always gets `application/problem+json` with a stable `type`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

import marshmallow as ma
from flask import Response, json, request
from werkzeug.exceptions import HTTPException

from shared.errors import DomainError

PROBLEM_BASE = "https://partynet.invalid/problems/"
PROBLEM_MIMETYPE = "application/problem+json"
log = logging.getLogger("partynet.errors")


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details (documentation only); extension members are allowed."""

    class Meta:
        unknown = ma.INCLUDE

    type = ma.fields.String(metadata={"description": "URI naming the problem kind; ends in a code"})
    title = ma.fields.String()
    status = ma.fields.Integer()
    detail = ma.fields.String()
    instance = ma.fields.String()
    code = ma.fields.String(metadata={"description": "Stable machine code (kebab-case)"})
    errors = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.Raw(),
        metadata={"description": "Field errors: field name -> list of messages"},
    )


def _flatten_webargs(messages: Mapping[str, Any]) -> dict[str, Any]:
    """webargs nests errors by location ({"json": {"name": [...]}}); clients want fields."""
    flat: dict[str, Any] = {}
    for location, fields in messages.items():
        if isinstance(fields, Mapping):
            flat.update(fields)
        else:
            flat[location] = fields
    return flat


def problem(status: int, code: str, title: str, detail: str | None = None,
            errors: Mapping[str, Any] | None = None, headers: Mapping[str, str] | None = None,
            **extra: Any) -> Response:
    body: dict[str, Any] = {"type": PROBLEM_BASE + code, "title": title, "status": status,
                            "code": code}
    if detail:
        body["detail"] = detail
    body["instance"] = request.path
    if errors:
        body["errors"] = errors
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


_HTTP_CODES = {
    400: "bad-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 406: "not-acceptable", 409: "conflict", 412: "precondition-failed",
    413: "payload-too-large", 415: "unsupported-media-type", 422: "invalid-input",
    428: "precondition-required", 429: "too-many-attempts", 500: "internal-error",
}


def from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    errors = data.get("errors")
    if errors is None and "messages" in data:
        errors = _flatten_webargs(data["messages"])
    detail = data.get("message")
    if detail is None and status != 500 and error.description:
        detail = error.description
    headers = dict(data.get("headers") or {})
    if status == 405 and hasattr(error, "valid_methods") and error.valid_methods:
        headers["Allow"] = ", ".join(error.valid_methods)
    return problem(status, _HTTP_CODES.get(status, f"http-{status}"), error.name, detail,
                   errors, headers)


def from_domain_error(error: DomainError) -> Response:
    return problem(error.status, error.code, error.title, error.detail, error.errors,
                   error.headers, **error.extra)


def from_unexpected(error: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.path)
    return problem(500, "internal-error", "Internal server error")
