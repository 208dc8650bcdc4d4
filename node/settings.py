"""Node settings, read from NODE_* environment variables and validated at start-up."""

from __future__ import annotations

import dataclasses
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
        if self.access_token_ttl < 60:
            problems.append("NODE_ACCESS_TOKEN_TTL: at least 60 seconds")
        return problems
