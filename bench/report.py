"""Writes a benchmark run (bench/run.py) as docs/benchmarks.json and
docs/benchmarks.md: the machine, the command, every figure with roost's
number, the baseline's and their ratio, and what explains the gaps, with
charts of the main figures (bench/charts.py)."""
import datetime
import json
import re

from charts import draw as draw_charts

TITLES = {
    "ring": "1. Ring",
    "ingest": "2. Ingest",
    "search": "3. Search",
    "goals": "3b. Search against the bare transport",
    "fresh": "4. Freshness",
    "publish": "5. Publication",
    "memory": "6. Memory",
    "readers": "6b. Memory per reader, by index",
    "recovery": "7. Recovery",
    "original": "8. The original failure's workload",
    "deleted": "9. Search with deleted rows",
    "filtered": "10. Filtered search on metadata",
    "writes": "11. Writes by id: adds, upserts, deletes",
    "seals": "12. Seals and merges under load",
    "alter": "13. Altering a collection online",
    "fair": "14. Fair ingest between agents",
    "history": "15. Reads as of an LSN",
    "fork": "16. Forks",
    "retention": "17. Retention",
}


def human_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return ("%d %s" if unit == "B" else "%.3g %s") % (n, unit)
        n /= 1024.0


def human_count(n):
    if n >= 1000000 and n % 1000000 == 0:
        return "%dM" % (n // 1000000)
    if n >= 1000 and n % 1000 == 0:
        return "%dk" % (n // 1000)
    return str(n)


def num(v):
    if v is None:
        return "-"
    a = abs(v)
    if a >= 100:
        return "%.0f" % v
    if a >= 10:
        return "%.1f" % v
    if a >= 1:
        return "%.2f" % v
    return "%.3g" % v


def fmt(s):
    if not s:
        return "-"
    if s["n"] == 1:
        return num(s["median"])
    return "%s [%s–%s]" % (num(s["median"]), num(s["min"]), num(s["max"]))



EXTRA_NAMES = {
    "requests_per_s": "req/s",
    "records_per_s": "records/s", "memcpy_records_per_s": "memcpy records/s",
    "raw": "ack to answer ms", "search_rtt": "search round trip ms", "add_ms": "add ms",
    "bytes": "bytes written", "base_bytes": "FAISS bytes", "docs_per_s": "docs/s",
    "base_docs_per_s": "baseline docs/s", "lost": "lost docs", "base_lost": "baseline lost",
    "crashes": "crashes", "errors": "failed requests",
    "cpu_client_us": "CPU µs per request: client", "cpu_broker_us": "broker",
    "cpu_writer_us": "writer", "echo_cpu_client_us": "echo's: client",
    "echo_cpu_server_us": "server",
    "doc_cpu_client_us": "CPU µs per document: client", "doc_cpu_broker_us": "broker",
    "doc_cpu_writer_us": "writer", "seal_waits": "adds waited for a seal",
    "seal_wait_max_ms": "longest ms", "now_p50_ms": "now: p50 ms", "now_recall": "now: recall@10",
}


def badness(row):
    """How far roost is from its baseline, in its bad direction (1 = on par)."""
    r = row["ratio"]
    if not r or r <= 0:
        return 0.0
    return 1.0 / r if row["better"] == "higher" else r


def worst(rows, n=5):
    """The n rows furthest from their baseline, one per figure."""
    ranked = sorted((r for r in rows if r["rank"] and r["ratio"]), key=badness, reverse=True)
    out, seen = [], set()
    for r in ranked:
        if r["figure"] not in seen:
            seen.add(r["figure"])
            out.append(r)
    return out[:n]


LATENCY_KEYS = (("p50_ms", "p50"), ("p99_ms", "p99"), ("p999_ms", "p99.9"))


def extra_text(row):
    """The details column: medians only (the JSON keeps min and max)."""
    ex = dict(row["extra"])
    parts = []
    for prefix, who in (("", ""), ("base_", "FAISS ")):
        keys = [(prefix + k, name) for k, name in LATENCY_KEYS if ex.get(prefix + k)]
        if keys:
            parts.append("%s%s ms %s" % (who, "/".join(name for _, name in keys),
                                         " / ".join(num(ex.pop(k)["median"]) for k, _ in keys)))
    if ex.get("recall") and ex.get("base_recall"):
        parts.append("recall@10 %s (FAISS %s)" % (num(ex.pop("recall")["median"]),
                                                  num(ex.pop("base_recall")["median"])))
    ex.pop("base_recall", None)
    for k, v in ex.items():
        name = EXTRA_NAMES.get(k, k)
        if isinstance(v, dict):
            parts.append("%s %s" % (name, human_bytes(v["median"]) if "bytes" in k
                                    else num(v["median"])))
        elif isinstance(v, (int, float)):
            parts.append("%s %s" % (name, num(v) if v else "0"))
    return "; ".join(parts)


def ratio_text(row):
    return "%.3g" % row["ratio"] if row["ratio"] else "-"


def table(rows):
    """Rows of one configuration and measure against several baselines
    share a line."""
    out = ["| configuration | measure | roost | baseline | ratio | details |",
           "|---|---|---|---|---|---|"]
    groups = []
    for r in rows:
        if groups and (groups[-1][0]["config"], groups[-1][0]["metric"]) == (r["config"],
                                                                             r["metric"]):
            groups[-1].append(r)
        else:
            groups.append([r])
    for g in groups:
        r = g[0]
        multi = len(g) > 1
        base = "<br>".join(("%s: " % x["baseline_short"] if multi else "") +
                           (fmt(x["baseline"]) if x["baseline"] else "-") for x in g)
        ratio = "<br>".join(ratio_text(x) for x in g)
        out.append("| %s | %s (%s) | %s | %s | %s | %s |" % (
            r["config"], r["metric"], r["unit"], fmt(r["roost"]), base, ratio,
            extra_text(r).replace("|", "/")))
    return out


def baselines(rows):
    seen = []
    for r in rows:
        if r["baseline_what"] and r["baseline_what"] not in seen:
            seen.append(r["baseline_what"])
    return seen


def machine_lines(m, bench, command):
    return [
        "| | |", "|---|---|",
        "| CPU | %s |" % m["cpu"],
        "| cores | %d (what `os.cpu_count()` sees)%s |" % (
            m["cores"], ", KVM guest" if m["hypervisor"] else ""),
        "| memory | %s |" % human_bytes(m["memory_bytes"]),
        "| kernel | %s |" % m["kernel"],
        "| FAISS | %s (roost's own build, %s) |" % (
            m["faiss"], "AVX2" if m["avx2"] else "generic"),
        "| load average before / after | %s / %s |" % (
            " ".join("%.2f" % x for x in m["load_before"]),
            " ".join("%.2f" % x for x in m["load_after"])),
        "| command | `%s` |" % command,
        "| mode | %s |" % ("quick (smaller sizes, shorter runs)" if bench.quick else "full"),
        "| date | %s |" % datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "| run time | %.0f s |" % bench.seconds,
    ] + _merged_line(bench)


def _merged_line(bench):
    m = getattr(bench, "merged", None)
    if not m:
        return []
    return ["| other sections | %s: from an earlier run, `%s` (%s, %s, %.0f s) |" % (
        ", ".join(TITLES.get(f, f) for f in m["figures"]), m["command"], m["mode"], m["date"],
        m["seconds"])]


def merge(bench, prefix, figures):
    """Keeps, from the run that wrote PREFIX.json, the rows of the figures
    this run did not measure (figures: the row figures it did), and its
    notes where this run has none; both runs must be of the same mode."""
    try:
        with open(prefix + ".json") as f:
            old = json.load(f)
    except OSError:
        return
    mode = "quick" if bench.quick else "full"
    if old.get("mode") != mode:
        raise ValueError("%s.json is of a %s run, this one is %s: run all figures" % (
            prefix, old.get("mode"), mode))
    kept = [r for r in old["rows"] if r["figure"] not in figures]
    date = old.get("date")
    if not date:
        try:
            with open(prefix + ".md") as f:
                found = re.search(r"^\| date \| (.*?) \|$", f.read(), re.M)
            date = found.group(1) if found else "date unknown"
        except OSError:
            date = "date unknown"
    prev = old.get("merged")
    bench.merged = dict(command=old["command"], mode=mode, date=date, seconds=old["seconds"],
                        figures=sorted({r["figure"] for r in kept},
                                       key=lambda f: list(TITLES).index(f)
                                       if f in TITLES else len(TITLES)))
    if prev and set(prev["figures"]) >= set(bench.merged["figures"]):
        # The kept rows all come from the run before that one.
        bench.merged.update(command=prev["command"], date=prev["date"],
                            seconds=prev["seconds"])
    bench.rows[:0] = kept
    notes = dict(old.get("notes", {}))
    seconds = dict(notes.get("seconds", {}))
    seconds.update(bench.notes.get("seconds", {}))
    notes.update(bench.notes)
    notes["seconds"] = seconds
    bench.notes = notes


def write_report(bench, prefix, command):
    rows = bench.rows
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc = dict(command=command, mode="quick" if bench.quick else "full", date=date,
               machine=bench.machine, plan=bench.p, seconds=bench.seconds, notes=bench.notes,
               rows=rows, merged=getattr(bench, "merged", None))
    with open(prefix + ".json", "w") as f:
        json.dump(doc, f, indent=1, default=str)
        f.write("\n")
    md = ["# Benchmarks", "", "<!-- written by bench/run.py; edits are overwritten -->", ""]
    md += intro(bench) + [""]
    md += ["## Machine and command", ""] + machine_lines(bench.machine, bench, command) + [""]
    md += ["## Furthest from the baseline", "",
           "The five figures where roost is furthest from its baseline, worst first "
           "(factor = how many times worse, in the figure's own direction):", "",
           "| figure | configuration | measure | roost | baseline | factor |",
           "|---|---|---|---|---|---|"]
    for r in worst(rows):
        md.append("| %s | %s | %s (%s) | %s | %s | %.3g× |" % (
            TITLES.get(r["figure"], r["figure"]), r["config"], r["metric"], r["unit"],
            num(r["roost"]["median"]), num(r["baseline"]["median"]), badness(r)))
    md.append("")
    charts = draw_charts(rows, prefix)
    for fig, title in TITLES.items():
        sel = [r for r in rows if r["figure"] == fig]
        if not sel:
            continue
        md += ["## %s" % title, ""]
        text = EXPLAIN.get(fig)
        if text:
            md += [text(bench, sel) if callable(text) else text, ""]
        bl = baselines(sel)
        if bl:
            md += ["Baselines: " + "; ".join(bl) + ".", ""]
        md += table(sel) + [""]
        md += ["![%s](%s)" % (title, name) for name in charts.get(fig, [])]
        md += [""] if charts.get(fig) else []
    md += closing(bench, rows) + [""]
    with open(prefix + ".md", "w") as f:
        f.write("\n".join(md))


def _plan_text(bench):
    p = bench.p
    return ("Sizes in this run: ring records of %s with %s producers, %.1f s each; ingest %d "
            "configurations of %.1f s or %s documents each; search on %s documents with %d "
            "queries; freshness, memory and recovery at %s documents; the original workload "
            "for %g s. Every measurement ran %d times." % (
                ", ".join(human_bytes(s) for s in p["ring_sizes"]),
                "/".join(map(str, p["ring_producers"])), p["ring_s"], len(p["ingest"]),
                p["ingest_s"], human_count(p["ingest_cap"]), human_count(p["search_rows"]),
                p["queries"], ", ".join(human_count(n) for n in p["scale_points"]),
                p["original_s"], bench.reps) + (
            " Deleted-row and filtered searches: %s documents, %d queries, %.1f s runs; writes "
            "by id: at most %s documents a run." % (
                human_count(p["search_rows"]), p["kept_queries"], p["kept_s"],
                human_count(p["writes_cap"])) if "kept_queries" in p else ""))


def intro(bench):
    return [
        "Every figure compares roost, measured through its real processes (writer, broker, "
        "readers) and its client library, with in-process FAISS doing the same work on the "
        "same data in the same run, on roost's own FAISS build. Each cell is the median of "
        "repeated runs with [min–max]. **ratio = roost median / baseline median**: for "
        "throughput (higher is better) a ratio below 1 means roost is slower; for times and "
        "memory (lower is better) a ratio above 1 means roost costs more. Nothing here is "
        "asserted by a test.",
        "",
        "What a collection costs (shared and resident memory, creation time, ingest over "
        "several busy collections) is in [benchmarks-collections.md]"
        "(benchmarks-collections.md), from `make bench-collections`.",
        "",
        "Data: a fixed, seeded clustered Gaussian set (`bench/bdata.c`: d=%d, 100 clusters "
        "with N(0,1) centres, noise sigma 0.5, seed %d); queries come from the same clusters "
        "on another random stream; ground truth is an exact `IndexFlatL2` search. %s" % (
            bench.dim, 20240601, _plan_text(bench)),
        "",
        "This machine is shared (see the load average below): absolute numbers move from run "
        "to run, and so does each ratio's noise, since roost and its baseline run one after "
        "the other. Run `make bench` (about 12 minutes here) or `make bench-quick` (about 3 "
        "minutes, smaller sizes) to reproduce, or `bench/run.py --only FIG,... --merge` to "
        "measure some figures again and keep the others; `bench/run.py --help` for options.",
    ]


def _ring(bench, rows):
    return ("Producers are separate processes, as brokers are: each claims space under the "
            "ring's reserve cursor with a compare-and-swap, copies its record in with one memcpy and "
            "commits it with a release store; the measuring process consumes and releases "
            "records as the writer does (without writing them to a log). The baseline is the "
            "same processes copying the same records into a private buffer of the ring's size. "
            "Small records pay per record: the compare-and-swap, the shared cursors' cache "
            "lines and a futex wake of the consumer whenever it sleeps (it polls a few "
            "microseconds first). Large records pay per byte twice: the copy in, and the "
            "consumer zeroing what it releases, so that a header not yet written reads as "
            "zero. On 2 cores, 4 producers and the consumer time-share.")


CPU_PARTS = (("cpu_client_us", "client"), ("cpu_broker_us", "broker"),
             ("cpu_writer_us", "writer"))
ECHO_CPU_PARTS = (("echo_cpu_client_us", "client"), ("echo_cpu_server_us", "server"))


def _cpu_per_request(rows):
    """What the rows against the bare transport say about CPU: the service
    and the echo are both bound by this machine's cores, so their ratio
    follows the CPU a request costs, summed over every process."""
    out = []
    for r in rows:
        ex = r["extra"]
        if "cpu_broker_us" not in ex:
            continue
        ours = {name: ex[k]["median"] for k, name in CPU_PARTS}
        echo = {name: ex[k]["median"] for k, name in ECHO_CPU_PARTS}
        out.append("with ack `%s` a request took %s µs of CPU (%s) where the echo's took %s "
                   "(%s), a CPU ratio of %s against a throughput ratio of %s" % (
                       r["params"]["ack"], num(sum(ours.values())),
                       ", ".join("%s %s" % (n, num(v)) for n, v in ours.items()),
                       num(sum(echo.values())),
                       ", ".join("%s %s" % (n, num(v)) for n, v in echo.items()),
                       num(sum(echo.values()) / sum(ours.values())), num(r["ratio"])))
    if not out:
        return ""
    return (" Both sides of those rows use every core, so CPU per request decides them: "
            "%s. The echo's server only returns the frame; the broker also decodes and "
            "validates the request, takes the client's idempotency key and copies the batch "
            "into the ring, and the writer logs and applies it in its own process, which the "
            "echo does not have." % "; ".join(out))


def _cpu_per_document(bench, rows):
    """The batch-100 goal in CPU: every process's microseconds per document
    against in-process Flat add's, on this machine's cores."""
    out = []
    for r in rows:
        ex, p = r["extra"], r["params"] or {}
        if "doc_cpu_writer_us" not in ex or r["baseline_short"] != "Flat add" or \
                p.get("clients") != 16 or p.get("batch") != 100 or not r["baseline"]:
            continue
        ours = {name: ex["doc_" + k]["median"] for k, name in CPU_PARTS}
        base_us = 1e6 / r["baseline"]["median"]
        cores = bench.machine["cores"]
        out.append("with ack `%s` a document took %s µs of CPU (%s) where in-process Flat add "
                   "took %s µs on one thread: on %d cores that CPU alone allows a ratio of about "
                   "%s, against the %s measured" % (
                       p["ack"], num(sum(ours.values())),
                       ", ".join("%s %s" % (n, num(v)) for n, v in ours.items()), num(base_us),
                       cores, num(cores * base_us / sum(ours.values())), num(r["ratio"])))
    if not out:
        return ""
    return (" At batch 100 from 16 clients, %s (the client's share includes making its "
            "vectors, and the writer's leaves out the seals it had not finished when the run "
            "ended: so \"about\")." % "; ".join(out))


def _ingest(bench, rows):
    fs = bench.notes.get("fsync", {})
    sync = ""
    if fs.get("p50_ms"):
        sync = (" An appended 4 KiB write + fdatasync on this disk took %s ms at the median "
                "and %s ms at p99 in this run (`roost-bench-faiss fsync`)." % (
                    num(fs["p50_ms"]["median"]), num(fs["p99_ms"]["median"])))
    return ("Clients are threads of `roost-bench-load`, each with its own libroost handle, "
            "through one broker (default 32 workers) to the writer. Each configuration gets a "
            "new Flat instance; a repetition stops after %.1f s or %s documents (at the "
            "default `--seal-docs` 8192, a seal or two, written in the background; figure 5 "
            "times seals). The baseline adds the same number of "
            "vectors in process with one `add` call per batch (Flat: a copy; HNSW32: graph "
            "insertion), so the Flat ratio is the whole cost of the service path: protobuf "
            "encoding and decoding, two SP hops per request, validation, the idempotency "
            "slot, the ring copy, and for `durable` the group's fdatasync, for `visible` also "
            "the tail append and index add. `queued` answers after the ring commit. The rows "
            "`against the bare transport` compare single-document adds from 16 clients with "
            "`roost-bench-echo` (figure 3b's echo: a server process on a raw REP socket, REQ "
            "clients, frames of a document's size) in this run: the goals are 0.8 for `queued` "
            "and 0.6 for `durable`.%s%s The goal for batches of 100, `durable`, from 16 "
            "clients is 0.5 of in-process Flat add: there each document is encoded by the "
            "client, decoded, validated and copied into the ring by the broker, copied into "
            "the log with its checksum and into the tail by the writer, and rewritten by its "
            "seal (and later merges) into a documents file, all on the cores the 16 client "
            "threads share, where FAISS copies it once." % (
                bench.p["ingest_s"], human_count(bench.p["ingest_cap"]), sync,
                _cpu_per_request(rows)) + _cpu_per_document(bench, rows))


def _search(bench, rows):
    n, seal = bench.notes.get("search_layout", (bench.p["search_rows"], 8192))
    return ("roost splits data into sealed segments of `--seal-docs` documents (default "
            "%d), each a FAISS index, which a background thread merges by size (four of one "
            "size tier into one), plus a shared-memory tail that readers search exactly. "
            "At the default, %s documents became, once at rest (`--merge-idle-ms`, figure 3 "
            "waits for it), %s. The main rows use `--seal-docs %d`, so the "
            "whole collection is one segment (a far-away sentinel document, never a neighbour, "
            "triggers the seal and stays alone in the tail) and the baseline searches the very "
            "same index file in process with one thread, one query per call; the rows marked "
            "with the default layout compare the default split with that same baseline. "
            "(`--seal-docs 131072` would not give one segment at %s: nothing would be sealed "
            "and every search would scan the tail exactly.) Readers run 2 worker threads each; "
            "the benchmark's clients name the instance, so their searches go straight to a "
            "reader's own socket (client → reader and back), except in the rows marked "
            "`through a broker` (`ROOST_SEARCH_PATH=broker`: client → broker → search device "
            "→ reader). Recall@10 is "
            "against the exact ground truth; the requests leave `nprobe` and `ef_search` at 0, "
            "so readers use their defaults (HNSW efSearch 64, IVF nprobe nlist/64 but at least "
            "8: 16 for IVF1024), and the baseline searches with the same. Rows marked "
            "`recall@10 >= R (knob V)` compare speed at equal recall, as ann-benchmarks does: "
            "both sides search with V, the cheapest setting of a ladder (bench/run.py, "
            "TUNING_LADDER) with which in-process FAISS reaches R on that index file. "
            "`ingest N/s` rows search "
            "while one more client adds N documents/s (batches of 10, durable) into the tail." % (
                seal, human_count(n), _layouts(bench), n, human_count(n)))


def _layouts(bench):
    """The default layouts the run found, once merges had settled."""
    found = bench.notes.get("default_layouts", {})
    if not found:
        return "(not measured in this run)"
    return "; ".join("%s: %s of %s and a %d-document exact tail" % (
        index, "segment" if len(rows) == 1 else "segments", ", ".join(str(r) for r in rows),
        tail) for index, (rows, tail) in found.items())


def _fresh(bench, rows):
    return ("One Flat instance (`--seal-docs 65536`) is grown to each size; there a probe "
            "adds one document (ack `durable`) and, once acknowledged, searches for it with "
            "`min_lsn` set to its LSN, filtered on the probe's agent so that the search skips "
            "the segments' index search. Ack-to-visible is that round trip minus the round "
            "trip of the same search repeated at once (which never waits); both raw numbers "
            "are in the details. The baseline is an in-process FAISS add of one vector: "
            "visible when the call returns; its p99 is the vector storage growing (realloc "
            "and copy of the whole array). The probe's own search scans the filter over every "
            "row, so at the largest sizes its round trip (milliseconds) is long and the "
            "difference is within that round trip's noise.")


def _publish(bench, rows):
    return ("Every seal on the way to the largest size is timed. The tail is filled to exactly "
            "`--seal-docs` with the writer idle; the next add (ack `visible`) seals it: "
            "publish = that add's latency minus a plain visible add's right after, which is "
            "what an add pays for a seal: the tail is frozen and a new one started, while a "
            "background thread writes the segment's FAISS index and its documents file (ids, "
            "fields, text and the raw vectors again), fsyncs both and the manifest, and "
            "rotates the log. Reader swap = the first search after that add minus a plain "
            "search (the segment is usually still being written then: readers switch to the "
            "new tail and scan the frozen one). Baselines: FAISS `write_index` + fsync, and `read_index`, of a Flat index "
            "of the same 64Ki rows; the `naive snapshot` rows write the whole index at each "
            "size, which is what publishing whole snapshots would cost.")


def _memory(bench, rows):
    return ("Proportional set size (`/proc/PID/smaps_rollup`: shared pages divided among the "
            "processes mapping them) of the writer and a reader that has answered searches, and "
            "the growth of the instance's total when a second reader starts. A reader maps "
            "each sealed segment's documents file read-only (columns, text and vectors) and, for "
            "Flat, searches the mapped vectors in place without reading the index file "
            "(reader/segindex.h; IVF maps its inverted lists, HNSW reads only its graph), so "
            "the page cache holds a segment once for every reader: a second reader adds its "
            "own bookkeeping, not another copy. The tail is shared memory, mapped by all. The "
            "baseline is a process holding a FAISS Flat index of the same rows. `added reader "
            "serving` is the time from starting that second reader to its saying it serves "
            "(every segment mapped and checked, its views built), against FAISS's read_index of "
            "a Flat index of the same rows.")


def _recovery(bench, rows):
    return ("The writer is killed with SIGKILL and restarted until it serves: it loads the "
            "manifest, replays the log written since the last seal into a new tail and reopens "
            "the ring; it does not load sealed segments. So restart time follows the log "
            "length, not the index size. The baseline loads a saved FAISS Flat index of the "
            "collection (`read_index`, from the page cache), what an in-process service "
            "restarting would do at least.")


def _original(bench, rows):
    return ("The failure's workload: 12 writers add batches of 1..10 documents (ack "
            "`durable`, the default) and 4 searchers search k=4, for %g s, everyone as fast as "
            "they can. roost runs with default settings, one broker and two readers; lost = "
            "acknowledged ids missing from `roost-dump`; crashes = roost processes that "
            "exited. The baselines run in process under one global lock: C on roost's FAISS "
            "build, and Python with Debian's python3-faiss (built without SIMD) doing "
            "LangChain's `from_documents` + `merge_from`. Each index grows as fast as its "
            "writers add, so searches/s also reflects how large each index became (see "
            "docs/s)." % bench.p["original_s"])


def _deleted(bench, rows):
    p = bench.p
    return ("Documents with their own ids (`k<row>`) are loaded into one segment of %s rows "
            "(`--seal-docs %d`, sealed by age once the load is done, so the segment is whole), "
            "then the rows r with r %% 10 = 0 are deleted by id through libroost (10%%), later "
            "those with r %% 10 < 5 (50%%). Deletes since the last seal are tombstones in the "
            "tail's log, which every search applies; a seal (here: a far-away sentinel document "
            "added, and the tail sealed %.1f s later by age) writes them to the collection's "
            "tombstone file, whose rows a reader marks once when it loads it. Both states are "
            "measured, and the mixed one. The baseline searches, in process and with one "
            "thread, an index built from the surviving rows only (IVF trained on the same first "
            "rows as roost's), which gives the same answers; compare the ratios with those of "
            "figure 3, where nothing is deleted. Recall@10 is against the exact neighbours "
            "among the survivors. Both sides search with the reader's defaults (figure 3); "
            "where deletes leave a query's visited lists with fewer than 10 live rows, roost "
            "scans the segment exactly to return 10 hits (reader/search.h), so its recall "
            "rises and its rate falls while the baseline returns fewer hits." % (
                human_count(p["search_rows"]), p["search_rows"], p["deleted_seal_ms"] / 1e3))


def _filtered(bench, rows):
    p = bench.p
    return ("One Flat segment of %s documents with metadata `{\"user\": \"u<row %% %d>\"}`; "
            "searches carry the condition user = \"u7\" (`struct roost_condition`), which 1%% "
            "of the rows meet, twice: with `user` not indexed, each search evaluates the "
            "condition on every row's JSON metadata; with `--indexed-keys user`, the reader's "
            "index of the segment (reader/mindex.c) gives the rows whose value is \"u7\" and "
            "only they are read. Since so few rows match, both then scan them exactly "
            "(reader/search.h). The baseline searches the same index file in "
            "process with `search_with_params` and an `IDSelectorBitmap` of the matching rows, "
            "built once before the clock (through reader/search_params_c.cpp, which FAISS "
            "1.7.3's C API lacks)." % (human_count(p["search_rows"]), p["filter_users"]))


def _writes(bench, rows):
    p = bench.p
    return ("16 clients (threads of `roost-bench-load`, as in figure 2), ack `durable`, each "
            "repetition at most %s documents or %.1f s, into a Flat instance loaded first with "
            "documents with their own ids (and a `user` in their metadata): `add` adds new ids, "
            "`upsert` re-adds existing ids chosen at random (the old versions end), `delete` "
            "deletes existing ids, each once. The baseline is one thread doing the same to an "
            "in-process `IDMap,Flat` index of as many rows, one call per batch: "
            "`add_with_ids`; `remove_ids` then `add_with_ids`; `remove_ids` (with an "
            "`IDSelectorBatch` of the batch's ids). FAISS's `remove_ids` on a Flat index "
            "compacts the whole array, so it costs the index's size per call whatever the "
            "batch; roost's delete appends a tombstone and leaves the row until compaction. "
            "Integer ids spare the baseline the key-to-id map a service with string ids "
            "would keep." % (human_count(p["writes_cap"]), p["ingest_s"]))


def _seals(bench, rows):
    return ("16 clients (threads of `roost-bench-load`, as in figure 2) add batches of 100 "
            "(ack `durable`) to a Flat instance with the default `--seal-docs` (8192) and "
            "no aged seals, %s documents per repetition, so that tails fill, freeze and are "
            "sealed, and sealed segments merge by size, while the writers go on. The measure "
            "is the slowest single add of the repetition (`seals` and `merges`: how many the "
            "writer logged while they added). The ingest thread freezes a full tail and goes "
            "on; a worker thread writes the segment and another merges segments, both at a "
            "lower CPU priority, so no add waits for a seal's or a merge's disk writes (a "
            "tail that fills while the last frozen one is still being written would, and the "
            "writer logs it: `seal_waits`, and the longest in ms). The baseline is the slowest "
            "`add` of the same batches into one in-process Flat index. Goal: under 50 ms.%s" % (
                human_count(bench.p["seal_rows"]), _closed_loop(rows)))


def _closed_loop(rows):
    """Little's law for figure 12: 16 clients that each wait for their add
    before the next keep 16 adds in flight, so the mean add takes 16 / the
    request rate whatever the seals do."""
    for r in rows:
        ex = r["extra"]
        if r["figure"] != "seals" or "vectors_per_s" not in ex or "p99_ms" not in ex:
            continue
        per_s = ex["vectors_per_s"]["median"] / r["params"]["batch"]
        return (" Each client sends its next batch once its last is acknowledged, so 16 adds "
                "are always in flight and the mean add takes 16 / %s requests/s = %s ms "
                "(Little's law) however seals go; the slowest add is the tail of that queue "
                "on 2 cores shared by the 16 client threads, the broker's workers and the "
                "writer's threads: p99 %s ms in this run. A slowest add under 50 ms needs "
                "that p99 far below it, that is more throughput per core (figure 2's CPU per "
                "document) or fewer clients per core." % (
                    num(per_s), num(16e3 / per_s), num(ex["p99_ms"]["median"])))
    return ""


def _alter(bench, rows):
    return ("A Flat collection of %s documents in the default layout (seals of 8192, merged "
            "at rest) is altered to another index type (`alter_collection`); the measure is "
            "the time from the request until the collection reports no segment left to "
            "rebuild (`rebuilding` 0). The writer's merger thread trains the new type on a "
            "sample of the segments' stored vectors where it needs training (IVF, "
            "`--train-docs` %s), then builds each segment's new index from its stored "
            "vectors and switches readers to it with a manifest; the tail left by the alter "
            "is sealed and rebuilt too. A client searches the collection all the while "
            "(`searches_ok`, `searches_failed`). The baseline trains (where needed) and "
            "builds the same index in process from the same vectors, with FAISS's threads on "
            "both cores, as the writer's." % (human_count(bench.p["alter_rows"]),
                                              human_count(bench.p["train"])))


def _fair(bench, rows):
    return ("Agents are clients of `roost-bench-load fair`, each its own agent with its own "
            "handle: 31 modest agents add one document, ack `durable`, 20 times a second "
            "each (spread over the period), for %.1f s on a new Flat instance; beside them "
            "4 clients of one flooding agent add batches of 100 as fast as they can. The "
            "measure is the modest agents' p99 add latency, with the flood and without a "
            "limit, then with the broker's `--agent-rate 200` (a token bucket per agent: "
            "the flooder's adds over it are refused as busy and libroost retries them, "
            "giving up after 1 s in this client); the baseline is the same agents without "
            "the flood, in this run. `flood_vectors_per_s` is what the flooding agent got "
            "in." % bench.p["fair_s"])


def _history(bench, rows):
    return ("A Flat instance gets %s keyed documents, sealed into one segment, and its "
            "published LSN is noted; then a fifth of the documents are deleted by id and a "
            "seal writes the deletes into the tombstone file (a quarter would have "
            "compaction drop those rows, and the history before the deletes with them: "
            "reads as of the noted LSN would then be refused with `EHISTORY`). The measure "
            "is the QPS of searches as of the noted LSN (`as_of_lsn`: every document "
            "visible again; their recall is against all of them), with 1 reader; the "
            "baseline is the same searches of the instance now (recall against the "
            "documents left), in this run. A search as of an LSN builds its own bitmap of "
            "each segment's rows (a bit per row, and a pass over the tombstones that ended "
            "below the LSN), where one of now shares the view's; it also scans a quarter "
            "more rows here. Yet the searches of now were the slower ones in this run: they "
            "search the segment through the view's bitmap of the rows left, and took about "
            "twice as long per query as the same segment with every row visible, both in "
            "FAISS's distance loop (`fvec_L2sqr`) by the profile; why that bitmap costs so "
            "much is not understood yet." % human_count(bench.p["search_rows"]))


def _fork(bench, rows):
    return ("A Flat collection in the default layout (seals of 8192, merges at rest off) is "
            "grown to %s documents in turn. At each size a first fork seals the tail "
            "(its time is `first_fork_ms`, the tail's rows `tail_rows`) and is dropped; then, "
            "%d times, the sealed collection is forked as of now with `roost collections "
            "fork` and the fork dropped, and the data directory is copied with `cp -a`, the "
            "baseline. The measure is the command's wall time: the writer links each segment "
            "file under the fork's names, stores a manifest, copies the source's map of keys "
            "in memory, opens a tail and lists the fork; the command's own start and "
            "connection are in it. The copy's time is cp's, with a warm page cache and no "
            "fsync, so it is a floor for a durable copy. Disk added is the fork's files that "
            "no other name links (a fork as of an earlier LSN adds its own tombstone file): "
            "none here; the copy's is its size." % (
                " and ".join(human_count(n) for n in bench.p["fork_points"]), bench.reps))


def _retention(bench, rows):
    return ("A Flat instance (default layout, merges at rest) gets %s keyed documents, then "
            "the same ids again (every first version replaced: an ended version per "
            "document), acknowledged durable; once its seals and merges at rest are done, "
            "the data directory's disk (du's count) with `roost up --retain all`, next to "
            "the same workload without retention (the baseline), in this run. Without "
            "retention the merges drop the replaced rows and the seals delete the log behind "
            "them; with it, both stay, so the difference is the cost of keeping every "
            "version: the extra `mb_per_million_ended` is it per million ended versions (MB), "
            "and `log_mb` the log kept (each batch's vectors and texts again, in the log's "
            "own format)." % human_count(bench.p["retention_rows"]))


def _readers(bench, rows):
    return ("On each default-layout instance of figure 3 (after its searches), one more "
            "reader is started (timed until it logs that it serves), searched a little so "
            "that its pages are faulted in, and stopped; the row is the growth of the summed "
            "proportional set size of every roost process. Readers map segments' documents "
            "files and IVF lists and read HNSW graphs (docs/storage.md section 5). The "
            "baseline is what one more in-process copy of the segments' indexes would hold: "
            "their FAISS index files' bytes, or for Flat (whose index file is FAISS's header "
            "alone, store/flatidx.h) their vectors' bytes. Goals (at 1M): at most 0.10 of it "
            "for Flat and IVF, 0.25 for HNSW32. IVF1024,Flat is also measured at %s "
            "documents; HNSW32 only at 100k, since building its graph over 1M rows on this "
            "machine would take longer than the whole run. Flat at 1M is figure 6."
            % human_count(bench.p["readers_large_rows"]))


def _goals(bench, rows):
    return ("Local clients search readers directly (one hop: client → reader; figure 3's "
            "rows marked `through a broker` take two). The bare transport is "
            "`roost-bench-echo`: a server process answering %d-byte frames on a raw REP "
            "socket with two threads (its best rate here: an echo gains nothing from more "
            "threads, while a reader's 8 workers keep the cores busy between hand-offs), and "
            "REQ clients, measured in this "
            "run. **1 client**: the goal is roost's median latency within in-process FAISS's "
            "median + one echo round trip + 0.1 ms: a ratio of at most 1. **16 clients**: "
            "the goal is roost's QPS at least 0.7 of the lesser of every core of in-process "
            "search (cores × its single-thread QPS) and the echo's rate with the search time "
            "added to each request: a ratio of at least 0.7. The echo's 16 clients keep every "
            "core busy, so its rate is the machine's and a search adds its single-thread time "
            "divided by the cores: the bound is 1 / (1 / echo rate + search time / cores). "
            "Both on the one-segment layout with 1 reader." % bench.notes.get("echo_frame", 1600))


EXPLAIN = {"ring": _ring, "ingest": _ingest, "search": _search, "goals": _goals,
           "readers": _readers,
           "fresh": _fresh,
           "publish": _publish, "memory": _memory, "recovery": _recovery,
           "original": _original, "deleted": _deleted, "filtered": _filtered,
           "writes": _writes, "seals": _seals, "alter": _alter, "fair": _fair,
           "history": _history, "fork": _fork, "retention": _retention}

WHY = {
    "ring": ("each record pays a compare-and-swap on the shared reserve cursor, its header's "
             "and state's stores into lines the consumer reads, the consumer's zeroing of the "
             "bytes it releases and, while the consumer sleeps, a futex wake; memcpy pays "
             "only bytes, into a private buffer",
             "claim several records per producer in one compare-and-swap (a broker with "
             "several requests ready)"),
    "ingest": ("a request crosses two processes and two SP hops, is protobuf-encoded "
               "and decoded, validated and copied into the ring; `durable` adds the group's "
               "fdatasync and `visible` the index add, while FAISS's own add is one copy",
               "batch on the client (libroost could coalesce concurrent adds), let the writer "
               "wait a few hundred microseconds to grow its groups, and pipeline requests "
               "instead of one outstanding call per handle"),
    "search": ("every query crosses a process boundary and back (client → reader; through "
               "a broker, client → broker → search device → reader), with the request "
               "decoded and checked and the hits' texts copied into protobuf; the FAISS "
               "search itself is the same",
               "send several queries per request, and skip copying fields the client did "
               "not ask for"),
    "goals": ("as for figure 3: one process boundary each way, protobuf, the view's "
              "lookup and the hits' copies, on top of what the echo pays",
              "send several queries per request; answer from the reader's thread without a "
              "hand-off"),
    "search-tail": ("the default layout is several segments (size tiers merge four of a "
                    "size, so up to three of each tier stay apart) and a tail of at most "
                    "`--seal-docs` rows: each query searches every segment's index and scans "
                    "the tail exactly, where the baseline searches one index",
                    "merge more eagerly when the collection is idle (one segment per tier), "
                    "and index the tail incrementally in the reader"),
    "fresh": ("visibility is immediate in shared memory, but seeing it costs a search round "
              "trip through two processes, against a function return in process",
              "notify clients of the published LSN with the add's reply (ack `visible`), or "
              "answer min_lsn searches from the broker's own view of the watermark"),
    "publish": ("a seal writes the vectors twice (the index and the documents file), "
                "checksums them, and fsyncs two files, a manifest and a directory, while the "
                "ingest loop waits",
                "keep vectors once (rebuild the index from the documents file, or read them "
                "back from a Flat index), and seal in a background thread while a new tail "
                "takes writes"),
    "memory": ("readers map segments' files, so the page cache holds them once; what each "
               "reader holds of its own is its views (live-row bitmaps, indexed keys) and "
               "its share of the pages it faulted in, counted in its PSS",
               "nothing structural; drop views sooner after a seal"),
    "readers": ("an HNSW graph is read into each reader (FAISS 1.7.3 cannot map it); IVF "
                "readers hold the quantizer and list sizes; every reader holds its views",
                "map HNSW graphs too (a shim over FAISS's HNSW storage)"),
    "recovery": ("the writer replays and re-applies the whole log since the last seal",
                 "seal (checkpoint) by log size as well as by document count"),
    "original": ("each writer waits for its batch's fsync and two hops, where the in-process "
                 "writer only waits for the lock",
                 "the same as for ingest: bigger groups, client-side batching"),
    "deleted": ("besides the hops of figure 3, every search looks up every tombstone of the "
                "tail's log (and copies the live-row bitmap of each segment those end rows "
                "of; the tombstone file's bitmaps are built once per view); then it searches "
                "through an "
                "`IDSelectorBitmap`, which FAISS 1.7.3's Flat search tests row by row outside "
                "its faster unfiltered kernel (in process the same selector halves Flat's "
                "rate), and IVF lists that deletes leave short send queries to an exact scan",
                "update each view's live bitmaps as the tombstone log grows instead of per "
                "search, and compact segments with many dead rows so indexes hold survivors "
                "only"),
    "filtered": ("metadata is not indexed: every search parses every row's JSON metadata to "
                 "test the condition before it scans the 1% that match, where the baseline "
                 "is handed the matching rows' bitmap",
                 "index metadata keys (a posting list or bitmap per value, per segment, built "
                 "at seal), or at least cache each segment's parsed values of the keys "
                 "filters name"),
    "writes": ("each request crosses two processes and waits for the log's fsync, as adds "
               "do, while FAISS copies the vectors once",
               "the same as for ingest: bigger groups, client-side batching"),
    "seals": ("an add waits for its group's write and fdatasync of the log: 16 writers of "
              "100 documents of 1.5 KiB make groups of about 2.4 MB, and one such step took "
              "26 to 61 ms when timed in the writer during this figure (the merger's writes "
              "share the disk), so an add that arrives just as a group starts waits for "
              "about two; an in-process add is a copy",
              "a faster log device, or groups capped by a latency target rather than by the "
              "ring's contents (writing the background files in paced steps with "
              "sync_file_range was measured and changed nothing)"),
    "fair": ("the limited flood still costs the writer the refused requests' decoding and "
             "the libroost retries' round trips, and its admitted batches of 100 take their "
             "place in the groups the modest agents' adds wait for",
             "refuse before decoding the whole request, or hold an agent's requests in the "
             "broker instead of refusing them"),
    "alter": ("the writer rebuilds one segment at a time at a lower CPU priority and "
              "switches each with a manifest, while a client searches; the baseline builds "
              "one index of every row at once",
              "rebuild several small segments per job"),
}


def closing(bench, rows):
    out = ["## Where roost is far from its baseline, and why", ""]
    for r in worst(rows):
        key = "search-tail" if r["figure"] == "search" and "default:" in r["config"] else r[
            "figure"]
        why, fix = WHY.get(key, ("", ""))
        out.append("- **%s, %s, %s**: %.3g× the baseline. Why: %s. What would close it: %s." % (
            TITLES.get(r["figure"], r["figure"]), r["config"], r["metric"], badness(r), why,
            fix))
    out += [""] + _profile(bench.notes.get("profile"), "Profile of the worst case")
    if bench.notes.get("profile_write"):
        out += [""] + _profile(bench.notes["profile_write"], "Profile of the write path")
    if bench.notes.get("profile_batch"):
        out += [""] + _profile(bench.notes["profile_batch"], "Profile of batches of 100, "
                               "ack durable", "batch")
    return out


def _profile(prof, title, reading=None):
    out = ["## " + title, ""]
    if not prof:
        return out + ["Not run (`--only` left it out)."]
    if prof.get("error"):
        return out + ["No profile: %s." % prof["error"]]
    out += [
        "`perf stat -e instructions true` reports the hardware counters as not supported in "
        "this KVM guest, so the profile samples the `cpu-clock` software timer instead "
        "(`perf record -a -g -e cpu-clock`), which works and, unlike callgrind, also sees "
        "kernel time (futexes, sockets, fsync). Profiled case: %s, %s (%s), run again as `%s`; "
        "samples of roost's processes and the load generator, by process, library and "
        "function, 1%% and above:" % (TITLES.get(prof["figure"], prof["figure"]),
                                        prof["config"], prof["metric"], prof["command"]),
        "", "```"] + prof["top"] + ["```", "", "By process:", "", "```"] + prof["by_process"] + [
            "```", "", "How to read it: " + PROFILE_READING.get(reading or prof["figure"],
                                                                _SWITCHES)]
    return out


_SWITCHES = ("Kernel symbols such as `finish_task_switch` and `_raw_spin_unlock_irq*` are "
             "threads being woken and switched, which every hop costs; on 2 shared cores a "
             "wake-up can also wait for a time slice, which is what the tails (p99) show. ")
PROFILE_READING = {
    "fresh": _SWITCHES + (
        "The hops here: client → broker worker → search device → reader worker and back, "
        "and futex waits on the watermarks. `search__match` is the reader evaluating the "
        "probe's filter row by row over every segment and the tail (there is no index on "
        "agent, time or kind), `fvec_L2sqr` the exact scan of the tail."),
    "ingest": _SWITCHES + (
        "The hops here: client → broker worker, the writer woken by the ring, the broker "
        "woken by the durable watermark. `protobuf_c_*` is the wire codec, `memcpy` the copy "
        "into the ring, ext4/jbd2/block symbols the group's fdatasync."),
    "batch": (
        "Here requests are few and large, so hops matter less than bytes: each document "
        "is encoded by the client (`protobuf_c_*`), decoded, validated and copied into the "
        "ring by the broker (`memcpy`, the validators), copied into the log with its "
        "checksum (`crc32c__hw`) and written (`copy_folio_from_iter_atomic` is the kernel "
        "copying a `write` into the page cache; ext4 and block symbols the fdatasync), "
        "then appended to the tail, and rewritten by its seal and later merges into "
        "documents files (the writer's sealer and merger threads, at a lower priority), "
        "which `segment__rows_ok` checks where they are written and where readers map "
        "them. FAISS's own add copies each vector once, on one core, while here "
        "16 client threads, the broker and the writer share two. "),
    "ring": _SWITCHES + (
        "Here the switches are the consumer sleeping on the data futex when it has polled "
        "the next record for a few microseconds in vain, and producers sleeping when the "
        "ring is full; `ring_claim` is the compare-and-swap on the reserve cursor, "
        "`ring_read` the consumer's polling."),
}
