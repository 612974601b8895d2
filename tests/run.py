#!/usr/bin/env python3
"""Runs roost's tests and ends with one line: `N passed, N failed`.

Unit tests are cmocka binaries; system tests are pytest files that start
the real binaries. Each unit binary's own cmocka summary is counted.
"""
import argparse
import os
import re
import subprocess
import sys

CMOCKA_PASSED = re.compile(r"\[  PASSED  \] (\d+) test")
CMOCKA_FAILED = re.compile(r"\[  FAILED  \] (\d+) test")
PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|error|errors)\b")


def shm_left_by(pid):
    """/dev/shm entries a unit test process left (their names carry its pid;
    system tests check their own, see tests/system/conftest.py)."""
    mine = re.compile(r"(?<!\d)%d(?!\d)" % pid)
    return [f for f in os.listdir("/dev/shm") if f.startswith("roost.") and mine.search(f)]


def run_unit(binaries):
    passed = failed = 0
    for binary in binaries:
        env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="STDOUT")
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        out, _ = proc.communicate(timeout=600)
        sys.stdout.write(out)
        p = CMOCKA_PASSED.search(out)
        f = CMOCKA_FAILED.search(out)
        passed += int(p.group(1)) if p else 0
        failed += int(f.group(1)) if f else 0
        if proc.returncode != 0 and not f:
            print(f"{binary}: exited with {proc.returncode}")
            failed += 1
        left = shm_left_by(proc.pid)
        if left:
            print(f"{binary}: left behind in /dev/shm: {' '.join(left)}")
            failed += 1
    return passed, failed


def run_system(path, extra):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path] + extra
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(proc.stdout)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else ""
    passed = failed = 0
    for n, what in PYTEST_COUNT.findall(tail):
        if what == "passed":
            passed += int(n)
        else:
            failed += int(n)
    if proc.returncode not in (0, 5) and failed == 0:
        failed = 1
    if proc.returncode == 5:  # no tests collected counts as a failure here
        failed += 1
    return passed, failed


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unit", nargs="*", default=[])
    ap.add_argument("--system", default=None)
    ap.add_argument("pytest_args", nargs="*")
    args = ap.parse_args()
    passed, failed = run_unit(args.unit)
    if args.system:
        p, f = run_system(args.system, args.pytest_args)
        passed += p
        failed += f
    print(f"{passed} passed, {failed} failed")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
