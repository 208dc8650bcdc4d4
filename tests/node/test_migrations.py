"""One migration tree per app: a single head, upgrade from empty, no drift, downgrade works."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from node import migrate
from node.db import NodeModel
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
        assert set(NodeModel.metadata.tables) <= tables
    finally:
        engine.dispose()


def test_upgrade_check_downgrade_on_the_test_backend(backend, tmp_path):
    if backend == "sqlite":
        _roundtrip(f"sqlite:///{tmp_path / 'm.db'}")
    else:
        name = f"partynet_migrations_{tmp_path.name[-12:].replace('-', '_')}"
        url = create_pg_database(name)
        try:
            _roundtrip(url)
        finally:
            drop_pg_database(name)



def test_readyz_is_unavailable_until_the_schema_is_at_head(tmp_path, node_settings_factory):
    from node.app import create_app
    from node.db import db

    url = f"sqlite:///{tmp_path / 'behind.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        command.downgrade(migrate.alembic_config(connection=connection), "-1")
    engine.dispose()
    app = create_app(node_settings_factory(url))
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
