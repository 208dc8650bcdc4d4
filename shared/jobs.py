"""Background jobs of a worker: run a piece of work now and then every so often until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any


def repeat(work: Callable[[], Any], stop: threading.Event, interval: float, *,
           failure: str) -> None:
    """Run `work` now and every `interval` seconds until `stop` is set. A failure is logged
    (`failure` says what was not done) and tried again next time: a job must never take the
    worker that runs it down."""
    while not stop.is_set():
        try:
            work()
        except Exception:
            logging.getLogger("partynet").exception(failure)
        stop.wait(interval)
