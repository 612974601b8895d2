#!/usr/bin/env python3
"""Runs roost's tests and ends with one line: `N passed, N failed, N skipped`.

Unit tests are cmocka binaries; system tests are pytest files that start
the real binaries. Each unit binary's own cmocka summary is counted. Every
skipped test is listed above the last line, one `SKIP <test>: <reason>`
line each: a unit test gives its reason with print_message("skipped: ...")
before skip(), a system test's comes from pytest (tests/system/conftest.py
prints them).
"""
import argparse
import os
import re
import subprocess
import sys

CMOCKA_PASSED = re.compile(r"\[  PASSED  \] (\d+) test")
CMOCKA_FAILED = re.compile(r"\[  FAILED  \] (\d+) test")
CMOCKA_SKIPPED = re.compile(r"\[  SKIPPED \] (\d+) test")
CMOCKA_RUN = re.compile(r"^\[ RUN      \] (\S+)$")
CMOCKA_SKIP = re.compile(r"^\[  SKIPPED \] (\S+)$")
PYTEST_COUNT = re.compile(r"(\d+) (passed|failed|skipped|error|errors)\b")
# What tests/system/conftest.py prints for each skipped system test.
PYTEST_SKIP = re.compile(r"^SKIPPED TEST (\S+): (.*)$")


def shm_left_by(pid):
    """/dev/shm entries a unit test process left (their names carry its pid;
    system tests check their own, see tests/system/conftest.py)."""
    mine = re.compile(r"(?<!\d)%d(?!\d)" % pid)
    return [f for f in os.listdir("/dev/shm") if f.startswith("roost.") and mine.search(f)]


def cmocka_skips(binary, out):
    """(test, reason) of each test a cmocka binary skipped: the reason is
    what the test printed as "skipped: ..." between its RUN and SKIPPED."""
    skips, running, said = [], None, []
    for line in out.splitlines():
        m = CMOCKA_RUN.match(line)
        if m:
            running, said = m.group(1), []
            continue
        m = CMOCKA_SKIP.match(line)
        if m and m.group(1) == running:
            reasons = [s.split("skipped:", 1)[1].strip() for s in said if "skipped:" in s]
            skips.append(("%s:%s" % (os.path.basename(binary), running),
                          reasons[-1] if reasons else "no reason given"))
            running = None
        elif running:
            said.append(line)
    return skips


def run_unit(binaries):
    passed = failed = 0
    skips = []
    for binary in binaries:
        env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="STDOUT")
        proc = subprocess.Popen([binary], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        out, _ = proc.communicate(timeout=600)
        sys.stdout.write(out)
        p = CMOCKA_PASSED.search(out)
        f = CMOCKA_FAILED.search(out)
        s = CMOCKA_SKIPPED.search(out)
        passed += int(p.group(1)) if p else 0
        failed += int(f.group(1)) if f else 0
        listed = cmocka_skips(binary, out)
        skipped = int(s.group(1)) if s else 0
        if skipped != len(listed):
            print(f"{binary}: {skipped} skipped but {len(listed)} skip(s) seen in its output")
            failed += 1
        skips += listed
        if proc.returncode != 0 and not f:
            print(f"{binary}: exited with {proc.returncode}")
            failed += 1
        left = shm_left_by(proc.pid)
        if left:
            print(f"{binary}: left behind in /dev/shm: {' '.join(left)}")
            failed += 1
    return passed, failed, skips


def run_system(path, extra):
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", path] + extra
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    sys.stdout.write(proc.stdout)
    lines = proc.stdout.strip().splitlines()
    tail = lines[-1] if lines else ""
    passed = failed = skipped = 0
    for n, what in PYTEST_COUNT.findall(tail):
        if what == "passed":
            passed += int(n)
        elif what == "skipped":
            skipped += int(n)
        else:
            failed += int(n)
    skips = [m.groups() for m in map(PYTEST_SKIP.match, lines) if m]
    if skipped != len(skips):
        print(f"pytest: {skipped} skipped but {len(skips)} skip(s) listed")
        failed += 1
    if proc.returncode not in (0, 5) and failed == 0:
        failed = 1
    if proc.returncode == 5:  # no tests collected counts as a failure here
        failed += 1
    return passed, failed, skips


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--unit", nargs="*", default=[])
    ap.add_argument("--system", default=None)
    ap.add_argument("pytest_args", nargs="*")
    args = ap.parse_args()
    passed, failed, skips = run_unit(args.unit)
    if args.system:
        p, f, s = run_system(args.system, args.pytest_args)
        passed += p
        failed += f
        skips += s
    for test, reason in skips:
        print(f"SKIP {test}: {reason}")
    print(f"{passed} passed, {failed} failed, {len(skips)} skipped")
    return 0 if failed == 0 and passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
