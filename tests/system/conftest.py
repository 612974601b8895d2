"""Fixtures that run real roost processes: a writer and brokers per test,
each instance with its own name, data directory and runtime directory."""
import itertools
import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

import pytest

sys.path.insert(0, os.path.dirname(__file__))
import wire  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
BIN = os.path.join(BUILD, "bin")
TOOLS = os.path.join(BUILD, "tests")
_names = itertools.count()
# Idempotency client ids of the requests tests make themselves (agents
# draw random ones): unique within the run.
_keys = itertools.count((os.getpid() << 20) + 1)


def shm_dir(run_dir):
    """An instance's shared-memory directory (base/inst.h): <run dir>/shm,
    a directory or a link to one in /dev/shm; None when there is none."""
    path = os.path.join(run_dir, "shm")
    real = os.path.realpath(path)
    return real if os.path.lexists(path) and os.path.isdir(real) else None


def shm_objects(run_dir):
    """The names of an instance's shared-memory objects (ctl, ring, tail.N)."""
    d = shm_dir(run_dir)
    try:
        return sorted(os.listdir(d)) if d else []
    except FileNotFoundError:
        return []


def remove_shm(run_dir):
    """What a reboot does to an instance's shared memory."""
    d, link = shm_dir(run_dir), os.path.join(run_dir, "shm")
    if d:
        shutil.rmtree(d, ignore_errors=True)
    if os.path.islink(link):
        os.unlink(link)


def stop_process(pid):
    """SIGSTOP, and wait until every thread of pid is stopped: kill()
    returns before they all are, and a thread still running could answer
    one more request."""
    os.kill(pid, signal.SIGSTOP)

    def stopped():
        try:
            for tid in os.listdir("/proc/%d/task" % pid):
                with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                    if f.read().rsplit(")", 1)[1].split()[0] not in ("T", "t"):
                        return False
        except FileNotFoundError:
            return True  # gone: it answers nothing either
        return True
    wait_for(stopped, 10, "process %d to stop" % pid)


def wait_for(cond, timeout, what):
    """Polls cond until true; fails the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return
        time.sleep(0.02)
    raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))


def waiting_readers(inst):
    """Pids of readers whose state file counts a search waiting for its
    min_lsn (base/rstat.h)."""
    pids = []
    for f in os.listdir(inst.run_dir):
        if f.startswith("reader-") and f.endswith(".stat"):
            with open(os.path.join(inst.run_dir, f)) as fh:
                fields = fh.read().split()
            if "waiting" in fields and int(fields[fields.index("waiting") + 1]) > 0:
                pids.append(int(fields[1]))
    return pids


class Instance:
    # Merges at rest (--merge-idle-ms) change a layout some seconds after
    # the last seal: tests that count segments would race them, so they
    # are off unless a test asks for them.
    MERGE_AT_REST = False

    def __init__(self, dim=16, index="Flat", metric="l2", writer_args=(), broker_args=()):
        self.name = "t%d-%d" % (os.getpid(), next(_names))
        self.root = tempfile.mkdtemp(prefix="rst")
        self.data = os.path.join(self.root, "data")
        self.env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(self.root, "run"))
        self.run_dir = os.path.join(self.root, "run", "roost", self.name)
        self.dim, self.index, self.metric = dim, index, metric
        self.writer_args, self.broker_args = list(writer_args), list(broker_args)
        self.writer = None
        self.brokers = {}
        self.readers = []
        self.logs = []

    # -- processes -------------------------------------------------------
    def _spawn(self, role, argv, env=None):
        log = open(os.path.join(self.root, "%s.%d.log" % (role, len(self.logs))), "w+")
        self.logs.append(log)
        return subprocess.Popen(argv, env=dict(self.env, **(env or {})), stdout=log,
                                stderr=subprocess.STDOUT)

    def writer_argv(self, extra=()):
        args = self.writer_args + list(extra)
        if not self.MERGE_AT_REST and "--merge-idle-ms" not in args:
            args = ["--merge-idle-ms", "0"] + args
        return [os.path.join(BIN, "roost-writer"), "--name", self.name, "--data-dir",
                self.data, "--dim", str(self.dim), "--index", self.index, "--metric",
                self.metric] + args

    def start_writer(self, extra=(), env=None):
        self.writer = self._spawn("writer", self.writer_argv(extra), env)
        log = self.logs[-1]
        wait_for(lambda: self._logged(log, "serving instance") or self.writer.poll() is not None,
                 60, "the writer to start")
        assert self.writer.poll() is None, self.read_log(log)
        return self.writer

    def start_broker(self, i=0, extra=()):
        p = self._spawn("broker%d" % i, [os.path.join(BIN, "roost-broker"), "--name",
                                         self.name, "--id", str(i)] + self.broker_args +
                        list(extra))
        self.brokers[i] = p
        sock = self.broker_path(i)
        log = self.logs[-1]
        wait_for(lambda: self._logged(log, "listening on") or p.poll() is not None, 30,
                 "broker %d to listen" % i)
        assert p.poll() is None, self.read_log(log)
        assert os.path.exists(sock)
        return p

    def start_reader(self, extra=(), wait=True):
        p = self._spawn("reader", [os.path.join(BIN, "roost-reader"), "--name", self.name,
                                   "--data-dir", self.data] + list(extra))
        self.readers.append(p)
        log = self.logs[-1]
        if wait:
            wait_for(lambda: self._logged(log, "serving with") or p.poll() is not None, 30,
                     "the reader to start")
            assert p.poll() is None, self.read_log(log)
        return p

    def search(self, queries, k=10, broker=0, **kw):
        """A search of the instance's dimension; one naming a collection
        takes the queries' own."""
        dim = kw.pop("dim", None) or (len(queries[0]) if kw.get("collection") else self.dim)
        c = self.client(broker, timeout_ms=kw.pop("client_timeout_ms", 15000))
        try:
            return wire.parse_search(c.call_raw(wire.search_request(dim, queries, k, **kw)))
        finally:
            c.close()

    def broker_path(self, i=0):
        return os.path.join(self.run_dir, "broker-%d.ipc" % i)

    def broker_url(self, i=0):
        return "ipc://" + self.broker_path(i)

    @staticmethod
    def _logged(log, text):
        log.flush()
        with open(log.name) as f:
            return text in f.read()

    @staticmethod
    def read_log(log):
        with open(log.name) as f:
            return f.read()

    def all_logs(self):
        return "\n".join("== %s ==\n%s" % (l.name, self.read_log(l)) for l in self.logs)

    def kill(self, proc, sig=signal.SIGKILL):
        proc.send_signal(sig)
        proc.wait(timeout=30)

    # -- clients -----------------------------------------------------------
    def client(self, i=0, timeout_ms=10000):
        return wire.Client(self.broker_url(i), timeout_ms)

    def agent(self, agent, requests=10, batch=(1, 50), ack="durable", target=None,
              timeout_ms=60000, collection=None, dim=None, extra=()):
        """A roost-agent process; extra: more of its options (--keyed ...)."""
        argv = [os.path.join(TOOLS, "roost-agent"), "--target", target or self.name, "--dim",
                str(dim or self.dim), "--agent", str(agent), "--requests", str(requests),
                "--batch-min", str(batch[0]), "--batch-max", str(batch[1]), "--ack", ack,
                "--seed", str(agent + 1), "--timeout-ms", str(timeout_ms)] + list(extra)
        if collection:
            argv += ["--collection", collection]
        p = subprocess.Popen(argv, env=self.env, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        # Every request acknowledges at least batch-min documents: what a
        # load that ran in full must have acknowledged (collect_all).
        p.min_acks = requests * batch[0]
        return p

    def dump(self, collection=None):
        """The stored documents (roost-dump's DOC lines), of every
        collection or of one."""
        out = subprocess.run([os.path.join(TOOLS, "roost-dump"), self.name, self.data],
                             env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        docs, end, coll, total = [], None, None, 0
        for line in out.stdout.splitlines():
            if line.startswith("COLL "):
                coll = line.split()[1]
            elif line.startswith("DOC "):
                total += 1
                if collection in (None, coll):
                    docs.append(line[4:])
            elif line.startswith("END "):
                end = line.split()
        assert end is not None and int(end[1]) == total
        return docs

    def status(self):
        live = [i for i, p in sorted(self.brokers.items()) if p.poll() is None]
        c = self.client(live[0] if live else 0)
        try:
            return c.call(wire.status_request())["status_reply"]
        finally:
            c.close()

    def call(self, frame, broker=0, timeout_ms=30000):
        """One request through a broker, its reply parsed."""
        c = self.client(broker, timeout_ms=timeout_ms)
        try:
            return c.call(frame)
        finally:
            c.close()

    def create(self, name, broker=0, **settings):
        """Creates a collection; the reply (wire.parse_reply)."""
        return self.call(wire.create_request(name, next(_keys), 1, **settings), broker)

    def drop(self, name, broker=0):
        return self.call(wire.drop_request(name, next(_keys), 1), broker)

    def serve(self):
        """Starts a writer, broker 0 and a reader; returns the instance."""
        self.start_writer()
        self.start_broker(0)
        self.start_reader()
        return self

    def alter(self, name, broker=0, **kw):
        """Alters a collection (index=, train_docs=); the reply."""
        return self.call(wire.alter_request(name, next(_keys), 1, **kw), broker)

    def collections(self, broker=0):
        """name -> the collection as the broker lists it."""
        r = self.call(wire.list_request(), broker)
        assert r["status"] == 0, r
        return {c["name"]: c for c in r["collections"]}

    def wait_published(self, ids):
        """Durable is not visible: waits until publication passes ids."""
        if ids:
            newest = max(int(i) for i in ids)
            wait_for(lambda: self.status()["published_lsn"] > newest, 60, "publication")

    def stop(self):
        procs = self.readers + list(self.brokers.values()) + ([self.writer] if self.writer else [])
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        # Processes started by hand, not by `roost up`: nobody else removes it.
        remove_shm(self.run_dir)
        for log in self.logs:
            log.close()
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def make_instance():
    made = []

    def make(**kw):
        inst = Instance(**kw)
        made.append(inst)
        return inst

    yield make
    # Newest first: a later instance may live in an earlier one's directories.
    for inst in reversed(made):
        inst.stop()


def collect(agent_proc, timeout=120):
    """Waits for an agent; returns ({id: fields}, errors)."""
    out, err = agent_proc.communicate(timeout=timeout)
    acked, errors = {}, []
    for line in out.splitlines():
        if line.startswith("ACK "):
            parts = line[4:].split(" ", 5)
            assert parts[0] not in acked, "id %s acked twice" % parts[0]
            acked[parts[0]] = " ".join(parts)
        elif line.startswith("ERR "):
            errors.append(line)
    return acked, errors


def collect_all(agent_proc, timeout=120):
    """collect() for a load that must run in full: no request failed, the
    agent exited 0 and acknowledged every request's documents. Returns
    {id: fields}."""
    acked, errors = collect(agent_proc, timeout)
    assert not errors, errors[:5]
    assert agent_proc.returncode == 0, (agent_proc.returncode, agent_proc.stderr)
    assert len(acked) >= agent_proc.min_acks, \
        "%d documents acknowledged, at least %d expected" % (len(acked), agent_proc.min_acks)
    return acked


def read_manifest(data, name="x"):
    """The manifest of a data directory as roost-dump --manifest prints it
    (tests/tools/dump.c): {"version", "gen", "tail_start", "catalog_lsn",
    "next_coll", "name", "collections": {name: {..., "indexed_keys": [...]}},
    "segments": [...], "files": set}; None before the first manifest."""
    out = subprocess.run([os.path.join(TOOLS, "roost-dump"), "--manifest", name, data],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if out.returncode != 0 and not os.path.exists(os.path.join(data, "MANIFEST")):
        return None
    assert out.returncode == 0, out.stderr
    m = {"collections": {}, "segments": [], "files": set()}
    for line in out.stdout.splitlines():
        kind, *f = line.split(" ")
        if kind == "MANIFEST":
            m.update({f[i]: int(f[i + 1]) for i in range(0, 10, 2)})
            m["name"] = f[11] if len(f) > 11 else ""
        elif kind == "COLLECTION":
            m["collections"][f[1]] = dict(zip(
                ("id", "dim", "metric", "index", "tail_start", "tail_gen", "trained_gen",
                 "created_lsn", "tomb_gen"), [int(f[0]), int(f[2]), int(f[3]), f[4]] +
                [int(x) for x in f[5:10]]))
            m["collections"][f[1]]["indexed_keys"] = [] if f[10] == "-" else f[10].split(",")
            m["collections"][f[1]]["index_gen"] = int(f[11])
            m["collections"][f[1]]["reclaimed_lsn"] = int(f[12])
        elif kind == "SEGMENT":
            m["segments"].append(dict(zip(("coll", "start_lsn", "end_lsn", "count", "index_gen"),
                                          map(int, f))))
        elif kind == "FILE":
            m["files"].add(f[0])
        elif kind == "KEYS":
            m["keys"] = int(f[0])
    return m


def wait_segments(inst, n, collection="default", timeout=60):
    """Waits until a collection has n segments: a worker thread of the
    writer writes a frozen tail's segment after the add that froze it is
    acknowledged, and the writer installs it shortly after."""
    wait_for(lambda: inst.collections()[collection]["segments"] == n, timeout,
             "%d segments of %s" % (n, collection))


def sealed_end(inst, collection="default"):
    """The LSN below which every document of a collection is in a sealed
    segment: its tail_start in the manifest; 0 before the first one."""
    m = read_manifest(inst.data, inst.name)
    return m["collections"][collection]["tail_start"] if m else 0


class Threads:
    """The threads a test starts. An exception that ends one of them is
    kept, with its traceback, and join() fails the test with it: a thread
    that dies on a TimeoutError would otherwise leave only a warning."""

    def __init__(self):
        self.threads, self.errors = [], []
        self.lock = threading.Lock()

    def start(self, target, *args):
        def run():
            try:
                target(*args)
            except BaseException:  # whatever ends a thread fails its test
                with self.lock:
                    self.errors.append("%s%r:\n%s" % (target.__name__, args,
                                                        traceback.format_exc()))
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)
        return t

    def join(self, timeout=120):
        for t in self.threads:
            t.join(timeout)
        alive = sum(t.is_alive() for t in self.threads)
        assert not self.errors, "%d thread(s) raised, the first: %s" % (len(self.errors),
                                                                       self.errors[0])
        assert not alive, "%d thread(s) still running after %ss" % (alive, timeout)


def pytest_configure(config):
    # A thread started without Threads that dies still fails its test.
    config.addinivalue_line("filterwarnings",
                            "error::pytest.PytestUnhandledThreadExceptionWarning")


def check_exactly_once(inst, acked):
    """Every acked document is published exactly once with its fields.
    Durable is not visible: first wait until publication passes them."""
    inst.wait_published(acked)
    docs = inst.dump()
    by_id = {}
    for d in docs:
        i = d.split(" ", 1)[0]
        assert i not in by_id, "document %s published twice" % i
        by_id[i] = d
    missing = [i for i in acked if i not in by_id]
    assert not missing, "%d acked documents lost, e.g. %s" % (len(missing), missing[:5])
    wrong = [i for i in acked if by_id[i] != acked[i]]
    assert not wrong, "fields differ for %s: %r vs %r" % (wrong[0], by_id[wrong[0]],
                                                          acked[wrong[0]])
    return by_id


# ---- nothing left behind ---------------------------------------------------

def run_leftovers(pid=None):
    """What this test run (its instances are named t<pid>-N and c<pid>-N)
    left behind: /dev/shm entries, processes, bound unix sockets."""
    pid = pid or os.getpid()
    mine = re.compile(r"(^|[./])[tc]%d-\d+([./]|$)" % pid)
    shm = ["/dev/shm/" + f for f in os.listdir("/dev/shm")
           if f.startswith("roost.") and mine.search(f)]
    procs = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % p, "rb") as f:
                argv = f.read().decode(errors="replace").split("\0")
        except OSError:
            continue
        name = re.compile(r"[tc]%d-\d+" % pid)
        if os.path.basename(argv[0]).startswith("roost") and \
                any(name.fullmatch(a) for a in argv[1:]):
            procs.append("%s %s" % (p, " ".join(argv)))
    socks = []
    with open("/proc/net/unix") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) > 7 else ""
            if "/roost/" in path and mine.search(path.replace("/", ".")):
                socks.append(path)
    return shm + procs + socks


def pytest_terminal_summary(terminalreporter):
    """One line per skipped test with its reason, for tests/run.py (pytest
    itself folds skips that share a reason into one line)."""
    for rep in terminalreporter.stats.get("skipped", []):
        reason = rep.longrepr[2] if isinstance(rep.longrepr, tuple) else str(rep.longrepr)
        if reason.startswith("Skipped: "):
            reason = reason[len("Skipped: "):]
        terminalreporter.write_line("SKIPPED TEST %s: %s" % (rep.nodeid, reason))


def pytest_sessionfinish(session, exitstatus):
    left = run_leftovers()
    if left:
        sys.stderr.write("\nthis test run left behind:\n  %s\n" % "\n  ".join(left))
        session.exitstatus = 1
