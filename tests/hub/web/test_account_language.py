"""A signed-in hub account's stored language picks its pages' language; the explicit switch
(`?lang=`, then its cookie) still wins."""

from __future__ import annotations

import sqlalchemy as sa

from hub.accounts.models import HubAccount, HubRole
from hub.db import db
from shared.db.session import transaction
from tests.hub.helpers import csrf_of, hub_account, sign_in


def _lang(response) -> str:
    body = response.get_data(as_text=True)
    return body.split('<html lang="', 1)[1].split('"', 1)[0]


def _set_locale(username: str, locale: str | None) -> None:
    with transaction(db):
        db.session.execute(sa.update(HubAccount).where(HubAccount.username == username)
                           .values(locale=locale))


def test_the_accounts_language_is_used_until_another_is_chosen(app, client, seeded):
    account = hub_account(app, HubRole.auditor)
    assert sign_in(client, account.username).status_code == 303
    assert _lang(client.get("/console")) == "zh-CN"  # no language stored: the default
    _set_locale(account.username, "en")
    for path in ("/console", "/console/statistics", "/statistics", "/"):
        response = client.get(path)
        assert response.status_code == 200 and _lang(response) == "en", path
    assert "Ranking by Party members" in client.get("/console/statistics").get_data(as_text=True)
    # The switch wins, and is remembered by its cookie.
    assert _lang(client.get("/console?lang=zh_CN")) == "zh-CN"
    assert _lang(client.get("/console/nodes")) == "zh-CN"
    client.delete_cookie("lang")
    assert _lang(client.get("/console/nodes")) == "en"


def test_signing_in_after_choosing_a_language_stores_it(app, client, seeded):
    account = hub_account(app, HubRole.administrator)
    client.get("/login?lang=en")
    token = csrf_of(client, "/login")
    assert client.post("/login", data={"csrf_token": token, "username": account.username,
                                       "password": "hub-password-0123"}).status_code == 303
    assert db.session.scalar(sa.select(HubAccount.locale)
                             .where(HubAccount.id == account.id)) == "en"
    client.delete_cookie("lang")
    assert _lang(client.get("/console")) == "en"


def test_anonymous_visitors_get_the_default_or_their_choice(client, seeded):
    assert _lang(client.get("/statistics")) == "zh-CN"
    assert _lang(client.get("/statistics?lang=en")) == "en"
    client.delete_cookie("lang")
    assert _lang(client.get("/statistics")) == "zh-CN"
