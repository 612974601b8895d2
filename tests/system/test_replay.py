"""Replay (`roost replay`): a collection of a stopped instance's data
directory, rebuilt as of an LSN into a new data directory from its
segments and log, answers in a new instance (`roost up --adopt`) what the
original answered then: the same ids, numbered ones included, the same
texts and versions, and for Flat the same top-k with the same scores; for
IVF too, its training carried over. What cannot be replayed is refused
and leaves nothing. With the real binaries, through the CLI and the
Python binding."""
import os
import random
import signal
import subprocess

import pytest

from conftest import BIN, read_manifest, wait_for
from test_asof import DIM, QUERIES, SEAL, fill, read_as_of, roost, same, state, vec
from test_fork import now_of
from test_retention import PROBE, merged_at_rest, serve, workload


def replay(inst, to, *args):
    return subprocess.run([os.path.join(BIN, "roost"), "replay", "--from", inst.data, "--to", to] +
                          [str(a) for a in args], env=inst.env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=300)


def replayed(make_instance, source, *args, **kw):
    """A new instance serving source's collection as replay rebuilt it."""
    new = make_instance(dim=DIM, **kw)
    out = replay(source, new.data, *args)
    assert out.returncode == 0, out.stderr
    end = int(out.stdout)
    assert "as of lsn %d rebuilt into %s" % (end, new.data) in out.stderr, out.stderr
    new.start_writer(["--adopt"])
    new.start_broker(0)
    new.start_reader()
    return new, end


def numbered(db, lo, n):
    """n documents without ids of their own: roost numbers them."""
    return db.add([vec(lo + i, 4) for i in range(n)], texts=["n%d" % (lo + i) for i in range(n)],
                  ack="visible")


def stop_writer(inst):
    inst.kill(inst.writer, signal.SIGTERM)
    inst.writer = None


def test_replay_as_of_each_state_answers_as_the_original_did(make_instance):
    """States recorded along adds (own ids and numbered), upserts and
    deletes by id and by filter, across seals and a merge at rest that kept
    every version (--retain all), replayed from the stopped instance as of
    their LSNs (older than its segments' end, from the segments alone) and
    as of the log's end (segments and the log's tail): each new instance
    answers what the original did then, serves new writes after it, and
    can be replayed in turn."""
    inst = serve(make_instance, "all")
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        recorded = workload(inst, db)
        ids = numbered(db, 20000, 300)
        assert all(i.startswith("#") for i in ids)
        recorded.append(state(db, PROBE))  # its scroll lists the numbered ones
        merged_at_rest(inst)
        fill(db, 13000, 13100)  # in the tail only
        db.delete(["r8", ids[0]], ack="visible")
        db.add([vec(9, 5)], texts=["v5 9"], ids=["r9"], ack="visible")
        last = now_of(db, "default")
        # One past a state's LSN: the batch that starts there has only its
        # first document then (an as-of read's rule, which replay keeps).
        one_past = recorded[1][0] + 1
        partly = read_as_of(db, one_past, PROBE)
        assert len(partly["scroll"]) == len(recorded[1][1]["scroll"]) + 1
    # Some states lie in the segments alone, the later ones need the log too.
    covered = read_manifest(inst.data, inst.name)["collections"]["default"]["tail_start"]
    assert recorded[0][0] < covered < recorded[-1][0], (covered, [at for at, _ in recorded])
    stop_writer(inst)

    for at, then in recorded:
        new, end = replayed(make_instance, inst, "--as-of", at)
        assert end == at
        with roost.Roost(new.broker_url(), timeout_ms=30000) as db:
            same(then, now_of(db, "default"))
            # Its history starts where the copy's rows are exact: the
            # state asked for, or, past the segments, their covered LSN.
            start = min(at, covered)
            assert db.history()["start_lsn"] == start
            with pytest.raises(roost.RoostError) as e:
                db.search(QUERIES, k=1, as_of=start - 16)
            assert e.value.code == roost.EHISTORY
        new.stop()
    new, end = replayed(make_instance, inst, "--as-of", one_past)
    assert end == one_past
    with roost.Roost(new.broker_url(), timeout_ms=30000) as db:
        same(partly, now_of(db, "default"))
    new.stop()
    new, end = replayed(make_instance, inst, "--collection", "default")
    with roost.Roost(new.broker_url(), timeout_ms=30000) as db:
        same(last, now_of(db, "default"))
        assert [h.text for h in db.get(["r8", ids[0], ids[1], "r9"])] == ["n20001", "v5 9"]
        db.add([vec(9, 6)], texts=["v6 9"], ids=["r9"], ack="visible")
        assert db.last_lsn >= end
        assert [h.text for h in db.get(["r9"])] == ["v6 9"]
        new.kill(new.writer)
        new.start_writer(["--adopt"])
        assert [h.text for h in db.get(["r9", ids[1]])] == ["v6 9", "n20001"]
        rerun = now_of(db, "default")
    # A replay's directory replays again, its own batches and all.
    stop_writer(new)
    again, _ = replayed(make_instance, new)
    with roost.Roost(again.broker_url(), timeout_ms=30000) as db:
        same(rerun, now_of(db, "default"))


def test_replay_of_a_trained_index_gives_the_same_top_k(make_instance):
    """IVF: the replay carries the collection's training, so the rebuilt
    lists hold each row where the original's did and the same search finds
    the same neighbours with the same scores (no retention: as of the log's
    end)."""
    args = ["--seal-docs", str(SEAL), "--seal-interval-ms", "0", "--train-docs", "2048"]
    inst = make_instance(dim=DIM, index="IVF16,Flat", writer_args=args)
    inst.serve()
    rng = random.Random(7)
    queries = [[rng.random() for _ in range(DIM)] for _ in range(20)]
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        fill(db, 0, 2 * SEAL + 500)
        wait_for(lambda: inst.collections()["default"]["segments"] == 2, 30, "two seals")
        db.delete(["r3", "r4000"], ack="visible")
        then = [[(h.id, h.score) for h in q] for q in db.search(queries, k=10)]
    trained = read_manifest(inst.data, inst.name)["collections"]["default"]["trained_gen"]
    assert trained
    stop_writer(inst)
    new, _ = replayed(make_instance, inst, index="IVF16,Flat", writer_args=args)
    with roost.Roost(new.broker_url(), timeout_ms=30000) as db:
        now = [[(h.id, h.score) for h in q] for q in db.search(queries, k=10)]
    assert read_manifest(new.data, inst.name)["collections"]["default"]["trained_gen"] == trained
    assert [[i for i, _ in q] for q in now] == [[i for i, _ in q] for q in then]
    for a, b in zip(then, now):
        assert all(abs(x[1] - y[1]) <= 1e-4 for x, y in zip(a, b))


def test_replays_that_cannot_be_made_are_refused_and_leave_nothing(make_instance):
    """A running writer's directory, an LSN before the kept history or past
    the log, a collection it does not have, a folder that exists: each is
    refused with a message that says why, and no folder is left."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL),
                                               "--seal-interval-ms", "0"])
    inst.serve()
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        fill(db, 0, SEAL + 10)
        wait_for(lambda: inst.collections()["default"]["segments"] == 1, 30, "a seal")
        db.delete(["r1"], ack="visible")
        early = db.search(QUERIES, k=1).lsn
        fill(db, SEAL + 10, 2 * SEAL + 10)
        wait_for(lambda: inst.collections()["default"]["segments"] == 2, 30, "two seals")
        created = db.create_collection("later", DIM)["created_lsn"]
        db.add([vec(i, 3) for i in range(3)], texts=["in the tail"] * 3,
               ids=["tail%d" % i for i in range(3)], ack="visible")
        split = db.last_lsn
    to = os.path.join(inst.root, "copy")
    out = replay(inst, to)
    assert out.returncode == 1 and "in use by a running writer" in out.stderr, out.stderr
    stop_writer(inst)
    end = int(replay(inst, os.path.join(inst.root, "probe")).stdout)

    def refused(why, *args):
        out = replay(inst, to, *args)
        assert out.returncode != 0 and why in out.stderr, out.stderr
        assert not os.path.exists(to) and not os.path.exists(to + ".partial")

    refused("history of 'later' there starts at LSN %d" % (created + 1), "--collection", "later",
            "--as-of", created)
    refused("past the end of %s's log (%d)" % (inst.data, end), "--as-of", end + 16)
    assert "invalid argument" not in replay(inst, to, "--as-of", end + 16).stderr
    refused("has no collection 'posts'; it holds: default later", "--collection", "posts")
    refused("--as-of: 'x' is not an LSN", "--as-of", "x")
    refused("LSN %d splits the batch at LSN %d" % (split + 2, split), "--as-of", split + 2)
    os.mkdir(to + ".partial")
    out = replay(inst, to, "--as-of", early)
    assert out.returncode == 1 and "interrupted replay left: remove it" in out.stderr, out.stderr
    assert not os.path.exists(to) and os.listdir(to + ".partial") == []
