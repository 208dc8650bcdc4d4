"""Unified coding (统一编码) of organizations.

A code is a string of digits that places an organization in the national tree: the tenant's root
prefix (assigned by the hub; it begins with the 6-digit GB/T 2260 division code) followed by one
fixed-width segment per level. Because every level has the same width, "is in the subtree of X" is
the prefix test `code.startswith(X.code)`, which databases answer with an index range scan between
`X.code` and `X.code + ":"` (":" sorts right after "9"). Sequences only grow, so a code, once
allocated, is never reused even after the organization is dissolved or moved away.
"""

from __future__ import annotations

import re

from shared.identity import PROVINCE_CODES

SEGMENT_WIDTH = 3
MAX_CODE_LENGTH = 64
_PREFIX_RE = re.compile(r"^\d{6,12}$")


class CodeError(ValueError):
    pass


def validate_root_prefix(prefix: str) -> str:
    """A tenant root prefix: 6–12 digits starting with a GB/T 2260 division code."""
    if not _PREFIX_RE.match(prefix):
        raise CodeError("a code prefix is 6 to 12 digits")
    if prefix[:2] not in PROVINCE_CODES:
        raise CodeError("a code prefix must begin with a GB/T 2260 administrative division code")
    return prefix


def child_code(parent_code: str, seq: int, width: int = SEGMENT_WIDTH) -> str:
    """The code of the `seq`-th child ever allocated under `parent_code`."""
    if not 1 <= seq < 10**width:
        raise CodeError(f"no codes left under {parent_code}: at most {10**width - 1} children")
    code = f"{parent_code}{seq:0{width}d}"
    if len(code) > MAX_CODE_LENGTH:
        raise CodeError("the organization tree is too deep")
    return code


def subtree_upper_bound(prefix: str) -> str:
    """Exclusive upper bound of the codes in the subtree rooted at `prefix`."""
    return prefix + ":"


def in_subtree(code: str, prefix: str) -> bool:
    return code.startswith(prefix)


def recode(code: str, old_prefix: str, new_prefix: str) -> str:
    """The new code of `code` when the subtree at `old_prefix` moves to `new_prefix`."""
    if not code.startswith(old_prefix):
        raise CodeError(f"{code} is not in the subtree {old_prefix}")
    return new_prefix + code[len(old_prefix) :]


def overlapping(prefix: str, others: list[str] | tuple[str, ...]) -> str | None:
    """Return an existing prefix that is a prefix of `prefix` or vice versa, if any.

    Root prefixes must be prefix-free, or one tenant's subtree query would reach another's.
    """
    for other in others:
        if other.startswith(prefix) or prefix.startswith(other):
            return other
    return None
