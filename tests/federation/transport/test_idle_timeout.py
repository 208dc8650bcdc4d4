"""The idle timeout of a consume counts from when the consumer listens: connecting and declaring
the topology on a loaded machine can take longer than the timeout itself, and a message already
waiting must still be delivered (a consume "until idle" that returned before reading anything
lost a whole round of the relay tests under load)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from federation.transport import Bus, Delivery
from federation.transport import consume as consume_module


@pytest.mark.parametrize("pipelined", [False, True], ids=["plain", "pipelined"])
def test_a_slow_start_does_not_use_up_the_idle_timeout(
        make_bus: Callable[..., Bus], party: str, monkeypatch: pytest.MonkeyPatch,
        pipelined: bool) -> None:
    bus = make_bus()
    bus.declare([party])
    bus.publish(party, b"waiting", message_id="m-waiting")
    real = consume_module.declare_topology

    def slow_declare(*args: Any, **kwargs: Any) -> Any:
        time.sleep(0.6)  # longer than the idle timeout below
        return real(*args, **kwargs)

    monkeypatch.setattr(consume_module, "declare_topology", slow_declare)
    got: list[Delivery] = []
    kwargs: dict[str, Any] = {}
    if pipelined:
        kwargs = {"pipeline": consume_module.Pipeline(
            prepare=lambda deliveries: [None] * len(deliveries),
            apply=lambda deliveries, _prepared: got.extend(deliveries)), "batch_size": 10}
    started = time.monotonic()
    bus.consume(party, got.append, idle_timeout=0.3, **kwargs)
    assert [d.message_id for d in got] == ["m-waiting"]
    assert time.monotonic() - started >= 0.9  # the start, then a whole idle timeout
    assert bus.queue_depth(party) == 0
