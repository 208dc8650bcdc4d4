"""Hub accounts: argon2 hashes, the rules of creation and deactivation, and the CLI."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hub.accounts import services
from hub.accounts.models import HubAccount, HubRole
from hub.cli import cli
from hub.db import db
from shared.db.session import transaction
from shared.errors import Conflict, InvalidInput
from shared.web.passwords import verify_password
from tests.hub.helpers import PASSWORD, hub_account


def test_a_password_is_kept_only_as_an_argon2_hash(app, session):
    account = hub_account(app, HubRole.auditor, username="li.ming")
    assert account.password_hash.startswith("$argon2id$")
    assert PASSWORD not in account.password_hash
    assert verify_password(account.password_hash, PASSWORD)
    assert not verify_password(account.password_hash, PASSWORD + "x")


@pytest.mark.parametrize(("fields", "wrong"), [
    ({"username": "Bad Name"}, "username"),
    ({"display_name": " "}, "display_name"),
    ({"password": "short"}, "password"),
    ({"role": HubRole.region_viewer}, "region_prefix"),
    ({"role": HubRole.region_viewer, "region_prefix": "50a"}, "region_prefix"),
    ({"region_prefix": "5001"}, "region_prefix"),
    ({"email": "not-an-address"}, "email"),
])
def test_wrong_input_is_refused_and_changes_nothing(app, session, fields, wrong):
    values = {"username": "wang.fang", "display_name": "王芳", "role": HubRole.auditor,
              "password": PASSWORD, "created_by": "test", **fields}
    with pytest.raises(InvalidInput) as refused, transaction(db):
        services.create_account(**values)
    assert wrong in (refused.value.errors or {})
    assert session.scalar(sa.select(sa.func.count()).select_from(HubAccount)) == 0


def test_a_username_is_taken_once(app, session):
    hub_account(app, username="zhao")
    with pytest.raises(Conflict), transaction(db):
        services.create_account(username="ZHAO", display_name="赵", role=HubRole.auditor,
                                password=PASSWORD, created_by="test")


def test_the_last_administrator_and_oneself_stay_active(app, session):
    first = hub_account(app, HubRole.administrator)
    with pytest.raises(Conflict, match="last active administrator"), transaction(db):
        services.deactivate_account(first)
    second = hub_account(app, HubRole.administrator)
    with pytest.raises(Conflict, match="your own account"), transaction(db):
        services.deactivate_account(second, by=services.principal_for(second))
    with transaction(db):
        services.deactivate_account(first, by=services.principal_for(second))
    assert not session.get(HubAccount, first.id).is_active
    with pytest.raises(Conflict, match="already deactivated"), transaction(db):
        services.deactivate_account(first, by=services.principal_for(second))


def test_sign_in_is_throttled_per_account(app, session):
    account = hub_account(app, HubRole.auditor)
    for _ in range(3):
        with transaction(db):
            assert services.authenticate(username=account.username, password="wrong-password",
                                         remote_addr=None, max_failures=3, window=600) is None
    with pytest.raises(Exception, match="Too many"), transaction(db):
        services.authenticate(username=account.username, password=PASSWORD, remote_addr=None,
                              max_failures=3, window=600)
    with transaction(db):  # an operator's new password clears the count
        services.set_password(account, PASSWORD)
        assert services.authenticate(username=account.username, password=PASSWORD,
                                     remote_addr=None, max_failures=3, window=600) is account


@pytest.fixture()
def runner(app, monkeypatch) -> CliRunner:
    """The CLI on the test's app (so it runs inside the test's transaction)."""
    monkeypatch.setattr("hub.app.create_app", lambda _settings=None: app)
    monkeypatch.setenv("HUB_DATABASE_URL", "sqlite:///unused.db")
    monkeypatch.setenv("HUB_SECRET_KEY", "x" * 20)
    return CliRunner()


def test_the_cli_creates_lists_resets_and_deactivates_accounts(runner, session):
    empty = runner.invoke(cli, ["account", "list"])
    assert "create the first administrator" in empty.output
    created = runner.invoke(cli, ["account", "create", "admin", "--name", "系统管理员"],
                            input=f"{PASSWORD}\n{PASSWORD}\n")
    assert created.exit_code == 0, created.output
    assert "created admin (administrator)" in created.output
    viewer = runner.invoke(cli, ["account", "create", "cq", "--name", "重庆", "--role",
                                 "region_viewer", "--region", "50", "--password", PASSWORD])
    assert viewer.exit_code == 0, viewer.output
    listed = runner.invoke(cli, ["account", "list"])
    assert "admin\tadministrator\t-\tactive" in listed.output
    assert "cq\tregion_viewer\t50\tactive" in listed.output
    admin = services.get_account_by_username("admin")
    old_hash = admin.password_hash
    reset = runner.invoke(cli, ["account", "set-password", "admin", "--password",
                                "another-password-1"])
    assert reset.exit_code == 0 and admin.password_hash != old_hash
    short = runner.invoke(cli, ["account", "set-password", "admin", "--password", "short"])
    assert short.exit_code == 1 and "at least 12 characters" in short.output
    last = runner.invoke(cli, ["account", "deactivate", "admin"])
    assert last.exit_code == 1 and "last active administrator" in last.output
    gone = runner.invoke(cli, ["account", "deactivate", "cq"])
    assert gone.exit_code == 0 and not services.get_account_by_username("cq").is_active
    unknown = runner.invoke(cli, ["account", "deactivate", "nobody"])
    assert unknown.exit_code == 1 and "No account 'nobody'" in unknown.output


def test_the_cli_registers_a_client_whose_secret_is_shown_once(runner, session):
    made = runner.invoke(cli, ["client", "create", "--name", "统计脚本", "--grant-type",
                               "client_credentials", "--role", "auditor"])
    assert made.exit_code == 0, made.output
    assert "client_secret: " in made.stdout and "not shown again" in made.stderr
    assert "(auditor)" in made.stdout
    listed = runner.invoke(cli, ["client", "list"])
    assert "统计脚本\tconfidential\tclient_credentials" in listed.output
    bad = runner.invoke(cli, ["client", "create", "--name", "网页", "--redirect-uri",
                              "http://example.org/cb"])
    assert bad.exit_code == 1 and "use https" in bad.output
