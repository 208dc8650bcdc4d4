"""Unified org codes: prefixes, child allocation, subtree bounds, recoding."""

from __future__ import annotations

import pytest

from shared.codes import (
    CodeError,
    child_code,
    in_subtree,
    overlapping,
    recode,
    subtree_upper_bound,
    validate_root_prefix,
)


@pytest.mark.parametrize("prefix", ["500104", "340702", "110105001"])
def test_valid_prefixes(prefix):
    assert validate_root_prefix(prefix) == prefix


@pytest.mark.parametrize("prefix", ["50010", "5001041234567", "990104", "50a104", ""])
def test_invalid_prefixes(prefix):
    with pytest.raises(CodeError):
        validate_root_prefix(prefix)


def test_child_codes_are_fixed_width_and_bounded():
    assert child_code("500104", 1) == "500104001"
    assert child_code("500104", 999) == "500104999"
    with pytest.raises(CodeError):
        child_code("500104", 1000)
    with pytest.raises(CodeError):
        child_code("500104", 0)


def test_subtree_range_contains_exactly_the_descendants():
    prefix = "500104002"
    upper = subtree_upper_bound(prefix)
    inside = ["500104002", "500104002001", "500104002999999"]
    outside = ["500104001", "500104003", "500104001999", "50010400"]
    assert all(prefix <= c < upper for c in inside)
    assert not any(prefix <= c < upper for c in outside)
    assert all(in_subtree(c, prefix) for c in inside)


def test_recode_and_overlap():
    assert recode("500104002001", "500104002", "500104007003") == "500104007003001"
    with pytest.raises(CodeError):
        recode("500104001", "500104002", "500104007")
    assert overlapping("5001041", ["500104"]) == "500104"
    assert overlapping("500104", ["5001041"]) == "5001041"
    assert overlapping("500107", ["500104", "340702"]) is None
