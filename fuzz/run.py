#!/usr/bin/env python3
"""Runs the libFuzzer targets one after another, each for a bounded time.

    run.py --build build-fuzz --seconds 60 wire batch wal ...

For each target it first replays fuzz/corpus/<target>/ (inputs that once
crashed a decoder, kept as regression tests, and any interesting inputs
worth keeping), then fuzzes from that, a fresh seed corpus made by
fuzz_seeds, and the corpus grown by earlier runs in BUILD/corpus/<target>.
A crash leaves its input in BUILD/artifacts/; copy it into
fuzz/corpus/<target>/ once fixed. Ends with `N passed, N failed`, one
count per target.
"""
import argparse
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def fuzz_one(build, target, seconds, seeds):
    corpus = os.path.join(build, "corpus", target)
    artifacts = os.path.join(build, "artifacts")
    regressions = os.path.join(HERE, "corpus", target)
    os.makedirs(corpus, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    dirs = [corpus, os.path.join(seeds, target)]
    if os.path.isdir(regressions):
        dirs.append(regressions)
    cmd = [os.path.join(build, "fuzz", "fuzz_" + target),
           "-max_total_time=%d" % seconds, "-timeout=10", "-rss_limit_mb=2048",
           "-print_final_stats=1", "-artifact_prefix=%s/%s-" % (artifacts, target)] + dirs
    start = time.monotonic()
    # libFuzzer treats the grace period after max_total_time loosely; the
    # hard limit only catches a hung target.
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          errors="replace", timeout=seconds + 120)
    took = time.monotonic() - start
    runs = [l for l in proc.stdout.splitlines() if l.startswith("stat::number_of_executed_units")]
    execs = runs[-1].split(":")[-1].strip() if runs else "?"
    if proc.returncode != 0:
        sys.stdout.write(proc.stdout[-6000:])
        print("fuzz_%s: FAILED (exit %d) after %.0fs" % (target, proc.returncode, took))
        return False
    print("fuzz_%s: ok, %s inputs in %.0fs" % (target, execs, took))
    return True


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", required=True)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("targets", nargs="+")
    args = ap.parse_args()
    seeds = os.path.join(args.build, "seeds")
    subprocess.run([os.path.join(args.build, "fuzz", "fuzz_seeds"), seeds], check=True)
    passed = failed = 0
    for t in args.targets:
        if fuzz_one(args.build, t, args.seconds, seeds):
            passed += 1
        else:
            failed += 1
    print("%d passed, %d failed" % (passed, failed))
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
