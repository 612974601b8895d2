"""Collections: many named collections in one instance, through the real
writer, brokers and readers. Each has its own dimension, metric, index and
tail; LSNs stay one order across them; create and drop are records in the
log, replayed like adds."""
import itertools
import json
import os
import random
import signal
import threading

import agentdata
import wire
from conftest import Threads, collect_all, read_manifest, shm_objects, wait_for, waiting_readers
from test_cli import cli  # noqa: F401  (the fixture)

DIM = 16
POSTS_DIM = 8
ENOCOLL, EEXIST, EINVAL, EDIM = -27, -5, -1, -10


def tails(inst):
    """How many tail objects the instance's shared memory holds (named by
    a serial, not by collection)."""
    return len([o for o in shm_objects(inst.run_dir) if o.startswith("tail.")])


def by_collection(inst):
    """collection -> {id: DOC fields} of what roost-dump finds."""
    out = {}
    for name in inst.collections():
        out[name] = {d.split(" ", 1)[0]: d for d in inst.dump(name)}
    return out


def check_own_collection(inst, acked):
    """acked: collection -> {id: ACK fields}. Every acknowledged document
    is stored once, with its fields, in its own collection and no other."""
    inst.wait_published([i for docs in acked.values() for i in docs])
    stored = by_collection(inst)
    seen = {}
    for coll, docs in stored.items():
        for i in docs:
            assert i not in seen, "document %s in %s and %s" % (i, seen[i], coll)
            seen[i] = coll
    for coll, docs in acked.items():
        missing = [i for i in docs if i not in stored[coll]]
        assert not missing, "%s: %d acked documents missing, e.g. %s (found in %s)" % (
            coll, len(missing), missing[:3], [seen.get(i) for i in missing[:3]])
        wrong = [i for i in docs if stored[coll][i] != docs[i]]
        assert not wrong, (coll, wrong[:1], [stored[coll][i] for i in wrong[:1]])
        extra = set(stored[coll]) - set(docs)
        assert not extra, "%s holds documents nobody acked: %s" % (coll, sorted(extra)[:3])


def found_by_own_vector(inst, collection, dim, acked, ef_search=0):
    """Each acked document is the k=1 hit of its own vector among its
    agent's documents of that time (exactly one), through a reader."""
    for fields in acked.values():
        doc_id, agent, t, req, i = agentdata.parse_ack(fields)
        r = inst.search([agentdata.vector(agent, req, i, dim)], k=1, agents=[agent],
                        time_range=(t, t), collection=collection, ef_search=ef_search)
        assert r["status"] == 0, r
        hits = r["results"][0]
        assert hits and hits[0]["id"] == doc_id, (collection, doc_id, hits)


def test_two_collections_under_concurrent_load(make_instance):
    """Two collections that differ in dimension, metric and index type take
    adds from many agent processes through two brokers while searchers
    query both; each document ends up once, in its own collection only,
    and is found there through a reader."""
    inst = make_instance(dim=DIM, index="HNSW16", writer_args=["--seal-interval-ms", "300"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_broker(1)
    inst.start_reader()
    inst.start_reader()
    r = inst.create("posts", dim=POSTS_DIM, metric=1, index="Flat")
    assert r["status"] == 0 and not r["collection"]["existed"], r
    # Acknowledged: the other broker takes adds for it at once.
    first = inst.call(wire.add_request(POSTS_DIM, [wire.document([1.0] * POSTS_DIM, agent=99)],
                                       client_id=7, seq=1, collection="posts"), broker=1)
    assert first["status"] == 0 and first["add"]["lsn"] > r["collection"]["lsn"], first
    stop, answered, failures = threading.Event(), [], []

    def searcher(seed):
        rnd = random.Random(seed)
        while not stop.is_set():
            coll, dim = rnd.choice([("", DIM), ("posts", POSTS_DIM)])
            q = [rnd.uniform(-1, 1) for _ in range(dim)]
            r = inst.search([q], k=5, broker=seed % 2, collection=coll)
            (answered if r["status"] == 0 else failures).append(r)

    searchers = Threads()
    for s in range(3):
        searchers.start(searcher, s)
    loads = {"default": [inst.agent(a, requests=15, batch=(1, 40)) for a in range(3)],
             "posts": [inst.agent(10 + a, requests=15, batch=(1, 40), collection="posts",
                                  dim=POSTS_DIM) for a in range(3)]}
    acked = {c: {} for c in loads}
    for coll, procs in loads.items():
        for p in procs:
            acked[coll].update(collect_all(p))
    acked["posts"][str(first["add"]["ids"][0])] = None  # stored; not an agent's
    stop.set()
    searchers.join()
    assert not failures, failures[:3]
    assert answered
    stored = by_collection(inst)
    acked["posts"] = {i: f if f else stored["posts"][i] for i, f in acked["posts"].items()}
    check_own_collection(inst, acked)
    found_by_own_vector(inst, "", DIM, acked["default"], ef_search=4096)
    agent_docs = {i: f for i, f in acked["posts"].items() if " agent " in f}
    found_by_own_vector(inst, "posts", POSTS_DIM, agent_docs)
    # Both seal segments of their own, on the interval.
    ids = {c["id"] for c in inst.collections().values()}
    wait_for(lambda: {s["coll"] for s in read_manifest(inst.data, inst.name)["segments"]} ==
             ids, 30, "segments of both collections")
    check_own_collection(inst, acked)


def test_requests_name_their_collection(make_instance):
    """Unknown collections, other dimensions and bad names get clear errors
    and change nothing; creating again with the same settings is no error."""
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    r = inst.create("posts", dim=POSTS_DIM, metric=1)
    assert r["status"] == 0, r
    again = inst.create("posts", dim=POSTS_DIM, metric=1)
    assert again["status"] == 0 and again["collection"]["existed"], again
    assert again["collection"]["id"] == r["collection"]["id"]
    other = inst.create("posts", dim=POSTS_DIM)
    assert other["status"] == EEXIST and "other settings" in other["message"], other
    for bad in ("", "-x", "a b", "x" * 64, "caf\u00e9"):
        r = inst.create(bad, dim=4)
        assert r["status"] == EINVAL and "collection name" in r["message"], (bad, r)
    r = inst.create("big", dim=5000)
    assert r["status"] == EDIM and "dim" in r["message"], r
    r = inst.create("nofaiss", dim=4, index="IVF4,Nope")
    assert r["status"] == EINVAL and "FAISS" in r["message"], r
    before = inst.status()
    doc = [wire.document([0.5] * POSTS_DIM)]
    r = inst.call(wire.add_request(POSTS_DIM, doc, 11, 1, collection="nope"))
    assert r["status"] == ENOCOLL and "nope" in r["message"], r
    r = inst.call(wire.add_request(POSTS_DIM, doc, 11, 2))  # default: dim 16
    assert r["status"] == EDIM, r
    s = inst.search([[0.5] * POSTS_DIM], k=1, collection="nope")
    assert s["status"] == ENOCOLL, s
    s = inst.search([[0.5] * DIM], k=1, collection="posts")
    assert s["status"] == EDIM, s
    r = inst.drop("nope")
    assert r["status"] == ENOCOLL, r
    after = inst.status()
    assert after["documents"] == before["documents"] == 0
    assert sorted(inst.collections()) == ["default", "posts"]


def test_indexed_keys_are_a_setting_kept_across_restarts(make_instance):
    """A collection's indexed keys are listed as created, through a writer
    killed (the create replayed from the log) and a clean restart (from the
    manifest); they count as settings for a create of the same name, and a
    bad list gets a clear error and creates nothing."""
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    r = inst.create("posts", dim=POSTS_DIM, indexed_keys=["user", "topic"])
    assert r["status"] == 0 and r["collection"]["indexed_keys"] == ["user", "topic"], r

    def listed():
        colls = inst.collections()
        assert colls["posts"]["indexed_keys"] == ["user", "topic"], colls
        assert colls["default"]["indexed_keys"] == [], colls
        status = {c["name"]: c for c in inst.status()["collections"]}
        assert status["posts"]["indexed_keys"] == ["user", "topic"], status

    listed()
    again = inst.create("posts", dim=POSTS_DIM, indexed_keys=["user", "topic"])
    assert again["status"] == 0 and again["collection"]["existed"], again
    for other in (["user"], ["topic", "user"], []):
        r = inst.create("posts", dim=POSTS_DIM, indexed_keys=other)
        assert r["status"] == EEXIST and "indexed keys user,topic" in r["message"], (other, r)
    for bad, why in ((["a", "a"], "name a key twice"), (["bad key"], "must each be"),
                     (["k%d" % i for i in range(9)], "more than 8"), ([""], "is empty"),
                     (["a,b"], "not one key"), (["x" * 64], "1 to 63")):
        r = inst.create("bad", dim=4, indexed_keys=bad)
        assert r["status"] == EINVAL and why in r["message"], (bad, r)
    assert sorted(inst.collections()) == ["default", "posts"]
    inst.kill(inst.writer)
    inst.start_writer()
    listed()
    restart_all(inst)
    listed()
    m = read_manifest(inst.data, inst.name)
    assert m["version"] == 6 and m["collections"]["posts"]["indexed_keys"] == ["user", "topic"]


def test_cli_creates_and_shows_indexed_keys(cli):  # noqa: F811
    """`roost collections create --indexed-keys` sets them; the listing,
    describe, status and their JSON show them; a bad list is refused with
    the reason and creates nothing."""
    c = cli()
    c.up("--dim", 4)
    out = c.ok("collections", "create", "posts", "--dim", 3, "--indexed-keys", "user,topic")
    assert "indexed keys user,topic" in out.stdout, out.stdout
    table = c.ok("collections").stdout.splitlines()
    assert table[0].split()[-1] == "INDEXED-KEYS", table
    rows = {line.split()[0]: line.split() for line in table[1:-1]}
    assert rows["posts"][-1] == "user,topic" and rows["default"][-1] == "-", table
    listed = {x["name"]: x for x in json.loads(c.ok("collections", "--json").stdout)["collections"]}
    assert listed["posts"]["indexed_keys"] == ["user", "topic"], listed
    assert listed["default"]["indexed_keys"] == [], listed
    assert "indexed keys user,topic" in c.ok("collections", "describe", "posts").stdout
    assert "user,topic" in c.ok("status", "--interval-ms", 0).stdout
    assert {x["name"]: x for x in c.status()["collections"]}["posts"]["indexed_keys"] == \
        ["user", "topic"]
    bad = c.roost("collections", "create", "bad", "--dim", 3, "--indexed-keys", "user,user")
    assert bad.returncode != 0 and "name a key twice" in bad.stderr, bad.stderr
    other = c.roost("collections", "create", "posts", "--dim", 3, "--indexed-keys", "user")
    assert other.returncode != 0 and "indexed keys user,topic" in other.stderr, other.stderr
    listing = json.loads(c.ok("collections", "--json").stdout)["collections"]
    assert [x["name"] for x in listing] == ["default", "posts"]


def test_drop_reclaims_and_refuses_what_follows_it(make_instance):
    """A drop removes the collection's files and tail; an add logged after
    it (accepted while the writer had not applied the drop yet) is refused
    with ENOCOLL to the client waiting on it; the name then makes a new
    collection with a new id and none of the old documents."""
    inst = make_instance(dim=DIM, writer_args=["--seal-interval-ms", "200"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_broker(1)
    inst.start_reader()
    old = inst.create("tmp", dim=4)["collection"]
    acked = collect_all(inst.agent(1, requests=5, batch=(5, 10), collection="tmp", dim=4))
    wait_for(lambda: any(s["coll"] == old["id"]
                         for s in read_manifest(inst.data, inst.name)["segments"]),
             30, "a segment of the collection")
    assert len(inst.dump("tmp")) == len(acked)
    inst.writer.send_signal(signal.SIGSTOP)
    results = {}
    try:
        t = Threads()
        t.start(lambda: results.setdefault("drop", inst.drop("tmp", broker=0)))
        wait_for(lambda: inst.status()["ring_reserve"] > inst.status()["durable_lsn"], 30,
                 "the drop in the ring")
        with_drop = inst.status()["ring_reserve"]
        t.start(lambda: results.setdefault("add", inst.call(
            wire.add_request(4, [wire.document([1.0] * 4)], 12, 1, collection="tmp"),
            broker=1)))
        wait_for(lambda: inst.status()["ring_reserve"] > with_drop, 30, "the add behind the drop")
    finally:
        inst.writer.send_signal(signal.SIGCONT)
    t.join()
    assert results["drop"]["status"] == 0, results
    assert results["add"]["status"] == ENOCOLL and "tmp" in results["add"]["message"], results
    m = read_manifest(inst.data, inst.name)
    assert "tmp" not in m["collections"]
    assert not any(f.startswith("seg-c%08x" % old["id"]) for f in os.listdir(inst.data))
    wait_for(lambda: tails(inst) == len(inst.collections()), 30, "the dropped tail to go")
    new = inst.create("tmp", dim=4)["collection"]
    assert new["id"] > old["id"] and new["documents"] == 0
    s = inst.search([[1.0] * 4], k=10, collection="tmp", min_lsn=new["lsn"])
    assert s["status"] == 0 and s["results"] == [[]], s


def test_a_seal_of_one_collection_keeps_the_tail_of_another(make_instance):
    """A manifest written while another collection's tail is unsealed (a
    seal, a create) must not make replay skip that tail: kill -9 the writer
    after such writes, and every acknowledged document comes back."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096"])
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    acked = {"default": collect_all(inst.agent(1, requests=4, batch=(10, 20)))}
    for i in range(3):  # each create writes a manifest; default's tail stays
        assert inst.create("c%d" % i, dim=4, seal_interval_ms=100)["status"] == 0
    acked["c0"] = collect_all(inst.agent(2, requests=3, batch=(5, 10), collection="c0", dim=4))
    wait_for(lambda: any(s["coll"] != 1 for s in read_manifest(inst.data, inst.name)["segments"]),
             30, "a seal of c0")
    acked["default"].update(collect_all(inst.agent(3, requests=2, batch=(5, 10))))
    inst.kill(inst.writer)
    inst.start_writer()
    acked.update({"c1": {}, "c2": {}})
    check_own_collection(inst, acked)
    found_by_own_vector(inst, "", DIM, acked["default"])


def restart_all(inst):
    """Stops every process cleanly and starts them again on the same data."""
    for p in inst.readers + list(inst.brokers.values()) + [inst.writer]:
        p.send_signal(signal.SIGTERM)
        p.wait(timeout=30)
    inst.readers, inst.brokers = [], {}
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()


def test_hundred_collections_create_add_search_drop_restart(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    names = ["c%03d" % i for i in range(100)]
    ids = {}
    for i, n in enumerate(names):
        r = inst.create(n, dim=4 + i % 5, metric=i % 2)
        assert r["status"] == 0, r
        ids[n] = r["collection"]["id"]
    assert len(set(ids.values())) == 100
    docs = {}
    for i, n in enumerate(names):
        dim = 4 + i % 5
        vec = [float(i + 1)] * dim
        r = inst.call(wire.add_request(dim, [wire.document(vec, agent=i, text=n)], 100 + i, 1,
                                       collection=n))
        assert r["status"] == 0, r
        docs[n] = (vec, r["add"]["ids"][0], r["add"]["lsn"])

    def check(live):
        for n in live:
            vec, doc_id, lsn = docs[n]
            s = inst.search([vec], k=5, collection=n, min_lsn=lsn)
            assert s["status"] == 0 and [h["id"] for h in s["results"][0]] == [doc_id], (n, s)
            assert s["results"][0][0]["text"] == n
        listed = inst.collections()
        assert sorted(listed) == sorted(live + ["default"])
        assert all(listed[n]["id"] == ids[n] and listed[n]["documents"] == 1 for n in live)

    check(names)
    # One per collection (an aged tail being sealed is a second one a moment).
    wait_for(lambda: tails(inst) == 101, 30, "one tail per collection")
    inst.kill(inst.writer)
    inst.start_writer()
    check(names)
    for n in names[::2]:
        assert inst.drop(n)["status"] == 0
    live = names[1::2]
    check(live)
    restart_all(inst)
    check(live)
    for n in names[::2]:
        s = inst.search([docs[n][0]], k=1, collection=n)
        assert s["status"] == ENOCOLL, s
    wait_for(lambda: tails(inst) == 51, 30, "only live collections' tails")


def churn_call(inst, frame, broker):
    """A request during kills: its reply, or None when the outcome is not
    known (the writer died under it, the broker gave up waiting)."""
    try:
        r = inst.call(frame, broker, timeout_ms=8000)
    except OSError:
        return None
    return r if r["status"] in (0, ENOCOLL, EEXIST) else None


class Churn:
    """Creates collections, adds to them and drops some, through both
    brokers, while the writer is killed; remembers what was acknowledged."""

    def __init__(self, inst, seed):
        self.inst, self.rnd = inst, random.Random(seed)
        self.created, self.dropped, self.maybe_dropped = {}, set(), set()
        self.docs = {}  # collection -> {id: text}
        self.maybe_created = set()
        self.n = 0

    def step(self, prefix):
        name = "%s%d" % (prefix, self.n)
        self.n += 1
        b = self.rnd.randrange(2)
        r = churn_call(self.inst, wire.create_request(name, next(KEYS), 1, dim=4), b)
        if r is None or r["status"] != 0:
            self.maybe_created.add(name)
            return
        self.created[name] = r["collection"]["id"]
        self.docs[name] = {}
        for i in range(self.rnd.randrange(1, 4)):
            text = "%s doc %d" % (name, i)
            r = churn_call(self.inst, wire.add_request(
                4, [wire.document([float(i)] * 4, agent=7, text=text)], next(KEYS), 1,
                collection=name), 1 - b)
            if r is not None and r["status"] == 0:
                self.docs[name][str(r["add"]["ids"][0])] = text
        if self.rnd.random() < 0.5:
            r = churn_call(self.inst, wire.drop_request(name, next(KEYS), 1), b)
            (self.dropped if r is not None and r["status"] == 0 else
             self.maybe_dropped).add(name)

    def check(self):
        """Acknowledged creates survive with their documents, acknowledged
        drops are gone with their files and tails, and a collection whose
        drop was not acknowledged is whole or gone, never half of either."""
        listed = self.inst.collections()
        known = set(self.created) | self.maybe_created
        assert set(listed) - {"default", "steady"} <= known, sorted(listed)
        files = os.listdir(self.inst.data)
        for name, cid in self.created.items():
            gone = name not in listed
            if name in self.dropped:
                assert gone, name
            if not gone:
                assert listed[name]["id"] == cid, (name, listed[name])
                stored = {d.split(" ", 1)[0]: d.split(" ", 5)[5] for d in self.inst.dump(name)}
                assert set(self.docs[name]) <= set(stored), (name, self.docs[name], stored)
                assert all(t.startswith(name + " doc ") for t in stored.values()), stored
            else:
                assert name in self.dropped | self.maybe_dropped, "%s lost its create" % name
                assert not [f for f in files if f.startswith("seg-c%08x" % cid)], name
        wait_for(lambda: tails(self.inst) == len(listed), 30,
                 "one tail per live collection (%d)" % len(listed))


KEYS = itertools.count((os.getpid() << 24) + (1 << 40))


def test_search_waiting_for_its_lsn_sees_a_collection_created_meanwhile(make_instance):
    """A search naming a collection the reader does not know, with a
    min_lsn not yet published, waits for that LSN instead of answering
    "no collection": the create may be the very record the LSN names. Once
    past it, a name still unknown is ENOCOLL at once."""
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    published = inst.status()["published_lsn"]
    got = {}
    t = threading.Thread(target=lambda: got.update(inst.search(
        [[1.0] * 4], k=1, collection="late", min_lsn=published, timeout_ms=20000,
        client_timeout_ms=30000)))
    t.start()
    wait_for(lambda: waiting_readers(inst), 15, "the reader to hold the search")
    r = inst.create("late", dim=4)
    assert r["status"] == 0, r
    t.join(60)
    assert got["status"] == 0 and got["results"] == [[]], got
    s = inst.search([[1.0] * 4], k=1, collection="never", min_lsn=published, timeout_ms=20000)
    assert s["status"] == ENOCOLL and "no collection 'never'" in s["message"], s


def test_kill9_while_collections_are_created_and_dropped(make_instance):
    """The writer is killed with SIGKILL at random moments while one agent
    loads a steady collection and a churn creates, fills and drops others
    through two brokers: no acknowledged create or document is lost, no
    acknowledged drop comes back, nothing is half dropped, and no document
    lands in another collection."""
    inst = make_instance(dim=DIM, writer_args=["--seal-interval-ms", "200"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_broker(1)
    inst.start_reader()
    assert inst.create("steady", dim=POSTS_DIM)["status"] == 0
    seed = random.randrange(1 << 30)
    churn = Churn(inst, seed)
    acked = {"steady": {}, "default": {}}
    for rnd in range(4):
        agent = inst.agent(20 + rnd, requests=30, batch=(5, 20), collection="steady",
                           dim=POSTS_DIM, timeout_ms=120000)
        stop = threading.Event()
        t = Threads()
        t.start(lambda: [churn.step("r%d." % rnd) for _ in iter(stop.is_set, True)])
        threading.Event().wait(churn.rnd.uniform(0.2, 1.0))
        inst.kill(inst.writer)
        inst.start_writer()
        threading.Event().wait(0.3)
        stop.set()
        t.join()
        acked["steady"].update(collect_all(agent, timeout=180))
        try:
            check_own_collection(inst, acked)
            churn.check()
        except AssertionError as e:
            raise AssertionError("seed %d, round %d: %s" % (seed, rnd, e)) from None
    assert churn.created and churn.dropped, "seed %d: %r" % (seed, churn.__dict__)
