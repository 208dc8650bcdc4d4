"""What a handler receives, built the same way from a RabbitMQ or an embedded delivery."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from amqp.exceptions import AMQPError
from kombu.exceptions import KombuError
from kombu.message import Message

# What a broker, the network or the database can throw at us; anything else is a bug.
FAILURES: tuple[type[BaseException], ...] = (KombuError, AMQPError, OSError, sqlite3.Error)


@dataclass(frozen=True)
class Delivery:
    body: bytes
    message_id: str
    headers: dict[str, Any]  # as published (the broker's x-delivery-count is delivery_count)
    redelivered: bool
    delivery_count: int  # 1 on the first delivery; counts deliveries that were not acked


def to_delivery(message: Message) -> Delivery:
    headers = dict(message.headers or {})
    count = headers.pop("x-delivery-count", None)
    redelivered = bool((message.delivery_info or {}).get("redelivered"))
    delivery_count = int(count) + 1 if count is not None else (2 if redelivered else 1)
    body = message.body
    if isinstance(body, str):
        body = body.encode("utf-8")
    return Delivery(
        body=bytes(body),
        message_id=str(message.properties.get("message_id") or ""),
        headers=headers,
        redelivered=redelivered or delivery_count > 1,
        delivery_count=delivery_count,
    )
