"""The crash matrix: kill -9 of a randomly chosen process at random moments
under continuous concurrent adds (every ack mode) and searches.

Each round kills one process (writer, a broker or a reader; under `roost
up` also the supervisor), sometimes the writer again while it recovers,
restarts it the way a supervisor would (or lets the supervisor do it), and
then checks that:
  - the system serves again: an add acked `visible` through every broker
    is found by a search with its LSN as min_lsn (read-your-writes);
  - every document acked so far, in any mode, is published exactly once
    with its fields (nothing lost, nothing duplicated);
  - nothing leaks: the instance's /dev/shm objects are the control block,
    the ring and one tail; the data directory holds only what the manifest
    names (plus the log and the lock); no long-lived process's count of
    open descriptors grows.

CI runs 10 kills (and half as many supervised); ROOST_CRASH_LONG=1 runs 50
(ROOST_CRASH_ROUNDS=N for another count; ROOST_CRASH_SEED=S to replay a
sequence). The figures of a run are printed (pytest -s shows them) for
docs/reliability.md.
"""
import json
import os
import random
import re
import signal
import struct
import subprocess
import threading
import time

import wire
from conftest import BIN, check_exactly_once, read_manifest, shm_dir, shm_objects, wait_for
from faults import fnv, writer_supports

DIM = 16
SEAL_DOCS = 4096
PROBE_CLIENT = 0xC0FFEE
FD_SLACK = 8  # connections come and go; a leak per round outgrows this
# The writer: lock, log directory and file, control block, ring, tail, and
# a segment or manifest being written; readers and brokers hold fewer.
MAX_FILE_FDS = 10
SETTLE_S = 60
ACK_RATE = 500  # documents a second per agent


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def rounds():
    if os.environ.get("ROOST_CRASH_ROUNDS"):
        return int(os.environ["ROOST_CRASH_ROUNDS"])
    return 50 if os.environ.get("ROOST_CRASH_LONG") else 10


class Load:
    """Agents adding without pause (two durable, one visible, one queued),
    each through libroost with retries, and a thread searching through
    both brokers. ACK lines are collected as the agents print them."""

    MODES = ("durable", "durable", "visible", "queued")

    def __init__(self, inst):
        self.inst = inst
        self.lock = threading.Lock()
        self.acked, self.errors = {}, []
        self.searches_ok = self.searches_failed = 0
        self.stopping = threading.Event()
        self.agents = [inst.agent(100 + a, requests=10 ** 7, batch=(1, 20), ack=mode,
                                  timeout_ms=60000) for a, mode in enumerate(self.MODES)]
        self.threads = [threading.Thread(target=self._read, args=(p,)) for p in self.agents]
        self.threads.append(threading.Thread(target=self._search))
        for t in self.threads:
            t.start()

    def _read(self, proc):
        # Reading slowly throttles the agent: it blocks on a full pipe
        # once it is ACK_RATE documents a second ahead, which keeps the
        # data (and each round's dump) small without touching its timing.
        for line in proc.stdout:
            time.sleep(1.0 / ACK_RATE)
            with self.lock:
                if line.startswith("ACK "):
                    parts = line[4:].rstrip("\n").split(" ", 5)
                    if parts[0] in self.acked:
                        self.errors.append("id %s acked twice" % parts[0])
                    self.acked[parts[0]] = " ".join(parts)
                elif line.startswith("ERR "):
                    self.errors.append(line.strip())

    def _search(self):
        rnd = random.Random(7)
        while not self.stopping.is_set():
            q = [[rnd.uniform(-1, 1) for _ in range(DIM)]]
            try:
                ok = self.inst.search(q, k=5, broker=rnd.randrange(2),
                                      client_timeout_ms=5000)["status"] == 0
            except (TimeoutError, OSError):
                ok = False
            with self.lock:
                if ok:
                    self.searches_ok += 1
                else:
                    self.searches_failed += 1

    def snapshot(self):
        with self.lock:
            return dict(self.acked), list(self.errors)

    def stop(self):
        self.stopping.set()
        for p in self.agents:
            p.terminate()
        for p in self.agents:
            p.wait(timeout=30)
        for t in self.threads:
            t.join(timeout=60)


class Cluster:
    """The instance's processes by role, restarted like a supervisor would."""

    # The writer, which owns the log, the seals and recovery, is picked as
    # often as both brokers or both readers together.
    ROLES = ["writer", "writer", "broker0", "broker1", "reader0", "reader1"]

    def __init__(self, inst):
        self.inst = inst
        inst.start_writer()
        inst.start_broker(0)
        inst.start_broker(1)
        self.procs = {"writer": inst.writer, "broker0": inst.brokers[0],
                      "broker1": inst.brokers[1], "reader0": inst.start_reader(),
                      "reader1": inst.start_reader()}

    def kill(self, role):
        self.inst.kill(self.procs[role])

    def _start(self, role):
        if role == "writer":
            return self.inst.start_writer()
        if role.startswith("broker"):
            return self.inst.start_broker(int(role[-1]))
        return self.inst.start_reader()

    def kill_during_recovery(self, rnd):
        """Starts a writer and kills it while it replays, before it serves."""
        p = self.inst._spawn("writer", self.inst.writer_argv())
        time.sleep(rnd.uniform(0, 0.3))
        self.inst.kill(p)

    def restart(self, role):
        """Starts role again; like a supervisor, tries again (with backoff)
        when the new process exits while starting. Returns the failed
        starts, with their logs' last line."""
        failed = []
        for attempt in range(10):
            try:
                self.procs[role] = self._start(role)
                return failed
            except AssertionError as e:
                failed.append("%s: %s" % (role, str(e).strip().splitlines()[0]))
                time.sleep(0.1 * (attempt + 1))
        raise AssertionError("%s never restarted: %s" % (role, failed))

    def pids(self):
        return {r: p.pid for r, p in self.procs.items()}

    def check_alive(self):
        dead = {r: p.returncode for r, p in self.procs.items() if p.poll() is not None}
        assert not dead, "processes died on their own: %r\n%s" % (dead, self.inst.all_logs())


def kill_moment(rnd, inst, role):
    """Sleeps until the moment to kill: random, or for the writer sometimes
    just before its tail fills, when a seal is due."""
    if role == "writer" and rnd.random() < 0.4:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if inst.status()["documents"] % SEAL_DOCS >= SEAL_DOCS - 200:
                    break
            except (TimeoutError, OSError):
                pass
            time.sleep(0.005)
        time.sleep(rnd.uniform(0, 0.03))
        return "near a seal"
    time.sleep(rnd.uniform(0.05, 1.5))
    return "random"


def call_until_ok(inst, broker, frame, deadline):
    last = None
    while time.monotonic() < deadline:
        c = inst.client(broker, timeout_ms=5000)
        try:
            last = c.call(frame)
            if last["status"] == 0:
                return last
        except (TimeoutError, OSError) as e:
            last = repr(e)
        finally:
            c.close()
        time.sleep(0.1)
    raise AssertionError("broker %d never answered OK: %r" % (broker, last))


def search_until_found(inst, broker, vec, doc_id, lsn, deadline):
    last = None
    while time.monotonic() < deadline:
        try:
            last = inst.search([vec], k=1, broker=broker, min_lsn=lsn, client_timeout_ms=5000)
            if last["status"] == 0 and last["results"][0] and \
                    last["results"][0][0]["id"] == doc_id:
                return
        except (TimeoutError, OSError) as e:
            last = repr(e)
        time.sleep(0.1)
    raise AssertionError("broker %d: probe %d not found: %r" % (broker, doc_id, last))


def probe(inst, rnd, seq):
    """An add acked visible, then found, through each broker. Returns the
    probes' acked fields, in the form roost-dump prints."""
    deadline = time.monotonic() + SETTLE_S
    acked = {}
    for broker in (0, 1):
        vec = [rnd.uniform(-1, 1) for _ in range(DIM)]
        text = "probe %d.%d" % (seq, broker)
        frame = wire.add_request(DIM, [wire.document(vec, agent=7, time=seq, kind="probe",
                                                     text=text)],
                                 PROBE_CLIENT, seq * 2 + broker, ack=3)
        add = call_until_ok(inst, broker, frame, deadline)["add"]
        doc_id = add["ids"][0]
        search_until_found(inst, broker, vec, doc_id, add["lsn"], deadline)
        acked[str(doc_id)] = "%d 7 %d probe %016x %s" % (doc_id, seq, fnv(vec), text)
    return acked


def probe_adds(inst, n):
    """n adds of 100 documents acked visible; returns them as roost-dump
    prints them."""
    acked = {}
    for seq in range(1, n + 1):
        vecs = [[(seq * 100 + i) % 7 - 3.0] * DIM for i in range(100)]
        docs = [wire.document(v, agent=9, time=i, kind="k", text="bulk %d.%d" % (seq, i))
                for i, v in enumerate(vecs)]
        add = call_until_ok(inst, 0, wire.add_request(DIM, docs, 0xB0, seq, ack=3),
                            time.monotonic() + SETTLE_S)["add"]
        for i, doc_id in enumerate(add["ids"]):
            acked[str(doc_id)] = "%d 9 %d k %016x bulk %d.%d" % (doc_id, i, fnv(vecs[i]), seq, i)
    return acked


def settle_exactly_once(inst, acked):
    """Waits until every acked document is published (durable and queued
    acks may still be on their way), then checks each is there once."""
    def all_there():
        ids = {d.split(" ", 1)[0] for d in inst.dump()}
        return all(i in ids for i in acked)
    try:
        wait_for(all_there, SETTLE_S, "every acked document to be published")
    except AssertionError:
        pass  # check_exactly_once names what is missing
    return check_exactly_once(inst, acked)


# ---- leaks -------------------------------------------------------------

def manifest_files(data, name):
    """The files the manifest names, and the collections it lists."""
    m = read_manifest(data, name)
    return {"LOCK", "MANIFEST", "wal"} | m["files"], len(m["collections"])


def stray_files(inst):
    try:
        want, _ = manifest_files(inst.data, inst.name)
    except AssertionError:
        return ["MANIFEST unreadable"]
    stray = [f for f in os.listdir(inst.data) if f not in want]
    wal = os.listdir(os.path.join(inst.data, "wal"))
    # A kill between a rotation's new file and the deletion of the old
    # ones leaves them for the next rotation: a few, never a growing pile.
    if len(wal) > 3 or any(not re.fullmatch(r"wal-[0-9a-f]{16}\.log", f) for f in wal):
        stray += ["wal/" + f for f in wal]
    return stray


def fd_targets(pid):
    out = []
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            out.append(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
        except OSError:
            pass  # closed meanwhile
    return out


def check_fds(inst, pids, fd_base):
    """Open files of the instance (shm objects, data files) stay few: one
    leaked per seal or per view would pile up within a round. The total
    (nanomsg's eventfds and connections included) must not grow; its base
    is taken at a process's second check, once every broker worker has
    made its search socket."""
    for role, pid in pids.items():
        targets = fd_targets(pid)
        shm = shm_dir(inst.run_dir) or "/dev/shm/"
        files = [t for t in targets if t.startswith(shm) or t.startswith(inst.data)]
        assert len(files) <= MAX_FILE_FDS, "%s holds %r" % (role, files)
        seen = fd_base.setdefault(pid, [])
        seen.append(len(targets))
        if len(seen) > 2:
            assert seen[-1] <= seen[1] + FD_SLACK, \
                "%s (pid %d): open fds per check %r" % (role, pid, seen)


def shm_settled(inst):
    """The instance's objects and one tail per collection, nothing more."""
    names = shm_objects(inst.run_dir)
    tails = [n for n in names if n.startswith("tail.")]
    _, ncolls = manifest_files(inst.data, inst.name)
    return sorted(set(names) - set(tails)) == ["catalog", "ctl", "ring"] and \
        len(tails) == ncolls


def check_no_leaks(inst, pids, fd_base):
    """Transient objects and files (a seal in progress) get a moment to go."""
    try:
        wait_for(lambda: shm_settled(inst) and not stray_files(inst), 10,
                 "the shm objects and data files to settle")
    except AssertionError:
        raise AssertionError("leak: shm %r, stray files %r" % (shm_objects(inst.run_dir),
                                                              stray_files(inst)))
    check_fds(inst, pids, fd_base)


# ---- supervised by `roost up` ------------------------------------------------

def roost_cli(inst, *args, timeout=120):
    return subprocess.run([os.path.join(BIN, "roost")] + [str(a) for a in args] +
                          ["--name", inst.name], env=inst.env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)


def alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone between open and read
        return False


class Supervised:
    """The same processes run by `roost up`; after a kill the test only
    waits for the supervisor to restart what died."""

    ROLES = Cluster.ROLES + ["supervisor"]

    def __init__(self, inst, writer_args, broker_args):
        self.inst = inst
        self.up_argv = ["up", "--data-dir", inst.data, "--dim", DIM, "--brokers", 2,
                        "--readers", 2]
        for a in writer_args:
            self.up_argv += ["--writer-arg", a]
        for a in broker_args:
            self.up_argv += ["--broker-arg", a]
        self.started = set()
        self.up()

    def up(self):
        out = roost_cli(self.inst, *self.up_argv)
        assert out.returncode == 0, out.stdout
        self.started |= set(self.pids().values()) | {self.supervisor_pid()}

    def supervisor_pid(self):
        return self.status()["supervisor"]["pid"]

    def status(self):
        out = roost_cli(self.inst, "status", "--json", "--interval-ms", 0, timeout=30)
        assert out.returncode == 0, out.stdout
        return json.loads(out.stdout)

    def pids(self):
        procs = self.status()["processes"]
        return {p["role"] + ("" if p["role"] == "writer" else str(p["id"])): p["pid"]
                for p in procs if p["pid"] and p["state"] == "running"}

    def kill(self, role):
        pid = self.supervisor_pid() if role == "supervisor" else self.pids()[role]
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not alive(pid), 30, "%s (pid %d) to die" % (role, pid))
        self.killed = pid

    def restart(self, role):
        """Waits for the supervisor to run role again; a killed supervisor
        is started again the way an init system would, with `roost up`."""
        if role == "supervisor":
            self.up()
            return []
        wait_for(lambda: self.pids().get(role, self.killed) != self.killed, 60,
                 "the supervisor to restart %s" % role)
        pid = self.pids()[role]
        self.started.add(pid)
        self.killed = pid
        return []

    def kill_during_recovery(self, rnd):
        """Kills the restarted writer again while it replays."""
        self.restart("writer")
        time.sleep(rnd.uniform(0, 0.3))
        self.kill("writer")

    def check_alive(self):
        pids = self.pids()
        assert len(pids) == 5, "not every process runs: %r\n%s" % (
            self.status()["processes"], self.log())
        self.started |= set(pids.values())

    def log(self):
        with open(os.path.join(self.inst.run_dir, "supervisor.log")) as f:
            return f.read()

    def down(self):
        if roost_cli(self.inst, "down", "--wait", 60).returncode != 0:
            for pid in self.started:  # only processes this test started
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)


# ---- the tests ---------------------------------------------------------------

def crash_args():
    writer_args = ["--seal-docs", str(SEAL_DOCS)]
    if writer_supports("--seal-interval-ms"):
        # Time-based seals of small tails, and the compactions they cause,
        # so that kills also land in seals, compactions and log rotation.
        writer_args += ["--seal-interval-ms", "500"]
    return writer_args, ["--busy-timeout-ms", "2000", "--workers", "4"]


def run_matrix(inst, group, n):
    """n rounds of: kill a random process of group at a random moment, let
    it come back, check service, data and leaks. Prints the figures."""
    seed = int(os.environ.get("ROOST_CRASH_SEED", random.randrange(1 << 30)))
    rnd = random.Random(seed)
    load = Load(inst)
    fd_base, probes, kills, start_failures = {}, {}, [], []
    started = time.monotonic()
    try:
        wait_for(lambda: len(load.snapshot()[0]) > 500, 60, "the load to start")
        for r in range(n):
            role = rnd.choice(group.ROLES)
            moment = kill_moment(rnd, inst, role)
            group.check_alive()
            group.kill(role)
            kills.append((role, moment))
            if role == "writer" and rnd.random() < 0.3:
                group.kill_during_recovery(rnd)
                kills.append((role, "during recovery"))
            start_failures += group.restart(role)
            probes.update(probe(inst, rnd, r + 1))
            acked, errors = load.snapshot()
            assert not errors, "round %d (%s killed, seed %d): %s" % (r, role, seed, errors[:5])
            acked.update(probes)
            settle_exactly_once(inst, acked)
            check_no_leaks(inst, group.pids(), fd_base)
    finally:
        load.stop()
    acked, errors = load.snapshot()
    assert not errors, errors[:5]
    acked.update(probes)
    docs = settle_exactly_once(inst, acked)
    assert load.searches_ok > 0
    group.check_alive()
    check_no_leaks(inst, group.pids(), fd_base)
    by_role = {}
    for role, _ in kills:
        by_role[role.rstrip("01")] = by_role.get(role.rstrip("01"), 0) + 1
    moments = {m: sum(k == m for _, k in kills) for m in ("near a seal", "during recovery")}
    print("\ncrash matrix (%s): seed %d, %d kills survived %r %r; %d acked documents "
          "checked (%d published): lost 0, duplicates 0; searches %d ok, %d failed; %d "
          "restarts needed a retry; %.0f s" %
          (type(group).__name__, seed, len(kills), by_role, moments, len(acked), len(docs),
           load.searches_ok, load.searches_failed, len(start_failures),
           time.monotonic() - started))
    for f in start_failures:
        print("  a restart failed once: %s" % f)


def test_kill9_matrix_under_load(make_instance):
    writer_args, broker_args = crash_args()
    inst = make_instance(dim=DIM, writer_args=writer_args, broker_args=broker_args)
    run_matrix(inst, Cluster(inst), rounds())


def test_kill9_matrix_supervised(make_instance):
    """The matrix under `roost up`: nothing but the supervisor restarts."""
    inst = make_instance(dim=DIM)
    sup = Supervised(inst, *crash_args())
    try:
        run_matrix(inst, sup, max(3, rounds() // 2))
    finally:
        sup.down()


def test_kill9_supervisor_then_up_again(make_instance):
    """Whatever a killed supervisor leaves behind must not block the next
    `roost up`, and loses nothing acknowledged."""
    inst = make_instance(dim=DIM)
    sup = Supervised(inst, *crash_args())
    try:
        before = probe(inst, random.Random(1), 1)
        sup.kill("supervisor")
        sup.restart("supervisor")
        probe(inst, random.Random(2), 2)
        check_exactly_once(inst, before)
    finally:
        sup.down()


def test_writer_start_removes_what_a_dead_writer_left(make_instance):
    """Files a writer killed mid-seal, mid-training or mid-compaction leaves
    (named by no manifest) are removed when the next writer starts; the
    manifest's own files and anything not roost's stay."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", str(SEAL_DOCS)])
    inst.start_writer()
    inst.start_broker()
    acked = probe_adds(inst, 2 * SEAL_DOCS // 100 + 1)
    wait_for(lambda: len(manifest_files(inst.data, inst.name)[0]) > 3, 30, "a seal")
    inst.kill(inst.writer)
    left = ["seg-0000000000000010-0000000000001000.index.tmp", "MANIFEST.tmp",
            "seg-00000000000000f0-0000000000ffffff.docs",
            "seg-00000000000000f0-0000000000ffffff.index", "trained-00000000000000ff.index"]
    for name in left + ["notes.txt"]:
        with open(os.path.join(inst.data, name), "w") as f:
            f.write("junk")
    inst.start_writer()
    assert stray_files(inst) == ["notes.txt"]
    for name in left:
        assert "removed %s/%s" % (inst.data, name) in inst.all_logs()
    check_exactly_once(inst, acked)


def test_writer_kill_points(make_instance):
    """ROOST_TEST_KILL_AT: an unknown point or a bad count stops the start
    with the known points named, creating nothing; an armed point kills
    the writer there (SIGKILL, after one log line) and loses nothing."""
    inst = make_instance(dim=DIM)
    for spec, why in (("log-sync", "unknown kill point"), ("replay:0", "bad count"),
                      ("replay:x", "bad count")):
        p = inst._spawn("writer", inst.writer_argv(), env={"ROOST_TEST_KILL_AT": spec})
        assert p.wait(timeout=30) == 2
        text = inst.read_log(inst.logs[-1])
        assert "ROOST_TEST_KILL_AT='%s': %s" % (spec, why) in text, text
        assert "log-before-sync, log-after-sync, seal-before-manifest" in text, text
        assert not os.path.exists(inst.data)
    inst.start_writer()
    inst.start_broker()
    acked = probe_adds(inst, 2)
    inst.kill(inst.writer)
    p = inst._spawn("writer", inst.writer_argv(), env={"ROOST_TEST_KILL_AT": "replay:2"})
    assert p.wait(timeout=30) == -signal.SIGKILL
    assert "kill point replay reached" in inst.read_log(inst.logs[-1])
    p = inst._spawn("writer", inst.writer_argv(), env={"ROOST_TEST_KILL_AT": "log-after-sync"})
    frame = wire.add_request(DIM, [wire.document([1.0] * DIM, text="last")], 0xB0, 99, ack=1)
    call_until_ok(inst, 0, frame, time.monotonic() + SETTLE_S)
    assert p.wait(timeout=30) == -signal.SIGKILL
    assert "kill point log-after-sync reached" in inst.read_log(inst.logs[-1])
    for seq, point in enumerate(("coll-before-apply", "coll-before-manifest"), 1):
        create_then_kill(inst, "made%d" % seq, seq, point)
    inst.start_writer()
    assert "kill point" not in inst.read_log(inst.logs[-1])
    wait_for(lambda: {"made1", "made2"} <= set(inst.collections()), SETTLE_S,
             "the creates logged before the kills")
    check_exactly_once(inst, acked)


def create_then_kill(inst, name, seq, point):
    """A create sent to a writer armed at point: logged, it must survive
    the kill."""
    p = inst._spawn("writer", inst.writer_argv(), env={"ROOST_TEST_KILL_AT": point})
    frame = wire.create_request(name, 0xC1, seq, dim=4)
    deadline = time.monotonic() + SETTLE_S
    while p.poll() is None and time.monotonic() < deadline:
        try:
            inst.call(frame, timeout_ms=2000)
        except (TimeoutError, OSError):
            pass
    assert p.wait(timeout=30) == -signal.SIGKILL
    assert "kill point %s reached" % point in inst.read_log(inst.logs[-1])


def test_answers_never_go_back_while_a_writer_recovers(make_instance):
    """A restarted writer replays the log into a new tail, which starts
    empty: readers must keep answering from what was already published
    (the replay brings back the same batches) instead of losing documents
    acknowledged `visible` until the replay is done. The writer is held in
    the middle of its replay by dying there."""
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    rnd = random.Random(5)
    vecs = [[f32(rnd.uniform(-1, 1)) for _ in range(DIM)] for _ in range(20)]
    acked = []
    for seq, vec in enumerate(vecs, 1):
        frame = wire.add_request(DIM, [wire.document(vec, agent=1, text="v%d" % seq)], 0xAB,
                                 seq, ack=3)
        acked.append(call_until_ok(inst, 0, frame, time.monotonic() + SETTLE_S)["add"])
    before = inst.search(vecs, k=1)
    assert before["lsn"] > acked[-1]["lsn"]
    inst.kill(inst.writer)
    p = inst._spawn("writer", inst.writer_argv(), env={"ROOST_TEST_KILL_AT": "replay:10"})
    assert p.wait(timeout=30) == -signal.SIGKILL
    during = inst.search(vecs, k=1)
    assert during["status"] == 0 and during["lsn"] >= before["lsn"], during
    assert [r[0]["id"] if r else None for r in during["results"]] == \
        [a["ids"][0] for a in acked]
    inst.start_writer()
    frame = wire.add_request(DIM, [wire.document([0.5] * DIM, agent=1, text="after")], 0xAB,
                             len(vecs) + 1, ack=3)
    lsn = call_until_ok(inst, 0, frame, time.monotonic() + SETTLE_S)["add"]["lsn"]
    after = inst.search(vecs, k=1, min_lsn=lsn)
    assert after["lsn"] > lsn
    assert [r[0]["id"] for r in after["results"]] == [a["ids"][0] for a in acked]
