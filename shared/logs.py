"""Structured logs for worker processes: one JSON object per line, with the `extra` fields
(message ids, outcomes, peers) as keys, so operators can follow a message across processes."""

from __future__ import annotations

import logging
import sys

from pythonjsonlogger.json import JsonFormatter


def configure_json_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s",
                                       rename_fields={"asctime": "time", "levelname": "level"}))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
