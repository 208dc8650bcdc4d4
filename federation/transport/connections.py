"""From a bus URL to kombu connections: RabbitMQ, the embedded broker, or memory (tests)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kombu import Connection

from federation.transport import amqp_reader, embedded, memory
from federation.transport.options import BusOptions

# connect(consumer) -> a new, not yet connected kombu Connection
Connect = Callable[[bool], Connection]

AMQP_SCHEMES = ("amqp", "amqps", "pyamqp")


def scheme_of(url: str) -> str:
    if "://" not in url:
        raise ValueError(f"not a bus URL: {url!r} (amqp://, embedded:///path or memory://)")
    return url.split("://", 1)[0].lower()


def embedded_path(url: str) -> str:
    """embedded:///abs/path/bus.sqlite3 -> /abs/path/bus.sqlite3 (embedded://rel -> rel)."""
    path = url.split("://", 1)[1]
    if not path or path.endswith("/"):
        raise ValueError(f"embedded bus URL without a database file: {url!r}")
    return path


def connection_factory(url: str, options: BusOptions) -> Connect:
    scheme = scheme_of(url)
    if scheme in AMQP_SCHEMES:
        return _amqp(url, options)
    if scheme == "embedded":
        return _embedded(embedded_path(url), options)
    if scheme == "memory":
        return lambda consumer: Connection(transport=memory.Transport)
    raise ValueError(f"unknown bus scheme {scheme!r}: use amqp://, embedded:// or memory://")


def _failover(options: BusOptions) -> dict[str, Any]:
    """kombu reconnects through these when a channel is needed; without max_retries it would
    retry forever."""
    return {
        "max_retries": options.publish_retries,
        "interval_start": options.retry_interval,
        "interval_step": options.retry_interval,
        "interval_max": options.retry_interval_max,
    }


def _amqp(url: str, options: BusOptions) -> Connect:
    def connect(consumer: bool) -> Connection:
        # Publishers run no heartbeat loop, so they ask for none (TCP keepalive stays on);
        # consumers service heartbeats from their drain loop, and read the socket in large
        # chunks (amqp_reader: a fifth of a consumer's time went into system calls).
        return Connection(
            url,
            transport=amqp_reader.Transport if consumer else None,
            heartbeat=options.heartbeat if consumer else 0,
            connect_timeout=options.connect_timeout,
            ssl=options.ssl if options.ssl is not None else url.lower().startswith("amqps"),
            transport_options={
                "confirm_publish": True,
                "write_timeout": options.confirm_timeout,
                **_failover(options),
            },
        )

    return connect


def _embedded(path: str, options: BusOptions) -> Connect:
    transport_options = {
        "path": path,
        "lease_seconds": options.lease_seconds,
        "polling_interval": options.poll_interval,
        "claim_batch": options.claim_batch,
        "busy_timeout": options.busy_timeout,
        "synchronous": options.synchronous,
        **_failover(options),
    }
    return lambda consumer: Connection(transport=embedded.Transport,
                                       transport_options=dict(transport_options))
