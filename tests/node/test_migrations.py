"""One migration tree per app: a single head, upgrade from empty, no drift, downgrade works."""

from __future__ import annotations

from alembic import command
from alembic.script import ScriptDirectory

from federation.delivery.models import FederationModel
from node import migrate
from node.db import NodeModel
from shared.db.session import make_engine
from shared.testing.migrations import empty_database, roundtrip


def test_single_head():
    heads = ScriptDirectory.from_config(migrate.alembic_config()).get_heads()
    assert len(heads) == 1


def test_upgrade_check_downgrade_on_the_test_backend(backend, tmp_path):
    with empty_database(backend, tmp_path) as url:
        tables = roundtrip(migrate.TREE, url)
    assert set(NodeModel.metadata.tables) | set(FederationModel.metadata.tables) <= tables


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
