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

    def add(self, client, docs, ids=None, lsn=0, result="ok"):
        return self._op(f="add", client=client, docs=docs, ids=ids, lsn=lsn, result=result)

    def delete(self, client, docs, lsn=0, result="ok"):
        return self._op(f="delete", client=client, docs=docs, lsn=lsn, result=result)

    def search(self, client, targets, hits, lsn, min_lsn=0, agents=None, result="ok"):
        return self._op(f="search", client=client, targets=targets, hits=hits, lsn=lsn,
                        min_lsn=min_lsn, agents=agents, result=result)

    def read(self, docs):
        self.clock += 1
        self.ops.append({"f": "read", "index": self.clock, "docs": docs})

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
