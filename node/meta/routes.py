"""Liveness, readiness and version: what operators and load balancers poll."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from node import migrate
from node.bus import services as bus
from node.db import db
from shared.web.api import Blueprint

blp = Blueprint("meta", __name__, description="Health and version.")

try:
    VERSION = version("partynet")
except PackageNotFoundError:  # running from a checkout without installing
    VERSION = "0.0.0"


class VersionSchema(ma.Schema):
    name = ma.fields.String()
    version = ma.fields.String()
    node_id = ma.fields.String()


class FederationHealthSchema(ma.Schema):
    backlog = ma.fields.Integer(metadata={"description": "Messages not yet acknowledged"})
    lag_seconds = ma.fields.Integer(metadata={"description": "Age of the oldest of them"})
    quarantined = ma.fields.Integer()
    parked = ma.fields.Integer()


class HealthSchema(ma.Schema):
    status = ma.fields.String()
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    federation = ma.fields.Nested(FederationHealthSchema, metadata={
        "description": "Delivery to and from the hub; informational: a node serves its "
                       "users whatever the state of the network"})


@blp.route("/api/version")
class Version(MethodView):
    @blp.response(200, VersionSchema)
    def get(self) -> dict[str, str]:
        """The software version and node id (no authentication)"""
        return {"name": "partynet-node", "version": VERSION,
                "node_id": current_app.extensions["node"].node_id}


@blp.route("/healthz")
@blp.response(200, HealthSchema)
def healthz() -> dict[str, Any]:
    """Liveness: the process answers"""
    return {"status": "ok", "checks": {}}


@blp.route("/readyz")
@blp.response(200, HealthSchema)
@blp.alt_response(503, schema=HealthSchema)
def readyz() -> Any:
    """Readiness: the database answers and its schema is at the migrations' head"""
    checks: dict[str, str] = {}
    federation = None
    try:
        connection = db.session.connection()
        current = migrate.current_revision(connection)
        head = migrate.head_revision()
        checks["database"] = "ok"
        checks["migrations"] = "ok" if current == head else f"at {current}, head is {head}"
        if current == head:
            federation = bus.stats().as_dict()
    except Exception as exc:  # readiness reports any failure, it never raises
        checks.setdefault("database", f"unreachable: {type(exc).__name__}")
    finally:
        db.session.rollback()
    ok = all(v == "ok" for v in checks.values()) and "migrations" in checks
    body = {"status": "ok" if ok else "unavailable", "checks": checks}
    if federation is not None:
        body["federation"] = federation
    return body, 200 if ok else 503
