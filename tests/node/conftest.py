"""Node fixtures: a migrated database per backend, a rolled-back transaction per test.

Each test runs inside one outer transaction that is rolled back afterwards; the app's own
commits become SAVEPOINT releases (join_transaction_mode="create_savepoint"), so tests see real
commit/rollback behaviour without paying for a fresh schema.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask

from node import migrate
from node.app import create_app
from node.audit.recording import acting_as
from node.auth.models import Token, token_digest
from node.db import db
from node.grants.models import Grant, Role
from node.members.models import Stage
from node.settings import NodeSettings
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context
from shared.db.session import make_engine
from shared.testing.backends import backends, fresh_pg_database

TEST_PII_KEY = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY="  # 32 bytes, tests only
TEST_SETTINGS = dict(secret_key="test-secret-key-0123456789", pii_key=TEST_PII_KEY,
                     identity_hash_key="test-identity-hash-key", debug=True)


def node_settings(database_url: str, **overrides: Any) -> NodeSettings:
    return NodeSettings(database_url=database_url, **{**TEST_SETTINGS, **overrides})


def _worker() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session", params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def database_url(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'node.db'}"
        return
    with fresh_pg_database(f"partynet_test_{_worker()}") as url:
        yield url
        db.dispose()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[sa.Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def app(database_url: str, engine: sa.Engine) -> Flask:
    app = create_app(node_settings(database_url))
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


def _detached(obj: Any) -> Any:
    """Return `obj` loaded and detached, so requests that roll back cannot expire it."""
    db.session.refresh(obj)
    db.session.expunge(obj)
    return obj


class World:
    """Factories for test data, built through services where invariants matter.

    Objects come back detached with their columns loaded: tests read ids and codes freely
    while the app's own transactions (and rollbacks) run on the same scoped session.
    """

    def __init__(self) -> None:
        self._n = 0

    def _next(self) -> int:
        self._n += 1
        return self._n

    def tenant(self, slug: str | None = None, prefix: str | None = None) -> Tenant:
        from node.tenants.services import create_tenant

        n = self._next()
        with acting_as("test"):
            tenant = create_tenant(slug=slug or f"t{n}-{secrets.token_hex(2)}",
                                   name=f"Tenant {n}",
                                   code_prefix=prefix or f"5001{n:02d}{secrets.randbelow(900) + 100}",
                                   admin_username="admin", admin_password="admin-password-1")
        db.session.commit()
        return _detached(tenant)

    def org(self, tenant: Tenant, parent: Any, kind: str = "branch", name: str | None = None
            ) -> Any:
        from node.orgs.models import OrgKind
        from node.orgs.services import create_org

        with tenant_context(tenant.id), acting_as("test"):
            org = create_org(self.root_principal(tenant), {
                "parent_id": parent.id, "kind": OrgKind(kind),
                "name": name or f"{kind} {self._next()}"})
            db.session.commit()
            return _detached(org)

    def root(self, tenant: Tenant) -> Any:
        from node.tenants.services import root_org

        with tenant_context(tenant.id):
            return _detached(root_org(tenant))

    def root_principal(self, tenant: Tenant) -> Any:
        from node.auth.principal import Principal

        return Principal(account_id=0, tenant_id=tenant.id, username="test",
                         grants=((Role.tenant_admin, tenant.code_prefix),))

    def member(self, tenant: Tenant, org: Any, stage: str = "full", name: str | None = None,
               national_id: str | None = None, **fields: Any) -> Any:
        from node.members.services import create_member

        with tenant_context(tenant.id), acting_as("test"):
            member = create_member(self.root_principal(tenant), db.session.get(Tenant, tenant.id), {
                "org_id": org.id, "name": name or f"党员{self._next()}",
                "national_id": national_id or make_national_id(self._next()),
                "stage": Stage(stage), **fields})
            db.session.commit()
            return _detached(member)

    def account(self, tenant: Tenant, grants: list[tuple[Role, Any]] = (),  # type: ignore[assignment]
                member: Any = None, username: str | None = None,
                password: str = "correct-horse-1") -> Any:
        from node.accounts.models import Account
        from node.accounts.services import hash_password

        with tenant_context(tenant.id), acting_as("test"):
            account = Account(username=username or f"user{self._next()}",
                              display_name="Test user", password_hash=hash_password(password),
                              member_id=member.id if member is not None else None)
            db.session.add(account)
            db.session.flush()
            for role, org in grants:
                db.session.add(Grant(account_id=account.id, role=role, org_id=org.id,
                                     org_code=org.code))
            db.session.commit()
            return _detached(account)

    def token(self, account: Any, scope: str = "read write") -> dict[str, str]:
        raw = secrets.token_urlsafe(24)
        db.session.add(Token(access_token_hash=token_digest(raw), tenant_id=account.tenant_id,
                             account_id=account.id, scope=scope,
                             expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)))
        db.session.commit()
        return {"Authorization": f"Bearer {raw}"}


def make_national_id(n: int, region: str = "500104") -> str:
    """A valid 18-digit national ID, distinct for each n."""
    from shared.identity import normalize_national_id

    birth = (dt.date(1960, 1, 1) + dt.timedelta(days=n // 1000)).strftime("%Y%m%d")
    body = f"{region}{birth}{n % 1000:03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, weights, strict=True)) % 11]
    return normalize_national_id(body + check)


@pytest.fixture()
def world(connection: sa.Connection) -> World:
    return World()


@pytest.fixture()
def national_id() -> Callable[[int], str]:
    """Valid national IDs for tests, distinct from the world's (which count from 1)."""
    return lambda n: make_national_id(900_000 + n)


@pytest.fixture()
def node_settings_factory() -> Callable[..., NodeSettings]:
    """Settings for an app of one's own (e.g. on another database) in a test."""
    return node_settings
