"""Changing a password, and the forgotten-password link through a real SMTP server."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from node.accounts.models import Account, LoginFailure, PasswordReset
from node.accounts.services import verify_password
from node.audit.models import AuditEntry
from node.settings import NodeSettings
from node.tenants.scoping import tenant_context
from shared.settings import SettingsError

from .conftest import PASSWORD, csrf_of, session_state, sign_in

NEW_PASSWORD = "a-brand-new-password-2"
LINK = re.compile(r"https?://\S+/password/reset/\S+")


def _password_hash(session: Any, site: Any) -> str:
    with tenant_context(site.tenant.id):
        session.expire_all()
        return str(session.scalar(sa.select(Account.password_hash)
                                  .where(Account.id == site.account.id)))


def _resets(session: Any, site: Any) -> list[PasswordReset]:
    with tenant_context(site.tenant.id):
        session.expire_all()
        return list(session.scalars(sa.select(PasswordReset)))


# --- change password ---------------------------------------------------------------------------

def _change(client: Any, slug: str, current: str, new: str, again: str | None = None,
            csrf: str | None = None) -> Any:
    page = client.get(f"/t/{slug}/account/password")
    assert page.status_code == 200
    return client.post(f"/t/{slug}/account/password", data={
        "csrf_token": csrf if csrf is not None else csrf_of(page), "current_password": current,
        "new_password": new, "new_password_again": new if again is None else again})


def test_changing_the_password(client, site, session):
    slug = site.tenant.slug
    assert sign_in(client, slug).status_code == 303

    response = _change(client, slug, PASSWORD, NEW_PASSWORD)

    assert response.status_code == 303
    assert response.headers["Location"] == f"/t/{slug}/login"
    assert "密码已修改" in client.get(response.headers["Location"]).text  # flashed once
    assert verify_password(_password_hash(session, site), NEW_PASSWORD)
    with tenant_context(site.tenant.id):
        assert session.scalar(sa.select(AuditEntry.actor_account_id).where(
            AuditEntry.action == "account.password_change")) == site.account.id
    client.post("/logout", data={"csrf_token": session_state(client)["csrf"]})
    assert sign_in(client, slug, password=PASSWORD).status_code == 200  # old one: refused
    assert sign_in(client, slug, password=NEW_PASSWORD).status_code == 303


@pytest.mark.parametrize(("current", "new", "again", "message"), [
    ("wrong-password-9", NEW_PASSWORD, None, "当前密码不正确"),
    (PASSWORD, "short", None, "密码至少需要10个字符"),
    (PASSWORD, NEW_PASSWORD, NEW_PASSWORD + "x", "两次输入的新密码不一致"),
    ("", NEW_PASSWORD, None, "请输入当前密码"),
    (PASSWORD, "", None, "请输入新密码"),
    (PASSWORD, "p" * 5000, None, "密码过长"),
])
def test_a_refused_change_says_why_and_changes_nothing(client, site, session, current, new,
                                                        again, message):
    assert sign_in(client, site.tenant.slug).status_code == 303
    before = _password_hash(session, site)

    response = _change(client, site.tenant.slug, current, new, again)

    assert response.status_code == 400
    assert message in response.text and 'aria-invalid="true"' in response.text
    assert _password_hash(session, site) == before


def test_a_password_change_ends_the_other_sessions(client, site, app):
    slug = site.tenant.slug
    elsewhere = app.test_client()
    assert sign_in(elsewhere, slug).status_code == 303
    assert sign_in(client, slug).status_code == 303

    assert _change(client, slug, PASSWORD, NEW_PASSWORD).status_code == 303

    assert client.get(f"/t/{slug}/account/password").status_code == 200  # still signed in
    assert elsewhere.get(f"/t/{slug}/account/password").status_code == 303  # signed out
    assert site.account.display_name not in elsewhere.get(f"/t/{slug}/").text


def test_changing_the_password_needs_a_signed_in_account(client, site):
    page = client.get(f"/t/{site.tenant.slug}/account/password")
    assert page.status_code == 303
    assert page.headers["Location"] == (f"/t/{site.tenant.slug}/login?next=/t/"
                                        f"{site.tenant.slug}/account/password")
    refused = client.post(f"/t/{site.tenant.slug}/account/password",
                          data={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert refused.status_code == 303


def test_an_account_of_another_tenant_is_not_signed_in_here(client, site):
    assert sign_in(client, site.tenant.slug).status_code == 303
    assert client.get(f"/t/{site.other.slug}/account/password").status_code == 303


# --- CSRF --------------------------------------------------------------------------------------

@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_forms_without_the_csrf_token_are_refused_and_change_nothing(client, site, session,
                                                                     mail_app, mailbox, token):
    slug = site.tenant.slug
    assert sign_in(client, slug).status_code == 303
    before = _password_hash(session, site)
    extra = {} if token is None else {"csrf_token": token}

    responses = [
        client.post(f"/t/{slug}/account/password", data={
            **extra, "current_password": PASSWORD, "new_password": NEW_PASSWORD,
            "new_password_again": NEW_PASSWORD}),
        client.post(f"/t/{slug}/password/forgot", data={**extra,
                                                         "email": "jiang.ling@example.org"}),
        client.post("/logout", data=extra),
    ]

    for response in responses:
        assert response.status_code == 400
        assert "text/html" in response.content_type and "表单已过期" in response.text
    assert _password_hash(session, site) == before
    assert _resets(session, site) == []
    assert "account_id" in session_state(client)  # still signed in
    assert mailbox.messages == []


# --- forgotten password ------------------------------------------------------------------------

def _ask_for_link(client: Any, slug: str, address: str, **kwargs: Any) -> Any:
    page = client.get(f"/t/{slug}/password/forgot", **kwargs)
    assert page.status_code == 200
    return client.post(f"/t/{slug}/password/forgot",
                       data={"csrf_token": csrf_of(page), "email": address}, **kwargs)


def _link_in(message: Any) -> str:
    match = LINK.search(message.get_content())
    assert match is not None, message.get_content()
    return match.group(0)


def _set_new_password(client: Any, path: str, new: str = NEW_PASSWORD,
                      again: str | None = None) -> Any:
    page = client.get(path)
    assert page.status_code == 200, page.text
    return client.post(path, data={"csrf_token": csrf_of(page), "new_password": new,
                                   "new_password_again": new if again is None else again})


def test_resetting_a_forgotten_password_end_to_end(client, site, session, mail_app, mailbox):
    slug = site.tenant.slug

    answer = _ask_for_link(client, slug, "Jiang.Ling@Example.org ")

    assert answer.status_code == 200 and "请查收邮件" in answer.text
    (message,) = mailbox.wait_for(1)
    assert message["To"] == "jiang.ling@example.org"
    assert message["From"].addresses[0].addr_spec == "noreply@dadukou.example.org"
    assert message["Subject"] == f"重设密码：{site.tenant.name}"
    assert message["Content-Language"] == "zh-CN"
    body = message.get_content()
    assert "secretary" in body and "60分钟" in body
    link = _link_in(message)
    assert link.startswith(f"{mail_app.extensions['node'].base_url}/t/{slug}/password/reset/")
    token = link.rsplit("/", 1)[1]
    (row,) = _resets(session, site)
    assert row.token_hash != token and token not in row.token_hash  # only a hash is stored

    path = urlsplit(link).path
    form = client.get(path)
    assert form.status_code == 200 and "设置新密码" in form.text
    assert form.headers["Referrer-Policy"] == "no-referrer"  # the token stays in this page
    done = _set_new_password(client, path)
    assert done.status_code == 303 and done.headers["Location"] == f"/t/{slug}/login"
    assert "密码已重设，请使用新密码登录" in client.get(done.headers["Location"]).text

    assert sign_in(client, slug, password=PASSWORD).status_code == 200
    assert "account_id" not in session_state(client)
    assert sign_in(client, slug, password=NEW_PASSWORD).status_code == 303
    with tenant_context(site.tenant.id):
        assert session.scalar(sa.select(sa.func.count()).select_from(AuditEntry).where(
            AuditEntry.action == "account.password_reset")) == 1


def test_a_reset_ends_every_session_of_the_account(client, site, app, mail_app, mailbox):
    slug = site.tenant.slug
    thief = app.test_client()
    assert sign_in(thief, slug).status_code == 303
    _ask_for_link(client, slug, "jiang.ling@example.org")
    assert _set_new_password(client, urlsplit(_link_in(mailbox.wait_for(1)[0])).path
                             ).status_code == 303
    assert thief.get(f"/t/{slug}/account/password").status_code == 303


def test_a_link_works_once(client, site, session, mail_app, mailbox):
    _ask_for_link(client, site.tenant.slug, "jiang.ling@example.org")
    path = urlsplit(_link_in(mailbox.wait_for(1)[0])).path
    assert _set_new_password(client, path).status_code == 303

    again = client.get(path)
    assert again.status_code == 400 and "此链接无效或已过期" in again.text
    replay = client.post(path, data={"csrf_token": session_state(client)["csrf"],
                                      "new_password": "yet-another-password-3",
                                      "new_password_again": "yet-another-password-3"})
    assert replay.status_code == 400
    assert verify_password(_password_hash(session, site), NEW_PASSWORD)


def test_an_expired_link_is_refused(client, site, session, mail_app, mailbox):
    _ask_for_link(client, site.tenant.slug, "jiang.ling@example.org")
    path = urlsplit(_link_in(mailbox.wait_for(1)[0])).path
    page = client.get(path)
    with tenant_context(site.tenant.id):
        session.execute(sa.update(PasswordReset).values(
            expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)))
        session.commit()
    before = _password_hash(session, site)

    assert client.get(path).status_code == 400
    late = client.post(path, data={"csrf_token": csrf_of(page), "new_password": NEW_PASSWORD,
                                   "new_password_again": NEW_PASSWORD})
    assert late.status_code == 400 and "此链接无效或已过期" in late.text
    assert _password_hash(session, site) == before


def test_a_password_change_invalidates_open_links(client, site, session, mail_app, mailbox):
    _ask_for_link(client, site.tenant.slug, "jiang.ling@example.org")
    path = urlsplit(_link_in(mailbox.wait_for(1)[0])).path
    assert sign_in(client, site.tenant.slug).status_code == 303
    assert _change(client, site.tenant.slug, PASSWORD, NEW_PASSWORD).status_code == 303

    assert client.get(path).status_code == 400


@pytest.mark.parametrize("token", ["x", "a" * 43, "a" * 500, "%00", "..%2F..%2Fetc"])
def test_made_up_links_are_refused(client, site, token):
    response = client.get(f"/t/{site.tenant.slug}/password/reset/{token}")
    assert response.status_code in (400, 404)
    assert "text/html" in response.content_type


def test_a_refused_new_password_keeps_the_link(client, site, session, mail_app, mailbox):
    _ask_for_link(client, site.tenant.slug, "jiang.ling@example.org")
    path = urlsplit(_link_in(mailbox.wait_for(1)[0])).path
    short = _set_new_password(client, path, "short")
    assert short.status_code == 400 and "密码至少需要10个字符" in short.text
    differ = _set_new_password(client, path, NEW_PASSWORD, NEW_PASSWORD + "x")
    assert differ.status_code == 400 and "两次输入的新密码不一致" in differ.text
    assert _set_new_password(client, path).status_code == 303


def test_an_unknown_address_gets_the_same_answer_and_no_email(client, site, session, mail_app,
                                                             mailbox):
    slug = site.tenant.slug
    unknown = _ask_for_link(client, slug, "nobody@example.org")
    known = _ask_for_link(client, slug, "jiang.ling@example.org")

    assert unknown.status_code == known.status_code == 200
    assert unknown.text == known.text
    assert mailbox.wait_for(1)[0]["To"] == "jiang.ling@example.org"
    other_tenant = _ask_for_link(client, site.other.slug, "jiang.ling@example.org")
    assert other_tenant.text.replace(site.other.name, "") == \
        known.text.replace(site.tenant.name, "").replace(slug, site.other.slug)
    assert [m["To"] for m in mailbox.wait_for(1)] == ["jiang.ling@example.org"]
    assert len(_resets(session, site)) == 1


def test_the_email_is_in_the_accounts_language(client, site, session, mail_app, mailbox):
    with tenant_context(site.tenant.id):
        session.execute(sa.update(Account).where(Account.id == site.account.id)
                        .values(locale="en"))
        session.commit()
    answer = _ask_for_link(client, site.tenant.slug, "jiang.ling@example.org")  # page: Chinese
    assert "请查收邮件" in answer.text
    (message,) = mailbox.wait_for(1)
    assert message["Subject"] == f"Reset your password: {site.tenant.name}"
    assert "within 60 minutes" in message.get_content()
    assert message["Content-Language"] == "en"


def test_reset_requests_are_throttled_alike_for_known_and_unknown(client, site, session,
                                                                 mail_app, mailbox, app):
    limit = app.extensions["node"].password_reset_max_requests
    for i in range(limit):
        address = "jiang.ling@example.org" if i % 2 else f"nobody{i}@example.org"
        assert _ask_for_link(client, site.tenant.slug, address).status_code == 200
    for address in ("jiang.ling@example.org", "someone@example.org"):
        refused = _ask_for_link(client, site.tenant.slug, address)
        assert refused.status_code == 429 and "请求过于频繁" in refused.text
        assert int(refused.headers["Retry-After"]) > 0
    with tenant_context(site.tenant.id):
        keys = set(session.scalars(sa.select(LoginFailure.key)))
    assert "reset-addr:127.0.0.1" in keys


@pytest.mark.parametrize("address", ["", "no-at-sign", "a b@example.org", "x@" + "y" * 200])
def test_a_malformed_address_is_asked_again(client, site, mail_app, mailbox, address):
    response = _ask_for_link(client, site.tenant.slug, address)
    assert response.status_code == 400 and "请输入您账号登记的电子邮箱" in response.text
    assert mailbox.messages == []


def test_without_smtp_the_page_says_so(client, site, tweak_settings):
    tweak_settings(debug=False, smtp_host="")
    page = client.get(f"/t/{site.tenant.slug}/password/forgot")
    assert page.status_code == 200
    assert "本站未开通邮件找回密码功能" in page.text and 'name="email"' not in page.text


def test_session_cookies_are_secure_outside_debug(app, site, node_settings_factory,
                                                  database_url):
    from node.app import create_app

    production = create_app(node_settings_factory(database_url, debug=False))
    client = production.test_client()
    response = sign_in(client, site.tenant.slug)
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("session=")
    for flag in ("Secure", "HttpOnly", "SameSite=Lax"):
        assert flag in cookie
    lang = client.get(f"/t/{site.tenant.slug}/?lang=en").headers["Set-Cookie"]
    assert "Secure" in lang and "HttpOnly" in lang


# --- settings ----------------------------------------------------------------------------------

BASE = dict(secret_key="s" * 20, identity_hash_key="h" * 20,
            pii_key="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")


@pytest.mark.parametrize(("env", "problem"), [
    ({"NODE_SMTP_HOST": "smtp.example.org"}, "NODE_MAIL_FROM"),
    ({"NODE_SMTP_HOST": "smtp.example.org", "NODE_MAIL_FROM": "x@y.org\r\nBcc: z@evil"},
     "NODE_MAIL_FROM"),
    ({"NODE_SMTP_HOST": "smtp example", "NODE_MAIL_FROM": "a@b.org"}, "NODE_SMTP_HOST"),
    ({"NODE_SMTP_HOST": "smtp.example.org", "NODE_MAIL_FROM": "a@b.org",
      "NODE_SMTP_PORT": "70000"}, "NODE_SMTP_PORT"),
    ({"NODE_SMTP_HOST": "smtp.example.org", "NODE_MAIL_FROM": "a@b.org",
      "NODE_SMTP_USERNAME": "u"}, "NODE_SMTP_PASSWORD"),
    ({"NODE_SMTP_HOST": "smtp.example.org", "NODE_MAIL_FROM": "a@b.org",
      "NODE_SMTP_USERNAME": "u", "NODE_SMTP_PASSWORD": "p", "NODE_SMTP_STARTTLS": "false"},
     "NODE_SMTP_STARTTLS"),
    ({"NODE_SMTP_STARTTLS": "perhaps"}, "NODE_SMTP_STARTTLS"),
    ({"NODE_PASSWORD_RESET_TTL": "10"}, "NODE_PASSWORD_RESET_TTL"),
])
def test_mail_settings_are_validated(env, problem):
    environ = {f"NODE_{k.upper()}": v for k, v in BASE.items()} | env
    with pytest.raises(SettingsError) as error:
        NodeSettings.from_env(environ)
    assert problem in str(error.value)


def test_good_mail_settings_are_accepted():
    environ = {f"NODE_{k.upper()}": v for k, v in BASE.items()} | {
        "NODE_SMTP_HOST": "smtp.example.org", "NODE_SMTP_PORT": "465",
        "NODE_SMTP_USERNAME": "node", "NODE_SMTP_PASSWORD": "secret",
        "NODE_SMTP_STARTTLS": "false", "NODE_MAIL_FROM": "党建平台 <noreply@example.org>"}
    settings = NodeSettings.from_env(environ)
    assert settings.smtp_port == 465 and "secret" not in repr(settings)
