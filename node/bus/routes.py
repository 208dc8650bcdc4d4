"""GET /metrics: Prometheus text format (delivery backlog, lag, quarantine, streams).

Aggregate numbers only, no tenant data; production restricts it to the monitoring network in
nginx (deploy/nginx).
"""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from federation.delivery.metrics import DeliveryCollector
from node.bus import services

blp = Blueprint("metrics", __name__)

_registry = CollectorRegistry(auto_describe=False)
_registry.register(DeliveryCollector(services.stats))


@blp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(_registry), mimetype=CONTENT_TYPE_LATEST)
