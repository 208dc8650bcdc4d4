"""The transfer and tenant-directory message types: rules beyond the generic schema checks of
tests/federation/test_messages.py (which mutate every field of every registered example)."""

from __future__ import annotations

from typing import Any

import pytest
from marshmallow import ValidationError

from federation.messages import MESSAGE_TYPES, validate_data
from federation.messages.transfers import (
    DIRECTORY,
    IN_STEPS,
    OUT_STEPS,
    ROUTED,
    SEALED,
    STEP,
    UNDELIVERABLE,
)


def example(type_name: str, **changes: Any) -> dict[str, Any]:
    return {**MESSAGE_TYPES[type_name].example, **changes}


def test_the_steps_of_each_side_are_disjoint_and_complete():
    assert not OUT_STEPS & IN_STEPS
    assert {"letter", "rejected", "claim", "released", "refused",
                                    "receipt", "cancelled"} == OUT_STEPS | IN_STEPS


@pytest.mark.parametrize(("type_name", "data"), [
    (STEP, example(STEP, step="undeliverable")),  # the hub's word, never a node's step
    (STEP, example(STEP, valid_until=None)),  # a letter says how long it is valid
    (STEP, example(STEP, identity_hash=None)),  # and whose it is (keyed hash)
    (STEP, example(STEP, identity_hash="110101199003071234")),  # never the ID itself
    (STEP, example(STEP, to_node="chongqing-1")),  # one node's tenants are not routed
    (STEP, example(STEP, uid="019A4F3E-7C2B-7D10-8A11-2B3C4D5E6F70")),
    (STEP, example(STEP, attempt=0)),
    (STEP, example(STEP, to_org_code="5001-04")),
    (STEP, example(STEP, signed="x" * 4_000_001)),
    (ROUTED, example(ROUTED, step="letters")),
    (UNDELIVERABLE, example(UNDELIVERABLE, reason_code="gone")),
    (UNDELIVERABLE, example(UNDELIVERABLE, detail="x" * 501)),
    (SEALED, example(SEALED, recipient_key="Tl9xQ2mB7a")),
    (DIRECTORY, example(DIRECTORY, version=0)),
    (DIRECTORY, example(DIRECTORY, tenants=[{**example(DIRECTORY)["tenants"][0],
                                             "node": "elsewhere-1"}])),
    (DIRECTORY, example(DIRECTORY, nodes=[{**example(DIRECTORY)["nodes"][0],
                                           "public": "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbh"}])),
    (DIRECTORY, example(DIRECTORY, tenants=[{**example(DIRECTORY)["tenants"][0],
                                             "code_prefix": "50010"}])),
])
def test_refused(type_name: str, data: dict[str, Any]):
    with pytest.raises(ValidationError):
        validate_data(type_name, data)


def test_steps_other_than_the_letter_carry_no_letter_metadata():
    claim = example(STEP, step="claim", from_node="tongling-1", from_tenant="tongguan",
                    to_node="chongqing-1", to_tenant="dadukou", to_org_code=None,
                    valid_until=None, identity_hash=None)
    assert validate_data(STEP, claim) == claim


def test_an_unknown_destination_has_no_node():
    data = example(UNDELIVERABLE, to_node=None, reason_code="unknown_tenant")
    assert validate_data(UNDELIVERABLE, data) == data


def test_an_empty_directory_is_valid():
    data = example(DIRECTORY, nodes=[], tenants=[])
    assert validate_data(DIRECTORY, data) == data
