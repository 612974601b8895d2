"""The search path with real processes: readers, generations, min_lsn."""
import os
import random
import sys
import threading
import time

import pytest

import agentdata
import wire
from conftest import (BUILD, ROOT, Threads, check_exactly_once, collect_all, read_manifest,
                      sealed_end, shm_dir, shm_objects, wait_for, wait_segments)

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost as pyroost  # noqa: E402

DIM = 16
SANITIZED = "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ


def rvec(rnd):
    return [rnd.uniform(-1, 1) for _ in range(DIM)]


def l2(a, b):
    return sum((x - y) ** 2 for x, y in zip(a, b))


def add(inst, client_id, seq, docs, ack=2, broker=0, collection=""):
    frame = wire.add_request(DIM, [wire.document(v, agent=a, time=t, kind=k, text=x)
                                   for v, a, t, k, x in docs], client_id, seq, ack=ack,
                             collection=collection)
    c = inst.client(broker)
    try:
        r = c.call(frame)
    finally:
        c.close()
    assert r["status"] == 0, r
    return r["add"]


def own_vector_found(inst, acked):
    """Every acked document is the k=1 hit of its own vector, with its fields."""
    items = [agentdata.parse_ack(f) for f in acked.values()]
    for start in range(0, len(items), 256):
        chunk = items[start:start + 256]
        queries = [agentdata.vector(a, req, i, DIM) for _, a, _, req, i in chunk]
        r = inst.search(queries, k=1)
        assert r["status"] == 0, r
        for (doc_id, agent, t, req, i), hits in zip(chunk, r["results"]):
            assert hits and hits[0]["id"] == doc_id, (doc_id, hits)
            h = hits[0]
            assert (h["agent"], h["time"], h["kind"]) == (agent, t, "tweet")
            assert h["text"] == "agent %d post %d.%d" % (agent, req, i)
            assert h["score"] < 1e-4  # FAISS computes L2 through norms


def test_concurrent_adds_and_searches_find_every_doc(make_instance):
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_broker(1)
    inst.start_reader()
    inst.start_reader()
    stop = threading.Event()
    failures, answered = [], []

    def searcher(seed):
        rnd = random.Random(seed)
        while not stop.is_set():
            r = inst.search([rvec(rnd)], k=5, broker=seed % 2)
            (answered if r["status"] == 0 else failures).append(r)

    threads = Threads()
    for s in range(4):
        threads.start(searcher, s)
    agents = [inst.agent(a, requests=20, batch=(1, 50)) for a in range(8)]
    acked = {}
    try:
        for p in agents:
            acked.update(collect_all(p))
    finally:
        stop.set()
        threads.join()
    assert not failures, failures[:3]
    assert len(answered) >= 4, "the searches did not run: %d answered" % len(answered)
    wait_for(lambda: sealed_end(inst) > 0, 60, "a segment of the load")
    own_vector_found(inst, acked)


def test_read_your_writes_under_load(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    load = [inst.agent(a, requests=30, batch=(20, 50), ack="queued") for a in range(4)]
    rnd = random.Random(7)
    for seq in range(1, 31):
        v = rvec(rnd)
        res = add(inst, 4242, seq, [(v, 42, seq, "mine", "post %d" % seq)])
        r = inst.search([v], k=1, min_lsn=res["lsn"])
        assert r["status"] == 0, r
        assert r["lsn"] > res["lsn"]
        assert r["results"][0][0]["id"] == res["ids"][0]
    for p in load:
        collect_all(p)


def test_min_lsn_not_visible_is_an_explicit_error(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    far = inst.status()["ring_reserve"] + 10 ** 9
    t0 = time.monotonic()
    r = inst.search([[0.0] * DIM], k=1, min_lsn=far, timeout_ms=300)
    assert r["status"] == -19, r
    assert "not visible" in r["message"]
    assert time.monotonic() - t0 < 5


def test_search_checks_every_field(make_instance):
    """filter.kind is held to an add's rules (length, UTF-8, no NUL), and a
    timeout of 4294967295 ms is the reader's longest wait, not -1 ms."""
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    inst.start_reader(["--max-wait-ms", "300"])
    q = [[0.0] * DIM]
    for kind, status, text in (("k" * 24, -12, "filter.kind is 24 bytes"),
                               (b"tw\xc0\x80t", -13, "filter.kind is not valid UTF-8"),
                               ("news\0x", -1, "search.filter.kind holds a NUL byte")):
        r = inst.search(q, k=1, kind=kind)
        assert r["status"] == status and text in r["message"], r
    far = inst.status()["ring_reserve"] + 10 ** 9
    r = inst.search(q, k=1, min_lsn=far, timeout_ms=(1 << 32) - 1)
    assert r["status"] == -19, r
    assert "not visible within 300 ms" in r["message"], r


FILTER_DOCS = 6000


def serving(make_instance, index, writer_args, dim=DIM, reader_args=()):
    """A test's instance, its writer, a broker and a reader started."""
    inst = make_instance(dim=dim, index=index, writer_args=writer_args)
    inst.start_writer()
    inst.start_broker()
    inst.start_reader(list(reader_args))
    return inst


def started(index, writer_args):
    """A new instance with a writer, a broker and a reader, for a module's
    fixture (make_instance's last only as long as a test)."""
    from conftest import Instance
    inst = Instance(dim=DIM, index=index, writer_args=writer_args)
    try:
        inst.start_writer()
        inst.start_broker()
        inst.start_reader()
    except BaseException:
        inst.stop()
        raise
    return inst


def add_all(inst, client_id, docs, batch, collection=""):
    """Adds docs in batches of batch, acknowledged visible; {id: doc}."""
    ids = []
    for seq, start in enumerate(range(0, len(docs), batch), 1):
        ids += add(inst, client_id, seq, docs[start:start + batch], ack=3,
                   collection=collection)["ids"]
    return dict(zip(ids, docs))


@pytest.fixture(scope="module")
def filtered():
    """One instance with sealed segments and a tail, several agents, kinds
    and times; shared by the filter tests."""
    rnd = random.Random(11)
    docs = []
    for n in range(FILTER_DOCS):
        docs.append((rvec(rnd), n % 13, n, "tweet" if n % 3 else "article", "d%d" % n))
    out = {}
    for index in ("Flat", "HNSW32"):
        inst = started(index, ["--seal-docs", "4096"])
        out[index] = (inst, add_all(inst, 99, docs, 500))
        wait_segments(inst, 1)  # 4000 rows; 2000 in the tail
    yield out
    for inst, _ in out.values():
        inst.stop()


def brute_force(docs, q, k, pred):
    scored = sorted((l2(q, d[0]), i) for i, d in docs.items() if pred(d))
    return [i for _, i in scored[:k]]


FILTERS = {
    "agent": (dict(agents=[5]), lambda d: d[1] == 5),
    "agents": (dict(agents=[1, 2]), lambda d: d[1] in (1, 2)),
    "time": (dict(time_range=(1000, 1400)), lambda d: 1000 <= d[2] <= 1400),
    "kind": (dict(kind="article"), lambda d: d[3] == "article"),
    "all three": (dict(agents=[4], time_range=(0, 5000), kind="tweet"),
                  lambda d: d[1] == 4 and d[2] <= 5000 and d[3] == "tweet"),
    "selective": (dict(agents=[7], time_range=(5900, 5999)),
                  lambda d: d[1] == 7 and d[2] >= 5900),
}


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filters_exact_index_match_brute_force(filtered, name):
    inst, docs = filtered["Flat"]
    kw, pred = FILTERS[name]
    rnd = random.Random(name)
    for _ in range(5):
        q = rvec(rnd)
        r = inst.search([q], k=10, **kw)
        assert r["status"] == 0, r
        got = [h["id"] for h in r["results"][0]]
        assert got == brute_force(docs, q, 10, pred)


@pytest.mark.parametrize("name", sorted(FILTERS))
def test_filters_inside_hnsw_search_return_k_matches(filtered, name):
    inst, docs = filtered["HNSW32"]
    kw, pred = FILTERS[name]
    matching = sum(1 for d in docs.values() if pred(d))
    q = rvec(random.Random(name))
    r = inst.search([q], k=10, **kw)
    assert r["status"] == 0, r
    hits = r["results"][0]
    assert len(hits) == min(10, matching)
    assert all(pred(docs[h["id"]]) for h in hits)


INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1


@pytest.mark.parametrize("index", ["Flat", "HNSW32"])
def test_time_range_bounds_are_inclusive(filtered, index):
    """time_min and time_max are both inclusive, in sealed segments and in
    the tail: for every range whose ends sit one below, at or one above a
    document's time, exactly the documents inside it are found. The times
    probed lie inside a segment, inside the tail, and either side of the
    seal (documents were added in time order, time = position). So narrow
    a filter leaves few rows, which HNSW segments scan exactly too."""
    inst, docs = filtered[index]
    by_time = {d[2]: i for i, d in docs.items()}
    end = sealed_end(inst)
    last_sealed = max(d[2] for i, d in docs.items() if i < end)
    assert 1000 < last_sealed < 5000 and by_time[last_sealed + 1] >= end, end

    def found(lo, hi):
        want = sorted(i for t, i in by_time.items() if lo <= t <= hi)
        near = sorted({0} | {t for t in (lo - 1, lo, lo + 1, hi - 1, hi, hi + 1) if t in by_time})
        r = inst.search([docs[by_time[t]][0] for t in near], k=10, time_range=(lo, hi),
                        ef_search=4096)
        assert r["status"] == 0, r
        for t, hits in zip(near, r["results"]):
            got = sorted(h["id"] for h in hits)
            assert got == want, (index, lo, hi, t, got, want)

    for b in (1000, last_sealed, last_sealed + 1, 5000):
        for lo in (b - 1, b, b + 1):
            for hi in (b - 1, b, b + 1):
                found(lo, hi)
    # Ends at the limits of int64 (what an open bound means) and past them.
    for lo, hi in ((INT64_MIN, 0), (INT64_MIN, -1), (FILTER_DOCS - 1, INT64_MAX),
                   (FILTER_DOCS, INT64_MAX), (INT64_MAX, INT64_MAX), (INT64_MIN, INT64_MIN)):
        found(lo, hi)


def test_batched_queries_and_k_limits(filtered):
    inst, docs = filtered["Flat"]
    rnd = random.Random(3)
    qs = [rvec(rnd) for _ in range(20)]
    r = inst.search(qs, k=1024)
    assert r["status"] == 0 and len(r["results"]) == 20
    assert all(len(h) == 1024 for h in r["results"])
    for q, hits in zip(qs[:3], r["results"]):
        assert [h["id"] for h in hits[:10]] == brute_force(docs, q, 10, lambda d: True)
    assert inst.search([qs[0]], k=1025)["status"] == -1
    assert inst.search([qs[0]], k=0)["status"] == -1
    c = inst.client()
    bad = c.call(wire.search_request(DIM + 1, [[0.0] * (DIM + 1)], 3))
    assert bad["status"] == -10


def nearest_found(inst, docs, queries, k, **tuning):
    """How many of the queries' exact k nearest the search returns."""
    r = inst.search(queries, k=k, **tuning)
    assert r["status"] == 0, r
    return sum(len(set(h["id"] for h in hits) & set(brute_force(docs, q, k, lambda d: True)))
               for q, hits in zip(queries, r["results"]))


def ids_found(inst, queries, k, **tuning):
    r = inst.search(queries, k=k, **tuning)
    assert r["status"] == 0, r
    return [[h["id"] for h in hits] for hits in r["results"]]


def test_nprobe_reaches_ivf_segments(make_instance):
    """nprobe = nlist makes an IVF segment exact; one list (FAISS's own
    default) misses neighbours in lists it does not visit; nprobe 0 is
    the reader's default, nlist/64 but at least 8: 8 of these 32."""
    inst = serving(make_instance, "IVF32,Flat", ["--seal-docs", "4096", "--train-docs", "2048"])
    rnd = random.Random(21)
    docs = [(rvec(rnd), 1, n, "tweet", "d%d" % n) for n in range(6000)]
    ids = []
    for seq, start in enumerate(range(0, len(docs), 500), 1):
        ids += add(inst, 98, seq, docs[start:start + 500], ack=3)["ids"]
    docs = dict(zip(ids, docs))
    assert any(f.startswith("seg-") for f in os.listdir(inst.data))
    queries = [rvec(rnd) for _ in range(20)]
    assert nearest_found(inst, docs, queries, 10, nprobe=32) == 20 * 10
    one = nearest_found(inst, docs, queries, 10, nprobe=1)
    assert one < nearest_found(inst, docs, queries, 10) < 20 * 10
    assert ids_found(inst, queries, 10) == ids_found(inst, queries, 10, nprobe=8)
    assert ids_found(inst, queries, 10) != ids_found(inst, queries, 10, nprobe=1)


def test_an_untrained_tail_the_next_batch_overflows_trains_on_what_it_holds(make_instance):
    """Training waits for --train-docs rows, but a tail that the next batch
    does not fit must be sealed before it: it trains on the rows it holds,
    instead of stalling the writer for good. Batches of 1000 leave 4000
    rows in a tail of 4096."""
    inst = serving(make_instance, "IVF16,Flat", ["--seal-docs", "4096", "--train-docs", "4096",
                                                 "--seal-interval-ms", "0"])
    rnd = random.Random(23)
    vecs = [rvec(rnd) for _ in range(5000)]
    with pyroost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        for at in range(0, len(vecs), 1000):
            db.add(vecs[at:at + 1000], texts=["v%d" % i for i in range(at, at + 1000)],
                   ack="visible")
        wait_segments(inst, 1)
        for i in (0, 3999, 4000, 4999):
            hit = db.search([vecs[i]], k=1, min_lsn=db.last_lsn)[0][0]
            assert hit.text == "v%d" % i
    assert "training IVF16,Flat on 4000 vectors" in inst.all_logs()


def test_the_first_tail_gathers_more_training_vectors_than_a_segment_holds(make_instance):
    """Small seals keep the exact scan short, but an IVF index wants more
    vectors than a small segment holds: until trained, the tail grows to
    --train-docs; later tails hold --seal-docs. Batches of 512: 16 fill
    the first tail (8192), the 17th freezes it; 8 more fill the second."""
    inst = serving(make_instance, "IVF16,Flat", ["--seal-docs", "4096", "--train-docs", "8192",
                                                 "--seal-interval-ms", "0"])
    rnd = random.Random(24)
    vecs = [rvec(rnd) for _ in range(25 * 512)]
    with pyroost.Roost(inst.broker_url(), timeout_ms=30000, nprobe=16) as db:
        for at in range(0, 16 * 512, 512):
            db.add(vecs[at:at + 512], texts=["v%d" % i for i in range(at, at + 512)],
                   ack="visible")
        assert inst.collections()["default"]["segments"] == 0
        for at in range(16 * 512, len(vecs), 512):
            db.add(vecs[at:at + 512], texts=["v%d" % i for i in range(at, at + 512)],
                   ack="visible")
        wait_segments(inst, 2)
        for i in (0, 8191, 8192, 12287, 12288, len(vecs) - 1):
            hit = db.search([vecs[i]], k=1, min_lsn=db.last_lsn)[0][0]
            assert hit.text == "v%d" % i
    assert [s["count"] for s in read_manifest(inst.data, inst.name)["segments"]] == [8192, 4096]
    assert "training IVF16,Flat on 8192 vectors" in inst.all_logs()


def test_ef_search_reaches_hnsw_segments(filtered):
    """A greedy walk (ef_search 1, k 1) misses nearest neighbours that a
    wide one (ef_search 4096, as many as the segment's documents) finds;
    ef_search 0 is the reader's default, 64."""
    inst, docs = filtered["HNSW32"]
    rnd = random.Random(22)
    queries = [rvec(rnd) for _ in range(50)]
    wide = nearest_found(inst, docs, queries, 1, ef_search=4096)
    assert wide >= 49
    assert nearest_found(inst, docs, queries, 1, ef_search=1) < wide
    for k in (1, 10):
        assert ids_found(inst, queries, k) == ids_found(inst, queries, k, ef_search=64)
    assert ids_found(inst, queries, 1) != ids_found(inst, queries, 1, ef_search=1)


def test_ef_search_widens_the_walk_past_the_default(make_instance):
    """A request's ef_search sizes the walk's candidate queue (FAISS 1.7.3's
    own walk takes the size from the index's efSearch, 64 in a reader, and
    only stops later, so a wider one found no more). Uniform vectors of 64
    dimensions: ef_search 4096, a segment's size, walks to every true
    neighbour; FAISS's own walk, its queue held at 64, misses some (about
    2%, as the default does)."""
    dim = 64
    inst = serving(make_instance, "HNSW32", ["--seal-docs", "4096", "--seal-interval-ms", "0"],
                   dim=dim)
    rnd = random.Random(25)
    vecs = [[rnd.random() for _ in range(dim)] for _ in range(8192)]
    queries = [[rnd.random() for _ in range(dim)] for _ in range(20)]
    with pyroost.Roost(inst.broker_url(), timeout_ms=60000) as db:
        ids = []
        for at in range(0, len(vecs), 1024):
            ids += db.add(vecs[at:at + 1024], ack="visible")
        db.add([[10.0] * dim], ack="visible")  # far away; the tail it opens seals the rest
        wait_for(lambda: segments_of(inst) == 2, 60, "the seals")
        truth = [set(ids[i] for i in sorted(range(len(vecs)), key=lambda i: l2(q, vecs[i]))[:10])
                 for q in queries]

        def found(ef):
            db.set_search_tuning(ef_search=ef)
            hits = db.search(queries, k=10, min_lsn=db.last_lsn)
            return sum(len({h.id for h in got} & t) for got, t in zip(hits, truth))
        wide = found(4096)
    assert wide == 20 * 10, wide


def test_search_tuning_limits(filtered):
    inst, _ = filtered["Flat"]
    q = rvec(random.Random(23))
    for bad in (dict(nprobe=65537), dict(ef_search=65537)):
        r = inst.search([q], k=1, **bad)
        assert r["status"] == -1 and "nprobe and ef_search" in r["message"], r
    # Flat indexes have nothing to tune: accepted, same answer.
    assert inst.search([q], k=5, nprobe=3, ef_search=3)["results"] == \
        inst.search([q], k=5)["results"]


def test_kill_reader_during_searches_fails_over(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    r1 = inst.start_reader()
    inst.start_reader()
    add(inst, 5, 1, [(rvec(random.Random(i)), 1, i, "t", "x") for i in range(50)])
    results, stop = [], threading.Event()

    def searcher(seed):
        rnd = random.Random(seed)
        while not stop.is_set():
            t0 = time.monotonic()
            r = inst.search([rvec(rnd)], k=3, client_timeout_ms=20000)
            results.append((r["status"], time.monotonic() - t0))

    threads = Threads()
    for s in range(4):
        threads.start(searcher, s)
    try:
        wait_for(lambda: len(results) > 20, 30, "searches to run")
        inst.kill(r1)
        n = len(results)
        wait_for(lambda: len(results) > n + 40, 60, "searches after the kill")
    finally:
        stop.set()
        threads.join()
    assert all(status == 0 for status, _ in results), [r for r in results if r[0]][:3]
    assert max(d for _, d in results) < 15


def test_reader_started_mid_run_serves_current_data(make_instance):
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096"])
    inst.start_writer()
    inst.start_broker()
    none = inst.search([[0.0] * DIM], k=1, client_timeout_ms=10000)
    assert none["status"] == -26 and "no reader serving" in none["message"]
    acked = collect_all(inst.agent(3, requests=60, batch=(80, 100)))
    inst.start_reader()
    sample = dict(list(acked.items())[::50])
    # The sample spans sealed segments and the tail.
    assert {int(i) < sealed_end(inst) for i in sample} == {True, False}, sealed_end(inst)
    own_vector_found(inst, sample)


def test_readers_keep_serving_through_writer_restart(make_instance):
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096"])
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    before = collect_all(inst.agent(1, requests=60, batch=(80, 100)))
    inst.wait_published(before)  # acked durable: what readers serve once published
    inst.kill(inst.writer)
    sample = dict(list(before.items())[::40])
    assert {int(i) < sealed_end(inst) for i in sample} == {True, False}, sealed_end(inst)
    own_vector_found(inst, sample)
    inst.start_writer()
    after = collect_all(inst.agent(2, requests=5, batch=(10, 20), ack="visible"))
    own_vector_found(inst, after)


def shm_tails(inst):
    return [f for f in shm_objects(inst.run_dir) if f.startswith("tail.")]


def test_old_generations_freed_even_when_a_reader_dies_holding_one(make_instance):
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096"])
    inst.start_writer()
    inst.start_broker()
    r = inst.start_reader()
    first = collect_all(inst.agent(1, requests=30, batch=(80, 100)))
    assert inst.search([[0.0] * DIM], k=1)["status"] == 0
    maps = open("/proc/%d/maps" % r.pid).read()
    assert "/tail." in maps
    inst.kill(r)
    collect_all(inst.agent(2, requests=60, batch=(80, 100)))
    # The tail the dead reader held was sealed: only the current tail
    # exists (once the last frozen one is sealed), every older one was
    # unlinked at its seal.
    assert sealed_end(inst) > max(int(i) for i in first)
    wait_for(lambda: len(shm_tails(inst)) == 1, 60, "the last seal")
    r2 = inst.start_reader()
    assert inst.search([[0.0] * DIM], k=1)["status"] == 0
    mapped = {l.split()[-1] for l in open("/proc/%d/maps" % r2.pid) if "/tail." in l}
    assert len(mapped) == 1


def test_remote_reader_uses_no_shared_memory(make_instance):
    port = 20000 + os.getpid() % 20000
    # No seal on age (0): the tail must still be unsealed at the end,
    # however long a loaded machine takes to get there.
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096", "--seal-interval-ms", "0"],
                         broker_args=["--reader-tcp", "tcp://127.0.0.1:%d" % port])
    inst.start_writer()
    inst.start_broker()
    acked = collect_all(inst.agent(1, requests=60, batch=(80, 100)))
    remote = inst.start_reader(["--remote", "--connect", "tcp://127.0.0.1:%d" % port])
    maps = open("/proc/%d/maps" % remote.pid).read()
    assert "/dev/shm" not in maps and shm_dir(inst.run_dir) not in maps
    sealed = {i: f for i, f in acked.items() if int(i) < sealed_end(inst)}
    assert sealed
    own_vector_found(inst, dict(list(sealed.items())[::40]))
    # Documents still in the tail are not visible remotely until the next
    # seal: an explicit error, not a silent miss. (A timeout_ms of 200
    # leaves 50 ms for the reader's answer to come back, which a loaded
    # machine under ASan once exceeded: the broker gave up first.)
    newest = max(int(i) for i in acked)
    r = inst.search([[0.0] * DIM], k=1, min_lsn=newest, timeout_ms=2000)
    assert r["status"] == -19, r


def test_seal_interval_bounds_remote_staleness_and_compaction_merges(make_instance):
    port = 20000 + (os.getpid() + 7) % 20000
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096",
                                               "--seal-interval-ms", "300"],
                         broker_args=["--reader-tcp", "tcp://127.0.0.1:%d" % port])
    inst.start_writer()
    inst.start_broker()
    inst.start_reader(["--remote", "--connect", "tcp://127.0.0.1:%d" % port])
    acked = {}
    for a in range(6):
        got = collect_all(inst.agent(a, requests=2, batch=(5, 10)))
        acked.update(got)
        newest = max(int(i) for i in got)
        # Sealed once the interval passes, so the remote reader sees it. The
        # bound is the reader's longest wait: a seal syncs several files,
        # which a loaded machine (or a sanitizer build) can make slow.
        r = inst.search([[0.0] * DIM], k=1, min_lsn=newest, timeout_ms=10000)
        assert r["status"] == 0, r
    own_vector_found(inst, acked)
    # Six small seals were merged: fewer segments than seals, same documents.
    log = inst.read_log(inst.logs[0])
    assert log.count("sealed segment") >= 6, log
    assert "compacted" in log
    docs = [f for f in os.listdir(inst.data) if f.endswith(".docs")]
    assert len(docs) < 6
    check_exactly_once(inst, acked)


# -- selective filters on sealed segments ----------------------------------
# One segment of SEL_SEAL documents and a tail. Agent n % 1000 makes
# agents [0], [0..9] and [0..99] match 0.1%, 1% and 10% of the rows; kind
# "far" marks the ~10% whose first coordinate exceeds 0.8, all far from a
# query whose first coordinate is -1. In the segment, 0.1% and 1% (26 and
# 246 rows) are below the reader's exact-scan threshold (reader/search.c),
# 10% (about 2460) is above it: the index is searched, with the exact scan
# of the matching rows when it answers short.
SEL_SEAL, SEL_DOCS = 24576, 26000
SELECTIVITY = {"0.1%": range(1), "1%": range(10), "10%": range(100)}


@pytest.fixture(scope="module")
def selective():
    rnd = random.Random(31)
    docs = []
    for n in range(SEL_DOCS):
        v = rvec(rnd)
        docs.append((v, n % 1000, n, "far" if v[0] > 0.8 else "tweet", "s%d" % n))
    out = {}
    try:
        for index in ("HNSW32", "IVF16,Flat"):
            inst = started(index, ["--seal-docs", str(SEL_SEAL), "--seal-interval-ms", "0",
                                   "--train-docs", "4096"])
            out[index] = (inst, {})
            # Batches of 512: the tail fills up to SEL_SEAL exactly.
            out[index][1].update(add_all(inst, 97, docs, 512))
            wait_segments(inst, 1)
            coll = inst.collections()["default"]
            assert coll["documents"] == SEL_DOCS, coll
            last = list(out[index][1])[SEL_SEAL - 1]
            assert sealed_end(inst) > last, "the segment does not hold its rows"
        # Inner product: a segment of 4096 and a tail, in the HNSW instance.
        inst = out["HNSW32"][0]
        assert inst.create("ip", dim=DIM, metric=1, index="HNSW32", seal_docs=4096)["status"] == 0
        out["ip"] = (inst, add_all(inst, 96, docs[:5000], 512, collection="ip"))
        wait_segments(inst, 1, "ip")
        yield out
    finally:
        for inst in {inst for inst, _ in out.values()}:
            inst.stop()


def nearest_matching(docs, q, pred, dist=l2):
    """(score, id) of every document pred admits, nearest first."""
    return sorted((dist(q, d[0]), i) for i, d in docs.items() if pred(d))


def assert_k_matching(r, docs, k, pred):
    """Each query got min(k, matching) hits, all matching."""
    assert r["status"] == 0, r
    matching = sum(1 for d in docs.values() if pred(d))
    for hits in r["results"]:
        assert len(hits) == min(k, matching), (len(hits), k, matching)
        assert all(pred(docs[h["id"]]) for h in hits)


def assert_exact(hits, ref, sign=1):
    """hits are the nearest of ref ((score, id), nearest first, where
    nearest is the lowest sign * score): the same scores, and each hit no
    farther than the last of them. A tolerance, not id equality, because
    FAISS's float kernels round otherwise than Python's doubles and may
    swap two near ties."""
    k = len(hits)
    assert all(abs(sign * h["score"] - s) < 1e-4 for h, (s, _) in zip(hits, ref)), \
        (hits, ref[:k])
    true = dict((i, s) for s, i in ref)
    assert all(true[h["id"]] <= ref[k - 1][0] + 1e-4 for h in hits)


@pytest.mark.parametrize("index", ["HNSW32", "IVF16,Flat"])
@pytest.mark.parametrize("share", ["0.1%", "1%"])
def test_selective_filter_is_scanned_exactly(selective, index, share):
    """So few rows match that the segment's are scanned, not searched
    through the index: exactly the nearest matching documents come back,
    min(k, matching) of them, for k below and above the match count."""
    inst, docs = selective[index]
    agents = list(SELECTIVITY[share])
    pred = lambda d: d[1] in agents  # noqa: E731
    rnd = random.Random(share + index)
    queries = [rvec(rnd) for _ in range(4)]
    for k in (10, 100):
        r = inst.search(queries, k=k, agents=agents, nprobe=1)
        assert_k_matching(r, docs, k, pred)
        for q, hits in zip(queries, r["results"]):
            assert_exact(hits, nearest_matching(docs, q, pred))


@pytest.mark.parametrize("index", ["HNSW32", "IVF16,Flat"])
def test_filter_of_one_row_in_ten_returns_k(selective, index):
    """Enough rows match that the index is searched (nprobe 1 of 16 lists
    for IVF): k matching hits, and HNSW's are mostly the nearest ones (82%
    measured: its walk filters only what it collects)."""
    inst, docs = selective[index]
    agents = list(SELECTIVITY["10%"])
    pred = lambda d: d[1] in agents  # noqa: E731
    rnd = random.Random(index)
    queries = [rvec(rnd) for _ in range(16)]
    r = inst.search(queries, k=10, agents=agents, nprobe=1)
    assert_k_matching(r, docs, 10, pred)
    if index == "HNSW32":
        found = sum(len({h["id"] for h in hits} &
                        {i for _, i in nearest_matching(docs, q, pred)[:10]})
                    for q, hits in zip(queries, r["results"]))
        assert found >= 0.6 * 10 * len(queries), found


def test_ivf_lists_too_small_for_k_fall_back_to_a_scan(selective):
    """k 1024 with nprobe 1: the one list visited holds about 150 of the
    matching rows, fewer than k, so the segment's matching rows are
    scanned: the exact 1024 nearest."""
    inst, docs = selective["IVF16,Flat"]
    agents = list(SELECTIVITY["10%"])
    pred = lambda d: d[1] in agents  # noqa: E731
    q = rvec(random.Random(41))
    r = inst.search([q], k=1024, agents=agents, nprobe=1)
    assert_k_matching(r, docs, 1024, pred)
    assert_exact(r["results"][0], nearest_matching(docs, q, pred))


def test_hnsw_walk_that_misses_the_matching_rows_falls_back(selective):
    """The rows of kind "far" lie where a walk toward a query at x0 = -1
    never goes, so HNSW, at ef_search 16, collects few or none of them; a
    query at x0 = 1, in the same request, walks among them. Both get the k
    nearest matching documents. (A wider walk, as the default 64, may
    collect k of them, approximate like any HNSW answer.)"""
    inst, docs = selective["HNSW32"]
    pred = lambda d: d[3] == "far"  # noqa: E731
    rnd = random.Random(43)
    queries = [[-1.0] + rvec(rnd)[1:] for _ in range(3)] + [[1.0] + rvec(rnd)[1:]]
    r = inst.search(queries, k=10, kind="far", ef_search=16)
    assert_k_matching(r, docs, 10, pred)
    for q, hits in zip(queries[:3], r["results"]):
        assert_exact(hits, nearest_matching(docs, q, pred))


def test_selective_filter_with_inner_product_is_scanned_exactly(selective):
    """The scan scores as the segment's index does: by inner product,
    highest first, in a collection of metric ip."""
    inst, docs = selective["ip"]
    agents = list(SELECTIVITY["1%"])
    pred = lambda d: d[1] in agents  # noqa: E731
    neg_dot = lambda a, b: -sum(x * y for x, y in zip(a, b))  # noqa: E731
    rnd = random.Random(47)
    queries = [rvec(rnd) for _ in range(4)]
    r = inst.search(queries, k=10, agents=agents, collection="ip")
    assert_k_matching(r, docs, 10, pred)
    for q, hits in zip(queries, r["results"]):
        assert_exact(hits, nearest_matching(docs, q, pred, neg_dot), sign=-1)


def anonymous_kib(pid):
    """The process's private anonymous memory (heap, stacks, its own
    copies), in KiB: what each added reader costs beyond shared pages."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Anonymous:"):
                return int(line.split()[1])
    raise AssertionError("no Anonymous line in smaps_rollup")


@pytest.mark.parametrize("index,share", [("Flat", 0.1), ("IVF64,Flat", 0.1), ("HNSW32", 0.35)])
def test_readers_share_sealed_segments_through_the_page_cache(make_instance, index, share):
    """A reader keeps no copy of a sealed segment's vectors: it maps the
    documents file (and an IVF index's lists) read-only, so the page cache
    holds them once for every reader. Loading 16384 rows of 256 floats
    (16 MiB of vectors) may grow its private memory by a tenth of that
    for Flat and IVF; for HNSW, whose graph each reader reads (about 65
    neighbours of 4 bytes a row, a quarter of a row's 1 KiB), by 35%.
    A reader that read the index files into its heap grows by all of it."""
    dim, rows = 256, 16384
    inst = serving(make_instance, index,
                   ["--seal-docs", "4096", "--seal-interval-ms", "0", "--train-docs", "4096"],
                   dim=dim, reader_args=["--workers", "1"])
    r = inst.readers[0]
    rnd = random.Random(31)
    probe = [rnd.random() for _ in range(dim)]
    with pyroost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        db.add([[rnd.random() for _ in range(dim)]], ack="visible")
        assert len(db.search([probe], k=5, min_lsn=db.last_lsn)[0]) == 1
        before = anonymous_kib(r.pid)
        for at in range(0, rows, 1024):
            db.add([[rnd.random() for _ in range(dim)] for _ in range(1024)], ack="visible")
        wait_for(lambda: segments_of(inst) >= rows // 4096, 60, "the seals")
        assert len(db.search([probe], k=5, min_lsn=db.last_lsn)[0]) == 5
        grown = anonymous_kib(r.pid) - before
    maps = open("/proc/%d/maps" % r.pid).read().splitlines()
    docs = {l.split()[-1] for l in maps if l.endswith(".docs")}
    lists = {l.split()[-1] for l in maps if l.endswith(".index")}
    assert len(docs) == rows // 4096, maps
    assert len(lists) == (rows // 4096 if index.startswith("IVF") else 0), maps
    vectors_kib = rows * dim * 4 // 1024
    # Sanitizer builds keep shadow memory for every byte a process touches
    # (mapped pages too) and hold freed blocks back: there private memory
    # measures the sanitizer, not the reader.
    if not SANITIZED:
        assert grown < share * vectors_kib, (index, grown, vectors_kib)


def segments_of(inst):
    return sum(c["segments"] for c in inst.status()["collections"])
