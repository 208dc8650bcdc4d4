"""The hub at national size: feed search, directive fan-out, statistics roll-ups.

Run with `make bench` (the hub alone: `.venv/bin/pytest tests/benchmarks/test_hub_bench.py
-m bench -p no:randomly -s -o addopts="" --import-mode=importlib`). The figures go into
docs/performance.md ("Hub"). `PARTYNET_BENCH_SCALE=0.05` runs everything at 5 % of the size
(for development; the recorded figures are at full size, and the targets are asserted only
there).

1. Search: 1,000,000 feed items on a fresh PostgreSQL database, generated from a vocabulary
   written for this test (seeded), loaded with COPY; their search vectors are built in SQL by
   the hub's own expression from text segmented by the hub's own jieba segmentation
   (`hub.feed.search.tokens`, run once per distinct sentence: jieba never joins words across
   punctuation, so a document's tokens are its sentences' tokens). Queries through the API
   in process (test client), interleaved with the bare full-text query
   (`WHERE search_vector @@ q ORDER BY ts_rank(...) DESC LIMIT 20`) on the same data.
2. Directive fan-out: 500 nodes enrolled through the hub's services, each simulated as a
   bus party with its own key and database, 125 to a worker process; the hub's relay and
   consumer run as the `partynet hub bus worker` runs them; from the publishing commit to the
   moment the hub has applied every receipt and every node's ack; on the embedded transport
   and on RabbitMQ (a broker node of the benchmark's own: 1,002 queues are no load to put on
   the broker other tests share).
3. Statistics: 3,200 tenants x 30 orgs of snapshot rows stored in the hub's tables (one day,
   as the snapshot handler writes them), then the portal's and the console's roll-ups and
   rankings through the API in process, against the bare aggregate SQL.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import random
import re
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import sqlalchemy as sa
from flask import Flask

from federation.keys import SigningKey
from hub import migrate
from hub.app import create_app
from hub.db import db
from hub.feed import search
from hub.settings import HubSettings
from shared.db.session import make_engine
from shared.testing.backends import fresh_pg_database

pytestmark = pytest.mark.bench

SCALE = float(os.environ.get("PARTYNET_BENCH_SCALE", "1"))
FULL_SIZE = SCALE >= 1

FEED_ITEMS = int(1_000_000 * SCALE)
SEARCH_TENANTS = 200
SPAN_SECONDS = 3 * 365 * 86400  # the feed's items were published over three years
SEARCH_WARMUP, SEARCH_ROUNDS = 2, 20  # rounds over every query
MAX_SEARCH_P95_MS = 100.0


def scaled(n: int, minimum: int = 1) -> int:
    return max(minimum, int(n * SCALE))


def ms(samples: list[float]) -> tuple[float, float]:
    """p50 and p95 in milliseconds."""
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples) * 1000, cuts[94] * 1000


def load_line() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} {five:.2f} {fifteen:.2f}"


def copy_rows(engine: sa.Engine, table: str, columns: list[str],
              rows: Iterator[tuple[Any, ...]]) -> None:
    raw = engine.raw_connection()
    try:
        with raw.driver_connection.cursor() as cursor, cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def hub_app(url: str, tmp_path: Path) -> Flask:
    key_file = tmp_path / "hub-signing.key"
    if not key_file.exists():
        key_file.write_text(SigningKey.generate().to_text() + "\n", encoding="ascii")
    app = create_app(HubSettings(database_url=url, secret_key="bench-secret-key-0123456789",
                                 signing_key_file=str(key_file)))
    return app


@contextlib.contextmanager
def hub_database(name: str) -> Iterator[tuple[str, sa.Engine]]:
    """A fresh PostgreSQL database migrated to the hub's head, dropped afterwards."""
    with fresh_pg_database(f"partynet_bench_{name}", required=True) as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        try:
            yield url, engine
        finally:
            db.session.remove()
            if db.engine is not None:
                db.engine.dispose()
            engine.dispose()


# --- regions and tenants --------------------------------------------------------------------

PROVINCES = ("11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35",
             "36", "37", "41", "42", "43", "44", "45", "46", "50", "51", "52", "53", "54",
             "61", "62", "63", "64", "65")


def regions(count: int, rng: random.Random) -> list[str]:
    """`count` distinct 6-digit county codes over the provinces (Chongqing, 50, weighted up
    so that a region filter has something to find at any scale)."""
    out: list[str] = []
    seen: set[str] = set()
    while len(out) < count:
        province = "50" if rng.random() < 0.1 else rng.choice(PROVINCES)
        code = f"{province}{rng.randint(1, 20):02d}{rng.randint(1, 40):02d}"
        if code not in seen:
            seen.add(code)
            out.append(code)
    return out


# --- (1) search ------------------------------------------------------------------------------
#
# A vocabulary written for this benchmark: the words of a party-building feed, with a Zipf
# tail, so that a query term may be in half the items ("党员"), in a few percent ("垃圾分类")
# or in a few hundredths of a percent (a village, a person).

ORGS = ("党支部", "党委", "党总支", "社区党委", "村党支部", "机关党委", "街道党工委",
        "企业党委", "学校党委", "医院党委", "离退休党支部", "流动党员党支部")
ACTIVITIES = ("主题党日活动", "专题学习会", "组织生活会", "民主评议党员", "志愿服务活动",
              "专题党课", "座谈会", "集中学习", "理论宣讲", "廉政教育", "红色教育基地参观",
              "入党积极分子培训", "党员大会", "谈心谈话", "知识竞赛", "读书分享会",
              "重温入党誓词", "走访慰问", "结对帮扶", "联学共建")
TOPICS = ("党的二十大精神", "乡村振兴", "基层治理", "安全生产", "作风建设", "党史学习教育",
          "民生实事", "文明城市创建", "优化营商环境", "生态环境保护", "网格化管理",
          "养老服务", "就业帮扶", "消防安全", "法治宣传", "移风易俗", "防汛救灾",
          "科技创新", "垃圾分类", "禁毒宣传", "粮食安全", "非遗保护", "数字乡村",
          "河长制", "森林防火", "老旧小区改造", "人才振兴", "社会救助")
VERBS = ("开展", "召开", "组织", "举办", "推进", "部署", "深入开展", "扎实推进", "认真组织",
         "精心筹备")
TIMES = ("近日", "日前", "本周", "上半年", "年初", "国庆前夕", "春节期间", "七一前夕",
         "今年以来", "连日来")
FIRST = "青石柳桃杏龙凤清河松竹梅兰金银新安和平福兴盛丰云"
SECOND = "溪湾坪坝岭塘桥沟园林湖港"
PLACE_KINDS = ("村", "社区", "镇", "街道")
SURNAMES = "张王李赵刘陈杨黄周吴徐孙马朱胡郭何高林罗"
GIVEN = ("建国", "红梅", "志强", "丽华", "海燕", "国庆", "秀英", "明辉", "晓峰", "春兰",
         "德明", "玉兰", "永福", "桂芳", "文杰")
NUMBERS = tuple(range(8, 120))

PLACES = tuple(f"{a}{b}{k}" for a in FIRST for b in SECOND for k in PLACE_KINDS)
NAMES = tuple(f"{s}{g}" for s in SURNAMES for g in GIVEN)

BODY_TEMPLATES = (
    "{time}，{place}{org}{verb}{activity}，围绕{topic}进行了深入交流",
    "{org}书记{name}指出，要把{topic}作为当前的重要任务抓紧抓实",
    "共有{n}名党员参加了{activity}，大家反响热烈",
    "大家纷纷表示，将以此次{activity}为契机，推动{topic}取得新成效",
    "{place}群众对{topic}工作给予好评",
    "会议要求，各{org}要进一步压实责任，确保{topic}落到实处",
    "党员{name}结合自身工作谈了学习{topic}的体会",
    "{place}把{topic}与{topic2}结合起来，探索出一条新路子",
    "下一步，{org}将继续深化{topic}，以实际行动服务群众",
    "活动中，{name}同志为大家讲授了{activity}",
)
TITLE_TEMPLATES = (
    "{place}{org}{verb}{activity}",
    "{org}召开{topic}专题会议",
    "关于做好{topic}工作的通知",
    "{place}：{topic}见实效",
    "{place}{org}以{activity}推动{topic}",
    "{name}：扎根{place}的党员先锋",
)


def _zipf(items: tuple[Any, ...], s: float = 1.0) -> list[float]:
    return [1.0 / (rank + 1) ** s for rank in range(len(items))]


_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")


class Sentence(NamedTuple):
    text: str
    words: list[str]  # `search.tokens(text)`
    bigrams: list[str]  # every CJK character bigram of the text


def indexed(sentences: list[Sentence]) -> str:
    """`search.segment` of the sentences joined by "。": jieba's words never cross the
    punctuation, so they are the sentences' words in turn; then the bigrams that are not
    among them (`search.index_tokens`). `check_segmentation` compares with the real thing."""
    words = [w for s in sentences for w in s.words]
    known = set(words)
    return " ".join(words + [b for s in sentences for b in s.bigrams if b not in known])


class Vocabulary:
    """Sentences generated from the vocabulary, each segmented once by the hub's jieba."""

    def __init__(self, rng: random.Random, body_sentences: int, titles: int) -> None:
        self.rng = rng
        self.topic_weights = _zipf(TOPICS, 0.9)
        self.org_weights = _zipf(ORGS, 0.8)
        self.activity_weights = _zipf(ACTIVITIES, 0.8)
        self.bodies = [self._sentence(BODY_TEMPLATES) for _ in range(body_sentences)]
        self.titles = [self._sentence(TITLE_TEMPLATES) for _ in range(titles)]

    def _pick(self, items: tuple[Any, ...], weights: list[float]) -> Any:
        return self.rng.choices(items, weights)[0]

    def _sentence(self, templates: tuple[str, ...]) -> Sentence:
        topic = self._pick(TOPICS, self.topic_weights)
        text = self.rng.choice(templates).format(
            time=self.rng.choice(TIMES), place=self.rng.choice(PLACES),
            org=self._pick(ORGS, self.org_weights), verb=self.rng.choice(VERBS),
            activity=self._pick(ACTIVITIES, self.activity_weights), topic=topic,
            topic2=self._pick(TOPICS, self.topic_weights), name=self.rng.choice(NAMES),
            n=self.rng.choice(NUMBERS))
        return Sentence(text, search.tokens(text),
                        [run[i:i + 2] for run in _CJK_RUN.findall(text)
                         for i in range(len(run) - 1)])

    def document(self) -> tuple[str, str, str, str, str, str]:
        """(title, summary, body) and their segmented forms."""
        title = self.rng.choice(self.titles)
        summary = self.rng.sample(self.bodies, self.rng.randint(1, 2))
        body = summary + self.rng.sample(self.bodies, self.rng.randint(2, 5))
        return (title.text, "。".join(s.text for s in summary) + "。",
                "。".join(s.text for s in body) + "。",
                indexed([title]), indexed(summary), indexed(body))


SEARCH_QUERIES: list[tuple[str, str | None, str]] = [
    # (q, region filter, what it is)
    ("党员", None, "common word"),
    ("乡村振兴", None, "common topic"),
    ("志愿服务", None, "common activity"),
    ("垃圾分类", None, "less common topic"),
    ("社会救助", None, "rare topic"),
    ("柳湾村", None, "rare place"),
    ("王红梅", None, "rare person"),
    ("乡村振兴 党课", None, "two terms, common"),
    ("柳湾村 志愿服务", None, "two terms, rare and common"),
    ("党员", "50", "common word, province filter"),
    ("垃圾分类", "50", "less common topic, province filter"),
]


def load_feed(engine: sa.Engine, total: int) -> dict[str, Any]:
    """Nodes, tenants and `total` feed items (COPY into a staging table, then one INSERT ...
    SELECT computing the search vector by the hub's expression; the GIN index built last)."""
    rng = random.Random(20261121)
    started = time.perf_counter()
    vocabulary = Vocabulary(rng, body_sentences=min(60_000, max(2_000, total // 10)),
                            titles=min(30_000, max(1_000, total // 20)))
    print(f"\n  vocabulary: {len(vocabulary.bodies):,} sentences, {len(vocabulary.titles):,} "
          f"titles segmented in {time.perf_counter() - started:.1f} s")
    now = dt.datetime.now(dt.UTC)
    tenant_regions = regions(SEARCH_TENANTS, rng)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO nodes (id, name, status, created_at, enrolled_at) "
                             "VALUES (:id, :id, 'active', :now, :now)"),
                     [{"id": f"node-{i:03d}", "now": now} for i in range(SEARCH_TENANTS)])
        conn.execute(sa.text(
            "INSERT INTO node_tenants (id, node_id, slug, name, code_prefix, region, "
            "registered_at) VALUES (:id, :node, :slug, :name, :prefix, :region, :now)"),
            [{"id": i + 1, "node": f"node-{i:03d}", "slug": f"t{i:03d}", "name": f"中共t{i}委员会",
              "prefix": f"{region}{i:03d}", "region": region, "now": now}
             for i, region in enumerate(tenant_regions)])
        conn.exec_driver_sql("DROP INDEX ix_feed_items_search_vector")
        conn.exec_driver_sql(
            "CREATE UNLOGGED TABLE bench_feed (id int, node_id text, content_key text, "
            "node_tenant_id int, tenant text, region text, org_code text, org_name text, "
            "kind text, title text, summary text, body text, published_at timestamptz, "
            "content_hash text, views int, likes int, seg_title text, seg_summary text, "
            "seg_body text)")
    columns = ["id", "node_id", "content_key", "node_tenant_id", "tenant", "region", "org_code",
               "org_name", "kind", "title", "summary", "body", "published_at", "content_hash",
               "views", "likes", "seg_title", "seg_summary", "seg_body"]
    chunk = 100_000
    for start in range(0, total, chunk):
        rows = []
        for item_id in range(start + 1, min(start + chunk, total) + 1):
            t = rng.randrange(SEARCH_TENANTS)
            title, summary, body, s_title, s_summary, s_body = vocabulary.document()
            # Items arrive over three years, roughly in order of publication (as a hub
            # receives them), so the table's physical order follows published_at.
            published = now - dt.timedelta(seconds=(total - item_id) * SPAN_SECONDS // total
                                           + rng.randrange(86400))
            rows.append((item_id, f"node-{t:03d}", f"t{t:03d}:{item_id}", t + 1, f"t{t:03d}",
                         tenant_regions[t], f"{tenant_regions[t]}{t:03d}{rng.randint(1, 60):03d}",
                         "党支部", rng.choice(("article", "notice")), title, summary, body,
                         published, hashlib.sha256(str(item_id).encode()).hexdigest(),
                         int(rng.paretovariate(1.2) * 10), rng.randrange(50),
                         s_title, s_summary, s_body))
        copy_rows(engine, "bench_feed", columns, iter(rows))
        print(f"  loaded {min(start + chunk, total):,} / {total:,} items "
              f"({time.perf_counter() - started:.0f} s)", flush=True)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO feed_items (id, node_id, content_key, node_tenant_id, tenant, region, "
            "org_code, org_name, kind, title, summary, body, body_truncated, published_at, "
            "updated_at, content_hash, views, likes, received_at, indexed_at, retry_count, "
            "search_vector) "
            "SELECT id, node_id, content_key, node_tenant_id, tenant, region, org_code, "
            "org_name, kind, title, summary, body, false, published_at, published_at, "
            "content_hash, views, likes, published_at, published_at, 0, "
            "setweight(to_tsvector('simple', seg_title), 'A') || "
            "setweight(to_tsvector('simple', seg_summary), 'B') || "
            "setweight(to_tsvector('simple', seg_body), 'D') FROM bench_feed")
        print(f"  search vectors computed ({time.perf_counter() - started:.0f} s)", flush=True)
        conn.exec_driver_sql("DROP TABLE bench_feed")
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('feed_items', 'id'), "
                             "(SELECT max(id) FROM feed_items))")
        conn.exec_driver_sql("SET maintenance_work_mem = '512MB'")
        # As migration 5b0000000008 defines it (publication time first: btree_gin).
        conn.exec_driver_sql("CREATE INDEX ix_feed_items_search_vector ON feed_items USING "
                             "gin ((published_at AT TIME ZONE 'UTC'), search_vector)")
        conn.exec_driver_sql("ALTER INDEX ix_feed_items_search_vector ALTER COLUMN 1 "
                             "SET STATISTICS 0")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE feed_items")
    elapsed = time.perf_counter() - started
    print(f"  built {total:,} feed items in {elapsed:.0f} s", flush=True)
    return {"vocabulary": vocabulary, "seconds": elapsed}


def check_segmentation(engine: sa.Engine) -> None:
    """The stored vectors are what `search.index_item` writes, on a sample of items."""
    with engine.begin() as conn:
        sample = conn.execute(sa.text(
            "SELECT id, title, summary, body, search_vector::text AS v FROM feed_items "
            "ORDER BY id LIMIT 200")).all()
        for row in sample:
            again = conn.execute(sa.text(
                "SELECT (setweight(to_tsvector('simple', :t), 'A') || "
                "setweight(to_tsvector('simple', :s), 'B') || "
                "setweight(to_tsvector('simple', :b), 'D'))::text"),
                {"t": search.segment(row.title), "s": search.segment(row.summary),
                 "b": search.segment(row.body)}).scalar_one()
            assert again == row.v, f"item {row.id}: the precomputed segmentation differs"


BARE_SEARCH = sa.text(
    "SELECT id, ts_rank(search_vector, q) AS rank "
    "FROM feed_items, plainto_tsquery('simple', :terms) AS q "
    "WHERE search_vector @@ q AND (CAST(:region AS text) IS NULL OR region LIKE :region || '%') "
    "ORDER BY rank DESC LIMIT 20")


@pytest.fixture(scope="module")
def feed_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, sa.Engine]]:
    kept = os.environ.get("PARTYNET_BENCH_FEED_DB")
    if kept:  # a database this bench loaded before (building 1M items takes ~15 minutes)
        url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{kept}"
        engine = make_engine(url)
        check_segmentation(engine)
        yield url, engine
        engine.dispose()
        return
    with hub_database("hub_search") as (url, engine):
        load_feed(engine, FEED_ITEMS)
        check_segmentation(engine)
        yield url, engine


def test_feed_search(feed_database: tuple[str, sa.Engine], tmp_path: Path) -> None:
    url, engine = feed_database
    app = hub_app(url, tmp_path)
    client = app.test_client()
    bare = engine.connect()
    counts: dict[str, int] = {}
    with engine.connect() as conn:
        for q, region, _what in SEARCH_QUERIES:
            counts[q + (region or "")] = conn.execute(sa.text(
                "SELECT count(*) FROM feed_items WHERE search_vector @@ "
                "plainto_tsquery('simple', :terms) AND (CAST(:region AS text) IS NULL OR "
                "region LIKE :region || '%')"),
                {"terms": " ".join(search.query_tokens(q)), "region": region}).scalar_one()

    def api(q: str, region: str | None) -> float:
        params = {"q": q, **({"region": region} if region else {})}
        started = time.perf_counter()
        response = client.get("/api/feed/search", query_string=params)
        elapsed = time.perf_counter() - started
        assert response.status_code == 200, response.get_json()
        assert response.get_json()["items"] or not counts[q + (region or "")]
        return elapsed

    def sql(q: str, region: str | None) -> float:
        started = time.perf_counter()
        bare.execute(BARE_SEARCH, {"terms": " ".join(search.query_tokens(q)),
                                   "region": region}).all()
        return time.perf_counter() - started

    per_query: dict[str, tuple[list[float], list[float]]] = {
        q + (region or ""): ([], []) for q, region, _ in SEARCH_QUERIES}
    load = load_line()
    for round_ in range(SEARCH_WARMUP + SEARCH_ROUNDS):
        for q, region, _what in SEARCH_QUERIES:  # interleaved: load hits both alike
            a, b = api(q, region), sql(q, region)
            if round_ >= SEARCH_WARMUP:
                per_query[q + (region or "")][0].append(a)
                per_query[q + (region or "")][1].append(b)
    bare.close()

    print(f"\nFeed search over {FEED_ITEMS:,} items, PostgreSQL; {load}")
    print(f"  {'query':<34} {'matches':>9}  {'API p50/p95 ms':>16}  {'bare p50/p95 ms':>16}")
    all_api, all_bare = [], []
    for q, region, what in SEARCH_QUERIES:
        key = q + (region or "")
        a, b = per_query[key]
        all_api += a
        all_bare += b
        (a50, a95), (b50, b95) = ms(a), ms(b)
        label = f"{q}{' @' + region if region else ''} ({what})"
        print(f"  {label:<34} {counts[key]:>9,}  {a50:7.1f} / {a95:6.1f}  {b50:7.1f} / {b95:6.1f}")
    (a50, a95), (b50, b95) = ms(all_api), ms(all_bare)
    print(f"  {'all queries':<34} {'':>9}  {a50:7.1f} / {a95:6.1f}  {b50:7.1f} / {b95:6.1f}"
          f"\n  ratio API/bare: p50 {a50 / b50:.2f}, p95 {a95 / b95:.2f}")
    if FULL_SIZE:
        assert a95 < MAX_SEARCH_P95_MS, f"search p95 {a95:.1f} ms >= {MAX_SEARCH_P95_MS} ms"


# --- (2) directive fan-out ------------------------------------------------------------------

FANOUT_NODES = scaled(500, 4)
FANOUT_WORKERS = 4
MAX_FANOUT_SECONDS = 60.0
MEMBERS_PER_TENANT = 30  # what a simulated node reports as targeted


class SimulatedNodes:
    """A share of the simulated nodes in one process: each node a bus party with its own key
    and SQLite database (delivery tables, the hub's key trusted), consumed from its own queue
    and relayed by the federation's own Consumer and Relay. One connection consumes the
    share's queues (the simulation's only liberty: a real node has a consumer of its own).

    A node applies `partynet.directive.published.v1` by queueing, in the same transaction, a
    receipt for each targeted tenant (as `node.directives.services.report` does), then relays
    it together with its ack of the hub's stream.
    """

    def __init__(self, nodes: list[tuple[str, str, SigningKey]], hub_public: Any,
                 folder: Path, bus_url: str) -> None:
        from federation.delivery import Consumer, Party, Relay
        from federation.delivery.keystore import remember_key
        from federation.delivery.models import FederationModel
        from federation.transport import open_bus
        from shared.db.session import Database, transaction

        self.bus = open_bus(bus_url)
        self.consumers: dict[str, Any] = {}
        self.relays: dict[str, Any] = {}
        for node_id, _slug, key in nodes:
            database = Database()
            database.configure(f"sqlite:///{folder / node_id}.db")
            assert database.engine is not None
            FederationModel.metadata.create_all(database.engine)
            with transaction(database) as session:
                remember_key(session, hub_public)
            party = Party(id=node_id, db=database, signing_key=key,
                          handlers={PUBLISHED_DIRECTIVE: self._receipt_handler()})
            self.consumers[node_id] = Consumer(party)
            self.relays[node_id] = Relay(party, self.bus)

    @staticmethod
    def _receipt_handler() -> Callable[[Any, Any], None]:
        from federation.delivery import send
        from federation.keys import HUB, format_time, utcnow
        from federation.messages.directives import RECEIPT

        def apply(session: Any, envelope: Any) -> None:
            for tenant in envelope.data["tenants"]:
                send(session, RECEIPT, destination=HUB, tenant=tenant, data={
                    "directive_id": envelope.data["directive_id"],
                    "targeted": MEMBERS_PER_TENANT, "read": 0, "completed": 0,
                    "as_of": format_time(utcnow())})
        return apply

    def run(self, stop: Any) -> None:
        from kombu import Consumer as KombuConsumer
        from kombu import Queue

        from federation.transport import queue_name

        due: set[str] = set()

        def on_message(message: Any) -> None:
            node_id = message.delivery_info["routing_key"]
            self.consumers[node_id].handle(message.body)
            message.ack()
            due.add(node_id)

        conn = self.bus.new_connection(consumer=True)
        try:
            channel = conn.channel()
            consumer = KombuConsumer(channel, queues=[Queue(queue_name(n), no_declare=True)
                                                      for n in self.consumers],
                                     on_message=on_message, prefetch_count=50,
                                     auto_declare=False, no_ack=False)
            consumer.consume()
            while not stop.is_set():
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=0.1)
                while due:
                    self.relays[due.pop()].run_once()
        finally:
            conn.release()
            self.bus.close()


PUBLISHED_DIRECTIVE = "partynet.directive.published.v1"


def _nodes_process(nodes: list[tuple[str, str, str]], hub_public: Any, folder: Path,
                   bus_url: str, ready: Any, stop: Any) -> None:
    simulated = SimulatedNodes([(n, s, SigningKey.from_text(k)) for n, s, k in nodes],
                               hub_public, folder, bus_url)
    ready.release()
    simulated.run(stop)


def _hub_process(kind: str, url: str, key_text: str, bus_url: str, stop: Any) -> None:
    """The hub's relay or consumer, as `partynet hub bus relay|consume` runs them."""
    from federation.delivery import Consumer, Party, Relay
    from federation.keys import HUB
    from federation.transport import open_bus
    from hub.bus.services import HANDLERS, TIMING, authorize

    db.configure(url)
    party = Party(id=HUB, db=db, signing_key=SigningKey.from_text(key_text),
                  handlers=HANDLERS, authorize=authorize, timing=TIMING)
    bus = open_bus(bus_url)
    try:
        if kind == "relay":
            Relay(party, bus).run(stop)
        else:
            Consumer(party).run(bus, stop=stop)
    finally:
        bus.close()


def enroll_nodes(settings: HubSettings, count: int, rng: random.Random
                 ) -> tuple[SigningKey, list[tuple[str, str, SigningKey]]]:
    """`count` nodes with one tenant each, enrolled through the hub's services."""
    from federation.keys import encode_base64
    from hub.keys import services as keys
    from hub.nodes import services as nodes
    from shared.db.session import transaction

    with transaction(db):
        hub_key = keys.ready_signing_key(settings)
    enrolled = []
    for i, region in enumerate(regions(count, rng)):
        node_id, slug, key = f"bench-node-{i:03d}", f"t{i:03d}", SigningKey.generate()
        prefix = f"{region}{i:03d}"
        with transaction(db):
            _row, token = nodes.issue_token(node_id=node_id, allowed_prefixes=[prefix],
                                            created_by="bench", ttl=dt.timedelta(hours=1))
        with transaction(db):
            nodes.enroll(token=token, node_id=node_id, key_id=key.key_id,
                         public_key=encode_base64(key.public_bytes),
                         tenants=[{"slug": slug, "name": f"中共{slug}委员会",
                                   "code_prefix": prefix}], hub_key=hub_key)
        enrolled.append((node_id, slug, key))
    return hub_key, enrolled


def fan_out(transport: str, url: str, tmp_path: Path, bus_url: str) -> dict[str, float]:
    """Enroll, start the simulated nodes and the hub's workers, publish, wait, measure."""
    import multiprocessing

    from federation.delivery.models import OutboxMessage, Stream
    from federation.keys import HUB
    from federation.transport import open_bus
    from hub.directives import services as directives
    from hub.directives.models import DirectiveTarget
    from shared.db.session import transaction

    app = hub_app(url, tmp_path)
    settings = app.extensions["hub"]
    started = time.perf_counter()
    hub_key, enrolled = enroll_nodes(settings, FANOUT_NODES, random.Random(5))
    enrolling = time.perf_counter() - started
    declaring = time.perf_counter()
    with open_bus(bus_url) as bus:
        bus.declare([HUB, *(n for n, _s, _k in enrolled)])
    declared = time.perf_counter() - declaring
    now = dt.datetime.now(dt.UTC)
    hub_public = hub_key.public_key(HUB, valid_from=now - dt.timedelta(days=1),
                                    valid_until=now + dt.timedelta(days=30))
    db.session.remove()
    assert db.engine is not None
    db.engine.dispose()  # the children open their own connections

    context = multiprocessing.get_context("fork")
    stop, ready = context.Event(), context.Semaphore(0)
    processes = []
    share = -(-len(enrolled) // FANOUT_WORKERS)
    for w in range(FANOUT_WORKERS):
        part = [(n, s, k.to_text()) for n, s, k in enrolled[w * share:(w + 1) * share]]
        if part:
            folder = tmp_path / f"nodes-{transport}-{w}"
            folder.mkdir()
            processes.append(context.Process(target=_nodes_process, name=f"nodes-{w}",
                                             args=(part, hub_public, folder, bus_url, ready,
                                                   stop)))
    processes += [context.Process(target=_hub_process, name=f"hub-{kind}",
                                  args=(kind, url, hub_key.to_text(), bus_url, stop))
                  for kind in ("relay", "consume")]
    for process in processes:
        process.start()
    workers = [p for p in processes if p.name.startswith("nodes")]
    try:
        for _ in workers:
            assert ready.acquire(timeout=600), "the simulated nodes did not start"
        with transaction(db):
            directive = directives.create_directive(
                {"title": "关于开展主题党日活动的通知", "body": "各党支部：请认真组织学习。" * 20,
                 "kind": "directive"}, by="bench")
            messages = directives.publish(directive, by="bench")
        published = time.perf_counter()
        assert len(messages) == FANOUT_NODES
        receipts_at = acks_at = None
        deadline = published + 300
        progress: list[str] = []  # every 5 s: unsent directives, receipts, acks so far
        while receipts_at is None or acks_at is None:
            for process in processes:
                assert process.is_alive(), f"{process.name} died ({process.exitcode})"
            with transaction(db) as session:
                receipts = session.scalar(
                    sa.select(sa.func.count()).select_from(DirectiveTarget).where(
                        DirectiveTarget.directive_id == directive.id,
                        DirectiveTarget.as_of.is_not(None)))
                acked = session.scalar(sa.select(sa.func.count()).select_from(Stream).where(
                    Stream.out_sequence > 0, Stream.out_acked_up_to >= Stream.out_sequence))
                if receipts_at is None and receipts == FANOUT_NODES:
                    receipts_at = time.perf_counter()
                if acks_at is None and acked == FANOUT_NODES:
                    acks_at = time.perf_counter()
                if time.perf_counter() - published >= 5 * (len(progress) + 1):
                    unsent = session.scalar(
                        sa.select(sa.func.count()).select_from(OutboxMessage).where(
                            OutboxMessage.type == PUBLISHED_DIRECTIVE,
                            OutboxMessage.sent_at.is_(None)))
                    progress.append(f"{time.perf_counter() - published:.0f} s: {unsent} unsent,"
                                    f" {receipts} receipts, {acked} acks")
            assert time.perf_counter() < deadline, "the fan-out did not complete in 300 s"
            time.sleep(0.05)
        with transaction(db) as session:
            left = session.scalar(sa.select(sa.func.count()).select_from(OutboxMessage).where(
                OutboxMessage.type == PUBLISHED_DIRECTIVE))
            total = directives.completion_total(_Everything(), directive)
        assert left == 0, f"{left} directive messages still in the hub's outbox"
        assert (total.tenants, total.reported, total.targeted) == (
            FANOUT_NODES, FANOUT_NODES, FANOUT_NODES * MEMBERS_PER_TENANT)
    finally:
        stop.set()
        for process in processes:
            process.join(60)
            if process.is_alive():
                process.kill()
                process.join()
        db.session.remove()
    print("\n  " + "\n  ".join(progress))
    return {"enrolling": enrolling, "declaring": declared, "receipts": receipts_at - published,
            "acks": acks_at - published, "all": max(receipts_at, acks_at) - published}


class _Everything:
    """A principal that reads every tenant (the benchmark's own check of the roll-up)."""

    reads_everything = True
    region_prefix = None


@pytest.mark.parametrize("transport", ["embedded", "rabbitmq"])
def test_directive_fan_out(transport: str, tmp_path: Path) -> None:
    from shared.testing.rabbitmq import private_rabbitmq, private_rabbitmq_problem

    with contextlib.ExitStack() as stack:
        if transport == "rabbitmq":
            # A broker node of the benchmark's own (as the broker fault tests use): 1,002
            # queues, 501 of them quorum queues, are no load for a broker others test against.
            problem = private_rabbitmq_problem()
            if problem:
                pytest.fail(f"RabbitMQ is required here: {problem}")
            bus_url = stack.enter_context(private_rabbitmq(tmp_path / "rabbitmq")).url()
        else:
            bus_url = f"embedded://{tmp_path}/bus.sqlite3"
        url, _engine = stack.enter_context(hub_database(f"hub_fanout_{transport}"))
        load = load_line()
        figures = fan_out(transport, url, tmp_path, bus_url)
    print(f"\nDirective fan-out to {FANOUT_NODES} nodes ({FANOUT_WORKERS} simulating processes),"
          f" {transport}; {load}\n  enrolment through the services: {figures['enrolling']:.1f} s"
          f"\n  declaring {FANOUT_NODES + 1} parties' queues: {figures['declaring']:.1f} s"
          f"\n  publish -> every receipt applied: {figures['receipts']:.2f} s"
          f"\n  publish -> every ack applied:     {figures['acks']:.2f} s"
          f"\n  publish -> both:                  {figures['all']:.2f} s")
    if FULL_SIZE:
        assert figures["all"] < MAX_FANOUT_SECONDS, (
            f"fan-out took {figures['all']:.1f} s >= {MAX_FANOUT_SECONDS} s")


# --- (3) statistics roll-ups ----------------------------------------------------------------

STAT_TENANTS = scaled(3_200, 10)
STAT_DAYS = 3  # each tenant's snapshots of the last days: "as of" picks the latest
STAT_WARMUP, STAT_ROUNDS = 3, 30
MAX_STATS_P95_MS = 200.0


def tenant_orgs(prefix: str) -> list[tuple[str, str | None, str, str]]:
    """30 orgs: the committee, 5 general branches, 24 branches under them."""
    orgs: list[tuple[str, str | None, str, str]] = [(prefix, None, "committee", "委员会")]
    for g in range(1, 6):
        general = f"{prefix}{g:03d}"
        orgs.append((general, prefix, "general_branch", f"第{g}党总支"))
        for b in range(1, 5 if g == 5 else 6):
            orgs.append((f"{general}{b:03d}", general, "branch", f"第{g}-{b}党支部"))
    return orgs


def load_stats(engine: sa.Engine, tenants: int) -> dict[str, Any]:
    """Nodes, tenants, and STAT_DAYS complete snapshots per tenant, rows as the snapshot
    handler writes them (`hub.stats.services._row`, `_write_totals`), loaded with COPY."""
    from federation.messages.stats import BREAKDOWNS, ORG_KINDS
    from hub.stats.models import COUNT_COLUMNS

    rng = random.Random(3200)
    started = time.perf_counter()
    now = dt.datetime.now(dt.UTC)
    today = now.date()
    tenant_regions = regions(tenants, rng)
    count_names = [name for _b, _k, name in COUNT_COLUMNS]
    by_kind = {"committee": {"general_branch": 5}, "general_branch": {"branch": 5},
               "branch": {}}
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO nodes (id, name, status, created_at, enrolled_at) "
                             "VALUES (:id, :id, 'active', :now, :now)"),
                     [{"id": f"node-{i:04d}", "now": now} for i in range(tenants)])
        conn.execute(sa.text(
            "INSERT INTO node_tenants (id, node_id, slug, name, code_prefix, region, "
            "registered_at) VALUES (:id, :node, :slug, :name, :prefix, :region, :now)"),
            [{"id": i + 1, "node": f"node-{i:04d}", "slug": f"t{i:04d}",
              "name": f"中共t{i}委员会", "prefix": f"{region}{i:04d}", "region": region,
              "now": now} for i, region in enumerate(tenant_regions)])
    snapshots, rows = [], []
    snapshot_id = 0
    for day in range(STAT_DAYS):
        period = (today - dt.timedelta(days=STAT_DAYS - 1 - day)).isoformat()
        for t, region in enumerate(tenant_regions):
            snapshot_id += 1
            taken = now - dt.timedelta(days=STAT_DAYS - 1 - day)
            snapshots.append((snapshot_id, t + 1, period, taken, 1, 1, taken, taken))
            for code, parent, kind, name in tenant_orgs(f"{region}{t:04d}"):
                counts = {name_: 0 for name_ in count_names}
                for breakdown, keys in BREAKDOWNS.items():
                    for key in keys:
                        counts[_column(breakdown, key)] = rng.randrange(0, 12)
                for child_kind, n in by_kind[kind].items():
                    counts[_column("orgs_by_kind", child_kind)] = n
                assert set(counts) == set(count_names)
                rows.append((snapshot_id, 1, code, parent, kind, name,
                             *(counts[c] for c in count_names)))
    copy_rows(engine, "stat_snapshots", ["id", "node_tenant_id", "period", "taken_at", "chunks",
                                         "received_chunks", "completed_at", "updated_at"],
              iter(snapshots))
    copy_rows(engine, "org_stats", ["snapshot_id", "chunk", "org_code", "parent_code", "kind",
                                    "name", *count_names], iter(rows))
    with engine.begin() as conn:
        conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('stat_snapshots', 'id'), "
                             "(SELECT max(id) FROM stat_snapshots))")
        # Each complete snapshot's totals, as `hub.stats.services._write_totals` writes them.
        members = [name for b, _k, name in COUNT_COLUMNS if b != "orgs_by_kind"]
        conn.exec_driver_sql(
            f"INSERT INTO stat_snapshot_totals (snapshot_id, {', '.join(members)}, "
            f"{', '.join('kind_' + k for k in ORG_KINDS)}, orgs) SELECT snapshot_id, "
            + ", ".join(f"sum({c})" for c in members) + ", "
            + ", ".join(f"count(CASE WHEN kind = '{k}' THEN 1 END)" for k in ORG_KINDS)
            + ", count(*) FROM org_stats GROUP BY snapshot_id")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE")
    elapsed = time.perf_counter() - started
    print(f"\n  built {tenants:,} tenants x {STAT_DAYS} snapshots, {len(rows):,} org rows in "
          f"{elapsed:.0f} s", flush=True)
    return {"regions": tenant_regions, "today": today.isoformat(), "rows": len(rows)}


def _column(breakdown: str, key: str) -> str:
    from hub.stats.models import column_name

    return column_name(breakdown, key)


BARE_ROLLUP = (
    "SELECT {sums}, count(*) FROM org_stats WHERE snapshot_id IN ("
    " SELECT s.id FROM stat_snapshots s JOIN (SELECT node_tenant_id, max(period) AS period"
    " FROM stat_snapshots WHERE completed_at IS NOT NULL AND period <= :period"
    " GROUP BY node_tenant_id) l ON s.node_tenant_id = l.node_tenant_id AND s.period = l.period)"
    " AND org_code >= :low AND org_code < :high")
BARE_GROUPED = (
    "SELECT substr(org_code, 1, {length}) AS k, {sums}, count(*) FROM org_stats"
    " WHERE snapshot_id IN ("
    " SELECT s.id FROM stat_snapshots s JOIN (SELECT node_tenant_id, max(period) AS period"
    " FROM stat_snapshots WHERE completed_at IS NOT NULL AND period <= :period"
    " GROUP BY node_tenant_id) l ON s.node_tenant_id = l.node_tenant_id AND s.period = l.period)"
    " AND org_code >= :low AND org_code < :high GROUP BY k")


def test_statistics_rollups(tmp_path: Path) -> None:
    from hub.stats.models import COUNT_COLUMNS

    with hub_database("hub_stats") as (url, engine):
        world = load_stats(engine, STAT_TENANTS)
        app = hub_app(url, tmp_path)
        client = app.test_client()
        county = max(set(world["regions"]), key=lambda r: sum(x.startswith(r[:4])
                                                               for x in world["regions"]))
        province = county[:2]
        sums = ", ".join(f"sum({name})" for b, _k, name in COUNT_COLUMNS if b != "orgs_by_kind")
        period = world["today"]

        # (label, API path + query, bare SQL, its parameters)
        cases: list[tuple[str, str, str, dict[str, Any]]] = [
            ("rollup, whole network", "/api/stats/rollup?prefix=",
             BARE_ROLLUP.format(sums=sums), {"low": "", "high": ":"}),
            ("rollup, a province", f"/api/stats/rollup?prefix={province}",
             BARE_ROLLUP.format(sums=sums), {"low": province, "high": province + ":"}),
            ("rollup, a county", f"/api/stats/rollup?prefix={county}",
             BARE_ROLLUP.format(sums=sums), {"low": county, "high": county + ":"}),
            ("ranking of provinces", "/api/stats/rankings?prefix=&metric=party_members",
             BARE_GROUPED.format(sums=sums, length=2), {"low": "", "high": ":"}),
            ("ranking of a province's cities",
             f"/api/stats/rankings?prefix={province}&metric=full_members&limit=100",
             BARE_GROUPED.format(sums=sums, length=4), {"low": province,
                                                        "high": province + ":"}),
            ("ranking of a county's tenants",
             f"/api/stats/rankings?prefix={county}&metric=party_members&limit=100",
             BARE_GROUPED.format(sums=sums, length=len(county) + 4),
             {"low": county, "high": county + ":"}),
        ]
        bare = engine.connect()

        def api(path: str) -> float:
            started = time.perf_counter()
            response = client.get(path)
            elapsed = time.perf_counter() - started
            assert response.status_code == 200, response.get_json()
            return elapsed

        def sql(statement: str, params: dict[str, Any]) -> float:
            started = time.perf_counter()
            bare.execute(sa.text(statement), {**params, "period": period}).all()
            return time.perf_counter() - started

        whole = client.get("/api/stats/rollup?prefix=").get_json()
        assert whole["orgs"] == STAT_TENANTS * 30 and whole["tenants"] == STAT_TENANTS, whole
        samples: dict[str, tuple[list[float], list[float]]] = {c[0]: ([], []) for c in cases}
        load = load_line()
        for round_ in range(STAT_WARMUP + STAT_ROUNDS):
            for label, path, statement, params in cases:
                a, b = api(path), sql(statement, params)
                if round_ >= STAT_WARMUP:
                    samples[label][0].append(a)
                    samples[label][1].append(b)
        bare.close()

    print(f"\nStatistics over {STAT_TENANTS:,} tenants x 30 orgs ({world['rows']:,} org rows, "
          f"{STAT_DAYS} days), PostgreSQL; {load}")
    print(f"  {'request':<34} {'API p50/p95 ms':>16}  {'bare p50/p95 ms':>16}")
    all_api, all_bare = [], []
    for label, *_rest in cases:
        a, b = samples[label]
        all_api += a
        all_bare += b
        (a50, a95), (b50, b95) = ms(a), ms(b)
        print(f"  {label:<34} {a50:7.1f} / {a95:6.1f}  {b50:7.1f} / {b95:6.1f}")
    (a50, a95), (b50, b95) = ms(all_api), ms(all_bare)
    print(f"  {'all requests':<34} {a50:7.1f} / {a95:6.1f}  {b50:7.1f} / {b95:6.1f}"
          f"\n  ratio API/bare: p50 {a50 / b50:.2f}, p95 {a95 / b95:.2f}")
    if FULL_SIZE:
        assert a95 < MAX_STATS_P95_MS, f"statistics p95 {a95:.1f} ms >= {MAX_STATS_P95_MS} ms"
