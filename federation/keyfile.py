"""A party's signing key in a file of its own: created once, readable by the owner only.

The file holds `SigningKey.to_text()` lines, the current key first (room for a successor during
a rotation).
"""

from __future__ import annotations

import os
from pathlib import Path

from federation.keys import SigningKey


class KeyFileMissing(Exception):
    """No key at the path: the operator has not made one yet."""


def read_signing_key(path: str | os.PathLike[str]) -> SigningKey:
    try:
        text = Path(path).read_text(encoding="ascii").strip().splitlines()[0]
    except (FileNotFoundError, IndexError):
        raise KeyFileMissing(str(path)) from None
    return SigningKey.from_text(text)


def create_signing_key(path: str | os.PathLike[str]) -> SigningKey:
    """Make a new Ed25519 key at `path` (mode 0600); FileExistsError if there is one."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    key = SigningKey.generate()
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(key.to_text() + "\n")
    return key
