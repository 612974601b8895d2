"""Altering a collection online: the writer rebuilds its sealed segments'
indexes in the background with the new settings (writer/rebuild.h), while
every document stays searchable, across restarts and kill -9 at each step
of a rebuild. The alter itself travels as a collection record; these tests
send it through a broker and check the data directory and the readers."""
import os
import signal

import pytest

from conftest import read_manifest, wait_for, wait_segments

DIM = 8
SEAL = 4096  # the smallest seal size
EINVAL = -1
FLAT_HEADER = 37  # bytes of a Flat segment's index file


def vec(i):
    """A vector of its own per document: document i is its own nearest."""
    return [float((i * (j + 3)) % 97) + 0.01 * i for j in range(DIM)]


def fill(inst, name, lo, hi):
    import wire
    for start in range(lo, hi, 1024):
        docs = [wire.document(vec(i), agent=1, text="d%d" % i)
                for i in range(start, min(hi, start + 1024))]
        r = inst.call(wire.add_request(DIM, docs, 0xF1, start + 1, ack=3, collection=name))
        assert r["status"] == 0, r


def own_hits(inst, name, ids):
    """The text of each document's own nearest neighbour. A wide HNSW
    search: whether a document is kept is the question here, not the
    recall of a graph whose build order FAISS's threads decide."""
    r = inst.search([vec(i) for i in ids], k=1, collection=name, ef_search=1024)
    assert r["status"] == 0, r
    return [res[0]["text"] if res else None for res in r["results"]]


def settled(inst, name, timeout=120):
    wait_for(lambda: inst.collections()[name]["rebuilding"] == 0, timeout,
             "the rebuild of %s" % name)


def index_files(data, coll):
    m = read_manifest(data)
    segs = [s for s in m["segments"] if s["coll"] == coll]
    return m, segs, sorted(f for f in os.listdir(data) if f.endswith(".index")
                           and f.startswith("seg-c%08x-" % coll))


@pytest.fixture
def inst(make_instance):
    return make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL),
                                               "--seal-interval-ms", "0"]).serve()


def test_an_alter_rebuilds_every_segment_and_readers_follow(inst):
    r = inst.create("posts", dim=DIM, seal_docs=SEAL)
    assert r["status"] == 0, r
    n = 3 * SEAL + 100
    fill(inst, "posts", 0, n)
    wait_segments(inst, 3, "posts")
    probe = list(range(0, n, 97))
    before = own_hits(inst, "posts", probe)
    assert before == ["d%d" % i for i in probe]
    coll = inst.collections()["posts"]["id"]
    # A Flat segment's index file is FAISS's header alone: its vectors are
    # the documents file's (store/flatidx.h).
    _, segs, files = index_files(inst.data, coll)
    assert len(files) == len(segs) == 3
    assert all(os.path.getsize(os.path.join(inst.data, f)) == FLAT_HEADER for f in files)

    r = inst.alter("posts", index="HNSW16")
    assert r["status"] == 0, r
    assert r["collection"]["index"] == "HNSW16"
    # Searches keep answering while the rebuild runs, and after it.
    assert own_hits(inst, "posts", probe) == before
    settled(inst, "posts")
    assert inst.collections()["posts"]["index"] == "HNSW16"
    m, segs, files = index_files(inst.data, coll)
    assert m["collections"]["posts"]["index_gen"] == 1
    assert segs and all(s["index_gen"] == 1 for s in segs), segs
    # One index file per segment, each of the new generation: the old
    # ones went once the manifest named the new.
    assert len(files) == len(segs) and all(".00000001.index" in f for f in files), files
    # HNSW's files hold their vectors, and a graph.
    assert sum(os.path.getsize(os.path.join(inst.data, f)) for f in files) > \
        sum(s["count"] for s in segs) * DIM * 4
    log = inst.read_log(inst.logs[0])
    assert log.count("rebuilt the index of segment") >= 3, log[-3000:]
    wait_for(lambda: own_hits(inst, "posts", probe) == before, 60, "the reader on HNSW16")

    # New seals use the new settings; a restart keeps everything.
    fill(inst, "posts", n, n + SEAL)
    wait_for(lambda: inst.collections()["posts"]["segments"] >= 4, 60, "a new seal")
    inst.kill(inst.writer)
    inst.start_writer()
    m, segs, _ = index_files(inst.data, coll)
    assert all(s["index_gen"] == 1 for s in segs), segs
    probe2 = probe + list(range(n, n + SEAL, 211))
    wait_for(lambda: own_hits(inst, "posts", probe2) == ["d%d" % i for i in probe2], 60,
             "every document after the restart")


def test_a_retrain_trains_on_a_sample_of_every_segment(inst):
    r = inst.create("ivf", dim=DIM, index="IVF4,Flat", train_docs=SEAL, seal_docs=SEAL)
    assert r["status"] == 0, r
    n = 3 * SEAL
    fill(inst, "ivf", 0, n + 10)
    wait_segments(inst, 3, "ivf")
    coll = inst.collections()["ivf"]["id"]
    trained = read_manifest(inst.data)["collections"]["ivf"]["trained_gen"]
    assert trained

    # The same index: a retrain, on up to 2 * SEAL vectors of the three segments.
    r = inst.alter("ivf", train_docs=2 * SEAL)
    assert r["status"] == 0, r
    assert r["collection"]["train_docs"] == 2 * SEAL
    assert r["collection"]["index"] == "IVF4,Flat"
    settled(inst, "ivf")
    m, segs, files = index_files(inst.data, coll)
    assert m["collections"]["ivf"]["trained_gen"] not in (0, trained)
    assert all(s["index_gen"] == 1 for s in segs) and len(files) == len(segs)
    log = inst.read_log(inst.logs[0])
    assert "training IVF4,Flat on %d vectors sampled from 3 segments" % (2 * SEAL) in log, \
        log[-3000:]
    # The old trained index goes with the sweep: only the new one is left.
    wait_for(lambda: [f for f in os.listdir(inst.data) if f.startswith("trained-c%08x-" % coll)]
             == ["trained-c%08x-%016x.index" % (coll, m["collections"]["ivf"]["trained_gen"])],
             60, "the old trained file swept")
    probe = list(range(0, n, 101))
    wait_for(lambda: own_hits(inst, "ivf", probe) == ["d%d" % i for i in probe], 60,
             "every document through the retrained index")


def test_an_alter_of_an_untrained_type_waits_for_its_training(inst):
    """Flat to IVF: merges wait (they would need the training), the
    background job trains from the segments, and the tail, until then
    untrained, gets its index from that training."""
    r = inst.create("flat", dim=DIM, seal_docs=SEAL)
    assert r["status"] == 0, r
    fill(inst, "flat", 0, 2 * SEAL + 5)
    wait_segments(inst, 2, "flat")
    r = inst.alter("flat", index="IVF2,Flat", train_docs=SEAL)
    assert r["status"] == 0, r
    settled(inst, "flat")
    m = read_manifest(inst.data)
    assert m["collections"]["flat"]["trained_gen"]
    probe = list(range(0, 2 * SEAL + 5, 89))
    wait_for(lambda: own_hits(inst, "flat", probe) == ["d%d" % i for i in probe], 60,
             "every document")
    fill(inst, "flat", 2 * SEAL + 5, 3 * SEAL + 5)
    wait_for(lambda: inst.collections()["flat"]["segments"] >= 3, 60, "a seal with IVF")
    m = read_manifest(inst.data)
    assert all(s["index_gen"] == 1 for s in m["segments"]
               if s["coll"] == inst.collections()["flat"]["id"])


def test_alter_errors_change_nothing(inst):
    assert inst.create("c", dim=DIM)["status"] == 0
    r = inst.alter("c", index="NoSuchIndex")
    assert r["status"] != 0 and "FAISS" in r["message"], r
    r = inst.alter("missing", index="Flat")
    assert r["status"] != 0 and "missing" in r["message"], r
    assert inst.collections()["c"]["index"] == "Flat"
    assert read_manifest(inst.data)["collections"]["c"]["index_gen"] == 0


# Factory strings FAISS 1.7.3 takes that killed the writer (SIGSEGV or
# SIGFPE in the check, at the first add or at the first training; HNSW1's
# graph grows until memory runs out) or stalled it for good (an NSG takes
# one add; PCA64 cannot project 8 dimensions to 64), before the writer took
# only the types it runs and tests from clients.
REFUSED = ["IVF0,Flat", "HNSW0", "HNSW1", "IVF4,PQ0", "IVF4,PQ8x0", "IVF4_HNSW0,Flat",
           "OPQ0,IVF4,PQ2", "IVF4,PQ2x99", "IVF4_NSG1,Flat", "IVF64_NSG32,Flat", "NSG32",
           "PCA64,Flat", "ZnLattice2x4_4", "IVF4(HNSW1),Flat"]


def test_index_strings_that_would_crash_or_stall_the_writer_are_refused(inst):
    """Neither a create nor an alter may take the writer down: each is
    refused, saying why, and the writer serves on; so is a training size
    below what the type's k-means needs."""
    assert inst.create("c", dim=DIM)["status"] == 0
    for index in REFUSED:
        for r in (inst.create("n", dim=DIM, index=index), inst.alter("c", index=index)):
            assert r["status"] == EINVAL and "refused" in r["message"], (index, r)
        assert inst.writer.poll() is None, (index, inst.read_log(inst.logs[0])[-2000:])
    r = inst.alter("c", index="IVF64,Flat", train_docs=63)
    assert r["status"] == EINVAL and "at least 64 vectors" in r["message"], r
    assert sorted(inst.collections()) == ["c", "default"]
    assert inst.collections()["c"]["index"] == "Flat"
    assert read_manifest(inst.data)["collections"]["c"]["index_gen"] == 0
    # What roost takes still goes through, and serves.
    for index in ("IVF4,PQ2x4", "HNSW2", "IVF1,Flat"):
        assert inst.alter("c", index=index)["status"] == 0, index
    fill(inst, "c", 0, 300)
    assert inst.writer.poll() is None


@pytest.mark.parametrize("point", ["rebuild-built", "rebuild-before-manifest",
                                   "rebuild-after-manifest", "coll-before-manifest"])
def test_kill9_during_a_rebuild_loses_nothing(inst, point):
    """A writer killed at each step of a rebuild (and right after applying
    the alter) restarts, finishes the rebuild, and keeps every document:
    each segment always has one index file that a manifest names."""
    assert inst.create("k", dim=DIM, seal_docs=SEAL)["status"] == 0
    n = 2 * SEAL + 7
    fill(inst, "k", 0, n)
    wait_segments(inst, 2, "k")
    coll = inst.collections()["k"]["id"]
    inst.kill(inst.writer)
    p = inst._spawn("writer", inst.writer_argv(), env={"ROOST_TEST_KILL_AT": point})
    inst.writer = p
    # One alter: more would abandon the rebuilds in flight (each alter
    # makes them stale) and might keep them from the point. Before the
    # manifest has it, the writer dies unanswered.
    try:
        inst.alter("k", index="HNSW8")
    except (TimeoutError, OSError):
        pass
    assert p.wait(timeout=60) == -signal.SIGKILL
    assert "kill point %s reached" % point in inst.read_log(inst.logs[-1])
    inst.start_writer()
    # The alter was logged before the kill: the restart applies it and
    # finishes the rebuild.
    wait_for(lambda: inst.collections()["k"]["index"] == "HNSW8", 60, "the alter")
    settled(inst, "k")
    m, segs, files = index_files(inst.data, coll)
    assert all(s["index_gen"] == m["collections"]["k"]["index_gen"] for s in segs), segs
    # The 7 rows of the tail are sealed too when the alter found them
    # indexed with the old settings (replayed before it, after a kill at
    # coll-before-manifest).
    assert sum(s["count"] for s in segs) in (2 * SEAL, n)
    assert len(files) == len(segs), files  # no index file left over
    probe = list(range(0, n, 53))
    wait_for(lambda: own_hits(inst, "k", probe) == ["d%d" % i for i in probe], 60,
             "every document after the restart")
    texts = [d for d in inst.dump("k")]
    assert len(texts) == n
