"""Reads as of an LSN: searches, gets and scrolls that name an earlier
answer's LSN give that answer again, across adds, upserts, deletes (by id
and by filter), seals, merges and a writer killed with -9 and restarted,
or are refused, naming where the collection's history starts, exactly
when compaction has since dropped rows that were live then. With the
real binaries, through the Python binding and the CLI."""
import json
import os
import random
import subprocess
import sys

import pytest

from conftest import BUILD, ROOT, read_manifest, wait_for

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost  # noqa: E402

DIM = 8
SEAL = 4096  # the smallest seal size
QUERIES = [random.Random(-q).random() for q in range(4) for _ in range(DIM)]
QUERIES = [QUERIES[q * DIM:(q + 1) * DIM] for q in range(4)]


def vec(i, version=0):
    """Document i's vector in its version-th form: distinct, so that no two
    documents tie for a place in a ranking."""
    r = random.Random(i * 100 + version)
    return [r.random() for _ in range(DIM)]


def fill(db, lo, hi, version=0):
    for at in range(lo, hi, 1024):
        top = min(hi, at + 1024)
        db.add([vec(i, version) for i in range(at, top)],
               texts=["v%d %d" % (version, i) for i in range(at, top)],
               ids=["r%d" % i for i in range(at, top)],
               metadatas=[{"i": i, "agent": i % 5} for i in range(at, top)], ack="visible")


def hits_of(results):
    return [[(h.id, h.version, h.text, h.score) for h in q] for q in results]


def same(then, now):
    """Equal answers: gets and scrolls alike, and each query's hits the
    same documents with the same scores, but for float rounding (a row
    scanned in the tail then may be scored by a segment's index now, so
    two nearly equal scores may also swap places), best first."""
    assert now["get"] == then["get"] and now["scroll"] == then["scroll"]
    assert len(now["search"]) == len(then["search"])
    for a, b in zip(then["search"], now["search"]):
        assert sorted(h[:3] for h in a) == sorted(h[:3] for h in b)
        score = {h[:3]: h[3] for h in a}
        assert all(abs(score[h[:3]] - h[3]) <= 1e-4 for h in b)
        assert [h[3] for h in b] == sorted(h[3] for h in b)


def state(db, ids):
    """What a reader answers now, and the LSN it answered from: searches
    (k 50), a get and a whole scroll, all at one LSN (nothing is written
    meanwhile; every add was acknowledged visible)."""
    found = db.search(QUERIES, k=50, min_lsn=db.last_lsn)
    got = db.get(ids)
    page, cursor = db.scroll(limit=1024)
    rows = list(page)
    while cursor:
        more, cursor = db.scroll(limit=1024, cursor=cursor)
        rows += more
    assert found.lsn == got.lsn == page.lsn
    return found.lsn, dict(search=hits_of(found), get=[(h.id, h.version, h.text) for h in got],
                           scroll=[(h.id, h.version, h.text) for h in rows])


def read_as_of(db, at, ids):
    found = db.search(QUERIES, k=50, as_of=at)
    assert found.lsn == at
    got = db.get(ids, as_of=at)
    rows = list(db.scroll_all(page=700, as_of=at))
    return dict(search=hits_of(found), get=[(h.id, h.version, h.text) for h in got],
                scroll=[(h.id, h.version, h.text) for h in rows])


def reclaimed(inst):
    return read_manifest(inst.data, inst.name)["collections"]["default"]["reclaimed_lsn"]


def test_as_of_gives_what_was_read_then(make_instance):
    """States recorded along a workload of adds, upserts of tail and sealed
    rows, deletes by id and by filter, seals and merges at rest are read
    again as of their LSNs: identical, after a kill -9 of the writer too,
    or refused with EHISTORY naming the history's start, only below the
    LSN under which compaction dropped deleted rows."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL), "--seal-interval-ms",
                                               "0", "--merge-idle-ms", "300"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_reader()
    probe = ["r1", "r2", "r5", "r7", "r40", "r3000", "r5000", "r9000", "nope"]
    recorded = []
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        fill(db, 0, 3000)
        recorded.append(state(db, probe))
        db.add([vec(5, 1)], texts=["v1 5"], ids=["r5"], ack="visible")  # upsert in the tail
        db.delete(["r1", "r2"], ack="visible")
        recorded.append(state(db, probe))
        fill(db, 3000, 6000)  # a seal at 4096
        wait_for(lambda: inst.collections()["default"]["segments"] >= 1, 30, "the first seal")
        db.add([vec(7, 2)], texts=["v2 7"], ids=["r7"], ack="visible")  # a sealed row
        db.delete(filter={"i": {"$lt": 60}, "agent": 0}, ack="visible")  # r0, r10, ... r55
        recorded.append(state(db, probe))
        fill(db, 6000, 13000)  # more seals, whose tombstone files end sealed rows
        recorded.append(state(db, probe))
        # At rest the segments merge, dropping the ended rows.
        wait_for(lambda: inst.collections()["default"]["segments"] == 1, 60, "a merge at rest")
        wait_for(lambda: reclaimed(inst) > 0, 30, "the merge's manifest")
        recorded.append(state(db, probe))
        start = reclaimed(inst)
        inst.kill(inst.writer)
        inst.start_writer()
        db.add([vec(9000, 3)], texts=["v3 9000"], ids=["r9000"], ack="visible")
        db.delete(["r3000"], ack="visible")
        compared = refused = 0
        for at, then in recorded:
            if at >= start:
                same(then, read_as_of(db, at, probe))
                compared += 1
                continue
            with pytest.raises(roost.RoostError) as e:
                db.search(QUERIES, k=5, as_of=at)
            assert e.value.code == roost.EHISTORY
            assert "keeps history from LSN %d" % start in e.value.message, e.value.message
            for read in (lambda: db.get(probe, as_of=at), lambda: db.scroll(as_of=at)):
                with pytest.raises(roost.RoostError) as e:
                    read()
                assert e.value.code == roost.EHISTORY
            refused += 1
        # Both kinds happened: states from before the dropped deletes are
        # refused, the later ones read across the merge and the restart.
        assert refused >= 1 and compared >= 2, (refused, compared, start,
                                                 [at for at, _ in recorded])
        # Now is not then: the newest state differs from every recorded one.
        assert db.get(["r9000"])[0].text == "v3 9000"
        assert read_as_of(db, recorded[-1][0], ["r9000"])["get"][0][2] == "v0 9000"


def test_as_of_undoes_later_changes_in_frozen_tails_and_tombstone_files(make_instance):
    """Rows replaced or deleted after a recorded state, in a frozen tail
    (its seal held at a test hold point) and then in a sealed segment whose
    tombstone file ends them, are read as they were: the file's ends at or
    after the state's LSN hide nothing as of it. Merges are off, so nothing
    is dropped; the same after a kill -9 and restart."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL),
                                               "--seal-interval-ms", "0"])
    hold = os.path.join(inst.root, "hold")
    open(hold, "w").close()
    inst.start_writer(env={"ROOST_TEST_HOLD_AT": "seal-written:%s" % hold})
    inst.start_broker(0)
    inst.start_reader()
    log = inst.logs[0]
    probe = ["r5", "r6", "r10", "r11", "r%d" % (SEAL + 5), "r%d" % (SEAL + 2000)]
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        fill(db, 0, SEAL + 1024)  # the batch after a full tail freezes it
        wait_for(lambda: "hold point seal-written reached" in inst.read_log(log), 60,
                 "the frozen tail to be written")
        first, then = state(db, probe)
        # Frozen rows replaced and deleted (by id and by filter), tail rows too.
        db.add([vec(5, 1), vec(SEAL + 5, 1)], texts=["v1 5", "v1 tail"],
               ids=["r5", "r%d" % (SEAL + 5)], ack="visible")
        db.delete(["r6"], ack="visible")
        db.delete(filter={"i": {"$in": [10, 11]}}, ack="visible")
        fill(db, SEAL + 1024, SEAL + 2048)
        assert inst.collections()["default"]["segments"] == 0
        same(then, read_as_of(db, first, probe))
        second, later = state(db, probe)
        assert [h[2] for h in later["get"]] == ["v1 5", "v1 tail", "v0 %d" % (SEAL + 2000)]
        os.unlink(hold)
        fill(db, SEAL + 2048, 2 * SEAL + 1024)  # a second seal: the ends go to its file
        wait_for(lambda: inst.collections()["default"]["segments"] == 2, 60, "two seals")
        m = read_manifest(inst.data, inst.name)["collections"]["default"]
        assert m["tomb_gen"] and m["reclaimed_lsn"] == 0
        for _ in range(2):
            same(then, read_as_of(db, first, probe))
            same(later, read_as_of(db, second, probe))
            inst.kill(inst.writer)
            inst.start_writer()


def test_as_of_an_approximate_index_sees_exactly_that_set(make_instance):
    """HNSW: the documents an as-of search can find are exactly those
    visible then (a search for every document returns that set), though
    today's graph ranks them."""
    inst = make_instance(dim=DIM, index="HNSW16",
                         writer_args=["--seal-docs", str(SEAL), "--seal-interval-ms", "0",
                                      "--merge-idle-ms", "0"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_reader()
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        fill(db, 0, 500)
        db.delete(["r%d" % i for i in range(0, 500, 3)], ack="visible")
        then = db.search([vec(1)], k=1, min_lsn=db.last_lsn).lsn
        visible = {"r%d" % i for i in range(500) if i % 3}
        fill(db, 500, SEAL + 700, version=1)  # seals rows 0..SEAL into an HNSW segment
        db.add([vec(i, 2) for i in range(1, 60, 3)], texts=["up"] * 20,
               ids=["r%d" % i for i in range(1, 60, 3)], ack="visible")
        wait_for(lambda: inst.collections()["default"]["segments"] >= 1, 30, "a seal")
        db.set_search_tuning(ef_search=1024)
        hits = db.search([vec(1)], k=1024, as_of=then)[0]
        assert {h.id for h in hits} == visible
        assert {h.id for h in db.scroll_all(as_of=then)} == visible
        assert all(h.text.startswith("v0 ") for h in hits)
        assert len(db.search([vec(1)], k=1024)[0]) == 1024  # now: the sealed rows too


def cli(inst, *args):
    return subprocess.run([os.path.join(BUILD, "bin", "roost")] + list(args) +
                          ["--name", inst.name], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, env=inst.env, timeout=60)


def test_cli_reads_as_of_and_names_the_history_start(make_instance):
    """roost search, get and scroll take --as-of; an LSN before the
    collection's create is refused naming the create, a future one is not
    visible within the wait, and 0 is not an LSN."""
    inst = make_instance(dim=DIM).serve()
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        fill(db, 0, 20)
        at = db.search([vec(3)], k=1, min_lsn=db.last_lsn).lsn
        db.add([vec(3)], texts=["later"], ids=["r3"], ack="visible")  # same vector
        db.create_collection("late", dim=DIM)
    vector = ",".join("%g" % x for x in vec(3))
    now = cli(inst, "search", "--vector", vector, "-k", "1", "--json")
    old = cli(inst, "search", "--vector", vector, "-k", "1", "--json", "--as-of", str(at))
    assert now.returncode == 0 and old.returncode == 0, now.stderr + old.stderr
    now, old = json.loads(now.stdout), json.loads(old.stdout)
    assert now["hits"][0]["text"] == "later" and now["lsn"] > at
    assert old["hits"][0]["text"] == "v0 3" and old["lsn"] == at
    got = cli(inst, "get", "--as-of", str(at), "r3")
    assert got.returncode == 0, got.stderr
    assert [json.loads(line)["text"] for line in got.stdout.splitlines()] == ["v0 3"]
    rows = cli(inst, "scroll", "--as-of", str(at))
    assert rows.returncode == 0, rows.stderr
    texts = [json.loads(line)["text"] for line in rows.stdout.splitlines()]
    assert texts == ["v0 %d" % i for i in range(20)]
    created = read_manifest(inst.data, inst.name)["collections"]["late"]["created_lsn"]
    before = cli(inst, "scroll", "--collection", "late", "--as-of", str(created))
    assert before.returncode == 1
    assert "was created at LSN %d" % created in before.stderr, before.stderr
    inside = cli(inst, "scroll", "--collection", "late", "--as-of", str(created + 1))
    assert inside.returncode == 0 and inside.stdout == "", inside.stderr
    future = cli(inst, "get", "--as-of", str(10 ** 15), "--timeout-ms", "2000", "r3")
    assert future.returncode == 1 and "not visible" in future.stderr, future.stderr
    assert "waited 2000 ms in all" in future.stderr, future.stderr
    with roost.Roost(inst.broker_url(), timeout_ms=1500) as db:
        with pytest.raises(roost.RoostError) as e:
            db.search([vec(3)], k=1, as_of=10 ** 15)
        assert e.value.code == roost.ENOTVISIBLE, e.value
        assert "waited 1500 ms in all" in e.value.message, e.value.message
    zero = cli(inst, "search", "--vector", vector, "--as-of", "0")
    assert zero.returncode == 2 and "'0'" in zero.stderr and "as-of" in zero.stderr, zero.stderr
