"""roost-writer --gpu with real processes, on whatever build is under test.

A CPU-only build (`make test`) must refuse --gpu with a clear error and
change nothing. A GPU build (`make test-gpu`, which sets ROOST_GPU_BUILD)
must never abort: on a machine without a GPU it falls back to the CPU with
a warning (policy cpu) or stops with a clear error (policy refuse); on a
machine with one it runs on it. The memory-pressure cases that need a real
GPU are in bench/gpu-check.sh.
"""
import os
import signal
import subprocess

import pytest

import agentdata
import wire
from conftest import BIN, check_exactly_once, collect_all, wait_for

DIM = 16
GPU_BUILD = os.environ.get("ROOST_GPU_BUILD") == "1"
# The NVIDIA driver's control device: present only where a GPU is usable.
HAS_GPU = os.path.exists("/dev/nvidiactl")


def writer_mode(inst):
    """StatusReply.writer_mode (field 12), which tests/system/wire.py skips."""
    c = inst.client()
    try:
        reply = wire.decode(c.call_raw(wire.status_request()))
    finally:
        c.close()
    return wire.decode(reply[6][0]).get(12, [b""])[0].decode()


def run_writer(inst, *extra):
    """Runs a writer that is expected to stop by itself; returns it and its log."""
    p = subprocess.run(inst.writer_argv(extra), env=inst.env, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60)
    return p.returncode, p.stdout


def own_vectors_found(inst, acked):
    """A sample of acked documents are each the k=1 hit of their own vector."""
    items = [agentdata.parse_ack(f) for f in acked.values()][::7]
    queries = [agentdata.vector(a, req, i, DIM) for _, a, _, req, i in items]
    r = inst.search(queries, k=1)
    assert r["status"] == 0, r
    for (doc_id, _, _, _, _), hits in zip(items, r["results"]):
        assert hits and hits[0]["id"] == doc_id, (doc_id, hits)


@pytest.mark.parametrize("bad", [
    ["--gpu-memory-budget", "8G"],
    ["--gpu-on-pressure", "refuse"],
])
def test_gpu_options_need_gpu(make_instance, bad):
    inst = make_instance(dim=DIM)
    rc, out = run_writer(inst, *bad)
    assert rc == 2
    assert "need --gpu" in out
    assert not os.path.exists(inst.data)


@pytest.mark.parametrize("flag,value", [
    ("--gpu-memory-budget", "0"),
    ("--gpu-memory-budget", "101%"),
    ("--gpu-memory-budget", "12X"),
    ("--gpu-memory-budget", "-5G"),
    ("--gpu-temp-memory", "50%"),
    ("--gpu-device", "one"),
    ("--gpu-on-pressure", "maybe"),
])
def test_bad_gpu_values_are_refused(make_instance, flag, value):
    inst = make_instance(dim=DIM)
    rc, out = run_writer(inst, "--gpu", flag, value)
    assert rc == 2
    assert "%s takes " % flag in out and ", not '%s'" % value in out, out


def test_without_gpu_flag_nothing_changes(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    acked = collect_all(inst.agent(1, requests=5))
    check_exactly_once(inst, acked)
    assert writer_mode(inst) == "cpu"


if not GPU_BUILD:

    def test_cpu_build_refuses_gpu(make_instance):
        inst = make_instance(dim=DIM)
        rc, out = run_writer(inst, "--gpu")
        assert rc == 1, out
        assert "built without GPU support" in out
        assert "make GPU=1" in out
        # It stops before it creates or changes anything.
        assert not os.path.exists(inst.data)

else:

    @pytest.mark.parametrize("index", ["Flat", "IVF16,Flat"])
    def test_gpu_build_ingests_and_searches(make_instance, index):
        """Policy cpu: on the GPU when there is one, else on the CPU with a
        warning; either way every acked document is stored once and found."""
        inst = make_instance(dim=DIM, index=index,
                             writer_args=["--gpu", "--gpu-memory-budget", "50%",
                                          "--gpu-temp-memory", "64M", "--seal-docs", "4096",
                                          "--train-docs", "2048"])
        inst.start_writer()
        inst.start_broker()
        inst.start_reader()
        log = inst.read_log(inst.logs[0])
        if HAS_GPU:
            assert writer_mode(inst) == "gpu", log
        else:
            assert "no usable GPU" in log and "runs on the CPU" in log, log
            assert writer_mode(inst) == "cpu (fallback: no usable GPU)"
        agents = [inst.agent(a, requests=40, batch=(20, 50)) for a in range(4)]
        acked = {}
        for p in agents:
            acked.update(collect_all(p))
        assert len(acked) > 4096, "at least one segment must be sealed"
        check_exactly_once(inst, acked)
        wait_for(lambda: "sealed segment" in inst.read_log(inst.logs[0]), 30, "a seal")
        own_vectors_found(inst, acked)
        inst.kill(inst.writer, signal.SIGTERM)
        assert inst.writer.returncode == 0, inst.read_log(inst.logs[0])

    def test_gpu_build_refuse_policy(make_instance):
        """Without a GPU, policy refuse stops with a clear error; with one,
        the writer runs on it (bench/gpu-check.sh covers the pressure)."""
        inst = make_instance(dim=DIM)
        if HAS_GPU:
            inst.writer_args = ["--gpu", "--gpu-on-pressure", "refuse"]
            inst.start_writer()
            inst.start_broker()
            assert writer_mode(inst) == "gpu"
            return
        rc, out = run_writer(inst, "--gpu", "--gpu-on-pressure", "refuse")
        assert rc == 1, out  # an error exit, not SIGABRT from FAISS
        assert "no usable GPU" in out and "not starting" in out
        assert not os.path.exists(inst.data)

    def test_gpu_build_no_such_device(make_instance):
        inst = make_instance(dim=DIM)
        rc, out = run_writer(inst, "--gpu", "--gpu-device", "99", "--gpu-on-pressure",
                             "refuse")
        assert rc == 1, out
        assert "no usable GPU" in out or "no GPU device 99" in out


def test_writer_binary_matches_the_build():
    """ROOST_GPU_BUILD must describe the binaries under test, or the cases
    above test the wrong thing."""
    out = subprocess.run(["ldd", os.path.join(BIN, "roost-writer")],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    assert ("libcudart" in out) == GPU_BUILD, out
