"""Chinese full-text search with the database's own index: jieba segmentation + FTS5 or tsvector.

Text is segmented by jieba in search mode (words and their shorter sub-words, so that "党建" is
found inside "基层党建工作") and stored as space-separated tokens:

- SQLite: the FTS5 table `feed_fts(title, summary, body)`, rowid = `feed_items.id`, tokenizer
  unicode61 (each jieba token is one FTS token); ranked with `bm25` weighting title 10,
  summary 4, body 1;
- PostgreSQL: `feed_items.search_vector`, `setweight(to_tsvector('simple', ...))` of the three
  parts (A, B, D) with a GIN index; ranked with `ts_rank`.

Queries are segmented the same way and every query token must match (AND). The two
implementations sit behind `index_item`, `unindex_item` and `match` (an id -> rank subquery).
"""

from __future__ import annotations

import functools
import html
import logging
import re
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

#: At most this many query tokens are used (a pasted paragraph is not a query).
MAX_QUERY_TOKENS = 16
_WORDLIKE = re.compile(r"\w", re.UNICODE)


@functools.cache
def _jieba() -> Any:
    """jieba, loaded once and quietly (it logs its dictionary loading at DEBUG/INFO)."""
    import jieba

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    return jieba


def tokens(text: str | None) -> list[str]:
    """Search-mode tokens of `text`, lowercased, without punctuation or whitespace."""
    if not text:
        return []
    out = []
    for token in _jieba().cut_for_search(text):
        token = token.strip().lower()
        if token and _WORDLIKE.search(token):
            out.append(token)
    return out


def segment(text: str | None) -> str:
    return " ".join(tokens(text))


def query_tokens(q: str) -> list[str]:
    """Distinct tokens of a query, in order (at most MAX_QUERY_TOKENS)."""
    seen: dict[str, None] = {}
    for token in tokens(q):
        seen.setdefault(token, None)
    return list(seen)[:MAX_QUERY_TOKENS]


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def index_item(session: Session, item_id: int, title: str | None, summary: str | None,
               body: str | None) -> None:
    """(Re)index one item's text."""
    parts = {"id": item_id, "title": segment(title), "summary": segment(summary),
             "body": segment(body)}
    if _dialect(session) == "postgresql":
        session.execute(sa.text(
            "UPDATE feed_items SET search_vector = "
            "setweight(to_tsvector('simple', :title), 'A') || "
            "setweight(to_tsvector('simple', :summary), 'B') || "
            "setweight(to_tsvector('simple', :body), 'D') WHERE id = :id"), parts)
    else:
        session.execute(sa.text("DELETE FROM feed_fts WHERE rowid = :id"), {"id": item_id})
        session.execute(sa.text("INSERT INTO feed_fts (rowid, title, summary, body) "
                                "VALUES (:id, :title, :summary, :body)"), parts)


def unindex_item(session: Session, item_id: int) -> None:
    if _dialect(session) == "postgresql":
        session.execute(sa.text("UPDATE feed_items SET search_vector = NULL WHERE id = :id"),
                        {"id": item_id})
    else:
        session.execute(sa.text("DELETE FROM feed_fts WHERE rowid = :id"), {"id": item_id})


def _fts5_phrase(token: str) -> str:
    return '"' + token.replace('"', '""') + '"'


def match(session: Session, terms: Sequence[str]) -> sa.Subquery:
    """A subquery (id, rank) of the items matching every term; higher rank = more relevant."""
    if _dialect(session) == "postgresql":
        query = sa.func.plainto_tsquery(sa.literal_column("'simple'"), " ".join(terms))
        vector = sa.column("search_vector")
        table = sa.table("feed_items", sa.column("id"), vector)
        return (sa.select(table.c.id.label("id"),
                          sa.func.ts_rank(vector, query).label("rank"))
                .where(vector.op("@@")(query)).subquery("matches"))
    fts = sa.table("feed_fts", sa.column("rowid"))
    expression = " ".join(_fts5_phrase(t) for t in terms)
    # bm25 is lower for better matches: negate it so that both backends sort rank DESC.
    rank = -sa.func.bm25(sa.literal_column("feed_fts"), 10.0, 4.0, 1.0)
    return (sa.select(fts.c.rowid.label("id"), rank.label("rank"))
            .where(sa.literal_column("feed_fts").op("MATCH")(expression))
            .subquery("matches"))


def highlight(text: str | None, terms: Sequence[str]) -> str:
    """`text` HTML-escaped, with every occurrence of a term wrapped in <mark> (case-blind)."""
    if not text:
        return ""
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters lowercase to two: match as written
        lowered = text
    spans: list[tuple[int, int]] = []
    for term in sorted(set(terms), key=len, reverse=True):
        start = lowered.find(term)
        while term and start != -1:
            spans.append((start, start + len(term)))
            start = lowered.find(term, start + len(term))
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, at = [], 0
    for start, end in merged:
        out.append(html.escape(text[at:start]))
        out.append(f"<mark>{html.escape(text[start:end])}</mark>")
        at = end
    out.append(html.escape(text[at:]))
    return "".join(out)
