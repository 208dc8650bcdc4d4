"""Hub settings, read from HUB_* environment variables and validated at start-up."""

from __future__ import annotations

import dataclasses

from shared.settings import EnvSettings


@dataclasses.dataclass(frozen=True, kw_only=True)
class HubSettings(EnvSettings):
    ENV_PREFIX = "HUB_"

    #: SQLAlchemy URL; the embedded default is a SQLite file in the instance folder.
    database_url: str = "sqlite:///instance/hub.db"
    #: Signs session cookies. Required.
    secret_key: str = dataclasses.field(default="", repr=False)
    #: Public base URL of the hub: what node operators pass to `partynet node bus enroll --hub`.
    base_url: str = "http://127.0.0.1:5100"
    #: Development mode relaxes cookie security; never in production.
    debug: bool = False
    #: Reverse proxies in front of the app whose X-Forwarded-For/-Proto to trust (nginx: 1).
    trusted_proxies: int = 0
    #: The federation bus: amqp://user:password@host/vhost (RabbitMQ), or embedded:///abs/path
    #: (one machine, no server). Empty: the embedded bus in instance/bus.sqlite3, the same file
    #: a node on this machine uses by default, so a one-machine network shares one bus.
    bus_url: str = ""
    #: The hub's Ed25519 signing key (made by `partynet hub bus keygen`).
    signing_key_file: str = "instance/hub-signing.key"
    #: How long an enrollment token works, in seconds (default 7 days).
    enrollment_token_ttl: int = 7 * 86400
    #: A node key registered at enrollment is valid this many days; re-enroll before the end.
    node_key_days: int = 365
    #: The hub's own key, published in the directory, is valid this many days.
    hub_key_days: int = 730
    #: Failed enrollments allowed per client address within `enroll_window` seconds.
    enroll_max_failures: int = 10
    enroll_window: int = 900
    #: Access-token lifetime of the hub's OAuth server, in seconds.
    access_token_ttl: int = 3600
    #: Failed sign-ins allowed per account or address within `login_window` seconds (and
    #: failed client authentications per client id or address).
    login_max_failures: int = 5
    login_window: int = 900
    #: A node whose last heartbeat is older than this many seconds is flagged as silent (the
    #: console, /metrics, `partynet hub node silent`).
    silent_after: int = 900

    def validate(self) -> list[str]:
        problems = []
        if not self.database_url.startswith(("sqlite", "postgresql")):
            problems.append("HUB_DATABASE_URL: only sqlite and postgresql URLs are supported")
        if len(self.secret_key) < 16:
            problems.append("HUB_SECRET_KEY: set a random secret of at least 16 characters "
                            "(`partynet hub keygen` makes one)")
        if not self.base_url.startswith(("http://", "https://")):
            problems.append("HUB_BASE_URL: the hub's public http(s) URL")
        if not 0 <= self.trusted_proxies <= 5:
            problems.append("HUB_TRUSTED_PROXIES: between 0 and 5")
        if self.bus_url and not self.bus_url.startswith(("amqp://", "amqps://", "embedded://")):
            problems.append("HUB_BUS_URL: amqp://..., amqps://... or embedded:///path")
        if not 300 <= self.enrollment_token_ttl <= 90 * 86400:
            problems.append("HUB_ENROLLMENT_TOKEN_TTL: between 300 seconds and 90 days")
        if not 7 <= self.node_key_days <= 3650:
            problems.append("HUB_NODE_KEY_DAYS: between 7 and 3650")
        if not 30 <= self.hub_key_days <= 3650:
            problems.append("HUB_HUB_KEY_DAYS: between 30 and 3650")
        if not 1 <= self.enroll_max_failures <= 1000:
            problems.append("HUB_ENROLL_MAX_FAILURES: between 1 and 1000")
        if not 60 <= self.enroll_window <= 86400:
            problems.append("HUB_ENROLL_WINDOW: between 60 and 86400 seconds")
        if self.access_token_ttl < 60:
            problems.append("HUB_ACCESS_TOKEN_TTL: at least 60 seconds")
        if not 1 <= self.login_max_failures <= 1000:
            problems.append("HUB_LOGIN_MAX_FAILURES: between 1 and 1000")
        if not 60 <= self.login_window <= 86400:
            problems.append("HUB_LOGIN_WINDOW: between 60 and 86400 seconds")
        if not 60 <= self.silent_after <= 7 * 86400:
            problems.append("HUB_SILENT_AFTER: between 60 seconds and 7 days")
        return problems
