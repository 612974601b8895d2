"""The crash matrix: kill -9 of a randomly chosen process at random moments
and at fixed points in the writer, under continuous concurrent adds (every
ack mode) and searches, with every operation of some clients recorded and
checked by an independent history checker (history.py).

Each round kills one process (writer, a broker or a reader; under `roost
up` also the supervisor) at a random moment, or the writer at one of its
kill points (writer/killpoint.h: a writer started with ROOST_TEST_KILL_AT
kills itself there, and says so in its log; for the points of a
collection's create and drop, a thread creates and drops one meanwhile). It then restarts what died
the way a supervisor would (or lets the supervisor do it); a restart that
fails fails the test. Then it checks that:
  - the system serves again: an add acked `visible` through every broker
    is found by a search with its LSN as min_lsn;
  - every document acked so far, in any mode, is published exactly once
    with its fields (by id), no two stored documents share a content
    (agent, text), and nothing is stored that no client sent;
  - the history so far holds read-your-writes, monotonic reads and
    exactly-once (history.py);
  - in one round chosen by the seed and at the end, every acked document
    is found through a reader by a search by its own vector (k=1,
    filtered on its agent): the read path users have, not the dump's;
  - nothing leaks: the instance's /dev/shm objects are the control block,
    the catalog, the ring and one tail per collection; the data directory
    holds only what the manifest names (plus the log and the lock); no
    long-lived process's count of open descriptors grows.

A second matrix (test_kill9_keyed_documents_upserts_and_deletes) does the
same for documents with ids of their own: agents add, upsert and delete
them by id while the writer dies at each kill point of records and seals,
and the history checker holds every get, search and scroll to the last
acknowledged state of each key.

CI runs 10 rounds plus one per kill point (and half as many supervised,
where the supervisor's restarts leave no room for kill points); every kill
point must be hit. ROOST_CRASH_LONG=1 (`make test-long`) runs 50 and 25;
ROOST_CRASH_ROUNDS=N another count; ROOST_CRASH_SEED=S replays a sequence.
Every failure names the seed. The figures of a run are printed (pytest -s
shows them) for docs/reliability.md.
"""
import itertools
import json
import os
import random
import re
import signal
import struct
import subprocess
import sys
import threading
import time
import traceback

import agentdata
import history
import wire
from conftest import (BIN, BUILD, ROOT, Threads, check_exactly_once, read_manifest, shm_dir,
                      shm_objects, wait_for)
from faults import fnv, writer_supports

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost  # noqa: E402

DIM = 16
SEAL_DOCS = 4096
PROBE_CLIENT = 0xC0FFEE
PROBE_AGENT = 7
CHURN_CLIENT = 0xC011  # creates and drops a collection for the coll- kill points
CHURN_KEYS = itertools.count(1)
FD_SLACK = 8  # connections come and go; a leak per round outgrows this
# The writer: lock, log directory and file, control block, ring, tail, and
# a segment or manifest being written; readers and brokers hold fewer.
MAX_FILE_FDS = 10
SETTLE_S = 60
ACK_RATE = 150  # documents a second per agent
MAX_QUERIES = 1024  # the most queries one search request may carry

# The writer's kill points (writer/killpoint.c) and, for each, the largest
# arrival to stop at: the log is synced once per group, many times a
# second; seals come every half second; compactions (built off the ingest
# thread, installed on it) every few seals; a restart replays what was
# logged since the last seal; rebuilds follow each alter of the default
# collection (alter_default), one segment at a time. A fork's own points
# (fork-*) are each hit under load in test_fork.py.
KILL_POINTS = {"log-before-sync": 100, "log-after-sync": 100, "seal-frozen": 3,
               "seal-written": 3, "seal-before-manifest": 3, "seal-after-manifest": 3,
               "replay": 5, "compact-built": 2, "compact-before-manifest": 2,
               "compact-after-manifest": 2, "coll-before-apply": 2, "coll-before-manifest": 2,
               "rebuild-built": 2, "rebuild-before-manifest": 2, "rebuild-after-manifest": 2}
ALTER_EVERY_S = 2  # long enough for a rebuild of every segment to finish
# Index types both exact, so that every check of the matrix holds whichever
# a segment has: IVF with one list scans every row, and trains (from a
# sample of the segments, once they hold ALTER_TRAIN rows).
ALTER_INDEXES = ("IVF1,Flat", "Flat")
ALTER_TRAIN = 1000
POINT_WAIT_S = 30  # an armed writer that lives longer missed its point
POINT_TRIES = 3  # rounds a point gets before a miss fails the run

# Why a restarted process may exit while starting. Each entry is a regular
# expression for the first line of what its log says; none is allowed now.
# (A reader started during a seal used to give up with "cannot load the
# published data: busy"; readers now wait for a consistent generation.)
ALLOWED_START_FAILURES = []


def f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def rounds():
    if os.environ.get("ROOST_CRASH_ROUNDS"):
        return int(os.environ["ROOST_CRASH_ROUNDS"])
    return 50 if os.environ.get("ROOST_CRASH_LONG") else 10


# ---- the history -------------------------------------------------------------

class Recorder:
    """The history of a run (history.py): every operation of the history
    clients, the agents' acknowledged adds, the probes, the read-path
    searches and the complete reads; one clock orders them."""

    def __init__(self):
        self.lock = threading.Lock()
        self.ops = []
        self.clock = 0
        self.vectors = {}  # content -> the vector it was sent with
        self.contents = []  # the same contents, for sampling

    def tick(self):
        with self.lock:
            self.clock += 1
            return self.clock

    def record(self, op):
        with self.lock:
            self.ops.append(op)

    def sent(self, content, vec):
        with self.lock:
            self.vectors[content] = vec
            self.contents.append(content)

    def snapshot(self):
        """The operations so far, and every content a history client has
        sent (an add still in flight is not in the operations yet)."""
        with self.lock:
            return list(self.ops), set(self.vectors)

    def vector(self, content):
        """A document's vector: sent by a history client or a probe, or
        recomputed from an agent's text ("agent A post R.I")."""
        with self.lock:
            vec = self.vectors.get(content)
        if vec is None:
            req, i = content[1].rsplit(" ", 1)[1].split(".")
            vec = agentdata.vector(content[0], int(req), int(i), DIM)
        return vec


# Errors that say an add was refused as it was (nothing stored); any other
# that outlasts the retries leaves the outcome unknown.
REFUSED = {-1, -10, -11, -12, -13, -14, -15, -25}
RETRYABLE = {-7, -8, -9, -19, -20, -24}  # busy, timeout, writer, visible, conn, closed
ACKS = {"queued": 1, "durable": 2, "visible": 3}


class HistoryClient(threading.Thread):
    """A client whose every operation is recorded. Adds of 1 to 5
    documents in a random ack mode, retried with their key (at the other
    broker) like libroost does; one in five is sent once more after its
    acknowledgement, as if the reply had been lost. Searches for 8
    documents of the history clients, each by its own vector with k=1,
    under a random agent filter, with min_lsn its session's LSN (the newest
    it was acknowledged or answered), its last ack's LSN, or none; and half
    of its acknowledged adds are searched for at once, with their LSN."""

    def __init__(self, inst, rec, n, count, seed, stopping):
        super().__init__()
        self.inst, self.rec, self.stopping = inst, rec, stopping
        self.client = "h%d" % n
        self.agent = 200 + n
        self.agents = [200 + i for i in range(count)]
        self.client_id = 0x4157_0000 + n
        self.seq = 0
        self.rnd = random.Random(seed * 31 + n)
        self.session = self.last_ack = 0
        self.mine = []  # the documents of its latest add
        self.errors = []

    def run(self):
        try:
            while not self.stopping.is_set():
                if self.rnd.random() < 0.5:
                    self.search()
                elif self.add() and self.rnd.random() < 0.5:
                    # Reads its own write at once: with an ack other than
                    # visible the reader may have to wait for it.
                    self.search(self.mine, self.last_ack)
                self.stopping.wait(0.01)
        except Exception:  # noqa: BLE001 - a dead client must fail the test
            self.errors.append("%s: %s" % (self.client, traceback.format_exc()))

    def call(self, broker, frame, parse, timeout_ms):
        c = self.inst.client(broker, timeout_ms=timeout_ms)
        try:
            return parse(c.call_raw(frame))
        finally:
            c.close()

    def add(self):
        self.seq += 1
        docs, contents = [], []
        for i in range(self.rnd.randint(1, 5)):
            content = (self.agent, "%s %d.%d" % (self.client, self.seq, i))
            vec = [f32(self.rnd.uniform(-1, 1)) for _ in range(DIM)]
            self.rec.sent(content, vec)
            contents.append(content)
            docs.append(wire.document(vec, agent=self.agent, time=self.seq, kind="h",
                                      text=content[1]))
        mode = self.rnd.choice(sorted(ACKS))
        frame = wire.add_request(DIM, docs, self.client_id, self.seq, ack=ACKS[mode],
                                 timeout_ms=5000)
        broker = self.rnd.randrange(2)
        self.mine = contents
        if not self.send(frame, contents, mode, broker):
            return False
        if self.rnd.random() < 0.2:
            # As if the reply had been lost: the same request again, at the
            # other broker, must be answered with the same ids.
            self.send(frame, contents, mode, 1 - broker)
        return True

    def send(self, frame, contents, mode, broker):
        """One add, retried with its key until it is answered; recorded.
        True when it was acknowledged."""
        op = {"f": "add", "client": self.client, "docs": contents, "ack": mode,
              "index": self.rec.tick()}
        deadline = time.monotonic() + SETTLE_S
        while True:
            try:
                reply = self.call(broker, frame, wire.parse_reply, 8000)
                status, last = reply["status"], reply["message"]
            except (TimeoutError, OSError) as e:
                status, last = -20, repr(e)
            if status == 0:
                op.update(result="ok", ids=reply["add"]["ids"], lsn=reply["add"]["lsn"])
                self.session = max(self.session, op["lsn"])
                self.last_ack = op["lsn"]
                break
            if status in REFUSED or status not in RETRYABLE or \
                    time.monotonic() > deadline or self.stopping.is_set():
                op.update(result="fail" if status in REFUSED else "info", error=last)
                break
            broker = 1 - broker
            time.sleep(0.05)
        op["done"] = self.rec.tick()
        self.rec.record(op)
        return op["result"] == "ok"

    def search(self, own=(), min_lsn=None):
        """Searches for own and for documents of any history client, or
        for 8 of the latter."""
        with self.rec.lock:
            pool = self.rec.contents
            targets = list(own) + [pool[self.rnd.randrange(len(pool))]
                                   for _ in range(8 - len(own))] if pool else []
        if not targets:
            return
        if min_lsn is None:
            r = self.rnd.random()
            min_lsn = self.session if r < 0.5 else self.last_ack if r < 0.75 else 0
        agents = None if own or self.rnd.random() < 0.3 else \
            sorted(self.rnd.sample(self.agents, self.rnd.randint(1, len(self.agents))))
        op = {"f": "search", "client": self.client, "targets": targets, "agents": agents,
              "min_lsn": min_lsn, "index": self.rec.tick()}
        frame = wire.search_request(DIM, [self.rec.vector(t) for t in targets], 1,
                                    min_lsn=min_lsn, agents=agents or (), timeout_ms=5000)
        try:
            reply = self.call(self.rnd.randrange(2), frame, wire.parse_search, 8000)
        except (TimeoutError, OSError) as e:
            reply = {"status": -20, "message": repr(e)}
        if reply["status"] == 0:
            op.update(result="ok", lsn=reply["lsn"],
                      hits=[(h[0]["id"], (h[0]["agent"], h[0]["text"])) if h else None
                            for h in reply["results"]])
            # Every LSN below the answer's is included: asking for the one
            # just below it keeps the session's reads from going back.
            self.session = max(self.session, reply["lsn"] - 1)
        else:
            op.update(result="fail", error=reply["message"])
        op["done"] = self.rec.tick()
        self.rec.record(op)


class Load:
    """Agents adding without pause (two durable, one visible, one queued),
    each through libroost with retries; a thread searching through both
    brokers; and history clients. The agents' acknowledged requests go
    into the history as they print them."""

    MODES = ("durable", "durable", "visible", "queued")
    HISTORY_CLIENTS = 2

    def __init__(self, inst, rec, seed):
        self.inst, self.rec = inst, rec
        self.lock = threading.Lock()
        self.acked, self.errors = {}, []
        self.searches_ok = self.searches_failed = 0
        self.stopping = threading.Event()
        self.agents = [inst.agent(100 + a, requests=10 ** 7, batch=(1, 20), ack=mode,
                                  timeout_ms=60000) for a, mode in enumerate(self.MODES)]
        self.agent_ids = {100 + a for a in range(len(self.MODES))}
        self.threads = [threading.Thread(target=self._read, args=(p, 100 + a, self.MODES[a]))
                        for a, p in enumerate(self.agents)]
        self.threads.append(threading.Thread(target=self._search))
        self.clients = [HistoryClient(inst, rec, n, self.HISTORY_CLIENTS, seed, self.stopping)
                        for n in range(self.HISTORY_CLIENTS)]
        for t in self.threads + self.clients:
            t.start()

    def unrecorded(self, content):
        """The agents' documents: only acknowledged requests are seen."""
        return content[0] in self.agent_ids and content[1].startswith("agent %d post " %
                                                                      content[0])

    def _read(self, proc, agent, mode):
        # Reading slowly throttles the agent: it blocks on a full pipe
        # once it is ACK_RATE documents a second ahead, which keeps the
        # data (and each round's dump) small without touching its timing.
        op = None
        try:
            for line in proc.stdout:
                time.sleep(1.0 / ACK_RATE)
                with self.lock:
                    if line.startswith("LSN "):
                        lsn, n = (int(x) for x in line.split()[1:3])
                        op = {"f": "add", "client": "agent%d" % agent, "ack": mode,
                              "index": self.rec.tick(), "result": "ok", "lsn": lsn,
                              "docs": [], "ids": [], "left": n}
                    elif line.startswith("ACK "):
                        parts = line[4:].rstrip("\n").split(" ", 5)
                        if parts[0] in self.acked:
                            self.errors.append("id %s acked twice" % parts[0])
                        self.acked[parts[0]] = " ".join(parts)
                        op["ids"].append(int(parts[0]))
                        op["docs"].append((int(parts[1]), parts[5]))
                        op["left"] -= 1
                        if op["left"] == 0:
                            op["done"] = self.rec.tick()
                            self.rec.record(op)
                    elif line.startswith("ERR "):
                        self.errors.append(line.strip())
        except Exception:  # noqa: BLE001 - a dead reader must fail the test
            with self.lock:
                self.errors.append(traceback.format_exc())

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
            if not ok:  # no broker, for a moment: not worth a busy loop
                self.stopping.wait(0.05)

    def snapshot(self):
        with self.lock:
            errors = list(self.errors)
            acked = dict(self.acked)
        for c in self.clients:
            errors += c.errors
        return acked, errors

    def stop(self):
        self.stopping.set()
        for p in self.agents:
            p.terminate()
        for p in self.agents:
            p.wait(timeout=30)
        for t in self.threads + self.clients:
            t.join(timeout=60)


# ---- the processes -------------------------------------------------------------

class Cluster:
    """The instance's processes by role, restarted like a supervisor would."""

    # The writer, which owns the log, the seals and recovery, is picked as
    # often as both brokers or both readers together.
    ROLES = ["writer", "writer", "broker0", "broker1", "reader0", "reader1"]
    KILL_POINTS = True

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

    def kill_at_point(self, point, nth):
        """Starts a writer armed to kill itself at the nth arrival at point
        and waits for it to die. True when it died there; False when it
        missed the point (recovery ended before it, or it did not come in
        time): then it is killed here, at whatever moment that is."""
        p = self.inst._spawn("writer", self.inst.writer_argv(),
                             env={"ROOST_TEST_KILL_AT": "%s:%d" % (point, nth)})
        self.procs["writer"] = self.inst.writer = p
        log = self.inst.logs[-1]
        if point.startswith("coll-"):
            threading.Thread(target=churn_collections, args=(self.inst, p), daemon=True).start()
        if point.startswith("rebuild-"):
            threading.Thread(target=alter_default, args=(self.inst, p), daemon=True).start()
        deadline = time.monotonic() + POINT_WAIT_S
        while p.poll() is None and time.monotonic() < deadline:
            if point == "replay" and self.inst._logged(log, "serving instance"):
                break
            time.sleep(0.02)
        if p.poll() is None:
            self.inst.kill(p)
            return False
        text = self.inst.read_log(log)
        assert p.returncode == -signal.SIGKILL and "kill point %s reached" % point in text, \
            "the writer armed at %s:%d exited with %s:\n%s" % (point, nth, p.returncode, text)
        return True

    def restart(self, role):
        """Starts role again; a start that fails fails the test, unless
        its reason is in ALLOWED_START_FAILURES (then it is tried again)."""
        for _ in range(10):
            try:
                self.procs[role] = self._start(role)
                return
            except AssertionError as e:
                why = (str(e).strip().splitlines() or [""])[0]
                if not any(re.search(a, why) for a in ALLOWED_START_FAILURES):
                    raise AssertionError("%s failed to restart: %s\n%s" % (
                        role, why, self.inst.all_logs()[-4000:]))
        raise AssertionError("%s never restarted" % role)

    def pids(self):
        return {r: p.pid for r, p in self.procs.items()}

    def check_alive(self):
        dead = {r: p.returncode for r, p in self.procs.items() if p.poll() is not None}
        assert not dead, "processes died on their own: %r\n%s" % (dead, self.inst.all_logs())


def churn_collections(inst, writer):
    """Creates and drops a collection, through both brokers, until writer
    exits: the load that reaches the coll- kill points."""
    while writer.poll() is None:
        seq = next(CHURN_KEYS)
        frame = wire.create_request("churn", CHURN_CLIENT, seq, dim=4) if seq % 2 else \
            wire.drop_request("churn", CHURN_CLIENT, seq)
        try:
            inst.call(frame, broker=seq % 2, timeout_ms=2000)
        except (TimeoutError, OSError):
            time.sleep(0.05)


def alter_default(inst, writer):
    """Alters the default collection from one exact index type to the other
    until writer exits: each makes the writer rebuild every sealed segment,
    the load that reaches the rebuild- kill points, while searches keep
    their exact answers."""
    for index in itertools.cycle(ALTER_INDEXES):
        if writer.poll() is not None:
            return
        frame = wire.alter_request("default", CHURN_CLIENT, next(CHURN_KEYS), index=index,
                                   train_docs=ALTER_TRAIN)
        try:
            inst.call(frame, timeout_ms=2000)
        except (TimeoutError, OSError):
            pass
        time.sleep(ALTER_EVERY_S)


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
    waits for the supervisor to restart what died. The supervisor passes
    its environment to every writer it starts, so an armed writer would be
    armed again at each restart: kill points are the unsupervised
    matrix's."""

    ROLES = Cluster.ROLES + ["supervisor"]
    KILL_POINTS = False
    RESTARTING = re.compile(r"\S+ \(pid (\d+)\) (.*) after [0-9.]+ s; restarting")

    def __init__(self, inst, writer_args, broker_args):
        self.inst = inst
        self.up_argv = ["up", "--data-dir", inst.data, "--dim", DIM, "--brokers", 2,
                        "--readers", 2]
        for a in writer_args:
            self.up_argv += ["--writer-arg", a]
        for a in broker_args:
            self.up_argv += ["--broker-arg", a]
        self.started, self.killed_pids = set(), set()
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
        self.killed_pids.add(pid)
        wait_for(lambda: not alive(pid), 30, "%s (pid %d) to die" % (role, pid))
        self.killed = pid

    def restart(self, role):
        """Waits for the supervisor to run role again; a killed supervisor
        is started again the way an init system would, with `roost up`.
        Any process the supervisor had to restart that the test did not
        kill (one that exited while starting) fails the test."""
        if role == "supervisor":
            self.up()
        else:
            wait_for(lambda: self.pids().get(role, self.killed) != self.killed, 60,
                     "the supervisor to restart %s" % role)
            pid = self.pids()[role]
            self.started.add(pid)
            self.killed = pid
        failed = [m.group(0) for m in self.RESTARTING.finditer(self.log())
                  if int(m.group(1)) not in self.killed_pids]
        assert not failed, "the supervisor restarted what the test did not kill: %s\n%s" % (
            failed, self.log()[-4000:])

    def kill_again_after_restart(self, rnd):
        """Kills the writer the supervisor restarted again within 0.3 s."""
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


# ---- service checks -------------------------------------------------------------

def call_until_ok(inst, broker, frame, deadline):
    last = None
    while time.monotonic() < deadline:
        try:
            # A broker the supervisor shows running may not listen yet.
            last = inst.call(frame, broker, timeout_ms=5000)
            if last["status"] == 0:
                return last
        except (TimeoutError, OSError) as e:
            last = repr(e)
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


def probe(inst, rnd, seq, rec=None):
    """An add acked visible, then found, through each broker. Returns the
    probes' acked fields, in the form roost-dump prints; records the adds
    in rec."""
    deadline = time.monotonic() + SETTLE_S
    acked = {}
    for broker in (0, 1):
        vec = [f32(rnd.uniform(-1, 1)) for _ in range(DIM)]
        text = "probe %d.%d" % (seq, broker)
        frame = wire.add_request(DIM, [wire.document(vec, agent=PROBE_AGENT, time=seq,
                                                     kind="probe", text=text)],
                                 PROBE_CLIENT, seq * 2 + broker, ack=3)
        index = rec.tick() if rec else 0
        add = call_until_ok(inst, broker, frame, deadline)["add"]
        doc_id = add["ids"][0]
        if rec:
            rec.sent((PROBE_AGENT, text), vec)
            rec.record({"f": "add", "client": "probe", "index": index, "done": rec.tick(),
                        "docs": [(PROBE_AGENT, text)], "ids": [doc_id], "lsn": add["lsn"],
                        "result": "ok", "ack": "visible"})
        search_until_found(inst, broker, vec, doc_id, add["lsn"], deadline)
        acked[str(doc_id)] = "%d %d %d probe %016x %s" % (doc_id, PROBE_AGENT, seq, fnv(vec),
                                                         text)
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


# ---- the checks of a round -------------------------------------------------------

def read_stored(inst, rec, fields, settle_s=SETTLE_S):
    """A complete read of what is stored, once every add acknowledged so
    far is published (durable and queued acks may still be on their way),
    recorded in the history. fields: {id: fields} of the acks whose fields
    are checked too (check_exactly_once)."""
    index = rec.tick()
    newest = max([op["lsn"] for op in rec.snapshot()[0] if op["f"] == "add" and
                  op["result"] == "ok" and op["done"] < index] or [0])

    def published():
        try:
            return inst.status()["published_lsn"] > newest
        except (TimeoutError, OSError):
            return False
    try:
        wait_for(published, settle_s, "every acked document to be published")
    except AssertionError:
        pass  # check_exactly_once and the history name what is missing
    by_id = check_exactly_once(inst, fields)
    docs = []
    for line in by_id.values():
        doc_id, agent, _, _, _, text = line.split(" ", 5)
        docs.append((int(doc_id), (int(agent), text)))
    rec.record({"f": "read", "index": index, "docs": docs})
    return docs


def verify_read_path(inst, rec, rnd):
    """Every document acknowledged so far, searched through a reader by its
    own vector (k=1, filtered on its agent, min_lsn the newest ack's LSN),
    1024 queries a request; recorded in the history, whose read-your-writes
    check then requires each to be found. Returns how many were searched."""
    ops, _ = rec.snapshot()
    acked = [(c, op["lsn"]) for op in ops if op["f"] == "add" and op["result"] == "ok"
             for c in op["docs"]]
    if not acked:
        return 0
    min_lsn = max(lsn for _, lsn in acked)
    by_agent = {}
    for c in dict(acked):  # a resent add is acknowledged twice
        by_agent.setdefault(c[0], []).append(c)
    for agent, contents in sorted(by_agent.items()):
        for at in range(0, len(contents), MAX_QUERIES):
            chunk = contents[at:at + MAX_QUERIES]
            op = {"f": "search", "client": "read-path", "targets": chunk, "agents": [agent],
                  "min_lsn": min_lsn, "index": rec.tick()}
            reply = inst.search([rec.vector(c) for c in chunk], k=1, broker=rnd.randrange(2),
                                min_lsn=min_lsn, agents=[agent], client_timeout_ms=60000)
            assert reply["status"] == 0, "a read-path search failed: %r" % reply
            op.update(result="ok", lsn=reply["lsn"], done=rec.tick(),
                      hits=[(h[0]["id"], (h[0]["agent"], h[0]["text"])) if h else None
                            for h in reply["results"]])
            rec.record(op)
    return sum(len(c) for c in by_agent.values())


def check_history(rec, unrecorded, every_read=True):
    """Checks the history; every_read=False leaves out all complete reads
    but the last, each of which holds everything stored: a run's rounds
    then cost linear time, not quadratic, and the final check has all."""
    ops, sent = rec.snapshot()
    if not every_read:
        last = max((op["index"] for op in ops if op["f"] == "read"), default=None)
        ops = [op for op in ops if op["f"] != "read" or op["index"] == last]
    violations = history.check(ops, lambda c: c in sent or unrecorded(c))
    text = history.failures(violations)
    assert not text, "the history breaks roost's guarantees:\n" + text
    return ops


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


def shm_settled(inst, pids):
    """The instance's objects, one tail per collection and the metrics
    objects of its processes (pids, by role) only, nothing more."""
    names = shm_objects(inst.run_dir)
    tails = [n for n in names if n.startswith("tail.")]
    metrics = {n for n in names if n.startswith("metrics.")}
    live = {"metrics.%d" % pid for pid in pids.values()}
    _, ncolls = manifest_files(inst.data, inst.name)
    return sorted(set(names) - set(tails) - metrics) == ["catalog", "ctl", "ring"] and \
        len(tails) == ncolls and metrics <= live


def check_no_leaks(inst, pids, fd_base):
    """Transient objects and files (a seal in progress) get a moment to go."""
    try:
        wait_for(lambda: shm_settled(inst, pids) and not stray_files(inst), 10,
                 "the shm objects and data files to settle")
    except AssertionError:
        raise AssertionError("leak: shm %r, stray files %r" % (shm_objects(inst.run_dir),
                                                              stray_files(inst)))
    check_fds(inst, pids, fd_base)


# ---- the matrix ---------------------------------------------------------------

class Matrix:
    """Rounds of kills against group under Load, with every check; the
    figures of the run in self.figures."""

    def __init__(self, inst, group, n, seed):
        self.inst, self.group, self.seed = inst, group, seed
        self.rnd = random.Random(seed)
        # One round per kill point on top of the random ones, so that every
        # point is hit even in a short run; the order is the seed's.
        self.plan = [None] * n + (sorted(KILL_POINTS) if group.KILL_POINTS else [])
        self.rnd.shuffle(self.plan)
        self.verify_round = self.rnd.randrange(len(self.plan))
        self.kills, self.hits, self.misses = [], {p: 0 for p in KILL_POINTS}, {}
        self.rec = Recorder()
        self.fd_base, self.probes = {}, {}
        self.read_path_checked = 0
        self.spent = {}

    def run(self):
        started = time.monotonic()
        self.load = Load(self.inst, self.rec, self.seed)
        r = 0
        try:
            wait_for(lambda: len(self.load.snapshot()[0]) > 500, 60, "the load to start")
            while r < len(self.plan):
                self.round(r, self.plan[r])
                r += 1
            missed = [p for p in KILL_POINTS if self.group.KILL_POINTS and not self.hits[p]]
            assert not missed, "kill points never hit in %d tries: %s" % (POINT_TRIES, missed)
        except Exception as e:
            self.load.stop()
            raise AssertionError("crash matrix, seed %d (ROOST_CRASH_SEED=%d replays it), round "
                                 "%d: %s" % (self.seed, self.seed, r, e)) from e
        self.load.stop()
        try:
            self.check(final=True)
        except Exception as e:
            raise AssertionError("crash matrix, seed %d (ROOST_CRASH_SEED=%d replays it), at the "
                                 "end: %s" % (self.seed, self.seed, e)) from e
        self.seconds = time.monotonic() - started

    def round(self, r, point):
        group, rnd = self.group, self.rnd
        role = "writer" if point else rnd.choice(group.ROLES)
        if role == "writer" and point is None and group.KILL_POINTS and rnd.random() < 0.5:
            point = rnd.choice(sorted(KILL_POINTS))
        time.sleep(rnd.uniform(0.05, 1.5))
        group.check_alive()
        group.kill(role)
        self.kills.append((role, "at a random moment"))
        if point:
            nth = rnd.randint(1, KILL_POINTS[point])
            if self.timed("kill points", group.kill_at_point, point, nth):
                self.hits[point] += 1
                self.kills.append(("writer", point))
            else:
                self.misses[point] = self.misses.get(point, 0) + 1
                self.kills.append(("writer", "at a random moment"))
                if not self.hits[point] and self.misses[point] < POINT_TRIES:
                    self.plan.append(point)
        elif role == "writer" and not group.KILL_POINTS and rnd.random() < 0.3:
            group.kill_again_after_restart(rnd)
            self.kills.append((role, "again right after its restart"))
        self.timed("restart", group.restart, role)
        self.probes.update(self.timed("probe", probe, self.inst, rnd, r + 1, self.rec))
        self.check(final=False, verify=r == self.verify_round)

    def timed(self, what, f, *args):
        t = time.monotonic()
        out = f(*args)
        self.spent[what] = self.spent.get(what, 0) + time.monotonic() - t
        return out

    def check(self, final, verify=False):
        acked, errors = self.load.snapshot()
        assert not errors, "clients failed: %s" % errors[:5]
        acked.update(self.probes)
        self.docs = self.timed("read", read_stored, self.inst, self.rec, acked)
        if final or verify:
            self.read_path_checked = self.timed("read path", verify_read_path, self.inst,
                                                self.rec, self.rnd)
        self.ops = self.timed("history", check_history, self.rec, self.load.unrecorded, final)
        if final:
            assert self.load.searches_ok > 0
        self.group.check_alive()
        check_no_leaks(self.inst, self.group.pids(), self.fd_base)

    def report(self):
        by_role, how = {}, {}
        for role, moment in self.kills:
            by_role[role.rstrip("01")] = by_role.get(role.rstrip("01"), 0) + 1
            how[moment] = how.get(moment, 0) + 1
        acked = len({c for op in self.ops if op["f"] == "add" and op["result"] == "ok"
                     for c in op["docs"]})
        lines = ["crash matrix (%s): seed %d, %d rounds, %.0f s" % (
            type(self.group).__name__, self.seed, len(self.plan), self.seconds),
            "  kills survived: %d %r" % (len(self.kills), by_role),
            "  how: %r" % how]
        if self.group.KILL_POINTS:
            lines.append("  kill points hit: %r; missed (retried): %r" % (self.hits,
                                                                          self.misses))
        lines += ["  %d acked documents, %d stored: lost 0, duplicated 0 (by id and by "
                  "content); %d found again through a reader by their own vector" % (
                      acked, len(self.docs), self.read_path_checked),
                  "  history: %r; read-your-writes, monotonic reads, exactly-once hold" %
                  history.summary(self.ops),
                  "  background searches %d ok, %d failed" % (self.load.searches_ok,
                                                              self.load.searches_failed),
                  "  seconds spent: %s" % ", ".join("%s %.1f" % kv for kv in
                                                    sorted(self.spent.items()))]
        print("\n" + "\n".join(lines))


def crash_args():
    writer_args = ["--seal-docs", str(SEAL_DOCS)]
    if writer_supports("--seal-interval-ms"):
        # Time-based seals of small tails, and the compactions they cause,
        # so that kills also land in seals, compactions and log rotation.
        writer_args += ["--seal-interval-ms", "500"]
    return writer_args, ["--busy-timeout-ms", "2000", "--workers", "4"]


def seed():
    return int(os.environ.get("ROOST_CRASH_SEED", random.randrange(1 << 30)))


# ---- the tests ---------------------------------------------------------------

def test_kill9_matrix_under_load(make_instance):
    writer_args, broker_args = crash_args()
    inst = make_instance(dim=DIM, writer_args=writer_args, broker_args=broker_args)
    m = Matrix(inst, Cluster(inst), rounds(), seed())
    m.run()
    m.report()


def test_kill9_matrix_supervised(make_instance):
    """The matrix under `roost up`: nothing but the supervisor restarts."""
    inst = make_instance(dim=DIM)
    sup = Supervised(inst, *crash_args())
    try:
        m = Matrix(inst, sup, max(3, rounds() // 2), seed())
        m.run()
        m.report()
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
    # A seal of the replayed tail may be in flight (its files named by no
    # manifest for a moment): it ends, and what the dead writer left is gone.
    wait_for(lambda: stray_files(inst) == ["notes.txt"], SETTLE_S, "only notes.txt left")
    for name in left:
        assert "removed %s/%s" % (inst.data, name) in inst.all_logs()
    check_exactly_once(inst, acked)


def clone(rec):
    """A copy of a recorder, to inject a fault into."""
    out = Recorder()
    out.ops, out.vectors, out.contents = list(rec.ops), dict(rec.vectors), list(rec.contents)
    out.clock = rec.clock
    return out


def test_checks_fail_on_injected_loss_and_duplicate(make_instance):
    """The matrix's checks, on a real instance: a clean history passes; an
    acknowledgement of a document the store does not hold (what a writer
    that lost it would give) fails both the complete read and the read
    path; a document stored a second time under a new key (what a retry
    that deduplication missed would leave) fails the content check."""
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker(0)
    inst.start_broker(1)
    inst.start_reader()
    rec = Recorder()
    client = HistoryClient(inst, rec, 0, 1, 1, threading.Event())
    for _ in range(20):
        client.add()
        client.search()
    assert all(op["result"] == "ok" for op in rec.ops)
    nobody = lambda c: False  # noqa: E731 - every writer here is recorded
    clean = clone(rec)
    read_stored(inst, clean, {})
    assert verify_read_path(inst, clean, random.Random(1)) > 20
    check_history(clean, nobody)

    lost = clone(rec)
    content = (client.agent, "acknowledged, never stored")
    lost.sent(content, [0.25] * DIM)
    lost.record({"f": "add", "client": "h0", "index": lost.tick(), "done": lost.tick(),
                 "docs": [content], "ids": [1 << 40], "lsn": client.last_ack,
                 "result": "ok", "ack": "durable"})
    read_stored(inst, lost, {}, settle_s=1)
    try:
        check_history(lost, nobody)
        raise RuntimeError("an injected loss passed the complete read")
    except AssertionError as e:
        assert "lacks %r, acknowledged as id %d" % (content, 1 << 40) in str(e), e
    lost.ops = [op for op in lost.ops if op["f"] != "read"]
    verify_read_path(inst, lost, random.Random(1))
    try:
        check_history(lost, nobody)
        raise RuntimeError("an injected loss passed the read path")
    except AssertionError as e:
        assert "read-your-writes: 1 violation(s)" in str(e) and "missed %r" % (content,) in str(e)

    twice = clone(rec)
    add = next(op for op in rec.ops if op["f"] == "add")
    again = add["docs"][0]
    frame = wire.add_request(DIM, [wire.document(rec.vectors[again], agent=again[0],
                                                 text=again[1])], 0xD0B1E, 1, ack=3)
    copy_id = call_until_ok(inst, 0, frame, time.monotonic() + SETTLE_S)["add"]["ids"][0]
    read_stored(inst, twice, {})
    try:
        check_history(twice, nobody)
        raise RuntimeError("an injected duplicate passed")
    except AssertionError as e:
        assert "%r stored twice: ids %d" % (again, add["ids"][0]) in str(e), e
        assert "%d (read at" % copy_id in str(e), e


def test_writer_kill_points(make_instance):
    """ROOST_TEST_KILL_AT (and ROOST_TEST_HOLD_AT): an unknown point or a
    bad count (or path) stops the start with the known points named,
    creating nothing; an armed point kills
    the writer there (SIGKILL, after one log line) and loses nothing."""
    inst = make_instance(dim=DIM)
    for env, spec, why in (("ROOST_TEST_KILL_AT", "log-sync", "unknown kill point"),
                           ("ROOST_TEST_KILL_AT", "replay:0", "bad count"),
                           ("ROOST_TEST_KILL_AT", "replay:x", "bad count"),
                           ("ROOST_TEST_HOLD_AT", "sealed:/tmp/x", "unknown hold point"),
                           ("ROOST_TEST_HOLD_AT", "seal-written", "bad path")):
        p = inst._spawn("writer", inst.writer_argv(), env={env: spec})
        assert p.wait(timeout=30) == 2
        text = inst.read_log(inst.logs[-1])
        assert "%s='%s': %s" % (env, spec, why) in text, text
        assert "log-before-sync, log-after-sync, seal-frozen, seal-written" in text, text
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


# ---- documents with ids of their own: upserts and deletes under kills -------------

# The kill points a record or a seal goes through (the collection ones are
# about creates and drops): logging a batch or a delete, sealing the tail
# with its tombstones, compacting segments whose rows they end, replaying.
KEYED_POINTS = ("log-before-sync", "log-after-sync", "seal-frozen", "seal-written",
                "seal-before-manifest", "seal-after-manifest", "replay", "compact-built",
                "compact-before-manifest", "compact-after-manifest")
KEYED_MODES = ("durable", "visible", "queued")
KEYED_AGENT = 300
KEYED_OPTIONS = ["--keyed", "--upserts", "30", "--deletes", "20", "--pause-ms", "25"]
KEYED_BATCH = (1, 8)
KEYED_REQUESTS = 20000  # a bound: the test stops its agents long before
SAMPLE = 512  # keys got and versions searched for after each round
MAX_IDS = 1024  # the most ids one get may carry
SCROLL_REQUESTS = 100  # an agent's requests per scroll window: at most 800 rows


def roost_client(inst, broker):
    """A libroost handle (the Python binding) on one broker."""
    return roost.Roost(inst.broker_url(broker), timeout_ms=30000)


class KeyedLoad:
    """roost-agent processes in keyed mode, one per ack mode, adding,
    upserting and deleting documents by their own ids. Every request they
    print goes into the history: its TRY line as the invocation, its PUT
    or DEL lines as the acknowledgement; one still open when the agent
    exits has an unknown outcome."""

    def __init__(self, inst, rec):
        self.rec = rec
        self.lock = threading.Lock()
        self.keys, self.errors, self.newest = set(), [], 0
        self.procs = [inst.agent(KEYED_AGENT + a, requests=KEYED_REQUESTS, batch=KEYED_BATCH,
                                 ack=mode, timeout_ms=60000, extra=KEYED_OPTIONS)
                      for a, mode in enumerate(KEYED_MODES)]
        self.threads = Threads()
        for a, p in enumerate(self.procs):
            self.threads.start(self._read, p, KEYED_AGENT + a)

    def _finish(self, op, result):
        op.update(result=result, done=self.rec.tick())
        self.rec.record(op)
        if result == "ok":
            with self.lock:
                self.newest = max(self.newest, op["lsn"])

    def _read(self, proc, agent):
        op = None
        for line in proc.stdout:
            f = line.rstrip("\n").split(" ")
            if f[0] == "TRY":
                assert op is None, "agent %d tried %r before %r was answered" % (agent, f, op)
                req, n, keys = int(f[1]), int(f[3]), f[4:]
                assert len(keys) == n, line
                op = {"f": "delete" if f[2] == "delete" else "add", "client": "agent%d" % agent,
                      "index": self.rec.tick(), "keys": keys}
                if f[2] != "delete":
                    op.update(docs=[(agent, "agent %d post %d.%d" % (agent, req, i))
                                    for i in range(n)], ids=[])
                with self.lock:
                    self.keys.update(keys)
            elif f[0] == "LSN":
                op["lsn"] = int(f[1])
            elif f[0] == "PUT":
                doc_id, key, text = int(f[1]), f[2], " ".join(f[7:])
                i = len(op["ids"])
                assert (key, (int(f[3]), text)) == (op["keys"][i], op["docs"][i]), line
                op["ids"].append(doc_id)
                if len(op["ids"]) == len(op["docs"]):
                    self._finish(op, "ok")
                    op = None
            elif f[0] == "DEL":
                assert f[3:] == op["keys"], line
                op["lsn"] = int(f[1])
                self._finish(op, "ok")
                op = None
            elif f[0] == "ERR":
                with self.lock:
                    self.errors.append("agent %d: %s" % (agent, line.strip()))
                self._finish(op, "info")
                op = None
        if op is not None:
            self._finish(op, "info")

    def stop(self):
        """Each agent ends after its request in flight; returns their
        exit statuses."""
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            p.wait(timeout=90)
        self.threads.join(timeout=30)
        for p in self.procs:
            p.stderr.close()
        return [p.returncode for p in self.procs]

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()


def keyed_versions(rec):
    """Every version an agent has tried to add, by agent."""
    out = {}
    for op in rec.snapshot()[0]:
        if op["f"] == "add":
            for c in op["docs"]:
                out.setdefault(c[0], set()).add(c)
    return {a: sorted(cs) for a, cs in out.items()}


def until_answered(what, f, deadline_s=SETTLE_S):
    """f() retried while no reader or broker answers (one restarting):
    an answer that failed claims nothing."""
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return f()
        except Exception as e:  # noqa: BLE001 - RoostError, or the transport's
            if time.monotonic() > deadline:
                raise AssertionError("%s never answered: %r" % (what, e))
            time.sleep(0.1)


def keyed_get(db, rec, client, keys, min_lsn):
    """One recorded get (at most 1024 keys: one answer, one LSN)."""
    index = rec.tick()
    got = until_answered("a get", lambda: db.get(keys, min_lsn=min_lsn))
    rec.record({"f": "get", "client": client, "index": index, "done": rec.tick(),
                "keys": list(keys), "min_lsn": min_lsn, "result": "ok", "lsn": got.lsn,
                "found": [(h.version, h.id, (h.agent, h.text)) for h in got]})


def keyed_search(db, rec, client, agent, targets, min_lsn):
    """One recorded search for versions of one agent by their own vectors
    (k=1, filtered on the agent)."""
    index = rec.tick()
    res = until_answered("a search", lambda: db.search(
        [rec.vector(c) for c in targets], k=1, filter={"agent": agent}, min_lsn=min_lsn))
    rec.record({"f": "search", "client": client, "index": index, "done": rec.tick(),
                "targets": list(targets), "agents": [agent], "min_lsn": min_lsn,
                "result": "ok", "lsn": res.lsn,
                "hits": [(h[0].version, (h[0].agent, h[0].text)) if h else None for h in res]})


def keyed_sample(inst, load, rec, rnd, r):
    """After a round, while the agents go on: gets of a sample of the keys
    and searches for a sample of the versions, through each broker, with
    the newest acknowledged LSN as min_lsn."""
    with load.lock:
        keys, newest = sorted(load.keys), load.newest
    for broker in (0, 1):
        with roost_client(inst, broker) as db:
            keyed_get(db, rec, "round%d.%d" % (r, broker),
                      rnd.sample(keys, min(SAMPLE, len(keys))), newest)
            for agent, versions in sorted(keyed_versions(rec).items()):
                keyed_search(db, rec, "round%d.%d" % (r, broker), agent,
                             rnd.sample(versions, min(SAMPLE // 3, len(versions))), newest)


def keyed_read_all(inst, load, rec):
    """After the load: gets of every key ever tried, a search for every
    version ever tried, and a scroll of the collection (searches filtered
    on one agent and a window of its requests' times, each window holding
    fewer rows than k) recorded as one read at the smallest LSN of its
    answers. Returns (keys, versions, documents read)."""
    keys, versions = sorted(load.keys), keyed_versions(rec)
    newest = load.newest
    with roost_client(inst, 0) as db0, roost_client(inst, 1) as db1:
        for at in range(0, len(keys), MAX_IDS):
            keyed_get((db0, db1)[at // MAX_IDS % 2], rec, "final", keys[at:at + MAX_IDS], newest)
        for agent, vs in sorted(versions.items()):
            for at in range(0, len(vs), MAX_QUERIES):
                keyed_search(db1, rec, "final", agent, vs[at:at + MAX_QUERIES], newest)
        index, docs, lsns = rec.tick(), [], []
        for agent, vs in sorted(versions.items()):
            last = max(int(c[1].rsplit(" ", 1)[1].split(".")[0]) for c in vs)
            for lo in range(0, last + 1, SCROLL_REQUESTS):
                window = (lo * 1000, (lo + SCROLL_REQUESTS) * 1000 - 1)
                res = until_answered("a scroll", lambda: db0.search(
                    [[0.0] * DIM], k=1024, filter={"agent": agent, "time": window},
                    min_lsn=newest))
                assert len(res[0]) < 1024, "a scroll window of %d rows was cut" % len(res[0])
                docs += [(h.version, (h.agent, h.text)) for h in res[0]]
                lsns.append(res.lsn)
        rec.record({"f": "read", "index": index, "docs": docs, "lsn": min(lsns)})
    return len(keys), sum(map(len, versions.values())), len(docs)


def test_kill9_keyed_documents_upserts_and_deletes(make_instance):
    """Agents add, upsert and delete documents by their own ids, in every
    ack mode, while the writer is killed at each kill point a record or a
    seal goes through (seals every 4096 rows and every half second, so
    that tombstones are sealed into files and segments compacted), and a
    broker and a reader are killed too. After each round, gets and
    searches of a sample, at LSNs the load keeps moving; at the end, gets
    of every key ever tried, searches for every version and a scroll of
    the collection. The history checker then holds every answer to the
    state the acknowledged operations left at its LSN: the last version of
    each key, deleted keys absent, one version per key, nothing back from
    the dead."""
    seed_ = seed()
    rnd = random.Random(seed_)
    writer_args, broker_args = crash_args()
    inst = make_instance(dim=DIM, writer_args=writer_args, broker_args=broker_args)
    cluster = Cluster(inst)
    rec = Recorder()
    load = KeyedLoad(inst, rec)
    # Each point once (three times in long mode), a broker and a reader,
    # and half as many rounds as the matrix above of a process picked as
    # it picks them, killed at a random moment.
    plan = list(KEYED_POINTS) * (3 if os.environ.get("ROOST_CRASH_LONG") else 1) + \
        ["broker0", "reader1"] + [rnd.choice(Cluster.ROLES) for _ in range(rounds() // 2)]
    rnd.shuffle(plan)
    hits, misses, started = {p: 0 for p in KEYED_POINTS}, {}, time.monotonic()
    r = 0
    try:
        wait_for(lambda: load.newest > 0, 60, "the agents' first acknowledgement")
        while r < len(plan):
            step = plan[r]
            time.sleep(rnd.uniform(0.2, 1.0))
            cluster.check_alive()
            role = step if step in cluster.procs else "writer"
            cluster.kill(role)
            if step in KEYED_POINTS:
                if cluster.kill_at_point(step, rnd.randint(1, KILL_POINTS[step])):
                    hits[step] += 1
                else:
                    misses[step] = misses.get(step, 0) + 1
                    assert misses[step] < POINT_TRIES, "kill point %s missed %d times" % (
                        step, misses[step])
                    plan.append(step)
            cluster.restart(role)
            keyed_sample(inst, load, rec, rnd, r)
            r += 1
        codes = load.stop()
        assert codes == [0] * len(KEYED_MODES), (codes, load.errors)
        assert not load.errors, load.errors[:5]
        counts = keyed_read_all(inst, load, rec)
        # Once more from scratch: a writer that rebuilds its map from the
        # tombstone file, the segments and the log alone, and readers that
        # build their views anew, with nothing written since.
        for role in ("writer", "reader0", "reader1"):
            cluster.kill(role)
        for role in ("writer", "reader0", "reader1"):
            cluster.restart(role)
        keyed_read_all(inst, load, rec)
        ops = check_history(rec, lambda c: False)
    except Exception as e:
        load.kill()
        raise AssertionError("keyed crash matrix, seed %d (ROOST_CRASH_SEED=%d replays it), "
                             "%s: %s" % (seed_, seed_, "round %d" % r if r < len(plan) else
                                         "at the end", e)) from e
    m = read_manifest(inst.data, inst.name)
    coll = m["collections"]["default"]
    segments = [s for s in m["segments"] if s["coll"] == coll["id"]]
    # Tombstones reached a file: it is there, or compaction dropped rows it
    # named (merges may leave none).
    dropped = re.findall(r"compacted \d+ segments into \w+ \(\d+ documents, ([1-9]\d*) ended",
                         inst.all_logs())
    assert (coll["tomb_gen"] > 0 or dropped) and segments and coll["tail_start"] > 0, \
        "no seal with tombstones happened: %r" % coll
    summary = history.summary(ops)
    print("\nkeyed crash matrix: seed %d, %d rounds, %.0f s\n  kill points hit %r, missed "
          "(retried) %r\n  %d keys, %d versions tried, %d documents read by the scroll; %d "
          "segments, tombstone file %d\n  history: %r; no violation" % (
              seed_, len(plan), time.monotonic() - started, hits, misses, counts[0],
              counts[1], counts[2], len(segments), coll["tomb_gen"], summary))
    assert all(hits.values()), hits
