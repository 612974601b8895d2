"""A checker of a recorded history of concurrent operations against what
roost promises its clients. It shares no code with roost or with the
tests' protocol helpers: it sees only what clients saw.

Like Jepsen's checkers (Knossos for linearizability, Elle for
transactional anomalies) it judges a history of operations, each invoked
by one client and completed with a result, instead of a final state
alone. roost's model is simple enough for an exact check in one pass,
without searching over orders: every batch has an LSN, LSNs are one total
order, and every answer carries the LSN below which it includes every
batch.

A history is a list of operations (dicts). Every operation has:
  f        "add", "search", "delete" or "read"
  client   who invoked it; a client runs one operation at a time
  index    when it was invoked: a number from one clock, increasing
  done     when it completed (absent for "read", which is instantaneous)
  result   "ok"; "fail" (definitely did not happen); "info" (unknown:
           the client gave up, or the reply never came)
A document is known by the identity its client chose for it, its content
(here (agent, text)); the id is what roost assigned.
  add:    docs [content, ...]; when ok: ids [id, ...] (one per doc), lsn
  delete: docs [content, ...]; when ok: lsn
  search: min_lsn (0: none), agents (the filter: a list, or None for any),
          targets [content, ...]: query j is the vector of document
          targets[j], k=1, so a visible target that the filter admits is
          its own nearest neighbour; when ok: lsn (the reply's: every LSN
          below it is included), hits [None or (id, content), ...]
  read:   docs [(id, content), ...]: everything stored, read after every
          add acknowledged before index was published

Properties (check() returns the violations of each):
  read-your-writes  a search answers from data that includes min_lsn
          (its reply LSN is above it), and finds every target acknowledged
          at or below min_lsn, or below its reply LSN, that its filter
          admits; no hit is outside its filter
  monotonic-reads   a client's reply LSNs never decrease, and a document
          a client has seen is found by its later searches that target it
  exactly-once      one content has one id, everywhere (acks, hits, reads),
          and one id one content; a read holds each document once, every
          acknowledged one included; nothing appears that no add could
          have stored (an add that failed, or none at all)
  no-resurrection   a document deleted at LSN D (acknowledged) is found by
          no search that includes D and by no later read

Documents may come from clients whose invocations are not recorded (only
their acknowledgements): `unrecorded(content)` says which contents such
clients may have added, so that their unacknowledged documents are not
taken for phantoms.
"""

PROPERTIES = ("read-your-writes", "monotonic-reads", "exactly-once", "no-resurrection")


class _Model:
    def __init__(self, ops, unrecorded):
        self.unrecorded = unrecorded or (lambda content: False)
        self.acked = {}      # content -> (lsn, id, op) of its acknowledged add
        self.invoked = set()  # contents of adds that may have happened
        self.failed = set()  # contents of adds that definitely did not
        self.deleted = {}    # content -> (lsn, done) of its acknowledged delete
        self.maybe_deleted = set()
        self.violations = {p: [] for p in PROPERTIES}
        for op in ops:
            if op["f"] == "add":
                self._add(op)
            elif op["f"] == "delete":
                for c in op["docs"]:
                    if op["result"] == "ok":
                        self.deleted[c] = min((op["lsn"], op["done"]),
                                              self.deleted.get(c, (op["lsn"], op["done"])))
                    elif op["result"] == "info":
                        self.maybe_deleted.add(c)
        self.failed -= self.invoked
        self.ids = {}  # content -> {id: where first seen}
        self.contents = {}  # id -> {content: where first seen}

    def _add(self, op):
        if op["result"] == "fail":
            self.failed.update(op["docs"])
            return
        self.invoked.update(op["docs"])
        if op["result"] != "ok":
            return
        ids = op["ids"]
        if len(ids) != len(op["docs"]) or len(set(ids)) != len(ids):
            self.bad("exactly-once", "add %s acknowledged ids %r for %d documents"
                     % (_where(op), ids, len(op["docs"])))
            return
        for c, i in zip(op["docs"], ids):
            if c in self.acked and self.acked[c][1] != i:
                self.bad("exactly-once", "%r acknowledged twice, as id %d (%s) and as id %d (%s)"
                         % (c, self.acked[c][1], _where(self.acked[c][2]), i, _where(op)))
            self.acked.setdefault(c, (op["lsn"], i, op))

    def bad(self, prop, text):
        self.violations[prop].append(text)

    def observe(self, doc_id, content, where):
        """A document seen with an id: one content per id, one id per
        content, and only what some add may have stored."""
        ids = self.ids.setdefault(content, {})
        if doc_id not in ids:
            ids[doc_id] = where
            if len(ids) == 2:
                self.bad("exactly-once", "%r stored twice: ids %s" % (
                    content, ", ".join("%d (%s)" % kv for kv in sorted(ids.items()))))
        contents = self.contents.setdefault(doc_id, {})
        if content not in contents:
            contents[content] = where
            if len(contents) == 2:
                self.bad("exactly-once", "id %d holds two documents: %s" % (
                    doc_id, ", ".join("%r (%s)" % kv for kv in contents.items())))
        if content in self.acked and self.acked[content][1] != doc_id and len(ids) == 1:
            self.bad("exactly-once", "%r acknowledged as id %d but found as id %d (%s)"
                     % (content, self.acked[content][1], doc_id, where))
        if content in self.failed:
            self.bad("exactly-once", "%r is stored (%s) though its add failed" % (content, where))
        elif content not in self.invoked and not self.unrecorded(content):
            self.bad("exactly-once", "%r is stored (%s) though no add sent it" % (content, where))

    def gone(self, content, lsn_in):
        """Whether content was deleted by an acknowledged delete that an
        answer including every LSN below lsn_in includes."""
        return content in self.deleted and self.deleted[content][0] < lsn_in

    def gone_before(self, content, index):
        """Whether content's delete was acknowledged before index."""
        return content in self.deleted and self.deleted[content][1] < index

    def may_be_gone(self, content):
        return content in self.deleted or content in self.maybe_deleted


def _where(op):
    return "client %s, op %d" % (op["client"], op["index"])


def _check_search(m, op, seen):
    """read-your-writes and no-resurrection for one search; updates what
    its client has seen and checks monotonic reads against it."""
    where = _where(op)
    lsn, min_lsn = op["lsn"], op["min_lsn"]
    if min_lsn and lsn <= min_lsn:
        m.bad("read-your-writes", "%s asked for min_lsn %d and was answered from LSN %d"
              % (where, min_lsn, lsn))
    admits = (lambda c: True) if op["agents"] is None else \
        (lambda c, a=frozenset(op["agents"]): c[0] in a)
    if len(op["hits"]) != len(op["targets"]):
        m.bad("read-your-writes", "%s: %d answers for %d queries"
              % (where, len(op["hits"]), len(op["targets"])))
        return
    for target, hit in zip(op["targets"], op["hits"]):
        if hit is not None:
            hit_id, hit_content = hit
            m.observe(hit_id, hit_content, where)
            if not admits(hit_content):
                m.bad("read-your-writes", "%s: hit %r is outside the filter %r"
                      % (where, hit_content, op["agents"]))
            if m.gone(hit_content, max(lsn, min_lsn + 1)):
                m.bad("no-resurrection", "%s (LSN %d) found %r, deleted at LSN %d"
                      % (where, lsn, hit_content, m.deleted[hit_content][0]))
        found = hit is not None and hit[1] == target
        if found:
            seen.add(target)
        if found or not admits(target):
            continue
        if target in m.acked and not m.may_be_gone(target):
            at = m.acked[target][0]
            if at <= min_lsn or at < lsn:
                m.bad("read-your-writes", "%s (min_lsn %d, answered from LSN %d) missed %r, "
                      "acknowledged at LSN %d (%s); got %r"
                      % (where, min_lsn, lsn, target, at, _where(m.acked[target][2]), hit))
                continue
        if target in seen and not m.may_be_gone(target):
            m.bad("monotonic-reads", "%s (LSN %d) missed %r, which this client found before; "
                  "got %r" % (where, lsn, target, hit))


def _check_read(m, op):
    where = "read at %d" % op["index"]
    count = {}
    for doc_id, content in op["docs"]:
        m.observe(doc_id, content, where)
        count[doc_id] = count.get(doc_id, 0) + 1
        if m.gone_before(content, op["index"]):
            m.bad("no-resurrection", "%s holds %r, deleted at LSN %d"
                  % (where, content, m.deleted[content][0]))
    twice = sorted(i for i, n in count.items() if n > 1)
    if twice:
        m.bad("exactly-once", "%s holds ids %s more than once" % (where, twice[:10]))
    stored = {content for _, content in op["docs"]}
    lost = [(c, a) for c, a in m.acked.items()
            if a[2]["done"] < op["index"] and c not in stored and not m.may_be_gone(c)]
    for c, (lsn, doc_id, add) in sorted(lost, key=lambda x: x[1][0])[:10]:
        m.bad("exactly-once", "%s lacks %r, acknowledged as id %d at LSN %d (%s)"
              % (where, c, doc_id, lsn, _where(add)))
    if len(lost) > 10:
        m.bad("exactly-once", "%s lacks %d more acknowledged documents" % (where, len(lost) - 10))


def check(ops, unrecorded=None):
    """The violations of each property in PROPERTIES: {property: [text]}."""
    ops = sorted(ops, key=lambda op: op["index"])
    m = _Model(ops, unrecorded)
    last_lsn, seen = {}, {}
    for op in ops:
        if op["f"] == "read":
            _check_read(m, op)
            continue
        if op["f"] != "search" or op["result"] != "ok":
            continue
        client = op["client"]
        if op["lsn"] < last_lsn.get(client, (0, None))[0]:
            before = last_lsn[client]
            m.bad("monotonic-reads", "%s (min_lsn %d) was answered from LSN %d after op %d "
                  "was from LSN %d" % (_where(op), op["min_lsn"], op["lsn"], before[1],
                                       before[0]))
        else:
            last_lsn[client] = (op["lsn"], op["index"])
        _check_search(m, op, seen.setdefault(client, set()))
    return m.violations


def summary(ops):
    """Counts for a report: operations by kind and result."""
    out = {}
    for op in ops:
        key = "%s %s" % (op["f"], op.get("result", "ok"))
        out[key] = out.get(key, 0) + 1
    return out


def failures(violations, limit=5):
    """The violations as text for an assertion message, '' if none."""
    lines = []
    for prop in PROPERTIES:
        v = violations.get(prop, [])
        if v:
            lines.append("%s: %d violation(s)" % (prop, len(v)))
            lines += ["  " + t for t in v[:limit]]
    return "\n".join(lines)
