"""Liveness, readiness and version: what operators and load balancers poll."""

from __future__ import annotations

from typing import Any

import marshmallow as ma
from flask.views import MethodView

from hub import migrate
from hub.bus import services as bus
from hub.db import db
from hub.keys import services as keys
from hub.nodes import services as nodes
from shared.web.api import Blueprint
from shared.web.health import VERSION, readiness

blp = Blueprint("meta", __name__, description="Health and version.")

class VersionSchema(ma.Schema):
    name = ma.fields.String()
    version = ma.fields.String()


class FederationHealthSchema(ma.Schema):
    backlog = ma.fields.Integer(metadata={"description": "Messages not yet acknowledged"})
    lag_seconds = ma.fields.Integer(metadata={"description": "Age of the oldest of them"})
    quarantined = ma.fields.Integer()
    parked = ma.fields.Integer()
    directory_version = ma.fields.Integer(metadata={"description": "Of the key directory"})
    nodes = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.Integer(),
                           metadata={"description": "Enrolled nodes by status"})


class HealthSchema(ma.Schema):
    status = ma.fields.String()
    checks = ma.fields.Dict(keys=ma.fields.String(), values=ma.fields.String())
    federation = ma.fields.Nested(FederationHealthSchema, metadata={
        "description": "Delivery to and from the nodes; informational"})


@blp.route("/api/version")
class Version(MethodView):
    @blp.response(200, VersionSchema)
    def get(self) -> dict[str, str]:
        """The software version (no authentication)"""
        return {"name": "partynet-hub", "version": VERSION}


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
    return readiness(db, migrate.TREE, lambda: {
        **bus.stats().as_dict(), "nodes": nodes.count_nodes(),
        "directory_version": keys.directory_version()})
