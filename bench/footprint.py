#!/usr/bin/env python3
"""What a collection costs: shared memory, resident memory and creation
time at 1, 10 and 100 collections, and ingest spread over 2 and 16 busy
collections against the same clients on 1, with in-process FAISS adds of
the same rows in the same run as the baseline.

    bench/footprint.py [--quick]        (make bench-collections)

Starts its own instance (`roost up`, no default collection) in a temporary
directory, creates the collections through the Python binding, and drives
ingest with roost-bench-load. Writes docs/benchmarks-collections.md (which
docs/benchmarks.md links to) and prints it.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
BIN = os.path.join(BUILD, "bin")
sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost  # noqa: E402

DIM = 64
MIB = 1024.0 * 1024.0


def sh(*argv, env=None):
    out = subprocess.run([str(a) for a in argv], env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise RuntimeError("%s failed: %s%s" % (argv[0], out.stdout, out.stderr))
    return out.stdout


class Instance:
    def __init__(self, root):
        self.name = "bcoll-%d" % os.getpid()
        self.root = root
        self.env = dict(os.environ, XDG_RUNTIME_DIR=os.path.join(root, "run"))
        self.run_dir = os.path.join(root, "run", "roost", self.name)

    def roost(self, cmd, *args):
        return sh(os.path.join(BIN, "roost"), cmd, "--name", self.name, *args, env=self.env)

    def up(self):
        self.roost("up", "--data-dir", os.path.join(self.root, "data"))

    def down(self):
        subprocess.run([os.path.join(BIN, "roost"), "down", "--name", self.name],
                       env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def shm_bytes(self):
        """Memory the instance's shared-memory objects hold (allocated
        blocks, not their sparse sizes)."""
        d = os.path.realpath(os.path.join(self.run_dir, "shm"))
        return sum(os.stat(os.path.join(d, f)).st_blocks * 512 for f in os.listdir(d))

    def rss(self):
        """Resident memory by role (kB), from /proc."""
        st = json.loads(self.roost("status", "--json", "--interval-ms", "0"))
        out = {}
        for p in st["processes"]:
            with open("/proc/%d/status" % p["pid"]) as f:
                kb = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))
            out[p["role"]] = out.get(p["role"], 0) + kb
        return out


def footprint(inst, db, steps):
    rows, made, times = [], 0, []
    base_shm, base_rss = inst.shm_bytes(), inst.rss()
    for n in steps:
        for i in range(made, n):
            t0 = time.perf_counter()
            db.create_collection("c%03d" % i, dim=DIM)
            times.append((time.perf_counter() - t0) * 1000.0)
        made = n
        shm, rss = inst.shm_bytes(), inst.rss()
        rows.append((n, shm, (shm - base_shm) / n, rss, statistics.median(times), max(times)))
    return base_shm, base_rss, rows


def ingest(inst, busy, clients, seconds, batch):
    """Total vectors/s of `clients` clients spread over `busy` collections."""
    per = clients // busy
    procs = [subprocess.Popen([os.path.join(BUILD, "bench", "roost-bench-load"), "ingest",
                               "--target", inst.name, "--collection", "c%03d" % c,
                               "--clients", str(per), "--batch", str(batch),
                               "--duration", str(seconds), "--dim", str(DIM),
                               "--ack", "durable"],
                              env=inst.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for c in range(busy)]
    total, errors = 0.0, 0
    for p in procs:
        out, err = p.communicate(timeout=seconds + 120)
        if p.returncode != 0:
            raise RuntimeError("roost-bench-load: " + err)
        j = json.loads(out.strip().splitlines()[-1])
        total += j["vectors_per_s"]
        errors += int(j["errors"])
    return total, errors


def faiss_add(rows, batch):
    out = sh(os.path.join(BUILD, "bench", "roost-bench-faiss"), "add", "--index", "Flat",
             "--rows", rows, "--batch", batch, "--dim", DIM)
    return json.loads(out.strip().splitlines()[-1])["vectors_per_s"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="shorter ingest runs")
    ap.add_argument("--out", default=os.path.join(ROOT, "docs", "benchmarks-collections.md"))
    args = ap.parse_args()
    seconds = 2 if args.quick else 5
    clients, batch = 16, 100
    root = tempfile.mkdtemp(prefix="roost-bcoll-")
    inst = Instance(root)
    try:
        inst.up()
        url = "ipc://" + os.path.join(inst.run_dir, "broker-0.ipc")
        with roost.Roost(url, timeout_ms=60000) as db:
            base_shm, base_rss, rows = footprint(inst, db, [1, 10, 100])
        runs = [(k,) + ingest(inst, k, clients, seconds, batch) for k in (1, 2, 16)]
        baseline = faiss_add(100000, batch)
        text = report(base_shm, base_rss, rows, runs, baseline, clients, batch, seconds)
        with open(args.out, "w") as f:
            f.write(text)
        sys.stdout.write(text)
    finally:
        inst.down()
        shutil.rmtree(root, ignore_errors=True)


def report(base_shm, base_rss, rows, runs, baseline, clients, batch, seconds):
    with os.popen("cat /proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    md = ["# Benchmarks: collections", "",
          "<!-- written by bench/footprint.py; edits are overwritten -->", "",
          "What a collection costs. `make bench-collections` (`bench/footprint.py`), %s UTC, "
          "%d CPUs, load average %s at the end. An instance with no collection holds "
          "%.2f MiB of shared memory (the catalog, the control block, the ring's headers); "
          "its writer, broker and reader %s MiB resident. The first collection's figure "
          "includes the ring's first step, which its create record took; after that a "
          "collection costs its tail's header: the tail grows as documents arrive "
          "(docs/storage.md, section 4)." % (
              time.strftime("%Y-%m-%d %H:%M", time.gmtime()), os.cpu_count(), load,
              base_shm / MIB, " / ".join("%.1f" % (base_rss[r] / 1024.0)
                                         for r in ("writer", "broker", "reader"))), "",
          "| collections (dim %d, Flat) | shared memory (MiB) | per collection (MiB) | "
          "writer / broker / reader RSS (MiB) | create p50 / max (ms) |" % DIM,
          "|---|---|---|---|---|"]
    for n, shm, per, rss, p50, mx in rows:
        md.append("| %d | %.2f | %.3f | %.1f / %.1f / %.1f | %.1f / %.1f |"
                  % (n, shm / MIB, per / MIB, rss["writer"] / 1024.0, rss["broker"] / 1024.0,
                     rss["reader"] / 1024.0, p50, mx))
    md += ["", "Ingest: %d clients adding batches of %d (ack durable) for %d s, spread evenly "
           "over the busy collections, against the same clients on one collection; the "
           "baseline is in-process FAISS Flat adds of the same rows (batch %d) in the same "
           "run." % (clients, batch, seconds, batch), "",
           "| busy collections | vectors/s | vs 1 collection | vs in-process FAISS | "
           "failed requests |", "|---|---|---|---|---|"]
    one = runs[0][1]
    for k, rate, errors in runs:
        md.append("| %d | %.0f | %.2f | %.3f | %d |" % (k, rate, rate / one if one else 0,
                                                         rate / baseline, errors))
    return "\n".join(md) + "\n"


if __name__ == "__main__":
    sys.exit(main())
