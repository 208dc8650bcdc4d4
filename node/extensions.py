"""Unbound singletons of the node app; the factory binds them."""

from __future__ import annotations

from node.db import db
from shared.db.session import transactional as _transactional

#: Wrap a mutating view or command: one transaction, committed at the edge.
transactional = _transactional(db)
