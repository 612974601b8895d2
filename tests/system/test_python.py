"""The Python binding (client/python/roost.py) against a real instance:
writer, broker and reader, through libroost from the build directory."""
import doctest
import hashlib
import math
import os
import random
import re
import signal
import sys
import time

import pytest

from conftest import BUILD, ROOT, stop_process, wait_segments

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost  # noqa: E402

DIM = 8


def embed(text):
    """A deterministic toy embedder: words hashed into DIM buckets,
    normalised (the demo's kind of embedder)."""
    v = [0.0] * DIM
    for w in text.lower().split():
        h = hashlib.sha256(w.encode()).digest()
        v[h[0] % DIM] += 1.0 if h[1] & 1 else -1.0
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


class Embeddings:
    """LangChain's Embeddings interface."""

    def embed_documents(self, texts):
        return [embed(t) for t in texts]

    def embed_query(self, text):
        return embed(text)


@pytest.fixture
def inst(make_instance):
    i = make_instance(dim=DIM)
    i.start_writer()
    i.start_broker(0)
    i.start_reader()
    return i


@pytest.fixture
def db(inst):
    with roost.Roost(inst.broker_url(), embedding=Embeddings(), timeout_ms=20000) as d:
        yield d


@pytest.fixture(params=["numpy", "pure"])
def vectors_mode(request, monkeypatch):
    """Runs a test with numpy and without it (pure ctypes buffers)."""
    if request.param == "numpy":
        if roost._np is None:
            pytest.skip("numpy is not installed")
    else:
        monkeypatch.setattr(roost, "_np", None)
    return request.param


TWEETS = ["the cat sat on the mat", "dogs bark at night", "roost stores vectors",
          "agents post tweets", "the writer owns the index"]


def test_add_texts_and_similarity_search(db, vectors_mode):
    metas = [{"agent": i % 2, "time": 1700000000 + i, "kind": "tweet" if i < 4 else "news"}
             for i in range(len(TWEETS))]
    ids = db.add_texts(TWEETS, metadatas=metas, ack="visible")
    assert len(ids) == 5 and len(set(ids)) == 5
    # Ids roost assigns are strings "#<number>": document i of a batch is
    # number LSN + i, exact in 64 bits.
    assert ids == ["#%d" % (db.last_lsn + i) for i in range(5)]

    docs = db.similarity_search("roost stores vectors", k=2)
    assert len(docs) == 2
    assert docs[0].page_content == "roost stores vectors"
    assert docs[0].metadata == metas[2]
    assert docs[0].id == ids[2]
    scored = db.similarity_search_with_score("roost stores vectors", k=2)
    assert scored[0][1] == pytest.approx(0.0, abs=1e-5) and scored[1][1] >= scored[0][1]

    by_vec = db.similarity_search_by_vector(embed("the writer owns the index"), k=1)
    assert by_vec[0].page_content == "the writer owns the index"
    assert by_vec[0].metadata["kind"] == "news"
    scored = db.similarity_search_with_score("dogs bark at night", k=1)
    assert scored[0][0].page_content == "dogs bark at night" and scored[0][1] < 1e-5
    # LangChain's add_texts: metadatas positional, ids by keyword only.
    assert db.add_texts(["fresh text"], [{"n": 1}], ids=["kw"], ack="visible") == ["kw"]
    assert db.get_by_ids(["kw"])[0].metadata == {"n": 1}
    with pytest.raises(TypeError):
        db.add_texts(["fresh text"], [{"n": 1}], ["kw"])


def test_filters(db):
    vecs = [[1.0] + [0.0] * (DIM - 1)] * 6
    metas = [{"agent": a, "time": t, "kind": k} for a, t, k in
             [(1, 10, "tweet"), (2, 20, "tweet"), (3, 30, "news"), (1, 40, "news"),
              (2, 50, "tweet"), (3, 60, "tweet")]]
    ids = db.add(vecs, texts=["d%d" % i for i in range(6)], metadatas=metas, ack="visible")
    q = vecs[0]

    def found(flt):
        return sorted(d.id for d in db.similarity_search_by_vector(q, k=10, filter=flt))

    assert found(None) == sorted(ids)
    assert found({"agent": 1}) == [ids[0], ids[3]]
    assert found({"agents": [2, 3]}) == [ids[1], ids[2], ids[4], ids[5]]
    assert found({"kind": "news"}) == [ids[2], ids[3]]
    assert found({"time_min": 35}) == [ids[3], ids[4], ids[5]]
    assert found({"time": (20, 40), "kind": "tweet"}) == [ids[1]]
    # Other keys are metadata's (test_metafilter.py has their rules).
    assert found({"colour": "red"}) == []
    with pytest.raises(roost.RoostError) as e:
        found({"time": {"$gte": 35}})
    assert e.value.code == roost.EINVAL and "time_min" in e.value.message
    with pytest.raises(roost.RoostError) as e:
        found({"colour": {"$regex": "r"}})
    assert e.value.code == roost.EINVAL and "$regex" in e.value.message


def test_own_ids_and_metadata_round_trip(db):
    """Ids of the client's own come back as given, beside ones roost
    assigns, and metadata comes back exactly as added, through the tail
    and through a sealed segment alike."""
    metas = [{"post": 7, "user": "bob", "topic": "cats", "action": "reply",
              "orig": 3, "tags": ["a", {"b": None}], "ratio": 0.25, "ok": True},
             {}, {"agent": 4, "kind": "tweet", "note": "\u00e9t\u00e9 \U0001F600"}]
    vecs = [[1.0 if j == i else 0.0 for j in range(DIM)] for i in range(3)]
    ids = db.add(vecs, texts=["a", "b", "c"], metadatas=metas, ids=["post-7", None, "p\u00e9"],
                 ack="visible")
    assert ids[0] == "post-7" and ids[1].startswith("#") and ids[2] == "p\u00e9"
    for i in range(3):
        hit = db.search([vecs[i]], k=1, min_lsn=db.last_lsn)[0][0]
        assert (hit.id, hit.text, hit.metadata) == (ids[i], "abc"[i], metas[i])
        assert hit.version == int(ids[1][1:]) - 1 + i
    assert db.search([vecs[2]], k=1)[0][0].agent == 4
    docs = db.similarity_search_by_vector(vecs[0], k=1)
    assert docs[0] == roost.Document(page_content="a", metadata=metas[0], id="post-7")


def test_bad_ids_and_metadata(db):
    one = [[0.0] * DIM]
    cases = [
        (lambda: db.add(one, ids=["#5"]), roost.EINVAL, "beginning with '#'"),
        (lambda: db.add(one, ids=[""]), roost.EINVAL, "ids[0]"),
        (lambda: db.add(one, ids=["x" * 129]), roost.ETOOBIG, "ids[0]"),
        (lambda: db.add(one, ids=[7]), roost.EINVAL, "must be a str"),
        (lambda: db.add(one * 2, ids=["a", "a"]), roost.EINVAL, "appears twice"),
        (lambda: db.add(one, metadatas=[{"x": float("nan")}]), roost.EINVAL, "JSON"),
        (lambda: db.add(one, metadatas=[{"x": object()}]), roost.EINVAL, "JSON"),
        (lambda: db.add(one, metadatas=[{"x": "y" * 20000}]), roost.ETOOBIG, "16384"),
        (lambda: db.add(one, metadatas=["not a dict"]), roost.EINVAL, "must be a dict"),
    ]
    for call, code, text in cases:
        with pytest.raises(roost.RoostError) as e:
            call()
        assert e.value.code == code and text in e.value.message, e.value
    assert db.status()["documents"] == 0


def test_read_your_writes_with_min_lsn(db):
    db.add([embed("warm up")], texts=["warm up"], ack="visible")
    # Queued: acknowledged once in the ring, before the writer applies it.
    ids = db.add([embed("fresh post")], texts=["fresh post"], ack="queued")
    res = db.search([embed("fresh post")], k=1, min_lsn=db.last_lsn)
    assert res.lsn > db.last_lsn
    assert res[0][0].id == ids[0] and res[0][0].text == "fresh post"


def test_many_queries_and_large_batches(db, vectors_mode):
    # More than libroost's 1024 documents per request: split, each chunk
    # its own idempotent request, ids in order.
    n = 1500
    vecs = [[math.sin(i * (j + 1)) for j in range(DIM)] for i in range(n)]
    if vectors_mode == "numpy":
        vecs = roost._np.array(vecs, dtype=roost._np.float32)
    ids = db.add(vecs, texts=["t%d" % i for i in range(n)], ack="visible")
    assert len(ids) == n and len(set(ids)) == n
    res = db.search(vecs[:3], k=1, min_lsn=db.last_lsn)
    assert [r[0].id for r in res] == ids[:3]
    assert [r[0].text for r in res] == ["t0", "t1", "t2"]
    assert db.status()["documents"] == n


def test_server_errors_are_exceptions(db):
    with pytest.raises(roost.RoostError) as e:
        db.add([[1.0] * (DIM + 1)])
    assert e.value.code == roost.EDIM
    assert "collection dimension is %d" % DIM in e.value.message
    with pytest.raises(roost.RoostError) as e:
        db.add([[1.0, float("nan")] + [0.0] * (DIM - 2)])
    assert e.value.code == -11 and "docs[0].vector[1] is NaN" in e.value.message
    with pytest.raises(roost.RoostError) as e:
        db.add([[0.0] * DIM], metadatas=[{"kind": "k" * 40}])
    assert e.value.code == roost.ETOOBIG and "docs[0].kind" in e.value.message
    with pytest.raises(roost.RoostError) as e:
        db.search([[0.0] * DIM], k=5000)
    assert e.value.code == roost.EINVAL and "k must be" in e.value.message
    assert str(e.value).startswith(roost.RoostError(roost.EINVAL, "").name)
    assert db.status()["documents"] == 0


def test_client_side_errors(db):
    cases = [
        (lambda: db.add([[1.0] * DIM, [1.0]]), roost.EDIM, "vectors[1] has 1 values"),
        (lambda: db.add([1.0] * DIM), roost.EINVAL, "sequence of vectors"),
        (lambda: db.add([[0.0] * DIM], texts=["a\0b"]), roost.EINVAL, "U+0000"),
        (lambda: db.add([[0.0] * DIM], texts=["\ud800"]), roost.EUTF8, "texts[0]"),
        (lambda: db.add([[0.0] * DIM], metadatas=[{"agent": 1.5}]), roost.EINVAL, "integer"),
        (lambda: db.add([[0.0] * DIM], metadatas=[{"time": 1 << 63}]), roost.EINVAL, "range"),
        (lambda: db.add([[0.0] * DIM], ack="eventually"), roost.EINVAL, "ack must be"),
        (lambda: db.add([[0.0] * DIM], texts=["a", "b"]), roost.EINVAL, "1 vectors but 2"),
        (lambda: roost.Roost(db.target).similarity_search("x"), roost.EINVAL,
         "no embedding"),
        (lambda: db.set_search_tuning(nprobe=65537), roost.EINVAL, "nprobe"),
        (lambda: db.set_search_tuning(ef_search=-1), roost.EINVAL, "ef_search"),
        (lambda: db.similarity_search("x", filters={"agent": 1}), roost.EINVAL,
         "similarity_search takes no filters"),
        (lambda: db.add_texts(["x"], colour="red"), roost.EINVAL, "add_texts takes no colour"),
        (lambda: db.search("x"), roost.EINVAL, "similarity_search"),
    ]
    for call, code, text in cases:
        with pytest.raises(roost.RoostError) as e:
            call()
        assert e.value.code == code and text in e.value.message, (text, e.value)
    assert db.status()["documents"] == 0


def test_search_tuning_reaches_the_index(make_instance):
    """Through libroost: with nprobe = nlist an IVF segment answers exactly,
    with nprobe 1 it misses neighbours that the reader's default (8 of
    these 16 lists) finds."""
    inst = make_instance(dim=DIM, index="IVF16,Flat",
                         writer_args=["--seal-docs", "4096", "--train-docs", "2048"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_reader()
    rnd = random.Random(5)
    vecs = [[rnd.uniform(-1, 1) for _ in range(DIM)] for _ in range(5000)]
    with roost.Roost(inst.broker_url(), timeout_ms=20000) as d:
        ids = d.add(vecs, ack="visible")
    wait_segments(inst, 1)
    queries = [[rnd.uniform(-1, 1) for _ in range(DIM)] for _ in range(20)]
    exact = [sorted(range(len(vecs)), key=lambda i: sum((a - b) ** 2
                                                        for a, b in zip(q, vecs[i])))[:10]
             for q in queries]
    exact = [[ids[i] for i in e] for e in exact]

    def found(**tuning):
        with roost.Roost(inst.broker_url(), timeout_ms=20000, **tuning) as d:
            res = d.search(queries, k=10)
        return sum(len(set(h.id for h in hits) & set(e)) for hits, e in zip(res, exact))
    assert found(nprobe=16) == 20 * 10
    assert found(nprobe=1) < found() <= 20 * 10


def test_connect_by_name_and_missing_instance(inst, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", inst.env["XDG_RUNTIME_DIR"])
    with roost.Roost(inst.name) as d:
        st = d.status()
        assert st["dim"] == DIM and st["metric"] == "l2" and st["writer_pid"] == inst.writer.pid
        assert d.client_id != 0
    with pytest.raises(roost.RoostError) as e:
        roost.Roost("no-such-instance-%d" % os.getpid())
    assert e.value.code == -4
    closed = roost.Roost(inst.name)
    closed.close()
    with pytest.raises(roost.RoostError):
        closed.status()


def test_from_texts(inst):
    d = roost.Roost.from_texts(TWEETS, Embeddings(), target=inst.broker_url(), ack="visible")
    try:
        assert d.similarity_search("agents post tweets", k=1)[0].page_content == \
            "agents post tweets"
    finally:
        d.close()


def test_search_with_no_reader_raises_within_its_timeout(make_instance):
    """No reader serving: a clear error naming the cause within the call's
    timeout, and the handle closes normally (nanomsg's REQ socket aborted
    the whole process in close after such a timeout)."""
    i = make_instance(dim=DIM)
    i.start_writer()
    i.start_broker(0)
    d = roost.Roost(i.broker_url(), timeout_ms=3000)
    t = time.monotonic()
    with pytest.raises(roost.RoostError) as e:
        d.search([embed("anyone there")], k=1)
    took = time.monotonic() - t
    assert e.value.code == -26 and "no reader serving" in e.value.message, e.value
    assert took < 3 + 1.0, took
    d.close()


def test_search_with_a_stopped_reader_honours_timeout_ms(inst):
    """timeout_ms bounds the whole call: retries and every wait inside it
    (it used to take 5 s for timeout_ms=3000)."""
    with roost.Roost(inst.broker_url(), timeout_ms=20000) as d:
        d.add([embed("before the stop")], texts=["before the stop"], ack="visible")
    stop_process(inst.readers[0].pid)
    try:
        with roost.Roost(inst.broker_url(), timeout_ms=3000) as d:
            t = time.monotonic()
            with pytest.raises(roost.RoostError) as e:
                d.search([embed("before the stop")], k=1)
            took = time.monotonic() - t
    finally:
        inst.readers[0].send_signal(signal.SIGCONT)
    assert e.value.code == -8 and "no reader answered" in e.value.message, e.value
    assert took < 3 + 1.0, took


def test_largest_documented_search_batch(make_instance):
    """1024 queries at d=384 (1.5 MB, the documented maximum batch) are
    answered, and the broker's readers serve on afterwards (a frame over
    the readers' old 1 MiB limit cut them off)."""
    dim = 384
    i = make_instance(dim=dim)
    i.start_writer()
    i.start_broker(0)
    i.start_reader()
    rnd = random.Random(4)
    vecs = [[rnd.uniform(-1, 1) for _ in range(dim)] for _ in range(50)]
    with roost.Roost(i.broker_url(), timeout_ms=30000) as d:
        d.add(vecs, texts=["v%d" % n for n in range(50)], ack="visible")
        res = d.search([vecs[n % 50] for n in range(1024)], k=1)
        assert [hits[0].text for hits in res] == ["v%d" % (n % 50) for n in range(1024)]
        assert d.search([vecs[7]], k=1)[0][0].text == "v7"

    # Without target, it says what is missing rather than failing to connect.
    with pytest.raises(roost.RoostError) as e:
        roost.Roost.from_texts(TWEETS, Embeddings())
    assert e.value.code == roost.EINVAL and "from_texts needs target=" in e.value.message


def test_stable_client_id_makes_a_rerun_store_nothing_twice(inst):
    """Two loads with one client id and the same numbering: the rerun gets
    the newest batch's original ids back and ESEQ (stored before) for the
    older ones; nothing is stored twice."""
    vecs = [embed(t) for t in TWEETS]
    with roost.Roost(inst.broker_url(), client_id=(1 << 64) - 5, ack="visible") as first:
        assert first.client_id == (1 << 64) - 5
        ids = [first.add([v], [t]) for v, t in zip(vecs[:3], TWEETS[:3])]
    with roost.Roost(inst.broker_url(), client_id=(1 << 64) - 5, ack="visible") as again:
        for seq in (1, 2):
            again.set_client_id((1 << 64) - 5, seq)
            with pytest.raises(roost.RoostError) as e:
                again.add([vecs[seq - 1]], [TWEETS[seq - 1]])
            assert e.value.code == roost.ESEQ
        again.set_client_id((1 << 64) - 5, 3)
        assert again.add([vecs[2]], [TWEETS[2]]) == ids[2]
        assert again.add([vecs[3]], [TWEETS[3]]) != ids[2]  # seq 4: a new batch
        for bad in (0, -1, 1 << 64):
            with pytest.raises(roost.RoostError):
                again.set_client_id(bad)
        assert again.status()["documents"] == 4


def test_docs_python_session(inst, monkeypatch):
    """docs/python.md's `>>>` session, run against a new instance named as
    the document's ("sim"), every output as shown."""
    monkeypatch.setenv("XDG_RUNTIME_DIR", inst.env["XDG_RUNTIME_DIR"])
    with open(os.path.join(ROOT, "docs", "python.md")) as f:
        sessions = [b for b in re.findall(r"^```python\n(.*?)^```", f.read(), re.M | re.S)
                    if ">>> " in b]
    assert sessions
    text = "\n".join(sessions).replace('Roost("sim"', 'Roost("%s"' % inst.name)
    test = doctest.DocTestParser().get_doctest(text, {}, "docs/python.md", "docs/python.md", 0)
    runner = doctest.DocTestRunner(optionflags=doctest.NORMALIZE_WHITESPACE)
    report = []
    runner.run(test, out=report.append)
    assert runner.failures == 0, "".join(report)


def test_collections(db):
    """Create, use, list and drop collections; each has its own dimension
    and metric, and errors name what is wrong."""
    c = db.create_collection("articles", dim=3, metric="ip", index="HNSW16")
    assert (c["name"], c["dim"], c["metric"], c["index"], c["existed"]) == \
        ("articles", 3, "ip", "HNSW16", False)
    assert db.create_collection("articles", dim=3, metric="ip", index="HNSW16")["existed"]
    with pytest.raises(roost.RoostError) as e:
        db.create_collection("articles", dim=4)
    assert e.value.code == -5 and "other settings" in e.value.message
    with pytest.raises(roost.RoostError) as e:
        db.create_collection("no spaces", dim=4)
    assert e.value.code == roost.EINVAL and "collection name" in e.value.message
    with roost.Roost(db.target, collection="articles", timeout_ms=20000) as a:
        ids = a.add([[0.0, 0.6, 0.8]], texts=["on rain"])
        hits = a.search([[0.0, 0.0, 1.0]], k=1, min_lsn=a.last_lsn)[0]
        assert [h.id for h in hits] == ids and hits[0].text == "on rain"
        assert a.status()["collection"] == "articles" and a.status()["dim"] == 3
    # Counts follow what is published: "visible" waits for that, "durable"
    # only for the log.
    db.add([[1.0] * DIM], texts=["in default"], ack="visible")
    listed = {x["name"]: x for x in db.collections()}
    assert sorted(listed) == ["articles", "default"]
    assert listed["articles"]["documents"] == 1 and listed["default"]["documents"] == 1
    db.use("articles")
    with pytest.raises(roost.RoostError) as e:
        db.add([[1.0] * DIM])
    assert e.value.code == roost.EDIM
    db.drop_collection("articles")
    with pytest.raises(roost.RoostError) as e:
        db.search([[0.0, 0.0, 1.0]], k=1)
    assert e.value.code == -27 and "articles" in e.value.message
    with pytest.raises(roost.RoostError) as e:
        db.drop_collection("articles")
    assert e.value.code == -27
    with pytest.raises(roost.RoostError) as e:
        db.use("bad name")
    assert e.value.code == roost.EINVAL and db.collection == "articles"
    db.use(None)
    assert [x["name"] for x in db.collections()] == ["default"]


def test_collection_indexed_keys(db):
    """Indexed keys go as a list and come back as one, in the create's
    answer and in the listing; another list for the name is refused, and a
    bad one, on either side, creates nothing."""
    c = db.create_collection("tagged", dim=3, indexed_keys=["user", "topic"])
    assert c["indexed_keys"] == ["user", "topic"] and not c["existed"]
    assert db.create_collection("tagged", dim=3, indexed_keys=("user", "topic"))["existed"]
    listed = {x["name"]: x for x in db.collections()}
    assert listed["tagged"]["indexed_keys"] == ["user", "topic"]
    assert listed["default"]["indexed_keys"] == []
    with pytest.raises(roost.RoostError) as e:
        db.create_collection("tagged", dim=3, indexed_keys=["user"])
    assert e.value.code == -5 and "indexed keys user,topic" in e.value.message
    for bad, why in ((["a", "a"], "name a key twice"), (["bad key"], "must each be"),
                     (["k%d" % i for i in range(9)], "more than 8"), ("user", "a list of str"),
                     ([""], "is not a key"), (["a,b"], "is not a key"), ([7], "is not a key")):
        with pytest.raises(roost.RoostError) as e:
            db.create_collection("bad", dim=3, indexed_keys=bad)
        assert e.value.code == roost.EINVAL and why in e.value.message, (bad, e.value.message)
    assert sorted(x["name"] for x in db.collections()) == ["default", "tagged"]
