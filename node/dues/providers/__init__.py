"""Payment providers behind one interface: the node sends a member to the provider's checkout
and trusts only the provider's signed callback (verified here, before anything is looked up).

`sandbox` is a small provider of our own (`node.dues.providers.sandbox`) for the demo and the
tests; a real provider (a bank's or a wallet's gateway) is another `PaymentProvider` with its
own settings, registered in `provider_for`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

#: The header carrying the callback's signature: `hmac-sha256=<hex>`.
SIGNATURE_HEADER = "X-Partynet-Signature"


class InvalidCallback(ValueError):
    """A callback that is not provably from the provider, or not one we can read."""


@dataclasses.dataclass(frozen=True)
class CheckoutRequest:
    order_token: str
    amount: Decimal
    subject: str
    notify_url: str
    return_url: str
    language: str = "zh_CN"


@dataclasses.dataclass(frozen=True)
class Callback:
    """What a verified callback says happened."""

    order_token: str
    txn_id: str
    amount: Decimal
    succeeded: bool
    paid_at: dt.datetime | None


class PaymentProvider(Protocol):
    name: str

    def checkout_url(self, request: CheckoutRequest) -> str:
        """Where to send the member's browser to pay."""

    def verify_callback(self, body: bytes, headers: Mapping[str, str]) -> Callback:
        """The callback's content, if its signature is good; else `InvalidCallback`."""


def canonical(payload: Mapping[str, Any]) -> bytes:
    """The bytes that are signed: JSON with sorted keys, no spaces, UTF-8."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def hmac_hex(secret: str, payload: Mapping[str, Any]) -> str:
    return hmac.new(secret.encode("utf-8"), canonical(payload), hashlib.sha256).hexdigest()


def verify_hmac(secret: str, payload: Mapping[str, Any], signature: str) -> bool:
    return hmac.compare_digest(hmac_hex(secret, payload), signature)


def parse_callback(payload: Any) -> Callback:
    """Read a callback's fields (after its signature was checked)."""
    if not isinstance(payload, dict):
        raise InvalidCallback("the callback body is not a JSON object")
    try:
        order, txn, status = payload["order"], payload["txn_id"], payload["status"]
        amount = Decimal(str(payload["amount"]))
    except (KeyError, InvalidOperation, TypeError) as exc:
        raise InvalidCallback(f"the callback lacks or garbles a field: {exc}") from None
    if not all(isinstance(v, str) and 0 < len(v) <= 80 for v in (order, txn, status)):
        raise InvalidCallback("order, txn_id and status are short strings")
    if status not in ("success", "failed"):
        raise InvalidCallback("status is success or failed")
    if not amount.is_finite() or amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidCallback("amount is a positive number of yuan with at most 2 decimals")
    paid_at = None
    if payload.get("paid_at"):
        try:
            paid_at = dt.datetime.fromisoformat(str(payload["paid_at"]))
        except ValueError:
            raise InvalidCallback("paid_at is an ISO 8601 time") from None
        if paid_at.tzinfo is None:
            raise InvalidCallback("paid_at has a time zone")
    return Callback(order, txn, amount, status == "success", paid_at)


def provider_for(name: str, settings: Any) -> PaymentProvider:
    """The configured provider called `name` (settings: the node's `NodeSettings`)."""
    from node.dues.providers.sandbox import SandboxProvider

    if name == "sandbox" and settings.pay_sandbox_url and settings.pay_sandbox_secret:
        return SandboxProvider(settings.pay_sandbox_url, settings.pay_sandbox_secret)
    raise LookupError(name)


def configured_provider(settings: Any) -> PaymentProvider | None:
    """The provider members pay through (NODE_PAY_PROVIDER), or None: no online payment."""
    if not settings.pay_provider:
        return None
    try:
        return provider_for(settings.pay_provider, settings)
    except LookupError:
        return None
