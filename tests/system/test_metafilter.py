"""Filters on metadata keys (Filter.where) with real processes: a
collection of a few thousand posts with the simulation's metadata, part
sealed into a segment and part in the tail, searched through the Python
binding, the binary and JSON protocol and the CLI, every answer compared
with a brute-force reference computed here from what was added."""
import json
import math
import os
import random
import subprocess
import sys
import time

import pytest

import wire
from conftest import BIN, BUILD, ROOT, sealed_end, wait_for

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost  # noqa: E402

DIM = 8
DOCS = 6000
SEAL = 4096
USERS = 60
TOPICS = ["cats", "dogs", "caf\u00e9", "news", "sports", "music"]
ACTIONS = ["tweet", "retweet", "reply"]
# Values of "v", one every 250 posts: the type rules.
PROBES = [5, "5", 5.0, True, 1, None, "true", 0, False]
BIG = {100: 9007199254740993, 5900: 9007199254740992}


def post(rnd, i):
    """The metadata the simulation formats into its prompts, and some keys
    that only some posts have."""
    n = rnd.randrange(USERS)
    action = ACTIONS[rnd.randrange(3)]
    m = {"agent": n, "time": i, "kind": action, "post": i, "user": "u%d" % n,
         "user_index": n, "topic": TOPICS[rnd.randrange(len(TOPICS))], "action": action,
         "orig": rnd.randrange(i) if i and action != "tweet" else None,
         "score": round(rnd.random(), 6)}
    if i % 7 == 0:
        del m["score"]
    if i % 11 == 0:
        m["nested"] = {"topic": "cats"}
        m["tags"] = ["cats"]
    if i % 250 == 0:
        m["v"] = PROBES[(i // 250) % len(PROBES)]
    if i in BIG:
        m["big"] = BIG[i]
    return m


@pytest.fixture(scope="module")
def posts():
    from conftest import Instance
    # No seal on age: the tail keeps what the seal left.
    inst = Instance(dim=DIM, writer_args=["--seal-docs", str(SEAL), "--seal-interval-ms", "0"])
    try:
        inst.start_writer()
        inst.start_broker()
        inst.start_reader()
        rnd = random.Random(5)
        vecs = [[rnd.uniform(-1, 1) for _ in range(DIM)] for _ in range(DOCS)]
        metas = [post(rnd, i) for i in range(DOCS)]
        db = roost.Roost(inst.broker_url(), timeout_ms=30000)
        ids = db.add(vecs, texts=["post %d" % i for i in range(DOCS)], metadatas=metas,
                     ids=["p%d" % i for i in range(DOCS)], ack="visible")
        assert ids == ["p%d" % i for i in range(DOCS)]
        wait_for(lambda: inst.collections()["default"]["segments"] >= 1, 60, "the seal")
        yield inst, db, vecs, metas
        db.close()
    finally:
        inst.stop()


def number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def has(m, key, *values):
    """m's key equals one of values, JSON types kept (True is not 1)."""
    if key not in m:
        return False
    v = m[key]
    return any(type(v) is type(w) and v == w or number(v) and number(w) and v == w
               for w in values)


def num_in(m, key, lo=-math.inf, hi=math.inf, lo_ex=False, hi_ex=False):
    v = m.get(key)
    return (number(v) and (v > lo if lo_ex else v >= lo) and (v < hi if hi_ex else v <= hi))


FOLLOWED = ["u%d" % n for n in range(0, USERS, 7)]
INTERESTS = ["cats", "caf\u00e9"]

CASES = {
    "eq string": ({"topic": "cats"}, lambda m: m["topic"] == "cats"),
    "eq escaped": ({"topic": "caf\u00e9"}, lambda m: m["topic"] == "caf\u00e9"),
    "in": ({"user": {"$in": ["u1", "u2", "u3"]}}, lambda m: m["user"] in ("u1", "u2", "u3")),
    "list": ({"action": ["retweet", "reply"]}, lambda m: m["action"] != "tweet"),
    "eq int": ({"user_index": {"$eq": 7}}, lambda m: m["user_index"] == 7),
    "gt": ({"score": {"$gt": 0.9}}, lambda m: num_in(m, "score", 0.9, lo_ex=True)),
    "gte": ({"score": {"$gte": 0.5}}, lambda m: num_in(m, "score", 0.5)),
    "lt": ({"score": {"$lt": 0.05}}, lambda m: num_in(m, "score", hi=0.05, hi_ex=True)),
    "lte": ({"score": {"$lte": 0.1}}, lambda m: num_in(m, "score", hi=0.1)),
    "range": ({"score": {"$gte": 0.25, "$lt": 0.3}},
              lambda m: num_in(m, "score", 0.25, 0.3, hi_ex=True)),
    "int range": ({"user_index": {"$gte": 10, "$lte": 12}},
                  lambda m: 10 <= m["user_index"] <= 12),
    "null": ({"orig": None}, lambda m: m["orig"] is None),
    "range skips null": ({"orig": {"$gte": 3000}}, lambda m: num_in(m, "orig", 3000)),
    "and": ({"topic": "dogs", "action": "reply"},
            lambda m: m["topic"] == "dogs" and m["action"] == "reply"),
    "followed and interests": (
        {"$and": [{"user": {"$in": FOLLOWED}}, {"topic": {"$in": INTERESTS}}]},
        lambda m: m["user"] in FOLLOWED and m["topic"] in INTERESTS),
    "with first-class": ({"agent": [3, 4, 5], "kind": "reply", "topic": ["news", "music"]},
                         lambda m: m["agent"] in (3, 4, 5) and m["kind"] == "reply" and
                         m["topic"] in ("news", "music")),
    "with time": ({"time_min": 3000, "time_max": 5000, "score": {"$lt": 0.1}},
                  lambda m: 3000 <= m["time"] <= 5000 and num_in(m, "score", hi=0.1,
                                                                 hi_ex=True)),
    "nested ignored": ({"nested": "cats"}, lambda m: False),
    "array ignored": ({"tags": "cats"}, lambda m: False),
    "missing key": ({"nokey": 1}, lambda m: False),
    "empty in": ({"topic": {"$in": []}}, lambda m: False),
    "int 5 is 5.0, not \"5\"": ({"v": 5}, lambda m: has(m, "v", 5)),
    "\"5\" is a string": ({"v": "5"}, lambda m: has(m, "v", "5")),
    "true is not 1": ({"v": True}, lambda m: has(m, "v", True)),
    "1 is not true": ({"v": 1}, lambda m: has(m, "v", 1)),
    "0 is not false": ({"v": 0}, lambda m: has(m, "v", 0)),
    "null is not \"true\"": ({"v": None}, lambda m: has(m, "v", None)),
    "big int exact": ({"big": 9007199254740993}, lambda m: m.get("big") == 9007199254740993),
    "big int range": ({"big": {"$gt": 9007199254740992}},
                      lambda m: m.get("big", 0) > 9007199254740992),
}


def l2(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b))


def reference(vecs, metas, q, pred, k):
    return ["p%d" % i for _, i in
            sorted((l2(q, vecs[i]), i) for i, m in enumerate(metas) if pred(m))[:k]]


@pytest.mark.parametrize("name", sorted(CASES))
def test_filters_match_brute_force(posts, name):
    """Few matches: every one is found (k = 1024 takes them all). Many:
    the nearest 20 are the reference's. In both, what matches lies in the
    segment and in the tail alike."""
    check_case(*posts, name, "default")


# Every key the cases test but "nested", "tags" and "nokey" (8 at most).
INDEXED = ["user", "topic", "action", "user_index", "score", "orig", "v", "big"]


@pytest.fixture(scope="module")
def indexed(posts):
    """The same posts in a collection that indexes the keys the cases
    test, sealed at the same row."""
    inst, db, vecs, metas = posts
    made = db.create_collection("indexed", DIM, seal_docs=SEAL, indexed_keys=INDEXED)
    assert made["indexed_keys"] == INDEXED, made
    idb = roost.Roost(inst.broker_url(), timeout_ms=30000, collection="indexed")
    idb.add(vecs, texts=["post %d" % i for i in range(DOCS)], metadatas=metas,
            ids=["p%d" % i for i in range(DOCS)], ack="visible")
    wait_for(lambda: inst.collections()["indexed"]["segments"] >= 1, 60, "the seal")
    yield inst, idb, vecs, metas
    idb.close()


@pytest.mark.parametrize("name", sorted(CASES))
def test_indexed_keys_match_brute_force(indexed, name):
    """With the keys indexed, every case answers what brute force does:
    the index only narrows the rows a filter reads."""
    check_case(*indexed, name, "indexed")


def reader_filter_rows(inst):
    """The rows filters read, by the one reader, as its state file says
    once written after now (base/rstat.h)."""
    now_ms = time.monotonic() * 1000
    got = []

    def fresh():
        for f in os.listdir(inst.run_dir):
            if f.startswith("reader-") and f.endswith(".stat"):
                with open(os.path.join(inst.run_dir, f)) as fh:
                    fields = fh.readline().split()
                if int(fields[fields.index("stamp_ms") + 1]) > now_ms:
                    got.append(int(fields[fields.index("filter_rows") + 1]))
                    return True
        return False
    wait_for(fresh, 15, "the reader's state file")
    return got[0]


def test_an_indexed_key_reads_only_its_rows(indexed):
    """A filter on an indexed key reads the rows that hold a matching
    value and no other, in the segment and in the tail; one on a key
    without an index reads them all; with both, the narrower indexed
    condition decides."""
    inst, db, vecs, metas = indexed
    end = sealed_end(inst, "indexed")
    version = {h.id: h.version for h in db.get(["p%d" % i for i in range(DOCS)])}
    assert 0 < sum(1 for v in version.values() if v < end) < DOCS  # a segment and a tail
    q = vecs[0]
    for spec, pred, reads in (
            ({"user": "u7"}, lambda m: m["user"] == "u7", None),
            ({"user_index": {"$gte": 10, "$lte": 12}}, lambda m: 10 <= m["user_index"] <= 12,
             None),
            ({"tags": "cats"}, lambda m: False, DOCS),
            ({"topic": "dogs", "user": ["u1", "u2"]},
             lambda m: m["topic"] == "dogs" and m["user"] in ("u1", "u2"),
             sum(1 for m in metas if m["user"] in ("u1", "u2")))):
        before = reader_filter_rows(inst)
        hits = db.search([q], k=1024, filter=spec, min_lsn=db.last_lsn)[0]
        assert sorted(h.id for h in hits) == ids_of(metas, pred), spec
        want = sum(1 for m in metas if pred(m)) if reads is None else reads
        assert reader_filter_rows(inst) - before == want, spec
        assert want < DOCS / 10 or reads == DOCS, spec


def check_case(inst, db, vecs, metas, name, collection):
    spec, pred = CASES[name]
    matching = [i for i, m in enumerate(metas) if pred(m)]
    q = [random.Random(name).uniform(-1, 1) for _ in range(DIM)]
    if len(matching) <= 1024:
        hits = db.search([q], k=1024, filter=spec, min_lsn=db.last_lsn)[0]
        assert sorted(h.id for h in hits) == sorted("p%d" % i for i in matching), name
    else:
        hits = db.search([q], k=20, filter=spec, min_lsn=db.last_lsn)[0]
        assert [h.id for h in hits] == reference(vecs, metas, q, pred, 20), name
    for h in hits:
        assert pred(h.metadata), (name, h.metadata)
    if 20 < len(matching) <= 1024:
        end = sealed_end(inst, collection)
        assert 0 < end and {h.version < end for h in hits} == {True, False}, (name, end)


def test_case_counts(posts):
    """The cases test what they say: the type probes are spread out, and
    the selective ones match a few."""
    _, _, _, metas = posts
    count = {name: sum(1 for m in metas if pred(m)) for name, (_, pred) in CASES.items()}
    for name in ("int 5 is 5.0, not \"5\"", "\"5\" is a string", "true is not 1",
                 "1 is not true", "0 is not false", "null is not \"true\""):
        assert 1 < count[name] < 10, (name, count[name])
    assert count["big int exact"] == count["big int range"] == 1
    assert count["followed and interests"] > 100
    assert count["eq escaped"] > 500 and count["gte"] > 1024


def search_binary(inst, q, **kw):
    r = inst.search([q], k=1024, **kw)
    assert r["status"] == 0, r
    return sorted(h["key"] for h in r["results"][0])


def ids_of(metas, pred):
    return sorted("p%d" % i for i, m in enumerate(metas) if pred(m))


def test_binary_and_json_forms(posts):
    """The same conditions through the binary protocol and the JSON form;
    any_of holds JSON texts in one and JSON values in the other."""
    inst, db, vecs, metas = posts
    q = vecs[17]
    pred = CASES["range"][1]
    assert search_binary(inst, q, where=[wire.condition("score", min=0.25, max=0.3,
                                                        max_exclusive=True)]) == \
        ids_of(metas, pred)
    got = search_binary(inst, q, where=[wire.condition("topic", ['"cats"', '"dogs"']),
                                        wire.condition("user_index", ['3', '4.0', '"5"'])])
    assert got == ids_of(metas, lambda m: m["topic"] in ("cats", "dogs") and
                         m["user_index"] in (3, 4))
    # Escapes on either side: the stored text has the raw character.
    assert search_binary(inst, q, where=[wire.condition("topic", ['"caf\\u00e9"'])]) == \
        search_binary(inst, q, where=[wire.condition("t\u006fpic", ['"caf\u00e9"'])]) == \
        ids_of(metas, lambda m: m["topic"] == "caf\u00e9")

    c = inst.client()
    try:
        def json_search(where):
            text = json.dumps({"version": 1, "search": {
                "dim": DIM, "queries": [q], "k": 1024, "filter": {"where": where}}})
            return json.loads(c.call_raw(text.encode()).decode())

        for value, pred in ((5, lambda m: has(m, "v", 5)), ("5", lambda m: has(m, "v", "5")),
                            (None, lambda m: has(m, "v", None))):
            r = json_search([{"key": "v", "any_of": [value]}])
            assert r["status"] == 0, r
            assert sorted(h["key"] for h in r["search"]["results"][0]["hits"]) == \
                ids_of(metas, pred), value
        r = json_search([{"key": "score", "min": 0.9, "min_exclusive": True},
                         {"key": "action", "any_of": ["reply"]}])
        assert sorted(h["key"] for h in r["search"]["results"][0]["hits"]) == ids_of(
            metas, lambda m: num_in(m, "score", 0.9, lo_ex=True) and m["action"] == "reply",
            )
        r = json_search([{"key": "v", "any_of": [[5]]}])
        assert r["status"] == -1 and "search.filter.where[0].any_of[0]" in r["message"], r
    finally:
        c.close()


@pytest.mark.parametrize("where,status,text", [
    ([wire.condition("topic", ["cats"])], -1,
     "filter.where[0].any_of[0]: is not a JSON scalar (strings are written in quotes"),
    ([wire.condition("topic", ['{"a":1}'])], -1, "found an object"),
    ([wire.condition("topic")], -1, "filter.where[0] tests nothing"),
    ([wire.condition("")] * 1, -1, "filter.where[0].key is empty"),
    ([wire.condition("n", min=float("nan"))], -11, "filter.where[0].min is not finite"),
    ([wire.condition("n", min=1)] * 17, -12, "filter.where has 17 conditions; the limit is 16"),
    ([wire.condition("n", ["1"] * 1025)], -12, "any_of has 1025 values; the limit is 1024"),
    ([wire.condition("n", ['"%s"' % ("x" * 1023)])], -12, "is 1025 bytes"),
    ([wire.condition("k" * 257, ["1"])], -12, "key is 257 bytes"),
    ([wire.condition("n", ['"\\ud800"'])], -13, "surrogate"),
])
def test_bad_conditions_refused(posts, where, status, text):
    inst = posts[0]
    r = inst.search([[0.0] * DIM], k=3, where=where)
    assert r["status"] == status and text in r["message"], r


def test_python_filter_errors(posts):
    _, db, _, _ = posts
    q = [0.0] * DIM
    for spec, text in (({"score": {"$ne": 1}}, "unknown operator $ne"),
                       ({"score": {"$ne": 1, "$nin": [2]}}, "unknown operators $ne, $nin"),
                       ({"$or": [{"a": 1}]}, "unknown filter operator $or"),
                       ({"score": {}}, "no operator"),
                       ({"score": {"$gt": "1"}}, "must be a number"),
                       ({"score": {"$gt": float("inf")}}, "must be finite"),
                       ({"score": [[1]]}, "not list"),
                       ({"score": float("nan")}, "not a JSON number"),
                       ({"$and": {"a": 1}}, "takes a list"),
                       ({"agent": 1, "$and": [{"agent": 2}]}, "gives agent twice")):
        with pytest.raises(roost.RoostError) as e:
            db.search([q], k=3, filter=spec)
        assert e.value.code == -1 and text in e.value.message, (spec, e.value.message)
    with pytest.raises(roost.RoostError) as e:
        db.search([q], k=3, filter={"k%d" % i: 1 for i in range(17)})
    assert e.value.code == -12 and "17 conditions" in e.value.message


def test_cli_where(posts):
    inst, _, vecs, metas = posts
    out = subprocess.run(
        [os.path.join(BIN, "roost"), "search", "--name", inst.name, "--vector",
         json.dumps(vecs[3]), "-k", "1024", "--json", "--where", 'topic=["cats"]',
         "--where", "score>=0.5", "--where", "score<0.75", "--where", 'orig=null'],
        env=inst.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    got = sorted(h["key"] for h in json.loads(out.stdout)["hits"])
    assert got == sorted("p%d" % i for i, m in enumerate(metas)
                         if m["topic"] == "cats" and num_in(m, "score", 0.5, 0.75, hi_ex=True)
                         and m["orig"] is None)
    bad = subprocess.run([os.path.join(BIN, "roost"), "search", "--name", inst.name,
                          "--vector", json.dumps(vecs[3]), "--where", "topic=cats"],
                         env=inst.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "KEY='\"text\"'" in bad.stderr, bad.stderr
