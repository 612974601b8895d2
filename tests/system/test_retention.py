"""Retention (`roost-writer --retain`, `roost up --retain`): history within
the horizon survives seals, merges at rest and log rotation, so reads as of
any LSN in it give what was read then; everything before the horizon is
reclaimed (compaction drops the rows ended there, rotation the log files
holding only older records). Status shows the setting, the horizon, where
each collection's history starts and what history takes on disk. With the
real binaries, through the Python binding and the wire."""
import os
import subprocess
import time

import pytest

from conftest import BIN, read_manifest, wait_for
from test_asof import DIM, QUERIES, SEAL, fill, read_as_of, roost, same, state, vec

PROBE = ["r1", "r2", "r5", "r7", "r40", "r3000", "r5000", "r9000", "nope"]


def coll(inst):
    return read_manifest(inst.data, inst.name)["collections"]["default"]


def log_files(inst):
    """(start LSN, mtime) of each log file, oldest first."""
    wal = os.path.join(inst.data, "wal")
    out = []
    for name in os.listdir(wal):
        if name.startswith("wal-") and name.endswith(".log"):
            out.append((int(name[4:-4], 16), os.stat(os.path.join(wal, name)).st_mtime))
    return sorted(out)


def workload(inst, db):
    """Adds, an upsert and deletes by id in the tail, seals, an upsert of a
    sealed row and a delete by filter, then more seals; the states read
    along the way, oldest first."""
    recorded = []
    fill(db, 0, 3000)
    recorded.append(state(db, PROBE))
    db.add([vec(5, 1)], texts=["v1 5"], ids=["r5"], ack="visible")
    db.delete(["r1", "r2"], ack="visible")
    recorded.append(state(db, PROBE))
    fill(db, 3000, 6000)
    wait_for(lambda: inst.collections()["default"]["segments"] >= 1, 30, "the first seal")
    db.add([vec(7, 2)], texts=["v2 7"], ids=["r7"], ack="visible")
    db.delete(filter={"i": {"$lt": 60}, "agent": 0}, ack="visible")
    recorded.append(state(db, PROBE))
    fill(db, 6000, 13000)
    recorded.append(state(db, PROBE))
    return recorded


def merged_at_rest(inst, segments=1):
    wait_for(lambda: inst.collections()["default"]["segments"] == segments, 60,
             "a merge at rest")


def serve(make_instance, retain):
    """An instance that seals every SEAL documents and merges at rest,
    its writer keeping history as retain says."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL), "--seal-interval-ms",
                                               "0", "--merge-idle-ms", "300"])
    inst.start_writer(["--retain", retain])
    inst.start_broker(0)
    inst.start_reader()
    return inst


def refused(db, at, start):
    for read in (lambda: db.search(QUERIES, k=5, as_of=at), lambda: db.get(PROBE, as_of=at),
                 lambda: db.scroll(as_of=at)):
        with pytest.raises(roost.RoostError) as e:
            read()
        assert e.value.code == roost.EHISTORY
        assert "keeps history from LSN %d" % start in e.value.message, e.value.message


def test_without_retention_status_says_none_and_the_log_keeps_only_what_is_needed(make_instance):
    """Log files --retain all kept are not counted as kept once a writer
    starts without retention (the next seal deletes them)."""
    inst = serve(make_instance, "all")
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        fill(db, 0, 3 * SEAL)
        wait_for(lambda: inst.status()["history_log_bytes"] > 0, 30, "log kept past a seal")
        inst.kill(inst.writer)
        inst.start_writer()
        assert len(log_files(inst)) > 2
        assert inst.status()["history_log_bytes"] == 0
        segments = inst.collections()["default"]["segments"]
        fill(db, 3 * SEAL, 4 * SEAL)
        wait_for(lambda: inst.collections()["default"]["segments"] > segments, 30, "a seal")
        st = inst.status()
        assert (st["retain"], st["history_horizon_lsn"], st["history_log_bytes"]) == ("none", 0, 0)
        h = db.history()
        assert (h["retain"], h["horizon_lsn"], h["log_bytes"]) == ("none", 0, 0)
        # Every log file but the newest holds records the tail still needs.
        tail_start = coll(inst)["tail_start"]
        files = log_files(inst)
        assert all(nxt > tail_start for (_, _), (nxt, _) in zip(files, files[1:])), files


def test_retention_keeps_every_state_then_reclaims_only_before_a_new_horizon(make_instance):
    """--retain all: after seals and a merge at rest nothing is dropped,
    every recorded state reads back, and the log keeps its first file. The
    writer killed with -9 and restarted with --retain lsn:X (X a recorded
    state's LSN): after more seals and a merge, the rows ended below X are
    gone and the log files below X too; the states from X on still read
    back, the older ones are refused naming the new history start."""
    inst = serve(make_instance, "all")
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        first_file = log_files(inst)[0][0]
        recorded = workload(inst, db)
        merged_at_rest(inst)
        c = coll(inst)
        assert c["reclaimed_lsn"] == 0 and c["tomb_gen"], c
        for at, then in recorded:
            same(then, read_as_of(db, at, PROBE))
        assert log_files(inst)[0][0] == first_file
        st = inst.status()
        assert (st["retain"], st["history_horizon_lsn"]) == ("all", 1), st
        assert st["history_log_bytes"] > 0, st
        h = db.history()
        info = inst.collections()["default"]
        assert h["start_lsn"] == info["history_start_lsn"] == info["created_lsn"] + 1
        # Ended versions: r5 and r7 replaced, r1, r2 and 6 rows by filter deleted.
        assert info["history_bytes"] >= 10 * DIM * 4, info

        horizon = recorded[2][0]
        inst.kill(inst.writer)
        inst.start_writer(["--retain", "lsn:%d" % horizon])
        fill(db, 13000, 13000 + 2 * SEAL)  # seals rotate the log; a merge at rest follows
        wait_for(lambda: coll(inst)["reclaimed_lsn"] > 0, 60, "a merge that drops ended rows")
        merged_at_rest(inst)
        start = coll(inst)["reclaimed_lsn"]
        assert recorded[1][0] < start <= horizon, (start, [at for at, _ in recorded])
        for at, then in recorded[2:]:
            same(then, read_as_of(db, at, PROBE))
        for at, _ in recorded[:2]:
            refused(db, at, start)
        files = log_files(inst)
        assert files[0][0] <= horizon, files
        assert all(nxt > horizon for (_, _), (nxt, _) in zip(files, files[1:])), files
        st = inst.status()
        assert (st["retain"], st["history_horizon_lsn"]) == ("lsn:%d" % horizon, horizon), st
        assert db.history()["start_lsn"] == start


def test_a_window_keeps_what_was_written_within_it(make_instance):
    """--retain 1h keeps everything of a workload through a merge at rest;
    once every log file is older than a second, a writer restarted with
    --retain 1s reclaims the workload's ended rows at its next merge (the
    states after them still read back) and drops the log files written
    before."""
    inst = serve(make_instance, "1h")
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        recorded = workload(inst, db)
        merged_at_rest(inst)
        assert coll(inst)["reclaimed_lsn"] == 0
        for at, then in recorded:
            same(then, read_as_of(db, at, PROBE))
        assert inst.status()["retain"] == "1h"
        old = log_files(inst)
        inst.writer.terminate()
        assert inst.writer.wait(timeout=30) == 0
        # Nothing is written meanwhile: the files only grow older.
        wait_for(lambda: time.time() - max(m for _, m in log_files(inst)) > 1.5, 10,
                 "the log files to be older than the window")
        inst.start_writer(["--retain", "1s"])
        fill(db, 13000, 13000 + 2 * SEAL)
        wait_for(lambda: coll(inst)["reclaimed_lsn"] > 0, 60, "a merge that drops ended rows")
        merged_at_rest(inst)
        # Every version the workload ended, ended before the window.
        start = coll(inst)["reclaimed_lsn"]
        assert recorded[1][0] < start <= recorded[2][0], (start, [at for at, _ in recorded])
        for at, _ in recorded[:2]:
            refused(db, at, start)
        for at, then in recorded[2:]:
            same(then, read_as_of(db, at, PROBE))
        assert log_files(inst)[0][0] > old[0][0]
        assert inst.status()["retain"] == "1s"


def test_a_simulation_time_keeps_history_from_its_first_document(make_instance):
    """--retain time:500: until a document of simulation time 500 or later
    exists nothing more is kept (a merge at rest reclaims ended rows);
    from the first one (the second of its batch, in a collection of its
    own) on, every state is kept through upserts, deletes, seals and
    merges, status shows it at once, and after that collection is dropped
    and the writer killed with -9, the writer finds the same horizon in
    the log it kept."""
    inst = serve(make_instance, "time:500")
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        fill(db, 0, 2 * SEAL + 100)
        wait_for(lambda: inst.collections()["default"]["segments"] >= 2, 30, "two seals")
        db.delete(["r1", "r2"], ack="visible")
        fill(db, 2 * SEAL + 100, 3 * SEAL + 100)
        wait_for(lambda: coll(inst)["reclaimed_lsn"] > 0, 60, "a merge that drops ended rows")
        before = coll(inst)["reclaimed_lsn"]
        h = db.history()
        assert (h["retain"], h["horizon_lsn"]) == ("time:500", 0), h
        out = subprocess.run([os.path.join(BIN, "roost"), "status", "--name", inst.name,
                              "--interval-ms", "0"], env=inst.env, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=60)
        assert "history: retain time:500 (no document has reached that simulation time " \
               "yet: nothing kept)" in out.stdout, out.stdout

        db.create_collection("clock", DIM)
        db.use("clock")
        db.add([vec(20000 + i) for i in range(3)], texts=["t"] * 3, ids=["t0", "t1", "t2"],
               metadatas=[{"time": 400}, {"time": 600}, {"time": 500}], ack="visible")
        x = db.get(["t1"])[0].version
        assert db.get(["t0"])[0].version == x - 1
        assert db.history()["horizon_lsn"] == x
        db.use(None)
        at, then = state(db, PROBE)
        db.add([vec(5, 1)], texts=["v1 5"], ids=["r5"], ack="visible")
        db.delete(["r7"], ack="visible")
        fill(db, 3 * SEAL + 100, 5 * SEAL + 100)  # seals, then merges at rest
        merged_at_rest(inst)
        assert coll(inst)["reclaimed_lsn"] == before
        same(then, read_as_of(db, at, PROBE))

        assert inst.drop("clock")["status"] == 0
        inst.kill(inst.writer)
        inst.start_writer(["--retain", "time:500"])
        assert db.history()["horizon_lsn"] == x
        fill(db, 5 * SEAL + 100, 6 * SEAL + 100)
        merged_at_rest(inst)
        assert coll(inst)["reclaimed_lsn"] == before
        same(then, read_as_of(db, at, PROBE))


def test_a_simulation_time_set_later_finds_its_horizon_in_the_segments(make_instance):
    """Without retention the log is rotated past a batch of simulation time
    500; a writer restarted with --retain time:500 finds the horizon among
    the sealed rows."""
    inst = serve(make_instance, "none")
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        db.add([vec(20000 + i) for i in range(2)], texts=["t"] * 2, ids=["t0", "t1"],
               metadatas=[{"time": 499}, {"time": 500}], ack="visible")
        x = db.get(["t1"])[0].version
        fill(db, 0, 2 * SEAL)
        wait_for(lambda: log_files(inst)[0][0] > x, 30, "the log rotated past the batch")
        inst.kill(inst.writer)
        inst.start_writer(["--retain", "time:500"])
        assert db.history()["horizon_lsn"] == x
