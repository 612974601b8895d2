#!/usr/bin/env python3
"""Runs the test suite against a sanitizer build and fails on any report.

    run_sanitized.py asan|tsan BUILD_DIR PLAIN_LIBROOST [PYTEST_ARGS...]

Every process the tests start (unit binaries, writers, brokers, readers,
agents) inherits options that write each sanitizer report to
BUILD_DIR/san-logs/<tool>.<pid> and stop that process at the first one.
A report from a process that no test watches (a broker stopped at the end
of a test, a leak found at exit) would otherwise pass unnoticed, so after
the run every report file counts as one failure. The output ends like
tests/run.py's: its list of skipped tests, then `N passed, N failed,
N skipped` with those failures added.
"""
import glob
import os
import re
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed, (\d+) skipped$")

# The ring's unit test maps one shm object at different addresses in the
# producer and consumer processes it forks; ThreadSanitizer keys its shadow
# memory by address and sees neither the other process nor the futexes, so
# it can only report noise there. The ring is covered by ASan instead.
TSAN_SKIP = {"test_ring"}

# The Python binding loads libroost.so into the uninstrumented interpreter,
# where a sanitizer runtime cannot start (it must be the first library of
# the process): its tests load a plain build of it (PLAIN_LIBROOST) and
# talk to the sanitized writer, brokers and readers. libroost's own code
# runs sanitized in the agents and the CLI.

def sanitizer_env(tool, logs):
    env = dict(os.environ)
    if tool == "asan":
        # The slow unwinder walks through nng (built without frame
        # pointers), so leak stacks are whole and lsan.supp can match them.
        env["ASAN_OPTIONS"] = ("halt_on_error=1:detect_leaks=1:fast_unwind_on_malloc=0:"
                               "log_path=%s/asan" % logs)
        env["LSAN_OPTIONS"] = "suppressions=%s/lsan.supp:print_suppressions=0" % HERE
        env["UBSAN_OPTIONS"] = "halt_on_error=1:print_stacktrace=1:log_path=%s/ubsan" % logs
    else:
        # atexit_sleep_ms=0: TSan would hold every exiting process for a
        # second to catch races with threads still running. roost's
        # processes join their own threads before they exit; what runs on
        # is nng's, which is not instrumented. The sleep only doubled the
        # run (and broke the tests that time a command against its timeout).
        env["TSAN_OPTIONS"] = ("halt_on_error=1:second_deadlock_stack=1:atexit_sleep_ms=0:"
                               "log_path=%s/tsan" % logs)
        # libgomp is not instrumented: its worker threads' barriers look
        # like races to TSan. One OpenMP thread keeps FAISS calls on the
        # calling thread, whose locking TSan does see.
        env["OMP_NUM_THREADS"] = "1"
    return env


def unit_binaries(tool, build):
    bins = sorted(glob.glob(os.path.join(build, "tests", "test_*")))
    bins = [b for b in bins if os.access(b, os.X_OK) and not b.endswith(".d")]
    if tool == "tsan":
        bins = [b for b in bins if os.path.basename(b) not in TSAN_SKIP]
    return bins


def report_files(logs):
    return sorted(glob.glob(os.path.join(logs, "*.*")))


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("asan", "tsan"):
        sys.stderr.write(__doc__)
        return 2
    tool, build = sys.argv[1], os.path.abspath(sys.argv[2])
    logs = os.path.join(build, "san-logs")
    os.makedirs(logs, exist_ok=True)
    for f in report_files(logs):
        os.unlink(f)
    env = sanitizer_env(tool, logs)
    env["BUILD"] = build  # conftest.py joins it to the root: absolute wins
    env["ROOST_LIB"] = os.path.abspath(sys.argv[3])
    cmd = [sys.executable, os.path.join(HERE, "run.py"), "--unit"] + \
        unit_binaries(tool, build) + ["--system", os.path.join(HERE, "system"), "--"] + \
        sys.argv[4:]
    proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True)
    lines = proc.stdout.rstrip("\n").split("\n")
    m = SUMMARY.match(lines[-1]) if lines else None
    body = lines[:-1] if m else lines
    # run.py's list of skips goes last again, just above the summary.
    skips = 0
    while m and skips < len(body) and body[len(body) - 1 - skips].startswith("SKIP "):
        skips += 1
    body, skipped = body[:len(body) - skips], body[len(body) - skips:]
    sys.stdout.write("\n".join(body) + "\n")
    reports = report_files(logs)
    for f in reports:
        with open(f, errors="replace") as fh:
            sys.stdout.write("==== sanitizer report %s ====\n%s\n" % (f, fh.read()))
    passed, failed = (int(m.group(1)), int(m.group(2))) if m else (0, 1)
    failed += len(reports)
    print("%s: %d sanitizer report(s) in %s" % (tool, len(reports), logs))
    for line in skipped:
        print(line)
    print("%d passed, %d failed, %d skipped" % (passed, failed, int(m.group(3)) if m else 0))
    return 0 if failed == 0 and passed > 0 and proc.returncode == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
