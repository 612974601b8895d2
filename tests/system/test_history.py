"""The history checker (history.py) on small hand-written histories: a
valid one passes, and each property fails on a history that breaks it,
so that a clean run of the crash matrix means something."""
import history


class H:
    """Builds a history; each call is one operation of one client."""

    def __init__(self):
        self.ops, self.clock = [], 0

    def _op(self, **op):
        self.clock += 2
        op.setdefault("index", self.clock - 1)
        op.setdefault("done", self.clock)
        self.ops.append(op)
        return op

    def add(self, client, docs, ids=None, lsn=0, result="ok", keys=None):
        op = self._op(f="add", client=client, docs=docs, ids=ids, lsn=lsn, result=result)
        if keys is not None:
            op["keys"] = keys
        return op

    def delete(self, client, docs=(), lsn=0, result="ok", keys=None):
        op = self._op(f="delete", client=client, docs=docs, lsn=lsn, result=result)
        if keys is not None:
            op["keys"] = keys
        return op

    def get(self, client, keys, found, lsn, min_lsn=0, result="ok"):
        return self._op(f="get", client=client, keys=keys, found=found, lsn=lsn,
                        min_lsn=min_lsn, result=result)

    def search(self, client, targets, hits, lsn, min_lsn=0, agents=None, result="ok"):
        return self._op(f="search", client=client, targets=targets, hits=hits, lsn=lsn,
                        min_lsn=min_lsn, agents=agents, result=result)

    def read(self, docs, lsn=None):
        self.clock += 1
        self.ops.append({"f": "read", "index": self.clock, "docs": docs})
        if lsn is not None:
            self.ops[-1]["lsn"] = lsn

    def violations(self, unrecorded=None):
        v = history.check(self.ops, unrecorded)
        return {p: t for p, t in v.items() if t}


A, B, C = (1, "a"), (1, "b"), (2, "c")


def valid():
    """Two clients: adds in every outcome, searches with and without
    min_lsn, a complete read at the end."""
    h = H()
    h.add("x", [A, B], ids=[100, 101], lsn=100)
    h.add("y", [C], ids=[200], lsn=200)
    h.add("y", [(2, "lost in flight")], result="info")
    h.add("y", [(2, "refused")], result="fail")
    h.search("x", [A, B], [(100, A), (101, B)], lsn=101, min_lsn=100)
    h.search("y", [A, C], [(100, A), (100, A)], lsn=150)  # C (LSN 200) not yet included
    h.search("y", [A, C], [(100, A), (200, C)], lsn=201, min_lsn=200)
    h.search("x", [C], [(101, B)], lsn=201, agents=[1])  # C is outside the filter
    h.search("x", [(2, "lost in flight")], [(200, C)], lsn=300, min_lsn=201)
    h.read([(100, A), (101, B), (200, C)])
    return h


def test_a_valid_history_passes():
    assert valid().violations() == {}


def test_read_your_writes_violations():
    h = valid()
    h.search("z", [A, C], [(100, A), (100, A)], lsn=250, min_lsn=200)  # C acked at 200
    assert list(h.violations()) == ["read-your-writes"]
    h = valid()
    h.search("z", [A], [(100, A)], lsn=200, min_lsn=200)  # answered from before min_lsn
    assert list(h.violations()) == ["read-your-writes"]
    h = valid()
    h.search("z", [C], [(200, C)], lsn=201, agents=[1])  # hit outside the filter
    assert list(h.violations()) == ["read-your-writes"]
    h = valid()
    h.search("z", [C], [None], lsn=201)  # included by the reply's LSN, not found
    assert list(h.violations()) == ["read-your-writes"]


def test_monotonic_reads_violations():
    h = valid()
    h.search("x", [A], [(100, A)], lsn=200)  # x was answered from 201 before
    assert list(h.violations()) == ["monotonic-reads"]
    h = H()
    h.add("x", [A], result="info")  # never acknowledged, so only what x saw binds
    h.search("y", [A], [(100, A)], lsn=10)
    h.search("y", [A], [None], lsn=10)
    assert list(h.violations()) == ["monotonic-reads"]


def test_exactly_once_violations():
    h = valid()
    h.read([(100, A), (101, B), (200, C), (300, C)])  # a retry stored again
    assert list(h.violations()) == ["exactly-once"]
    h = valid()
    h.search("z", [C], [(201, C)], lsn=300)  # found under an id never acknowledged
    assert list(h.violations()) == ["exactly-once"]
    h = valid()
    h.read([(100, A), (101, B)])  # an acknowledged document lost
    assert list(h.violations()) == ["exactly-once"]
    h = valid()
    h.read([(100, A), (101, B), (200, C), (200, C)])  # one id twice
    assert list(h.violations()) == ["exactly-once"]
    h = valid()
    h.read([(100, A), (101, B), (200, C), (201, (2, "refused"))])  # a failed add stored
    assert list(h.violations()) == ["exactly-once"]
    h = valid()
    h.read([(100, A), (101, B), (200, C), (201, (9, "phantom"))])  # nobody sent it
    assert list(h.violations()) == ["exactly-once"]
    assert list(h.violations(unrecorded=lambda c: c[0] == 9)) == []
    h = valid()
    h.add("y", [C], ids=[201], lsn=201)  # acknowledged twice with other ids
    assert "exactly-once" in h.violations()
    h = valid()
    h.add("y", [(3, "d"), (3, "e")], ids=[300], lsn=300)  # fewer ids than documents
    assert list(h.violations()) == ["exactly-once"]


def test_no_resurrection_violations():
    h = valid()
    h.delete("x", [A], lsn=400)
    h.search("y", [B], [(101, B)], lsn=401)  # A deleted, B still there
    h.read([(101, B), (200, C)])
    assert h.violations() == {}
    h.search("y", [A], [(100, A)], lsn=401, min_lsn=400)
    assert list(h.violations()) == ["no-resurrection"]
    h = valid()
    h.delete("x", [A], lsn=400)
    h.read([(100, A), (101, B), (200, C)])
    assert list(h.violations()) == ["no-resurrection"]
    h = valid()
    h.delete("x", [A], lsn=400)
    h.search("y", [A], [(100, A)], lsn=400)  # answered from before the delete: fine
    assert h.violations() == {}


def test_failures_text_names_each_property():
    h = valid()
    h.search("x", [A], [(100, A)], lsn=200)
    h.read([(100, A), (101, B)])
    text = history.failures(history.check(h.ops))
    assert "monotonic-reads: 1 violation(s)" in text
    assert "exactly-once: 1 violation(s)" in text
    assert "lacks (2, 'c')" in text


# Versions of keyed documents: key k1's first and second version, and so on.
K1A, K1B, K2A, K2B, K3A = ((3, "k1 a"), (3, "k1 b"), (3, "k2 a"), (3, "k2 b"), (3, "k3 a"))


def keyed():
    """Documents with keys of their own: an upsert (k1 at 200), a delete
    (k2 at 300) and the key added again (400), an add of unknown outcome
    (k3); searches, gets and an exact read at LSNs either side of each."""
    h = H()
    h.add("x", [K1A, K2A], keys=["k1", "k2"], ids=[100, 101], lsn=100)
    h.search("y", [K1A, K1B], [(100, K1A), (100, K1A)], lsn=150)  # before the upsert
    h.add("y", [K1B], keys=["k1"], ids=[200], lsn=200)
    h.search("y", [K1A, K1B], [(200, K1B), (200, K1B)], lsn=201)
    h.delete("x", keys=["k2"], lsn=300)
    h.get("y", ["k1", "k2"], [(200, "k1", K1B), (101, "k2", K2A)], lsn=300)  # before the delete
    h.add("y", [K3A], keys=["k3"], result="info")
    h.get("y", ["k1", "k2", "k3"], [(200, "k1", K1B)], lsn=301)
    h.add("x", [K2B], keys=["k2"], ids=[400], lsn=400)  # back after its delete
    h.get("x", ["k2", "k3"], [(400, "k2", K2B), (450, "k3", K3A)], lsn=401, min_lsn=400)
    h.read([(200, K1B), (400, K2B)], lsn=401)
    h.read([(200, K1B), (400, K2B), (450, K3A)], lsn=402)
    return h


def test_a_valid_keyed_history_passes():
    assert keyed().violations() == {}


def test_last_write_wins_violations():
    h = keyed()
    h.get("z", ["k1"], [(100, "k1", K1A)], lsn=250)  # the upsert at 200 lost
    assert list(h.violations()) == ["last-write-wins"]
    h = keyed()
    h.search("z", [K1A], [(100, K1A)], lsn=201)  # the replaced version found
    assert list(h.violations()) == ["last-write-wins"]
    h = keyed()
    h.search("z", [K1B], [(400, K2B)], lsn=401)  # the current version missed
    assert list(h.violations()) == ["last-write-wins"]
    h = keyed()
    h.read([(400, K2B)], lsn=401)  # the key lost
    assert list(h.violations()) == ["last-write-wins"]
    h = keyed()
    h.get("z", ["k1"], [(200, "k1", K1B)], lsn=150)  # a version from after the answer's LSN
    assert list(h.violations()) == ["last-write-wins"]
    h = keyed()
    h.get("z", ["k2"], [], lsn=450)  # added again at 400, absent
    assert list(h.violations()) == ["last-write-wins"]


def test_keyed_no_resurrection_violations():
    h = keyed()
    h.get("z", ["k2"], [(101, "k2", K2A)], lsn=350)  # deleted at 300
    assert list(h.violations()) == ["no-resurrection"]
    h = keyed()
    h.read([(200, K1B), (101, K2A)], lsn=350)
    assert list(h.violations()) == ["no-resurrection"]
    h = keyed()
    h.search("z", [K2A], [(101, K2A)], lsn=301)
    assert list(h.violations()) == ["no-resurrection"]
    h = keyed()
    h.search("z", [K2A], [(101, K2A)], lsn=300)  # answered from before the delete: fine
    assert h.violations() == {}


def test_one_version_violations():
    h = keyed()
    h.read([(200, K1B), (400, K2B), (100, K1A)], lsn=401)  # an upsert doubled
    assert list(h.violations()) == ["one-version"]
    h = keyed()
    h.get("z", ["k1"], [(200, "k1", K1B), (200, "k1", K1B)], lsn=401)
    assert list(h.violations()) == ["one-version"]


def test_keyed_exactly_once_and_read_your_writes_violations():
    h = keyed()
    h.get("z", ["k1"], [(200, "k1", K1B), (400, "k2", K2B)], lsn=401)  # a key not asked for
    assert list(h.violations()) == ["exactly-once"]
    h = keyed()
    h.get("z", ["k2"], [(200, "k2", K1B)], lsn=201)  # k1's version as k2
    assert "exactly-once" in h.violations()
    h = keyed()
    h.get("z", ["k1"], [(201, "k1", K1B)], lsn=401)  # under another id
    assert list(h.violations()) == ["exactly-once"]
    h = keyed()
    h.get("z", ["k1"], [(200, "k1", K1B)], lsn=400, min_lsn=400)
    assert list(h.violations()) == ["read-your-writes"]
    h = keyed()
    h.get("x", ["k1"], [(200, "k1", K1B)], lsn=300)  # x was answered from 401 before
    assert list(h.violations()) == ["monotonic-reads"]


def test_keyed_unknown_outcomes_may_or_may_not_have_happened():
    h = keyed()
    h.delete("x", keys=["k1"], result="info")
    h.get("z", ["k1"], [], lsn=500)  # the delete may have happened...
    h.get("w", ["k1"], [(200, "k1", K1B)], lsn=500)  # ...or not
    assert h.violations() == {}
    h = keyed()
    h.get("z", ["k1"], [], lsn=500)  # no delete was tried yet
    h.delete("x", keys=["k1"], result="info")
    assert list(h.violations()) == ["last-write-wins"]
    h = H()
    h.read([(450, K3A)], lsn=10)  # shown before its add of unknown outcome was tried
    h.add("y", [K3A], keys=["k3"], result="info")
    assert list(h.violations()) == ["last-write-wins"]
    h = keyed()
    h.add("y", [(3, "k1 c")], keys=["k1"], result="fail")
    h.get("z", ["k1"], [(500, "k1", (3, "k1 c"))], lsn=501)  # a failed upsert stored
    assert "exactly-once" in h.violations()
