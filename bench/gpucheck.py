#!/usr/bin/env python3
"""The device checks of the GPU writer, run by bench/gpu-check.sh after it has
built roost with GPU=1 on a machine with an NVIDIA GPU.

    bench/gpucheck.py --out DIR [--quick] [--deadline EPOCH_SECONDS]

1. index: roost-bench-gpu drives the writer's index modules (vindex, place)
   directly, GPU against CPU, on the same rows: vectors/s of each; search
   results of the sealed segments identical for Flat, recall@10 within 0.01
   for IVF. Direct, not through brokers, so that the figure is the index
   work (the broker, log and tail in front of it are the same code either
   way and would dilute the ratio).
2. pressure: a real writer (--gpu), broker and reader under agent load while
   roost-gpu-hog takes 90% of the GPU and more (all but --leave-mib of what
   is free), for policy cpu and policy refuse: the writer must survive, lose
   nothing (every acked document stored exactly once), change mode as
   configured and come back to the GPU; searches must keep working.
3. budget: a writer with a small --gpu-memory-budget and a growing Flat
   segment: its peak GPU memory (nvidia-smi, per process and device-wide)
   must stay within the budget, and its mode must say it fell back.

They run in the order 2, 3, 1: when time is short, the throughput figure is
what is skipped. Writes DIR/results.json (everything), DIR/summary.txt and
DIR/table.md (the tables of docs/gpu.md). A phase that would run past the
deadline is skipped and says so.
"""
import argparse
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
os.environ.setdefault("BUILD", "build-gpu")
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from conftest import BUILD, Instance, check_exactly_once, collect  # noqa: E402
from test_gpu import writer_mode  # noqa: E402

DIM = 384


def plan(quick):
    if quick:
        return dict(rows=200000, ivf="IVF1024,Flat", train=65536, seal=65536, group=4096,
                    nq=500, nprobe=16, pressure_docs=60000, hog_hold_s=6, budget_mib=1152,
                    budget_docs=200000)
    return dict(rows=1000000, ivf="IVF4096,Flat", train=65536, seal=65536, group=4096,
                nq=1000, nprobe=16, pressure_docs=200000, hog_hold_s=12, budget_mib=1280,
                budget_docs=320000)


class Check:
    def __init__(self, args):
        self.out = os.path.abspath(args.out)
        self.plan = plan(args.quick)
        self.quick = args.quick
        self.deadline = args.deadline
        self.results = {"quick": args.quick, "plan": self.plan, "phases": {}}
        # Segment files (gigabytes) stay out of the results directory.
        self.work = tempfile.mkdtemp(prefix="roost-gpucheck-")

    def bin(self, name):
        return os.path.join(BUILD, "bench", name)

    def say(self, msg):
        print("gpu-check: %s" % msg, flush=True)

    def left(self):
        return self.deadline - time.time() if self.deadline else 1e9

    def run_tool(self, argv, timeout):
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=timeout)
        if p.returncode != 0:
            raise RuntimeError("%s failed (%d): %s" % (argv[0], p.returncode, p.stderr[-2000:]))
        return [json.loads(line) for line in p.stdout.splitlines() if line.startswith("{")]

    # -- 1. index path: GPU against CPU ---------------------------------------
    def phase_index(self):
        p = self.plan
        runs, compare = {}, {}
        for index in ["Flat", p["ivf"]]:
            for writer in ["cpu", "gpu"]:
                tag = "%s-%s" % (index.split(",")[0], writer)
                argv = [self.bin("roost-bench-gpu"), "ingest", "--index", index,
                        "--dir", os.path.join(self.work, "seg-" + tag),
                        "--n", p["rows"], "--seal", p["seal"], "--group", p["group"],
                        "--train", p["train"], "--nq", p["nq"], "--k", 10,
                        "--nprobe", p["nprobe"], "--gpu", int(writer == "gpu"),
                        "--results", os.path.join(self.out, tag + ".gt")]
                self.say("index: %s on the %s" % (index, writer))
                runs[tag] = self.run_tool([str(a) for a in argv], 900)[0]
        truth = os.path.join(self.out, "Flat-cpu.gt")
        for tag in runs:
            if tag != "Flat-cpu":
                compare[tag] = self.run_tool([self.bin("roost-bench-gpu"), "compare",
                                              "--truth", truth, "--got",
                                              os.path.join(self.out, tag + ".gt")], 60)[0]
        ivf = p["ivf"].split(",")[0]
        flat_same = compare["Flat-gpu"]["identical_lists"] == p["nq"]
        dr = abs(compare[ivf + "-gpu"]["recall"] - compare[ivf + "-cpu"]["recall"])
        return {
            "runs": runs, "compare": compare,
            "flat_identical": flat_same,
            "ivf_recall_difference": dr,
            "pass": flat_same and dr <= 0.01 and runs["Flat-gpu"]["mode"] == "gpu"
            and runs[ivf + "-gpu"]["mode"] == "gpu",
        }

    # -- helpers for the process phases -----------------------------------------
    def instance(self, writer_args):
        inst = Instance(dim=DIM, index="Flat", writer_args=writer_args)
        inst.start_writer()
        inst.start_broker()
        inst.start_reader()
        return inst

    def agents(self, inst, first, n_agents, docs, timeout_ms=180000):
        per = max(1, docs // (n_agents * 75))
        return [inst.agent(first + a, requests=per, batch=(50, 100), ack="durable",
                           timeout_ms=timeout_ms) for a in range(n_agents)]

    @staticmethod
    def gather(procs, acked, errors):
        for p in procs:
            got, errs = collect(p, timeout=600)
            acked.update(got)
            errors.extend(errs)

    def hog(self, hold_s, leave_mib=None, percent=90):
        argv = [self.bin("roost-gpu-hog"), "hold", "--percent", str(percent),
                "--hold-s", str(hold_s)]
        if leave_mib is not None:
            argv += ["--leave-mib", str(leave_mib)]
        return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    @staticmethod
    def writer_log(inst):
        return inst.read_log(inst.logs[0])

    def keep_logs(self, inst, tag):
        """The processes' logs outlive the instance's directory."""
        for log in inst.logs:
            log.flush()
            shutil.copy(log.name, os.path.join(self.out, "%s.%s" % (tag, os.path.basename(
                log.name))))

    # -- 2. memory pressure from another process ------------------------------
    def phase_pressure(self, policy):
        p = self.plan
        inst = self.instance(["--gpu", "--gpu-on-pressure", policy, "--seal-docs",
                              str(p["seal"]), "--seal-interval-ms", "3000"])
        modes = ModeWatch(inst)
        searches = SearchLoop(inst)
        acked, errors = {}, []
        try:
            # Writes before, during and after the other process holds the
            # memory; the last wave starts a new segment, on which the
            # writer can return to the GPU.
            before = self.agents(inst, 0, 4, p["pressure_docs"] // 4)
            time.sleep(1)
            hog = self.hog(p["hog_hold_s"], leave_mib=200)
            taken = hog.stdout.readline()
            during = self.agents(inst, 100, 8, p["pressure_docs"])
            hog_out, hog_err = hog.communicate(timeout=p["hog_hold_s"] + 120)
            after = self.agents(inst, 200, 4, p["pressure_docs"] // 4)
            self.gather(before + during + after, acked, errors)
            back = modes.wait_for(lambda m: m == "gpu", after=modes.first_not("gpu"),
                                  timeout=20)
            stored = check_exactly_once(inst, acked)
            result = {
                "policy": policy,
                "hog": [json.loads(l) for l in (taken + hog_out).splitlines()
                        if l.startswith("{")],
                "hog_stderr": hog_err[-500:],
                "acked": len(acked), "stored": len(stored), "client_errors": errors[:5],
                "lost": len(acked) - sum(1 for i in acked if i in stored),
                "modes": modes.seen(),
                "back_on_gpu": back,
                "searches_ok": searches.ok, "searches_failed": searches.failed,
                "writer_alive": inst.writer.poll() is None,
                "writer_log_modes": re.findall(r"writer mode: [^\n]*", self.writer_log(inst)),
            }
        finally:
            modes.stop()
            searches.stop()
            crashed = inst.writer.poll() is not None
            self.keep_logs(inst, "pressure-" + policy)
            inst.stop()
        expect = "cpu (fallback: GPU" if policy == "cpu" else "refusing: GPU"
        result["writer_alive"] = result.get("writer_alive", False) and not crashed
        result["pass"] = (result["writer_alive"] and result["lost"] == 0
                          and result["stored"] == result["acked"] and not errors
                          and any(m.startswith(expect) for m in result["modes"])
                          and result["back_on_gpu"] and result["searches_failed"] == 0)
        return result

    # -- 3. the budget ------------------------------------------------------------
    def phase_budget(self):
        p = self.plan
        base = gpu_used_mib()
        inst = self.instance(["--gpu", "--gpu-memory-budget", "%dM" % p["budget_mib"],
                              "--gpu-temp-memory", "128M", "--seal-docs", "400000",
                              "--seal-interval-ms", "600000"])
        peak = PeakWatch(inst.writer.pid, base)
        modes = ModeWatch(inst)
        acked, errors = {}, []
        try:
            self.gather(self.agents(inst, 0, 8, p["budget_docs"]), acked, errors)
            time.sleep(1)
            stored = check_exactly_once(inst, acked)
            log = self.writer_log(inst)
            fixed = re.search(r"(\d+) MiB held besides the index", log)
            result = {
                "budget_mib": p["budget_mib"], "acked": len(acked), "stored": len(stored),
                "peak_process_mib": peak.process, "peak_device_delta_mib": peak.device,
                "process_visible": peak.process_seen,
                "writer_fixed_estimate_mib": int(fixed.group(1)) if fixed else None,
                "modes": modes.seen(),
                "writer_log_modes": re.findall(r"writer mode: [^\n]*", log),
                "writer_alive": inst.writer.poll() is None,
            }
        finally:
            peak.stop()
            modes.stop()
            self.keep_logs(inst, "budget")
            inst.stop()
        measured = result["peak_process_mib"] if result["process_visible"] else \
            result["peak_device_delta_mib"]
        result["pass"] = (measured <= p["budget_mib"] and result["writer_alive"]
                          and result["stored"] == result["acked"]
                          and any("budget" in m for m in result["modes"]))
        return result

    # -- driver -------------------------------------------------------------------
    def phase(self, name, fn, need_s, *args):
        key = name if not args else "%s-%s" % (name, args[0])
        if self.left() < need_s:
            self.say("%s: skipped, %.0f s left (needs about %d)" % (key, self.left(), need_s))
            self.results["phases"][key] = {"skipped": "time", "pass": False}
            return
        t0 = time.time()
        try:
            r = fn(*args)
        except Exception as e:  # a failed phase is a result, the others still run
            r = {"error": repr(e), "pass": False}
        r["seconds"] = round(time.time() - t0, 1)
        self.results["phases"][key] = r
        self.say("%s: %s in %.0f s" % (key, "PASS" if r["pass"] else "FAIL", r["seconds"]))
        self.save()

    def save(self):
        with open(os.path.join(self.out, "results.json"), "w") as f:
            json.dump(self.results, f, indent=1, sort_keys=True)

    def run(self):
        self.results["gpu"] = nvidia_smi("--query-gpu=name,memory.total,driver_version")
        q = self.quick
        self.phase("pressure", self.phase_pressure, 40 if q else 60, "cpu")
        self.phase("pressure", self.phase_pressure, 40 if q else 60, "refuse")
        self.phase("budget", self.phase_budget, 30 if q else 45)
        self.phase("index", self.phase_index, 60 if q else 150)
        shutil.rmtree(self.work, ignore_errors=True)
        self.save()
        report(self.results, self.out)
        return all(r.get("pass") for r in self.results["phases"].values())


class ModeWatch:
    """Polls the writer mode through a broker; keeps each change with its time."""

    def __init__(self, inst, period=0.1):
        self.inst, self.period = inst, period
        self.changes, self.lock = [], threading.Lock()
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.halt.is_set():
            try:
                m = writer_mode(self.inst)
            except (OSError, TimeoutError, KeyError):
                m = None
            with self.lock:
                if m is not None and (not self.changes or self.changes[-1][1] != m):
                    self.changes.append((time.time(), m))
            self.halt.wait(self.period)

    def seen(self):
        with self.lock:
            return [m for _, m in self.changes]

    def first_not(self, mode):
        with self.lock:
            return next((t for t, m in self.changes if m != mode), None)

    def wait_for(self, pred, after, timeout):
        """True when a mode matching pred was seen after time `after`."""
        end = time.time() + timeout
        while after is not None and time.time() < end:
            with self.lock:
                if any(t > after and pred(m) for t, m in self.changes):
                    return True
            time.sleep(0.2)
        return False

    def stop(self):
        self.halt.set()
        self.thread.join()


class SearchLoop:
    """Searches through the broker and reader all along; counts failures."""

    def __init__(self, inst):
        self.inst, self.ok, self.failed = inst, 0, 0
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        rnd = random.Random(7)
        while not self.halt.is_set():
            try:
                r = self.inst.search([[rnd.uniform(-1, 1) for _ in range(DIM)]], k=5)
                ok = r["status"] == 0
            except (OSError, TimeoutError):
                ok = False
            self.ok += ok
            self.failed += not ok
            self.halt.wait(0.1)

    def stop(self):
        self.halt.set()
        self.thread.join()


def nvidia_smi(*query):
    """Its answer, or "" where there is no nvidia-smi to ask."""
    try:
        p = subprocess.run(["nvidia-smi", *query, "--format=csv,noheader,nounits"],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    except OSError:
        return ""
    return p.stdout.strip()


def gpu_used_mib():
    used = nvidia_smi("--query-gpu=memory.used", "-i", "0").splitlines()
    if not used or not used[0].strip().isdigit():
        raise RuntimeError("nvidia-smi does not report the GPU's memory")
    return int(used[0])


class PeakWatch:
    """Peak GPU memory of one process (nvidia-smi's compute apps; a container
    may hide them) and of the device above a baseline."""

    def __init__(self, pid, base_mib):
        self.pid, self.base = pid, base_mib
        self.process = self.device = 0
        self.process_seen = False
        self.halt = threading.Event()
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()

    def loop(self):
        while not self.halt.is_set():
            for line in nvidia_smi("--query-compute-apps=pid,used_memory").splitlines():
                pid, _, mib = line.partition(",")
                if pid.strip() == str(self.pid) and mib.strip().isdigit():
                    self.process_seen = True
                    self.process = max(self.process, int(mib))
            self.device = max(self.device, gpu_used_mib() - self.base)
            self.halt.wait(0.05)

    def stop(self):
        self.halt.set()
        self.thread.join()


def report(results, out):
    """summary.txt and the tables of docs/gpu.md, filled in."""
    ph = results["phases"]
    lines = ["GPU: %s" % results.get("gpu", "?"), "quick: %s" % results["quick"], ""]
    for key, r in ph.items():
        lines.append("%-16s %s (%s s)" % (key, "PASS" if r.get("pass") else "FAIL",
                                          r.get("seconds", "-")))
    table = ["GPU: %s%s" % (results.get("gpu", "?"), " (quick)" if results["quick"] else ""),
             "", "| index | writer | vectors | vectors/s | ratio GPU/CPU | search vs CPU Flat |",
             "|---|---|---|---|---|---|"]
    idx = ph.get("index", {})
    for tag, r in sorted(idx.get("runs", {}).items()):
        cpu = idx["runs"].get(tag.rsplit("-", 1)[0] + "-cpu", {})
        ratio = r["vectors_per_s"] / cpu["vectors_per_s"] if cpu.get("vectors_per_s") else 0
        cmp_ = idx["compare"].get(tag)
        what = "exact (truth)" if tag == "Flat-cpu" else \
            "identical %d/%d, recall %.4f" % (cmp_["identical_lists"], cmp_["queries"],
                                               cmp_["recall"])
        table.append("| %s | %s | %d | %.0f | %s | %s |" % (
            r["index"], r["writer"], r["vectors"], r["vectors_per_s"],
            "%.2f" % ratio if r["writer"] == "gpu" else "-", what))
    table += ["", "| check | result | details |", "|---|---|---|"]
    for key in ("pressure-cpu", "pressure-refuse"):
        r = ph.get(key, {})
        table.append("| %s | %s | acked %s, stored %s, lost %s, modes %s, back on GPU %s, "
                     "searches ok %s failed %s, writer alive %s |" % (
                         key, "PASS" if r.get("pass") else "FAIL", r.get("acked"),
                         r.get("stored"), r.get("lost"), " -> ".join(r.get("modes", [])),
                         r.get("back_on_gpu"), r.get("searches_ok"),
                         r.get("searches_failed"), r.get("writer_alive")))
    r = ph.get("budget", {})
    table.append("| budget | %s | budget %s MiB, peak %s MiB per process (%s), %s MiB device "
                 "delta, fixed estimate %s MiB, modes %s |" % (
                     "PASS" if r.get("pass") else "FAIL", r.get("budget_mib"),
                     r.get("peak_process_mib"),
                     "visible" if r.get("process_visible") else "not visible",
                     r.get("peak_device_delta_mib"), r.get("writer_fixed_estimate_mib"),
                     " -> ".join(r.get("modes", []))))
    with open(os.path.join(out, "summary.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(out, "table.md"), "w") as f:
        f.write("\n".join(table) + "\n")
    print("\n".join(lines + [""] + table))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--deadline", type=float, default=0)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    return 0 if Check(args).run() else 1


if __name__ == "__main__":
    sys.exit(main())
