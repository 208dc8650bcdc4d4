"""Every error the API gives is RFC 9457 problem+json, and bad input names the field.

The cases are generated from the published OpenAPI document: for each write endpoint and each
property of its request body, a wrong type, an unknown enum value, an out-of-range integer, a
bad date, an oversize or too-short string. Each must answer 4xx `application/problem+json`
with `type`, `title`, `status` and the field in `errors`, and must change nothing.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from flask import Flask

from node.accounts.models import Account
from node.app import create_app
from node.audit.models import AuditEntry
from node.db import db
from node.settings import NodeSettings
from node.tenants.scoping import all_tenants, tenant_context

PROBLEM = "application/problem+json"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE")


def _collect_app() -> Flask:
    """An app built at collection time, only to read its routes and OpenAPI document."""
    return create_app(NodeSettings(
        database_url="sqlite://", secret_key="collect-only-secret-key",
        pii_key="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        identity_hash_key="test-identity-hash-key"))


APP = _collect_app()
SPEC: dict[str, Any] = APP.test_client().get("/api/openapi.json").json
API_RULES = sorted((rule for rule in APP.url_map.iter_rules()
                    if rule.rule.startswith("/api/")), key=lambda rule: rule.rule)


def resolve(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = SPEC["components"]["schemas"][name]
    return node


def concrete_path(path: str) -> str:
    """Path parameters filled with 1: body validation runs before any lookup."""
    return re.sub(r"\{[^}]+\}", "1", path)


def json_bodies() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(method, path, body schema) of every operation taking a JSON body."""
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            body = operation.get("requestBody", {}) if isinstance(operation, dict) else {}
            schema = body.get("content", {}).get("application/json", {}).get("schema")
            if schema is not None:
                yield method.upper(), path, resolve(schema)


def _types(prop: dict[str, Any]) -> set[str]:
    kind = prop.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def bad_values(prop: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    """(case name, value) pairs that the property's schema forbids."""
    types = _types(prop) - {"null"}
    if "integer" in types:
        yield "wrong-type", "abc"
        if "minimum" in prop:
            yield "below-minimum", prop["minimum"] - 1
        if "maximum" in prop:
            yield "above-maximum", prop["maximum"] + 1
    elif "boolean" in types:
        yield "wrong-type", "maybe"
    elif "string" in types:
        yield "wrong-type", {"not": "a string"}
        if "enum" in prop:
            yield "unknown-enum", "no-such-value"
        if prop.get("format") == "date":
            yield "impossible-date", "2024-02-30"
            yield "not-a-date", "next tuesday"
        if prop.get("format") == "email":
            yield "bad-email", "not-an-email"
        if "maxLength" in prop:
            yield "oversize", "x" * (prop["maxLength"] + 1)
        if prop.get("minLength", 0) >= 1 and "enum" not in prop:
            yield "too-short", ""
        # Long enough that the NUL is the only fault of a free-text value.
        yield "nul-byte", "a\x00b".rjust(prop.get("minLength", 0), "a")
    elif "array" in types or "object" in types:
        yield "wrong-type", 12345


def _field_cases() -> Iterator[Any]:
    for method, path, schema in json_bodies():
        for name, prop in schema.get("properties", {}).items():
            if prop.get("readOnly"):
                continue
            for case, value in bad_values(prop):
                yield pytest.param(method, path, name, value,
                                   id=f"{method} {path} {name} {case}")
        yield pytest.param(method, path, "no_such_field", 1,
                           id=f"{method} {path} unknown-field")


def _query_cases() -> Iterator[Any]:
    for path, item in SPEC["paths"].items():
        operation = item.get("get")
        if not isinstance(operation, dict):
            continue
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "query":
                continue
            for case, value in bad_values(parameter["schema"]):
                if isinstance(value, dict | list):
                    continue  # a query string has no types beyond text
                yield pytest.param(path, parameter["name"], str(value),
                                   id=f"GET {path} {parameter['name']} {case}")


def _required_bodies() -> Iterator[Any]:
    for method, path, schema in json_bodies():
        yield pytest.param(method, path, schema, id=f"{method} {path}")


# --- fixtures -------------------------------------------------------------------------------


@pytest.fixture()
def admin(world: Any, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Headers of the tenant administrator of a fresh tenant (cheap argon2 parameters)."""
    fast = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    monkeypatch.setattr("node.tenants.services.hash_password", fast.hash)
    tenant = world.tenant()
    with tenant_context(tenant.id):
        account = db.session.scalars(sa.select(Account)).one()
        db.session.expunge(account)
    return world.token(account)


def audit_count() -> int:
    with all_tenants():
        count = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
    db.session.remove()
    return int(count or 0)


def assert_problem(response: Any, status: int | tuple[int, ...]) -> dict[str, Any]:
    statuses = (status,) if isinstance(status, int) else status
    assert response.status_code in statuses, response.get_data(as_text=True)[:400]
    assert response.headers["Content-Type"] == PROBLEM
    body = response.json
    assert isinstance(body["type"], str) and body["type"].startswith(("https://", "about:"))
    assert isinstance(body["title"], str) and body["title"]
    assert body["status"] == response.status_code
    return body


# --- request bodies -------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "field", "value"), list(_field_cases()))
def test_bad_field_is_named(client: Any, admin: dict[str, str], method: str, path: str,
                            field: str, value: Any) -> None:
    before = audit_count()
    r = client.open(concrete_path(path), method=method, json={field: value}, headers=admin)
    body = assert_problem(r, 422)
    assert field in body["errors"], body["errors"]
    assert audit_count() == before


@pytest.mark.parametrize(("path", "name", "value"), list(_query_cases()))
def test_bad_query_parameter_is_named(client: Any, admin: dict[str, str], path: str, name: str,
                                      value: str) -> None:
    r = client.get(concrete_path(path), query_string={name: value}, headers=admin)
    body = assert_problem(r, 422)
    assert name in body["errors"], body["errors"]


def test_bad_cursor_is_named(client: Any, admin: dict[str, str]) -> None:
    for path in ("/api/members", "/api/orgs", "/api/audit"):
        for cursor in ("not-base64!", "WzEsMl0", "eyJhIjoxfQ", "W10"):
            body = assert_problem(client.get(path, query_string={"cursor": cursor},
                                             headers=admin), 422)
            assert "cursor" in body["errors"], (path, cursor, body)


@pytest.mark.parametrize(("method", "path", "schema"), list(_required_bodies()))
def test_empty_body_is_refused(client: Any, admin: dict[str, str], method: str, path: str,
                               schema: dict[str, Any]) -> None:
    before = audit_count()
    r = client.open(concrete_path(path), method=method, headers=admin)
    body = assert_problem(r, 422)
    assert body["errors"] == {"_body": ["Missing."]}, body
    if schema.get("required"):  # an empty object names every missing field
        body = assert_problem(client.open(concrete_path(path), method=method, headers=admin,
                                          json={}), 422)
        assert set(schema["required"]) <= set(body["errors"]), body
    assert audit_count() == before


@pytest.mark.parametrize(("method", "path", "schema"), list(_required_bodies()))
def test_wrong_content_type_is_refused(client: Any, admin: dict[str, str], method: str,
                                       path: str, schema: dict[str, Any]) -> None:
    before = audit_count()
    r = client.open(concrete_path(path), method=method, headers=admin,
                    data="name=x&is_active=false", content_type="application/x-www-form-urlencoded")
    assert_problem(r, (400, 415, 422))
    assert audit_count() == before


@pytest.mark.parametrize(("method", "path"), [
    pytest.param(method, path, id=f"{method} {path}") for method, path, _ in json_bodies()])
@pytest.mark.parametrize("payload", [b"{not json", b'{"a": 1', b"\xff\xfe", b"[1, 2"],
                         ids=["garbage", "truncated", "not-utf8", "open-array"])
def test_malformed_json_is_refused(client: Any, admin: dict[str, str], method: str,
                                   path: str, payload: bytes) -> None:
    r = client.open(concrete_path(path), method=method, headers=admin, data=payload,
                    content_type="application/json")
    body = assert_problem(r, (400, 422))
    assert body.get("errors"), body


@pytest.mark.parametrize(("method", "path"), [
    pytest.param(method, path, id=f"{method} {path}") for method, path, _ in json_bodies()])
@pytest.mark.parametrize("payload", [[1, 2], "a string", 42, None], ids=repr)
def test_body_that_is_not_an_object_is_refused(client: Any, admin: dict[str, str], method: str,
                                               path: str, payload: Any) -> None:
    r = client.open(concrete_path(path), method=method, headers=admin,
                    data=json.dumps(payload), content_type="application/json")
    body = assert_problem(r, 422)
    assert body.get("errors"), body


# --- multipart uploads ----------------------------------------------------------------------


def multipart_cases() -> Iterator[Any]:
    """(path, case, request, field) for every multipart operation: the file missing or
    mistyped, and a mistyped query option where the operation has one."""
    for path, item in SPEC["paths"].items():
        for operation in item.values():
            if not (isinstance(operation, dict) and "multipart/form-data" in
                    operation.get("requestBody", {}).get("content", {})):
                continue
            yield pytest.param(path, {"json": {"file": "name,national_id"}}, "file",
                               id=f"{path}-json-instead-of-file")
            yield pytest.param(path, {"data": {"note": "x"}, "content_type":
                                      "multipart/form-data"}, "file", id=f"{path}-no-file")
            yield pytest.param(path, {"data": {"file": "name,national_id"},
                                      "content_type": "multipart/form-data"}, "file",
                               id=f"{path}-file-as-text")
            booleans = [p["name"] for p in operation.get("parameters", [])
                        if p.get("in") == "query" and p.get("schema", {}).get("type") == "boolean"]
            for name in booleans:
                yield pytest.param(path, {"query_string": {name: "maybe"}}, name,
                                   id=f"{path}-bad-{name}")


@pytest.mark.parametrize(("path", "kwargs", "field"), list(multipart_cases()))
def test_bad_upload_is_named(client: Any, admin: dict[str, str], path: str,
                             kwargs: dict[str, Any], field: str) -> None:
    before = audit_count()
    r = client.post(concrete_path(path), headers=admin, **kwargs)
    body = assert_problem(r, (400, 415, 422))
    assert field in body.get("errors", {}), body
    assert audit_count() == before


# --- routing --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/nope", "/api/members/1/nope", "/api/orgs/abc",
                                  "/api/members/-1", "/api/"])
@pytest.mark.parametrize("signed_in", [False, True], ids=["anonymous", "signed-in"])
def test_unknown_route_is_a_problem(client: Any, admin: dict[str, str], path: str,
                                    signed_in: bool) -> None:
    r = client.get(path, headers=admin if signed_in else {})
    assert_problem(r, 404)


@pytest.mark.parametrize("rule", API_RULES, ids=lambda rule: rule.rule)
def test_wrong_method_is_a_problem_with_allow(client: Any, rule: Any) -> None:
    allowed = set(rule.methods or ())
    method = next(m for m in ("PUT", "DELETE", "PATCH", "POST") if m not in allowed)
    path = re.sub(r"<(?:[^:>]+:)?[^>]+>", "1", rule.rule)
    r = client.open(path, method=method)
    assert_problem(r, 405)
    assert set(re.split(r",\s*", r.headers["Allow"])) == allowed


def test_every_write_route_is_documented_with_its_body() -> None:
    """The generated cases only cover what the OpenAPI document describes."""
    documented = {(method.upper(), path) for path, item in SPEC["paths"].items()
                  for method in item if method != "parameters"}
    missing = []
    for rule in API_RULES:
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        missing += [f"{m} {path}" for m in sorted(set(rule.methods or ()) & set(WRITE_METHODS))
                    if (m, path) not in documented]
    assert not missing, f"write routes missing from /api/openapi.json: {missing}"


# --- integers beyond the columns ------------------------------------------------------------

#: Ids past the columns' range (PostgreSQL: "integer out of range" from 2**31; SQLite:
#: OverflowError from 2**63) must never reach the database.


def _int_rules() -> list[Any]:
    """Rules with an id in the path that can be called without a body (GET)."""
    return [pytest.param(rule, id=rule.rule) for rule in API_RULES
            if "<int:" in rule.rule and "GET" in (rule.methods or ())]


@pytest.mark.parametrize("value", [2**31, 2**64], ids=["2**31", "2**64"])
@pytest.mark.parametrize("rule", _int_rules())
def test_huge_path_id_is_not_found(client: Any, admin: dict[str, str], backend: str,
                                   rule: Any, value: int) -> None:
    r = client.get(re.sub(r"<int:[^>]+>", str(value), rule.rule), headers=admin)
    assert_problem(r, (404, 422))


@pytest.mark.parametrize("value", [2**31, 2**64, -(2**64)], ids=["2**31", "2**64", "-2**64"])
@pytest.mark.parametrize(("path", "shape"), [
    ("/api/members", lambda v: ["500104", v]), ("/api/audit", lambda v: [v]),
    ("/api/grants", lambda v: [v]), ("/api/accounts", lambda v: [v])])
def test_huge_cursor_is_refused(client: Any, admin: dict[str, str], path: str, shape: Any,
                                value: int) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(shape(value)).encode()).decode().rstrip("=")
    r = client.get(path, query_string={"cursor": cursor}, headers=admin)
    body = assert_problem(r, 422)
    assert "cursor" in body["errors"]
