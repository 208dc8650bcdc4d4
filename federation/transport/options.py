"""Tuning knobs of a Bus, with defaults that bound every wait (nothing may hang forever)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from federation.transport.topology import DEFAULT_DELIVERY_LIMIT

Declare = bool | Literal["passive"]


@dataclass(frozen=True, kw_only=True)
class BusOptions:
    """open_bus(url, **options) accepts exactly these names; an unknown one is a TypeError."""

    # Topology: True declares everything, "passive" only checks it exists (a node user without
    # configure permission), False trusts that it was provisioned (deploy/rabbitmq).
    declare: Declare = True
    delivery_limit: int = DEFAULT_DELIVERY_LIMIT
    # Publishing: a confirm that does not come within confirm_timeout counts as a failure; the
    # whole publish is retried publish_retries times (reconnecting), then PublishError.
    confirm_timeout: float = 10.0
    connect_timeout: float = 5.0
    publish_retries: int = 2
    retry_interval: float = 0.2
    retry_interval_max: float = 1.0
    confirm_window: int = 500
    # Consuming: heartbeats on RabbitMQ, and the cap of the reconnect backoff.
    heartbeat: float = 30.0
    reconnect_interval_max: float = 5.0
    ssl: bool | dict[str, Any] | None = None
    # The embedded broker: lease of a claimed message, poll period when idle, rows per claim.
    lease_seconds: float = 30.0
    poll_interval: float = 0.05
    claim_batch: int = 100
    busy_timeout: float = 30.0
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL"

    def __post_init__(self) -> None:
        if self.declare not in (True, False, "passive"):
            raise ValueError("declare must be True, False or 'passive'")
        if self.synchronous not in ("NORMAL", "FULL"):
            raise ValueError("synchronous must be 'NORMAL' or 'FULL'")
        positive = ("delivery_limit", "confirm_timeout", "connect_timeout", "confirm_window",
                    "lease_seconds", "poll_interval", "claim_batch", "busy_timeout",
                    "retry_interval_max", "reconnect_interval_max")
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.publish_retries < 0 or self.retry_interval < 0 or self.heartbeat < 0:
            raise ValueError("publish_retries, retry_interval and heartbeat must be >= 0")

    @classmethod
    def from_kwargs(cls, options: dict[str, Any]) -> BusOptions:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(options) - known)
        if unknown:
            raise TypeError(f"unknown bus option(s): {', '.join(unknown)}")
        return cls(**options)

    def retry_policy(self) -> dict[str, Any]:
        """kombu retry_policy: max_retries is mandatory, kombu's default retries forever."""
        return {
            "max_retries": self.publish_retries,
            "interval_start": self.retry_interval,
            "interval_step": self.retry_interval,
            "interval_max": self.retry_interval_max,
        }
