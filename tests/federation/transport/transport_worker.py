"""A producer or consumer process for the kill tests: the test SIGKILLs it at random moments.

Every fact the test checks is appended to a file and fsynced *after* the bus call returned
(a confirmed publish) or *inside* the handler (before the ack), so a kill loses at most what
the bus is allowed to lose: nothing that was confirmed.

    python transport_worker.py produce URL PARTY PREFIX COUNT BATCH CONFIRMED_FILE
    python transport_worker.py consume URL PARTY RECEIVED_FILE IDLE_TIMEOUT
    python transport_worker.py hold URL PARTY RECEIVED_FILE      (never acks)
"""

from __future__ import annotations

import json
import os
import sys
import time

from federation.transport import PublishError, open_bus

OPTIONS = {"lease_seconds": 1.0, "poll_interval": 0.02, "connect_timeout": 2.0,
           "confirm_timeout": 5.0, "heartbeat": 10.0}


def _append(path: str, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))
        out.flush()
        os.fsync(out.fileno())


def produce(url: str, party: str, prefix: str, count: int, batch: int, confirmed: str) -> None:
    bus = open_bus(url, declare=False, **OPTIONS)
    ids = [f"{prefix}-{i}" for i in range(count)]
    for start in range(0, count, batch):
        chunk = ids[start:start + batch]
        while True:
            try:
                if batch == 1:
                    bus.publish(party, chunk[0].encode(), message_id=chunk[0])
                else:
                    bus.publish_many([(party, i.encode(), i) for i in chunk])
                break
            except PublishError:
                time.sleep(0.1)
        _append(confirmed, chunk)
    bus.close()


def consume(url: str, party: str, received: str, idle_timeout: float) -> None:
    bus = open_bus(url, declare=False, **OPTIONS)

    def handler(delivery) -> None:  # type: ignore[no-untyped-def]
        _append(received, [json.dumps([delivery.message_id, delivery.delivery_count])])

    bus.consume(party, handler, prefetch=50, idle_timeout=idle_timeout)
    bus.close()


def hold(url: str, party: str, received: str) -> None:
    bus = open_bus(url, declare=False, **OPTIONS)

    def handler(delivery) -> None:  # type: ignore[no-untyped-def]
        _append(received, [json.dumps([delivery.message_id, delivery.delivery_count])])
        time.sleep(3600)

    bus.consume(party, handler, prefetch=1)


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "produce":
        produce(args[0], args[1], args[2], int(args[3]), int(args[4]), args[5])
    elif mode == "consume":
        consume(args[0], args[1], args[2], float(args[3]))
    elif mode == "hold":
        hold(args[0], args[1], args[2])
    else:
        raise SystemExit(f"unknown mode {mode}")
