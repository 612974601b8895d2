"""The JSON form of the protocol against real processes: nanocat (Debian's
nanomsg-utils) and ctypes nanomsg sockets talk JSON to a broker and to a
reader, collections included; malformed JSON gets a clear JSON error and
changes nothing."""
import json
import os
import shutil
import subprocess

import pytest

import wire

DIM = 3
NANOCAT = shutil.which("nanocat")
ENOCOLL, EEXIST, EINVAL, EDIM = -27, -5, -1, -10


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
     "search, status, create_collection, drop_collection, alter_collection, list_collections, "
     "delete_docs, get_docs, scroll or fork_collection"),
    (b'{"version":1,"search":{"dim":3,"queries":[[1,0,0],[1,0]],"k":1}}', -10,
     "search.queries[1]: query has 2 values but dim is 3"),
    (b'   {"version":1,"status":{}} trailing', -14, "after the top-level object"),
    # Collections: what JSON refuses, and what the server does in its stead.
    (b'{"version":1,"create_collection":{"settings":{"dim":2},"client_id":1,"seq":1}}', EINVAL,
     "a collection name is empty"),
    (b'{"version":1,"create_collection":{"name":"_x","settings":{"dim":2},"client_id":1,'
     b'"seq":1}}', EINVAL, "collection name '_x' must start with a letter or a digit"),
    (b'{"version":1,"create_collection":{"name":"x","settings":{"dim":2}}}', EINVAL,
     "missing idempotency key"),
    (b'{"version":1,"create_collection":{"name":"x","client_id":1,"seq":1}}', EDIM,
     "settings.dim must be 1 to 4096, not 0"),
    (b'{"version":1,"create_collection":{"name":"x","settings":{"dim":2,"seal_docs":1},'
     b'"client_id":1,"seq":1}}', EINVAL, "settings.seal_docs must be 0"),
    (b'{"version":1,"create_collection":{"name":"x","settings":{"dim":2,"metric":"cosine"},'
     b'"client_id":1,"seq":1}}', EINVAL,
     "create_collection.settings.metric: unknown metric; use l2 or ip"),
    (b'{"version":1,"create_collection":{"name":"x","settings":{"dim":2,"metric":1}}}', EINVAL,
     "settings.metric: expected a string, found a number"),
    (b'{"version":1,"create_collection":{"name":"x","settings":{"dim":"2"}}}', EINVAL,
     "create_collection.settings.dim: expected a number, found a string"),
    (b'{"version":1,"create_collection":{"name":"x","settings":null}}', EINVAL,
     "create_collection.settings: expected an object, found null"),
    (b'{"version":1,"create_collection":{"name":"x","dim":2}}', EINVAL,
     "create_collection.dim: unknown field (create_collection takes name, settings, "
     "client_id, seq, timeout_ms)"),
    (b'{"version":1,"create_collection":{"name":"x","name":"y"}}', EINVAL,
     "create_collection.name: duplicate field"),
    (b'{"version":1,"drop_collection":{"name":"default"}}', EINVAL, "missing idempotency key"),
    (b'{"version":1,"drop_collection":{"client_id":1,"seq":1}}', EINVAL,
     "a collection name is empty"),
    (b'{"version":1,"drop_collection":{"name":"nope","client_id":1,"seq":1}}', ENOCOLL,
     "no collection 'nope' in instance"),
    (b'{"version":1,"drop_collection":{"name":7,"client_id":1,"seq":1}}', EINVAL,
     "drop_collection.name: expected a string, found a number"),
    (b'{"version":1,"list_collections":{"name":"x"}}', EINVAL,
     "list_collections.name: unknown field (list_collections takes no fields)"),
    (b'{"version":1,"list_collections":{},"status":{}}', EINVAL, "exactly one operation"),
    (b'{"version":1,"status":{"collection":"nope"}}', ENOCOLL, "no collection 'nope'"),
    (b'{"version":1,"status":{"collection":null}}', EINVAL,
     "status.collection: expected a string, found null"),
    (b'{"version":1,"add":{"collection":"nope","dim":3,"docs":[{"vector":[1,0,0]}],'
     b'"client_id":1,"seq":1}}', ENOCOLL, "no collection 'nope' in instance"),
    (b'{"version":1,"add":{"collection":"a b","dim":3,"docs":[{"vector":[1,0,0]}],'
     b'"client_id":1,"seq":1}}', EINVAL, "may hold only letters, digits"),
    (b'{"version":1,"search":{"collection":"nope","dim":3,"queries":[[1,0,0]],"k":1}}', ENOCOLL,
     "no collection 'nope' in instance"),
    (b'{"version":1,"search":{"collection":["x"],"dim":3,"queries":[[1,0,0]],"k":1}}', EINVAL,
     "search.collection: expected a string, found an array"),
]


@pytest.mark.parametrize("frame,status,text", BAD, ids=[b[2] for b in BAD])
def test_malformed_json_clear_error_nothing_changes(inst, frame, status, text):
    before = call(inst, STATUS)["status_reply"]
    r = call(inst, frame)
    assert r["status"] == status, r
    assert text in r["message"], r
    assert not {"add", "search", "status_reply", "collection", "collections"} & set(r)
    after = call(inst, STATUS)["status_reply"]
    assert after["ring_reserve"] == before["ring_reserve"]
    assert after["documents"] == before["documents"] == 0
    assert [c["name"] for c in after["collections"]] == ["default"]


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
    assert r["status"] == -15 and "readers serve searches, gets and scrolls only" in r["message"]


def create(name, seq, client_id=7, **settings):
    return json.dumps({"version": 1, "create_collection": {
        "name": name, "settings": settings, "client_id": client_id, "seq": seq}})


def drop(name, seq, client_id=7):
    return json.dumps({"version": 1, "drop_collection": {
        "name": name, "client_id": client_id, "seq": seq}})


def alter(name, seq, client_id=7, **fields):
    return json.dumps({"version": 1, "alter_collection": dict(
        fields, name=name, client_id=client_id, seq=seq)})


LIST = '{"version":1,"list_collections":{}}'
DEFAULTS = {"train_docs": 65536, "seal_docs": 8192, "seal_interval_ms": 10000,
            "indexed_keys": []}


def test_create_list_status_drop(inst):
    """A collection's life in JSON: created (a retry and a create of the
    same settings succeed, other settings fail), listed, described by
    status, and dropped; the replies are the .proto's, field by field."""
    r = call(inst, create("posts", 1, dim=2, metric="ip", index="Flat"))
    assert r["status"] == 0, r
    info = {"name": "posts", "id": 2, "documents": 0, "segments": 0, "rebuilding": 0,
            "settings": dict(DEFAULTS, dim=2, metric="ip", index="Flat")}
    lsn = r["collection"]["lsn"]
    assert r == {"version": 1, "status": 0, "message": "", "collection": {
        "lsn": lsn, "collection": dict(info, created_lsn=lsn, history_start_lsn=lsn + 1,
                                       history_bytes=0), "existed": False}}
    info.update(created_lsn=lsn, history_start_lsn=lsn + 1, history_bytes=0)
    # A retry with the same key gets the same reply; a new create of the
    # same settings finds it there; one of other settings is refused.
    assert call(inst, create("posts", 1, dim=2, metric="ip", index="Flat")) == r
    again = call(inst, create("posts", 2, dim=2, metric="ip"))
    assert again["status"] == 0 and again["collection"] == {
        "lsn": lsn, "collection": info, "existed": True}, again
    other = call(inst, create("posts", 3, dim=2, metric="l2"))
    assert other["status"] == EEXIST and "exists with other settings" in other["message"]
    assert "collection" not in other

    listed = nanocat(inst, inst.broker_url(), LIST)
    assert listed["status"] == 0, listed
    default, posts = listed["collections"]["collections"]
    assert posts == info
    assert default["name"] == "default" and default["id"] == 1
    assert default["settings"] == dict(DEFAULTS, dim=DIM, metric="l2", index="Flat")

    st = call(inst, '{"version":1,"status":{"collection":"posts"}}')["status_reply"]
    assert (st["collection"], st["dim"], st["metric"], st["index"]) == ("posts", 2, "ip", "Flat")
    assert st["collections"] == [default, posts]
    st = call(inst, STATUS)["status_reply"]
    assert (st["collection"], st["dim"], st["metric"]) == ("default", DIM, "l2")
    assert (st["retain"], st["history_horizon_lsn"], st["history_log_bytes"]) == ("none", 0, 0)

    gone = call(inst, drop("posts", 4))
    assert gone == {"version": 1, "status": 0, "message": "", "collection": {
        "lsn": gone["collection"]["lsn"], "collection": info, "existed": False}}
    assert gone["collection"]["lsn"] > lsn
    assert call(inst, drop("posts", 5))["status"] == ENOCOLL
    r = call(inst, alter("posts", 6, index="HNSW32"))
    assert r["status"] == ENOCOLL and "no collection 'posts'" in r["message"] and \
        "to alter" in r["message"], r
    assert [c["name"] for c in call(inst, LIST)["collections"]["collections"]] == ["default"]
    r = call(inst, '{"version":1,"status":{"collection":"posts"}}')
    assert r["status"] == ENOCOLL and "no collection 'posts'" in r["message"], r


def test_fork_in_json(inst):
    """A fork in JSON: the new collection as the reply's, holding the
    source's documents as of the LSN named; a name taken is EEXIST."""
    added = call(inst, ADD)
    assert added["status"] == 0, added
    # A read's lsn, an end: every record below it (an add's lsn is its start).
    at = call(inst, '{"version":1,"scroll":{"limit":10}}')["scrolled"]["lsn"]
    call(inst, ADD.replace('"seq":1', '"seq":2'))
    fork = json.dumps({"version": 1, "fork_collection": {
        "name": "then", "source": "default", "as_of_lsn": at, "client_id": 7, "seq": 10}})
    r = call(inst, fork)
    assert r["status"] == 0, r
    info = r["collection"]["collection"]
    assert (info["name"], info["created_lsn"]) == ("then", r["collection"]["lsn"])
    assert info["settings"]["dim"] == DIM and r["collection"]["existed"] is False
    found = call(inst, '{"version":1,"scroll":{"collection":"then","limit":10}}')
    assert found["status"] == 0 and len(found["scrolled"]["docs"]) == 2, found
    again = call(inst, fork.replace('"seq": 10', '"seq": 11'))
    assert again["status"] == EEXIST and "exists" in again["message"], again


def test_indexed_keys_in_json(inst):
    """Indexed keys are an array in a create and in the infos that list
    the collection; another list for the same name is refused, and so is a
    bad one, with a message saying what is wrong, creating nothing."""
    r = call(inst, create("posts", 1, dim=2, indexed_keys=["user", "topic"]))
    assert r["status"] == 0, r
    assert r["collection"]["collection"]["settings"]["indexed_keys"] == ["user", "topic"]
    listed = {c["name"]: c for c in call(inst, LIST)["collections"]["collections"]}
    assert listed["posts"]["settings"]["indexed_keys"] == ["user", "topic"]
    assert listed["default"]["settings"]["indexed_keys"] == []
    again = call(inst, create("posts", 2, dim=2, indexed_keys=["user", "topic"]))
    assert again["status"] == 0 and again["collection"]["existed"], again
    other = call(inst, create("posts", 3, dim=2, indexed_keys=["topic"]))
    assert other["status"] == EEXIST and "indexed keys user,topic" in other["message"], other
    for seq, (bad, why) in enumerate(((["a", "a"], "name a key twice"),
                                      (["bad key"], "must each be 1 to 63"),
                                      ("user", "expected an array")), 4):
        r = call(inst, create("bad", seq, dim=2, indexed_keys=bad))
        assert r["status"] == EINVAL and why in r["message"], (bad, r)
    names = [c["name"] for c in call(inst, LIST)["collections"]["collections"]]
    assert names == ["default", "posts"]


def test_add_and_search_name_their_collection(inst):
    """Adds and searches in JSON reach the collection they name and no
    other; binary searches see what JSON added; after a drop, both get
    ENOCOLL."""
    assert call(inst, create("posts", 1, dim=2, metric="ip"))["status"] == 0
    add = ('{"version":1,"add":{"collection":"posts","dim":2,"docs":[{"vector":[0.6,0.8],'
           '"agent":7,"time":5,"kind":"k","text":"in posts"}],"client_id":7,"seq":2,'
           '"ack":"visible"}}')
    r = call(inst, add)
    assert r["status"] == 0, r
    doc = r["add"]["ids"][0]
    wrong = call(inst, add.replace('"dim":2', '"dim":3').replace('"seq":2', '"seq":3'))
    assert wrong["status"] == EDIM and "collection dimension is 2" in wrong["message"], wrong

    s = call(inst, '{"version":1,"search":{"collection":"posts","dim":2,"queries":[[1,0]],'
                   '"k":5,"min_lsn":%d}}' % doc)
    assert s["status"] == 0, s
    assert s["search"]["results"] == [{"hits": [
        {"id": doc, "score": 0.6, "agent": 7, "time": 5, "kind": "k", "text": "in posts"}]}]
    binary = inst.search([[1.0, 0.0]], k=5, collection="posts", min_lsn=doc)
    assert binary["status"] == 0 and [h["id"] for h in binary["results"][0]] == [doc]
    # The default collection holds nothing of it.
    s = call(inst, '{"version":1,"search":{"dim":3,"queries":[[1,0,0]],"k":5,"min_lsn":%d}}'
             % doc)
    assert s["status"] == 0 and s["search"]["results"] == [{"hits": []}], s
    s = call(inst, '{"version":1,"search":{"collection":"posts","dim":3,"queries":[[1,0,0]],'
                   '"k":5}}')
    assert s["status"] == EDIM, s

    assert call(inst, drop("posts", 4))["status"] == 0
    r = call(inst, add.replace('"seq":2', '"seq":5'))
    assert r["status"] == ENOCOLL and "no collection 'posts'" in r["message"], r
    s = nanocat(inst, inst.broker_url(),
                '{"version":1,"search":{"collection":"posts","dim":2,"queries":[[1,0]],"k":1}}')
    assert s == {"version": 1, "status": ENOCOLL,
                 "message": "no collection 'posts' in instance '%s'" % inst.name}


def test_refused_create_changes_nothing(inst):
    """A create the writer refuses (an index FAISS cannot build) comes back
    in JSON with FAISS's words, and leaves no collection behind."""
    r = call(inst, create("posts", 1, dim=2, index="PQ3"))
    assert r["status"] == EINVAL, r
    assert r["message"].startswith("create of collection 'posts' refused: index 'PQ3'")
    assert "FAISS says" in r["message"]
    assert [c["name"] for c in call(inst, LIST)["collections"]["collections"]] == ["default"]
