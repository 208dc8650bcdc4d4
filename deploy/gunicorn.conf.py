"""gunicorn settings for a production node: `gunicorn -c /opt/partynet/deploy/gunicorn.conf.py`.

NODE_* settings come from the environment (systemd's EnvironmentFile), including
NODE_TRUSTED_PROXIES=1 behind nginx; the few GUNICORN_* variables below size the server.
"""

from __future__ import annotations

import multiprocessing
import os
from typing import Any

# The app factory reads and validates the NODE_* settings.
wsgi_app = "node.app:create_app()"

# Only nginx talks to gunicorn: bind to loopback (or a unix socket, "unix:/run/partynet/node.sock").
bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# CPU-bound work is small (argon2 at sign-in, JSON); requests mostly wait on the database.
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * multiprocessing.cpu_count() + 1, 9)))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = 60  # a bulk import of a large workbook is the slowest request
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak never becomes an outage.
max_requests = 2000
max_requests_jitter = 200

# Load the app once in the master: a settings error fails the start instead of every worker,
# and workers share the imported code. Each worker then drops the inherited connection pool.
preload_app = True

# Access and error logs to stdout/stderr: systemd's journal keeps them (journalctl -u ...).
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "info")
# The client address is the one nginx forwards; %(M)s is the response time in milliseconds.
access_log_format = ('%({x-forwarded-for}i)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s '
                     '"%(f)s" "%(a)s" %(M)sms')

# Scheme headers (X-Forwarded-Proto) are trusted only from the local nginx.
forwarded_allow_ips = "127.0.0.1,::1"
# gunicorn >= 25.1 opens a control socket in $HOME by default; a service does not need one.
control_socket_disable = True


def post_fork(server: Any, worker: Any) -> None:
    """Each worker starts with an empty pool: connections never cross a fork."""
    from node.cli import dispose_after_fork

    dispose_after_fork(server, worker)
