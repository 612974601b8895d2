"""The JSON form of the protocol against real processes: nanocat (Debian's
nanomsg-utils) and ctypes nanomsg sockets talk JSON to a broker and to a
reader; malformed JSON gets a clear JSON error and changes nothing."""
import json
import os
import shutil
import subprocess

import pytest

import wire

DIM = 3
NANOCAT = shutil.which("nanocat")


def nanocat(inst, url, text, bind=False, timeout=20):
    """One JSON request through nanocat; the parsed JSON reply."""
    assert NANOCAT, "nanocat is missing: install nanomsg-utils (scripts/deps.sh)"
    argv = [NANOCAT, "--req", "--bind" if bind else "--connect", url, "--data", text, "--raw",
            "--recv-timeout", str(timeout)]
    out = subprocess.run(argv, env=inst.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         timeout=timeout + 10)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.decode("utf-8"))


def call(inst, text):
    """One JSON request through a ctypes nanomsg REQ socket."""
    c = inst.client()
    try:
        raw = c.call_raw(text if isinstance(text, bytes) else text.encode())
    finally:
        c.close()
    return json.loads(raw.decode("utf-8"))


@pytest.fixture
def inst(make_instance):
    i = make_instance(dim=DIM)
    i.start_writer()
    i.start_broker(0)
    i.start_reader()
    return i


ADD = ('{"version":1,"add":{"dim":3,"docs":['
       '{"vector":[1,0,0],"agent":7,"time":1700000000,"kind":"tweet","text":"h\\u00e9llo \\"roost\\""},'
       '{"vector":[0,1,0],"agent":8,"time":1700000001,"kind":"news","text":"second"}],'
       '"client_id":18446744073709551615,"seq":1,"ack":"visible","timeout_ms":0}}')
SEARCH = ('{"version":1,"search":{"dim":3,"queries":[[1,0,0],[0,1,0]],"k":10,'
          '"filter":{"agents":[7,8],"time_min":0,"time_max":1800000000},"min_lsn":%d}}')
STATUS = '{"version":1,"status":{}}'


def test_nanocat_status_add_search(inst):
    st = nanocat(inst, inst.broker_url(), STATUS)
    assert st["status"] == 0 and st["message"] == ""
    assert st["status_reply"]["dim"] == DIM
    assert st["status_reply"]["metric"] == "l2"
    assert st["status_reply"]["writer_pid"] == inst.writer.pid
    assert st["status_reply"]["documents"] == 0

    r = nanocat(inst, inst.broker_url(), ADD)
    assert r["status"] == 0, r
    lsn, ids = r["add"]["lsn"], r["add"]["ids"]
    assert ids == [lsn, lsn + 1] and r["add"]["duplicate"] is False

    # A retry with the same key gets the same ids back, nothing added twice.
    again = nanocat(inst, inst.broker_url(), ADD)
    assert again["add"] == {"lsn": lsn, "ids": ids, "duplicate": True}

    s = nanocat(inst, inst.broker_url(), SEARCH % (lsn + 1))
    assert s["status"] == 0, s
    assert s["search"]["lsn"] > lsn + 1
    first, second = (q["hits"] for q in s["search"]["results"])
    assert [h["id"] for h in first] == [ids[0], ids[1]]
    assert first[0] == {"id": ids[0], "score": 0, "agent": 7, "time": 1700000000,
                        "kind": "tweet", "text": 'h\u00e9llo "roost"'}
    assert first[1]["score"] == pytest.approx(2.0)
    assert [h["id"] for h in second] == [ids[1], ids[0]]
    assert second[0]["text"] == "second" and second[0]["kind"] == "news"
    assert nanocat(inst, inst.broker_url(), STATUS)["status_reply"]["documents"] == 2


def test_json_and_binary_see_the_same_documents(inst):
    """JSON requests run the binary path's handling: a binary search finds
    what JSON added, and a JSON search what binary added."""
    r = call(inst, ADD)
    assert r["status"] == 0, r
    c = inst.client()
    try:
        b = c.call(wire.add_request(DIM, [wire.document([0, 0, 1], agent=9, time=5, kind="k",
                                                        text="binary")], 77, 1, ack=3))
    finally:
        c.close()
    assert b["status"] == 0, b
    binary = inst.search([[1, 0, 0]], k=3, min_lsn=b["add"]["lsn"])
    assert binary["status"] == 0, binary
    assert [h["id"] for h in binary["results"][0]][:1] == [r["add"]["ids"][0]]
    assert binary["results"][0][0]["text"] == 'h\u00e9llo "roost"'
    js = call(inst, '{"version":1,"search":{"dim":3,"queries":[[0,0,1]],"k":1,'
                    '"filter":{"kind":"k"}}}')
    assert js["search"]["results"][0]["hits"][0]["id"] == b["add"]["ids"][0]
    assert js["search"]["results"][0]["hits"][0]["text"] == "binary"


BAD = [
    # (frame, status, text in the message)
    (b'{"version":1,"add":{"dim":3,"docs":[{"vector":[1,0,0]}],', -14, "end of input"),
    (b'{"version":1,"add":{"dim":3,"docs":[{"vector":[1,0,0],"score":1}],"client_id":1,'
     b'"seq":1}}', -1, "add.docs[0].score: unknown field"),
    (b'{"version":1,"add":{"dim":3,"docs":[{"vector":[1,NaN,0]}],"client_id":1,"seq":1}}',
     -14, "add.docs[0].vector[1]"),
    (b'{"version":1,"add":{"dim":3,"docs":[{"vector":[1,1e39,0]}],"client_id":1,"seq":1}}',
     -11, "beyond float32 range"),
    (b'{"version":1,"add":{"dim":3,"docs":[{"vector":[1,0]}],"client_id":1,"seq":1}}',
     -10, "docs[0]: vector has 2 values, collection dimension is 3"),
    (b'{"version":1,"add":{"dim":4,"docs":[{"vector":[1,0,0,0]}],"client_id":1,"seq":1}}',
     -10, "request dim 4 but collection dimension is 3"),
    (b'{"version":1,"add":{"dim":3,"docs":[{"vector":[1,0,0],"text":"\xff"}],"client_id":1,'
     b'"seq":1}}', -13, "add.docs[0].text: string is not valid UTF-8"),
    (b'{"version":1,"add":{"dim":3,"docs":[{"vector":[1,0,0]}],"client_id":1,"seq":1,'
     b'"ack":"eventually"}}', -15, "unknown ack mode"),
    (b'{"version":1,"add":{"dim":3,"docs":[{"vector":[1,0,0]}]}}', -1,
     "missing idempotency key"),
    (b'{"version":2,"status":{}}', -6, "version 2 is not supported"),
    (b'{"version":1,"compact":{}}', -15, "compact: unknown field"),
    (b'{"version":1,"status":{},"add":{}}', -1, "a request sets exactly one operation: add, "
     "search, status, create_collection, drop_collection or list_collections"),
    (b'{"version":1,"search":{"dim":3,"queries":[[1,0,0],[1,0]],"k":1}}', -10,
     "search.queries[1]: query has 2 values but dim is 3"),
    (b'   {"version":1,"status":{}} trailing', -14, "after the top-level object"),
]


@pytest.mark.parametrize("frame,status,text", BAD, ids=[b[2] for b in BAD])
def test_malformed_json_clear_error_nothing_changes(inst, frame, status, text):
    before = call(inst, STATUS)["status_reply"]
    r = call(inst, frame)
    assert r["status"] == status, r
    assert text in r["message"], r
    assert "add" not in r and "search" not in r
    after = call(inst, STATUS)["status_reply"]
    assert after["ring_reserve"] == before["ring_reserve"]
    assert after["documents"] == before["documents"] == 0


def test_malformed_json_through_nanocat(inst):
    r = nanocat(inst, inst.broker_url(), '{"version":1,"status":{"verbose":true}}')
    assert r == {"version": 1, "status": -1,
                 "message": "status.verbose: unknown field (status takes collection) "
                            "(at byte 32 of the JSON text)"}


def test_reader_answers_json_directly(inst, tmp_path):
    """Readers accept JSON too: one connects to nanocat's bound REQ socket
    as it does to a broker, and answers in JSON."""
    assert call(inst, ADD)["status"] == 0
    url = "ipc://" + os.path.join(str(tmp_path), "direct.ipc")
    inst.start_reader(extra=["--connect", url])
    r = nanocat(inst, url, '{"version":1,"search":{"dim":3,"queries":[[0,1,0]],"k":1}}',
                bind=True)
    assert r["status"] == 0, r
    assert r["search"]["results"][0]["hits"][0]["text"] == "second"
    r = nanocat(inst, url, STATUS, bind=True)
    assert r["status"] == -15 and "readers serve search requests only" in r["message"]
