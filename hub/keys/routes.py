"""GET /api/federation/directory: the hub's signed key directory, public by design."""

from __future__ import annotations

from flask import Response, current_app
from flask.views import MethodView

from hub.keys import services
from hub.keys.schemas import DirectorySchema
from shared.web.api import Blueprint

blp = Blueprint("keys", __name__, url_prefix="/api/federation",
                description="The key directory nodes fetch and check against the hub keys "
                            "they pinned at enrollment.")


@blp.route("/directory")
class Directory(MethodView):
    @blp.response(200, DirectorySchema, content_type="application/json")
    def get(self) -> Response:
        """The signed key directory (no authentication: it holds public keys only)"""
        body = services.signed_directory(services.load_signing_key(current_app.extensions["hub"]))
        return Response(body, mimetype="application/json",
                        headers={"Cache-Control": "no-cache"})
