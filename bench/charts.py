"""Charts of a benchmark run, drawn from its rows (docs/benchmarks.json)
with Debian's python3-matplotlib as PNG files beside the report, which
shows each under its figure:

    ingest     vectors/s against clients, per ack mode and batch size
    latency    add latency p50 and p99 against clients, per ack mode
    search     QPS against recall@10, per index and layout
    fresh      ack-to-visible time against the collection's size

Every point is a median, with the run's min-max as an error bar; in-process
FAISS is drawn beside roost wherever the figure has it.

    charts.py BENCHMARKS.json [OUT_PREFIX]    (default: the JSON's prefix)
"""
import json
import os
import re
import sys

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402

ACKS = ("queued", "durable", "visible")
COLOURS = {"queued": "tab:blue", "durable": "tab:orange", "visible": "tab:green"}
SEARCH_ROW = re.compile(r"^(?P<index>.+?), (?P<layout>1 segment \+ 1-doc tail|default: [^,]+), "
                        r"1 reader, (?P<clients>\d+) clients?$")
DPI = 110


def _errbar(ax, xs, stats, **kw):
    ys = [s["median"] for s in stats]
    lo = [s["median"] - s["min"] for s in stats]
    hi = [s["max"] - s["median"] for s in stats]
    ax.errorbar(xs, ys, yerr=[lo, hi], capsize=3, marker="o", **kw)


def _save(fig, prefix, name):
    path = "%s-%s.png" % (prefix, name)
    fig.tight_layout()
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return os.path.basename(path)


def _flat_ingest(rows):
    """Figure 2's Flat rows, once each (they repeat per baseline)."""
    return [r for r in rows if r["figure"] == "ingest" and r["metric"] == "vectors/s"
            and (r["params"] or {}).get("index") == "Flat" and r["baseline_short"] == "Flat add"]


def ingest(rows, prefix):
    flat = _flat_ingest(rows)
    batches = sorted({r["params"]["batch"] for r in flat})
    if not batches:
        return None
    fig, axes = plt.subplots(1, len(batches), figsize=(4.2 * len(batches), 3.6), squeeze=False)
    for ax, batch in zip(axes[0], batches):
        base = None
        for ack in ACKS:
            sel = sorted((r for r in flat if r["params"]["batch"] == batch
                          and r["params"]["ack"] == ack), key=lambda r: r["params"]["clients"])
            if sel:
                _errbar(ax, [r["params"]["clients"] for r in sel], [r["roost"] for r in sel],
                        label="roost, ack " + ack, color=COLOURS[ack])
                base = sel[0]["baseline"]
        if base:
            ax.axhline(base["median"], color="grey", linestyle="--",
                       label="FAISS Flat add, in process")
        ax.set(title="batch %d" % batch, xscale="log", yscale="log", xlabel="clients",
               ylabel="vectors/s")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return _save(fig, prefix, "ingest")


def latency(rows, prefix):
    flat = [r for r in _flat_ingest(rows) if r["params"]["batch"] == 1 and r["extra"]]
    if not flat:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for ack in ACKS:
        sel = sorted((r for r in flat if r["params"]["ack"] == ack),
                     key=lambda r: r["params"]["clients"])
        if not sel:
            continue
        xs = [r["params"]["clients"] for r in sel]
        _errbar(ax, xs, [r["extra"]["p50_ms"] for r in sel], color=COLOURS[ack],
                label="ack %s p50" % ack)
        _errbar(ax, xs, [r["extra"]["p99_ms"] for r in sel], color=COLOURS[ack],
                linestyle=":", label="ack %s p99" % ack)
    ax.set(title="single-document adds", xscale="log", yscale="log", xlabel="clients",
           ylabel="latency (ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, ncol=2)
    return _save(fig, prefix, "latency")


def search(rows, prefix):
    found = []
    for r in rows:
        m = SEARCH_ROW.match(r["config"]) if r["figure"] == "search" else None
        if m and r["metric"] == "QPS" and (r["extra"] or {}).get("recall"):
            found.append((m.group("index"), m.group("layout"), int(m.group("clients")), r))
    if not found:
        return None
    clients = sorted({c for _, _, c, _ in found})
    indexes = sorted({i for i, _, _, _ in found})
    markers = dict(zip(indexes, "osD^v"))
    fig, axes = plt.subplots(1, len(clients), figsize=(5 * len(clients), 4), squeeze=False)
    for ax, c in zip(axes[0], clients):
        for index, layout, cl, r in found:
            if cl != c:
                continue
            one = layout.startswith("1 segment")
            ax.plot(r["extra"]["recall"]["median"], r["roost"]["median"], markers[index],
                    color="tab:blue" if one else "tab:red", fillstyle="full" if one else "none",
                    label="%s, %s" % (index, "one segment" if one else "default layout"))
            if one and r["extra"].get("base_recall"):
                ax.plot(r["extra"]["base_recall"]["median"], r["baseline"]["median"],
                        markers[index], color="grey", label="%s, FAISS in process, 1 thread"
                        % index)
        ax.set(title="%d client%s, 1 reader" % (c, "" if c == 1 else "s"), yscale="log",
               xlabel="recall@10", ylabel="queries/s")
        ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return _save(fig, prefix, "search")


def fresh(rows, prefix):
    sel = [r for r in rows if r["figure"] == "fresh" and (r["params"] or {}).get("n")]
    if not sel:
        return None
    fig, ax = plt.subplots(figsize=(6, 3.8))
    for metric, style in (("ack-to-visible p50", "-"), ("ack-to-visible p99", ":")):
        pts = sorted((r for r in sel if r["metric"] == metric), key=lambda r: r["params"]["n"])
        if not pts:
            continue
        xs = [r["params"]["n"] for r in pts]
        _errbar(ax, xs, [r["roost"] for r in pts], linestyle=style, color="tab:blue",
                label="roost, " + metric)
        if all(r["baseline"] for r in pts):
            _errbar(ax, xs, [r["baseline"] for r in pts], linestyle=style, color="grey",
                    label="FAISS in process, " + metric)
    ax.set(title="freshness", xscale="log", yscale="log", xlabel="documents",
           ylabel="ack to visible (ms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, prefix, "fresh")


CHARTS = {"ingest": (ingest, latency), "search": (search,), "fresh": (fresh,)}


def draw(rows, prefix):
    """{figure: [PNG file names]} for the figures these rows have."""
    out = {}
    for fig, makers in CHARTS.items():
        names = [n for n in (make(rows, prefix) for make in makers) if n]
        if names:
            out[fig] = names
    return out


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        sys.exit(__doc__)
    src = sys.argv[1]
    with open(src) as f:
        doc = json.load(f)
    prefix = sys.argv[2] if len(sys.argv) == 3 else os.path.splitext(src)[0]
    for fig, names in draw(doc["rows"], prefix).items():
        print(fig, " ".join(names))
