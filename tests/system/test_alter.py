"""Altering a live collection's FAISS index and training size, through the
real writer, brokers and readers: the binary protocol, the Python binding
and the CLI. A refused alter (no such collection, a bad request, an index
FAISS cannot build) changes nothing; an acknowledged one is published at
once, keeps every document findable, and the segments sealed before it are
rebuilt in the background until `rebuilding` reaches 0."""
import json
import random

import pytest

import wire
from conftest import read_manifest, wait_for, wait_segments
from test_cli import cli  # noqa: F401  (the fixture)
# The binding as test_python loads it, and its instance: dimension DIM, a
# writer, a broker and a reader.
from test_python import DIM, inst, roost  # noqa: F401

ENOCOLL, EINVAL, ETOOBIG = -27, -1, -12
# Small tails sealed on a short interval: several segments from a few
# thousand documents (a seal size is at least 4096 documents).
SEAL_MS = 200
BATCHES, PER_BATCH = 3, 1000
# A rebuild of a few small segments takes seconds; the bound is generous
# for a loaded machine, and the wait polls, so it costs only what it takes.
REBUILD_S = 120


def vectors(n, seed):
    rnd = random.Random(seed)
    return [[rnd.gauss(0, 1) for _ in range(DIM)] for _ in range(n)]


def client(inst, **kw):
    """The binding, its searches walking HNSW graphs wide enough that a
    document's own vector finds it in segments this small."""
    return roost.Roost(inst.broker_url(), timeout_ms=20000, ef_search=1024, **kw)


def fill(inst, db, batches=BATCHES, seed=1):
    """Adds batches of documents to db's collection, each sealed into a
    segment of its own before the next: {id: vector}."""
    docs = {}
    first = db.collections()
    have = {c["name"]: c["segments"] for c in first}[db.collection]
    for b in range(batches):
        vecs = vectors(PER_BATCH, seed * 100 + b)
        docs.update(zip(db.add(vecs, ack="visible"), vecs))
        wait_segments(inst, have + b + 1, db.collection)
    return docs


def assert_found(db, docs, sample=60):
    """Each of a sample of the documents is the nearest hit of its own
    vector."""
    ids = sorted(docs)
    picked = [ids[i * len(ids) // sample] for i in range(sample)]
    res = db.search([docs[i] for i in picked], k=1)
    assert [hits[0].id if hits else None for hits in res] == picked


def listed(db, name):
    return {c["name"]: c for c in db.collections()}[name]


def wait_rebuilt(db, name, docs):
    """Polls until no segment of the collection awaits its rebuild,
    checking on each round that the documents stay findable meanwhile."""
    def done():
        assert_found(db, docs, sample=10)
        return listed(db, name)["rebuilding"] == 0
    wait_for(done, REBUILD_S, "the segments of %s to be rebuilt" % name)


def unchanged(inst, before):
    """Nothing was logged, and every collection is as it was."""
    assert inst.status()["ring_reserve"] == before["ring_reserve"]
    assert inst.collections() == before["collections"]


def snapshot(inst):
    return {"ring_reserve": inst.status()["ring_reserve"], "collections": inst.collections()}


def collection(c, name):
    """A collection as `roost collections --json` lists it."""
    return {x["name"]: x for x in json.loads(c.ok("collections", "--json").stdout)
            ["collections"]}[name]


# ---- refusals: these need no writer support for alters ---------------------

def test_alter_of_a_missing_collection_is_refused(inst):
    """ENOCOLL naming the collection and the instance, from the broker,
    before anything is logged; the binding raises it."""
    before = snapshot(inst)
    r = inst.alter("nope", index="HNSW32")
    assert r == {"status": ENOCOLL,
                 "message": "no collection 'nope' in instance '%s' to alter" % inst.name}, r
    with client(inst) as db:
        with pytest.raises(roost.RoostError) as e:
            db.alter_collection("nope", index="HNSW32")
    assert e.value.code == ENOCOLL and "no collection 'nope'" in e.value.message
    assert "to alter" in e.value.message
    unchanged(inst, before)


def test_invalid_alters_are_refused_and_change_nothing(inst):
    """Bad names, indexes that are not printable ASCII or longer than 63
    bytes, a training size over the limit and a missing idempotency key get
    the error a create gets for the same field, and nothing is logged."""
    assert inst.create("posts", dim=DIM)["status"] == 0
    before = snapshot(inst)
    for bad in ("", "-x", "a b", "x" * 64, "caf\u00e9"):
        r = inst.alter(bad, index="HNSW32")
        assert r["status"] == EINVAL and "collection name" in r["message"], (bad, r)
    for index in ("HNSW\x0132", "Flat\n", "HNSW\t32", "\x7f", "Fl\u00e2t"):
        r = inst.alter("posts", index=index)
        assert r["status"] == EINVAL, (index, r)
        assert "index must be printable ASCII" in r["message"], (index, r)
    r = inst.alter("posts", index="I" * 64)
    assert r == {"status": ETOOBIG, "message": "index is 64 bytes; the limit is 63"}, r
    r = inst.alter("posts", train_docs=(1 << 24) + 1)
    assert r["status"] == EINVAL and "train_docs must be 0 (keep the collection's) or at " \
        "most 16777216, not 16777217" in r["message"], r
    r = inst.call(wire.alter_request("posts", 0, 1, index="HNSW32"))
    assert r["status"] == EINVAL and "missing idempotency key" in r["message"], r
    with client(inst) as db:
        for name, index, code in (("bad name", "HNSW32", EINVAL), ("posts", "a\x01", EINVAL),
                                  ("posts", "a\0b", EINVAL), ("posts", "I" * 64, ETOOBIG)):
            with pytest.raises(roost.RoostError) as e:
                db.alter_collection(name, index=index)
            assert e.value.code == code, (name, index, e.value)
        with pytest.raises(roost.RoostError) as e:
            db.alter_collection("posts", train_docs=-1)
        assert e.value.code == EINVAL
    unchanged(inst, before)


def test_cli_alter_usage_and_refusals(cli):  # noqa: F811
    """Usage errors exit 2 saying what is wrong, a refused alter exits 1
    with the server's words, and neither changes the collection."""
    c = cli()
    c.up("--dim", 4)
    before = c.ok("collections", "--json").stdout
    help_text = c.roost("collections", "--help", name=False).stdout
    assert "collections --name NAME alter COLL [--index FACTORY] [--train-docs N]" in help_text
    usage = {
        ("alter",): "alter needs the collection's name",
        ("alter", "default", "--dim", 3): "alter changes only --index and --train-docs",
        ("alter", "default", "--metric", "ip"): "alter changes only --index and --train-docs",
        ("alter", "default", "--seal-docs", 8192): "alter changes only --index and --train-docs",
        ("alter", "default", "--indexed-keys", "user"):
            "alter changes only --index and --train-docs",
        ("alter", "default", "--train-docs", "many"): "bad value 'many' for --train-docs",
        ("alter", "default", "--train-docs", 0): "bad value '0' for --train-docs",
        ("alter", "default", "extra"): "unexpected argument 'extra'",
        ("describe", "default", "--index", "HNSW32"):
            "settings are given only to create and alter",
        ("drop", "default", "--train-docs", 5): "settings are given only to create and alter",
        ("reshape", "default"):
            "unknown action 'reshape': list, create, describe, alter, drop or fork",
    }
    for args, want in usage.items():
        out = c.roost("collections", *args)
        assert out.returncode == 2 and want in out.stderr, (args, out.stderr)
    out = c.roost("collections", "alter", "nope", "--index", "HNSW32")
    assert out.returncode == 1, out
    assert "alter collection 'nope'" in out.stderr and \
        "no collection 'nope' in instance '%s' to alter" % c.name in out.stderr, out.stderr
    out = c.roost("collections", "alter", "default", "--index", "HNSW\t32")
    assert out.returncode == 1 and "index must be printable ASCII" in out.stderr, out.stderr
    out = c.roost("collections", "alter", "default", "--index", "I" * 64)
    assert out.returncode == 1 and "index is 64 bytes; the limit is 63" in out.stderr, out.stderr
    assert c.ok("collections", "--json").stdout == before


# ---- the writer's part: these pass once the writer applies alters ----------

def test_alter_flat_to_hnsw_keeps_every_document_findable(inst):
    """A Flat collection of several segments altered to HNSW32 through the
    binding: the reply and every listing show the new index at once, the
    old segments are rebuilt in the background while searches keep finding
    every document, a later seal builds the new index, and a writer killed
    afterwards comes back with the alter."""
    with client(inst) as db:
        db.create_collection("posts", dim=DIM, index="Flat", seal_interval_ms=SEAL_MS)
        db.use("posts")
        docs = fill(inst, db)
        assert_found(db, docs)
        was = listed(db, "posts")
        assert (was["index"], was["segments"], was["rebuilding"]) == ("Flat", BATCHES, 0)

        got = db.alter_collection("posts", index="HNSW32")
        assert got["index"] == "HNSW32", got
        same = ("name", "id", "dim", "metric", "train_docs", "seal_docs", "seal_interval_ms",
                "created_lsn", "indexed_keys", "documents")
        assert {k: got[k] for k in same} == {k: was[k] for k in same}, (got, was)
        # The segments, and a tail indexed with the old settings (sealed next).
        assert 0 <= got["rebuilding"] <= got["segments"] + 1 and got["segments"] == BATCHES, got
        # Published when acknowledged: every listing says so at once.
        assert listed(db, "posts")["index"] == "HNSW32"
        assert inst.collections()["posts"]["index"] == "HNSW32"
        st = inst.call(wire.status_request(collection="posts"))
        assert st["status"] == 0, st
        assert {c["name"]: c for c in st["status_reply"]["collections"]}["posts"]["index"] == \
            "HNSW32"
        assert_found(db, docs)
        wait_rebuilt(db, "posts", docs)
        assert_found(db, docs, sample=200)

        # New seals build the new index; nothing is left to rebuild.
        more = fill(inst, db, batches=1, seed=2)
        after = listed(db, "posts")
        assert (after["index"], after["segments"], after["rebuilding"]) == \
            ("HNSW32", BATCHES + 1, 0), after
        assert_found(db, dict(docs, **more))

    assert read_manifest(inst.data, inst.name)["collections"]["posts"]["index"] == "HNSW32"
    inst.kill(inst.writer)
    inst.start_writer()
    back = inst.collections()["posts"]
    assert (back["index"], back["documents"]) == ("HNSW32", BATCHES * PER_BATCH + PER_BATCH)
    with client(inst, collection="posts") as db:
        wait_rebuilt(db, "posts", docs)
        assert_found(db, dict(docs, **more))


def test_alter_through_the_cli(cli):  # noqa: F811
    """`roost collections alter` prints the collection as altered, as text
    and as JSON; the listing, describe and status show the new index and
    the segments left to rebuild, which reach 0; searches find the same
    documents before and after."""
    c = cli()
    c.up("--dim", 4)
    c.ok("collections", "create", "posts", "--dim", DIM, "--index", "Flat",
         "--seal-interval-ms", SEAL_MS)
    ids = []
    vecs = vectors(BATCHES * PER_BATCH, 7)
    for b in range(BATCHES):
        part = vecs[b * PER_BATCH:(b + 1) * PER_BATCH]
        lines = "".join(json.dumps({"vector": v, "text": "d%d" % i}) + "\n"
                        for i, v in enumerate(part, b * PER_BATCH))
        out = c.ok("add", "--collection", "posts", "--ack", "visible", "--file", "-",
                   stdin=lines)
        ids += out.stdout.split()

        def sealed(n=b + 1):
            return collection(c, "posts")["segments"] == n
        wait_for(sealed, 60, "segment %d of posts" % (b + 1))

    def nearest(i):
        out = c.ok("search", "--collection", "posts", "--vector", json.dumps(vecs[i]), "-k", 1,
                   "--ef-search", 1024, "--json")
        return ["#%d" % h["id"] for h in json.loads(out.stdout)["hits"]]
    sample = range(0, len(vecs), 500)
    assert [nearest(i) for i in sample] == [[ids[i]] for i in sample]

    out = c.ok("collections", "alter", "posts", "--index", "HNSW32")
    assert out.stdout.startswith("altered collection posts (id 2): index HNSW32, trains on "), \
        out.stdout
    assert "sealed segments to rebuild in the background" in out.stdout
    got = json.loads(c.ok("collections", "alter", "posts", "--train-docs", 5000,
                          "--json").stdout)
    assert (got["name"], got["index"], got["train_docs"], got["dim"]) == \
        ("posts", "HNSW32", 5000, DIM), got
    assert got["rebuilding"] <= got["segments"] + 1 and got["segments"] == BATCHES, got
    table = c.ok("collections").stdout.splitlines()
    assert table[0].split()[-2:] == ["REBUILDING", "INDEXED-KEYS"], table
    row = {line.split()[0]: line.split() for line in table[1:-1]}["posts"]
    assert row[4] == "HNSW32" and int(row[7]) <= BATCHES, table
    described = c.ok("collections", "describe", "posts").stdout
    assert "index HNSW32" in described and "trains on 5000" in described, described
    assert "sealed segments to rebuild with index HNSW32" in described, described
    status = {x["name"]: x for x in c.status()["collections"]}["posts"]
    assert status["index"] == "HNSW32" and "rebuilding" in status, status
    lines = c.ok("status").stdout.splitlines()
    head = next(l.split() for l in lines if l.split()[:1] == ["NAME"])
    posts = next(l.split() for l in lines if l.split()[:1] == ["posts"])
    col = head.index("REBUILDING")
    assert head[col - 1] == "SEGMENTS" and int(posts[col]) <= BATCHES, lines
    wait_for(lambda: collection(c, "posts")["rebuilding"] == 0, REBUILD_S,
             "the segments of posts to be rebuilt")
    assert "  0 sealed segments to rebuild" in c.ok("collections", "describe", "posts").stdout
    assert [nearest(i) for i in sample] == [[ids[i]] for i in sample]


def test_an_index_faiss_cannot_build_is_refused_and_changes_nothing(inst):
    """EINVAL naming the collection and FAISS's reason (an index string it
    cannot parse, product quantizers that do not divide the dimension); the
    collection keeps its index and finds its documents, and a good alter
    still succeeds."""
    with client(inst) as db:
        db.create_collection("posts", dim=DIM, index="Flat", seal_interval_ms=SEAL_MS)
        db.use("posts")
        docs = fill(inst, db, batches=1)
        before = listed(db, "posts")
        for index in ("Bogus", "PQ3"):
            r = inst.alter("posts", index=index)
            assert r["status"] == EINVAL, (index, r)
            assert r["message"].startswith("alter of collection 'posts' refused: "), r
            assert "FAISS" in r["message"], r
            with pytest.raises(roost.RoostError) as e:
                db.alter_collection("posts", index=index)
            assert e.value.code == EINVAL and "FAISS" in e.value.message, e.value
        assert listed(db, "posts") == before
        assert_found(db, docs)
        assert db.alter_collection("posts", index="HNSW16")["index"] == "HNSW16"
        wait_rebuilt(db, "posts", docs)


def test_training_size_alone_a_retrain_and_a_retried_alter(inst):
    """An alter of the training size alone keeps the index; one naming the
    current index is an alter too (Flat has nothing to retrain, so nothing
    is left to rebuild); a retry with the same key is the same alter,
    applied once."""
    with client(inst) as db:
        db.create_collection("posts", dim=DIM, index="Flat", seal_interval_ms=SEAL_MS)
        db.use("posts")
        docs = fill(inst, db, batches=2)
        got = db.alter_collection("posts", train_docs=5000)
        assert (got["index"], got["train_docs"]) == ("Flat", 5000), got
        wait_rebuilt(db, "posts", docs)

        key = (0xA17E5, 1)
        first = inst.call(wire.alter_request("posts", *key, index="Flat"))
        assert first["status"] == 0, first
        info = first["collection"]
        assert (info["index"], info["train_docs"], info["segments"]) == ("Flat", 5000, 2), info
        again = inst.call(wire.alter_request("posts", *key, index="Flat"))
        assert again["status"] == 0 and again["collection"]["lsn"] == info["lsn"], again
        wait_rebuilt(db, "posts", docs)
        assert_found(db, docs, sample=200)
