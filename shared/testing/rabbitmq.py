"""RabbitMQ for tests: reachable or not (CI requires it), rabbitmqctl, per-test vhost URLs."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import urllib.parse

import pytest

from shared.testing.backends import in_ci

AMQP_BASE = os.environ.get("PARTYNET_TEST_AMQP", "amqp://guest:guest@127.0.0.1:5672")


def rabbitmq_problem() -> str | None:
    """Why RabbitMQ cannot be used here, or None."""
    parts = urllib.parse.urlsplit(AMQP_BASE)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5672), 2):
            pass
    except OSError as exc:
        return f"RabbitMQ unreachable at {parts.hostname}:{parts.port}: {exc}"
    if shutil.which("rabbitmqctl") is None:
        return "rabbitmqctl not found (needed to create test vhosts and users)"
    return None


def rabbitmqctl(*args: str, stdin: str | None = None) -> str:
    done = subprocess.run(["rabbitmqctl", "-q", *args], input=stdin, capture_output=True,
                          text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)}: {done.stderr or done.stdout}")
    return done.stdout


def require_rabbitmq() -> None:
    """Skip without a broker; fail under CI, where it is required."""
    problem = rabbitmq_problem()
    if problem:
        if in_ci():
            pytest.fail(f"RabbitMQ is required on CI: {problem}")
        pytest.skip(problem)


def amqp_url(vhost: str, user: str = "", password: str = "") -> str:
    parts = urllib.parse.urlsplit(AMQP_BASE)
    netloc = parts.netloc
    if user:
        host = netloc.rsplit("@", 1)[-1]
        netloc = (f"{urllib.parse.quote(user, safe='')}:"
                  f"{urllib.parse.quote(password, safe='')}@{host}")
    return f"{parts.scheme}://{netloc}/{urllib.parse.quote(vhost, safe='')}"
