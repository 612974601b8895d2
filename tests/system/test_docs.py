"""The documentation's examples, run against real instances: README's
tour command by command and docs/protocol.md's JSON examples (and, in
test_python.py with the binding, docs/python.md's session). Outputs are
compared with what the documents show; only pids, temporary paths, the
instance's name and figures that depend on timing (rates, a reader's
counters) are normalised."""
import json
import os
import re
import shutil
import subprocess

from conftest import BIN, ROOT, remove_shm, wait_for

NANOCAT = shutil.which("nanocat")


def read_doc(path):
    with open(os.path.join(ROOT, path)) as f:
        return f.read()


def section(text, title):
    """The text of a markdown section, up to the next heading of its level."""
    level = title.split(" ")[0]
    start = text.index(title + "\n")
    end = re.compile(r"^%s " % level, re.M).search(text, start + len(title))
    return text[start:end.start() if end else len(text)]


def blocks(text, lang):
    return re.findall(r"^```%s\n(.*?)^```" % lang, text, re.M | re.S)


# ---- README's tour ----------------------------------------------------------

def tour_steps():
    """(command, documented output lines) for every `$ ` line of the tour."""
    steps = []
    for block in blocks(section(read_doc("README.md"), "## Tour"), "sh"):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            else:
                steps[-1][1].append(line)
    return steps


def normalise(lines):
    out = []
    for line in lines:
        line = re.sub(r"\bpid \d+", "pid N", line)
        line = re.sub(r"^(\s+(?:writer|broker-\d+|reader-\d+)\s+)\d+", r"\1N", line)
        # A reader's row: its pid, then the generation, LSN, searches and
        # waiting searches of its last report, which it writes now and then.
        line = re.sub(r"^(\s+)\d+(\s+)\d+(\s+\d+\s+)\d+(\s+)\d+(\s+)\d+$",
                      r"\1N\2N\3N\4N\5N", line)
        line = re.sub(r"ingest [\d.]+ documents/s, search [\d.]+ requests/s",
                      "ingest N documents/s, search N requests/s", line)
        # A collection's row ends with its ingest and search rates, then
        # where its history starts, its ended versions' bytes and its
        # indexed keys.
        line = re.sub(r"^(\s+\S+\s+\d+\s+\d+\s+(?:l2|ip)\s+\S+\s+\d+\s+\d+\s+\d+\s+)[\d.]+(\s+)[\d.]+"
                      r"(\s+\d+\s+\d+\s+\S+)$", r"\1N\2N\3", line)
        out.append(re.sub(r"\s+", " ", line).rstrip())
    return out


def test_readme_tour(tmp_path):
    name = "tour%d" % os.getpid()  # shared memory names are per user, not per directory
    run, home = tmp_path / "run", tmp_path / "home"
    home.mkdir()
    env = dict(os.environ, XDG_RUNTIME_DIR=str(run), HOME=str(home))
    env.pop("XDG_DATA_HOME", None)
    steps = tour_steps()
    assert [c.split(" --")[0] for c, _ in steps][:4] == [
        "export PATH=$PWD/build/bin:$PATH", "roost up", "cat posts.jsonl", "roost add"]
    try:
        for command, documented in steps:
            if command.startswith("export PATH="):
                env["PATH"] = BIN + os.pathsep + env["PATH"]
                continue
            if command == "cat posts.jsonl":
                (tmp_path / "posts.jsonl").write_text("\n".join(documented) + "\n")
            out = subprocess.run(["bash", "-c", command.replace("--name tour",
                                                                "--name " + name)],
                                 cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, timeout=120)
            assert out.returncode == 0, (command, out.stdout)
            want = [l.replace("/run/user/1000", str(run)).replace("/home/me", str(home))
                    for l in documented]
            got = out.stdout.replace(name, "tour").splitlines()
            assert normalise(got) == normalise(want), (command, out.stdout)
    finally:
        subprocess.run([os.path.join(BIN, "roost"), "down", "--name", name], env=env,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
        remove_shm(os.path.join(str(run), "roost", name))


# ---- docs/protocol.md's JSON examples ---------------------------------------

def call_json(inst, text):
    c = inst.client()
    try:
        return json.loads(c.call_raw(text.encode()).decode())
    finally:
        c.close()


def test_protocol_json_examples(make_instance):
    examples = section(read_doc("docs/protocol.md"), "### Examples")
    status_cmd = blocks(examples, "sh")[0]
    # Requests are sent as the document writes them; replies compared parsed.
    add, search, bad = blocks(examples, "json")[1:7:2]
    status_reply, add_reply, search_reply, bad_reply = [
        json.loads(b) for b in blocks(examples, "json")[0:8:2]]
    add_again = json.loads(re.search(r"Sending it again returns `(\{.*?\})`", examples).group(1))
    inst = make_instance(dim=3)
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    assert NANOCAT, "nanocat is missing: install nanomsg-utils (scripts/deps.sh)"
    out = subprocess.run(["bash", "-c", status_cmd.replace("/roost/sim/", "/roost/%s/" %
                                                           inst.name)],
                         env=inst.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["status_reply"]["writer_pid"] == inst.writer.pid
    got["status_reply"]["writer_pid"] = status_reply["status_reply"]["writer_pid"]
    assert got == status_reply
    assert call_json(inst, add) == add_reply
    assert call_json(inst, add) == dict(add_reply, add=add_again)
    assert call_json(inst, search) == search_reply
    assert call_json(inst, bad) == bad_reply


def differences(got, want, at="$"):
    """Where two JSON values differ: [(path, got, want)]."""
    if isinstance(got, dict) and isinstance(want, dict):
        return [d for k in sorted(set(got) | set(want))
                for d in differences(got.get(k), want.get(k), "%s.%s" % (at, k))]
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [d for i, (g, w) in enumerate(zip(got, want))
                for d in differences(g, w, "%s[%d]" % (at, i))]
    return [] if got == want else [(at, got, want)]


def ring_released(reply):
    st = reply["status_reply"]
    return st["ring_head"] == st["ring_reserve"] == st["applied_lsn"]


def test_protocol_collection_examples(make_instance):
    """docs/protocol.md's collection examples, request after request on one
    new instance: each reply is the one the document shows after it."""
    examples = blocks(section(read_doc("docs/protocol.md"), "### Collection examples"), "json")
    assert len(examples) % 2 == 0, "a request without its reply"
    inst = make_instance(dim=3)
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    ops = set()
    for request, reply in zip(examples[0::2], examples[1::2]):
        ops.update(json.loads(request))
        if "status" in json.loads(request):
            # The writer frees ring space just after it applies a group: the
            # example shows the ring once it has (ring_head at applied_lsn).
            wait_for(lambda: ring_released(call_json(inst, request)), 10, "the ring's release")
        want, got = json.loads(reply), call_json(inst, request)
        if "status_reply" in got:
            assert got["status_reply"]["writer_pid"] == inst.writer.pid
            got["status_reply"]["writer_pid"] = want["status_reply"]["writer_pid"]
        got["message"] = got["message"].replace("'%s'" % inst.name, "'sim'")
        assert got == want, "%s\ndiffers at %s" % (request, differences(got, want))
    assert ops >= {"create_collection", "drop_collection", "list_collections", "add", "search",
                   "status"}
