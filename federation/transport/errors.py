"""What a transport failure means to its caller: retry later, or nobody is listening."""

from __future__ import annotations

from collections.abc import Iterable


class TransportError(Exception):
    """The bus failed in a way its caller cannot fix by retrying at once."""


class BrokerUnavailable(TransportError):
    """The broker could not be reached or went away (down, restarting): try again later. Not
    for refusals an operator must fix (permissions, missing or mismatched topology)."""


class PublishError(TransportError):
    """Not confirmed: the message may or may not have gone. Retry later; duplicates are fine."""


class Unroutable(PublishError):
    """No queue is bound for the destination (RabbitMQ returned the mandatory message)."""

    def __init__(self, destinations: Iterable[str], message_ids: Iterable[str] = ()) -> None:
        self.destinations = tuple(sorted(set(destinations)))
        self.message_ids = tuple(message_ids)
        super().__init__("no queue for destination(s): " + ", ".join(self.destinations))
