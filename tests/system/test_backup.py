"""Online backup (`roost backup`): a copy made while agents add, seals run
and segments merge serves, restored under another name, exactly the
documents below the LSN the backup printed; a backup killed half way
leaves no folder to restore from and changes nothing of the instance."""
import os
import signal
import subprocess
import sys
import threading

from conftest import BIN, BUILD, ROOT, wait_for
from test_cli import cli  # noqa: F401 (the fixture)

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost  # noqa: E402

DIM = 8
BATCH = 50


def vec(i):
    return [float((i >> k) & 7) for k in range(DIM)]


class Agents:
    """Threads adding batches (ack durable) until stopped; every id acked."""

    def __init__(self, target, n=3):
        self.target, self.ids, self.errors = target, [], []
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(k,)) for k in range(n)]
        for t in self.threads:
            t.start()

    def run(self, k):
        try:
            with roost.Roost(self.target) as db:
                i = 0
                while not self.stop.is_set():
                    ids = db.add([vec(k * 1000003 + i + j) for j in range(BATCH)],
                                 texts=["a%d" % k] * BATCH)
                    i += BATCH
                    with self.lock:
                        self.ids += ids
        except Exception as e:  # noqa: BLE001 (reported by join)
            self.errors.append(e)

    def count(self):
        with self.lock:
            return len(self.ids)

    def join(self):
        self.stop.set()
        for t in self.threads:
            t.join()
        assert not self.errors, self.errors
        return self.ids


def backup(c, to, **kw):
    return subprocess.run([os.path.join(BIN, "roost"), "backup", "--name", c.name, "--to", to],
                          env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=300, **kw)


def held_backup(c, to, hold):
    """A backup held once its files are linked (ROOST_TEST_BACKUP_HOLD), as
    soon as it says so."""
    open(hold, "w").close()
    p = subprocess.Popen([os.path.join(BIN, "roost"), "backup", "--name", c.name, "--to", to],
                         env=dict(c.env, ROOST_TEST_BACKUP_HOLD=hold),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stderr.readline()
    assert "holding while" in line, line + p.stderr.read()
    return p


def merges(c):
    return sum("compacted" in line for line in c.log().splitlines())


def number(doc_id):
    assert doc_id.startswith("#"), doc_id
    return int(doc_id[1:])


def test_backup_under_load_restores_exactly_below_its_lsn(cli):
    c = cli()
    c.up("--dim", DIM, "--writer-arg=--seal-docs=4096", "--writer-arg=--seal-interval-ms=0",
         "--writer-arg=--merge-idle-ms=50")
    target = "ipc://%s/broker-0.ipc" % c.run_dir
    agents = Agents(target)
    dest, hold = os.path.join(c.root, "backup"), os.path.join(c.root, "hold")
    try:
        wait_for(lambda: agents.count() >= 20000, 120, "20k documents")
        p = held_backup(c, dest, hold)
        # While it holds, seals delete log files and merges delete the
        # segments it linked.
        before, docs = merges(c), agents.count()
        wait_for(lambda: merges(c) > before and agents.count() >= docs + 20000, 120,
                 "a merge and 20k more documents while the backup holds")
        os.unlink(hold)
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
        end = int(out.strip())
        assert "up to lsn %d copied into %s" % (end, dest) in err
    finally:
        if os.path.exists(hold):
            os.unlink(hold)
        ids = agents.join()
    assert not os.path.exists(dest + ".partial")
    assert [f for f in os.listdir(c.data) if f.startswith(".backup-")] == []
    below = {i for i in ids if number(i) < end}
    assert 0 < len(below) < len(ids)

    r = cli()
    r.ok("up", "--data-dir", dest, "--adopt")
    with roost.Roost("ipc://%s/broker-0.ipc" % r.run_dir) as db:
        assert db.status()["documents"] == len(below)
        found = []
        listed = sorted(below, key=number)
        for lo in range(0, len(listed), 1000):
            found += [h.id for h in db.get(listed[lo:lo + 1000])]
        assert found == listed
        above = sorted((i for i in ids if number(i) >= end), key=number)[:1000]
        assert db.get(above) == []
    # The original still has everything.
    with roost.Roost(target) as db:
        assert db.status()["documents"] == len(ids)


def test_killed_backup_leaves_nothing_to_restore(cli):
    c = cli()
    c.up("--dim", DIM)
    target = "ipc://%s/broker-0.ipc" % c.run_dir
    with roost.Roost(target) as db:
        first = db.add([vec(i) for i in range(2000)])
    dest, hold = os.path.join(c.root, "backup"), os.path.join(c.root, "hold")
    p = held_backup(c, dest, hold)
    try:
        staged = [f for f in os.listdir(c.data) if f.startswith(".backup-")]
        assert staged == [".backup-%d" % p.pid]
        p.send_signal(signal.SIGKILL)
        p.wait()
    finally:
        os.unlink(hold)
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    assert not os.path.exists(dest) and not os.path.exists(dest + ".partial")
    with roost.Roost(target) as db:
        assert [h.id for h in db.get(first)] == first
        second = db.add([vec(i) for i in range(10)])
    # The next backup removes the killed one's links.
    out = backup(c, dest)
    assert out.returncode == 0, out.stderr
    assert [f for f in os.listdir(c.data) if f.startswith(".backup-")] == []
    r = cli()
    r.ok("up", "--data-dir", dest, "--adopt")
    with roost.Roost("ipc://%s/broker-0.ipc" % r.run_dir) as db:
        assert [h.id for h in db.get(first + second)] == first + second


def test_backup_refuses_what_it_cannot_do(cli):
    c = cli()
    dest = os.path.join(c.root, "backup")
    out = backup(c, dest)
    assert out.returncode == 1 and "no supervisor runs instance" in out.stderr, out.stderr
    c.up("--dim", DIM)
    os.mkdir(dest)
    out = backup(c, dest)
    assert out.returncode == 1 and "exists; back up into a new folder" in out.stderr
    os.rmdir(dest)
    os.mkdir(dest + ".partial")  # as a backup killed while copying leaves it
    out = backup(c, dest)
    assert out.returncode == 1 and "interrupted backup left: remove it" in out.stderr
    out = subprocess.run([os.path.join(BIN, "roost"), "backup", "--name", c.name],
                         env=c.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert out.returncode == 2 and "--to DIR is required" in out.stderr
