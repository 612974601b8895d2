"""Where an instance keeps its shared memory and runtime files, with the
real binaries: nothing another local user creates first may block or stall
it, a hostile symbolic link is refused before anything is made, `roost down`
leaves nothing behind unless the ring holds writes the log lacks, a killed
instance's leftovers are drained by the next `roost up` and then removed,
and a tiny instance takes little memory."""
import os
import re
import shutil
import signal
import subprocess
import tempfile

import pytest

import wire
from conftest import BIN, shm_dir, shm_objects, wait_for
from test_cli import Cli, alive, cli, docs_jsonl, unit  # noqa: F401 (cli: fixture)
from test_limits import set_immutable

DIM = 8
MIB = 1 << 20


def ours_in_dev_shm(name):
    """/dev/shm entries of this user named after instance `name`, in the
    form roost uses now or in the form it used before (roost.UID.NAME.*)."""
    prefix = "roost.%d.%s." % (os.getuid(), name)
    return sorted(f for f in os.listdir("/dev/shm")
                  if f.startswith(prefix) and os.lstat("/dev/shm/" + f).st_uid == os.getuid())


def allocated(run_dir):
    """Bytes of memory the instance's shared-memory objects hold."""
    d = shm_dir(run_dir)
    return sum(os.stat(os.path.join(d, f)).st_blocks * 512 for f in shm_objects(run_dir))


def lines(n, start=0, text="x" * 40):
    return docs_jsonl([(unit(i), i % 5, i, "t", "%s %d" % (text, i))
                       for i in range(start, start + n)])


def processes(c):
    st = c.status()
    return [p["pid"] for p in st["processes"] if p["pid"]] + [st["supervisor"]["pid"]]


def wait_writer_restarted(c, old):
    def restarted():
        w = c.procs("writer")
        return w and w[0]["pid"] not in (0, old) and w[0]["state"] == "running" and \
            c.status()["server"] and c.status()["server"]["writer_pid"] == w[0]["pid"]
    wait_for(restarted, 60, "the supervisor to restart the writer")


# ---- another local user ------------------------------------------------------

@pytest.fixture
def other_user():
    """A throwaway system user, removed afterwards."""
    if os.getuid() != 0:
        pytest.skip("creating a second local user needs root")
    if not (shutil.which("useradd") and shutil.which("runuser")):
        pytest.skip("useradd or runuser is missing")
    name = "rsq%d" % os.getpid()
    r = subprocess.run(["useradd", "--system", "--no-create-home", "--shell",
                        "/usr/sbin/nologin", name], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        pytest.skip("cannot create a user: %s" % r.stdout.strip())
    try:
        yield name
    finally:
        subprocess.run(["userdel", name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def as_user(user, script):
    return subprocess.run(["runuser", "-u", user, "--", "sh", "-c", script],
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def squat_dev_shm(user, name):
    """Every /dev/shm name of the instance that can be predicted: the
    fixed names roost used (catalog, control block, ring, tails 1 to 40) and a guess
    at the unguessable directory."""
    prefix = "/dev/shm/roost.%d.%s." % (os.getuid(), name)
    names = " ".join(["catalog", "ctl", "ring"] + ["tail.%d" % i for i in range(1, 41)])
    r = as_user(user, "set -e; for n in %s; do : > %s$n; chmod 666 %s$n; done; "
                "mkdir -m 777 %sAAAAAA" % (names, prefix, prefix, prefix))
    assert r.returncode == 0, r.stdout


def remove_squat(user, name):
    uid = int(subprocess.run(["id", "-u", user], stdout=subprocess.PIPE, text=True).stdout)
    prefix = "roost.%d.%s." % (os.getuid(), name)
    for f in os.listdir("/dev/shm"):
        p = "/dev/shm/" + f
        if f.startswith(prefix) and os.lstat(p).st_uid == uid:
            shutil.rmtree(p) if os.path.isdir(p) and not os.path.islink(p) else os.unlink(p)


@pytest.mark.parametrize("where", ["xdg", "tmp-dir", "tmp-link"])
def test_other_user_cannot_block_an_instance(cli, other_user, where):
    """Another user creates first every name of the instance they can
    predict: in /dev/shm (the control block, ring and tail names roost used
    to have) and, without XDG_RUNTIME_DIR, the runtime root
    $TMPDIR/roost-<uid> (as a directory of theirs, or as a link to one).
    `roost up`, seals (new tails), a writer restart and `roost down` all
    work, nothing of the owner's lands in what the other user made, and the
    other user cannot create a name among the instance's objects."""
    c = cli()
    uid = os.getuid()
    if where != "xdg":
        # A /tmp of the test's own: sticky and open to all, as /tmp is.
        os.chmod(c.root, 0o755)
        tmp, home = os.path.join(c.root, "tmp"), os.path.join(c.root, "home")
        os.mkdir(tmp)
        os.chmod(tmp, 0o1777)
        os.mkdir(home, 0o700)
        c.env = {k: v for k, v in c.env.items() if k != "XDG_RUNTIME_DIR"}
        c.env.update(TMPDIR=tmp, HOME=home)
        bait = os.path.join(tmp, "bait")
        squat = ("mkdir -m 777 %s/roost-%d && mkdir -m 777 %s/roost-%d/%s" %
                 (tmp, uid, tmp, uid, c.name) if where == "tmp-dir" else
                 "mkdir -m 777 %s && ln -s %s %s/roost-%d" % (bait, bait, tmp, uid))
        r = as_user(other_user, squat)
        assert r.returncode == 0, r.stdout
    squat_dev_shm(other_user, c.name)
    try:
        out = c.up("--dim", DIM, "--writer-arg=--seal-docs=4096").stdout
        c.run_dir = re.search(r"client: ipc://(.*)/broker-0\.ipc", out).group(1)
        if where != "xdg":
            assert re.fullmatch(r"%s/roost-%d-\w{6}/%s" % (tmp, uid, c.name), c.run_dir), \
                c.run_dir
            link = os.path.join(home, ".cache", "roost", "runtime-%s" % os.uname().nodename)
            assert os.readlink(link) == os.path.dirname(c.run_dir)
        d = shm_dir(c.run_dir)
        assert d and os.stat(d).st_uid == uid
        r = as_user(other_user, "touch %s/tail.99" % d)
        assert r.returncode != 0 and not os.path.exists(d + "/tail.99"), r.stdout

        # Seals: new tails, each a new name (the frozen one goes once its
        # segment is installed).
        c.ok("add", "--ack", "visible", "--batch", 500, stdin=lines(5000))

        def renamed():
            tails = [f for f in shm_objects(c.run_dir) if f.startswith("tail.")]
            return tails and all(int(t.split(".")[1]) >= 2 for t in tails)

        wait_for(renamed, 30, "the sealed tail to go")
        # A writer restart.
        writer = c.procs("writer")[0]["pid"]
        os.kill(writer, signal.SIGKILL)
        wait_writer_restarted(c, writer)
        c.ok("add", "--ack", "visible", stdin=lines(100, 5000))
        assert len(c.dump()) == 5100
        pids = processes(c)
        c.ok("down")
        assert not any(alive(p) for p in pids)
        assert not c.leftovers() and not ours_in_dev_shm(c.name)
        if where == "tmp-link":
            assert os.listdir(bait) == []
        if where == "tmp-dir":
            assert os.listdir(os.path.join(tmp, "roost-%d" % uid, c.name)) == []
    finally:
        remove_squat(other_user, c.name)


def test_hostile_symlink_in_place_of_the_runtime_dir(cli):
    """A symbolic link where the runtime root or the instance's runtime
    directory belongs: `roost up` refuses before it creates anything, and
    says which path is a link."""
    c = cli()
    run = os.path.join(c.root, "run")
    elsewhere = os.path.join(c.root, "elsewhere")
    os.makedirs(run, 0o700)
    os.mkdir(elsewhere, 0o700)
    for link in (os.path.join(run, "roost"), os.path.join(run, "roost", c.name)):
        if link.endswith(c.name):
            os.unlink(os.path.join(run, "roost"))
            os.mkdir(os.path.join(run, "roost"), 0o700)
        os.symlink(elsewhere, link)
        r = c.roost("up", "--data-dir", c.data, "--dim", DIM)
        assert r.returncode == 1, r.stderr
        assert "%s is a symbolic link (to %s)" % (link, elsewhere) in r.stderr, r.stderr
        assert os.listdir(elsewhere) == [], "created through the link"
        assert not os.path.exists(c.data)
        assert not ours_in_dev_shm(c.name)


# ---- cleanup -----------------------------------------------------------------

@pytest.mark.parametrize("runtime", ["disk", "tmpfs"])
def test_down_leaves_nothing(cli, runtime):
    """With the runtime directory on disk the objects live in a private
    directory in /dev/shm, on tmpfs in the runtime directory itself; either
    way `roost down` removes them all, and the sockets, and stops every
    process."""
    c = cli()
    if runtime == "tmpfs":
        xdg = tempfile.mkdtemp(prefix="rsttmpfs", dir="/dev/shm")
        c.env["XDG_RUNTIME_DIR"] = xdg
        c.run_dir = os.path.join(xdg, "roost", c.name)
    try:
        c.up("--dim", DIM, "--brokers", 2, "--readers", 2)
        d = shm_dir(c.run_dir)
        if runtime == "tmpfs":
            assert d == os.path.join(c.run_dir, "shm") and not ours_in_dev_shm(c.name)
        else:
            assert os.path.basename(d).startswith("roost.%d.%s." % (os.getuid(), c.name))
        c.ok("add", "--ack", "queued", stdin=lines(300))
        assert set(shm_objects(c.run_dir)) >= {"ctl", "ring", "tail.1"}
        pids = processes(c)
        out = c.ok("down")
        assert "is down" in out.stdout
        assert not any(alive(p) for p in pids)
        assert not os.path.lexists(os.path.join(c.run_dir, "shm")) and not os.path.exists(d)
        assert not ours_in_dev_shm(c.name)
        assert not [f for f in os.listdir(c.run_dir) if f.endswith((".ipc", ".sock"))]
        assert "removed the instance's shared memory" in c.log()
        # Nothing acknowledged went with it.
        c.up()
        wait_for(lambda: len(c.dump()) == 300, 60, "the log's replay")
    finally:
        if runtime == "tmpfs":
            c.roost("down", "--wait", 60)
            shutil.rmtree(xdg, ignore_errors=True)


def test_down_keeps_a_ring_the_log_lacks(cli):
    """A writer that cannot log (its data directory made immutable) while
    batches acknowledged `queued` wait in the ring: `roost down` stops
    everything but keeps the ring, says so and exits 1. The next `up`
    logs them, and its `down` then removes everything."""
    if os.getuid() != 0:
        pytest.skip("the immutable attribute needs root")
    c = cli()
    c.up("--dim", DIM)
    c.ok("add", "--ack", "visible", stdin=lines(10))
    set_immutable(c.data, True, recursive=True)
    try:
        c.ok("add", "--ack", "queued", stdin=lines(50, 10))
        wait_for(lambda: "stalled:" in c.status()["server"]["writer_mode"], 30,
                 "the writer to stall")
        down = c.roost("down", "--wait", 90)
    finally:
        set_immutable(c.data, False, recursive=True)
    assert down.returncode == 1, down.stdout + down.stderr
    assert "the ring holds batches from LSN" in down.stderr, down.stderr
    assert "not in the log" in down.stderr and "roost up --name %s" % c.name in down.stderr
    assert "ring" in shm_objects(c.run_dir)
    assert not [f for f in os.listdir(c.run_dir) if f.endswith((".ipc", ".sock"))]
    c.up()
    wait_for(lambda: len(c.dump()) == 60, 60, "the ring to be logged")
    c.ok("down")
    assert not c.leftovers() and not ours_in_dev_shm(c.name)
    c.up()
    assert len(c.dump()) == 60


def test_killed_instance_is_drained_by_the_next_up_then_removed(cli):
    """The writer is stopped, batches are acknowledged `queued` (they are in
    the ring only), and every process is killed: the shared memory stays.
    The next `roost up` logs what the ring holds, the dead writer's tail is
    gone, and its `roost down` removes everything."""
    c = cli()
    c.up("--dim", DIM)
    c.ok("add", "--ack", "visible", stdin=lines(10))
    pids = processes(c)
    writer = c.procs("writer")[0]["pid"]
    os.kill(writer, signal.SIGSTOP)
    out = c.ok("add", "--ack", "queued", stdin=lines(40, 10)).stdout
    ids = [x.lstrip("#") for x in out.split()]  # the numbers roost assigned
    assert len(ids) == 40
    for p in pids:
        os.kill(p, signal.SIGKILL)
    wait_for(lambda: not any(alive(p) for p in pids), 30, "every process to die")
    before = shm_objects(c.run_dir)
    assert {"ctl", "ring", "tail.1"} <= set(before), before

    c.up()
    wait_for(lambda: len(c.dump()) == 50, 60, "the ring to be logged")
    assert set(ids) <= {d.split()[0] for d in c.dump()}
    objects = shm_objects(c.run_dir)
    assert [o for o in objects if not o.startswith("metrics.")] == \
        ["catalog", "ctl", "ring", "tail.2"]
    # The killed processes' metrics objects went; the new ones' are there.
    live = {"metrics.%d" % p["pid"] for p in c.status()["processes"]}
    wait_for(lambda: {o for o in shm_objects(c.run_dir) if o.startswith("metrics.")} == live,
             30, "one metrics object per live process")
    c.ok("down")
    assert not c.leftovers() and not ours_in_dev_shm(c.name)


# ---- footprint ---------------------------------------------------------------

def test_tiny_instance_takes_little_memory(cli):
    """Memory is taken as data arrives: an idle instance holds the control
    block and headers, a hundred documents add a step of the ring and of the
    tail, not their full sizes (64 MiB and about 35 MiB here)."""
    c = cli()
    c.up("--dim", DIM)
    sizes = {f: os.stat(os.path.join(shm_dir(c.run_dir), f)).st_size
             for f in shm_objects(c.run_dir)}
    assert sizes["ring"] > 64 * MIB and sizes["tail.1"] > 32 * MIB, sizes
    idle = allocated(c.run_dir)
    assert idle < 3 * MIB, idle
    c.ok("add", "--ack", "visible", stdin=lines(100))
    used = allocated(c.run_dir)
    assert idle < used < 5 * MIB, (idle, used)
    assert len(c.dump()) == 100



def test_full_shared_memory_stalls_the_writer_then_recovers(cli):
    """/dev/shm fills up under a running instance (a small tmpfs in a mount
    namespace of the instance's own). First there is no room for the ring
    to grow: the add gets a clear error. Then room for the ring but not the
    tail: the ring takes the batch, the writer cannot reserve tail memory
    for it and stalls with a mode that says so. Never a SIGBUS, nothing
    lost; once there is room the writer goes on by itself."""
    if os.getuid() != 0:
        pytest.skip("a private mount namespace needs root")
    c = cli()

    def resize(size):
        r = subprocess.run(["nsenter", "-t", str(c.status()["supervisor"]["pid"]), "-m",
                            "mount", "-o", "remount,size=" + size, "/dev/shm"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert r.returncode == 0, r.stdout
    # Room for the catalog, the control block and the objects' headers only.
    script = ("mount -t tmpfs -o size=2500k tmpfs /dev/shm || exit 77; exec \"$@\"")
    up = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c", script,
                         "sh", os.path.join(BIN, "roost"), "up",
                         "--name", c.name, "--data-dir", c.data, "--dim", str(DIM)],
                        env=c.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                        timeout=120)
    if up.returncode == 77 or "unshare failed" in up.stdout:
        pytest.skip("no private mount namespace here: %s" % up.stdout.strip())
    assert up.returncode == 0, up.stdout
    full = c.roost("add", "--ack", "queued", stdin=lines(1))
    assert full.returncode == 1 and "shared memory is full" in full.stderr, full.stderr
    # Room for the ring's first step and the tail's rows, not for 100
    # documents' 8 KiB texts.
    resize("3900k")
    c.ok("add", "--ack", "queued", "--batch", 100, stdin=lines(100, text="y" * 8000))
    wait_for(lambda: c.status()["server"]["writer_mode"] == "stalled: tail shared memory full",
             30, "the writer to stall")
    assert c.status()["server"]["documents"] == 0
    resize("64m")
    wait_for(lambda: c.status()["server"]["documents"] == 100, 30, "the writer to go on")
    assert c.status()["server"]["writer_mode"] == "cpu"
    # A create logged while there is no room for its tail: the writer
    # stalls on it (it is in the log, so it must be applied) and creates
    # the collection once there is room, without a restart.
    used = subprocess.run(["nsenter", "-t", str(c.status()["supervisor"]["pid"]), "-m", "df",
                           "-k", "--output=used", "/dev/shm"], stdout=subprocess.PIPE,
                          text=True).stdout.split()[-1]
    resize(used + "k")
    create = subprocess.Popen([os.path.join(BIN, "roost"), "collections", "--name", c.name,
                               "create", "late", "--dim", str(DIM)], env=c.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: c.status()["server"]["writer_mode"] ==
                 "stalled: tail shared memory full", 30, "the writer to stall on the create")
    finally:
        resize("64m")
    out, err = create.communicate(timeout=60)
    assert create.returncode == 0 and "created collection late" in out, out + err
    assert c.procs("writer")[0]["restarts"] == 0
    c.ok("down")


def test_control_block_size_is_configurable(make_instance):
    """--clients sizes the idempotency table, and with it the control block:
    64 slots hold 64 live clients, and the next one is told the table is
    full; retries still get their original ids."""
    inst = make_instance(dim=DIM, writer_args=["--clients", "64"])
    inst.start_writer()
    inst.start_broker()
    ctl = os.path.join(shm_dir(inst.run_dir), "ctl")
    assert os.stat(ctl).st_size < 64 * 128 + 4096
    docs = [wire.document([1.0] * DIM, agent=1, time=1, kind="t", text="x")]
    c = inst.client()
    try:
        first = [c.call(wire.add_request(DIM, docs, 5000 + i, 1, ack=2)) for i in range(64)]
        assert all(r["status"] == 0 for r in first), first
        again = c.call(wire.add_request(DIM, docs, 5000, 1, ack=2))
        assert again["add"]["ids"] == first[0]["add"]["ids"]
        full = c.call(wire.add_request(DIM, docs, 9999, 1, ack=2))
        assert full["status"] == -7 and "too many active clients" in full["message"], full
    finally:
        c.close()
