"""Settings are read from the environment and validated at start, all problems at once."""

from __future__ import annotations

import pytest

from node.settings import NodeSettings
from shared.settings import SettingsError

GOOD = {"NODE_SECRET_KEY": "s" * 20, "NODE_PII_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        "NODE_IDENTITY_HASH_KEY": "h" * 20}


def test_reads_and_converts_typed_values():
    old = GOOD["NODE_PII_KEY"]
    settings = NodeSettings.from_env({**GOOD, "NODE_DEBUG": "true", "NODE_ACCESS_TOKEN_TTL": "600",
                                      "NODE_PII_OLD_KEYS": f"{old}, {old}"})
    assert settings.debug is True and settings.access_token_ttl == 600
    assert settings.pii_old_keys == (old, old)
    with pytest.raises(SettingsError, match="NODE_PII_OLD_KEYS"):
        NodeSettings.from_env({**GOOD, "NODE_PII_OLD_KEYS": "a, b"})
    assert "s" * 20 not in repr(settings)


def test_every_problem_is_reported_at_once():
    with pytest.raises(SettingsError) as info:
        NodeSettings.from_env({"NODE_DATABASE_URL": "mysql://x", "NODE_PII_KEY": "short",
                               "NODE_LOGIN_WINDOW": "soon"})
    assert info.value.problems == ["NODE_LOGIN_WINDOW: expected an integer, got 'soon'"]
    with pytest.raises(SettingsError) as info:
        NodeSettings.from_env({"NODE_DATABASE_URL": "mysql://x", "NODE_PII_KEY": "short"})
    text = "\n".join(info.value.problems)
    for name in ("NODE_DATABASE_URL", "NODE_SECRET_KEY", "NODE_PII_KEY",
                 "NODE_IDENTITY_HASH_KEY"):
        assert name in text


def test_bus_settings_are_checked():
    with pytest.raises(SettingsError) as info:
        NodeSettings.from_env({**GOOD, "NODE_HUB_URL": "hub.example.org",
                               "NODE_BUS_URL": "redis://x", "NODE_HEARTBEAT_INTERVAL": "1"})
    text = "\n".join(info.value.problems)
    for name in ("NODE_HUB_URL", "NODE_BUS_URL", "NODE_HEARTBEAT_INTERVAL"):
        assert name in text
    settings = NodeSettings.from_env({**GOOD, "NODE_HUB_URL": "https://hub.example.org"})
    assert settings.hub_url == "https://hub.example.org"


def test_keygen_output_is_always_accepted():
    from click.testing import CliRunner

    from node.cli import cli

    for _ in range(20):
        lines = CliRunner().invoke(cli, ["keygen"]).output.splitlines()
        environ = dict(line.split("=", 1) for line in lines)
        NodeSettings.from_env(environ)  # raises on any rejected secret
