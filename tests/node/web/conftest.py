"""Fixtures for the node's pages: a small public world, a signed-in browser, a real SMTP server.

The pages are tested through Flask's test client on both backends (the `client`, `world` and
`connection` fixtures of tests/node/conftest.py); email goes to an aiosmtpd server on a free
port, read back as a mail client would.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email
import email.policy
import re
import socket
import threading
import time
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from flask import Flask

from node.accounts.models import Account
from node.audit.recording import acting_as
from node.grants.models import Role
from node.orgs.models import OfficerPosition
from node.orgs.services import add_officer, update_org
from node.tenants.scoping import tenant_context
from node.tenants.services import set_tenant_hosts
from node.web.i18n import compile_catalogs

CSRF = re.compile(r'<input type="hidden" name="csrf_token" value="([^"]+)">')
PASSWORD = "secretary-password-1"


@pytest.fixture(autouse=True)
def cheap_password_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    """Real argon2, with the cheapest parameters: the page tests sign in a lot."""
    from argon2 import PasswordHasher

    from shared.web import passwords

    monkeypatch.setattr(passwords, "_hasher",
                        PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


@pytest.fixture(scope="session", autouse=True)
def compiled_catalogs() -> None:
    """`make setup` compiles the catalogs; a bare `pytest` run gets them compiled here."""
    compile_catalogs()


# --- a small public world ---------------------------------------------------------------------

@dataclasses.dataclass
class Site:
    tenant: Any
    other: Any
    root: Any
    committee: Any
    branch: Any
    group: Any
    secretary: Any  # a member who is the branch secretary
    plain_member: Any  # a member holding no office
    account: Any  # the secretary's account (email, password PASSWORD)
    hosts: tuple[str, ...]


@pytest.fixture()
def site(world: Any, session: Any) -> Site:
    tenant = world.tenant(slug="dadukou-t")
    other = world.tenant(slug="other-t")
    root = world.root(tenant)
    committee = world.org(tenant, root, "committee", name="新山村街道党工委")
    branch = world.org(tenant, committee, "branch", name="钢花路社区第一党支部")
    group = world.org(tenant, branch, "group", name="第一党小组")
    secretary = world.member(tenant, branch, name="江玲", phone="13800000001",
                             address="春晖路12号", work_unit="大渡口区人民医院")
    plain = world.member(tenant, branch, name="何秀英", phone="13900000002",
                         address="钢花路8号", work_unit="重庆钢花印务有限公司")
    account = world.account(tenant, grants=[(Role.org_admin, branch)], member=secretary,
                            username="secretary", password=PASSWORD)
    hosts = ("dadukou.example.org", "www.dadukou.example.org")
    principal = world.root_principal(tenant)
    with tenant_context(tenant.id), acting_as("test"):
        set_tenant_hosts(tenant, hosts)
        session.execute(sa.update(Account).where(Account.id == account.id)
                        .values(email="jiang.ling@example.org"))
        add_officer(principal, session.get(type(branch), branch.id), {
            "member_id": secretary.id, "position": OfficerPosition.secretary,
            "term_start": dt.date(2024, 3, 1)})
        update_org(principal, session.get(type(root), root.id),
                   {"public_description": "大渡口区委的公开介绍。",
                    "description": "内部备注：不公开"})
        update_org(principal, session.get(type(branch), branch.id),
                   {"public_description": "每月固定日开展主题党日。"})
        session.commit()
    return Site(tenant, other, root, committee, branch, group, secretary, plain, account, hosts)


# --- a person in a browser --------------------------------------------------------------------

def csrf_of(page: Any) -> str:
    match = CSRF.search(page.text)
    assert match is not None, page.text
    return match.group(1)


def sign_in(client: Any, slug: str, username: str = "secretary", password: str = PASSWORD,
            **kwargs: Any) -> Any:
    page = client.get(f"/t/{slug}/login", **kwargs)
    assert page.status_code == 200
    return client.post(f"/t/{slug}/login", data={"csrf_token": csrf_of(page),
                                                 "username": username, "password": password},
                       **kwargs)


def session_state(client: Any) -> dict[str, Any]:
    with client.session_transaction() as state:
        return dict(state)


# --- a real SMTP server -----------------------------------------------------------------------

class Mailbox:
    """What the SMTP server received, parsed as a mail client would."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.port = 0
        self._lock = threading.Condition()

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
            self._lock.notify_all()
        return "250 Message accepted for delivery"

    def wait_for(self, count: int, timeout: float = 10) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.messages) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"expected {count} messages, got {len(self.messages)}"
                self._lock.wait(left)
            return list(self.messages)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture()
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    box.port = _free_port()
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture()
def mail_app(app: Flask, mailbox: Mailbox) -> Iterator[Flask]:
    """The app sending through the test's SMTP server (plain SMTP on 127.0.0.1)."""
    settings = app.extensions["node"]
    app.extensions["node"] = dataclasses.replace(
        settings, smtp_host="127.0.0.1", smtp_starttls=False,
        smtp_port=mailbox.port, mail_from="党建平台 <noreply@dadukou.example.org>")
    try:
        yield app
    finally:
        app.extensions["node"] = settings


@pytest.fixture()
def tweak_settings(app: Flask) -> Iterator[Any]:
    """Change the app's settings for one test: `tweak_settings(debug=False, ...)`."""
    original = app.extensions["node"]

    def tweak(**changes: Any) -> None:
        app.extensions["node"] = dataclasses.replace(app.extensions["node"], **changes)

    yield tweak
    app.extensions["node"] = original


# --- the working pages: a member, a secretary and an administrator ------------------------------

ADMIN_PASSWORD = "admin-password-1"  # the tenant administrator made with the tenant (`world`)
MEMBER_PASSWORD = "member-password-1"


@dataclasses.dataclass
class Console:
    site: Site
    sibling: Any  # a branch next to the secretary's, under the same committee
    stranger: Any  # a member of the sibling branch
    member_account: Any  # the plain member's account (role member on the branch)

    @property
    def slug(self) -> str:
        return str(self.site.tenant.slug)


@pytest.fixture()
def console(site: Site, world: Any) -> Console:
    sibling = world.org(site.tenant, site.committee, "branch", name="钢花路社区第二党支部")
    stranger = world.member(site.tenant, sibling, name="罗建华", phone="13700000003")
    member_account = world.account(site.tenant, grants=[(Role.member, site.branch)],
                                   member=site.plain_member, username="member",
                                   password=MEMBER_PASSWORD)
    return Console(site, sibling, stranger, member_account)


LOGINS = {"member": ("member", MEMBER_PASSWORD), "secretary": ("secretary", PASSWORD),
          "admin": ("admin", ADMIN_PASSWORD)}


def sign_in_as(client: Any, console: Console, who: str) -> None:
    if who == "anonymous":
        return
    username, password = LOGINS[who]
    assert sign_in(client, console.slug, username, password).status_code == 303
