"""One migration tree per app: a single head, upgrade from empty, no drift, downgrade works."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.script import ScriptDirectory

from federation.delivery.models import FederationModel
from hub import migrate
from hub.db import HubModel
from shared.db.session import make_engine
from shared.testing.migrations import empty_database, roundtrip


def test_single_head():
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert len(heads) == 1


def test_upgrade_check_downgrade_on_the_test_backend(backend, tmp_path):
    with empty_database(backend, tmp_path) as url:
        tables = roundtrip(migrate.TREE, url)
        engine = make_engine(url)
        try:
            with engine.connect() as connection:
                version = connection.execute(sa.text(
                    "SELECT version FROM hub_directory_state WHERE id = 1")).scalar_one()
        finally:
            engine.dispose()
    assert set(HubModel.metadata.tables) | set(FederationModel.metadata.tables) <= tables
    assert version == 0  # the directory's one state row comes with the schema


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
