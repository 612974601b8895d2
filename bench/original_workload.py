#!/usr/bin/env python3
"""The original failure's workload in process, fixed the way the simulation
fixed it: one global lock around a shared FAISS index (Debian's
python3-faiss, built without SIMD).

12 writer threads each build a small index from a batch of 1..10 vectors and
merge it into the shared one (LangChain's FAISS.from_documents followed by
merge_from), and 4 searcher threads search it (k=4), for --duration seconds.
Vectors and queries come from files of raw float32 rows written by
`roost-bench-faiss rows`, the same data roost gets. Prints one JSON line.
"""
import argparse
import json
import random
import threading
import time

import faiss
import numpy


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", required=True)
    ap.add_argument("--queries", required=True)
    ap.add_argument("--dim", type=int, default=384)
    ap.add_argument("--duration", type=float, default=20.0)
    ap.add_argument("--writers", type=int, default=12)
    ap.add_argument("--searchers", type=int, default=4)
    ap.add_argument("--k", type=int, default=4)
    ap.add_argument("--batch-max", type=int, default=10)
    args = ap.parse_args()
    rows = numpy.fromfile(args.rows, dtype=numpy.float32).reshape(-1, args.dim)
    queries = numpy.fromfile(args.queries, dtype=numpy.float32).reshape(-1, args.dim)

    index = faiss.IndexFlatL2(args.dim)
    lock = threading.Lock()
    counts = {"adds": 0, "docs": 0, "searches": 0}
    end = time.monotonic() + args.duration

    def writer(seed):
        rnd = random.Random(seed)
        adds = docs = 0
        while time.monotonic() < end:
            n = rnd.randint(1, args.batch_max)
            at = rnd.randrange(len(rows) - n)
            part = faiss.IndexFlatL2(args.dim)
            part.add(rows[at:at + n])
            with lock:
                index.merge_from(part)
            adds += 1
            docs += n
        with lock:
            counts["adds"] += adds
            counts["docs"] += docs

    def searcher(seed):
        rnd = random.Random(seed)
        done = 0
        while time.monotonic() < end:
            q = rnd.randrange(len(queries))
            with lock:
                index.search(queries[q:q + 1], args.k)
            done += 1
        with lock:
            counts["searches"] += done

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(args.writers)]
    threads += [threading.Thread(target=searcher, args=(100 + i,))
                for i in range(args.searchers)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.monotonic() - t0
    print(json.dumps({"kind": "python_original", "adds_per_s": counts["adds"] / secs,
                      "docs_per_s": counts["docs"] / secs,
                      "searches_per_s": counts["searches"] / secs, "docs": counts["docs"],
                      "lost": counts["docs"] - index.ntotal,
                      "faiss": faiss.__version__}))


if __name__ == "__main__":
    main()
