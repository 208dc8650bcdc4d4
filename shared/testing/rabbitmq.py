"""RabbitMQ for tests: the shared broker (reachable or not, CI requires it), rabbitmqctl,
per-test vhost URLs; and a private broker node that fault tests may stop, kill and restart."""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

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


# --- a private broker node for fault tests -------------------------------------------------

#: The real scripts. Debian's /usr/sbin wrappers re-run them as the rabbitmq user through su,
#: who could neither write a test's temporary directory nor read its Erlang cookie.
RABBITMQ_SCRIPTS = Path(os.environ.get("PARTYNET_RABBITMQ_SCRIPTS", "/usr/lib/rabbitmq/bin"))


def _script(name: str) -> str | None:
    real = RABBITMQ_SCRIPTS / name
    return str(real) if real.is_file() else shutil.which(name)


def private_rabbitmq_problem() -> str | None:
    """Why no private RabbitMQ node can be started here (nothing installed), or None."""
    missing = [name for name in ("rabbitmq-server", "rabbitmqctl") if _script(name) is None]
    if missing:
        return f"{' and '.join(missing)} not installed (needed for a private RabbitMQ node)"
    return None


def require_private_rabbitmq() -> None:
    """Skip where RabbitMQ is not installed; fail under CI, where it is required."""
    problem = private_rabbitmq_problem()
    if problem:
        if in_ci():
            pytest.fail(f"RabbitMQ is required on CI: {problem}")
        pytest.skip(problem)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PrivateRabbitMQ:
    """A RabbitMQ node of the test's own, beside the shared one, that a test may stop, kill
    and start again: its own node name, AMQP and distribution ports, Erlang cookie, data and
    log directories under `base`, no plugins. The shared broker on 5672 never notices.

    The server runs as a child process in a session of its own (its process group is the
    handle to kill it by), its output appended to `base/server.log`. Start-up takes about
    5 s here (Erlang boot and the empty node's schema); `stop_app`/`start_app` under 1 s.
    """

    def __init__(self, base: Path) -> None:
        self.base = base
        self.node = f"partynet-fault-{os.getpid()}-{secrets.token_hex(2)}@localhost"
        self.port = _free_port()
        self.dist_port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.start_seconds: list[float] = []  # every (re)start of the server process
        base.mkdir(parents=True, exist_ok=True)
        cookie = base / ".erlang.cookie"  # HOME is `base`: server and CLI read it there
        cookie.write_text(secrets.token_hex(16).upper(), encoding="ascii")
        cookie.chmod(0o400)
        (base / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.port}\n"
            "disk_free_limit.absolute = 1MB\n"  # a full /tmp must not block publishers
            "log.console = false\nlog.file.level = info\n", encoding="utf-8")
        (base / "rabbitmq-env.conf").write_text("", encoding="utf-8")  # not /etc's NODENAME
        (base / "enabled_plugins").write_text("[].\n", encoding="utf-8")
        self.env = {
            **os.environ,
            "HOME": str(base),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
        }

    def __repr__(self) -> str:
        return f"<PrivateRabbitMQ {self.node} amqp 127.0.0.1:{self.port}>"

    def url(self, vhost: str = "/") -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/{urllib.parse.quote(vhost, safe='')}"

    def ctl(self, *args: str, timeout: float = 60) -> str:
        """rabbitmqctl against this node only."""
        ctl = _script("rabbitmqctl")
        assert ctl is not None, private_rabbitmq_problem()
        done = subprocess.run([ctl, "-n", self.node, "-q", *args], env=self.env, cwd=self.base,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"rabbitmqctl -n {self.node} {' '.join(args)}: "
                               f"{done.stderr or done.stdout}\n{self.log_tail()}")
        return done.stdout

    def start(self, timeout: float = 90) -> float:
        """Start the server process (on its existing data, if any) and wait until it serves;
        returns how long that took."""
        assert not self.running(), f"{self} is running already"
        server = _script("rabbitmq-server")
        assert server is not None, private_rabbitmq_problem()
        started = time.monotonic()
        with open(self.base / "server.log", "ab") as log:
            self.process = subprocess.Popen([server], env=self.env, cwd=self.base, stdout=log,
                                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                            start_new_session=True)
        try:
            # `wait` follows the pid until the node booted: unlike await_startup, it does not
            # give up while the node is not registered yet; it fails if the process dies.
            self.ctl("wait", "--pid", str(self.process.pid), "--timeout", str(int(timeout)),
                     timeout=timeout + 10)
            self._check_port()
        except BaseException:
            self.kill()
            raise
        self.start_seconds.append(time.monotonic() - started)
        return self.start_seconds[-1]

    def _check_port(self) -> None:
        with socket.create_connection(("127.0.0.1", self.port), 5):
            pass

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop_app(self) -> None:
        """The broker application stops (clients are disconnected, the port closes); the
        Erlang node and the data stay."""
        self.ctl("stop_app")

    def start_app(self) -> None:
        self.ctl("start_app")
        self.ctl("await_startup")
        self._check_port()

    def stop(self) -> None:
        """A clean shutdown of the whole node (what a service restart does)."""
        if not self.running():
            return
        assert self.process is not None
        try:
            self.ctl("stop", timeout=60)
            self.process.wait(timeout=60)
        except (RuntimeError, subprocess.TimeoutExpired):
            self.kill()
        self._reap()

    def kill(self) -> None:
        """SIGKILL to the server and everything it started (a crash, or the end of a test
        that could not stop it cleanly)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=30)
        self._reap()

    def _reap(self) -> None:
        """Wait until no process of the server's group is left (the Erlang VM takes a moment
        to die), so that its ports are free for the next start."""
        assert self.process is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.killpg(self.process.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)
        raise RuntimeError(f"{self}: processes of group {self.process.pid} do not end")

    def log_tail(self, chars: int = 3000) -> str:
        logs = [self.base / "server.log", *sorted((self.base / "log").glob("*.log"))]
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-chars:]}"
                         for p in logs if p.is_file())


@contextlib.contextmanager
def private_rabbitmq(base: Path) -> Iterator[PrivateRabbitMQ]:
    """A started private node (skipped where RabbitMQ is not installed, failed on CI); stopped
    and its directory removed afterwards. A node that does not start fails the test."""
    require_private_rabbitmq()
    broker = PrivateRabbitMQ(base)
    try:
        try:
            broker.start()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            pytest.fail(f"the private RabbitMQ node did not start: {exc}")
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(base, ignore_errors=True)
