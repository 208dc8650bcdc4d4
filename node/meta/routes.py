"""Liveness, readiness and version: what operators and load balancers poll."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask import current_app
from flask.views import MethodView

from node import migrate
from node.bus import services as bus
from node.db import db
from shared.web.api import Blueprint
from shared.web.health import VERSION, readiness

blp = Blueprint("meta", __name__, description="Health and version.")

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
    return readiness(db, migrate.TREE, lambda: bus.stats().as_dict())
