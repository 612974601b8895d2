#!/usr/bin/env python3
"""Ack-to-visible latency against index size, measured directly: the
latency of an add acknowledged `visible` (searchable by every local reader
when the reply comes) next to the same add acknowledged `durable`, one
client, at 10k, 100k and 1M documents (Flat, d=384). Publication is one
store into the shared-memory tail, so `visible` should stay flat as the
index grows.

    BUILD=build /usr/bin/python3 bench/visible.py [--sizes 10000,100000,1000000]
"""
import argparse
import os
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "system"))
from conftest import BUILD, Instance  # noqa: E402
import wire  # noqa: E402

DIM = 384


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def measure(n, probes):
    inst = Instance(dim=DIM, writer_args=["--seal-interval-ms", "0"])
    try:
        inst.start_writer()
        inst.start_broker()
        inst.start_reader()
        subprocess.run([os.path.join(BUILD, "bench", "roost-bench-load"), "fill", "--target",
                        inst.name, "--first", "0", "--count", str(n), "--batch", "1000",
                        "--ack", "queued", "--dim", str(DIM)], env=inst.env, check=True,
                       stdout=subprocess.DEVNULL)
        while inst.status()["documents"] < n:
            time.sleep(0.2)
        c, rnd, seq = inst.client(), random.Random(n), 0
        lat = {2: [], 3: []}
        for _ in range(probes):
            for ack in (2, 3):
                seq += 1
                v = [rnd.uniform(-1, 1) for _ in range(DIM)]
                frame = wire.add_request(DIM, [wire.document(v, text="probe")], 555, seq, ack=ack)
                t = time.perf_counter()
                assert c.call(frame)["status"] == 0
                lat[ack].append((time.perf_counter() - t) * 1e3)
        c.close()
        return {a: (pct(lat[a], 0.5), pct(lat[a], 0.99)) for a in lat}
    finally:
        inst.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--probes", type=int, default=300)
    args = ap.parse_args()
    print("| documents | durable p50 / p99 (ms) | visible p50 / p99 (ms) |")
    print("|---|---|---|")
    for n in (int(s) for s in args.sizes.split(",")):
        r = measure(n, args.probes)
        print("| %d | %.3f / %.3f | %.3f / %.3f |" % (n, *r[2], *r[3]), flush=True)


if __name__ == "__main__":
    main()
