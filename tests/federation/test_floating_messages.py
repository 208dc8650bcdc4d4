"""The floating-certificate message types: rules beyond the generic schema checks of
tests/federation/test_messages.py (which mutate every field of every registered example), and
the sealed inner envelope under its own type (federation/sealed.py `inner_type`)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from marshmallow import ValidationError

from federation.keys import KeyRing, SigningKey
from federation.messages import MESSAGE_TYPES, validate_data
from federation.messages.floating import (
    FROM_HOME,
    FROM_HOST,
    ROUTED,
    SEALED,
    STEP,
    STEPS,
    UNDELIVERABLE,
)
from federation.messages.transfers import SEALED as TRANSFER_SEALED
from federation.sealed import SealError, open_body, seal_step, verify_step

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
META = {"uid": "019a4f3e-7c2b-7d10-8a11-2b3c4d5e6f71", "step": "issued", "from_side": "home",
        "from_tenant": "dadukou", "to_tenant": "nanshan"}
COPY = {"member_name": "何秀英", "member_number": "A0000042", "member_phone": "13900000002"}


def example(type_name: str, **changes: Any) -> dict[str, Any]:
    return {**MESSAGE_TYPES[type_name].example, **changes}


def test_the_steps_of_each_side():
    assert {"issued", "ended"} == FROM_HOME
    assert {"accepted", "declined", "participation", "ended"} == FROM_HOST
    assert STEPS == FROM_HOME | FROM_HOST


@pytest.mark.parametrize(("type_name", "data"), [
    (STEP, example(STEP, step="undeliverable")),  # the hub's word, never a node's step
    (STEP, example(STEP, step="accepted")),  # the home side does not accept
    (STEP, example(STEP, from_side="host")),  # nor does the host issue
    (STEP, example(STEP, from_side="elsewhere")),
    (STEP, example(STEP, host_org_code=None)),  # an issued certificate names its host
    (STEP, example(STEP, until=None)),  # and its validity
    (STEP, example(STEP, until="2025-02-28")),  # which ends after it starts
    (STEP, example(STEP, starts_on="2025-02-30")),  # on days that exist
    (STEP, example(STEP, starts_on="2025-03-01T00:00:00.000Z")),  # days, not instants
    (STEP, example(STEP, host_org_code="4403-05")),
    (STEP, example(STEP, to_node="chongqing-1")),  # one node's tenants are not routed
    (STEP, example(STEP, uid="019A4F3E-7C2B-7D10-8A11-2B3C4D5E6F71")),
    (STEP, example(STEP, signed="x" * 4_000_001)),
    (STEP, example(STEP, member_name="何秀英")),  # no room for member data
    (STEP, example(STEP, step="ended", from_side="host")),  # the validity is issued's only
    (ROUTED, example(ROUTED, step="issues")),
    (ROUTED, example(ROUTED, from_side="host")),
    (UNDELIVERABLE, example(UNDELIVERABLE, reason_code="already_active")),
    (UNDELIVERABLE, example(UNDELIVERABLE, detail="x" * 501)),
    (SEALED, example(SEALED, recipient_key="Tl9xQ2mB7a")),
    (SEALED, example(SEALED, step="participation")),  # the home side does not send it
])
def test_refused(type_name: str, data: dict[str, Any]):
    with pytest.raises(ValidationError):
        validate_data(type_name, data)


@pytest.mark.parametrize("step", sorted(FROM_HOST))
def test_the_host_sends_its_steps_without_the_issued_metadata(step: str):
    validate_data(STEP, example(STEP, step=step, from_side="host", host_org_code=None,
                                starts_on=None, until=None))
    validate_data(ROUTED, example(ROUTED, step=step, from_side="host"))
    validate_data(UNDELIVERABLE, example(UNDELIVERABLE, step=step, from_side="host",
                                         to_node="chongqing-1", reason_code="node_revoked"))


@pytest.fixture()
def keys() -> dict[str, SigningKey]:
    return {name: SigningKey.generate() for name in ("origin", "destination")}


def _ring(keys: dict[str, SigningKey]) -> KeyRing:
    ring = KeyRing(trust_horizon=None)
    ring.add(keys["origin"].public_key("node-a", valid_from=NOW - dt.timedelta(days=1),
                                       valid_until=NOW + dt.timedelta(days=365)))
    return ring


def _inner(keys: dict[str, SigningKey], **overrides: Any) -> str:
    args = dict(signing_key=keys["origin"], source="node-a", destination="node-b",
                tenant="nanshan", recipient_key_id=keys["destination"].key_id,
                recipient_public=keys["destination"].public_bytes, meta=META,
                body={"copy": COPY}, now=NOW, inner_type=SEALED)
    return seal_step(**{**args, **overrides})


def test_a_floating_step_is_sealed_under_its_own_type(keys):
    text = _inner(keys)
    assert SEALED in text and "何秀英" not in text and "13900000002" not in text
    inner = verify_step(text, keyring=_ring(keys), me="node-b", now=NOW, inner_type=SEALED)
    assert inner.type == SEALED
    assert open_body(inner, keys["destination"]) == {"copy": COPY}


def test_a_floating_step_is_not_a_transfer_step_nor_the_other_way(keys):
    with pytest.raises(SealError, match=re.escape(f"not {TRANSFER_SEALED}")):
        verify_step(_inner(keys), keyring=_ring(keys), me="node-b", now=NOW)
    transfer = _inner(keys, inner_type=TRANSFER_SEALED,
                      meta={"uid": META["uid"], "step": "letter", "attempt": 1,
                            "from_tenant": "dadukou", "to_tenant": "nanshan"})
    with pytest.raises(SealError, match=re.escape(f"not {SEALED}")):
        verify_step(transfer, keyring=_ring(keys), me="node-b", now=NOW, inner_type=SEALED)


def test_the_inner_metadata_must_be_a_floating_steps(keys):
    with pytest.raises(ValueError, match="cannot seal"):
        _inner(keys, meta={**META, "step": "accepted"})  # the home side does not accept
