"""Node settings, read from NODE_* environment variables and validated at start-up."""

from __future__ import annotations

import dataclasses
import email.utils
from pathlib import Path

from shared.identity import PiiCipher
from shared.settings import EnvSettings

DEFAULT_INSTANCE = Path("instance")


@dataclasses.dataclass(frozen=True, kw_only=True)
class NodeSettings(EnvSettings):
    ENV_PREFIX = "NODE_"

    #: SQLAlchemy URL; the embedded default is a SQLite file in the instance folder.
    database_url: str = "sqlite:///instance/node.db"
    #: Signs session cookies. Required outside development.
    secret_key: str = dataclasses.field(default="", repr=False)
    #: 32 bytes, base64: AES-256-GCM key for national IDs at rest.
    pii_key: str = dataclasses.field(default="", repr=False)
    #: Comma-separated older PII keys still accepted for decryption after a rotation.
    pii_old_keys: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    #: Network-wide secret for the keyed hash of national IDs (duplicate detection).
    identity_hash_key: str = dataclasses.field(default="", repr=False)
    #: This node's id in the network.
    node_id: str = "node-local"
    #: Public base URL, used in links and the OAuth issuer.
    base_url: str = "http://127.0.0.1:5000"
    #: Development mode relaxes cookie security; never in production.
    debug: bool = False
    #: Access-token lifetime in seconds.
    access_token_ttl: int = 3600
    #: Failed logins allowed per account or address within `login_window` seconds.
    login_max_failures: int = 5
    login_window: int = 900
    #: Reverse proxies in front of the app whose X-Forwarded-For/-Proto to trust (nginx: 1).
    trusted_proxies: int = 0
    #: Where front-end packages installed from the npm registry live.
    vendor_dir: str = "node_modules"
    #: The federation bus: amqp://user:password@host/vhost (RabbitMQ), or embedded:///abs/path
    #: (one machine, no server). Empty: the embedded bus in instance/bus.sqlite3.
    bus_url: str = ""
    #: This node's Ed25519 signing key (made by `partynet node bus keygen`).
    signing_key_file: str = "instance/node-signing.key"
    #: The hub's base URL: `bus enroll`, `bus refresh-keys`, and the relay worker's hourly
    #: refresh of the key directory (keys no directory confirms for 7 days are not trusted).
    hub_url: str = ""
    #: Seconds between heartbeats to the hub (sent by the relay worker).
    heartbeat_interval: int = 60
    #: Seconds between statistics snapshots to the hub, queued by the relay worker at 01:00
    #: local time and then every interval (daily by default); 0: none from the worker (a cron
    #: job or timer runs `partynet node stats publish` instead).
    stats_interval: int = 86400
    #: Outgoing mail (password-reset links). No host: no email (in debug mode: to the log).
    smtp_host: str = ""
    smtp_port: int = 587
    smtp_username: str = ""
    smtp_password: str = dataclasses.field(default="", repr=False)
    #: Upgrade the connection with STARTTLS (port 465 always uses TLS from the start).
    smtp_starttls: bool = True
    #: The From address of the node's emails, e.g. `党建平台 <noreply@party.example.org>`.
    mail_from: str = ""
    #: How long a password-reset link works, in seconds.
    password_reset_ttl: int = 3600
    #: Reset requests allowed per email address and per client address within `login_window`.
    password_reset_max_requests: int = 5
    #: Online dues payment: the provider members pay through ("sandbox"; empty: none, dues
    #: are then paid to the collector only). Real providers plug in behind the same
    #: interface (node/dues/providers).
    pay_provider: str = ""
    #: The sandbox provider's base URL and the secret it shares with this node (HMAC-SHA256
    #: over the checkout requests and the callbacks).
    pay_sandbox_url: str = ""
    pay_sandbox_secret: str = dataclasses.field(default="", repr=False)
    #: A TrueType font (or collection) with Chinese characters for printable PDFs (the
    #: transfer letter); Debian/Ubuntu: `apt-get install fonts-wqy-microhei`.
    pdf_font: str = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"

    def validate(self) -> list[str]:
        problems = []
        if not self.database_url.startswith(("sqlite", "postgresql")):
            problems.append("NODE_DATABASE_URL: only sqlite and postgresql URLs are supported")
        if len(self.secret_key) < 16:
            problems.append("NODE_SECRET_KEY: set a random secret of at least 16 characters")
        try:
            PiiCipher.from_b64(self.pii_key, old_keys=self.pii_old_keys)
        except ValueError:
            problems.append("NODE_PII_KEY, NODE_PII_OLD_KEYS: each must be 32 random bytes, "
                            "base64-encoded (`partynet node keygen` makes one)")
        if len(self.identity_hash_key) < 16:
            problems.append("NODE_IDENTITY_HASH_KEY: set a shared secret of at least 16 characters")
        if not 0 <= self.trusted_proxies <= 5:
            problems.append("NODE_TRUSTED_PROXIES: between 0 and 5")
        if self.bus_url and not self.bus_url.startswith(("amqp://", "amqps://", "embedded://")):
            problems.append("NODE_BUS_URL: amqp://..., amqps://... or embedded:///path")
        if self.hub_url and not self.hub_url.startswith(("http://", "https://")):
            problems.append("NODE_HUB_URL: the hub's base URL, e.g. https://hub.example.org")
        if not 5 <= self.heartbeat_interval <= 3600:
            problems.append("NODE_HEARTBEAT_INTERVAL: between 5 and 3600 seconds")
        if self.stats_interval != 0 and not 60 <= self.stats_interval <= 7 * 86400:
            problems.append("NODE_STATS_INTERVAL: 0 (off), or between 60 seconds and 7 days")
        if self.access_token_ttl < 60:
            problems.append("NODE_ACCESS_TOKEN_TTL: at least 60 seconds")
        problems += self._mail_problems()
        problems += self._pay_problems()
        return problems

    def _pay_problems(self) -> list[str]:
        if not self.pay_provider:
            return []
        if self.pay_provider != "sandbox":
            return ["NODE_PAY_PROVIDER: empty (no online payment) or sandbox"]
        problems = []
        if not self.pay_sandbox_url.startswith(("http://", "https://")):
            problems.append("NODE_PAY_SANDBOX_URL: the sandbox's base URL, e.g. "
                            "http://127.0.0.1:5100")
        if len(self.pay_sandbox_secret) < 16:
            problems.append("NODE_PAY_SANDBOX_SECRET: a shared secret of at least 16 characters")
        return problems

    def _mail_problems(self) -> list[str]:
        problems = []
        if not 300 <= self.password_reset_ttl <= 86400:
            problems.append("NODE_PASSWORD_RESET_TTL: between 300 and 86400 seconds")
        if not 1 <= self.password_reset_max_requests <= 100:
            problems.append("NODE_PASSWORD_RESET_MAX_REQUESTS: between 1 and 100")
        if not self.smtp_host:
            return problems
        if any(c.isspace() or c in "/@:" for c in self.smtp_host):
            problems.append("NODE_SMTP_HOST: a host name or address, e.g. smtp.example.org")
        if not 1 <= self.smtp_port <= 65535:
            problems.append("NODE_SMTP_PORT: between 1 and 65535")
        address = email.utils.parseaddr(self.mail_from)[1]
        if (not address or "@" not in address or "\n" in self.mail_from
                or "\r" in self.mail_from):
            problems.append("NODE_MAIL_FROM: the sender address of the node's emails, "
                            "e.g. noreply@party.example.org (required with NODE_SMTP_HOST)")
        if bool(self.smtp_username) != bool(self.smtp_password):
            problems.append("NODE_SMTP_USERNAME, NODE_SMTP_PASSWORD: set both or neither")
        if (self.smtp_username and not self.smtp_starttls and self.smtp_port != 465
                and self.smtp_host not in ("localhost", "127.0.0.1", "::1")):
            problems.append("NODE_SMTP_STARTTLS: the SMTP password would travel in clear; "
                            "use STARTTLS or port 465")
        return problems
