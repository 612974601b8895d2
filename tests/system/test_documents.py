"""Documents with ids of their own: upserts replace, deletes remove, in the
tail and in sealed segments, across a writer killed with -9 and its
replay, and under concurrent load from several processes. Every check is
against what was acknowledged, with the real binaries."""
import json
import os
import random
import signal
import subprocess
import sys
import threading

import pytest

from conftest import BUILD, ROOT, read_manifest, wait_for

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost  # noqa: E402

DIM = 8
SEAL = 4096  # the smallest seal size: a segment every 4096 rows


def unit(i, scale=1.0):
    v = [0.0] * DIM
    v[i % DIM] = scale * (1 + i // DIM)
    return v


@pytest.fixture
def inst(make_instance):
    return make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL),
                                               "--seal-interval-ms", "0"]).serve()


def connect(inst):
    return roost.Roost(inst.broker_url(), timeout_ms=30000)


def everything(db, k=1024):
    """Every document a search sees: {id: (text, metadata)}, read at the
    newest LSN this handle wrote."""
    hits = db.search([[0.0] * DIM], k=k, min_lsn=db.last_lsn)[0]
    seen = {}
    for h in hits:
        assert h.id not in seen, "%s found twice" % h.id
        seen[h.id] = (h.text, h.metadata)
    return seen


def test_upsert_replaces_and_delete_removes_in_tail(inst):
    with connect(inst) as db:
        db.add([unit(0), unit(1), unit(2)], texts=["a1", "b1", "c1"],
               metadatas=[{"v": 1}, {"v": 1}, {"v": 1}], ids=["a", "b", "c"], ack="visible")
        db.add([unit(3)], texts=["a2"], metadatas=[{"v": 2}], ids=["a"], ack="visible")
        assert everything(db) == {"a": ("a2", {"v": 2}), "b": ("b1", {"v": 1}),
                                  "c": ("c1", {"v": 1})}
        # The old version is gone even where it was the nearest.
        assert "a1" not in [h.text for h in db.search([unit(0)], k=3)[0]]
        db.delete(["b", "nothing-here"], ack="visible")
        assert everything(db) == {"a": ("a2", {"v": 2}), "c": ("c1", {"v": 1})}
        numbered = db.add([unit(4)], texts=["n"], ack="visible")[0]
        assert numbered in everything(db)
        db.delete([numbered], ack="visible")
        assert numbered not in everything(db)
        # Deleting again, or an id never added, changes nothing.
        db.delete(["b", numbered], ack="visible")
        assert set(everything(db)) == {"a", "c"}
        # A deleted id may come back with an add.
        db.add([unit(5)], texts=["b2"], ids=["b"], ack="visible")
        assert everything(db)["b"] == ("b2", {})


def test_min_lsn_sees_deletes_acknowledged_durable(inst):
    with connect(inst) as db:
        db.add([unit(i) for i in range(20)], texts=["t%d" % i for i in range(20)],
               ids=["d%d" % i for i in range(20)], ack="visible")
        db.delete(["d%d" % i for i in range(0, 20, 2)], ack="queued")
        assert set(everything(db)) == {"d%d" % i for i in range(1, 20, 2)}


def seal_count(inst):
    st = inst.status()
    return sum(c["segments"] for c in st["collections"])


def test_upserts_and_deletes_of_sealed_documents(inst):
    """Versions in a sealed segment are ended by records in the tail, and
    after the next seal by the segment's tombstone file."""
    with connect(inst) as db:
        n = SEAL
        ids = ["s%d" % i for i in range(n)]
        for lo in range(0, n, 1024):
            db.add([unit(i) for i in range(lo, lo + 1024)],
                   texts=["old %d" % i for i in range(lo, lo + 1024)], ids=ids[lo:lo + 1024],
                   ack="visible")
        # A seal after SEAL rows: the next add goes to a new tail.
        db.add([unit(0, 0.5)], texts=["extra"], ids=["extra"], ack="visible")
        wait_for(lambda: seal_count(inst) >= 1, 30, "the first seal")
        db.add([unit(7)], texts=["new 7"], ids=["s7"], ack="visible")
        db.delete(["s8", "s9"], ack="visible")

        def check():
            hit7 = db.search([unit(7)], k=5, min_lsn=db.last_lsn)[0]
            assert [h.text for h in hit7].count("new 7") == 1
            assert "old 7" not in [h.text for h in hit7]
            for gone in (8, 9):
                assert all(h.id != "s%d" % gone
                           for h in db.search([unit(gone)], k=20, min_lsn=db.last_lsn)[0])
            assert db.search([unit(10)], k=1)[0][0].id == "s10"

        check()
        # Fill the tail again: its tombstones go to the tombstone file.
        for lo in range(0, SEAL, 1024):
            db.add([unit(i, 100.0) for i in range(lo, lo + 1024)],
                   texts=["fill"] * 1024, ack="visible")
        db.add([unit(1, 200.0)], texts=["after"], ack="visible")
        wait_for(lambda: seal_count(inst) >= 2, 30, "the second seal")
        files = os.listdir(inst.data)
        assert any(f.startswith("tombs-") for f in files), files
        check()


def file_bytes(path):
    """A file's size; 0 once a merge removed it (after it was listed)."""
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def segment_rows(inst):
    """The default collection's segments' row counts, as the manifest
    lists them, and the bytes of the documents files in the directory
    (while a merge runs, its output and the files it replaces)."""
    m = read_manifest(inst.data, inst.name)
    coll = m["collections"]["default"]["id"]
    rows = [s["count"] for s in m["segments"] if s["coll"] == coll]
    size = sum(file_bytes(os.path.join(inst.data, f)) for f in os.listdir(inst.data)
               if f.startswith("seg-") and f.endswith(".docs"))
    return rows, size


def fill(db, lo, hi, tag):
    for at in range(lo, hi, 1024):
        top = min(hi, at + 1024)
        db.add([unit(i) for i in range(at, top)], texts=["%s %d" % (tag, i) for i in range(at, top)],
               ids=["r%d" % i for i in range(at, top)], metadatas=[{"i": i} for i in range(at, top)],
               ack="visible")


def test_a_visible_add_is_found_at_once_while_readers_rebuild_after_a_seal(make_instance):
    """After a seal the reader rebuilds its views; a get that comes while
    another of its threads is rebuilding must not be answered from the
    views being replaced, whose tail was sealed below the add: an add
    acknowledged visible is found by every get sent after the ack, naming
    no LSN. Each round seals, adds one probe and gets it from four clients
    at once."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL),
                                               "--seal-interval-ms", "0"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_reader(["--workers", "4"])
    dbs = [connect(inst) for _ in range(4)]
    try:
        for r in range(6):
            fill(dbs[0], r * SEAL, (r + 1) * SEAL, "f")
            probe = "probe%d" % r
            dbs[0].add([unit(r)], texts=[probe], ids=[probe], ack="visible")
            got = [None] * len(dbs)

            def get(i):
                got[i] = [h.text for h in dbs[i].get([probe])]

            threads = [threading.Thread(target=get, args=(i,)) for i in range(len(dbs))]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert got == [[probe]] * len(dbs), (r, got)
    finally:
        for db in dbs:
            db.close()


def test_compaction_drops_deleted_rows_and_reclaims_space(inst):
    """Once a segment's deletes are sealed into the tombstone file and a
    quarter or more of its rows ended, compaction merges it with its
    neighbour without them: the rows, their text and their space go, what
    is left reads as before, through a writer killed and restarted. A
    scroll begun before the deletes cannot go on after they were dropped,
    and says to start again."""
    with connect(inst) as db:
        fill(db, 0, SEAL, "a")
        fill(db, SEAL, 2 * SEAL, "b")
        wait_for(lambda: seal_count(inst) >= 1, 30, "the first seal")
        rows, size = segment_rows(inst)
        assert rows and set(rows) == {SEAL}, rows
        full = size / len(rows)  # the bytes of a segment of SEAL rows
        page, cursor = db.scroll(limit=10)
        assert cursor
        gone = ["r%d" % i for i in range(0, SEAL, 2)]
        for at in range(0, len(gone), 1024):
            db.delete(gone[at:at + 1024], ack="visible")
        # A keyed document deleted by its number: its id goes with its row.
        db.delete(["#%d" % db.get(["r3"])[0].version], ack="visible")
        gone.append("r3")
        db.add([unit(5, 2.0)], texts=["r5 v2"], ids=["r5"], metadatas=[{"i": 5}], ack="visible")
        # Seals write the deletes to the tombstone file; compaction then
        # merges the first segment with its neighbour without them.
        fill(db, 2 * SEAL, 3 * SEAL, "c")
        db.add([unit(1)], texts=["tail"], ids=["tail"], ack="visible")
        live = 3 * SEAL - len(gone) + 1  # distinct ids: "tail" too, r5 once
        merged = 2 * SEAL - len(gone)
        # Give or take r3's and r5's first versions, whose tombstones may
        # reach the file a seal later.
        wait_for(lambda: merged - 1 <= (segment_rows(inst)[0] or [0])[0] <= merged + 1, 60,
                 "the compaction")

        def check():
            # 3 full segments' rows less a sixth, once no merge is writing
            # its output beside the files it replaces (one may follow the
            # writer's restart).
            wait_for(lambda: segment_rows(inst)[1] < 2.7 * full, 60,
                     "the documents files to take less than 2.7 full segments")
            rows = segment_rows(inst)[0]
            assert rows[0] <= merged + 1 and sum(rows) < 3 * SEAL - len(gone) + 2, rows
            got = db.get(["r0", "r1", "r2", "r5", "r4097", "r9000"])
            assert [(h.id, h.text) for h in got] == [
                ("r1", "a 1"), ("r5", "r5 v2"), ("r4097", "b 4097"), ("r9000", "c 9000")]
            assert got[0].metadata == {"i": 1}
            every = db.scroll_all(page=1000, min_lsn=db.last_lsn)
            ids = [h.id for h in every]
            assert len(ids) == live and len(set(ids)) == len(ids)
            assert not set(gone) & set(ids)
            for i in (1, 7, 4097, 9000):
                assert db.search([unit(i)], k=1, min_lsn=db.last_lsn)[0][0].id == "r%d" % i
            for i in (0, 2):
                hits = db.search([unit(i)], k=50, min_lsn=db.last_lsn)[0]
                assert len(hits) == 50 and not {h.id for h in hits} & set(gone)
            assert inst.collections()["default"]["documents"] >= live

        check()
        with pytest.raises(roost.RoostError) as e:
            db.scroll(cursor=cursor)
        assert e.value.code == roost.EINVAL and "start the scroll again" in e.value.message
        db.scroll(cursor=None, limit=5)
        inst.kill(inst.writer)
        inst.start_writer()
        check()
        db.add([unit(1, 3.0)], texts=["r1 v2"], ids=["r1"], ack="visible")
        db.add([unit(3, 3.0)], texts=["r3 v2"], ids=["r3"], ack="visible")
        db.delete(["r0"], ack="visible")
        assert [h.text for h in db.get(["r0", "r1", "r3"])] == ["r1 v2", "r3 v2"]


def held_at(make_instance, point):
    """An instance whose writer holds the thread that reaches point while
    the file hold exists (it does at first): (instance, hold, writer log)."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL),
                                               "--seal-interval-ms", "0"])
    hold = os.path.join(inst.root, "hold")
    open(hold, "w").close()
    inst.start_writer(env={"ROOST_TEST_HOLD_AT": "%s:%s" % (point, hold)})
    inst.start_broker(0)
    inst.start_reader()
    return inst, hold, inst.logs[0]


def test_ingestion_goes_on_while_a_tail_is_sealed(make_instance):
    """A full tail freezes and a worker thread writes its segment: held
    there (a test hold point), adds go on into the next tail, acknowledged
    visible, and readers find, get, delete (by id and by filter) and
    replace the frozen tail's documents. Released, the segment is
    installed; killed -9 while a tail is frozen, the restarted writer
    replays it: nothing lost or doubled."""
    inst, hold, log = held_at(make_instance, "seal-written")
    with connect(inst) as db:
        fill(db, 0, SEAL + 1024, "a")  # the batch after a full tail freezes it
        wait_for(lambda: "hold point seal-written reached" in inst.read_log(log), 60,
                 "the frozen tail to be written")
        fill(db, SEAL + 1024, SEAL + 2048, "b")
        db.delete(["r6"], ack="visible")
        # A delete by filter reaches the frozen rows as well as the tail's.
        db.delete(filter={"i": {"$in": [10, SEAL + 1100]}}, ack="visible")
        db.add([unit(7, 5.0)], texts=["r7 v2"], ids=["r7"], ack="visible")
        assert seal_count(inst) == 0 and "sealed segment" not in inst.read_log(log)
        n = SEAL + 2048
        gone = {"r6", "r10", "r%d" % (SEAL + 1100)}

        def check(sealed):
            wait_for(lambda: seal_count(inst) == sealed, 60, "%d segments" % sealed)
            assert [h.text for h in db.get(["r5", "r6", "r7", "r%d" % (SEAL + 1500)])] == [
                "a 5", "r7 v2", "b %d" % (SEAL + 1500)]
            ids = [h.id for h in db.scroll_all(page=1000, min_lsn=db.last_lsn)]
            assert len(ids) == n - len(gone) == len(set(ids)) and not gone & set(ids)
            for i in (5, 9, SEAL + 100):
                assert db.search([unit(i)], k=1, min_lsn=db.last_lsn)[0][0].id == "r%d" % i
            hits = db.search([unit(6)], k=5, min_lsn=db.last_lsn)[0]
            assert len(hits) == 5 and "r6" not in {h.id for h in hits}

        check(0)
        os.unlink(hold)
        check(1)
        # Frozen again, held, and killed there: the restart replays it.
        open(hold, "w").close()
        fill(db, n, 2 * SEAL + 1024, "c")
        wait_for(lambda: inst.read_log(log).count("hold point seal-written reached") == 2, 60,
                 "the second frozen tail")
        n = 2 * SEAL + 1024
        check(1)
        inst.kill(inst.writer)
        os.unlink(hold)
        inst.start_writer()
        check(2)


def test_ingestion_goes_on_while_a_compaction_is_built(make_instance):
    """A merge is built off the ingest thread: held there (a test hold
    point, after its files are written), adds, deletes and upserts of the
    very rows it merges are acknowledged visible and seals go on. Installed
    afterwards, it keeps every delete that came meanwhile (the rows were
    live when it began, so the merged segment holds them), also after a
    kill -9 and a restart."""
    inst, hold, log = held_at(make_instance, "compact-built")
    with connect(inst) as db:
        # Four full seals: one tier's worth, merged into one segment.
        fill(db, 0, 5 * SEAL, "a")
        wait_for(lambda: "hold point compact-built reached" in inst.read_log(log), 60,
                 "the merge to be built")
        gone = ["r%d" % i for i in range(0, 4 * SEAL, 41)]
        db.delete(gone, ack="visible")
        db.add([unit(7, 5.0)], texts=["r7 v2"], ids=["r7"], ack="visible")
        fill(db, 5 * SEAL, 7 * SEAL, "b")  # more seals while it is held
        assert seal_count(inst) >= 6
        assert db.get(["r0", "r7"])[0].text == "r7 v2"
        os.unlink(hold)
        wait_for(lambda: "compacted 4 segments" in inst.read_log(log), 60, "the install")
        rows, _ = segment_rows(inst)
        assert rows[0] == 4 * SEAL, rows  # the deleted rows are still in it
        live = 7 * SEAL - len(gone)

        def check():
            every = db.scroll_all(page=1000, min_lsn=db.last_lsn)
            ids = [h.id for h in every]
            assert len(ids) == live and len(set(ids)) == live
            assert not set(gone) & set(ids)
            assert [h.text for h in db.get(["r0", "r7", "r8", "r%d" % (6 * SEAL)])] == [
                "r7 v2", "a 8", "b %d" % (6 * SEAL)]
            hits = db.search([unit(0)], k=20, min_lsn=db.last_lsn)[0]
            assert len(hits) == 20 and not {h.id for h in hits} & set(gone)

        check()
        inst.kill(inst.writer)
        inst.start_writer()
        check()


def test_size_tiers_keep_few_segments(make_instance):
    """Seals of one size merge four by four, and the merged ones again, so
    20 seals end as a few segments (the old policy merged only small ones:
    20 would stay), with every document once."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL),
                                               "--seal-interval-ms", "0"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_reader()
    with connect(inst) as db:
        fill(db, 0, 20 * SEAL + 1, "a")

        def settled():
            rows = segment_rows(inst)[0]
            return sum(rows) == 20 * SEAL and len(rows) <= 4 and seal_count(inst) == len(rows)

        wait_for(settled, 120, "the merges of 20 seals")
        ids = [h.id for h in db.scroll_all(page=1000, min_lsn=db.last_lsn)]
        assert len(ids) == 20 * SEAL + 1 and len(set(ids)) == len(ids)
        hits = db.search([unit(5)], k=1, min_lsn=db.last_lsn)[0]
        assert hits[0].id == "r5"


def reader_stat(inst, pid):
    """A reader's state file (base/rstat.h) as {field: int}."""
    with open(os.path.join(inst.run_dir, "reader-%d.stat" % pid)) as f:
        first = f.readline().split()
    return {first[i]: int(first[i + 1]) for i in range(0, len(first) - 1, 2)}


def test_segments_merge_at_rest(make_instance):
    """Three seals are one tier short of a merge; once the writer has
    sealed nothing for --merge-idle-ms they merge into one segment anyway,
    which the reader then serves (a merge changes no tail), every document
    once, and a kill -9 after it changes nothing."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL), "--seal-interval-ms",
                                               "0", "--merge-idle-ms", "300"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_reader()
    n = 3 * SEAL + 100
    with connect(inst) as db:
        fill(db, 0, n, "m")
        # One merge of three, or (a slow writer at rest between two seals)
        # of two and then of that with the third.
        wait_for(lambda: segment_rows(inst)[0] == [3 * SEAL], 60, "one merged segment")
        assert "compacted" in inst.read_log(inst.logs[0])
        # The reader moves to the merged segment with no seal after it, and
        # lets go of the merged-away files (no disk kept by old mappings).
        reader = inst.readers[0].pid
        wait_for(lambda: reader_stat(inst, reader)["segments"] == 1, 30,
                 "the reader to serve the merged segment")
        with open("/proc/%d/maps" % reader) as f:
            assert not [l for l in f if "seg-" in l and "(deleted)" in l]
        inst.kill(inst.writer)
        inst.start_writer()
        ids = [h.id for h in db.scroll_all(page=1000, min_lsn=db.last_lsn)]
        assert sorted(ids) == sorted("r%d" % i for i in range(n))
        assert db.search([unit(5)], k=1, min_lsn=db.last_lsn)[0][0].id == "r5"
    assert segment_rows(inst)[0] == [3 * SEAL]


def test_a_merge_drops_rows_whose_neighbours_have_no_metadata(make_instance):
    """Rows with ids but no metadata, a tenth deleted (the deletes sealed
    alone into the tombstone file), merged at rest with a one-row segment:
    the kept rows' empty metadata must not keep offsets of the old text (a
    merge that kept them was refused as invalid, and tried again and
    again)."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL), "--seal-interval-ms",
                                               "300", "--merge-idle-ms", "1000"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_reader()
    # `roost add` sends no metadata for lines without it (libroost's Python
    # binding always sends at least "{}").
    lines = "".join(json.dumps({"vector": unit(i), "text": "t%d" % i, "id": "k%d" % i}) + "\n"
                    for i in range(SEAL))
    out = subprocess.run([os.path.join(BUILD, "bin", "roost"), "add", "--name", inst.name,
                          "--ack", "visible"], input=lines, env=inst.env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    assert out.returncode == 0, out.stderr
    with connect(inst) as db:
        wait_for(lambda: segment_rows(inst)[0] == [SEAL], 60, "the first segment")
        db.delete(["k%d" % i for i in range(0, SEAL, 10)], ack="visible")
        # The deletes alone age into a seal of the tombstone file.
        wait_for(lambda: "0 documents" in inst.read_log(inst.logs[0]), 60, "a tombstone seal")
        db.add([unit(SEAL)], texts=["last"], ids=["last"], ack="visible")
        dead = len(range(0, SEAL, 10))
        wait_for(lambda: segment_rows(inst)[0] == [SEAL - dead + 1], 60,
                 "the two segments merged without the deleted rows")
        assert "compaction failed" not in inst.read_log(inst.logs[0])
        kept = ["k%d" % i for i in range(SEAL) if i % 10] + ["last"]
        assert sorted(h.id for h in db.scroll_all(page=1000, min_lsn=db.last_lsn)) == sorted(kept)
        assert [h.text for h in db.get(["k1", "k0", "last"])] == ["t1", "last"]


def test_tombstones_are_not_passed_on_from_tail_to_tail(inst):
    """Upserts replacing the same documents round after round, each round
    a seal, make more tombstones in all than one tail holds (16 per row):
    a freeze passes on only the frozen tail's own (the ones it was given
    are in the tombstone file by then), so ingestion goes on and every
    document reads as its last version. (Passing them all on filled the
    tails until the writer sealed empty tails in a loop and took no add.)"""
    rounds = 18  # 18 * 4096 > 16 * 4096 tombstones
    with connect(inst) as db:
        for rnd in range(rounds):
            for at in range(0, SEAL, 1024):
                db.add([unit(i, 1 + rnd) for i in range(at, at + 1024)],
                       texts=["v%d %d" % (rnd, i) for i in range(at, at + 1024)],
                       ids=["u%d" % i for i in range(at, at + 1024)], ack="visible")
        last = rounds - 1
        got = db.get(["u0", "u1234", "u4095"])
        assert [h.text for h in got] == ["v%d %d" % (last, i) for i in (0, 1234, 4095)]
        ids = [h.id for h in db.scroll_all(page=1000, min_lsn=db.last_lsn)]
        assert len(ids) == SEAL == len(set(ids))
    log = inst.read_log(inst.logs[0])
    assert log.count(", 0 documents") < rounds, log[-2000:]


def test_kill_writer_keeps_deletes_and_upserts(inst):
    with connect(inst) as db:
        db.add([unit(i) for i in range(10)], texts=["v1"] * 10,
               ids=["k%d" % i for i in range(10)], ack="durable")
        db.add([unit(i) for i in range(5)], texts=["v2"] * 5,
               ids=["k%d" % i for i in range(5)], ack="durable")
        db.delete(["k9"], ack="durable")
        inst.kill(inst.writer)
        inst.start_writer()
        seen = everything(db)
        assert set(seen) == {"k%d" % i for i in range(9)}
        assert all(seen["k%d" % i][0] == ("v2" if i < 5 else "v1") for i in range(9))


def test_concurrent_upserts_and_deletes_from_processes(inst):
    """Four processes upsert and delete overlapping ids; afterwards each id
    shows its last acknowledged state. Each process owns the ids i with
    i % 4 == its number for deletes, so the last state is known, while
    upserts of everyone's ids race freely on the same collection."""
    script = r'''
import os, random, sys
sys.path.insert(0, %r)
import roost
me, url, rounds = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rnd = random.Random(me)
with roost.Roost(url, timeout_ms=30000) as db:
    for r in range(rounds):
        mine = [i for i in range(40) if i %% 4 == me]
        i = rnd.choice(mine)
        if rnd.random() < 0.3:
            db.delete(["x%%d" %% i], ack="durable")
            print("DEL x%%d" %% i, flush=True)
        else:
            v = [0.0] * 8
            v[i %% 8] = 1.0 + r
            db.add([v], texts=["%%d-%%d" %% (me, r)], ids=["x%%d" %% i], ack="durable")
            print("PUT x%%d %%d-%%d" %% (i, me, r), flush=True)
    print("LSN %%d" %% db.last_lsn, flush=True)
''' % os.path.join(ROOT, "client", "python")
    env = dict(os.environ)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(me), inst.broker_url(), "60"],
                              stdout=subprocess.PIPE, text=True, env=env) for me in range(4)]
    last, lsn = {}, 0
    for p in procs:
        out, _ = p.communicate(timeout=180)
        assert p.returncode == 0
        for line in out.splitlines():
            f = line.split()
            if f[0] == "DEL":
                last[f[1]] = None
            elif f[0] == "PUT":
                last[f[1]] = f[2]
            else:
                lsn = max(lsn, int(f[1]))
    with connect(inst) as db:
        db.last_lsn = lsn
        seen = everything(db)
        assert {k: v[0] for k, v in seen.items()} == \
            {k: v for k, v in last.items() if v is not None}


def test_get_by_ids(inst):
    """Gets find a document's current version by its own id or its
    number, in the tail and in a sealed segment, with its vector on
    request; deleted and replaced versions are not found."""
    with connect(inst) as db:
        first = db.add([unit(1), unit(2)], texts=["one", "two"], ids=["g1", None],
                       metadatas=[{"n": 1}, {"n": 2}], ack="visible")
        db.add([unit(3)], texts=["one again"], ids=["g1"], metadatas=[{"n": 11}], ack="queued")
        got = db.get(["g1", first[1], first[0], "missing", "#%d" % (2 ** 63)],
                     min_lsn=db.last_lsn)
        assert [(h.id, h.text, h.metadata) for h in got] == \
            [("g1", "one again", {"n": 11}), (first[1], "two", {"n": 2}),
             ("g1", "one again", {"n": 11})]
        # The replaced version's own number finds nothing.
        old = db.search([unit(1)], k=1)[0][0]
        assert old.id != "g1" or old.text == "one again"
        db.delete([first[1]], ack="visible")
        assert db.get([first[1]]) == []
        with_vec = db.get(["g1"], with_vectors=True)[0]
        assert with_vec.vector == unit(3)
        assert db.get(["g1"])[0].vector is None
        assert [d.id for d in db.get_by_ids(["missing", "g1"])] == ["g1"]
        # Sealed: a segment's rows are found through its id index.
        for lo in range(0, SEAL, 1024):
            db.add([unit(i) for i in range(lo, lo + 1024)], texts=["s%d" % i for i in
                                                                   range(lo, lo + 1024)],
                   ids=["s%d" % i for i in range(lo, lo + 1024)], ack="visible")
        db.add([unit(0)], texts=["tail"], ids=["t"], ack="visible")
        wait_for(lambda: seal_count(inst) >= 1, 30, "a seal")
        got = db.get(["s4000", "g1", "t", "s17"], with_vectors=True, min_lsn=db.last_lsn)
        assert [(h.id, h.text) for h in got] == \
            [("s4000", "s4000"), ("g1", "one again"), ("t", "tail"), ("s17", "s17")]
        assert got[0].vector == unit(4000)
        db.add([unit(5)], texts=["s17 v2"], ids=["s17"], ack="visible")
        assert db.get(["s17"])[0].text == "s17 v2"
        db.delete(["s4000"], ack="visible")
        assert db.get(["s4000"]) == []
        with pytest.raises(roost.RoostError) as e:
            db.get(["#0"])
        assert e.value.code == roost.EINVAL and "ids[0]" in e.value.message


def test_cli_get_and_delete(inst, tmp_path):
    env = dict(inst.env)
    roost_bin = os.path.join(BUILD, "bin", "roost")

    def run(*args, stdin=None):
        return subprocess.run([roost_bin] + list(args) + ["--name", inst.name], input=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=env, timeout=60)

    with connect(inst) as db:
        db.add([unit(1), unit(2)], texts=["a", "b"], ids=["c1", "c2"],
               metadatas=[{"topic": "x"}, {}], ack="visible")
    out = run("get", "c2", "nope", "c1", "--vectors")
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [(d["id"], d["text"]) for d in lines] == [("c2", "b"), ("c1", "a")]
    assert lines[1]["metadata"] == {"topic": "x"} and lines[1]["vector"] == unit(1)
    assert "1 of 3 ids not found" in out.stderr
    out = run("delete", "--ack", "visible", "--file", "-", stdin="c1\n\n")
    assert out.returncode == 0 and "deleted 1 ids" in out.stderr, out.stderr
    out = run("get", "c1", "c2")
    assert [json.loads(line)["id"] for line in out.stdout.splitlines()] == ["c2"]
    bad = run("delete", "#x")
    assert bad.returncode == 1 and "ids[0] is neither an id" in bad.stderr, bad.stderr
    assert run("get").returncode == 2


def test_cli_scroll(inst):
    """roost scroll prints, page after page, what the filter admits in
    ascending number, deleted documents left out; with no filter, all."""
    roost_bin = os.path.join(BUILD, "bin", "roost")

    def run(*args):
        return subprocess.run([roost_bin, "scroll", "--name", inst.name] + list(args),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=inst.env, timeout=60)

    with connect(inst) as db:
        db.add([unit(i) for i in range(40)], texts=["s%d" % i for i in range(40)],
               ids=["s%d" % i for i in range(40)],
               metadatas=[{"user": "u%d" % (i % 4), "i": i} for i in range(40)], ack="visible")
        db.delete(["s4", "s5"], ack="visible")
        lsn = db.last_lsn
    out = run("--where", 'user="u0"', "--where", "i>=8", "--page", "3", "--vectors",
              "--min-lsn", str(lsn))
    assert out.returncode == 0, out.stderr
    docs = [json.loads(line) for line in out.stdout.splitlines()]
    assert [d["id"] for d in docs] == ["s%d" % i for i in range(8, 40, 4)]
    assert docs[0]["metadata"] == {"user": "u0", "i": 8} and docs[0]["vector"] == unit(8)
    assert [d["number"] for d in docs] == sorted(d["number"] for d in docs)
    assert "8 documents as of lsn" in out.stderr, out.stderr
    every = run()
    assert [json.loads(line)["id"] for line in every.stdout.splitlines()] == \
        ["s%d" % i for i in range(40) if i not in (4, 5)]
    assert run("s1").returncode == 2 and run("--ack", "queued").returncode == 2
    assert run("--page", "0").returncode == 2


def test_scroll_reads_one_lsn_in_order(inst):
    """A scroll lists what a filter admits in the order it was added, a
    page at a time, every page as of the first page's LSN: documents added,
    replaced or deleted meanwhile do not change later pages. Across the
    tail and a sealed segment."""
    with connect(inst) as db:
        n = SEAL + 300
        for lo in range(0, n, 1024):
            hi = min(n, lo + 1024)
            db.add([unit(i) for i in range(lo, hi)], texts=["d%d" % i for i in range(lo, hi)],
                   ids=["d%d" % i for i in range(lo, hi)],
                   metadatas=[{"even": i % 2 == 0, "i": i} for i in range(lo, hi)],
                   ack="visible")
        wait_for(lambda: seal_count(inst) >= 1, 30, "a seal")
        db.delete(["d1", "d2"], ack="visible")
        page, cursor = db.scroll(filter={"even": True}, limit=1000, min_lsn=db.last_lsn)
        at = page.lsn
        assert cursor and len(page) == 1000
        assert [h.id for h in page] == ["d%d" % i for i in range(0, 2002, 2) if i != 2]
        # Meanwhile: one shown document deleted, one not yet shown replaced,
        # one deleted, new ones added.
        db.delete(["d0", "d3000", "d5000"], ack="visible")
        db.add([unit(1)], texts=["d4000 v2"], ids=["d4000"], metadatas=[{"even": True}],
               ack="visible")
        db.add([unit(2)], texts=["new"], ids=["new"], metadatas=[{"even": True}],
               ack="visible")
        rest = []
        while cursor:
            more, cursor = db.scroll(filter={"even": True}, limit=700, cursor=cursor)
            assert more.lsn == at
            rest += more
        seen = [h.id for h in page] + [h.id for h in rest]
        assert seen == ["d%d" % i for i in range(0, n, 2) if i != 2]
        assert [h.text for h in rest if h.id == "d4000"] == ["d4000"]
        # A new scroll sees the new state.
        now = [h.id for h in db.scroll_all(filter={"even": True}, page=512)]
        want = ["d%d" % i for i in range(4, n, 2) if i not in (3000, 4000)] + ["d4000", "new"]
        assert now == want
        with pytest.raises(roost.RoostError) as e:
            db.scroll(cursor="12-x")
        assert e.value.code == roost.EINVAL and "cursor" in e.value.message


def test_delete_by_filter_covers_what_came_before_it(inst):
    """A delete by filter ends every live document its filter admits that
    was added below its LSN, in segments and in the tail, on first-class
    fields and on metadata; what is added after it stays, and a restart of
    the writer (replaying it) changes nothing."""
    with connect(inst) as db:
        n = SEAL + 500
        for lo in range(0, n, 1024):
            hi = min(n, lo + 1024)
            db.add([unit(i) for i in range(lo, hi)], texts=["f%d" % i for i in range(lo, hi)],
                   ids=["f%d" % i for i in range(lo, hi)],
                   metadatas=[{"agent": i % 10, "user": "u%d" % (i % 7)} for i in range(lo, hi)],
                   ack="visible")
        wait_for(lambda: seal_count(inst) >= 1, 30, "a seal")
        db.delete(filter={"agent": 3}, ack="visible")
        db.add([unit(3)], texts=["late"], ids=["late"], metadatas=[{"agent": 3}], ack="visible")
        db.delete(filter={"user": {"$in": ["u1", "u2"]}, "agents": [4, 5]}, ack="visible")
        gone = {i for i in range(n) if i % 10 == 3 or (i % 7 in (1, 2) and i % 10 in (4, 5))}
        want = ["f%d" % i for i in range(n) if i not in gone] + ["late"]

        def listed():
            return [h.id for h in db.scroll_all(min_lsn=db.last_lsn)]

        assert listed() == want
        assert db.get(["f3", "f13", "late", "f0"]) == [h for h in db.get(["late", "f0"])]
        assert [h.id for h in db.get(["f3", "f13", "late", "f0"])] == ["late", "f0"]
        inst.kill(inst.writer)
        inst.start_writer()
        db.add([unit(9)], texts=["after restart"], ids=["ar"], ack="visible")
        assert listed() == want + ["ar"]
        with pytest.raises(roost.RoostError) as e:
            db.delete(filter={})
        assert e.value.code == roost.EINVAL
        with pytest.raises(roost.RoostError) as e:
            db.delete(ids=["x"], filter={"agent": 1})
        assert e.value.code == roost.EINVAL and "not both" in e.value.message


def test_a_delete_by_filter_ends_at_most_16_seals_of_documents(inst):
    """One delete by filter may end 16 times a seal's documents (its
    tombstones must fit one tail); one that matches more is refused with
    ETOOBIG and ends nothing, and a narrower one then goes through."""
    n = 16 * SEAL + 100
    with connect(inst) as db:
        for lo in range(0, n, 1024):
            hi = min(n, lo + 1024)
            db.add([unit(i) for i in range(lo, hi)], texts=["w%d" % i for i in range(lo, hi)],
                   metadatas=[{"agent": 1, "time": i} for i in range(lo, hi)], ack="queued")
        db.add([unit(0)], texts=["other"], metadatas=[{"agent": 2}], ack="visible")
        with pytest.raises(roost.RoostError) as e:
            db.delete(filter={"agent": 1}, ack="visible")
        assert e.value.code == roost.ETOOBIG
        assert "matches %d documents" % n in e.value.message and "narrow it" in e.value.message
        assert sum(1 for _ in db.scroll_all(min_lsn=db.last_lsn)) == n + 1
        db.delete(filter={"agent": 1, "time_max": 16 * SEAL - 1}, ack="visible")
        assert sorted(h.text for h in db.scroll_all(min_lsn=db.last_lsn)) == sorted(
            ["other"] + ["w%d" % i for i in range(16 * SEAL, n)])


def test_cli_delete_by_filter(inst):
    roost_bin = os.path.join(BUILD, "bin", "roost")
    with connect(inst) as db:
        db.add([unit(i) for i in range(6)], texts=["t%d" % i for i in range(6)],
               ids=["c%d" % i for i in range(6)],
               metadatas=[{"agent": i % 2, "topic": "cats" if i < 3 else "dogs"}
                          for i in range(6)], ack="visible")
    out = subprocess.run([roost_bin, "delete", "--name", inst.name, "--agent", "1", "--where",
                          'topic="cats"', "--ack", "visible"], env=inst.env, text=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert out.returncode == 0, out.stderr
    with connect(inst) as db:
        assert [h.id for h in db.scroll_all()] == ["c0", "c2", "c3", "c4", "c5"]
    both = subprocess.run([roost_bin, "delete", "--name", inst.name, "--agent", "1", "c0"],
                          env=inst.env, text=True, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    assert both.returncode == 2 and "not both" in both.stderr


def test_deletes_alone_age_and_seal_into_the_tombstone_file(make_instance):
    """A tail that holds only tombstones (deletes, no adds) ages and seals
    like one with rows: its tombstones move to the tombstone file (each
    search then no longer applies them one by one), and no empty segment
    is made."""
    inst = make_instance(dim=DIM, writer_args=["--seal-interval-ms", "200"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_reader()
    with connect(inst) as db:
        db.add([unit(i) for i in range(10)], texts=["t%d" % i for i in range(10)],
               ids=["k%d" % i for i in range(10)], ack="visible")
        wait_for(lambda: len(read_manifest(inst.data, inst.name)["segments"]) == 1, 30,
                 "the rows' seal")
        db.delete(["k3", "k4"], ack="visible")

        wait_for(lambda: read_manifest(inst.data, inst.name)["collections"]["default"]
                 ["tomb_gen"] > 0, 30, "the tombstones' seal")
        assert len(read_manifest(inst.data, inst.name)["segments"]) == 1
        assert [h.id for h in db.scroll_all(min_lsn=db.last_lsn)] == \
            ["k%d" % i for i in range(10) if i not in (3, 4)]
        assert db.get(["k3", "k5"])[0].id == "k5"


def test_a_retried_delete_changes_nothing_twice(inst):
    """Deletes are idempotent like adds: a retry with the same key (client
    id, sequence) gets the original LSN and ends nothing new, even when the
    id was added again in between."""
    with connect(inst) as a, connect(inst) as b:
        b.add([unit(1)], texts=["v1"], ids=["again"], ack="visible")
        a.set_client_id(7777, 5)
        a.delete(["again"], ack="visible")
        first = a.last_lsn
        b.add([unit(2)], texts=["v2"], ids=["again"], ack="visible")
        a.set_client_id(7777, 5)  # the retry: same key
        a.delete(["again"], ack="visible")
        assert a.last_lsn == first
        assert [h.text for h in b.get(["again"], min_lsn=b.last_lsn)] == ["v2"]
