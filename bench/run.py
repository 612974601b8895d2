#!/usr/bin/env python3
"""roost's benchmark suite: every figure next to in-process FAISS on the same
data, measured in the same run, written to docs/benchmarks.md and
docs/benchmarks.json.

    bench/run.py [--quick] [--build DIR] [--only FIG,...] [--out PREFIX] [--merge]

The C programs in bench/ do the measuring and print one JSON line each:
roost-bench-load (clients, through libroost), roost-bench-faiss (the
in-process baselines, on roost's own FAISS build), roost-bench-ring (the ring
alone). bench/original_workload.py is the Python baseline of figure 8. This
script starts real instances (writer, broker, readers) the way
tests/system/conftest.py does, runs each measurement several times, and
reports the median with min and max. No figure is asserted: this measures.
"""
import argparse
import glob
import itertools
import json
import os
import platform
import re
import resource
import shlex
import shutil
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

import report
from report import fmt, human_bytes, human_count

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
import conftest  # noqa: E402

FIGURES = ["ring", "ingest", "search", "deleted", "filtered", "writes", "seals", "alter",
           "fair", "history", "fork", "retention", "scale", "original", "profile"]
# The figures (report rows) each measurement writes, where they differ.
ROW_FIGURES = {"scale": ["fresh", "publish", "memory", "recovery"],
               "search": ["search", "goals", "readers"], "profile": []}


class BenchError(Exception):
    pass


# -- sizes ---------------------------------------------------------------------
SEAL_DOCS = 8192  # the writer's default --seal-docs
# Figure 5 grows one instance to 1M documents and times each seal on the
# way: at 64Ki rows per seal, as many seals as it had when this was the
# default (the seal's cost is proportional to its rows).
SCALE_SEAL_DOCS = 65536
# The writer's default --merge-idle-ms: layouts are measured at rest. (The
# instance of figure 5 turns merges at rest off: it measures each seal
# of a growing collection.)
MERGE_IDLE_MS = 10000
# Figure 12: rows added across seals and merges (eight seals of 64Ki, or
# 64 of the default size, and merges among them).
SEAL_ROWS = 8 * 65536 + 1000


def plan(quick):
    """What each mode measures. Quick keeps every figure but smaller."""
    if quick:
        return dict(
            reps=3, ring_sizes=[64, 4096, 262144], ring_producers=[1, 4], ring_s=0.2,
            ingest=[(a, c, b) for a, c, b in itertools.product(
                ["durable"], [1, 16], [1, 100])] + [("queued", 16, 100), ("visible", 16, 100)],
            ingest_s=0.5, ingest_cap=20000, ingest_hnsw=[("visible", 16, 100)],
            search_rows=20000, queries=300, search_s=0.5, search_readers=[1, 2],
            search_clients=[1, 16], search_default_seal=False, train=20000,
            write_rate=500, scale_points=[10000, 100000], probes=100,
            recovery_full_log=False, original_s=3.0,
            deleted_indexes=["Flat", "IVF1024,Flat"], deleted_seal_ms=2500,
            filter_users=100, writes_cap=10000, kept_clients=[1, 16],
            kept_queries=200, kept_s=0.3, seal_rows=SEAL_ROWS // 4, alter_rows=20000,
            fork_points=[10000, 100000], retention_rows=20000,
            fair_s=2.0,
            readers_large=["IVF1024,Flat"], readers_large_rows=50000)
    return dict(
        reps=3, ring_sizes=[64, 4096, 262144], ring_producers=[1, 2, 4], ring_s=0.5,
        ingest=list(itertools.product(["queued", "durable", "visible"], [1, 4, 16, 64],
                                      [1, 10, 100])),
        ingest_s=1.0, ingest_cap=20000,
        ingest_hnsw=[("durable", 16, 100), ("visible", 16, 10), ("visible", 16, 100)],
        search_rows=100000, queries=1000, search_s=1.0, search_readers=[1, 2],
        search_clients=[1, 4, 16], search_default_seal=True, train=40000,
        write_rate=500, scale_points=[10000, 100000, 1000000], probes=200,
        recovery_full_log=True, original_s=20.0,
        deleted_indexes=["Flat", "IVF1024,Flat"], deleted_seal_ms=5000,
        filter_users=100, writes_cap=15000, kept_clients=[1, 16],
        kept_queries=200, kept_s=0.5, seal_rows=SEAL_ROWS, alter_rows=50000,
        fork_points=[100000, 1000000], retention_rows=100000,
        fair_s=3.0,
        readers_large=["IVF1024,Flat"], readers_large_rows=1000000)


FILL_BATCH = 1000
# Figure 14: modest agents, their adds a second each, the flooding
# agent's clients, and the limit the broker puts on every agent.
FAIR_CLIENTS, FAIR_RATE, FAIR_FLOODERS, FAIR_LIMIT = 31, 20, 4, 200
# A search request at d=384 (1,536 bytes of vector and the request's
# fields): the echo baseline's frame.
ECHO_FRAME = 1600


def stats(values):
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals),
            "n": len(vals)}


# -- processes -----------------------------------------------------------------
class Instance(conftest.Instance):
    """The system tests' instance (a writer, brokers and readers with their
    own name, data and runtime directories), with a timed writer start and
    the writer's defaults (merges at rest included)."""
    MERGE_AT_REST = True

    def __init__(self, bench, index="Flat", writer_args=()):
        super().__init__(dim=bench.dim, index=index, writer_args=writer_args)
        self.docs = 0  # documents added through the benchmark tools

    def start_writer(self, extra=()):
        """Starts the writer; returns the seconds until it serves, polled
        finely enough to time a restart."""
        t0 = time.monotonic()
        self.writer = self._spawn("writer", self.writer_argv(extra))
        log = self.logs[-1]
        while not self._logged(log, "serving instance"):
            if self.writer.poll() is not None or time.monotonic() - t0 > 120:
                raise BenchError("the writer did not start:\n" + self.read_log(log)[-3000:])
            time.sleep(0.002)
        return time.monotonic() - t0

    def stop_reader(self):
        p = self.readers.pop()
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=60)

    def procs(self):
        return [p for p in [self.writer] + list(self.brokers.values()) + self.readers if p]

    def dead(self):
        """Processes that exited on their own: crashes."""
        return [p.args[0] for p in self.procs() if p.poll() is not None]

    def files(self, pattern):
        return sorted(glob.glob(os.path.join(self.data, pattern)))


# nng names its threads: its task and poller threads serve the brokers',
# the readers' and libroost's sockets.
PROFILED = ("roost-writer,roost-broker,roost-reader,roost-bench-loa,roost-bench-rin,"
            "nng:task,nng:poll:epoll,nng:reap2")


def perf_report(data, sort):
    """perf's table of samples, 1% and above, of roost's processes and the
    load generator (comm names are cut to 15 characters)."""
    rep = subprocess.run(["perf", "report", "-i", data, "--stdio", "--no-children", "-g", "none",
                          "--percent-limit", "1", "--sort", sort, "--comms", PROFILED],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                         timeout=300)
    return [l.rstrip(" -") for l in rep.stdout.splitlines() if l.strip() and not l.startswith("#")]


def cpu_s(pid):
    """CPU seconds, user and system, that a live process's threads have used."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_cpu_s():
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def plural(n, what):
    return "%d %s%s" % (n, what, "" if n == 1 else "s")


def pss(pid):
    """Proportional set size of a process in bytes (shared pages divided
    among the processes that map them)."""
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    raise BenchError("no Pss for pid %d" % pid)


def disk_bytes(top):
    """Disk a directory tree takes, each file once however many names link
    it (du's count)."""
    seen, total = set(), 0
    for root, _, files in os.walk(top):
        for f in files:
            st = os.lstat(os.path.join(root, f))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def fork_own_bytes(data, name, coll):
    """Disk of the files collection coll's manifest entry names that no
    other name links: what a fork holds that its source does not share."""
    m = conftest.read_manifest(data, name)
    total = 0
    for f in m["files"]:
        base = os.path.basename(f)
        if "-c%08x-" % coll not in base and not base.startswith("tombs-%08x-" % coll):
            continue
        st = os.lstat(os.path.join(data, base))
        if st.st_nlink == 1:
            total += st.st_blocks * 512
    return total


def in_process_bytes(index_file):
    """What FAISS would hold of a segment's index file in process: its size,
    but for a Flat segment, whose file is FAISS's header alone (its vectors
    are the documents file's: store/flatidx.h), the vectors it would read."""
    size = os.path.getsize(index_file)
    with open(index_file, "rb") as f:
        head = f.read(37)
    if size == 37 and head[:4] in (b"IxF2", b"IxFI"):
        d, ntotal = struct.unpack_from("<iq", head, 4)
        return d * ntotal * 4
    return size


def reader_tuning(index):
    """The reader's defaults for a search that leaves nprobe and ef_search
    at 0 (reader/segindex.h), for the in-process baselines, so that both
    sides search with the same settings."""
    if index.startswith("IVF"):
        nlist = int(index[3:].split(",")[0])
        return {"nprobe": min(nlist, max(8, nlist // 64))}
    if index.startswith("HNSW"):
        return {"ef_search": 64}
    return {}


# Speed at equal recall: the recall targets, and per index the setting
# tried, cheapest first.
EQUAL_RECALL = (0.9, 0.95)
TUNING_LADDER = {
    "HNSW32": ("ef_search", [8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]),
    "IVF1024,Flat": ("nprobe", [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 256]),
}


# -- the suite -------------------------------------------------------------------
class Bench:
    def __init__(self, args):
        self.quick = args.quick
        self.p = plan(args.quick)
        self.reps = args.reps or self.p["reps"]
        self.dim = args.dim
        self.build = os.path.join(ROOT, args.build)
        # The system tests' helpers run this build's binaries.
        conftest.BIN = os.path.join(self.build, "bin")
        conftest.TOOLS = os.path.join(self.build, "tests")
        self.tmp = tempfile.mkdtemp(prefix="roost-bench-")
        self.rows = []
        self.prior_rows = []  # --merge: the kept run's, for the profiles to choose from
        self.notes = {}
        self.live = []
        self.writer_flags = subprocess.run([self.bin("roost-writer"), "--help"],
                                           stdout=subprocess.PIPE, text=True).stdout

    def bin(self, name):
        sub = "bench" if name.startswith("roost-bench") else "bin"
        return os.path.join(self.build, sub, name)

    def tool(self, prog, cmd, env=None, timeout=900, every=False, **opts):
        argv = [self.bin(prog), cmd, "--dim", str(self.dim)]
        for k, v in opts.items():
            argv += ["--" + k.replace("_", "-"), str(v)]
        cpu0 = children_cpu_s()
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, timeout=timeout)
        lines = [json.loads(l) for l in out.stdout.splitlines() if l.startswith("{")]
        if out.returncode != 0 or not lines:
            raise BenchError("%s failed (%d): %s" % (" ".join(map(shlex.quote, argv)),
                                                     out.returncode, out.stderr[-2000:]))
        lines[-1]["tool_cpu_s"] = children_cpu_s() - cpu0
        if out.stderr.strip():
            self.say("  %s %s: %s" % (prog, cmd, out.stderr.strip().splitlines()[0]))
        return lines if every else lines[-1]

    def load(self, inst, cmd, env=None, **opts):
        return self.tool("roost-bench-load", cmd, env=dict(inst.env, **(env or {})),
                         target=inst.name, **opts)

    def faiss(self, cmd, **opts):
        return self.tool("roost-bench-faiss", cmd, **opts)

    def faiss_reps(self, cmd, **opts):
        """A baseline measured self.reps times on one index built once."""
        return self.tool("roost-bench-faiss", cmd, every=True, reps=self.reps, **opts)

    def instance(self, index="Flat", writer_args=(), readers=0, whole_segments=True,
                 broker_args=()):
        """A started instance: writer, one broker, readers. whole_segments
        turns aged seals off (where the writer has them), so that every
        segment holds --seal-docs documents."""
        args = list(writer_args)
        if whole_segments and "--seal-interval-ms" in self.writer_flags:
            args += ["--seal-interval-ms", "0"]
        inst = Instance(self, index, args)
        self.live.append(inst)
        inst.start_writer()
        inst.start_broker(0, extra=broker_args)
        for _ in range(readers):
            inst.start_reader()
        return inst

    def drop(self, inst):
        self.live.remove(inst)
        inst.stop()

    def say(self, msg):
        print(msg, flush=True)

    def record(self, fig, config, metric, unit, better, roost, base=None, baseline="",
               rank=True, params=None, short="", **extra):
        """One figure: roost's samples next to the baseline's, both from this
        run. ratio = median(roost) / median(baseline)."""
        r, b = stats(roost), stats(base) if base is not None else None
        ratio = r["median"] / b["median"] if r and b and b["median"] else None
        row = dict(figure=fig, config=config, metric=metric, unit=unit, better=better,
                   roost=r, baseline=b, baseline_what=baseline, baseline_short=short,
                   ratio=ratio, rank=rank, params=params,
                   extra={k: stats(v) if isinstance(v, list) else v for k, v in extra.items()})
        self.rows.append(row)
        self.say("  %-9s %-44s %-14s roost %s  base %s  ratio %s" % (
            fig, config, metric, fmt(r), fmt(b), "%.3g" % ratio if ratio else "-"))
        return row

    # -- 1. ring ---------------------------------------------------------------
    def fig_ring(self):
        p = self.p
        for size, prod in itertools.product(p["ring_sizes"], p["ring_producers"]):
            ring, copy = [], []
            for _ in range(self.reps):
                opts = dict(size=size, producers=prod, duration=p["ring_s"])
                ring.append(self.tool("roost-bench-ring", "ring", **opts))
                copy.append(self.tool("roost-bench-ring", "memcpy", **opts))
            cfg = "%s records, %s" % (human_bytes(size), plural(prod, "producer"))
            self.record("ring", cfg, "GB/s", "GB/s", "higher", [r["gb_per_s"] for r in ring],
                        [c["gb_per_s"] for c in copy], "memcpy, same processes",
                        params=dict(size=size, producers=prod),
                        records_per_s=[r["records_per_s"] for r in ring],
                        memcpy_records_per_s=[c["records_per_s"] for c in copy])

    # -- 2. ingest -------------------------------------------------------------
    def ingest_baselines(self, index, batches, rows):
        out = {}
        for b in batches:
            out[b] = [self.faiss("add", index=index, rows=rows, batch=b)["vectors_per_s"]
                      for _ in range(self.reps)]
        return out

    @staticmethod
    def cpu_per_call(procs, calls, run):
        """run()'s result with cpu_us: the CPU microseconds per call that
        the tool it ran (client) and each of procs ({name: Popen}) used
        meanwhile."""
        before = {name: cpu_s(p.pid) for name, p in procs.items()}
        res = run()
        used = {name: cpu_s(p.pid) - before[name] for name, p in procs.items()}
        used["client"] = res["tool_cpu_s"]
        n = max(calls(res), 1)
        res["cpu_us"] = {name: 1e6 * s / n for name, s in used.items()}
        return res

    def ingest_runs(self, index, configs, base):
        """Returns {(ack, clients, batch): runs}."""
        p = self.p
        found = {}
        for ack, clients, batch in configs:
            inst = self.instance(index, whole_segments=False)
            procs = dict(broker=inst.brokers[0], writer=inst.writer)
            try:
                runs = [self.cpu_per_call(
                    procs, lambda r: r["vectors"] // batch,
                    lambda: self.load(inst, "ingest", clients=clients, batch=batch, ack=ack,
                                      duration=p["ingest_s"], max_docs=p["ingest_cap"]))
                        for _ in range(self.reps)]
            finally:
                self.drop(inst)
            cfg = "%s: ack %s, %s, batch %d" % (index, ack, plural(clients, "client"), batch)
            # CPU per document by process, where a batch holds several.
            cpu = {"doc_cpu_%s_us" % who: [r["cpu_us"][who] / batch for r in runs]
                   for who in ("client", "broker", "writer")} if batch > 1 else {}
            for name, b in base.items():
                self.record("ingest", cfg, "vectors/s", "vectors/s", "higher",
                            [r["vectors_per_s"] for r in runs], b[batch],
                            "FAISS %s add, same batches" % name, short=name + " add",
                            rank=name == "Flat" or len(base) == 1,
                            params=dict(index=index, ack=ack, clients=clients, batch=batch),
                            requests_per_s=[r["requests_per_s"] for r in runs],
                            p50_ms=[r["latency_p50_ms"] for r in runs],
                            p99_ms=[r["latency_p99_ms"] for r in runs],
                            errors=sum(r["errors"] for r in runs), **cpu)
            found[(ack, clients, batch)] = runs
        return found

    def add_transport_goals(self, runs):
        """Single-document adds from 16 clients against the bare transport
        (roost-bench-echo in its own process, frames of a document's size):
        the goals are ratios of at least 0.8 for `queued`, 0.6 for
        `durable`."""
        for ack, goal in (("queued", 0.8), ("durable", 0.6)):
            found = runs.get((ack, 16, 1))
            if not found:
                continue
            echoes = self.echo(16)
            cpu = {"cpu_%s_us" % who: [r["cpu_us"][who] for r in found]
                   for who in ("client", "broker", "writer")}
            cpu.update({"echo_cpu_%s_us" % who: [e["cpu_us"][who] for e in echoes]
                        for who in ("client", "server")})
            self.record("ingest", "Flat: ack %s, 16 clients, batch 1, against the bare transport"
                        % ack, "requests/s", "requests/s", "higher",
                        [r["requests_per_s"] for r in found], [e["per_s"] for e in echoes],
                        "bare echo, 16 clients, %d-byte frames (goal: ratio >= %s)"
                        % (ECHO_FRAME, goal), short="echo", rank=False,
                        params=dict(index="Flat", ack=ack, clients=16, batch=1), **cpu)

    def fig_ingest(self):
        p = self.p
        sync = [self.faiss("fsync", dir=self.tmp, count=100) for _ in range(self.reps)]
        self.notes["fsync"] = dict(p50_ms=stats([s["latency_p50_ms"] for s in sync]),
                                   p99_ms=stats([s["latency_p99_ms"] for s in sync]))
        batches = sorted({b for _, _, b in p["ingest"] + p["ingest_hnsw"]})
        flat = self.ingest_baselines("Flat", batches, p["ingest_cap"])
        hnsw = self.ingest_baselines("HNSW32", batches, 3000 if not self.quick else 1000)
        runs = self.ingest_runs("Flat", p["ingest"], {"Flat": flat, "HNSW32": hnsw})
        self.add_transport_goals(runs)
        self.ingest_runs("HNSW32", p["ingest_hnsw"], {"HNSW32": hnsw})

    # -- 3. search -------------------------------------------------------------
    def ground_truth(self, rows):
        path = os.path.join(self.tmp, "gt-%d.bin" % rows)
        if not os.path.exists(path):
            self.faiss("gt", rows=rows, queries=self.p["queries"], k=10, out=path)
        return path

    def search_series(self, inst, index, layout, gt, base, readers, clients, under_load=False,
                      tuning=None, env=None):
        """Searches at each client count; returns {clients: runs}."""
        p = self.p
        found = {}
        while len(inst.readers) < readers:
            inst.start_reader()
        while len(inst.readers) > readers:
            inst.stop_reader()
        for c in clients:
            extra = dict(write_rate=p["write_rate"], write_batch=10,
                         write_first=self.next_row) if under_load else {}
            runs = []
            for _ in range(self.reps):
                runs.append(self.load(inst, "search", env=env, clients=c, k=10,
                                      queries=p["queries"], duration=p["search_s"], gt=gt,
                                      **extra, **(tuning or {})))
                if under_load:
                    self.next_row += int(p["write_rate"] * p["search_s"] * 2)
                    extra["write_first"] = self.next_row
            cfg = "%s, %s, %s, %s%s" % (
                index, layout, plural(readers, "reader"), plural(c, "client"),
                ", ingest %d/s" % p["write_rate"] if under_load else "")
            self.record("search", cfg, "QPS", "queries/s", "higher", [r["qps"] for r in runs],
                        [b["qps"] for b in base], "FAISS search, 1 thread, same index file",
                        p50_ms=[r["latency_p50_ms"] for r in runs],
                        p99_ms=[r["latency_p99_ms"] for r in runs],
                        p999_ms=[r["latency_p999_ms"] for r in runs],
                        recall=[r["recall"] for r in runs] if not under_load else None,
                        base_p50_ms=[b["latency_p50_ms"] for b in base],
                        base_p99_ms=[b["latency_p99_ms"] for b in base],
                        base_p999_ms=[b["latency_p999_ms"] for b in base],
                        base_recall=[b["recall"] for b in base],
                        errors=sum(r["errors"] for r in runs))
            self.record("search", cfg, "p99 latency", "ms", "lower",
                        [r["latency_p99_ms"] for r in runs],
                        [b["latency_p99_ms"] for b in base], "FAISS search, 1 thread",
                        rank=False)
            found[c] = runs
        return found

    def echo(self, clients):
        """The bare transport in this run (roost-bench-echo): a server
        process answering on a raw REP socket with two threads (its best
        rate here: more threads only add hand-offs to an echo), and REQ
        clients sending search-sized frames."""
        if not hasattr(self, "echoes"):
            self.echoes = {}
            self.notes["echo_frame"] = ECHO_FRAME
        if clients not in self.echoes:
            url = "ipc://%s/echo.ipc" % self.tmp
            server = subprocess.Popen([self.bin("roost-bench-echo"), "serve", "--url", url,
                                       "--threads", "2", "--duration", "3600"],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True)
            try:
                server.stdout.readline()  # "serving URL"
                self.echoes[clients] = [
                    self.cpu_per_call(
                        dict(server=server), lambda r: r["calls"],
                        lambda: self.tool("roost-bench-echo", "call", url=url, clients=clients,
                                          size=ECHO_FRAME, duration=self.p["search_s"]))
                    for _ in range(self.reps)]
            finally:
                server.kill()
                server.wait()
        return self.echoes[clients]

    def transport_goals(self, index, layout, base, direct):
        """The goals against the bare transport: 1 client, roost's median
        latency within in-process + one echo round trip + 0.1 ms; 16
        clients, QPS at least 0.7 of the lesser of every core's in-process
        search and the echo's rate with the search time added. The echo's
        16 clients keep every core busy, so its rate is the machine's: a
        request that also searches adds one core's search time, shared by
        the cores."""
        one, many = self.echo(1), self.echo(16)
        search_ms = statistics.median(b["latency_p50_ms"] for b in base)
        echo_ms = statistics.median(e["p50_ms"] for e in one)
        self.record("goals", "%s, %s, 1 client" % (index, layout), "p50 latency", "ms", "lower",
                    [r["latency_p50_ms"] for r in direct[1]], [search_ms + echo_ms + 0.1],
                    "in-process p50 + echo round trip p50 + 0.1 ms (goal: ratio <= 1)",
                    short="goal", search_ms=search_ms, echo_ms=echo_ms)
        echo16 = statistics.median(e["per_s"] for e in many)
        base_qps = statistics.median(b["qps"] for b in base)
        cores = self.machine["cores"]
        bound = min(cores * base_qps, 1 / (1 / echo16 + search_ms / 1e3 / cores))
        self.record("goals", "%s, %s, 16 clients" % (index, layout), "QPS", "queries/s",
                    "higher", [r["qps"] for r in direct[16]], [bound],
                    "min(%d cores x in-process QPS, echo rate with the search time added) "
                    "(goal: ratio >= 0.7)" % cores, short="goal", echo_per_s=echo16,
                    base_qps=base_qps)

    def fig_search(self):
        p = self.p
        n = p["search_rows"]
        gt = self.ground_truth(n)
        self.next_row = n + 1
        self.notes["search_layout"] = (n, SEAL_DOCS)
        for index in ["Flat", "HNSW32", "IVF1024,Flat"]:
            train = ["--train-docs", str(min(p["train"], n))]
            # One segment: --seal-docs n, then a far-away sentinel seals it.
            inst = self.instance(index, ["--seal-docs", str(n)] + train)
            try:
                t0 = time.monotonic()
                fill = self.load(inst, "fill", first=0, count=n, batch=FILL_BATCH, ack="queued",
                                 sentinel=1)
                self.say("  %s: %d rows loaded in %.1f s" % (index, n, time.monotonic() - t0))
                self.notes.setdefault("search_fill", {})[index] = fill["seconds"]
                self.settled(inst)  # the sealer thread writes the segment
                segs = inst.files("seg-*.index")
                if len(segs) != 1:
                    raise BenchError("expected one segment, found %s" % segs)
                base = [self.faiss("search", file=segs[0], queries=p["queries"], k=10, gt=gt,
                                   duration=p["search_s"], **reader_tuning(index))
                        for _ in range(self.reps)]
                layout = "1 segment + 1-doc tail"
                direct = {}
                for readers in p["search_readers"]:
                    found = self.search_series(inst, index, layout, gt, base, readers,
                                               p["search_clients"])
                    direct = direct or found
                self.search_series(inst, index, layout + ", through a broker", gt, base, 1,
                                   [1, 16], env={"ROOST_SEARCH_PATH": "broker"})
                if 1 in direct and 16 in direct:
                    self.transport_goals(index, layout, base, direct)
                self.search_series(inst, index, layout, gt, base, 1, [4], under_load=True)
                if index in TUNING_LADDER:
                    self.equal_recall(inst, index, layout, gt, segs[0])
            finally:
                self.drop(inst)
            if p["search_default_seal"]:
                self.search_default_seal(index, n, train, gt, base)
        for index in p["readers_large"]:
            self.reader_memory_large(index, p["readers_large_rows"])

    def reader_memory_large(self, index, n):
        """Figure 6b at the goals' size (1M), for the index types whose build
        fits the run: the default layout once at rest."""
        inst = self.instance(index, ["--train-docs", str(self.p["train"])], readers=1)
        try:
            self.load(inst, "fill", first=0, count=n, batch=FILL_BATCH, ack="queued")
            self.settled(inst)
            self.reader_memory(inst, index, n)
        finally:
            self.drop(inst)

    def equal_recall(self, inst, index, layout, gt, seg_file):
        """Speed at equal recall, as ann-benchmarks compares: for each
        target, the cheapest setting of the ladder with which in-process
        FAISS reaches it on this index file; both sides are then measured
        with that setting."""
        p = self.p
        knob, ladder = TUNING_LADDER[index]
        for target in EQUAL_RECALL:
            probes = ((v, self.faiss("search", file=seg_file, queries=p["queries"], k=10, gt=gt,
                                     duration=0.2, **{knob: v})) for v in ladder)
            setting = next((v for v, b in probes if b["recall"] >= target), None)
            if setting is None:
                self.say("  %s: no %s of %s reaches recall %.2f" % (index, knob, ladder, target))
                continue
            tuning = {knob: setting}
            base = [self.faiss("search", file=seg_file, queries=p["queries"], k=10, gt=gt,
                               duration=p["search_s"], **tuning) for _ in range(self.reps)]
            tuned = "%s, recall@10 >= %.2f (%s %d)" % (layout, target, knob, setting)
            self.search_series(inst, index, tuned, gt, base, 1, [1, 16], tuning=tuning)

    def search_default_seal(self, index, n, train, gt, base):
        """The default --seal-docs: small seals, merged by size in the
        background, and an exact tail."""
        inst = self.instance(index, train)
        try:
            self.load(inst, "fill", first=0, count=n, batch=FILL_BATCH, ack="visible")
            rows = self.settled(inst)
            self.notes.setdefault("default_layouts", {})[index] = (rows, n - sum(rows))
            layout = "default: %s (%s) + %d-doc tail" % (
                plural(len(rows), "segment"), "+".join(str(r) for r in rows), n - sum(rows))
            self.search_series(inst, index, layout, gt, base, 1, [1, 16])
            self.reader_memory(inst, index, n)
        finally:
            self.drop(inst)

    def reader_memory(self, inst, index, n):
        """What one more reader costs (PSS of every process, after a few
        searches fault its pages in) and how soon it serves, against the
        bytes of the segments' FAISS index files: what one more
        in-process copy of the index would hold."""
        index_bytes = sum(in_process_bytes(f) for f in inst.files("seg-*.index"))
        extra, started = [], []
        for _ in range(self.reps):
            # The same searches first, so that the pages they touch are in
            # memory before: the growth is the added reader's alone.
            self.load(inst, "search", clients=4, k=10, queries=100, duration=0.3)
            one = sum(pss(q.pid) for q in inst.procs())
            t0 = time.monotonic()
            inst.start_reader()  # returns once it logs that it serves
            started.append((time.monotonic() - t0) * 1e3)
            self.load(inst, "search", clients=4, k=10, queries=100, duration=0.3)
            extra.append(sum(pss(q.pid) for q in inst.procs()) - one)
            inst.stop_reader()
        cfg = "%s, %s documents, default layout" % (index, human_count(n))
        self.record("readers", cfg, "extra per added reader", "MB", "lower",
                    [e / 1e6 for e in extra], [index_bytes / 1e6],
                    "the segments' FAISS index files (one more in-process copy)")
        self.record("readers", cfg, "added reader serving", "ms", "lower", started, None, "",
                    rank=False)

    def settled(self, inst, at_rest=True, timeout=1800):
        """The segments' row counts once the writer's background seals and
        merges are done: every merge it logged as begun has ended, and the
        manifest stayed unchanged for 2 s (a frozen tail's segment is
        written in well under that, and its install plans the next merge),
        or with at_rest, for 2 s past the writer's --merge-idle-ms, by when
        its merges at rest have begun."""
        quiet_s = 2.0 + (MERGE_IDLE_MS / 1e3 if at_rest else 0)
        last, since, t0 = None, time.monotonic(), time.monotonic()
        while True:
            log = inst.read_log(inst.logs[0])
            if "compaction failed" in log:
                raise BenchError("a merge failed:\n" + log[-3000:])
            m = conftest.read_manifest(inst.data, inst.name)
            gen = m and m["gen"]
            # A merge of a collection dropped meanwhile (a fork) is abandoned.
            ended = log.count(" compacted ") + log.count("merge of a collection dropped")
            if gen != last or log.count(" merging ") > ended:
                last, since = gen, time.monotonic()
            elif time.monotonic() - since >= quiet_s:
                return [s["count"] for s in m["segments"]]
            if time.monotonic() - t0 > timeout:
                raise BenchError("the writer was still sealing or merging after %.0f s" % timeout)
            time.sleep(0.1)

    # -- 9. search with deleted rows ------------------------------------------
    def kept_gt(self, rows, mod, lo, hi):
        """Exact neighbours among the rows r with lo <= r % mod < hi."""
        path = os.path.join(self.tmp, "gt-%d-%d-%d-%d.bin" % (rows, mod, lo, hi))
        if not os.path.exists(path):
            self.faiss("gt", rows=rows, queries=self.p["kept_queries"], k=10, out=path, mod=mod,
                       keep_lo=lo, keep_hi=hi)
        return path

    def kept_series(self, fig, inst, cfg, gt, base, what, short, params, **opts):
        """QPS of 1 reader at each client count, against a baseline's
        searches; recall next to the baseline's."""
        for c in self.p["kept_clients"]:
            runs = [self.load(inst, "search", clients=c, k=10, queries=self.p["kept_queries"],
                              duration=self.p["kept_s"], gt=gt, **opts)
                    for _ in range(self.reps)]
            self.record(fig, "%s, %s" % (cfg, plural(c, "client")), "QPS", "queries/s",
                        "higher", [r["qps"] for r in runs], [b["qps"] for b in base], what,
                        short=short, params=dict(params, clients=c),
                        p50_ms=[r["latency_p50_ms"] for r in runs],
                        p99_ms=[r["latency_p99_ms"] for r in runs],
                        recall=[r["recall"] for r in runs],
                        base_p50_ms=[b["latency_p50_ms"] for b in base],
                        base_p99_ms=[b["latency_p99_ms"] for b in base],
                        base_recall=[b["recall"] for b in base],
                        errors=sum(r["errors"] for r in runs))

    def await_seal(self, inst, segs, timeout):
        """Waits until the instance has segs segment files (an aged seal)
        and the writer has installed them."""
        t0 = time.monotonic()
        while len([f for f in inst.files("seg-*.index")]) < segs:
            if time.monotonic() - t0 > timeout:
                raise BenchError("no seal within %.0f s" % timeout)
            time.sleep(0.05)
        self.settled(inst)

    def fig_deleted(self):
        """One segment of n keyed rows (sealed by age: --seal-docs n, so the
        tail seals whole once the fill is done), then deletes by id of the
        rows r with r % 10 == 0 (10%), later r % 10 < 5 (50%). Deletes since
        the last seal are tombstones in the tail that every search applies;
        a seal (a far-away sentinel added, the tail aged) writes them to the
        tombstone file, whose rows the reader marks when it loads it."""
        p = self.p
        n, ms = p["search_rows"], p["deleted_seal_ms"]
        for index in p["deleted_indexes"]:
            train = min(p["train"], n)
            inst = self.instance(index, ["--seal-docs", str(n), "--seal-interval-ms", str(ms),
                                         "--train-docs", str(train)], readers=1,
                                 whole_segments=False)
            try:
                fill = self.load(inst, "fill", first=0, count=n, batch=FILL_BATCH,
                                 ack="queued", keys=1)
                if fill["seconds"] * 1e3 > ms * 0.9:
                    raise BenchError("the fill (%.1f s) outlasted the seal interval"
                                     % fill["seconds"])
                self.await_seal(inst, 1, 60)
                segs, base = 1, {}
                for dead, step, where in ((1, (0, 1), "in the tail's log"),
                                          (1, None, "in the tombstone file"),
                                          (5, (1, 5), "10% in the file, 40% in the log"),
                                          (5, None, "in the tombstone file")):
                    if step:
                        d = self.load(inst, "delete", first=0, count=n, batch=FILL_BATCH,
                                      ack="queued", mod=10, keep_lo=step[0], keep_hi=step[1])
                        self.say("  %s: deleted %d rows in %.2f s" % (
                            index, d["deleted"], d["seconds"]))
                    else:
                        self.load(inst, "fill", first=0, count=0, sentinel=1)
                        segs += 1
                        self.await_seal(inst, segs, 60)
                    gt = self.kept_gt(n, 10, dead, 10)
                    if dead not in base:
                        base[dead] = self.faiss_reps(
                            "search", rows=n, index=index, train=train, mod=10, keep_lo=dead,
                            keep_hi=10, queries=p["kept_queries"], k=10, gt=gt,
                            duration=p["kept_s"], **reader_tuning(index))
                    cfg = "%s, %s rows, %d%% deleted (%s)" % (index, human_count(n),
                                                             dead * 10, where)
                    self.kept_series("deleted", inst, cfg, gt, base[dead],
                                     "FAISS search, 1 thread, an index of the surviving rows",
                                     "", dict(index=index, deleted=dead * 10, where=where))
            finally:
                self.drop(inst)

    # -- 10. filtered search ---------------------------------------------------
    def fig_filtered(self):
        """One Flat segment of n rows with metadata {"user": "u<r % 100>"};
        searches filtered on user "u7": 1% of the rows, with the key
        unindexed (every row's metadata read) and indexed."""
        for indexed in (False, True):
            self.filtered_on(indexed)

    def filtered_on(self, indexed):
        p = self.p
        n, users, user = p["search_rows"], p["filter_users"], 7
        keys = ["--indexed-keys", "user"] if indexed else []
        inst = self.instance("Flat", ["--seal-docs", str(n)] + keys, readers=1)
        try:
            self.load(inst, "fill", first=0, count=n, batch=FILL_BATCH, ack="queued",
                      sentinel=1, keys=1, users=users)
            self.settled(inst)  # the sealer thread writes the segment
            segs = inst.files("seg-*.index")
            if len(segs) != 1:
                raise BenchError("expected one segment, found %s" % segs)
            gt = self.kept_gt(n, users, user, user + 1)
            base = self.faiss_reps("search", file=segs[0], mod=users, keep_lo=user,
                                   keep_hi=user + 1, select=1, queries=p["kept_queries"], k=10,
                                   gt=gt, duration=p["kept_s"])
            cfg = "Flat, %s rows, user = u%d (1%%), %s" % (
                human_count(n), user, "user indexed" if indexed else "no index")
            self.kept_series("filtered", inst, cfg, gt, base,
                             "FAISS search_with_params, 1 thread, same index file, "
                             "IDSelectorBitmap of the matching rows", "",
                             dict(index="Flat", users=users, indexed=indexed), user=user)
        finally:
            self.drop(inst)

    # -- 11. writes by id ------------------------------------------------------
    def fig_writes(self):
        """16 clients add new ids, upsert existing ids or delete by id, next
        to FAISS doing the same to an IDMap,Flat index of as many rows."""
        p = self.p
        cap = p["writes_cap"]
        for op, batch in itertools.product(["add", "upsert", "delete"], [1, 100]):
            # Deletes need a row per id they delete; the others as many
            # rows as upserts choose from. The tail never fills: no seal.
            rows = cap * self.reps if op == "delete" else cap
            base = [self.faiss("docs", op=op, rows=rows, batch=batch, duration=p["ingest_s"],
                               max_docs=cap) for _ in range(self.reps)]
            inst = self.instance("Flat", whole_segments=False)
            try:
                self.load(inst, "fill", first=0, count=rows, batch=FILL_BATCH, ack="queued",
                          keys=1, users=p["filter_users"])
                runs = []
                for i in range(self.reps):
                    first = rows + i * cap if op == "add" else i * cap
                    runs.append(self.load(inst, "ingest", op=op, clients=16, batch=batch,
                                          ack="durable", duration=p["ingest_s"], max_docs=cap,
                                          first=first, keys=rows, users=p["filter_users"]))
            finally:
                self.drop(inst)
            what = {"add": "FAISS add_with_ids of new ids",
                    "upsert": "FAISS remove_ids + add_with_ids of the same ids",
                    "delete": "FAISS remove_ids"}[op]
            cfg = "%s, ack durable, 16 clients, batch %d, %s rows" % (op, batch,
                                                                      human_count(rows))
            common = dict(p50_ms=[r["latency_p50_ms"] for r in runs],
                          p99_ms=[r["latency_p99_ms"] for r in runs],
                          errors=sum(r["errors"] for r in runs))
            self.record("writes", cfg, "requests/s", "requests/s", "higher",
                        [r["requests_per_s"] for r in runs], [b["requests_per_s"] for b in base],
                        what + ", IDMap,Flat, 1 thread, same batches",
                        params=dict(op=op, batch=batch, rows=rows), **common)
            self.record("writes", cfg, "documents/s", "documents/s", "higher",
                        [r["vectors_per_s"] for r in runs], [b["docs_per_s"] for b in base],
                        what + ", IDMap,Flat, 1 thread, same batches", rank=False,
                        params=dict(op=op, batch=batch, rows=rows))

    # -- 4-7. freshness, publication, memory, recovery ------------------------
    # -- 12. seals under load ----------------------------------------------------
    def fig_seals(self):
        """16 writers add batches of 100 (ack durable) to a Flat instance at the
        default seal size, across several seals and the merge of four of them:
        the slowest single add, next to the slowest add of the same batches
        into one Flat index in process."""
        p = self.p
        rows, clients, batch = p["seal_rows"], 16, 100
        base = [self.faiss("add", index="Flat", rows=rows, batch=batch)["latency_max_ms"]
                for _ in range(self.reps)]
        runs, seals, merges, waits, waited = [], [], [], [], []
        for _ in range(self.reps):
            inst = self.instance("Flat")
            try:
                runs.append(self.load(inst, "ingest", clients=clients, batch=batch,
                                      ack="durable", duration=600, max_docs=rows))
                log = inst.read_log(inst.logs[0])
            finally:
                self.drop(inst)
            seals.append(log.count("sealed segment"))
            merges.append(log.count("compacted"))
            # A tail filled while the last frozen one was still being written.
            lags = [int(ms) for ms in re.findall(r"ingestion waited (\d+) ms", log)]
            waits.append(len(lags))
            waited.append(max(lags, default=0))
        self.record("seals", "Flat: %d clients, batch %d, ack durable, %s documents" % (
            clients, batch, human_count(rows)), "slowest add", "ms", "lower",
            [r["latency_max_ms"] for r in runs], base, "FAISS Flat add, same batches",
            short="Flat add", params=dict(rows=rows, clients=clients, batch=batch),
            p99_ms=[r["latency_p99_ms"] for r in runs],
            vectors_per_s=[r["vectors_per_s"] for r in runs], seals=seals, merges=merges,
            seal_waits=waits, seal_wait_max_ms=waited)

    # -- 15. reads as of an LSN ------------------------------------------------
    def fig_history(self):
        """One segment of n keyed rows and the published LSN after it, then
        a fifth of the rows deleted by id and sealed into the tombstone file
        (a quarter would have compaction drop them, and with them the
        history before the deletes): searches as of that LSN (every row
        visible: recall against all of them) next to the same searches of
        the instance now."""
        p = self.p
        n, ms = p["search_rows"], p["deleted_seal_ms"]
        inst = self.instance("Flat", ["--seal-docs", str(n), "--seal-interval-ms", str(ms),
                                      "--merge-idle-ms", "0"], readers=1, whole_segments=False)
        try:
            self.load(inst, "fill", first=0, count=n, batch=FILL_BATCH, ack="queued", keys=1)
            self.await_seal(inst, 1, 60)
            before = inst.status()["published_lsn"]
            # Visible before the sentinel: the seal it ages then takes every delete.
            self.load(inst, "delete", first=0, count=n, batch=FILL_BATCH, ack="visible", mod=10,
                      keep_lo=0, keep_hi=2)
            self.load(inst, "fill", first=0, count=0, sentinel=1)
            self.await_seal(inst, 2, 60)
            gt_now, gt_then = self.kept_gt(n, 10, 2, 10), self.kept_gt(n, 10, 0, 10)
            for c in p["kept_clients"]:
                opts = dict(clients=c, k=10, queries=p["kept_queries"], duration=p["kept_s"])
                now, then = [], []
                for _ in range(self.reps):
                    now.append(self.load(inst, "search", gt=gt_now, **opts))
                    then.append(self.load(inst, "search", gt=gt_then, as_of=before, **opts))
                self.record("history", "Flat, %s rows, as of the LSN before a fifth were "
                            "deleted, %s" % (human_count(n), plural(c, "client")), "QPS",
                            "queries/s", "higher", [r["qps"] for r in then],
                            [r["qps"] for r in now], "the same searches now (a fifth of the "
                            "rows deleted, in the tombstone file)", short="now",
                            params=dict(clients=c), rank=False,
                            recall=[r["recall"] for r in then],
                            now_recall=[r["recall"] for r in now],
                            p50_ms=[r["latency_p50_ms"] for r in then],
                            now_p50_ms=[r["latency_p50_ms"] for r in now])
        finally:
            self.drop(inst)

    # -- 16. forks --------------------------------------------------------------
    def roost(self, inst, *args):
        """The roost CLI on inst; its JSON answer."""
        argv = [self.bin("roost"), args[0], "--name", inst.name] + [str(a) for a in args[1:]]
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=inst.env, timeout=600)
        if out.returncode != 0:
            raise BenchError("roost %s failed: %s" % (" ".join(args), out.stderr[-2000:]))
        return json.loads(out.stdout) if "--json" in args else out.stdout

    def fork_timed(self, inst, name):
        """Forks the default collection as of now (the CLI's wall time, in
        ms); the fork's id."""
        t0 = time.monotonic()
        info = self.roost(inst, "collections", "fork", "default", name, "--json")
        return (time.monotonic() - t0) * 1e3, info["id"]

    def fig_fork(self):
        """A Flat collection in the default layout (merges at rest off)
        grown to each size in turn; at each, a first fork that seals the
        tail, then forks of the sealed collection, each dropped after, next
        to a copy of the data directory (cp -a): the time, and the disk."""
        p = self.p
        inst = self.instance("Flat", ["--merge-idle-ms", "0"], readers=1, whole_segments=False)
        try:
            have = 0
            for n in p["fork_points"]:
                self.load(inst, "fill", first=have, count=n - have, batch=FILL_BATCH,
                          ack="queued")
                have = n
                self.settled(inst, at_rest=False)
                first_ms, _ = self.fork_timed(inst, "first")
                self.roost(inst, "collections", "drop", "first")
                segments = len(self.settled(inst, at_rest=False))
                fork_ms, own, copy_ms, copy_b = [], [], [], []
                for i in range(self.reps):
                    ms, coll = self.fork_timed(inst, "f%d" % i)
                    fork_ms.append(ms)
                    own.append(fork_own_bytes(inst.data, inst.name, coll))
                    self.roost(inst, "collections", "drop", "f%d" % i)
                    copy = os.path.join(self.tmp, "copy")
                    t0 = time.monotonic()
                    subprocess.run(["cp", "-a", inst.data, copy], check=True)
                    copy_ms.append((time.monotonic() - t0) * 1e3)
                    copy_b.append(disk_bytes(copy))
                    shutil.rmtree(copy)
                cfg = "Flat, %s documents in %d segments" % (human_count(n), segments)
                self.record("fork", cfg, "fork", "ms", "lower", fork_ms, copy_ms,
                            "cp -a of the data directory", short="copy", params=dict(n=n),
                            first_fork_ms=first_ms, tail_rows=n % 8192)
                self.record("fork", cfg, "disk added", "MB", "lower",
                            [b / 1e6 for b in own], [b / 1e6 for b in copy_b],
                            "the copy's size", short="copy", params=dict(n=n))
        finally:
            self.drop(inst)

    # -- 17. retention ---------------------------------------------------------
    def fig_retention(self):
        """n keyed documents added, then each replaced once (an upsert ends
        every first version), seals and merges at rest done: the data
        directory with --retain all, next to the same without retention."""
        p = self.p
        n = p["retention_rows"]
        sizes, logs = {}, {}
        for retain in ("all", "none"):
            sizes[retain], logs[retain] = [], []
            for _ in range(self.reps):
                inst = self.instance("Flat", ["--retain", retain])
                try:
                    for _ in range(2):
                        self.load(inst, "fill", first=0, count=n, batch=FILL_BATCH,
                                  ack="durable", keys=1)
                    self.settled(inst, at_rest=True)
                    sizes[retain].append(disk_bytes(inst.data))
                    logs[retain].append(disk_bytes(os.path.join(inst.data, "wal")))
                finally:
                    self.drop(inst)
        per_m = [(a - b) / n for a, b in zip(sizes["all"], sizes["none"])]
        self.record("retention", "Flat, %s documents each replaced once" % human_count(n),
                    "data directory", "MB", "lower", [b / 1e6 for b in sizes["all"]],
                    [b / 1e6 for b in sizes["none"]], "the same without retention",
                    short="no retention", params=dict(n=n), rank=False,
                    mb_per_million_ended=[b for b in per_m],
                    log_mb=[b / 1e6 for b in logs["all"]],
                    none_log_mb=[b / 1e6 for b in logs["none"]])

    # -- 13. altering a collection ---------------------------------------------
    def fig_alter(self):
        """A Flat collection in the default layout, at rest, altered to each
        approximate index type: the time until every segment's index is
        rebuilt (the writer trains on a sample of the segments first where
        the type needs it), next to training and building the same index
        in process on the same vectors. A client searches meanwhile."""
        p = self.p
        n = p["alter_rows"]
        for index in ("HNSW32", "IVF1024,Flat"):
            base = []
            for _ in range(self.reps):
                b = self.faiss("add", index=index, rows=n, batch=n, train=p["train"])
                base.append(b["train_seconds"] + b["seconds"])
            runs, ok, failed = [], [], []
            for _ in range(self.reps):
                inst = self.instance("Flat", ["--train-docs", str(p["train"])], readers=1)
                try:
                    self.load(inst, "fill", first=0, count=n, batch=FILL_BATCH, ack="queued")
                    self.settled(inst)
                    seconds, searches = self.rebuild(inst, index)
                finally:
                    self.drop(inst)
                runs.append(seconds)
                ok.append(searches[0])
                failed.append(searches[1])
            self.record("alter", "%s rows x %d, Flat to %s, default layout at rest" % (
                human_count(n), self.dim, index), "until rebuilt", "s", "lower", runs, base,
                "FAISS train + add in process, same vectors", short="train + add",
                params=dict(rows=n, index=index), searches_ok=ok, searches_failed=failed)

    def rebuild(self, inst, index):
        """Alters the default collection to index and waits until no segment
        is left to rebuild, searching all the while: (seconds, (searches
        answered, searches failed))."""
        done, counts = threading.Event(), [0, 0]

        def search():
            q = [[0.5] * self.dim]
            while not done.is_set():
                r = inst.search(q, k=10)
                counts[r["status"] != 0 or not r["results"][0]] += 1

        t = threading.Thread(target=search, daemon=True)
        t0 = time.monotonic()
        r = inst.alter("default", index=index)
        if r["status"] != 0:
            raise BenchError("alter to %s: %s" % (index, r["message"]))
        t.start()
        try:
            while inst.collections()["default"]["rebuilding"]:
                if time.monotonic() - t0 > 1800:
                    raise BenchError("the rebuild to %s took over 1800 s" % index)
                time.sleep(0.05)
            return time.monotonic() - t0, tuple(counts)
        finally:
            done.set()
            t.join()

    def fill_to(self, inst, target):
        """Adds rows until the instance holds target documents. Stops at
        every seal boundary to time the seal (figure 5)."""
        while True:
            have = inst.docs
            boundary = (have // SCALE_SEAL_DOCS + 1) * SCALE_SEAL_DOCS
            stop = min(target, boundary)
            if stop > have:
                self.load(inst, "fill", first=self.next_row, count=stop - have,
                          batch=FILL_BATCH, ack="queued")
                self.next_row += stop - have
                inst.docs = stop
            if stop == target and target != boundary:
                return
            self.seal_probe(inst, boundary)
            if stop == target:
                return

    def seal_probe(self, inst, size):
        """The tail is full: the next add seals it. With the writer idle,
        its time minus a plain add's is the seal; the first search after it
        minus a plain search is the reader's swap."""
        if self.p["recovery_full_log"] and size in (SCALE_SEAL_DOCS, self.last_boundary):
            self.recovery(inst, size, SCALE_SEAL_DOCS)
        before = set(inst.files("seg-*"))
        s = self.load(inst, "seal", row=self.next_row)
        self.next_row += 2
        inst.docs += 2
        self.settled(inst, at_rest=False)  # the sealer thread writes the segment
        new = [f for f in inst.files("seg-*") if f not in before and not f.endswith(".tmp")]
        size_bytes = sum(os.path.getsize(f) for f in new)
        self.seals.append(dict(size=size, publish_ms=s["seal_add_ms"] - s["plain_add_ms"],
                               swap_ms=s["first_search_ms"] - s["plain_search_ms"],
                               bytes=size_bytes, raw=s))
        self.say("  seal at %d docs: publish %.0f ms, swap %.0f ms, %s" % (
            size, s["seal_add_ms"] - s["plain_add_ms"],
            s["first_search_ms"] - s["plain_search_ms"], human_bytes(size_bytes)))

    def recovery(self, inst, size, log_docs):
        """kill -9 the writer and restart it: manifest load, log replay."""
        times = []
        for _ in range(self.reps):
            inst.kill(inst.writer)
            times.append(inst.start_writer())
        wal = sum(os.path.getsize(f) for f in inst.files("wal/*"))
        self.restarts.append(dict(size=size, log_docs=log_docs, wal_bytes=wal, times=times))

    def fig_scale(self):
        """One Flat instance grown to each size in turn; at each: freshness,
        memory and recovery, and every seal on the way (publication)."""
        p = self.p
        self.seals, self.restarts, self.points = [], [], []
        self.next_row = 0
        top = p["scale_points"][-1]
        self.last_boundary = (top // SCALE_SEAL_DOCS) * SCALE_SEAL_DOCS
        inst = self.instance("Flat", ["--seal-docs", str(SCALE_SEAL_DOCS), "--merge-idle-ms", "0"],
                             readers=1)
        try:
            for n in p["scale_points"]:
                t0 = time.monotonic()
                self.fill_to(inst, n)
                self.say("  grown to %d documents in %.1f s" % (inst.docs,
                                                              time.monotonic() - t0))
                self.scale_point(inst, n)
        finally:
            self.drop(inst)
        self.report_scale()

    def scale_point(self, inst, n):
        p = self.p
        # A merge still being built holds its rows in the writer's memory,
        # which the memory rows would count.
        self.settled(inst, at_rest=False)
        base = [self.faiss("scale", rows=n, seg_rows=SCALE_SEAL_DOCS, probes=p["probes"],
                           dir=self.tmp) for _ in range(self.reps)]
        fresh = []
        for _ in range(self.reps):
            fresh.append(self.load(inst, "fresh", probes=p["probes"], probe_first=self.next_row,
                                   gap_ms=5))
            self.next_row += p["probes"]
            inst.docs += int(fresh[-1]["added"])
        mem = []
        for _ in range(self.reps):
            one = {q.pid: pss(q.pid) for q in inst.procs()}
            t0 = time.monotonic()
            inst.start_reader()  # returns once it logs that it serves
            started_ms = (time.monotonic() - t0) * 1e3
            # Searches fault the tail's pages into both readers, as in use.
            self.load(inst, "search", clients=4, k=10, queries=100, duration=0.3)
            two = {q.pid: pss(q.pid) for q in inst.procs()}
            inst.stop_reader()
            mem.append(dict(writer=two[inst.writer.pid], reader=two[inst.readers[0].pid],
                            total1=sum(one.values()), total2=sum(two.values()),
                            started_ms=started_ms))
        have = inst.docs
        self.recovery(inst, have, have % SCALE_SEAL_DOCS)
        self.points.append(dict(n=n, docs=have, base=base, fresh=fresh, mem=mem))

    def report_scale(self):
        for pt in self.points:
            n, base, fresh, mem = pt["n"], pt["base"], pt["fresh"], pt["mem"]
            cfg = "%s documents" % human_count(n)
            for q in ("p50", "p99"):
                self.record("fresh", cfg, "ack-to-visible %s" % q, "ms", "lower",
                            [f["net_%s_ms" % q] for f in fresh],
                            [b["visible_%s_ms" % q] for b in base],
                            "FAISS add of 1 vector returning (visible in process)",
                            params=dict(n=n), raw=[f["visible_%s_ms" % q] for f in fresh],
                            search_rtt=[f["rtt_%s_ms" % q] for f in fresh],
                            add_ms=[f["add_%s_ms" % q] for f in fresh])
            self.record("memory", cfg, "reader PSS", "MB", "lower",
                        [m["reader"] / 1e6 for m in mem], [b["pss_bytes"] / 1e6 for b in base],
                        "process holding a FAISS Flat index of the same rows")
            self.record("memory", cfg, "extra per added reader", "MB", "lower",
                        [(m["total2"] - m["total1"]) / 1e6 for m in mem],
                        [b["pss_bytes"] / 1e6 for b in base],
                        "another in-process copy (one more process)")
            self.record("memory", cfg, "added reader serving", "ms", "lower",
                        [m["started_ms"] for m in mem], [b["full_load_ms"] for b in base],
                        "FAISS read_index of a Flat index of the same rows")
            self.record("memory", cfg, "writer PSS", "MB", "lower",
                        [m["writer"] / 1e6 for m in mem], [b["pss_bytes"] / 1e6 for b in base],
                        "process holding a FAISS Flat index of the same rows", rank=False)
            self.record("publish", cfg, "naive snapshot (whole index)", "ms", "lower",
                        [b["full_write_ms"] for b in base], None, "", rank=False,
                        bytes=[b["full_bytes"] for b in base])
        for r in self.restarts:
            cfg = "%s documents, log of %s docs (%s)" % (human_count(r["size"]),
                                                         human_count(r["log_docs"]),
                                                         human_bytes(r["wal_bytes"]))
            near = min(self.points, key=lambda pt: abs(pt["n"] - r["size"]))
            self.record("recovery", cfg, "writer restart", "ms", "lower",
                        [t * 1e3 for t in r["times"]], [b["full_load_ms"] for b in near["base"]],
                        "FAISS read_index of a Flat index of the nearest size",
                        short="read_index of %s rows" % human_count(near["n"]))
        self.report_seals()

    def report_seals(self):
        segbase = self.points[0]["base"]
        buckets = []
        for s in self.seals:
            lo = next(pt["n"] for pt in self.points if s["size"] <= pt["n"])
            if not buckets or buckets[-1][0] != lo:
                buckets.append((lo, []))
            buckets[-1][1].append(s)
        prev = 0
        for hi, seals in buckets:
            cfg = "seals of 64Ki docs at %s-%s documents (%d)" % (
                human_count(prev), human_count(hi), len(seals))
            prev = hi
            self.record("publish", cfg, "publish time", "ms", "lower",
                        [s["publish_ms"] for s in seals],
                        [b["segment_write_ms"] for b in segbase],
                        "FAISS write_index + fsync of a 64Ki-row Flat index",
                        bytes=[s["bytes"] for s in seals],
                        base_bytes=[b["segment_bytes"] for b in segbase])
            self.record("publish", cfg, "reader swap", "ms", "lower",
                        [s["swap_ms"] for s in seals],
                        [b["segment_load_ms"] for b in segbase],
                        "FAISS read_index of the same 64Ki-row index")

    # -- 14. fair ingest between agents -----------------------------------------
    def fig_fair(self):
        """31 agents each adding one document 20 times a second, alone, then
        beside one agent flooding from 4 clients in batches of 100: without a
        limit, and with the broker's --agent-rate at 200 documents/s. The
        ratio is the modest agents' p99 add latency to theirs without the
        flood (goal: at most 2 with the limit)."""
        p = self.p
        opts = dict(clients=FAIR_CLIENTS, rate=FAIR_RATE, batch=1, flood_batch=100,
                    ack="durable", duration=p["fair_s"])
        found = {}
        for name, flooders, broker_args in (
                ("alone", 0, ()), ("flood", FAIR_FLOODERS, ()),
                ("limited", FAIR_FLOODERS, ("--agent-rate", str(FAIR_LIMIT)))):
            inst = self.instance("Flat", whole_segments=False, broker_args=broker_args)
            try:
                found[name] = [self.load(inst, "fair", flooders=flooders, first=i * 100000,
                                         **opts) for i in range(self.reps)]
            finally:
                self.drop(inst)
        alone = [r["latency_p99_ms"] for r in found["alone"]]
        for name, what, rank in (("flood", "no limit", False),
                                 ("limited", "--agent-rate %d" % FAIR_LIMIT, True)):
            runs = found[name]
            self.record("fair", "%d agents x %d adds/s beside a flooding agent (%d clients, "
                        "batch 100), %s" % (FAIR_CLIENTS, FAIR_RATE, FAIR_FLOODERS, what),
                        "modest agents' p99 add latency", "ms", "lower",
                        [r["latency_p99_ms"] for r in runs], alone,
                        "the same agents without the flood (goal: ratio <= 2 with a limit)",
                        short="alone", rank=rank, params=dict(limit=name == "limited"),
                        p50_ms=[r["latency_p50_ms"] for r in runs],
                        alone_p50_ms=[r["latency_p50_ms"] for r in found["alone"]],
                        flood_vectors_per_s=[r["flood_vectors_per_s"] for r in runs],
                        errors=sum(r["errors"] for r in runs))

    # -- 8. the original workload ----------------------------------------------
    def fig_original(self):
        p = self.p
        dur = p["original_s"]
        rows = os.path.join(self.tmp, "orig-rows.f32")
        queries = os.path.join(self.tmp, "orig-queries.f32")
        self.faiss("rows", first=0, count=4096, out=rows)
        self.faiss("rows", first=0, count=1000, out=queries, queries=1)
        roost, c, py = [], [], []
        for _ in range(self.reps):
            roost.append(self.original_roost(dur))
            c.append(self.faiss("original", writers=12, searchers=4, duration=dur, k=4))
            py.append(self.original_python(rows, queries, dur))
        for what, base in (("C, roost's FAISS build, one global lock", c),
                           ("Python, Debian python3-faiss, one global lock", py)):
            for metric, key in (("adds/s", "adds_per_s"), ("searches/s", "searches_per_s")):
                rk = "requests_per_s" if key == "adds_per_s" else key
                self.record("original", "12 writers (batches 1..10) + 4 searchers, %g s" % dur,
                            metric, metric, "higher", [r[rk] for r in roost],
                            [b[key] for b in base], what, short=what.split(",")[0],
                            rank=what.startswith("C"),
                            docs_per_s=[r["vectors_per_s"] for r in roost],
                            base_docs_per_s=[b["docs_per_s"] for b in base],
                            lost=sum(r["lost"] for r in roost),
                            base_lost=sum(b["lost"] for b in base),
                            crashes=sum(r["crashes"] for r in roost),
                            errors=sum(r["errors"] for r in roost))

    def original_roost(self, dur):
        inst = self.instance("Flat", readers=2, whole_segments=False)
        try:
            acked = os.path.join(inst.root, "acked.txt")
            r = self.load(inst, "original", writers=12, searchers=4, duration=dur, k=4,
                          acked=acked)
            r["crashes"] = len(inst.dead())
            with open(acked) as f:
                ids = set(f.read().split())
            r["lost"] = len(ids - {d.split(" ", 1)[0] for d in inst.dump()})
            return r
        finally:
            self.drop(inst)

    def original_python(self, rows, queries, dur):
        argv = [sys.executable, os.path.join(ROOT, "bench", "original_workload.py"),
                "--rows", rows, "--queries", queries, "--dim", str(self.dim),
                "--duration", str(dur)]
        out = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             timeout=dur * 10 + 120)
        lines = [l for l in out.stdout.splitlines() if l.startswith("{")]
        if out.returncode != 0 or not lines:
            raise BenchError("original_workload.py failed: %s" % out.stderr[-2000:])
        return json.loads(lines[-1])

    # -- the profile of the worst case ------------------------------------------
    def fig_profile(self):
        """perf samples (cpu-clock: this guest has no hardware counters) of
        every process while the worst reproducible case runs again, and the
        write path's: single-document adds from 16 clients, ack queued, and
        batches of 100 from 16 clients, ack durable."""
        rows = self.rows + self.prior_rows
        cases = [x for x in report.worst(rows, len(rows))
                 if x["params"] and x["figure"] in ("ingest", "fresh", "ring")]
        if not cases:
            self.notes["profile"] = dict(error="no ingest, freshness or ring figure measured")
        else:
            self.notes["profile"] = self.profile(cases[0])
        writes = [x for x in rows if x["figure"] == "ingest" and x["params"] and
                  x["params"].get("clients") == 16 and x["params"].get("batch") == 1 and
                  x["params"].get("ack") == "queued" and x["baseline_short"] == "echo"]
        if writes:
            self.notes["profile_write"] = self.profile(writes[0])
        batches = [x for x in rows if x["figure"] == "ingest" and x["params"] and
                   x["params"].get("clients") == 16 and x["params"].get("batch") == 100 and
                   x["params"].get("ack") == "durable" and x["baseline_short"] == "Flat add"]
        if batches:
            self.notes["profile_batch"] = self.profile(batches[0])

    def profile(self, row):
        """The profile of one figure's case, run again for 3 s."""
        data = os.path.join(self.tmp, "perf.data")
        inst = None
        try:
            if row["figure"] == "ring":
                argv = [self.bin("roost-bench-ring"), "ring", "--size",
                        str(row["params"]["size"]), "--producers",
                        str(row["params"]["producers"]), "--duration", "3"]
                env = None
            else:
                inst = self.instance(row["params"].get("index", "Flat"), readers=1)
                self.load(inst, "fill", first=0, count=min(row["params"].get("n", 10000), 100000),
                          batch=FILL_BATCH, ack="queued")
                argv, env = self.profile_argv(row, inst), inst.env
            perf = ["perf", "record", "-a", "-g", "-e", "cpu-clock", "-F", "999", "-q",
                    "-o", data, "--"] + argv
            out = subprocess.run(perf, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True, env=env, timeout=300)
            if out.returncode != 0:
                raise BenchError(out.stderr[-500:])
            return dict(figure=row["figure"], config=row["config"], metric=row["metric"],
                        command=" ".join(argv), by_process=perf_report(data, "comm")[:8],
                        top=perf_report(data, "comm,dso,symbol")[:40])
        except (OSError, BenchError, subprocess.TimeoutExpired) as e:
            return dict(error="perf failed: %s" % e)
        finally:
            if inst:
                self.drop(inst)

    def profile_argv(self, row, inst):
        load = [self.bin("roost-bench-load")]
        common = ["--target", inst.name, "--dim", str(self.dim)]
        if row["figure"] == "fresh":
            return load + ["fresh"] + common + ["--probes", "3000", "--gap-ms", "0",
                                                "--probe-first", "100000000"]
        p = row["params"]
        return load + ["ingest"] + common + ["--clients", str(p["clients"]), "--batch",
                                             str(p["batch"]), "--ack", p["ack"],
                                             "--duration", "3"]

    # -- running -----------------------------------------------------------------
    def run(self, only):
        started = time.monotonic()
        self.machine = machine(self.build)
        for fig in FIGURES:
            if only and fig not in only:
                continue
            self.say("== %s" % fig)
            t0 = time.monotonic()
            getattr(self, "fig_" + fig)()
            self.notes.setdefault("seconds", {})[fig] = round(time.monotonic() - t0, 1)
        self.machine["load_after"] = os.getloadavg()
        self.seconds = time.monotonic() - started

    def close(self):
        for inst in list(self.live):
            inst.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def machine(build):
    model = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) * 1024
    flags = open("/proc/cpuinfo").read()
    faiss = ""
    mk = glob.glob(os.path.join(build, "faiss*.mk"))
    if mk:
        faiss = os.path.basename(open(mk[0]).read().split(":=")[1].strip())
    return dict(cpu=model, cores=os.cpu_count(), memory_bytes=mem, kernel=platform.release(),
                avx2=" avx2" in flags, faiss=faiss, load_before=os.getloadavg(),
                python=platform.python_version(), hypervisor=" hypervisor" in flags)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes, shorter runs")
    ap.add_argument("--build", default="build", help="build directory (default build)")
    ap.add_argument("--only", default="", help="comma-separated figures: " + ",".join(FIGURES))
    ap.add_argument("--out", default="docs/benchmarks",
                    help="writes PREFIX.md and PREFIX.json (default docs/benchmarks)")
    ap.add_argument("--dim", type=int, default=384, help="vector dimension (default 384)")
    ap.add_argument("--reps", type=int, default=0, help="repetitions (default 3)")
    ap.add_argument("--command", default="", help="the command to name in the report")
    ap.add_argument("--merge", action="store_true",
                    help="keep the figures --only leaves out from PREFIX.json (a run of the "
                    "same mode), so that a few figures can be measured again")
    args = ap.parse_args()
    only = [f for f in args.only.split(",") if f]
    unknown = [f for f in only if f not in FIGURES]
    if unknown:
        ap.error("unknown figure %s (known: %s)" % (",".join(unknown), ",".join(FIGURES)))
    bench = Bench(args)
    if args.merge and os.path.exists(os.path.join(ROOT, args.out) + ".json"):
        with open(os.path.join(ROOT, args.out) + ".json") as f:
            bench.prior_rows = json.load(f)["rows"]
    try:
        bench.run(only)
    finally:
        bench.close()
    command = args.command or " ".join(shlex.quote(a) for a in [sys.executable] + sys.argv)
    out = os.path.join(ROOT, args.out)
    if args.merge:
        ran = only or FIGURES
        report.merge(bench, out, {r for f in ran for r in ROW_FIGURES.get(f, [f])})
    report.write_report(bench, out, command)
    print("wrote %s.md and %s.json in %.0f s" % (args.out, args.out, bench.seconds))


if __name__ == "__main__":
    main()
