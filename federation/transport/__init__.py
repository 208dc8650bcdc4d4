"""The federation bus transport: RabbitMQ, or an embedded SQLite broker, behind one Bus.

    bus = open_bus("amqp://user:pw@host:5672/partynet")      # or "embedded:///var/lib/x.sqlite3"
    bus.declare(["hub", "n1"])
    bus.publish("hub", body, message_id=envelope_id)           # returns once confirmed
    bus.consume("hub", handler, stop=stop_event)               # ack after handler returns

Guarantees: a publish that returned is stored by the broker (RabbitMQ confirmed it, or the
embedded transaction committed); a delivery is acked only after the handler returned, so a
crash anywhere gives a redelivery, never a loss. Duplicates are normal: the inbox dedups.
"""

from federation.transport.bus import Bus, open_bus
from federation.transport.consume import UNPREPARED, Pipeline
from federation.transport.deliveries import Delivery
from federation.transport.errors import (
    BrokerUnavailable,
    PublishError,
    TransportError,
    Unroutable,
)
from federation.transport.topology import queue_name

__all__ = [
    "UNPREPARED",
    "BrokerUnavailable",
    "Bus",
    "Delivery",
    "Pipeline",
    "PublishError",
    "TransportError",
    "Unroutable",
    "open_bus",
    "queue_name",
]
