"""`make install`: what it installs works from the prefix alone (programs,
libroost, its header and pkg-config file, the Python binding, the manual
pages and the systemd unit), DESTDIR stages it, `make uninstall` removes
it; and the supervisor's readiness protocol that the unit relies on."""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile

import pytest

from conftest import BIN, BUILD, ROOT, remove_shm, shm_objects

FILES = ["bin/roost", "bin/roost-writer", "bin/roost-broker", "bin/roost-reader",
         "lib/libroost.so.1", "lib/libroost.so", "lib/roost/libfaiss.so",
         "lib/roost/libfaiss_c.so", "include/roost/roost.h", "include/roost/err.h",
         "lib/pkgconfig/roost.pc", "lib/python3/dist-packages/roost.py",
         "share/man/man1/roost.1", "share/man/man1/roost-writer.1",
         "share/man/man1/roost-broker.1", "share/man/man1/roost-reader.1",
         "lib/systemd/system/roost@.service"]


# The build to install: the one whose libroost the Python binding loads
# (ROOST_LIB). Under a sanitizer (tests/run_sanitized.py) that is the plain
# build, since no interpreter can load an instrumented libroost.
INSTALL_BUILD = os.path.dirname(os.path.dirname(
    os.environ.get("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))))


def make(*args):
    out = subprocess.run(["make", "-s", "-C", ROOT, "BUILD=" + INSTALL_BUILD] + list(args),
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:]


def files_under(root):
    return sorted(os.path.relpath(os.path.join(d, f), root)
                  for d, _, fs in os.walk(root) for f in fs)


def clean_env(**extra):
    """An environment that names nothing of the build tree."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("ROOST_LIB", "BUILD", "LD_LIBRARY_PATH", "PYTHONPATH")}
    env["PATH"] = "/usr/bin:/bin"
    env.update(extra)
    return env


@pytest.fixture(scope="module")
def prefix():
    root = tempfile.mkdtemp(prefix="rinst")
    pfx = os.path.join(root, "prefix")
    make("install", "PREFIX=" + pfx)
    yield pfx
    make("uninstall", "PREFIX=" + pfx)
    left = files_under(pfx)
    shutil.rmtree(root, ignore_errors=True)
    assert not left, "make uninstall left %r" % left


def runpaths(path):
    out = subprocess.run(["readelf", "-d", path], stdout=subprocess.PIPE, text=True, check=True)
    return re.findall(r"\((?:RUNPATH|RPATH)\)\s+Library r(?:un)?path: \[(.*)\]", out.stdout)


def mapped(pid, name):
    with open("/proc/%d/maps" % pid) as f:
        return {line.split()[-1] for line in f if name in line}


def test_installed_files(prefix):
    assert files_under(prefix) == sorted(FILES)
    assert os.readlink(os.path.join(prefix, "lib", "libroost.so")) == "libroost.so.1"
    soname = subprocess.run(["readelf", "-d", os.path.join(prefix, "lib", "libroost.so.1")],
                            stdout=subprocess.PIPE, text=True, check=True).stdout
    assert "Library soname: [libroost.so.1]" in soname
    # The programs find their libraries beside them, never in the build tree.
    for prog in ("roost", "roost-writer", "roost-reader", "roost-broker"):
        for rp in runpaths(os.path.join(prefix, "bin", prog)):
            assert all(p.startswith("$ORIGIN") for p in rp.split(":")), (prog, rp)


def test_an_instance_runs_from_the_prefix(prefix):
    root = tempfile.mkdtemp(prefix="rinst-run")
    run = os.path.join(root, "run")
    os.mkdir(run, 0o700)
    env = clean_env(XDG_RUNTIME_DIR=run)
    roost = os.path.join(prefix, "bin", "roost")
    name = "inst%d" % os.getpid()

    def cli(*args, stdin=None):
        out = subprocess.run([roost] + list(args), env=env, cwd=root, input=stdin,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=120)
        assert out.returncode == 0, (args, out.stdout, out.stderr)
        return out.stdout

    try:
        cli("up", "--name", name, "--dim", "4", "--data-dir", os.path.join(root, "data"))
        status = cli("status", "--name", name, "--json", "--interval-ms", "0")
        pids = {p["role"]: p["pid"] for p in json.loads(status)["processes"]}
        for role in ("writer", "reader"):
            faiss = mapped(pids[role], "libfaiss")
            assert faiss and all(f.startswith(prefix + "/lib/roost/") for f in faiss), faiss
        sup = int(open(os.path.join(run, "roost", name, "supervisor.pid")).read())
        assert mapped(sup, "libroost") == {os.path.join(prefix, "lib", "libroost.so.1")}
        cli("add", "--name", name, stdin='{"vector":[1,0,0,0],"text":"installed"}\n')
        probe = ("import json, roost\n"
                 "db = roost.Roost(%r)\n"
                 "hits = db.search([[1, 0, 0, 0]], k=1)[0]\n"
                 "libs = {l.split()[-1] for l in open('/proc/self/maps') if 'libroost' in l}\n"
                 "print(json.dumps([roost.__file__, sorted(libs), hits[0].text]))\n" % name)
        out = subprocess.run(["python3", "-c", probe], cwd=root, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, timeout=60,
                             env=dict(env, PYTHONPATH=os.path.join(
                                 prefix, "lib", "python3", "dist-packages")))
        assert out.returncode == 0, out.stderr
        module, libs, text = json.loads(out.stdout)
        assert module.startswith(prefix + "/")
        assert libs == [os.path.join(prefix, "lib", "libroost.so.1")]
        assert text == "installed"
        cli("down", "--name", name)
        assert shm_objects(os.path.join(run, "roost", name)) == []
    finally:
        subprocess.run([roost, "down", "--name", name], env=env, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        remove_shm(os.path.join(run, "roost", name))
        shutil.rmtree(root, ignore_errors=True)


def test_version_header_and_pkgconfig_agree(prefix):
    header = open(os.path.join(prefix, "include", "roost", "roost.h")).read()
    version = re.search(r'#define ROOST_VERSION "(.*)"', header).group(1)
    said = subprocess.run([os.path.join(prefix, "bin", "roost"), "--version"],
                          stdout=subprocess.PIPE, text=True, env=clean_env()).stdout
    assert said == "roost %s\n" % version
    env = clean_env(PKG_CONFIG_PATH=os.path.join(prefix, "lib", "pkgconfig"))
    def pkg_config(*what):
        return subprocess.run(["pkg-config"] + list(what) + ["roost"], stdout=subprocess.PIPE,
                              text=True, env=env, check=True).stdout.split()

    assert pkg_config("--modversion") == [version]
    flags = pkg_config("--cflags", "--libs")
    assert flags == ["-I%s/include/roost" % prefix, "-L%s/lib" % prefix, "-lroost"]
    root = tempfile.mkdtemp(prefix="rinst-cc")
    try:
        src = os.path.join(root, "v.c")
        with open(src, "w") as f:
            f.write('#include <roost.h>\n#include <stdio.h>\n'
                    'int main(void) { printf("%s %s\\n", ROOST_VERSION, '
                    'roost_strerror(ROOST_EINVAL)); return 0; }\n')
        exe = os.path.join(root, "v")
        subprocess.run(["cc", "-o", exe, src] + flags +
                       ["-Wl,-rpath," + os.path.join(prefix, "lib")], check=True, env=env)
        out = subprocess.run([exe], stdout=subprocess.PIPE, text=True, check=True,
                             env=clean_env()).stdout
        assert out == "%s invalid argument\n" % version
    finally:
        shutil.rmtree(root, ignore_errors=True)


def rendered(page):
    out = subprocess.run(["groff", "-man", "-Tutf8", "-ww", "-P-cbou", page],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True)
    assert out.stderr == "", (page, out.stderr)
    return out.stdout


def test_manual_pages_say_what_help_says(prefix):
    """Each page is made from its program's --help: every command's help
    text, line for line, is in roost(1), and each process's in its page."""
    man = os.path.join(prefix, "share", "man", "man1")
    roost = os.path.join(BIN, "roost")
    top = subprocess.run([roost, "--help"], stdout=subprocess.PIPE, text=True).stdout
    commands = re.findall(r"^  ([a-z]+) +\S", top, re.M)
    assert "up" in commands and "scroll" in commands
    page = re.sub(r"\s+", " ", rendered(os.path.join(man, "roost.1")))
    for cmd in commands:
        text = subprocess.run([roost, "help", cmd], stdout=subprocess.PIPE, text=True).stdout
        for line in text.splitlines():
            assert re.sub(r"\s+", " ", line).strip() in page, (cmd, line)
    for daemon in ("roost-writer", "roost-broker", "roost-reader"):
        text = subprocess.run([os.path.join(BIN, daemon), "--help"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True).stdout
        page = re.sub(r"\s+", " ", rendered(os.path.join(man, daemon + ".1")))
        for line in text.splitlines():
            assert re.sub(r"\s+", " ", line).strip() in page, (daemon, line)


def test_systemd_unit(prefix):
    path = os.path.join(prefix, "lib", "systemd", "system", "roost@.service")
    unit = open(path).read()
    assert "ExecStart=%s/bin/roost up --name %%i " % prefix in unit
    for line in ("Type=notify", "RuntimeDirectoryPreserve=yes", "KillMode=mixed"):
        assert line + "\n" in unit, line
    if not shutil.which("systemd-analyze"):
        return  # checked where systemd is present
    out = subprocess.run(["systemd-analyze", "verify", os.path.join(os.path.dirname(path),
                                                                     "roost@t.service")],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=dict(os.environ, MANPATH=os.path.join(prefix, "share", "man")))
    assert out.returncode == 0 and out.stdout == "", out.stdout


def test_destdir_stages_and_uninstall_removes():
    root = tempfile.mkdtemp(prefix="rinst-dest")
    try:
        make("install", "DESTDIR=" + root, "PREFIX=/opt/roost")
        assert files_under(root) == sorted("opt/roost/" + f for f in FILES)
        unit = open(os.path.join(root, "opt/roost/lib/systemd/system/roost@.service")).read()
        assert "ExecStart=/opt/roost/bin/roost up " in unit
        pc = open(os.path.join(root, "opt/roost/lib/pkgconfig/roost.pc")).read()
        assert "prefix=/opt/roost\n" in pc
        # The staged tree runs where it is: every path it needs is relative.
        run = os.path.join(root, "run")
        os.mkdir(run, 0o700)
        env = clean_env(XDG_RUNTIME_DIR=run)
        roost = os.path.join(root, "opt/roost/bin/roost")
        name = "staged%d" % os.getpid()
        try:
            up = subprocess.run([roost, "up", "--name", name, "--dim", "4", "--data-dir",
                                 os.path.join(root, "data")], env=env, cwd=root,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                timeout=120)
            assert up.returncode == 0, up.stderr
            status = json.loads(subprocess.run(
                [roost, "status", "--name", name, "--json", "--interval-ms", "0"], env=env,
                stdout=subprocess.PIPE, text=True, check=True, timeout=60).stdout)
            writer = [p["pid"] for p in status["processes"] if p["role"] == "writer"][0]
            assert all(f.startswith(root + "/opt/roost/lib/roost/")
                       for f in mapped(writer, "libfaiss"))
        finally:
            subprocess.run([roost, "down", "--name", name], env=env, timeout=120,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            remove_shm(os.path.join(run, "roost", name))
        shutil.rmtree(run)
        shutil.rmtree(os.path.join(root, "data"))
        make("uninstall", "DESTDIR=" + root, "PREFIX=/opt/roost")
        assert files_under(root) == []
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_supervisor_tells_systemd_when_it_serves_and_stops():
    """Type=notify: READY=1 once the instance serves, STOPPING=1 when it
    begins to stop, on the datagram socket NOTIFY_SOCKET names."""
    root = tempfile.mkdtemp(prefix="rnotify")
    run = os.path.join(root, "run")
    os.mkdir(run, 0o700)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(os.path.join(root, "notify"))
    sock.settimeout(120)
    name = "notify%d" % os.getpid()
    env = dict(os.environ, XDG_RUNTIME_DIR=run, NOTIFY_SOCKET=os.path.join(root, "notify"))
    p = subprocess.Popen([os.path.join(BIN, "roost"), "up", "--name", name, "--dim", "4",
                          "--data-dir", os.path.join(root, "data"), "--foreground"],
                         env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert sock.recv(256) == b"READY=1"
        st = subprocess.run([os.path.join(BIN, "roost"), "status", "--name", name, "--json",
                             "--interval-ms", "0"], env=env, stdout=subprocess.PIPE,
                            text=True, timeout=60)
        assert st.returncode == 0 and '"serving"' in st.stdout, st.stdout
        p.send_signal(signal.SIGTERM)
        assert sock.recv(256) == b"STOPPING=1"
        assert p.wait(timeout=90) == 0
        assert shm_objects(os.path.join(run, "roost", name)) == []
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        remove_shm(os.path.join(run, "roost", name))
        sock.close()
        shutil.rmtree(root, ignore_errors=True)
