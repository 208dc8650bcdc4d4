"""POST /api/federation/enroll: a node enrolls with its one-time token (no bearer token)."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView

from hub.db import db
from hub.keys.services import ready_signing_key
from hub.nodes import services
from hub.nodes.errors import EnrollmentRefused
from hub.nodes.schemas import EnrollmentRequestSchema, EnrollmentSchema
from shared.db.session import transaction
from shared.web.api import Blueprint

blp = Blueprint("nodes", __name__, url_prefix="/api/federation",
                description="Enrollment of nodes: the one-time token is the credential.")


@blp.route("/enroll")
class Enrollments(MethodView):
    @blp.arguments(EnrollmentRequestSchema)
    @blp.response(200, EnrollmentSchema)
    def post(self, data: dict[str, Any]) -> Any:
        """Enroll a node: register its key and tenants, return the hub's keys and directory

        Failed attempts are counted per client address and throttled (429), in a transaction
        of their own after the refused enrollment rolled back.
        """
        settings = current_app.extensions["hub"]
        keys = services.throttle_keys(request.remote_addr)
        try:
            with transaction(db):
                services.check_throttle(keys, max_failures=settings.enroll_max_failures,
                                        window=settings.enroll_window)
                return services.enroll(**data, hub_key=ready_signing_key(settings),
                                       node_key_days=settings.node_key_days)
        except EnrollmentRefused:
            with transaction(db):
                services.note_failure(keys, window=settings.enroll_window)
            raise
