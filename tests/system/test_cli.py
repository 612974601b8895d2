"""The roost command-line tool against real processes: up, status, add,
search, readers add/remove, down, the supervisor's restarts, and the
demo's check that must fail when a tweet is lost."""
import fcntl
import json
import os
import random
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading

import pytest

from conftest import (BIN, ROOT, TOOLS, Threads, read_manifest, remove_shm, shm_objects,
                      wait_for)

DIM = 8


class Cli:
    """One instance driven through `roost`, in its own temporary runtime and
    data directories."""

    def __init__(self, name):
        self.name = name
        self.root = tempfile.mkdtemp(prefix="rcli")
        self.data = os.path.join(self.root, "data")
        self.env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(self.root, "run"))
        self.run_dir = os.path.join(self.root, "run", "roost", name)

    def roost(self, cmd, *args, stdin=None, timeout=120, name=True):
        argv = [os.path.join(BIN, "roost"), cmd] + (["--name", self.name] if name else [])
        return subprocess.run(argv + [str(a) for a in args], env=self.env, input=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout)

    def ok(self, cmd, *args, **kw):
        out = self.roost(cmd, *args, **kw)
        assert out.returncode == 0, (cmd, out.stdout, out.stderr, self.log())
        return out

    def up(self, *args):
        return self.ok("up", "--data-dir", self.data, *args)

    def status(self):
        return json.loads(self.ok("status", "--json", "--interval-ms", 0).stdout)

    def procs(self, role):
        return [p for p in self.status()["processes"] if p["role"] == role]

    def search(self, vector, *args):
        out = self.ok("search", "--vector", json.dumps(vector), "--json", *args)
        return json.loads(out.stdout)

    def log(self):
        path = os.path.join(self.run_dir, "supervisor.log")
        if not os.path.exists(path):
            return ""
        with open(path) as f:
            return f.read()

    def supervisor_pid(self):
        try:
            with open(os.path.join(self.run_dir, "supervisor.pid")) as f:
                return int(f.read().strip() or 0)
        except FileNotFoundError:
            return 0

    def dump(self):
        out = subprocess.run([os.path.join(TOOLS, "roost-dump"), self.name, self.data],
                             env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return [l[4:] for l in out.stdout.splitlines() if l.startswith("DOC ")]

    def remove_shm(self):
        """What a reboot does to the instance's shared memory."""
        remove_shm(self.run_dir)

    def leftovers(self):
        """What of the instance outlives it: shared memory, sockets."""
        socks = [f for f in os.listdir(self.run_dir) if f.endswith((".ipc", ".sock"))] \
            if os.path.isdir(self.run_dir) else []
        return shm_objects(self.run_dir) + socks

    def cleanup(self):
        """A clean `down` must leave nothing behind; after anything else
        the test's leftovers are removed here."""
        down = self.roost("down", "--wait", 60)
        left = self.leftovers() if down.returncode == 0 else []
        if down.returncode != 0:
            pid = self.supervisor_pid()
            if pid and alive(pid):
                os.kill(pid, signal.SIGKILL)
        self.remove_shm()
        shutil.rmtree(self.root, ignore_errors=True)
        assert not left, "`roost down` left %r behind" % left


def read(path):
    with open(path) as f:
        return f.read()


def alive(pid):
    """Running: a zombie has finished (the supervisor is a daemon, and not
    every init reaps orphans at once)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):  # gone before or while reading
        return False


@pytest.fixture
def cli():
    made = []

    def make(name=None):
        c = Cli(name or "c%d-%d" % (os.getpid(), len(made)))
        made.append(c)
        return c

    yield make
    for c in made:
        c.cleanup()


def docs_jsonl(docs):
    return "".join(json.dumps({"vector": v, "agent": a, "time": t, "kind": k, "text": x}) + "\n"
                   for v, a, t, k, x in docs)


def assigned_ids(out):
    """The numbers of the ids `roost add` printed, one per line, each "#"
    and the number roost assigned."""
    lines = out.split()
    assert all(x.startswith("#") for x in lines), lines
    return [int(x[1:]) for x in lines]


def unit(i):
    v = [0.0] * DIM
    v[i % DIM] = 1.0 + i // DIM
    return v


def test_up_status_down(cli):
    c = cli()
    out = c.up("--dim", DIM, "--brokers", 2, "--readers", 2).stdout
    assert "instance %s is up: dim %d, metric l2, index Flat" % (c.name, DIM) in out
    for i in range(2):
        url = "ipc://%s/broker-%d.ipc" % (c.run_dir, i)
        assert "client: " + url in out and os.path.exists(url[6:])
    st = c.status()
    assert st["supervisor"]["state"] == "serving"
    roles = sorted((p["role"], p["id"]) for p in st["processes"])
    assert roles == [("broker", 0), ("broker", 1), ("reader", 0), ("reader", 1), ("writer", 0)]
    assert all(p["state"] == "running" and p["restarts"] == 0 for p in st["processes"])
    server = st["server"]
    assert (server["dim"], server["metric"], server["index"]) == (DIM, "l2", "Flat")
    assert server["writer_pid"] == c.procs("writer")[0]["pid"]
    assert server["ring_capacity"] > 0 and server["documents"] == 0
    reader_pids = sorted(p["pid"] for p in c.procs("reader"))
    assert sorted(r["pid"] for r in st["readers"]) == reader_pids

    def search_sockets():
        return sorted(f for f in os.listdir(c.run_dir) if f.startswith("search-"))

    # Each reader listens on its own socket for local clients.
    assert search_sockets() == sorted("search-%d.ipc" % p for p in reader_pids)
    # Readers report now and then (base/rstat.h): one that started before
    # the writer published may still show its empty first view.
    wait_for(lambda: all(r["generation"] >= 1 for r in c.status()["readers"]), 10,
             "every reader to report the published generation")

    text = c.ok("status").stdout
    for word in ("PROCESS", "writer", "broker-1", "reader-1", "ring:", "lsn: durable",
                 "documents: 0", "readers: 2", "GENERATION", "rates: ingest"):
        assert word in text, text

    again = c.roost("up", "--data-dir", c.data, "--dim", DIM)
    assert again.returncode == 1 and "already up" in again.stderr
    assert "already exists" not in again.stderr  # said once, in roost's words

    pids = [p["pid"] for p in st["processes"]] + [st["supervisor"]["pid"]]
    out = c.ok("down")
    assert "instance %s is down" % c.name in out.stdout
    assert not any(alive(p) for p in pids)
    assert not os.path.exists(os.path.join(c.run_dir, "supervisor.sock"))
    gone = c.roost("status")
    assert gone.returncode == 1 and "is not running" in gone.stderr
    assert "hint: is instance" in gone.stderr
    # Down again: already where the caller wants it.
    twice = c.roost("down")
    assert twice.returncode == 0, twice.stderr
    assert "instance %s is not running" % c.name in twice.stdout


def test_concurrent_ups_losers_exit_at_once(cli):
    """Of several `roost up` racing for one new instance, one starts it;
    every other says it is already up and exits at once, while the winner
    still serves (not after waiting for it to go away). Three races, so
    that some loser passes the first check and meets the winner's
    supervisor only at its own."""
    for _ in range(3):
        c = cli()
        argv = [os.path.join(BIN, "roost"), "up", "--name", c.name, "--data-dir", c.data,
                "--dim", str(DIM)]
        ups = [subprocess.Popen(argv, env=c.env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(6)]
        outs = [p.communicate(timeout=50) + (p.returncode,) for p in ups]
        won = [o for o in outs if o[2] == 0]
        assert len(won) == 1, outs
        assert "instance %s is up" % c.name in won[0][0]
        for out, err, rc in outs:
            if rc != 0:
                assert rc == 1 and "roost up: instance '%s' is already up" % c.name in err, err
                assert "did not start" not in err, err
        assert alive(c.supervisor_pid())
        # The supervisor reads the winner's "ok" a moment after it prints.
        wait_for(lambda: c.status()["supervisor"]["state"] == "serving", 10, "serving")
        c.ok("down")


def test_add_and_search(cli):
    c = cli()
    c.up("--dim", DIM)
    docs = [(unit(i), i % 3, 1000 + i, "tweet" if i % 2 else "note", "doc %d \"q\"" % i)
            for i in range(20)]
    out = c.ok("add", "--ack", "visible", "--batch", 7, stdin=docs_jsonl(docs))
    ids = assigned_ids(out.stdout)
    assert len(ids) == 20 and len(set(ids)) == 20
    assert "added 20 documents in 3 batches (ack visible)" in out.stderr
    lsn = int(out.stderr.rsplit("last lsn", 1)[1])

    # The nearest neighbour of each document's own vector is itself.
    for i in (0, 7, 19):
        r = c.search(unit(i), "-k", 1, "--min-lsn", lsn)
        h = r["hits"][0]
        assert r["lsn"] > lsn
        assert (h["id"], h["agent"], h["time"], h["kind"], h["text"]) == \
            (ids[i], i % 3, 1000 + i, docs[i][3], docs[i][4])
        assert h["score"] == pytest.approx(0.0, abs=1e-4)

    # Filters, against brute force over what was added.
    r = c.search([0.0] * DIM, "-k", 100, "--agent", 1, "--agent", 2, "--kind", "tweet",
                 "--time-min", 1005, "--time-max", 1015)
    want = {ids[i] for i in range(20)
            if i % 3 in (1, 2) and i % 2 and 1005 <= 1000 + i <= 1015}
    assert {h["id"] for h in r["hits"]} == want and want

    table = c.ok("search", "--vector", ",".join(str(x) for x in unit(3)), "-k", 2).stdout
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["RANK", "ID", "SCORE"]
    assert lines[1].split()[1] == "#%d" % ids[3] and "doc 3" in lines[1]
    assert "2 hit(s)" in lines[-1]
    # The recall knobs are accepted (a Flat index has nothing to tune).
    tuned = c.search(unit(3), "-k", 2, "--nprobe", 8, "--ef-search", 64)
    assert [h["id"] for h in tuned["hits"]][0] == ids[3]

    # JSON-lines input from a file, ack queued.
    path = os.path.join(c.root, "more.jsonl")
    with open(path, "w") as f:
        f.write(docs_jsonl([(unit(1), 9, 1, "", "from a file")]) + "\n")
    out = c.ok("add", "--file", path, "--ack", "queued")
    assert "added 1 documents" in out.stderr
    wait_for(lambda: c.status()["server"]["documents"] == 21, 30, "the queued add")


def test_own_ids_and_metadata(cli):
    """JSON lines may carry a document's own id and metadata: `roost add`
    prints the id it was given (or "#<number>"), and searches return both,
    the metadata byte for byte."""
    c = cli()
    c.up("--dim", DIM)
    meta = '{"post": 12, "user": "bob", "topic": "cats", "tags": ["a", 1.5, null]}'
    lines = (json.dumps({"vector": unit(0), "id": "post-12", "text": "mine"})[:-1] +
             ', "metadata": ' + meta + '}\n' +
             json.dumps({"vector": unit(1), "text": "assigned"}) + "\n")
    out = c.ok("add", "--ack", "visible", stdin=lines)
    printed = out.stdout.split()
    assert printed[0] == "post-12" and printed[1].startswith("#"), printed
    raw = c.ok("search", "--json", "--vector", ",".join(map(str, unit(0))), "-k", 1).stdout
    assert '"key":"post-12","metadata":' + meta + "}" in raw, raw
    h = json.loads(raw)["hits"][0]
    assert h["key"] == "post-12" and h["metadata"] == json.loads(meta)
    other = c.search(unit(1), "-k", 1)["hits"][0]
    assert "key" not in other and "metadata" not in other
    assert "#%d" % other["id"] == printed[1]
    table = c.ok("search", "--vector", ",".join(map(str, unit(0))), "-k", 1).stdout
    assert table.splitlines()[1].split()[1] == "post-12"

    bad = c.roost("add", stdin=json.dumps({"vector": unit(2), "id": "#3"}) + "\n")
    assert bad.returncode == 1 and "docs[0].id begins with '#'" in bad.stderr, bad.stderr
    bad = c.roost("add", stdin=json.dumps({"vector": unit(2), "metadata": {"a": 1}})[:-2] +
                  ', "a": 2}}\n')
    assert bad.returncode == 1 and "metadata.a: key appears twice" in bad.stderr, bad.stderr
    assert c.status()["server"]["documents"] == 2


def test_add_and_search_errors(cli):
    c = cli()
    c.up("--dim", DIM)
    bad_dim = c.roost("add", stdin=docs_jsonl([(unit(0), 1, 1, "", "ok")]) +
                      '{"vector": [1, 2, 3]}\n')
    assert bad_dim.returncode == 1
    assert "-:2: the vector has 3 values but instance '%s' has dimension %d" % (
        c.name, DIM) in bad_dim.stderr
    assert "hint:" in bad_dim.stderr
    bad_json = c.roost("add", "--batch", 1, stdin=docs_jsonl([(unit(0), 1, 1, "", "ok")]) +
                       '{"vector": [1, 2, 3, 4, 5, 6, 7, 8], "agnet": 1}\n')
    assert bad_json.returncode == 1 and "-:2: not a valid document: agnet" in bad_json.stderr
    assert "the 1 documents before that were added" in bad_json.stderr
    assert c.status()["server"]["documents"] == 1

    wrong = c.roost("search", "--vector", "1,2,3")
    assert wrong.returncode == 1 and "dimension" in wrong.stderr
    nan = c.roost("search", "--vector", "1,nan,3")
    assert nan.returncode == 2
    assert c.roost("search", "--vector", "[1, 2,").returncode == 2
    assert c.roost("search", "-k", 0, "--vector", "1").returncode == 2
    for knob in ("--nprobe", "--ef-search"):
        for bad in (0, 65537, "x"):
            out = c.roost("search", knob, bad, "--vector", "1")
            assert out.returncode == 2 and knob[2:] in out.stderr, out.stderr
    assert c.roost("add", "--ack", "sometime").returncode == 2
    assert c.roost("frobnicate", name=False).returncode == 2
    assert c.roost("help", name=False).returncode == 0

    other = cli()
    missing = other.roost("search", "--vector", "1,2")
    assert missing.returncode == 1
    assert "cannot reach instance '%s'" % other.name in missing.stderr
    assert "roost up --name %s" % other.name in missing.stderr
    assert other.roost("down").returncode == 0  # nothing to stop
    assert other.roost("readers", "add").returncode == 1
    assert other.roost("status", name=False).returncode == 2


def test_version_and_help_per_command(cli):
    c = cli()
    with open(os.path.join(ROOT, "client", "roost.h")) as f:
        version = re.search(r'#define ROOST_VERSION "([^"]+)"', f.read()).group(1)
    out = c.roost("--version", name=False)
    assert out.returncode == 0 and out.stdout == "roost %s\n" % version
    for cmd in ("up", "down", "status", "readers", "add", "search", "get", "delete", "scroll"):
        own = c.roost(cmd, "--help", name=False)
        assert own.returncode == 0, (cmd, own.stderr)
        assert own.stdout.startswith("usage: roost %s --name NAME" % cmd), own.stdout
        assert c.roost("help", cmd, name=False).stdout == own.stdout
        assert c.roost(cmd, "-h").stdout == own.stdout  # with other options too
    assert "--index FACTORY" in c.roost("up", "--help", name=False).stdout
    bad = c.roost("help", "frobnicate", name=False)
    assert bad.returncode == 2 and "unknown command 'frobnicate'" in bad.stderr
    wrong = c.roost("up", "--brokers", 0)
    assert wrong.returncode == 2 and "see `roost up --help`" in wrong.stderr


def test_add_messages_name_the_input(cli):
    c = cli()
    c.up("--dim", DIM)
    missing = c.roost("add", "--file", os.path.join(c.root, "none.jsonl"))
    assert missing.returncode == 1
    assert missing.stderr.startswith("roost add: cannot open %s: No such file or directory"
                                     % os.path.join(c.root, "none.jsonl")), missing.stderr
    posts = os.path.join(c.root, "posts.jsonl")
    with open(posts, "w") as f:
        f.write(docs_jsonl([(unit(0), 1, 1, "", "ok")]) + '{"vector": [1, 2,\n')
    bad = c.roost("add", "--file", posts, "--batch", 1)
    assert bad.returncode == 1
    assert "roost add: %s:2: not valid JSON: " % posts in bad.stderr, bad.stderr
    assert "malformed or truncated frame" not in bad.stderr
    assert "the 1 documents before that were added" in bad.stderr
    with open(posts, "w") as f:
        f.write("\n  \n")
    empty = c.roost("add", "--file", posts)
    assert empty.returncode == 0 and empty.stdout == ""
    assert "no documents in %s; nothing added" % posts in empty.stderr
    assert "last lsn" not in empty.stderr


LOAD_LINES = 6000


def load_jsonl():
    return "".join(json.dumps({"vector": unit(i), "agent": i, "time": i, "kind": "k",
                               "text": "line %d" % i}) + "\n" for i in range(LOAD_LINES))


class Load:
    """One `roost add` of the load, fed through a pipe at a pace (so that a
    signal lands in the middle), or from a file at full speed."""

    def __init__(self, c, client_id, paced, ack="durable"):
        self.out = tempfile.TemporaryFile("w+")
        self.err = tempfile.TemporaryFile("w+")
        argv = [os.path.join(BIN, "roost"), "add", "--name", c.name, "--batch", "37",
                "--client-id", str(client_id), "--ack", ack]
        if not paced:
            path = os.path.join(c.root, "load.jsonl")
            with open(path, "w") as f:
                f.write(load_jsonl())
            argv += ["--file", path]
        self.p = subprocess.Popen(argv, env=c.env, stdin=subprocess.PIPE if paced else None,
                                  stdout=self.out, stderr=self.err, text=True)
        self.feeder = Threads()
        if paced:
            self.feeder.start(self._feed)

    def _feed(self):
        lines = load_jsonl().splitlines(True)
        try:
            for at in range(0, len(lines), 60):  # 100 chunks over about 2 s
                self.p.stdin.write("".join(lines[at:at + 60]))
                self.p.stdin.flush()
                if self.p.poll() is not None:
                    return
                threading.Event().wait(0.02)
            self.p.stdin.close()
        except (BrokenPipeError, ValueError):  # it stopped reading: interrupted
            pass

    def finish(self):
        rc = self.p.wait(timeout=60)
        self.feeder.join(timeout=60)
        self.out.seek(0)
        self.err.seek(0)
        return rc, assigned_ids(self.out.read()), self.err.read()


def stored_lines(out, err, rc):
    """{id: line} for the ids a run printed: they are the lines just before
    the last one it reports stored (ids of lines skipped as stored by an
    earlier run are not printed, and those skips come first)."""
    if rc == 0:
        done = LOAD_LINES
    else:
        m = re.search(r"every line of \S+ up to (\d+) is stored", err)
        done = int(m.group(1)) if m else 0
    return {i: done - len(out) + 1 + k for k, i in enumerate(out)}


def test_add_interrupted_and_rerun_stores_each_line_once(cli):
    """`roost add` interrupted by SIGINT at random points, five times, and
    run again each time with the same --client-id: each line is stored
    exactly once, with its own fields, and every id printed is that of its
    line. First a run is interrupted while its batch cannot be acknowledged
    (writer stopped) and gives it up after the grace period; between later
    runs the writer is killed, and the instance taken down with its shared
    memory removed (a reboot)."""
    c = cli()
    c.up("--dim", DIM)
    seed = random.randrange(1 << 30)
    rnd = random.Random(seed)
    client_id = (1 << 63) + os.getpid()
    printed = {}
    # Interrupted while its first batch waits for a stopped writer: given up.
    writer = c.procs("writer")[0]["pid"]
    os.kill(writer, signal.SIGSTOP)
    try:
        # The ring's positions are LSNs, which do not start at 0.
        empty = c.status()["server"]["ring_reserve"]
        load = Load(c, client_id, paced=False)
        wait_for(lambda: c.status()["server"]["ring_reserve"] > empty, 30, "a batch in flight")
        load.p.send_signal(signal.SIGINT)
        rc, out, err = load.finish()
    finally:
        os.kill(writer, signal.SIGCONT)
    assert rc == 130 and out == [], err
    assert "the batch of lines 1-37 was given up in flight: it may or may not be stored" in err
    for round in range(5):
        load = Load(c, client_id, paced=True)
        threading.Event().wait(rnd.uniform(0.05, 2.2))  # a random point of the load
        load.p.send_signal(signal.SIGINT)
        rc, out, err = load.finish()
        assert rc in (0, 130), (seed, rc, err)
        if rc == 130:
            assert "roost add: interrupted: added %d documents" % len(out) in err, (seed, err)
            assert "--batch 37 --client-id %d" % client_id in err, (seed, err)
        printed.update(stored_lines(out, err, rc))
        if round == 1:
            writer = c.procs("writer")[0]["pid"]
            os.kill(writer, signal.SIGKILL)
            wait_for(lambda: c.procs("writer")[0]["pid"] not in (0, writer) and
                     c.status()["server"]["writer_pid"] != 0, 30, "the writer's restart")
        if round == 3:
            c.ok("down")
            c.remove_shm()
            c.up()
    rc, out, err = Load(c, client_id, paced=False, ack="visible").finish()
    assert rc == 0, (seed, err)
    printed.update(stored_lines(out, err, rc))
    docs, texts = {}, set()
    for d in c.dump():
        doc_id, agent, time_, kind, _, text = d.split(" ", 5)
        assert text not in texts, (seed, "stored twice", text)
        assert (agent, time_, kind) == (text[5:], text[5:], "k"), (seed, d)
        docs[int(doc_id)] = text
        texts.add(text)
    assert sorted(docs.values()) == sorted("line %d" % i for i in range(LOAD_LINES)), seed
    wrong = [(i, line) for i, line in printed.items() if docs.get(i) != "line %d" % (line - 1)]
    assert not wrong, (seed, wrong[:5])
    assert set(printed) == set(docs), seed  # every line's id was printed by some run


def test_up_reports_what_stops_the_writer(cli):
    c = cli()
    # Without --dim a new instance has no collection, and says how to make one.
    out = c.up()
    assert "instance %s is up: 0 collections, writer cpu (create one with `roost collections " \
        "--name %s create NAME --dim D`)" % (c.name, c.name) in out.stdout, out.stdout
    c.ok("down")
    d = cli()
    d.up("--dim", DIM)
    d.ok("down")
    # Refused up front, in the writer's words: settings that contradict the
    # collection they describe.
    out = d.roost("up", "--data-dir", d.data, "--dim", DIM * 2)
    assert out.returncode == 1
    assert "--dim %d differs from the dimension %d of collection 'default'" % (DIM * 2, DIM) \
        in out.stderr, out.stderr
    assert d.supervisor_pid() == 0 or not alive(d.supervisor_pid())
    # What the writer meets only once it starts (the data directory locked
    # by another process) is shown with the log, its cause picked out.
    with open(os.path.join(d.data, "LOCK")) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = d.roost("up", "--data-dir", d.data)
    assert out.returncode == 1
    assert "did not start: writer exited with status 1" in out.stderr
    assert "first error: writer: data directory %s is in use by another writer" % d.data \
        in out.stderr


def test_up_indexed_keys_describe_the_default_collection(cli):
    """roost up --indexed-keys gives the collection 'default' its indexed
    keys; a later up with other keys is refused in the writer's words, and
    a bad list is a usage error."""
    c = cli()
    c.up("--dim", DIM, "--indexed-keys", "user,topic")
    listed = json.loads(c.ok("collections", "--json").stdout)["collections"]
    assert [x["indexed_keys"] for x in listed if x["name"] == "default"] == [["user", "topic"]]
    c.ok("down")
    out = c.roost("up", "--data-dir", c.data, "--indexed-keys", "user")
    assert out.returncode == 1
    assert "--indexed-keys 'user' differs from the indexed keys 'user,topic' of collection " \
        "'default'" in out.stderr, out.stderr
    bad = c.roost("up", "--data-dir", c.data, "--indexed-keys", "user,,topic")
    assert bad.returncode == 2 and "indexed-keys" in bad.stderr, bad.stderr
    c.up("--indexed-keys", "user,topic")


def shm_of(name):
    prefix = "roost.%d.%s." % (os.getuid(), name)
    return [f for f in os.listdir("/dev/shm") if f.startswith(prefix)]


def test_failed_start_leaves_nothing_behind(cli):
    """A start refused for a bad index, or a writer refused because another
    runs the instance, leaves no directory, MANIFEST, LOCK or shared memory;
    messages are roost's, not FAISS's exception text."""
    c = cli()
    out = c.roost("up", "--data-dir", c.data, "--dim", DIM, "--index", "Bogus")
    assert out.returncode == 1
    assert "roost up: collection 'default': index 'Bogus' cannot be built at dimension %d, " \
        "metric l2: FAISS says " \
        "\"could not parse index string Bogus\"" % DIM in out.stderr, out.stderr
    assert "Error in" not in out.stderr and ".cpp" not in out.stderr
    assert os.listdir(c.root) == [] and shm_of(c.name) == []
    # The same directory then starts with a good index: nothing names Bogus.
    c.up("--dim", DIM, "--index", "Flat")
    home = os.path.join(c.root, "home")
    os.mkdir(home)
    empty = os.path.join(c.root, "empty")
    os.mkdir(empty)
    env = dict(c.env, HOME=home)
    env.pop("XDG_DATA_HOME", None)
    writer = os.path.join(BIN, "roost-writer")
    for data in (["--data-dir", os.path.join(c.root, "other")], ["--data-dir", empty], []):
        out = subprocess.run([writer, "--name", c.name, "--dim", str(DIM)] + data, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=60)
        assert out.returncode == 1, out.stdout
        assert "another writer (pid %d) is running for instance '%s'" % (
            c.procs("writer")[0]["pid"], c.name) in out.stdout, out.stdout
    assert not os.path.exists(os.path.join(c.root, "other"))
    assert os.listdir(empty) == [] and os.listdir(home) == []
    # A bad index given to the writer itself: no directory either.
    out = subprocess.run([writer, "--name", "never-%d" % os.getpid(), "--dim", str(DIM),
                          "--index", "IVF0,Nope"], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True, timeout=60)
    assert out.returncode == 1 and "cannot be built" in out.stdout, out.stdout
    assert os.listdir(home) == [] and shm_of("never-%d" % os.getpid()) == []


def manifest_name(data):
    """(version, instance name) of a data directory."""
    m = read_manifest(data)
    return m["version"], m["name"]


def test_data_dir_belongs_to_its_instance(cli):
    """A stopped instance's data directory is not silently taken over under
    another name; --adopt takes it over on purpose. (A directory written
    before names were recorded: test_compat.py.)"""
    a, b = cli(), cli()
    a.up("--dim", DIM)
    ids = a.ok("add", stdin=docs_jsonl([(unit(i), 1, i, "", "a%d" % i) for i in range(3)]))
    ids = sorted(assigned_ids(ids.stdout))
    a.ok("down")
    assert manifest_name(a.data) == (6, a.name)
    with open(os.path.join(a.data, "MANIFEST"), "rb") as f:
        before = f.read()
    out = b.roost("up", "--data-dir", a.data)
    assert out.returncode == 1
    assert "data directory %s belongs to instance '%s', not '%s'" % (a.data, a.name, b.name) \
        in out.stderr and "--adopt" in out.stderr, out.stderr
    assert os.listdir(b.root) == [] and shm_of(b.name) == []
    with open(os.path.join(a.data, "MANIFEST"), "rb") as f:
        assert f.read() == before
    # Its own instance still opens it; then another one takes it over.
    a.up()
    assert sorted(h["id"] for h in a.search([0.0] * DIM, "-k", 10)["hits"]) == ids
    a.ok("down")
    b.ok("up", "--data-dir", a.data, "--adopt")
    assert sorted(h["id"] for h in b.search([0.0] * DIM, "-k", 10)["hits"]) == ids
    assert "adopted data directory %s of instance '%s' as '%s'" % (a.data, a.name, b.name) \
        in b.log()
    b.ok("down")
    assert manifest_name(a.data) == (6, b.name)
    out = a.roost("up", "--data-dir", a.data)
    assert out.returncode == 1 and "belongs to instance '%s'" % b.name in out.stderr


def test_gpu_flag_reaches_the_writer(cli):
    """--gpu goes to the writer: it either serves (a GPU build, or a CPU
    fallback it reports) or its refusal is shown, never a silent failure."""
    c = cli()
    out = c.roost("up", "--data-dir", c.data, "--dim", DIM, "--gpu")
    if out.returncode == 0:
        assert "writer " in out.stdout
        return
    assert out.returncode == 1
    assert "did not start: writer exited" in out.stderr
    assert "gpu" in out.stderr.lower()
    assert "--- %s/supervisor.log ---" % c.run_dir in out.stderr


def test_supervisor_restarts_killed_children(cli):
    c = cli()
    c.up("--dim", DIM)
    for role in ("writer", "broker", "reader"):
        old = c.procs(role)[0]
        os.kill(old["pid"], signal.SIGKILL)
        wait_for(lambda: (lambda p: p["restarts"] == 1 and p["state"] == "running")(
            c.procs(role)[0]), 30, "the %s to be restarted" % role)
        new = c.procs(role)[0]
        assert new["pid"] != old["pid"] and new["last_exit"] == "signal:9"
        name = "writer" if role == "writer" else "%s-0" % role
        assert "%s (pid %d) killed by signal 9" % (name, old["pid"]) in c.log()
        if role == "reader":  # its socket for local clients goes with it
            wait_for(lambda: os.path.exists(os.path.join(c.run_dir, "search-%d.ipc" % new["pid"])),
                     30, "the new reader's socket")
            assert [f for f in os.listdir(c.run_dir) if f.startswith("search-")] == [
                "search-%d.ipc" % new["pid"]]
    assert "restarting in 100 ms" in c.log() or "restarting in 200 ms" in c.log()
    # Still serving: an add acknowledged visible is found at once.
    out = c.ok("add", "--ack", "visible", stdin=docs_jsonl([(unit(5), 4, 2, "x", "after")]))
    r = c.search(unit(5), "-k", 1)
    assert [r["hits"][0]["id"]] == assigned_ids(out.stdout) and r["hits"][0]["text"] == "after"


def test_killed_supervisor_stops_its_group(cli):
    """kill -9 of the supervisor leaves no unsupervised processes behind to
    block the next `roost up`, and loses nothing acknowledged."""
    c = cli()
    c.up("--dim", DIM)
    out = c.ok("add", stdin=docs_jsonl([(unit(2), 1, 1, "", "kept")]))
    st = c.status()
    os.kill(st["supervisor"]["pid"], signal.SIGKILL)
    c.up()  # at once: it waits for the old writer to stop
    for p in st["processes"]:
        wait_for(lambda: not alive(p["pid"]), 30, "the old %s to stop" % p["role"])
    assert c.search(unit(2), "-k", 1)["hits"][0]["id"] == assigned_ids(out.stdout)[0]


def test_up_refuses_an_unsupervised_writer(cli):
    c = cli()
    with open(os.path.join(c.root, "writer.log"), "w") as log:
        w = subprocess.Popen([os.path.join(BIN, "roost-writer"), "--name", c.name,
                              "--data-dir", c.data, "--dim", str(DIM)], env=c.env,
                             stdout=log, stderr=log)
    try:
        wait_for(lambda: "serving instance" in read(log.name) or w.poll() is not None, 30,
                 "the writer to start")
        out = c.roost("up", "--data-dir", c.data, "--wait", 1)
        assert out.returncode == 1
        assert "a writer (pid %d) that no supervisor runs" % w.pid in out.stderr
    finally:
        w.terminate()
        w.wait(timeout=30)


def test_backup_and_restore(cli):
    """The cold backup of docs/operations.md: down, copy the data directory;
    restoring it (with the instance's shared memory removed) brings back
    exactly what the backup held."""
    c = cli()
    c.up("--dim", DIM)
    first = c.ok("add", stdin=docs_jsonl([(unit(i), 1, i, "", "old %d" % i) for i in range(5)]))
    c.ok("down")
    backup = os.path.join(c.root, "backup")
    shutil.copytree(c.data, backup)
    c.up()
    c.ok("add", stdin=docs_jsonl([(unit(9), 2, 9, "", "newer")]))
    c.ok("down")
    shutil.rmtree(c.data)
    shutil.copytree(backup, c.data)
    c.remove_shm()
    c.up()
    hits = c.search([0.0] * DIM, "-k", 100)["hits"]
    assert sorted(h["id"] for h in hits) == sorted(assigned_ids(first.stdout))


def test_readers_add_remove(cli):
    c = cli()
    c.up("--dim", DIM, "--readers", 1)
    out = c.ok("readers", "add").stdout
    assert "serving; 2 reader(s)" in out
    pid = int(out.split()[2])
    st = c.status()
    assert pid in [r["pid"] for r in st["readers"]] and len(st["readers"]) == 2
    for _ in range(4):  # searches go to either reader; each must answer
        assert c.search(unit(0), "-k", 1)["hits"] == []
    out = c.ok("readers", "remove").stdout
    assert out.startswith("reader pid %d stopped; 1 reader(s)" % pid)
    assert not alive(pid)
    assert [r["pid"] for r in c.status()["readers"]] == [c.procs("reader")[0]["pid"]]
    c.ok("readers", "remove")
    assert c.status()["readers"] == []
    none = c.roost("readers", "remove")
    assert none.returncode == 1 and "no reader to remove" in none.stderr
    assert c.roost("readers", "twice").returncode == 2
    c.ok("readers", "add")
    assert c.search(unit(0), "-k", 1)["hits"] == []


def acked_lines(text):
    """roost-agent's ACK lines as {id: the line's fields}, like collect()."""
    acked = {}
    for line in text.splitlines():
        if line.startswith("ACK "):
            parts = line[4:].split(" ", 5)
            acked[parts[0]] = " ".join(parts)
    return acked


def test_down_loses_nothing_acknowledged(cli):
    """`roost down` while the ring holds batches acknowledged `queued` (in
    shared memory only) that the writer has not logged: down must wait for
    the writer to log them before stopping it, so that even losing shared
    memory afterwards (a reboot) loses nothing. The writer is held with
    SIGSTOP until down is seen waiting for it."""
    c = cli()
    c.up("--dim", DIM, "--brokers", 2)
    outs = [os.path.join(c.root, "agent%d.out" % a) for a in range(4)]
    agents = []
    for a, path in enumerate(outs):
        with open(path, "w") as out:  # a file: a pipe nobody reads would stall it
            agents.append(subprocess.Popen(
                [os.path.join(TOOLS, "roost-agent"), "--target", c.name, "--dim", str(DIM),
                 "--agent", str(a), "--requests", "5000", "--batch-min", "1", "--batch-max",
                 "20", "--ack", "queued", "--seed", str(a + 1), "--timeout-ms", "2000"],
                env=c.env, stdout=out, stderr=subprocess.DEVNULL))
    try:
        down = stop_during_backlog(c)
    finally:
        for p in agents:
            p.kill()  # its next requests could only fail; what it printed was acked
            p.wait()
    out, err = down.communicate(timeout=120)
    assert down.returncode == 0, err + c.log()
    acked = {}
    for path in outs:
        with open(path) as f:
            acked.update(acked_lines(f.read()))
    c.remove_shm()
    c.up()
    stored = {}
    for d in c.dump():
        i = d.split(" ", 1)[0]
        assert i not in stored, "document %s stored twice" % i
        stored[i] = d
    lost = [i for i in acked if stored.get(i) != acked[i]]
    assert not lost, "%d acknowledged documents lost, e.g. %s" % (len(lost), lost[:3])
    assert "the writer logged everything in the ring" in c.log()


def stop_during_backlog(c):
    """Holds the writer with SIGSTOP until the ring has a backlog, starts
    `roost down` and waits until it waits for the writer; returns it."""
    wait_for(lambda: c.status()["server"]["documents"] >= 200, 60, "agents to add")
    writer = c.procs("writer")[0]["pid"]
    os.kill(writer, signal.SIGSTOP)
    try:
        wait_for(lambda: c.status()["server"]["ring_reserve"] >
                 c.status()["server"]["durable_lsn"] + 65536, 60, "a backlog in the ring")
        down = subprocess.Popen([os.path.join(BIN, "roost"), "down", "--name", c.name],
                                env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        # Up to the supervisor's 10 s grace for a broker: nng 1.5.2 can
        # hang closing a socket whose clients keep sending, and the
        # supervisor then kills the broker before it drains the ring.
        wait_for(lambda: "waiting for the writer to log the ring" in c.log(), 30,
                 "down to wait for the writer")
        assert c.status()["supervisor"]["state"] == "stopping"
        again = c.roost("down", "--wait", 1)
        assert again.returncode == 1 and "already stopping" in again.stderr
    finally:
        os.kill(writer, signal.SIGCONT)
    return down


def test_foreground(cli):
    c = cli()
    err_path = os.path.join(c.root, "foreground.err")
    with open(err_path, "w") as err:
        p = subprocess.Popen([os.path.join(BIN, "roost"), "up", "--name", c.name,
                              "--data-dir", c.data, "--dim", str(DIM), "--foreground"],
                             env=c.env, stdout=subprocess.PIPE, stderr=err, text=True)
    try:
        ready, _, _ = select.select([p.stdout], [], [], 60)
        first = p.stdout.readline() if ready else ""
        assert first.startswith("instance %s is up" % c.name), first
        # The addresses are printed by a child; the supervisor's own state
        # follows a moment later.
        wait_for(lambda: c.status()["supervisor"]["state"] == "serving", 10, "serving")
        st = c.status()
        assert st["supervisor"]["pid"] == p.pid and st["supervisor"]["state"] == "serving"
        pids = [x["pid"] for x in st["processes"]]
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=60) == 0
        assert not any(alive(x) for x in pids)
        with open(err_path) as f:
            assert "stopping the writer" in f.read()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()


def test_log_format_json(cli):
    """With --log-format json every process of the instance writes one JSON
    object per line, and a format roost does not know is refused."""
    c = cli()
    bad = c.roost("up", "--data-dir", c.data, "--dim", DIM, "--log-format", "xml")
    assert bad.returncode == 2 and "bad value 'xml' for --log-format" in bad.stderr, bad.stderr
    c.up("--dim", DIM, "--log-format", "json")
    c.ok("add", stdin=docs_jsonl([(unit(1), 7, 1, "tweet", 'say "hi"\n')]))
    c.ok("down")
    lines = c.log().splitlines()
    entries = [json.loads(l) for l in lines]
    assert len(entries) > 5
    for e in entries:
        assert set(e) == {"time", "role", "pid", "level", "message"}, e
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", e["time"]), e
        assert e["level"] in ("error", "warn", "info", "debug") and e["pid"] > 0, e
    roles = {e["role"].split("(")[0] for e in entries}
    assert {"supervisor", "writer", "broker-0", "reader"} <= roles, roles


def run_demo(*args):
    env = dict(os.environ, TMPDIR=tempfile.gettempdir())
    return subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "demo.py")] +
                          [str(a) for a in args], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=300)


def row(table, name):
    """A value of the demo's summary table."""
    m = re.search(r"^\| %s +\| +(\S+) \|$" % re.escape(name), table, re.M)
    assert m, "no row %r in:\n%s" % (name, table)
    return m.group(1)


def test_demo_passes_and_notices_a_lost_tweet():
    ok = run_demo("--agents", 32, "--posts", 4, "--articles", 200)
    assert ok.returncode == 0, ok.stdout
    assert row(ok.stdout, "lost") == "0" and row(ok.stdout, "duplicates") == "0"
    assert row(ok.stdout, "in the wrong collection") == "0"
    assert row(ok.stdout, "writer restarts") == "1"
    assert int(row(ok.stdout, "articles acked")) == 200
    # Four agents of 32 leave, deleting their tweets: none is found again.
    assert row(ok.stdout, "agents that left") == "4"
    assert row(ok.stdout, "deleted, found again") == "0"
    assert int(row(ok.stdout, "replies (a get by id)")) > 0
    assert row(ok.stdout, "gets that missed") == "0"
    assert int(row(ok.stdout, "documents found")) == \
        int(row(ok.stdout, "tweets acked")) - int(row(ok.stdout, "their tweets deleted")) + 200
    # Read again as of the halfway read's LSN: what agent 0 and agent 7
    # (which has left since, deleting its tweets) had then.
    halfway = re.findall(r"as of lsn \d+ agent (\d+) had (\d+) tweets \((\d+) now\), "
                         r"read again: (\d+)", ok.stdout)
    assert [agent for agent, *_ in halfway] == ["0", "7"], ok.stdout
    assert all(then == again for _, then, _, again in halfway), ok.stdout
    assert halfway[1][2] == "0" and "came back different" not in ok.stdout
    # Then the posts forked at that LSN answer what they held then.
    forked = re.findall(r"posts-midpoint answers agent (\d+) with (\d+) tweets, as posts did "
                        r"at lsn \d+: (\w+)", ok.stdout)
    assert [(a, n, same) for a, n, same in forked] == \
        [(agent, then, "yes") for agent, then, _, _ in halfway], ok.stdout
    lost = run_demo("--agents", 4, "--posts", 4, "--articles", 50, "--inject-loss", 1)
    assert lost.returncode != 0, lost.stdout
    assert row(lost.stdout, "lost") == "1"
    assert "roost demo: FAILED" in lost.stdout


def test_status_shows_each_collection_with_its_rates(cli):
    """`roost status` lists every collection with its documents, segments,
    settings and its own ingest and search rates, measured while one
    collection takes adds and the other searches."""
    c = cli()
    c.up("--dim", DIM)
    c.ok("collections", "create", "posts", "--dim", 3, "--metric", "ip")
    stop = threading.Event()

    def searcher():
        while not stop.is_set():
            c.ok("search", "--collection", "posts", "--vector", "1,0,0", "-k", 1)

    def adder():
        i = 0
        while not stop.is_set():
            c.ok("add", stdin=docs_jsonl([(unit(i), 1, i, "", "d%d" % i)]))
            i += 1
    t = Threads()
    t.start(searcher)
    t.start(adder)
    try:
        st = json.loads(c.ok("status", "--json", "--interval-ms", 3000).stdout)
    finally:
        stop.set()
        t.join()
    colls = {x["name"]: x for x in st["collections"]}
    assert sorted(colls) == ["default", "posts"]
    assert (colls["posts"]["dim"], colls["posts"]["metric"]) == (3, "ip")
    assert colls["default"]["ingest_docs_per_s"] > 0 and colls["posts"]["ingest_docs_per_s"] == 0
    # default's only search is up's probe, which a reader may report late.
    assert colls["posts"]["searches_per_s"] > 10 * colls["default"]["searches_per_s"]
    # Counts taken while adds go on may straddle one; once they stop, they agree.
    def counts_agree():
        quiet = json.loads(c.ok("status", "--json", "--interval-ms", 0).stdout)
        docs = {x["name"]: x for x in quiet["collections"]}["default"]["documents"]
        return docs == quiet["server"]["documents"] > 0
    wait_for(counts_agree, 10, "the collection's and the instance's counts to agree")
    assert st["server"]["collection"] == "default"
    text = c.ok("status", "--interval-ms", 0, "--collection", "posts").stdout
    assert "collections: 2" in text and "SEARCH/S" in text
    posts = json.loads(c.ok("status", "--json", "--interval-ms", 0, "--collection",
                            "posts").stdout)["server"]
    assert (posts["collection"], posts["dim"], posts["metric"]) == ("posts", 3, "ip")
    bad = c.roost("search", "--collection", "a b", "--vector", "1,0,0")
    assert bad.returncode == 1 and "roost search: --collection: collection name 'a b' may " \
        "hold only" in bad.stderr, bad.stderr
