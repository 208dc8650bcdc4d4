"""GET /metrics: Prometheus text format (delivery backlog, lag, quarantine, streams, nodes).

Aggregate numbers only; production restricts it to the monitoring network in nginx.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from flask import Blueprint, Response, current_app
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from federation.delivery.metrics import DeliveryCollector
from hub.bus import services
from hub.nodes import services as nodes

blp = Blueprint("metrics", __name__)


class NodeCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("partynet_hub_nodes", "Enrolled nodes by status",
                                   labels=["status"])
        for status, count in sorted(nodes.count_nodes().items()):
            family.add_metric([status], count)
        yield family
        settings = current_app.extensions["hub"]
        silent = nodes.silent_nodes(dt.timedelta(seconds=settings.silent_after))
        yield GaugeMetricFamily("partynet_hub_nodes_silent",
                                "Active nodes not heard from for longer than HUB_SILENT_AFTER",
                                value=len(silent))


_registry = CollectorRegistry(auto_describe=False)
_registry.register(DeliveryCollector(services.stats))
_registry.register(NodeCollector())


@blp.get("/metrics")
def metrics() -> Response:
    return Response(generate_latest(_registry), mimetype=CONTENT_TYPE_LATEST)
