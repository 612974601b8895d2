"""Resource exhaustion and local security with the real processes: a full
disk under the log and under a seal, a full /dev/shm, a reader that stops
reading, owner-only permissions, the ipc path limit, and garbage at the
transport level (ipc:// and tcp://).

Disk and /dev/shm limits use small tmpfs mounts (root only; skipped where
mount is not permitted). /dev/shm is only ever replaced inside a private
mount namespace (unshare -m), never for the rest of the machine."""
import errno
import json
import os
import pwd
import random
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

import pytest

import wire
from conftest import (BIN, BUILD, ROOT, check_exactly_once, read_manifest, remove_shm,
                      sealed_end, shm_dir, shm_objects, stop_process, wait_for)
from faults import fnv, writer_supports

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost  # noqa: E402

DIM = 16


def vec(seed, dim=DIM):
    rnd = random.Random(seed)
    return [rnd.uniform(-1, 1) for _ in range(dim)]


def docs(seed, n, text=""):
    return [wire.document(vec(seed * 1000 + i), agent=seed, time=i, kind="t",
                          text=text or "doc %d.%d" % (seed, i)) for i in range(n)]


def call(inst, frame, broker=0, timeout_ms=15000):
    c = inst.client(broker, timeout_ms=timeout_ms)
    try:
        return c.call(frame)
    finally:
        c.close()


def writer_mode(inst):
    c = inst.client()
    try:
        raw = c.call_raw(wire.status_request())
    finally:
        c.close()
    st = wire.decode(wire.decode(raw)[6][0])
    return st.get(12, [b""])[0].decode()


def only_size_seals():
    return ["--seal-interval-ms", "0"] if writer_supports("--seal-interval-ms") else []


def need_root(what):
    if os.getuid() != 0:
        pytest.skip("%s needs root" % what)


@pytest.fixture
def small_disk():
    """A 4 MiB tmpfs; request it before make_instance so that it is
    unmounted after the instance's processes are stopped."""
    need_root("mounting a tmpfs")
    d = tempfile.mkdtemp(prefix="rstdisk")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", d],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        os.rmdir(d)
        pytest.skip("mount is not permitted here: %s" % r.stdout.strip())
    yield d
    subprocess.run(["umount", "-l", d])
    os.rmdir(d)


def fill(path):
    """Fills the file system of path with a file; returns its name."""
    name = os.path.join(path, "filler")
    fd = os.open(name, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for chunk in (1 << 20, 1 << 16, 1 << 12):
            try:
                while True:
                    os.write(fd, b"\0" * chunk)
            except OSError as e:
                assert e.errno == errno.ENOSPC, e
    finally:
        os.close(fd)
    return name


def search_finds(inst, v, doc_id, min_lsn=0, broker=0, timeout=30):
    def found():
        try:
            r = inst.search([v], k=1, broker=broker, min_lsn=min_lsn, client_timeout_ms=10000)
        except TimeoutError:
            return False
        return r["status"] == 0 and r["results"][0] and r["results"][0][0]["id"] == doc_id
    wait_for(found, timeout, "a search to find document %d" % doc_id)


def acked_lines(frame_docs, ids):
    """What roost-dump prints for documents added with these ids."""
    out = {}
    for d, i in zip(frame_docs, ids):
        f = wire.decode(d)
        raw = f[1][0]
        v = struct.unpack("<%df" % (len(raw) // 4), raw)
        out[str(i)] = "%d %d %d %s %016x %s" % (i, f.get(2, [0])[0], f.get(3, [0])[0],
                                               f[4][0].decode(), fnv(v), f[5][0].decode())
    return out


# ---- disk full ------------------------------------------------------------

def start_with_first_docs(inst, client_id):
    """Starts a writer, a broker and a reader and adds 20 documents, acked
    visible. Returns what roost-dump should print for them, and the reply."""
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    first = docs(1, 20)
    r = call(inst, wire.add_request(DIM, first, client_id, 1, ack=3))
    assert r["status"] == 0, r
    return acked_lines(first, r["add"]["ids"]), r


def test_log_disk_full_stalls_durable_acks_and_recovers(small_disk, make_instance):
    inst = make_instance(dim=DIM, writer_args=only_size_seals())
    inst.data = os.path.join(small_disk, "data")
    acked, r = start_with_first_docs(inst, 501)

    filler = fill(small_disk)
    # Bigger than the free end of the log's last page: it needs new pages.
    big = docs(2, 40, text="x" * 2000)
    stalled = call(inst, wire.add_request(DIM, big, 502, 1, ack=2, timeout_ms=1500))
    assert stalled["status"] == -8, stalled
    assert "stalled: log disk full" in stalled["message"], stalled
    assert writer_mode(inst) == "stalled: log disk full"
    # Readers keep serving what was published; queued writes still go in.
    search_finds(inst, vec(1000), r["add"]["ids"][0])
    queued_docs = docs(3, 5)
    queued = call(inst, wire.add_request(DIM, queued_docs, 503, 1, ack=1))
    assert queued["status"] == 0, queued
    assert inst.writer.poll() is None

    os.unlink(filler)
    again = call(inst, wire.add_request(DIM, big, 502, 1, ack=2, timeout_ms=10000))
    assert again["status"] == 0 and again["add"]["ids"] == stalled["add"]["ids"], again
    # The mode is reset once the group is applied, just after the ack.
    wait_for(lambda: not writer_mode(inst).startswith("stalled"), 10, "the writer mode")
    acked.update(acked_lines(big, again["add"]["ids"]))
    acked.update(acked_lines(queued_docs, queued["add"]["ids"]))
    assert "log write failed" in inst.all_logs()

    # Nothing half-written stays behind: a restart replays it all, once.
    inst.kill(inst.writer)
    inst.start_writer()
    wait_for(lambda: len(inst.dump()) == len(acked), 30, "the replay")
    check_exactly_once(inst, acked)


def test_seal_on_full_disk_stalls_and_recovers_in_place(small_disk, make_instance):
    """A seal that cannot write its segment (a worker thread writes it while
    ingestion goes on) stalls the writer once the failure is known (mode
    "stalled: seal disk full"): it acknowledges nothing durable, readers
    keep serving, queued writes keep going into the ring, and once there is
    space again the same writer seals and takes everything in. (The log
    keeps working meanwhile: it needs far less.)"""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096"] + only_size_seals())
    inst.data = os.path.join(small_disk, "data")
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    acked = {}
    for seq in range(1, 41):
        batch = docs(seq, 100)
        r = call(inst, wire.add_request(DIM, batch, 601, seq, ack=2))
        assert r["status"] == 0, r
        acked.update(acked_lines(batch, r["add"]["ids"]))
    last_id = r["add"]["ids"][-1]
    filler = fill(small_disk)
    with open(filler, "r+b") as f:  # room for the log, not for a segment
        f.truncate(os.path.getsize(filler) - (128 << 10))

    # 4000 + 100 documents do not fit the tail: this batch freezes it (it
    # goes into the next tail, or waits with what follows once the writer
    # knows of the failure); the frozen tail's segment cannot be written.
    frozen = docs(98, 100)
    r = call(inst, wire.add_request(DIM, frozen, 602, 1, ack=1))
    assert r["status"] == 0, r
    acked.update(acked_lines(frozen, r["add"]["ids"]))
    wait_for(lambda: "writing a sealed segment failed" in inst.all_logs(), 30,
             "the seal's failure")
    over = docs(99, 100)
    stalled = call(inst, wire.add_request(DIM, over, 602, 2, ack=2, timeout_ms=1500))
    assert stalled["status"] == -8, stalled
    assert "stalled: seal disk full" in stalled["message"], stalled
    assert writer_mode(inst) == "stalled: seal disk full"
    search_finds(inst, vec(40099), last_id)  # in the frozen tail
    queued_docs = docs(97, 5)
    queued = call(inst, wire.add_request(DIM, queued_docs, 603, 1, ack=1))
    assert queued["status"] == 0, queued
    assert inst.writer.poll() is None

    os.unlink(filler)
    again = call(inst, wire.add_request(DIM, over, 602, 2, ack=3, timeout_ms=10000))
    assert again["status"] == 0 and again["add"]["ids"] == stalled["add"]["ids"], again
    assert inst.writer.poll() is None
    wait_for(lambda: not writer_mode(inst).startswith("stalled"), 10, "the writer mode")
    acked.update(acked_lines(over, again["add"]["ids"]))
    acked.update(acked_lines(queued_docs, queued["add"]["ids"]))
    check_exactly_once(inst, acked)
    assert "sealed segment" in inst.all_logs()
    assert not [f for f in os.listdir(inst.data) if f.endswith(".tmp")]

    # What the seal committed and what followed it survive a restart, once.
    inst.kill(inst.writer)
    inst.start_writer()
    wait_for(lambda: len(inst.dump()) == len(acked), 30, "the replay")
    check_exactly_once(inst, acked)


def set_immutable(path, on, recursive=False):
    """chattr +i/-i: read-only even for root. Skips where the file system
    cannot hold the attribute."""
    argv = ["chattr"] + (["-R"] if recursive else []) + ["+i" if on else "-i", path]
    r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0 and on:
        pytest.skip("no immutable attribute here: %s" % r.stdout.strip())
    assert r.returncode == 0, r.stdout


def test_read_only_data_dir_stalls_and_recovers(make_instance):
    """A data directory that turns read-only (the immutable attribute, which
    binds root too, stands in for a read-only remount): first the log
    cannot take a group, then, with only the directory read-only, a seal
    cannot create its files. Each time the writer stalls with a mode that
    says so, readers keep serving, and the same writer resumes once the
    directory is writable again, losing nothing."""
    need_root("the immutable attribute")
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096"] + only_size_seals())
    acked, r = start_with_first_docs(inst, 701)

    def stalled_then_resumed(frame, mode, recursive, freeze=None):
        """freeze: a batch that freezes the tail first, acknowledged: the
        seal that follows fails on the worker thread, and then the writer
        stalls."""
        set_immutable(inst.data, True, recursive)
        try:
            if freeze:
                r = call(inst, freeze)
                assert r["status"] == 0, r
                wait_for(lambda: "writing a sealed segment failed" in inst.all_logs(), 30,
                         "the seal's failure")
            stalled = call(inst, frame(1500))
            assert stalled["status"] == -8 and mode in stalled["message"], stalled
            assert writer_mode(inst) == mode
            search_finds(inst, vec(1000), acked_ids[0])
        finally:
            set_immutable(inst.data, False, recursive)
        again = call(inst, frame(10000))
        assert again["status"] == 0 and again["add"]["ids"] == stalled["add"]["ids"], again
        assert inst.writer.poll() is None
        return again["add"]["ids"], r if freeze else None

    acked_ids = r["add"]["ids"]
    logged = docs(2, 10)
    ids, _ = stalled_then_resumed(
        lambda t: wire.add_request(DIM, logged, 702, 1, ack=2, timeout_ms=t),
        "stalled: log not writable", recursive=True)
    acked.update(acked_lines(logged, ids))

    for seq in range(1, 41):  # 4030 documents in the tail of 4096
        batch = docs(10 + seq, 100)
        r = call(inst, wire.add_request(DIM, batch, 703, seq, ack=2))
        assert r["status"] == 0, r
        acked.update(acked_lines(batch, r["add"]["ids"]))
    frozen = docs(98, 100)  # does not fit: the tail freezes first
    over = docs(99, 100)
    ids, r = stalled_then_resumed(
        lambda t: wire.add_request(DIM, over, 704, 2, ack=2, timeout_ms=t),
        "stalled: seal not writable", recursive=False,
        freeze=wire.add_request(DIM, frozen, 704, 1, ack=1))
    acked.update(acked_lines(frozen, r["add"]["ids"]))
    acked.update(acked_lines(over, ids))
    wait_for(lambda: not writer_mode(inst).startswith("stalled"), 10, "the writer mode")
    check_exactly_once(inst, acked)
    assert "sealed segment" in inst.all_logs()

    inst.kill(inst.writer)
    inst.start_writer()
    wait_for(lambda: len(inst.dump()) == len(acked), 30, "the replay")
    check_exactly_once(inst, acked)


def test_shm_full_at_start_is_a_clear_error(tmp_path):
    """/dev/shm too small for the control block: the writer must refuse to
    start with an error that says so, and remove what it made (the data
    directory, the shared-memory directory). Run in a private mount
    namespace, so only this writer sees the small /dev/shm. (Everything
    after the control block reserves memory as it is used: a full /dev/shm
    later stalls the writer, test_shm.py.)"""
    need_root("a private mount namespace")
    script = ("mount -t tmpfs -o size=1m tmpfs /dev/shm || exit 77; \"$@\"; rc=$?; "
              "echo \"left in /dev/shm: [$(ls -A /dev/shm)]\"; exit $rc")
    argv = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
            os.path.join(BIN, "roost-writer"), "--name", "shmfull", "--data-dir",
            str(tmp_path / "data"), "--dim", str(DIM)]
    env = dict(os.environ, XDG_RUNTIME_DIR=str(tmp_path / "run"))
    # Under a sanitizer (make test-asan, test-tsan) a SIGBUS is this test's
    # subject, not a finding: let it end the process as it would without.
    for var in ("ASAN_OPTIONS", "TSAN_OPTIONS"):
        opts = [o for o in env.get(var, "").split(":") if o and "log_path" not in o]
        env[var] = ":".join(opts + ["handle_sigbus=0"])
    out = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=60)
    if out.returncode == 77 or "unshare failed" in out.stdout:
        pytest.skip("no private mount namespace here: %s" % out.stdout.strip())
    assert out.returncode == 1, "exit %d: %s" % (out.returncode, out.stdout)
    assert "no space" in out.stdout.lower(), out.stdout
    assert "left in /dev/shm: []" in out.stdout, out.stdout
    assert not (tmp_path / "data").exists()


def test_start_failing_after_shared_memory_removes_what_it_made(tmp_path):
    """A start that fails late, after it made the control block, ring and
    tail (here: the log directory cannot be made, a file holds its name)
    removes LOCK, MANIFEST and the shared memory it made, and keeps what
    was there before it."""
    data, run = tmp_path / "data", tmp_path / "run"
    data.mkdir(mode=0o700)
    (data / "wal").write_text("not a directory")
    out = subprocess.run([os.path.join(BIN, "roost-writer"), "--name", "latefail",
                          "--data-dir", str(data), "--dim", str(DIM)],
                         env=dict(os.environ, XDG_RUNTIME_DIR=str(run)),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=60)
    assert out.returncode == 1, out.stdout
    assert "serving instance" not in out.stdout, out.stdout
    assert sorted(os.listdir(data)) == ["wal"], os.listdir(data)
    run_dir = run / "roost" / "latefail"
    assert shm_dir(str(run_dir)) is None
    assert not [f for f in os.listdir("/dev/shm") if f.startswith(
        "roost.%d.latefail." % os.getuid())]


# ---- a reader that stops reading ------------------------------------------

def test_stopped_reader_blocks_neither_writer_nor_searches(make_instance):
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096"])
    inst.start_writer()
    inst.start_broker()
    stopped = inst.start_reader()
    other = inst.start_reader()
    r = call(inst, wire.add_request(DIM, docs(1, 10), 701, 1, ack=3))
    search_finds(inst, vec(1000), r["add"]["ids"][0])
    stop_process(stopped.pid)
    try:
        # Three seals' worth, acked visible: the writer publishes, seals and
        # replaces tails while one reader maps an old one and answers nothing.
        t0 = time.monotonic()
        for seq in range(2, 2 + 3 * 42):
            r = call(inst, wire.add_request(DIM, docs(seq, 100), 701, seq, ack=3))
            assert r["status"] == 0, r
        took = time.monotonic() - t0
        assert took < 60, "adds took %.1f s with a stopped reader" % took
        segs = [f for f in os.listdir(inst.data) if f.endswith(".docs")]
        assert len(segs) >= 2, segs
        last = r["add"]
        search_finds(inst, vec(seq * 1000 + 99), last["ids"][-1], min_lsn=last["lsn"])
    finally:
        stopped.send_signal(signal.SIGCONT)
    # The stopped reader catches up: with the other one stopped, it answers.
    stop_process(other.pid)
    try:
        search_finds(inst, vec(seq * 1000 + 99), last["ids"][-1], min_lsn=last["lsn"])
    finally:
        other.send_signal(signal.SIGCONT)


# ---- local security ---------------------------------------------------------

def as_nobody(checks):
    """Runs checks() in a child switched to user nobody; returns its result."""
    nobody = pwd.getpwnam("nobody")
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.close(rfd)
            os.setgroups([])
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
            res = checks()
        except BaseException as e:  # reported to the parent, never raised here
            res = {"error": repr(e)}
        os.write(wfd, json.dumps(res).encode())
        os._exit(0)
    os.close(wfd)
    with os.fdopen(rfd) as f:
        out = f.read()
    os.waitpid(pid, 0)
    return json.loads(out)


def denied(fn):
    try:
        fn()
    except PermissionError:
        return "denied"
    except OSError as e:
        return "error %s" % errno.errorcode.get(e.errno, e.errno)
    return "allowed"


def test_owner_only_files_objects_and_sockets(make_instance):
    need_root("switching to another user")
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    reader = inst.start_reader()
    assert call(inst, wire.add_request(DIM, docs(1, 3), 801, 1, ack=3))["status"] == 0

    def mode(path):
        return os.stat(path).st_mode & 0o777
    for d in (inst.run_dir, os.path.dirname(inst.run_dir), inst.data,
              os.path.join(inst.data, "wal")):
        assert mode(d) == 0o700, (d, oct(mode(d)))
    for f in os.listdir(inst.data) + ["wal/" + w for w in os.listdir(inst.data + "/wal")]:
        p = os.path.join(inst.data, f)
        if os.path.isfile(p):
            assert mode(p) == 0o600, (p, oct(mode(p)))
    for s in os.listdir(inst.run_dir):
        if s.endswith(".ipc"):
            assert mode(os.path.join(inst.run_dir, s)) & 0o077 == 0, s
    shm = [os.path.join(shm_dir(inst.run_dir), f) for f in shm_objects(inst.run_dir)]
    assert mode(shm_dir(inst.run_dir)) == 0o700
    assert len(shm) >= 3 and all(mode(p) == 0o600 for p in shm), shm
    # Readers map every shared object read-only.
    with open("/proc/%d/maps" % reader.pid) as f:
        maps = [l.split() for l in f if shm_dir(inst.run_dir) + "/" in l]
    # Read-only, but for the reader's own metrics counters (shm/mstat.h).
    own = "%s/metrics.%d" % (shm_dir(inst.run_dir), reader.pid)
    assert maps and all(m[1].startswith("r-") for m in maps if m[-1] != own), maps
    assert [m[1][:2] for m in maps if m[-1] == own] == ["rw"], maps

    # What the test itself made (its temporary root and XDG_RUNTIME_DIR) is
    # opened up, so that only roost's own modes stand in the other user's way.
    os.chmod(inst.root, 0o755)
    os.chmod(os.path.join(inst.root, "run"), 0o755)

    def checks():
        def connect():
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(inst.broker_path())
            finally:
                s.close()
        return {"socket": denied(connect),
                "shm": [denied(lambda p=p: open(p, "rb").close()) for p in shm],
                "data": denied(lambda: os.listdir(inst.data)),
                "manifest": denied(lambda: open(inst.data + "/MANIFEST", "rb").close())}
    res = as_nobody(checks)
    assert res == {"socket": "denied", "shm": ["denied"] * len(shm), "data": "denied",
                   "manifest": "denied"}, res


def test_group_access_by_configuration(make_instance):
    """ROOST_GROUP_ACCESS=1 opens the instance to the owner's group: shared
    memory and sockets 0660, directories 0750, published data files 0640;
    still nothing for others."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096"])
    inst.env["ROOST_GROUP_ACCESS"] = "1"
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    for seq in range(1, 45):
        assert call(inst, wire.add_request(DIM, docs(seq, 100), 811, seq, ack=3))["status"] == 0

    def mode(path):
        return os.stat(path).st_mode & 0o777
    for d in (inst.run_dir, inst.data):
        assert mode(d) == 0o750, (d, oct(mode(d)))
    # Segment files are written by a background thread: a name without
    # ".tmp" is a published file, which has its mode from the start.
    published = ["MANIFEST"] + [f for f in os.listdir(inst.data)
                                if f.startswith("seg-") and not f.endswith(".tmp")]
    assert len(published) >= 3
    assert data_modes(inst, published) == {f: 0o640 for f in published}
    assert mode(inst.broker_path()) == 0o660
    shm = {}
    for f in shm_objects(inst.run_dir):
        try:
            shm[f] = mode(os.path.join(shm_dir(inst.run_dir), f))
        except FileNotFoundError:
            pass  # a frozen tail, removed once its seal was installed
    assert mode(shm_dir(inst.run_dir)) == 0o750
    assert len(shm) >= 3 and set(shm.values()) == {0o660}, shm


def data_modes(inst, names):
    """name -> mode of each file of the data directory that is still there
    (a merge may remove a segment between a listing and its stat)."""
    modes = {}
    for f in names:
        try:
            modes[f] = os.stat(os.path.join(inst.data, f)).st_mode & 0o777
        except FileNotFoundError:
            pass
    return modes


def test_group_access_switched_at_restart(make_instance):
    """The files an earlier run wrote, tombstones included, take the access
    setting of the writer that runs now: opened to the group when it is
    switched on, closed again when it is switched off."""
    # HNSW: FAISS writes its index files, with the umask's mode.
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096", "--index", "HNSW8"] +
                         only_size_seals()).serve()

    def tomb_gen():
        m = read_manifest(inst.data, inst.name)
        return m["collections"]["default"]["tomb_gen"] if m else 0
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        db.add([vec(i) for i in range(4096)], ids=["k%d" % i for i in range(4096)], ack="durable")
        wait_for(lambda: sealed_end(inst) > 0, 60, "the first seal")
        db.delete(["k0"], ack="durable")
        db.add([vec(10000 + i) for i in range(4096)], ack="durable")
        wait_for(lambda: tomb_gen() != 0, 60, "a seal with a tombstone file")

    def published():
        files = read_manifest(inst.data, inst.name)["files"]
        assert any(f.startswith("tombs-") for f in files), files
        assert any(f.endswith(".docs") for f in files), files
        return ["MANIFEST"] + sorted(files)
    before = published()
    assert set(data_modes(inst, before).values()) == {0o600}
    for access, want in (("1", 0o640), ("0", 0o600)):
        inst.kill(inst.writer, signal.SIGTERM)
        inst.env["ROOST_GROUP_ACCESS"] = access
        inst.start_writer()
        names = published()
        modes = data_modes(inst, names)
        assert len(modes) >= 4 and set(modes.values()) == {want}, (access, modes)


def test_two_instances_share_nothing(make_instance):
    """Same user, same runtime directory root, different names."""
    a, b = make_instance(dim=DIM), make_instance(dim=DIM)
    b.env = a.env
    b.run_dir = os.path.join(os.path.dirname(a.run_dir), b.name)
    for inst in (a, b):
        inst.start_writer()
        inst.start_broker()
        inst.start_reader()
    r = call(a, wire.add_request(DIM, docs(1, 5), 1001, 1, ack=3))
    assert r["status"] == 0, r
    assert len(a.dump()) == 5 and b.dump() == []
    assert b.search([vec(1000)], k=5)["results"] == [[]]
    assert a.search([vec(1000)], k=1)["results"][0][0]["id"] == r["add"]["ids"][0]
    dir_a, dir_b = shm_dir(a.run_dir), shm_dir(b.run_dir)
    assert dir_a and dir_b and dir_a != dir_b
    assert shm_objects(a.run_dir) and shm_objects(b.run_dir)


def test_ipc_path_over_sun_path_is_refused_before_bind(make_instance):
    inst = make_instance(dim=DIM)
    base = tempfile.mkdtemp(prefix="rstipc")
    try:
        # The longest socket a broker binds is readers-<id>.ipc.
        def runtime_for(length):
            tail = "/roost/%s/readers-0.ipc" % inst.name
            pad = length - len(base) - len(tail) - 1
            return os.path.join(base, "d" * pad)

        def use_runtime(length):
            inst.env["XDG_RUNTIME_DIR"] = runtime_for(length)
            inst.run_dir = os.path.join(inst.env["XDG_RUNTIME_DIR"], "roost", inst.name)
            inst.start_writer()
        use_runtime(108)
        p = subprocess.run([os.path.join(BIN, "roost-broker"), "--name", inst.name],
                           env=inst.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        assert p.returncode == 1, p.stdout
        assert "longer than 107 bytes" in p.stdout, p.stdout
        assert not any(f.endswith(".ipc") for _, _, fs in os.walk(base) for f in fs)

        # The instance lives where its runtime dir is: move it along.
        inst.kill(inst.writer, signal.SIGTERM)
        remove_shm(inst.run_dir)
        use_runtime(107)
        inst.start_broker()
        assert len(os.path.join(inst.run_dir, "readers-0.ipc")) == 107
        assert call(inst, wire.status_request())["status"] == 0
    finally:
        inst.stop()
        subprocess.run(["rm", "-rf", base])
