#!/usr/bin/env python3
"""make demo: a swarm of agents posting to a real roost instance.

Starts a writer and two brokers, runs 32 agent processes that post batches
of 1..10 tweets concurrently (the original add_tweets pattern), kills the
writer with SIGKILL halfway and starts it again, then checks that every
acknowledged tweet is stored exactly once with its fields. Exits non-zero
if anything was lost or duplicated.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "system"))
from conftest import Instance, collect, wait_for  # noqa: E402

AGENTS = 32
REQUESTS = 30
DIM = 64


def main():
    inst = Instance(dim=DIM, index="Flat")
    t0 = time.monotonic()
    try:
        inst.start_writer()
        inst.start_broker(0)
        inst.start_broker(1)
        print("roost demo: instance '%s', %d agents x %d posts of 1..10 tweets, dim %d"
              % (inst.name, AGENTS, REQUESTS, DIM))
        agents = [inst.agent(a, requests=REQUESTS, batch=(1, 10)) for a in range(AGENTS)]
        wait_for(lambda: inst.status()["documents"] > AGENTS * REQUESTS * 2, 60,
                 "half the posts")
        inst.kill(inst.writer)
        print("roost demo: writer killed with SIGKILL mid-run; restarting it")
        inst.start_writer()
        acked, errors = {}, []
        for p in agents:
            got, errs = collect(p, timeout=300)
            acked.update(got)
            errors += errs
        elapsed = time.monotonic() - t0
        stored = {}
        dups = 0
        for d in inst.dump():
            i = d.split(" ", 1)[0]
            dups += i in stored
            stored[i] = d
        lost = [i for i in acked if stored.get(i) != acked[i]]
        rows = [("agents", AGENTS), ("tweets acked", len(acked)),
                ("tweets stored", len(stored)), ("lost", len(lost)), ("duplicates", dups),
                ("failed requests", len(errors)), ("writer restarts", 1),
                ("ingest/s", "%.0f" % (len(acked) / elapsed))]
        for k, v in rows:
            print("  %-16s %s" % (k, v))
        ok = not lost and not dups and not errors
        print("roost demo: %s" % ("OK" if ok else "FAILED"))
        return 0 if ok else 1
    finally:
        inst.stop()


if __name__ == "__main__":
    sys.exit(main())
