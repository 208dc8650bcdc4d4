"""Prometheus metrics of delivery, computed from the database at scrape time.

Gauges from the database, not counters in memory: the web app, the relay and the consumer are
different processes, and a scrape must see the whole installation's state.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from federation.delivery.stats import DeliveryStats


class DeliveryCollector(Collector):
    def __init__(self, read: Callable[[], DeliveryStats]) -> None:
        self._read = read

    def collect(self) -> Iterator[GaugeMetricFamily]:
        stats = self._read()
        yield GaugeMetricFamily("partynet_outbox_backlog",
                                "Messages waiting to be sent or acknowledged", stats.backlog)
        yield GaugeMetricFamily("partynet_outbox_lag_seconds",
                                "Age of the oldest unacknowledged message", stats.lag_seconds)
        yield GaugeMetricFamily("partynet_parked_messages",
                                "Messages received ahead of a gap", stats.parked)
        quarantined = GaugeMetricFamily("partynet_quarantined_messages",
                                        "Messages held in quarantine", labels=["reason"])
        for reason, count in sorted(stats.quarantined.items()):
            quarantined.add_metric([reason], count)
        yield quarantined
        sent = GaugeMetricFamily("partynet_stream_sent_sequence",
                                 "Last sequence sent to a peer", labels=["peer"])
        acked = GaugeMetricFamily("partynet_stream_acked_sequence",
                                  "Last sequence a peer acknowledged", labels=["peer"])
        applied = GaugeMetricFamily("partynet_stream_applied_sequence",
                                    "Last sequence applied from a peer", labels=["peer"])
        for peer in stats.peers:
            sent.add_metric([peer.peer], peer.sent)
            acked.add_metric([peer.peer], peer.acked)
            applied.add_metric([peer.peer], peer.applied)
        yield from (sent, acked, applied)
