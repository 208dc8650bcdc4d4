"""Names and arguments of the federation topology, shared by RabbitMQ, the embedded broker
and deploy/rabbitmq (whose definitions must match these byte for byte, or a declare fails)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from kombu import Exchange, Queue

EXCHANGE = "partynet.federation"
DEAD_LETTER_EXCHANGE = "partynet.dlx"
HUB = "hub"
QUEUE_PREFIX = "partynet."
DEAD_SUFFIX = ".dead"
DEFAULT_DELIVERY_LIMIT = 20

# Party ids become routing keys, queue names and RabbitMQ permission regexes: no dots, no
# regex metacharacters, nothing a shell would expand.
_PARTY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")


def check_party(party: str) -> str:
    if not isinstance(party, str) or not _PARTY.fullmatch(party):
        raise ValueError(f"invalid party id {party!r}: use letters, digits, '-' and '_'")
    return party


def queue_name(party: str) -> str:
    """'hub' -> 'partynet.hub'; a node id 'n1' -> 'partynet.node.n1'."""
    check_party(party)
    return f"{QUEUE_PREFIX}{party}" if party == HUB else f"{QUEUE_PREFIX}node.{party}"


def dead_queue_name(party: str) -> str:
    return queue_name(party) + DEAD_SUFFIX


def queue_arguments(party: str, delivery_limit: int) -> dict[str, Any]:
    """Quorum queue with an explicit delivery limit whose overflow is dead-lettered.

    at-least-once dead-lettering (RabbitMQ >= 3.10) needs overflow=reject-publish; without it
    a dead letter can be lost if the dead queue's leader is unavailable.
    """
    return {
        "x-queue-type": "quorum",
        "x-delivery-limit": delivery_limit,
        "x-dead-letter-exchange": DEAD_LETTER_EXCHANGE,
        "x-dead-letter-routing-key": dead_queue_name(party),
        "x-dead-letter-strategy": "at-least-once",
        "x-overflow": "reject-publish",
    }


def exchanges() -> tuple[Exchange, Exchange]:
    return (
        Exchange(EXCHANGE, type="direct", durable=True, auto_delete=False, delivery_mode=2),
        Exchange(DEAD_LETTER_EXCHANGE, type="direct", durable=True, auto_delete=False),
    )


def queues(party: str, delivery_limit: int) -> tuple[Queue, Queue]:
    """The party's work queue and its dead-letter queue.

    The dead queue is a classic durable queue with no limit: ops inspect it by fetching and
    requeueing, which a quorum queue would count as deliveries (and RabbitMQ 4 would drop
    after its default limit of 20).
    """
    federation, dlx = exchanges()
    work = Queue(
        queue_name(party), exchange=federation, routing_key=party, durable=True,
        auto_delete=False, queue_arguments=queue_arguments(party, delivery_limit),
    )
    dead = Queue(
        dead_queue_name(party), exchange=dlx, routing_key=dead_queue_name(party),
        durable=True, auto_delete=False,
    )
    return work, dead


def declare_topology(channel: Any, parties: Iterable[str], *, declare: bool | str,
                     delivery_limit: int) -> None:
    """Exchanges, then each party's work and dead-letter queues, one round trip at a time.

    declare="passive" only checks that they exist: a node's RabbitMQ user has no configure
    permission, but a passive declare needs none. declare=False skips everything.
    """
    if declare is False:
        return
    passive = declare == "passive"
    _declare_exchanges(channel, passive)
    for party in parties:
        for queue in queues(party, delivery_limit):
            _declare_queue(channel, queue, passive=passive, nowait=False)


#: Parties whose declares go to one channel before waiting for the broker (two queues and a
#: binding each); and at most this many channels at once. The broker creates each quorum
#: queue in turn per channel, so a few channels side by side create them several at a time.
DECLARE_WINDOW = 25
DECLARE_CHANNELS = 4


def pipeline_topology(channels: Sequence[Any], parties: Iterable[str], *,
                      declare: bool | str, delivery_limit: int,
                      window: int = DECLARE_WINDOW) -> None:
    """`declare_topology` for many parties on RabbitMQ: each channel gets a window of
    declares without waiting (nowait), then one synchronous passive declare of its last
    queue, which the broker answers only after everything before it on that channel (a
    channel's methods are handled in order). A refused declare closes its channel and raises
    at that wait, as it would at once without nowait; at most `window` x channels parties are
    in flight, so 500 parties never flood the broker with 1,500 methods at once.
    """
    if declare is False:
        return
    if not channels or window < 1:
        raise ValueError("need at least one channel and a positive window")
    passive = declare == "passive"
    _declare_exchanges(channels[0], passive)
    parties = list(parties)
    step = window * len(channels)
    for start in range(0, len(parties), step):
        last: dict[int, tuple[Any, str]] = {}
        for i, party in enumerate(parties[start:start + step]):
            index = i // window
            channel = channels[index]
            for queue in queues(party, delivery_limit):
                _declare_queue(channel, queue, passive=passive, nowait=True)
                last[index] = (channel, queue.name)
        for channel, name in last.values():
            channel.queue_declare(queue=name, passive=True)


def _declare_exchanges(channel: Any, passive: bool) -> None:
    for exchange in exchanges():
        exchange(channel).declare(passive=passive)


def _declare_queue(channel: Any, queue: Queue, *, passive: bool, nowait: bool) -> None:
    """The queue and its binding (the exchanges are declared once, before)."""
    if passive:
        channel.queue_declare(queue=queue.name, passive=True, nowait=nowait)
        return
    bound = queue(channel)
    bound.queue_declare(nowait=nowait)
    bound.queue_bind(nowait=nowait)
