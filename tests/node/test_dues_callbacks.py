"""Online payment: the member's checkout, the provider's signed callback and the sandbox
provider over real HTTP. Every refused callback (bad signature, replay, wrong amount,
unknown order, a second success) leaves the lines as they were."""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import re
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from werkzeug.serving import make_server

from node.audit.recording import acting_as
from node.db import db
from node.dues import services
from node.dues.models import (
    DuesLine,
    DuesPayment,
    LineStatus,
    OrderStatus,
    PaymentMethod,
    PaymentOrder,
)
from node.dues.providers import SIGNATURE_HEADER, hmac_hex
from node.dues.providers.sandbox import serve_sandbox, signed_callback
from node.dues.rules import DuesCategory
from node.grants.models import Role
from node.members.models import Member
from node.orgs.models import Org
from node.tenants.models import Tenant
from node.tenants.scoping import tenant_context

SECRET = "sandbox-secret-for-tests-0123"
CALLBACK = "/api/dues/callbacks/sandbox"


@dataclasses.dataclass
class Paying:
    tenant: Any
    member: Any
    headers: dict[str, str]  # the member's bearer token
    admin: Any
    this_month: str
    next_month: str


@pytest.fixture()
def sandbox_settings(app: Flask, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    settings = dataclasses.replace(app.extensions["node"], pay_provider="sandbox",
                                   pay_sandbox_url="http://127.0.0.1:9", pay_sandbox_secret=SECRET)
    monkeypatch.setitem(app.extensions, "node", settings)
    yield


@pytest.fixture()
def paying(world: Any, session: Any, sandbox_settings: None) -> Paying:
    tenant = world.tenant()
    root = world.root(tenant)
    branch = world.org(tenant, root, "branch")
    member = world.member(tenant, branch, name="王芳")
    account = world.account(tenant, grants=[(Role.member, branch)], member=member)
    today = services.local_today()
    admin = world.root_principal(tenant)
    this_month = services.month_of(today)
    following = services.add_months(this_month, 1)
    with tenant_context(tenant.id), acting_as("test"):
        t = session.get(Tenant, tenant.id)
        for month in (this_month, following):  # December: next month is next year's
            services.assess(admin, session.get(Member, member.id), t, year=month.year,
                            category=DuesCategory.salaried, base=Decimal("4000"))
            services.generate(admin, session.get(Org, root.id), t, year=month.year,
                              months=[month])
        # next month is paid ahead: with the branch's consent
        services.grant_ahead_consent(admin, session.get(Member, member.id), t,
                                     through_month=following, today=today)
        session.commit()
    return Paying(tenant, member, world.token(account), admin, this_month.strftime("%Y-%m"),
                  following.strftime("%Y-%m"))


def checkout(client: Any, paying: Paying, months: list[str] | None = None) -> dict[str, Any]:
    r = client.post("/api/me/dues/checkout", headers=paying.headers,
                    json={"months": months or [paying.this_month]})
    assert r.status_code == 201, r.json
    return r.json


def callback(client: Any, payload: dict[str, Any], secret: str = SECRET,
             headers: dict[str, str] | None = None) -> Any:
    body, signed = signed_callback(secret, payload)
    return client.post(CALLBACK, data=body, headers=headers if headers is not None else signed)


def success(order: dict[str, Any], **changes: Any) -> dict[str, Any]:
    return {"provider": "sandbox", "order": order["order"], "amount": order["amount"],
            "currency": "CNY", "status": "success", "txn_id": "SBX-1",
            "paid_at": dt.datetime.now(dt.UTC).isoformat(), **changes}


def state(paying: Paying) -> tuple[list[str], int, list[str]]:
    """(line statuses, payments, order statuses): what a refused callback must not change."""
    with tenant_context(paying.tenant.id):
        db.session.expire_all()
        lines = [s.value for s in db.session.scalars(
            sa.select(DuesLine.status).order_by(DuesLine.month))]
        payments = db.session.scalar(sa.select(sa.func.count()).select_from(DuesPayment))
        orders = [s.value for s in db.session.scalars(
            sa.select(PaymentOrder.status).order_by(PaymentOrder.id))]
    db.session.remove()
    return lines, int(payments or 0), orders


def test_checkout_points_to_the_sandbox_with_a_signed_request(client: Any, paying: Paying
                                                                ) -> None:
    order = checkout(client, paying)
    assert order["amount"] == "40.00" and order["status"] == "pending"
    url = urlsplit(order["checkout_url"])
    assert f"{url.scheme}://{url.netloc}" == "http://127.0.0.1:9" and url.path == "/checkout"
    params = {k: v[0] for k, v in parse_qs(url.query).items()}
    signature = params.pop("sig")
    assert signature == hmac_hex(SECRET, params)
    assert params["notify_url"].endswith(CALLBACK) and params["amount"] == "40.00"
    assert params["return_url"].endswith(f"/me/dues/orders/{order['order']}")
    assert state(paying) == (["unpaid"] * len(state(paying)[0]), 0, ["pending"])


def test_a_good_callback_pays_the_lines_once(client: Any, paying: Paying) -> None:
    order = checkout(client, paying)
    first = callback(client, success(order))
    assert first.status_code == 200 and first.json == {"result": "paid",
                                                       "order": order["order"]}
    lines, payments, orders = state(paying)
    assert lines[0] == "paid" and payments == 1 and orders == ["paid"]
    with tenant_context(paying.tenant.id):
        payment = db.session.scalars(sa.select(DuesPayment)).one()
        assert (payment.method, payment.provider, payment.provider_txn_id) == (
            PaymentMethod.online, "sandbox", "SBX-1")
        assert payment.amount == Decimal("40.00") and payment.member_id == paying.member.id


def test_a_replayed_callback_changes_nothing(client: Any, paying: Paying) -> None:
    order = checkout(client, paying)
    assert callback(client, success(order)).status_code == 200
    before = state(paying)
    replay = callback(client, success(order))
    assert replay.status_code == 200 and replay.json["result"] == "duplicate"
    assert state(paying) == before and before[1] == 1


def test_a_second_success_for_a_paid_order_is_refused(client: Any, paying: Paying) -> None:
    order = checkout(client, paying)
    assert callback(client, success(order)).status_code == 200
    before = state(paying)
    again = callback(client, success(order, txn_id="SBX-2"))
    assert again.status_code == 409 and again.mimetype == "application/problem+json"
    assert state(paying) == before


@pytest.mark.parametrize(("name", "tamper", "status"), [
    ("wrong secret", lambda payload: (payload, "not-the-secret-0123456789", None), 403),
    ("no signature", lambda payload: (payload, SECRET, {"Content-Type": "application/json"}),
     403),
    ("garbled signature", lambda payload: (payload, SECRET, {
        "Content-Type": "application/json", SIGNATURE_HEADER: "hmac-sha256=00"}), 403),
    ("wrong amount", lambda payload: ({**payload, "amount": "0.40"}, SECRET, None), 422),
    ("unknown order", lambda payload: ({**payload, "order": "no-such-order"}, SECRET, None),
     404),
    ("amount not money", lambda payload: ({**payload, "amount": "40.001"}, SECRET, None), 403),
])
def test_refused_callbacks_change_nothing(client: Any, paying: Paying, name: str, tamper: Any,
                                          status: int) -> None:
    order = checkout(client, paying)
    before = state(paying)
    payload, secret, headers = tamper(success(order))
    r = callback(client, payload, secret, headers)
    assert r.status_code == status, (name, r.json)
    assert r.mimetype == "application/problem+json"
    assert state(paying) == before


def test_a_signed_body_changed_in_transit_is_refused(client: Any, paying: Paying) -> None:
    order = checkout(client, paying)
    body, headers = signed_callback(SECRET, success(order))
    r = client.post(CALLBACK, data=body.replace(b"40.00", b"41.00"), headers=headers)
    assert r.status_code == 403 and r.json["code"] == "invalid-signature"
    assert state(paying)[1] == 0


def test_an_unknown_provider_is_404(client: Any, paying: Paying) -> None:
    order = checkout(client, paying)
    body, headers = signed_callback(SECRET, success(order))
    assert client.post("/api/dues/callbacks/alipay", data=body, headers=headers
                       ).status_code == 404


def test_a_declined_payment_marks_the_order_failed_only(client: Any, paying: Paying) -> None:
    order = checkout(client, paying)
    r = callback(client, success(order, status="failed"))
    assert r.status_code == 200 and r.json["result"] == "failed"
    lines, payments, orders = state(paying)
    assert set(lines) == {"unpaid"} and payments == 0 and orders == ["failed"]


def test_a_month_settled_meanwhile_refuses_the_callback(client: Any, paying: Paying) -> None:
    order = checkout(client, paying)
    with tenant_context(paying.tenant.id), acting_as("test"):
        services.record_payment(paying.admin, db.session.get(Member, paying.member.id),
                                db.session.get(Tenant, paying.tenant.id),
                                months=[services.parse_month(paying.this_month)],
                                method=PaymentMethod.cash)
        db.session.commit()
    before = state(paying)
    r = callback(client, success(order))
    assert r.status_code == 409
    assert state(paying) == before


def test_a_transaction_id_pays_one_order_only(client: Any, paying: Paying) -> None:
    first = checkout(client, paying)
    second = checkout(client, paying, [paying.next_month])
    assert callback(client, success(first)).status_code == 200
    before = state(paying)
    r = callback(client, success(second, txn_id="SBX-1"))
    assert r.status_code == 409
    assert state(paying) == before


def test_without_a_provider_there_is_no_online_checkout(client: Any, paying: Paying,
                                                        app: Flask,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(app.extensions, "node",
                        dataclasses.replace(app.extensions["node"], pay_provider=""))
    r = client.post("/api/me/dues/checkout", headers=paying.headers,
                    json={"months": [paying.this_month]})
    assert r.status_code == 409
    assert state(paying)[2] == []


# --- the sandbox over real HTTP -----------------------------------------------------------------

@pytest.fixture()
def live(app: Flask, connection: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The node served over HTTP on a thread (sharing the test's connection: one request at a
    time), and the sandbox provider on another; the node's settings point at both."""
    node = make_server("127.0.0.1", 0, app, threaded=False)
    node_url = f"http://127.0.0.1:{node.port}"
    sandbox, _thread = serve_sandbox(SECRET)
    monkeypatch.setitem(app.extensions, "node", dataclasses.replace(
        app.extensions["node"], base_url=node_url, pay_provider="sandbox",
        pay_sandbox_url=f"http://127.0.0.1:{sandbox.port}", pay_sandbox_secret=SECRET))
    thread = threading.Thread(target=node.serve_forever, daemon=True)
    thread.start()
    try:
        yield node_url
    finally:
        node.shutdown()
        sandbox.shutdown()


def _form_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in re.findall(
        r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page)}


def test_paying_through_the_sandbox_over_http(client: Any, paying: Paying, live: str) -> None:
    order = checkout(client, paying)
    page = requests.get(order["checkout_url"], timeout=10)
    assert page.status_code == 200 and "¥40.00" in page.text and 'lang="zh-CN"' in page.text
    fields = _form_fields(page.text)
    sandbox = order["checkout_url"].split("/checkout")[0]
    paid = requests.post(f"{sandbox}/checkout/pay", data={**fields, "outcome": "success"},
                         allow_redirects=False, timeout=30)
    assert paid.status_code == 303, paid.text
    assert paid.headers["Location"].endswith(f"/me/dues/orders/{order['order']}")
    lines, payments, orders = state(paying)
    assert lines[0] == "paid" and payments == 1 and orders == ["paid"]
    # the browser's back button and a second click: a new transaction for a paid order
    again = requests.post(f"{sandbox}/checkout/pay", data={**fields, "outcome": "success"},
                          allow_redirects=False, timeout=30)
    assert again.status_code == 502 and "409" in again.text
    assert state(paying) == (lines, payments, orders)


def test_the_sandbox_refuses_a_checkout_the_node_did_not_sign(live: str, app: Flask) -> None:
    sandbox = app.extensions["node"].pay_sandbox_url
    r = requests.get(f"{sandbox}/checkout", params={
        "order": "x", "amount": "1.00", "subject": "s", "notify_url": "http://evil.example/",
        "return_url": "http://evil.example/", "lang": "en", "sig": "0" * 64}, timeout=10)
    assert r.status_code == 400 and "Invalid payment request" in r.text


def test_a_declined_sandbox_payment_leaves_the_lines_unpaid(client: Any, paying: Paying,
                                                            live: str) -> None:
    order = checkout(client, paying)
    fields = _form_fields(requests.get(order["checkout_url"], timeout=10).text)
    sandbox = order["checkout_url"].split("/checkout")[0]
    r = requests.post(f"{sandbox}/checkout/pay", data={**fields, "outcome": "failed"},
                      allow_redirects=False, timeout=30)
    assert r.status_code == 303
    lines, payments, orders = state(paying)
    assert lines[0] == "unpaid" and payments == 0 and orders == ["failed"]
    with tenant_context(paying.tenant.id):
        assert db.session.scalars(sa.select(PaymentOrder)).one().status == OrderStatus.failed
        assert {line.status for line in db.session.scalars(sa.select(DuesLine))} == {
            LineStatus.unpaid}
