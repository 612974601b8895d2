"""The metrics endpoint (`roost up --metrics`): scraped under load and parsed
with Prometheus's own text parser (Debian's python3-prometheus-client);
its counters move with what the instance did."""
import json
import os
import re
import signal
import socket
import sys
import threading
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import BUILD, ROOT, shm_dir, wait_for
from test_cli import Cli, alive

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost  # noqa: E402

DIM = 4
SEAL = 4096


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(url):
    """{name: {labels as a sorted tuple: value}}, from every sample."""
    with urllib.request.urlopen(url, timeout=10) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return out


def total(m, name, **labels):
    return sum(v for k, v in m.get(name, {}).items()
               if all((key, val) in k for key, val in labels.items()))


def vec(i):
    return [float(i % 7), float(i % 11), float(i % 13), 1.0]


def test_metrics_under_load():
    c = Cli("met%d" % os.getpid())
    port = free_port()
    url = "http://127.0.0.1:%d/metrics" % port
    try:
        c.up("--dim", DIM, "--metrics", "127.0.0.1:%d" % port,
             "--writer-arg=--seal-docs=%d" % SEAL, "--writer-arg=--seal-interval-ms=0")
        before = scrape(url)
        assert total(before, "roost_readers") == 1
        assert total(before, "roost_process_up", process="writer-0") == 1
        assert total(before, "roost_add_requests_total") == 0
        target = "ipc://%s/broker-0.ipc" % c.run_dir
        counts = {"queued": 0, "durable": 0, "visible": 0}
        errors = []

        def agent(ack, first, batches):
            try:
                with roost.Roost(target, ack=ack) as db:
                    for b in range(batches):
                        n = 100
                        db.add([vec(first + b * n + i) for i in range(n)],
                               texts=["t"] * n)
                        counts[ack] += n
                        db.search([vec(b)], k=3)
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)

        threads = [threading.Thread(target=agent, args=(ack, i * 100000, 20))
                   for i, ack in enumerate(counts)]
        for t in threads:
            t.start()
        mid = scrape(url)  # while they add
        for t in threads:
            t.join()
        assert not errors, errors
        with roost.Roost(target) as db:
            try:
                db.add([[1.0, 2.0]], texts=["wrong dimension"])
            except roost.RoostError:
                pass
            else:
                raise AssertionError("a vector of the wrong dimension was accepted")
        docs = sum(counts.values())
        wait_for(lambda: total(scrape(url), "roost_seals_total") >= 1, 60, "a seal")
        after = scrape(url)
        for ack, n in counts.items():
            assert total(after, "roost_add_requests_total", ack=ack, outcome="ok") == n // 100
            # Every answered request is timed, whatever its outcome.
            assert total(after, "roost_add_duration_seconds_count", ack=ack) == \
                total(after, "roost_add_requests_total", ack=ack)
        assert total(after, "roost_add_requests_total", outcome="invalid") == 1
        assert total(after, "roost_added_documents_total") == docs
        assert total(after, "roost_added_bytes_total") > docs * DIM * 4
        assert total(after, "roost_collection_documents", collection="default") == docs
        assert total(after, "roost_documents") == docs
        assert total(after, "roost_reader_requests_total", outcome="ok") >= 60
        assert total(after, "roost_reader_request_duration_seconds_count") >= 60
        assert total(after, "roost_writer_groups_total") >= 1
        assert total(after, "roost_writer_logged_bytes_total") > docs * DIM * 4
        durable = total(after, "roost_lsn", mark="durable")
        assert durable > 0 and total(after, "roost_lsn", mark="published") <= durable
        assert total(after, "roost_ring_capacity_bytes") > 0
        # Counters never go back while the processes live.
        for name in ("roost_add_requests_total", "roost_added_documents_total",
                     "roost_reader_requests_total"):
            assert total(before, name) <= total(mid, name) <= total(after, name), name
        # Histogram buckets are cumulative and end with every request.
        buckets = sorted((float(dict(k)["le"]), v) for k, v in
                         after["roost_add_duration_seconds_bucket"].items()
                         if dict(k)["ack"] == "durable")
        values = [v for _, v in buckets]
        assert values == sorted(values)
        assert values[-1] == total(after, "roost_add_requests_total", ack="durable")

        # The shipped dashboard asks only for what the endpoint serves.
        with open(os.path.join(ROOT, "docs", "grafana-dashboard.json")) as f:
            exprs = [t["expr"] for p in json.load(f)["panels"] for t in p["targets"]]
        asked = {n for e in exprs for n in re.findall(r"\broost_[a-z_]+", e)}
        assert asked and asked <= set(after), asked - set(after)

        # Other paths and methods are refused.
        for req, code in ((urllib.request.Request(url.replace("/metrics", "/other")), 404),
                          (urllib.request.Request(url, data=b"x", method="POST"), 405)):
            try:
                urllib.request.urlopen(req, timeout=10)
                raise AssertionError("%s answered" % req.full_url)
            except urllib.error.HTTPError as e:
                assert e.code == code

        # A client that connects and says nothing holds the supervisor for
        # its deadline only: the next scrape and `roost status` are served.
        with socket.create_connection(("127.0.0.1", port)):
            assert total(scrape(url), "roost_writer_up") == 1
            assert c.status()["supervisor"]["state"] == "serving"

        # A killed reader's object goes with it; its restart is counted.
        reader = [p for p in c.procs("reader")][0]["pid"]
        os.kill(reader, signal.SIGKILL)
        wait_for(lambda: total(scrape(url), "roost_process_restarts_total",
                               process="reader-0") == 1, 60, "the reader's restart")
        wait_for(lambda: not alive(reader) and not os.path.exists(
            os.path.join(shm_dir(c.run_dir), "metrics.%d" % reader)), 60,
            "its metrics object gone")
    finally:
        c.cleanup()


def test_metrics_address_refused():
    c = Cli("metbad%d" % os.getpid())
    try:
        out = c.roost("up", "--data-dir", c.data, "--dim", DIM, "--metrics", "no-port")
        assert out.returncode == 1
        assert "metrics address 'no-port' is not HOST:PORT" in out.stderr, out.stderr
        with socket.socket() as held:
            held.bind(("127.0.0.1", 0))
            held.listen()
            where = "127.0.0.1:%d" % held.getsockname()[1]
            out = c.roost("up", "--data-dir", c.data, "--dim", DIM, "--metrics", where)
            assert out.returncode == 1
            assert "cannot listen for metrics on %s" % where in out.stderr, out.stderr
    finally:
        c.cleanup()
