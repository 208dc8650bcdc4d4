"""Chinese search quality: every query of the test set finds its items in the first five.

The corpus (tests/hub/search_corpus.py, 500+ articles written for the test) is received the
way nodes' content is: `partynet.content.published.v1` envelopes applied by the feed's handler,
which indexes them; the queries go through the search service the API and the portal use. On
SQLite (FTS5, bm25) and PostgreSQL (tsvector, ts_rank) alike.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from federation.envelope import Envelope, new_id
from federation.keys import HUB, format_time, utcnow
from federation.messages.content import PUBLISHED, content_hash
from hub.db import db
from hub.feed import search, services
from shared.db.session import transaction
from tests.hub.search_corpus import ARTICLES, QUERIES, TENANTS, Article

NODE = "node-corpus"


def _published(article: Article, sequence: int) -> Envelope:
    data: dict[str, Any] = {
        "content_key": article.key, "org_code": article.org_code,
        "org_name": article.org_name, "kind": "article", "title": article.title,
        "summary": article.summary, "body": article.body, "body_truncated": False,
        "published_at": format_time(article.published_at),
        "updated_at": format_time(article.published_at), "views": 0, "likes": 0}
    data["content_hash"] = content_hash(data)
    return Envelope(id=new_id(), type=PUBLISHED, source=NODE, destination=HUB, time=utcnow(),
                    tenant=article.tenant, sequence=sequence, data=data)


@pytest.fixture()
def corpus(network: Any, connection: Any) -> None:
    """The whole corpus in the feed (inside the test's rolled-back transaction)."""
    network.enroll(NODE, list(TENANTS))
    with transaction(db):
        for sequence, article in enumerate(ARTICLES, start=1):
            services.apply_published(_published(article, sequence))


def test_the_test_set_is_big_enough_and_consistent() -> None:
    keys = [article.key for article in ARTICLES]
    assert len(ARTICLES) >= 500 and len(QUERIES) >= 30
    assert len(set(keys)) == len(keys)
    assert len({(a.title, a.body) for a in ARTICLES}) == len(ARTICLES)  # no duplicate text
    for query, expected in QUERIES.items():
        assert 1 <= len(expected) <= 5, query
        assert set(expected) <= set(keys), query
    # Every topic word is in many articles, so being in the top five means being ranked.
    words = Counter(word for a in ARTICLES for word in ("党费", "志愿服务", "乡村振兴", "党建")
                    if word in a.body)
    assert min(words.values()) >= 30


def test_every_query_finds_its_items_in_the_first_five(corpus: None) -> None:
    failures = []
    for query, expected in QUERIES.items():
        hits, terms = services.search_feed(query, services.Filters(), limit=5)
        top = [hit.item.content_key for hit in hits]
        missing = [key for key in expected if key not in top]
        if missing:
            failures.append(f"{query!r} (terms {terms}): missing {missing}, top 5 "
                            f"{[(h.item.content_key, h.item.title, round(h.rank, 4)) for h in hits]}")
    assert not failures, "\n".join(failures)


def test_a_name_unknown_to_the_dictionary_is_found_whatever_its_neighbours(corpus: None) -> None:
    # 铜官区 alone is 铜 + 官区 for jieba, but inside 铜官区委 it is 铜官 + 区委; 跳磴镇 is three
    # single characters, and inside 跳磴镇党委 the last one joins 党委.
    assert search.query_tokens("铜官区") == ["铜官", "官区"]
    assert search.query_tokens("跳磴镇") == ["跳磴", "磴镇"]
    assert "官区" in search.index_tokens("铜官区委召开会议")
    assert "磴镇" in search.index_tokens("跳磴镇党委组织党员")
    hits, _terms = services.search_feed("铜官区 冬训", services.Filters(), limit=5)
    assert [hit.item.title for hit in hits] == ["铜官区委召开党员冬训动员会"]
    assert hits[0].title_html == "<mark>铜官区</mark>委召开党员<mark>冬训</mark>动员会"


def test_dictionary_words_and_function_characters_are_searched_as_before() -> None:
    assert search.query_tokens("组织关系转接") == ["组织", "关系", "组织关系", "转接"]
    assert search.query_tokens("党员的义务") == ["党员", "的", "义务"]
    assert search.query_tokens("Party 党建 12371") == ["party", "党建", "12371"]
    # Indexed: jieba's tokens first, then only the bigrams that are not tokens already.
    assert search.index_tokens("基层党建") == ["基层", "党建", "层党"]
