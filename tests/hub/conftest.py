"""Hub fixtures: a migrated database per backend, a rolled-back transaction per test.

Each test runs inside one outer transaction that is rolled back afterwards; the app's own
commits become SAVEPOINT releases (join_transaction_mode="create_savepoint"), so tests see real
commit/rollback behaviour without paying for a fresh schema.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from federation.delivery import Consumer
from federation.keys import SigningKey
from hub import migrate
from hub.app import create_app
from hub.bus import services as hub_bus
from hub.db import db
from hub.keys import services as keys
from hub.nodes import services as nodes
from hub.settings import HubSettings
from shared.db.session import make_engine, transaction
from shared.testing.backends import backends, fresh_pg_database
from tests.hub.helpers import enrollment_body

TEST_SETTINGS = dict(secret_key="test-secret-key-0123456789", debug=True)


def hub_settings(database_url: str, **overrides: Any) -> HubSettings:
    return HubSettings(database_url=database_url, **{**TEST_SETTINGS, **overrides})


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs() -> None:
    """`make setup` compiles the catalogs; a bare `pytest` run gets them compiled here."""
    from hub.portal.web import compile_catalogs

    compile_catalogs()


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2, with the cheapest parameters: the hub's tests sign in a lot."""
    from argon2 import PasswordHasher

    from shared.web import passwords

    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


@pytest.fixture(scope="session", params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('hubdb') / 'hub.db'}"
        return
    with fresh_pg_database(f"partynet_hubtest_{_worker()}") as url:
        yield url
        db.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def signing_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hubkey") / "hub-signing.key"
    path.write_text(SigningKey.generate().to_text() + "\n", encoding="ascii")
    return path


@pytest.fixture(scope="session")
def app(database_url: str, engine: sa.Engine, signing_key_file: Path) -> Flask:
    app = create_app(hub_settings(database_url, signing_key_file=str(signing_key_file),
                                  enroll_max_failures=3))
    app.config["TESTING"] = True
    return app


@pytest.fixture()
def connection(app: Flask, engine: sa.Engine) -> Iterator[sa.Connection]:
    with engine.connect() as connection:
        outer = connection.begin()
        db.configure(bind=connection, join_transaction_mode="create_savepoint")
        try:
            yield connection
        finally:
            db.session.remove()
            outer.rollback()


@pytest.fixture()
def client(app: Flask, connection: sa.Connection) -> Any:
    return app.test_client()


@pytest.fixture()
def session(connection: sa.Connection) -> Any:
    return db.session()


@pytest.fixture()
def settings(app: Flask) -> HubSettings:
    return app.extensions["hub"]


@pytest.fixture()
def hub_key(settings: HubSettings, connection: sa.Connection) -> SigningKey:
    """The hub's signing key, listed in its key table (as `partynet hub bus keygen` does)."""
    with transaction(db):
        return keys.ready_signing_key(settings)


@pytest.fixture()
def consumer(settings: HubSettings, hub_key: SigningKey) -> Consumer:
    """The hub's consumer, reloading keys on every unknown key id (no 30 s circuit breaker)."""
    party = hub_bus.hub_party(settings)
    timing = dataclasses.replace(party.timing, keys_refresh=dt.timedelta(0))
    return Consumer(dataclasses.replace(party, timing=timing))


class Network:
    """Tokens and enrolled nodes, made through the services as the CLI and the API do."""

    def __init__(self, hub_key: SigningKey) -> None:
        self.hub_key = hub_key
        self.node_keys: dict[str, SigningKey] = {}

    def token(self, node_id: str, prefixes: tuple[str, ...] = ("500104",), *,
              region: str | None = None, ttl: dt.timedelta = dt.timedelta(days=7),
              now: dt.datetime | None = None) -> str:
        with transaction(db):
            _row, text = nodes.issue_token(node_id=node_id, allowed_prefixes=prefixes,
                                           region=region, ttl=ttl, created_by="test", now=now)
        return text

    def enroll(self, node_id: str, tenants: list[tuple[str, str]], *,
               key: SigningKey | None = None, token: str | None = None,
               prefixes: tuple[str, ...] | None = None) -> nodes.Enrollment:
        """Enroll `node_id` with tenants [(slug, code_prefix)] and a new key (or `key`)."""
        key = key or SigningKey.generate()
        self.node_keys[node_id] = key
        token = token or self.token(node_id, prefixes or tuple(p for _, p in tenants))
        with transaction(db):
            return nodes.enroll(**enrollment_body(token, node_id, key, tenants),
                                hub_key=self.hub_key)


@pytest.fixture()
def network(hub_key: SigningKey) -> Network:
    return Network(hub_key)


@pytest.fixture()
def hub_settings_factory() -> Callable[..., HubSettings]:
    return hub_settings
