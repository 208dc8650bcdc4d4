"""One migration tree per app: a single head, upgrade from empty, no drift, downgrade works."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from federation.delivery.models import FederationModel
from hub import migrate
from hub.db import HubModel
from shared.db.session import make_engine
from shared.testing.backends import create_pg_database, drop_pg_database


def test_single_head():
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert len(heads) == 1


def _roundtrip(url: str) -> None:
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            # alembic check: the models and the migrations describe the same schema
            command.check(migrate.alembic_config(connection=connection))
            assert migrate.current_revision(connection) == migrate.head_revision()
        with engine.begin() as connection:
            command.downgrade(migrate.alembic_config(connection=connection), "-1")
        with engine.connect() as connection:
            assert migrate.current_revision(connection) != migrate.head_revision()
        migrate.upgrade(engine)
        with engine.connect() as connection:
            tables = set(engine.dialect.get_table_names(connection))
            version = connection.execute(sa.text(
                "SELECT version FROM hub_directory_state WHERE id = 1")).scalar_one()
        assert set(HubModel.metadata.tables) | set(FederationModel.metadata.tables) <= tables
        assert version == 0  # the directory's one state row comes with the schema
    finally:
        engine.dispose()


def test_upgrade_check_downgrade_on_the_test_backend(backend, tmp_path):
    if backend == "sqlite":
        _roundtrip(f"sqlite:///{tmp_path / 'm.db'}")
    else:
        name = f"partynet_hub_migrations_{tmp_path.name[-12:].replace('-', '_')}"
        url = create_pg_database(name)
        try:
            _roundtrip(url)
        finally:
            drop_pg_database(name)


def test_readyz_is_unavailable_until_the_schema_is_at_head(tmp_path, hub_settings_factory,
                                                           database_url):
    from hub.app import create_app
    from hub.db import db

    url = f"sqlite:///{tmp_path / 'behind.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection=connection), "-1")
    engine.dispose()
    app = create_app(hub_settings_factory(url))
    try:
        r = app.test_client().get("/readyz")
        assert r.status_code == 503
        assert r.json["checks"]["database"] == "ok"
        assert "head is" in r.json["checks"]["migrations"]
        migrate.upgrade(db.engine)
        r = app.test_client().get("/readyz")
        assert r.status_code == 200
    finally:
        db.dispose()
        db.configure(database_url)  # as the session's app left it
