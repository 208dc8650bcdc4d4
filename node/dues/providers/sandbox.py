"""The sandbox payment provider: a stand-in for a bank's or a wallet's gateway, served over real
HTTP by its own small WSGI app, for the demo and the tests.

The node sends the member's browser to `/checkout` with the order's fields signed (HMAC-SHA256
under the shared secret, so nobody else can make the sandbox call the node or redirect a
browser anywhere). The checkout page shows the amount; "pay" makes a transaction id and posts a
signed callback to the node's notify URL, then sends the browser back to the node. A "decline"
button posts a failed callback instead. Nothing is stored: the sandbox is as forgetful as a
test double may be; the node is the one that must be idempotent.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import secrets
import threading
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import requests
from flask import Flask, Response, redirect, request
from werkzeug.serving import BaseWSGIServer, make_server

from node.dues.providers import (
    SIGNATURE_HEADER,
    Callback,
    CheckoutRequest,
    InvalidCallback,
    hmac_hex,
    parse_callback,
    verify_hmac,
)

NAME = "sandbox"
CHECKOUT_FIELDS = ("order", "amount", "subject", "notify_url", "return_url", "lang")
TIMEOUT = 10


class SandboxProvider:
    name = NAME

    def __init__(self, base_url: str, secret: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.secret = secret

    def checkout_url(self, request: CheckoutRequest) -> str:
        params = {"order": request.order_token, "amount": f"{request.amount:.2f}",
                  "subject": request.subject, "notify_url": request.notify_url,
                  "return_url": request.return_url, "lang": request.language}
        return f"{self.base_url}/checkout?" + urlencode(
            {**params, "sig": hmac_hex(self.secret, params)})

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> Callback:
        scheme, _, signature = (headers.get(SIGNATURE_HEADER) or "").partition("=")
        if scheme != "hmac-sha256" or not signature:
            raise InvalidCallback(f"no {SIGNATURE_HEADER}: hmac-sha256=<hex> header")
        try:
            payload = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise InvalidCallback("the body is not JSON") from None
        if not isinstance(payload, dict) or not verify_hmac(self.secret, payload, signature):
            raise InvalidCallback("the signature does not match")
        return parse_callback(payload)


def signed_callback(secret: str, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    """The body and headers of a callback as the sandbox sends it (tests use it too)."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    return body, {"Content-Type": "application/json",
                  SIGNATURE_HEADER: f"hmac-sha256={hmac_hex(secret, payload)}"}


# --- the sandbox's own app --------------------------------------------------------------------

TEXT = {
    "zh_CN": {
        "title": "收银台（沙箱）", "sandbox": "这是测试用的沙箱支付，不会扣款。",
        "merchant": "收款方", "order": "订单号", "amount": "金额", "pay": "确认支付",
        "decline": "模拟支付失败", "cancel": "取消，返回", "bad": "支付请求无效",
        "bad_text": "签名不符或参数缺失，请返回原网站重新发起支付。",
        "failed": "未能通知商户", "failed_text": "商户未确认本次支付（状态 %s）。",
        "retry": "重试", "back": "返回商户",
    },
    "en": {
        "title": "Checkout (sandbox)", "sandbox": "A sandbox payment for testing: no money moves.",
        "merchant": "Payee", "order": "Order", "amount": "Amount", "pay": "Pay now",
        "decline": "Simulate a declined payment", "cancel": "Cancel and go back",
        "bad": "Invalid payment request",
        "bad_text": "The signature does not match or a field is missing; start the payment "
                    "again from the site you came from.",
        "failed": "The merchant was not notified",
        "failed_text": "The merchant did not confirm this payment (status %s).",
        "retry": "Try again", "back": "Back to the merchant",
    },
}
STYLE = """body{font-family:system-ui,sans-serif;margin:0;background:#f3f4f6;color:#111827}
main{max-width:28rem;margin:2rem auto;background:#fff;padding:1.5rem;border-radius:8px}
h1{font-size:1.4rem;margin-top:0}dl{display:grid;grid-template-columns:auto 1fr;gap:.4rem 1rem}
dt{color:#374151}dd{margin:0;word-break:break-all}.amount{font-size:1.6rem;font-weight:700}
button{font-size:1rem;padding:.6rem 1.2rem;border-radius:6px;border:1px solid #1d4ed8;
background:#1d4ed8;color:#fff;cursor:pointer;margin:.3rem .3rem 0 0}
button.secondary{background:#fff;color:#1d4ed8}a{color:#1d4ed8}
.note{background:#fef3c7;padding:.5rem;border-radius:4px}"""


def _page(lang: str, title: str, body: str, status: int = 200) -> Response:
    code = "zh-CN" if lang == "zh_CN" else "en"
    return Response(
        f'<!doctype html><html lang="{code}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>", status, mimetype="text/html")


def create_sandbox_app(secret: str) -> Flask:
    """The sandbox gateway's WSGI app, checking the node's signature with `secret`."""
    app = Flask("partynet-pay-sandbox")

    def checkout_params(source: Mapping[str, str]) -> dict[str, str] | None:
        params = {name: source.get(name, "") for name in CHECKOUT_FIELDS}
        if not all(params[name] for name in ("order", "amount", "notify_url", "return_url")):
            return None
        if not verify_hmac(secret, params, source.get("sig", "")):
            return None
        try:
            if Decimal(params["amount"]) <= 0:
                return None
        except ArithmeticError:
            return None
        return params

    def language(source: Mapping[str, str]) -> str:
        return "en" if source.get("lang") == "en" else "zh_CN"

    def invalid(lang: str) -> Response:
        t = TEXT[lang]
        return _page(lang, t["bad"], f"<h1>{t['bad']}</h1><p>{t['bad_text']}</p>", 400)

    def hidden(params: Mapping[str, str]) -> str:
        return "".join(f'<input type="hidden" name="{k}" value="{html.escape(v)}">'
                       for k, v in params.items())

    @app.get("/checkout")
    def checkout() -> Response:
        lang = language(request.args)
        params = checkout_params(request.args)
        if params is None:
            return invalid(lang)
        t, e = TEXT[lang], html.escape
        signed = hidden({**params, "sig": request.args["sig"]})
        body = (
            f"<h1>{t['title']}</h1><p class=\"note\">{t['sandbox']}</p><dl>"
            f"<dt>{t['merchant']}</dt><dd>{e(params['subject'])}</dd>"
            f"<dt>{t['order']}</dt><dd>{e(params['order'])}</dd>"
            f"<dt>{t['amount']}</dt><dd class=\"amount\">¥{e(params['amount'])}</dd></dl>"
            f'<form method="post" action="/checkout/pay">{signed}'
            f'<button type="submit" name="outcome" value="success">{t["pay"]}</button>'
            f'<button type="submit" name="outcome" value="failed" class="secondary">'
            f'{t["decline"]}</button></form>'
            f'<p><a href="{e(params["return_url"])}">{t["cancel"]}</a></p>')
        return _page(lang, t["title"], body)

    @app.post("/checkout/pay")
    def pay() -> Any:
        lang = language(request.form)
        params = checkout_params(request.form)
        if params is None:
            return invalid(lang)
        outcome = "failed" if request.form.get("outcome") == "failed" else "success"
        payload = {"provider": NAME, "order": params["order"], "amount": params["amount"],
                   "currency": "CNY", "status": outcome,
                   "txn_id": f"SBX{dt.datetime.now(dt.UTC):%Y%m%d}{secrets.token_hex(8)}",
                   "paid_at": dt.datetime.now(dt.UTC).isoformat()}
        body, headers = signed_callback(secret, payload)
        try:
            answer = requests.post(params["notify_url"], data=body, headers=headers,
                                   timeout=TIMEOUT)
            status = str(answer.status_code)
            confirmed = answer.status_code == 200
        except requests.RequestException as exc:
            status, confirmed = type(exc).__name__, False
        if confirmed:
            return redirect(params["return_url"], 303)
        t, e = TEXT[lang], html.escape
        signed = hidden({**params, "sig": request.form.get("sig", "")})
        return _page(lang, t["failed"], (
            f"<h1>{t['failed']}</h1><p>{e(t['failed_text'] % status)}</p>"
            f'<form method="post" action="/checkout/pay">{signed}'
            f'<button type="submit" name="outcome" value="{outcome}">{t["retry"]}</button>'
            f'</form><p><a href="{e(params["return_url"])}">{t["back"]}</a></p>'), 502)

    return app


def serve_sandbox(secret: str, host: str = "127.0.0.1", port: int = 0
                  ) -> tuple[BaseWSGIServer, threading.Thread]:
    """Serve the sandbox on a background thread (port 0: a free one, see `server.port`)."""
    server = make_server(host, port, create_sandbox_app(secret), threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="pay-sandbox", daemon=True)
    thread.start()
    return server, thread
