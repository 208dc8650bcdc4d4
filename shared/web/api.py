"""The single customisation point of flask-smorest for the whole project.

API errors are problem+json; pages outside the API get the app's own HTML error handlers, so
`Api` only takes over errors for requests under its URL prefixes.
"""

from __future__ import annotations

import http
from collections.abc import Callable
from typing import Any

import flask_smorest
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Flask, Response, current_app, request
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException
from werkzeug.routing import IntegerConverter

from shared.errors import DomainError, InvalidInput, UnsupportedBody
from shared.web import problems


def schema_name_resolver(schema: Any) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__
    if name.endswith("Schema"):
        name = name[: -len("Schema")]
    if not isinstance(schema, type) and getattr(schema, "partial", False):
        name += "Partial"
    return name


#: Largest id a path may name: beyond the columns' range a lookup would be a database error.
MAX_ID = 2**31 - 1


class BoundedIntConverter(IntegerConverter):
    """`<int:...>` in every route: a positive id within the 32-bit column range, else 404."""

    def __init__(self, url_map: Any, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min", 1)
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def _bounded_int_schema(converter: BoundedIntConverter) -> dict[str, Any]:
    return {"type": "integer", "minimum": converter.min, "maximum": converter.max}


def _json_body_expected() -> bool:
    """Whether the matched view declares a JSON body (flask-smorest keeps it in `_apidoc`)."""
    view = current_app.view_functions.get(request.endpoint or "")
    view_class = getattr(view, "view_class", None)
    method = getattr(view_class, request.method.lower(), None) if view_class else view
    parameters = getattr(method, "_apidoc", {}).get("arguments", {}).get("parameters", [])
    return any(p.get("in") == "json" for p in parameters)


def require_json_body() -> None:
    """A documented JSON body is required: no body, or another media type, is not `{}`."""
    if request.method not in ("POST", "PUT", "PATCH") or not _json_body_expected():
        return
    if not request.get_data(cache=True):
        raise InvalidInput("A JSON body is required.", errors={"_body": ["Missing."]})
    if not request.is_json:
        raise UnsupportedBody("Send the body as application/json.",
                              errors={"_body": ["Expected application/json."]})


class Api(flask_smorest.Api):
    ERROR_SCHEMA = problems.ProblemSchema
    #: Path prefixes answered with problem+json; other paths fall back to `html_error`.
    api_prefixes: tuple[str, ...] = ("/api", "/oauth", "/healthz", "/readyz")
    html_error: Callable[[int, str], Response | tuple[str, int]] | None = None

    def init_app(self, app: Flask, *, spec_kwargs: dict[str, Any] | None = None) -> None:
        spec_kwargs = dict(spec_kwargs or self._spec_kwargs or {})
        spec_kwargs.setdefault("marshmallow_plugin",
                               MarshmallowPlugin(schema_name_resolver=schema_name_resolver))
        app.url_map.converters["int"] = BoundedIntConverter
        super().init_app(app, spec_kwargs=spec_kwargs)
        self.register_converter(BoundedIntConverter, _bounded_int_schema)
        app.before_request(require_json_body)
        app.register_error_handler(DomainError, self.handle_domain_error)
        app.register_error_handler(Exception, self.handle_unexpected)

    def _register_responses(self) -> None:
        """Document every error response as problem+json, the content type actually sent."""
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not 100 <= status < 200 and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, problems.PROBLEM_MIMETYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Error (RFC 9457 problem details)",
                    "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, problems.PROBLEM_MIMETYPE)
        self.spec.components.response("DEFAULT_ERROR", response, lazy=True)

    def _is_api_request(self) -> bool:
        return request.path.startswith(self.api_prefixes)

    def handle_http_exception(self, error: HTTPException) -> Any:
        if not self._is_api_request() and self.html_error is not None:
            return self.html_error(error.code or 500, error.name)
        return problems.from_http_exception(error)

    def handle_domain_error(self, error: DomainError) -> Any:
        if not self._is_api_request() and self.html_error is not None:
            return self.html_error(error.status, str(error))
        return problems.from_domain_error(error)

    def handle_unexpected(self, error: Exception) -> Any:
        if isinstance(error, HTTPException):
            return self.handle_http_exception(error)
        response = problems.from_unexpected(error)
        if not self._is_api_request() and self.html_error is not None:
            return self.html_error(500, "Internal server error")
        return response


class Blueprint(flask_smorest.Blueprint):
    """Project blueprint: documents the problem responses every endpoint may give."""
