"""Forks: `fork_collection` makes a new collection of what another one held
as of an LSN, sharing its sealed segments by hard links. A fork answers
exactly as its source did then, whatever the source did since (adds,
upserts, deletes, seals, merges); the two then change independently; a
writer killed with -9 at every step of a fork, while agents add to the
source, leaves the fork complete (the record is in the log) and the
source as it was. With the real binaries, through the Python binding, the
CLI and the wire."""
import json
import os
import subprocess
import threading

import pytest

from conftest import BIN, read_manifest, wait_for
from test_asof import DIM, QUERIES, SEAL, fill, hits_of, read_as_of, roost, same, vec
from test_retention import PROBE, serve, workload


def now_of(db, name):
    """What collection name answers now, as test_asof's state() records it."""
    db.use(name)
    try:
        found = db.search(QUERIES, k=50)
        got = db.get(PROBE)
        rows = list(db.scroll_all(page=700))
    finally:
        db.use(None)
    return dict(search=hits_of(found), get=[(h.id, h.version, h.text) for h in got],
                scroll=[(h.id, h.version, h.text) for h in rows])


def segment_files(inst, coll_id):
    """The .docs files of a collection's segments, as the manifest names them."""
    m = read_manifest(inst.data, inst.name)
    out = []
    for s in m["segments"]:
        if s["coll"] != coll_id:
            continue
        prefix = "seg-" if coll_id == 1 else "seg-c%08x-" % coll_id
        out.append(os.path.join(inst.data, "%s%016x-%016x.docs" % (prefix, s["start_lsn"],
                                                                   s["end_lsn"])))
    return out


def test_a_fork_answers_as_its_source_did_then_and_lives_on_its_own(make_instance):
    """Forks as of each recorded state (in the tail, across seals, upserts
    and deletes, after a merge at rest kept every version) answer what the
    source answered then; one made now answers what the source answers
    now. A fork's adds and deletes leave the source alone and the source's
    leave the fork alone, also after a kill -9 and a restart."""
    inst = serve(make_instance, "all")
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        recorded = workload(inst, db)
        wait_for(lambda: inst.collections()["default"]["segments"] == 1, 60, "a merge at rest")
        forks = {}
        for n, (at, then) in enumerate(recorded):
            info = db.fork_collection("default", "then%d" % n, as_of=at)
            assert info["name"] == "then%d" % n and info["created_lsn"] > at
            assert (info["dim"], info["index"]) == (DIM, "Flat")
            forks[info["name"]] = then
            same(then, now_of(db, info["name"]))
        source_now = now_of(db, "default")
        db.fork_collection("default", "now")
        same(source_now, now_of(db, "now"))
        # Its keys are the source's: an upsert replaces, a delete ends.
        db.use("now")
        rows = len(list(db.scroll_all(page=1000)))
        db.add([vec(5, 7)], texts=["upserted in now"], ids=["r5"], ack="visible")
        db.delete(["r7"], ack="visible")
        assert [(h.id, h.text) for h in db.get(["r5", "r7"])] == [("r5", "upserted in now")]
        assert len(list(db.scroll_all(page=1000))) == rows - 1
        db.use(None)
        same(source_now, now_of(db, "default"))

        db.use("then1")
        db.add([vec(1, 9)], texts=["fork only"], ids=["r1"], ack="visible")
        db.delete(["r3"], ack="visible")
        db.use(None)
        db.add([vec(2, 9)], texts=["source only"], ids=["r2"], ack="visible")
        assert [h.text for h in db.get(["r1", "r3"])] == ["v0 3"]  # r1 deleted before
        db.use("then1")
        assert [(h.id, h.text) for h in db.get(["r1", "r2", "r3"])] == [("r1", "fork only")]
        db.use("then0")
        assert [h.text for h in db.get(["r1", "r2", "r3"])] == ["v0 1", "v0 2", "v0 3"]
        db.use(None)

        inst.kill(inst.writer)
        inst.start_writer(["--retain", "all"])
        for name in ("then0", "then2", "then3"):
            same(forks[name], now_of(db, name))
        db.use("then1")
        assert [h.text for h in db.get(["r1", "r3"])] == ["fork only"]
        db.use(None)
        assert db.get(["r2"])[0].text == "source only"


def test_a_fork_shares_its_sources_files_and_outlives_it(make_instance):
    """No merges: each segment of a fork is its source's file, linked (one
    inode), so a fork costs no segment bytes; dropping the source leaves
    the fork whole, and the CLI forks too."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL),
                                               "--seal-interval-ms", "0"])
    inst.serve()
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        fill(db, 0, 3 * SEAL + 100)
        wait_for(lambda: inst.collections()["default"]["segments"] == 3, 30, "three seals")
        at = db.search(QUERIES, k=1).lsn
        fill(db, 3 * SEAL + 100, 3 * SEAL + 500)  # in the tail, after at
        then = now_of(db, "default")
        info = db.fork_collection("default", "copy")
        src = segment_files(inst, 1)
        mine = segment_files(inst, info["id"])
        # The source's tail was sealed into a fourth segment for the fork.
        assert len(src) == len(mine) == 4 and info["segments"] == 4, (src, mine)
        for a, b in zip(src, mine):
            assert os.stat(a).st_ino == os.stat(b).st_ino and os.stat(b).st_nlink == 2
        assert read_manifest(inst.data, inst.name)["collections"]["copy"]["tomb_gen"] == 0

        env = dict(inst.env, PATH=BIN + os.pathsep + os.environ["PATH"])
        out = subprocess.run(
            [os.path.join(BIN, "roost"), "collections", "--name", inst.name, "fork", "default",
             "past", "--as-of", str(at), "--json"],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
        assert out.returncode == 0, out.stdout
        past = json.loads(out.stdout)
        # The fourth segment straddles at: its later rows are ended in the
        # fork's own tombstone file.
        assert past["name"] == "past" and past["segments"] == 4
        assert read_manifest(inst.data, inst.name)["collections"]["past"]["tomb_gen"]
        db.use("past")
        assert len(list(db.scroll_all(page=1000))) == 3 * SEAL + 100
        db.use(None)

        assert inst.drop("default")["status"] == 0
        # The source's names go with the drop; the fork's stay, and answer.
        wait_for(lambda: not any(os.path.exists(p) for p in src), 30, "the drop's sweep")
        assert all(os.path.exists(p) for p in mine)
        same(then, now_of(db, "copy"))


def test_forks_that_cannot_be_made_are_refused_and_change_nothing(make_instance):
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL),
                                               "--seal-interval-ms", "0"])
    inst.serve()
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        fill(db, 0, 100)
        created = db.create_collection("src", DIM)["created_lsn"]
        db.use("src")
        fill(db, 0, 100)
        lsn = db.search(QUERIES, k=1).lsn
        db.use(None)
        db.fork_collection("src", "one")
        cases = [
            (dict(source="src", name="one"), roost.EEXIST, "exists"),
            (dict(source="nope", name="two"), roost.ENOCOLL, "no collection 'nope'"),
            (dict(source="src", name="bad name"), roost.EINVAL, "name"),
            (dict(source="src", name="two", as_of=created), roost.EHISTORY,
             "keeps history from LSN %d" % (created + 1)),
            (dict(source="src", name="two", as_of=lsn * 1000), roost.EINVAL,
             "past the fork's own LSN"),
        ]
        for kw, code, words in cases:
            with pytest.raises(roost.RoostError) as e:
                db.fork_collection(**kw)
            assert e.value.code == code and words in e.value.message, (kw, e.value.message)
        # A directory where a link of the fork must go: the fork is refused
        # with the reason, what it linked goes, and the same writer serves on;
        # once the way is clear the fork is made, under the id it would have had.
        m = read_manifest(inst.data, inst.name)
        new_id, writer = m["next_coll"], inst.writer.pid
        docs = segment_files(inst, m["collections"]["one"]["id"])[0]
        base = os.path.basename(docs).split("-", 2)[2]
        blocked = os.path.join(inst.data, "seg-c%08x-%s" % (new_id, base))
        os.makedirs(os.path.join(blocked, "in-the-way"))
        with pytest.raises(roost.RoostError) as e:
            db.fork_collection("one", "three")
        assert "the fork's files could not be made" in e.value.message, e.value.message
        assert sorted(inst.collections()) == ["default", "one", "src"]
        mine = "seg-c%08x-" % new_id
        wait_for(lambda: [f for f in os.listdir(inst.data) if f.startswith(mine)] ==
                 [os.path.basename(blocked)], 30, "the sweep of the refused fork's links")
        fill(db, 100, 200)
        assert inst.writer.pid == writer and inst.writer.poll() is None
        os.rename(blocked, os.path.join(inst.root, "moved"))
        assert db.fork_collection("one", "three")["id"] == new_id
        same(now_of(db, "one"), now_of(db, "three"))
        db.create_collection("ivf", DIM, index="IVF4,Flat", train_docs=SEAL)
        with pytest.raises(roost.RoostError) as e:
            db.fork_collection("ivf", "ivf2")
        assert e.value.code == roost.EINVAL and "trains on" in e.value.message
        assert sorted(inst.collections()) == ["default", "ivf", "one", "src", "three"]
        # Once it has trained (its first seal), it forks, training and all.
        db.use("ivf")
        fill(db, 0, SEAL + 300)
        db.use(None)
        wait_for(lambda: inst.collections()["ivf"]["segments"] == 1, 60, "the trained seal")
        db.fork_collection("ivf", "ivf2")
        same(now_of(db, "ivf"), now_of(db, "ivf2"))
        assert read_manifest(inst.data, inst.name)["collections"]["ivf2"]["trained_gen"]


FORK_STEPS = ("coll-before-apply", "fork-sealed", "fork-linked", "fork-after-manifest",
              "coll-before-manifest")


@pytest.mark.parametrize("point", FORK_STEPS)
def test_a_fork_killed_at_any_step_is_complete_after_recovery(make_instance, point):
    """Agents add to the source while a writer armed at a step of a fork
    dies there. The fork record is in the log, so after a restart the fork
    exists and answers what the source held at its LSN; the source has
    every add acknowledged and is the same as of that LSN."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL),
                                               "--seal-interval-ms", "0"])
    inst.serve()
    acked, stop = [], threading.Event()

    def agent():
        with roost.Roost(inst.broker_url(), timeout_ms=3000) as a:
            i = 100000
            while not stop.is_set():
                try:
                    a.add([vec(i)], texts=["load %d" % i], ids=["L%d" % i], ack="durable")
                    acked.append("L%d" % i)
                except roost.RoostError:
                    pass
                i += 1

    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        fill(db, 0, SEAL + 1000)
        at = db.search(QUERIES, k=1).lsn
        then = read_as_of(db, at, PROBE)
        inst.kill(inst.writer)
        writer = inst.start_writer(env={"ROOST_TEST_KILL_AT": point})
        load = threading.Thread(target=agent)
        load.start()
        try:
            wait_for(lambda: len(acked) >= 20, 30, "the agent's first adds")
            with roost.Roost(inst.broker_url(), timeout_ms=3000) as f:
                try:
                    f.fork_collection("default", "fork", as_of=at)
                except roost.RoostError:
                    pass  # the writer died before it answered
            assert writer.wait(timeout=30) < 0
            assert "kill point %s reached" % point in inst.read_log(inst.logs[-1])
            inst.start_writer()
            wait_for(lambda: "fork" in inst.collections(), 30, "the fork replayed")
        finally:
            stop.set()
            load.join()
        db.use("fork")
        same(then, read_as_of(db, db.search(QUERIES, k=1).lsn, PROBE))
        db.use(None)
        same(then, read_as_of(db, at, PROBE))
        got = {h.id for lo in range(0, len(acked), 1000) for h in db.get(acked[lo:lo + 1000])}
        assert got == set(acked)
