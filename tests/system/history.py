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
  f        "add", "search", "get", "delete" or "read"
  client   who invoked it; a client runs one operation at a time
  index    when it was invoked: a number from one clock, increasing
  done     when it completed (absent for "read", which is instantaneous)
  result   "ok"; "fail" (definitely did not happen); "info" (unknown:
           the client gave up, or the reply never came)
A document is known by the identity its client chose for it, its content
(here (agent, text)); the id is what roost assigned. A document may also
have a key, an id of its own: then it is one version of the document with
that key, and an add of a key that exists (an upsert) replaces the
document at the add's LSN, a delete of the key removes it at the
delete's.
  add:    docs [content, ...]; keys [key, ...] (one per doc, or absent:
          no keys); when ok: ids [id, ...] (one per doc), lsn
  delete: docs [content, ...] (by content) or keys [key, ...] (by key);
          when ok: lsn
  search: min_lsn (0: none), agents (the filter: a list, or None for any),
          targets [content, ...]: query j is the vector of document
          targets[j], k=1, so a visible target that the filter admits is
          its own nearest neighbour; when ok: lsn (the reply's: every LSN
          below it is included, and none above), hits [None or (id,
          content), ...]
  get:    keys [key, ...], min_lsn; when ok: lsn (as a search's), found
          [(id, key, content), ...]: the documents the get returned
  read:   docs [(id, content), ...]: everything stored, read after every
          add acknowledged before index was published; with lsn, the
          state at that LSN exactly (as a search's): a read of what
          searches or gets see, in which replaced and deleted versions
          are absent

Properties (check() returns the violations of each):
  read-your-writes  a search or get with min_lsn is answered from data
          that includes it (its reply LSN is above it), and a search finds
          every target acknowledged at or below min_lsn, or below its
          reply LSN, that its filter admits; no hit is outside its filter
  monotonic-reads   a client's reply LSNs never decrease, and a document
          a client has seen is found by its later searches that target it
  exactly-once      one content has one id, everywhere (acks, hits, reads),
          and one id one content; a read holds each document once, every
          acknowledged one included; nothing appears that no add could
          have stored (an add that failed, or none at all); a get returns
          only the keys it asked for, each document under its own key
  no-resurrection   a document deleted at LSN D (acknowledged) is found by
          no search that includes D and by no later read; a key deleted at
          D is found, in an answer that includes D, only as a version
          added after D
  last-write-wins   an answer at LSN L shows each key in the state its last
          acknowledged operation below L left (ordered by LSN): the
          version that operation added, or nothing after a delete; never
          an older version (an upsert lost), nor one acknowledged at or
          above L; every search that targets that version finds it
  one-version       an answer (a read, a get) holds at most one document
          per key: an upsert never leaves two versions visible

Operations whose outcome is unknown (info) may have happened at any LSN:
a key they touched may show the state they leave in any answer that
completed after they were invoked, and is then not required to show the
acknowledged one. Documents may come from clients whose invocations are
not recorded (only
their acknowledgements): `unrecorded(content)` says which contents such
clients may have added, so that their unacknowledged documents are not
taken for phantoms.
"""

PROPERTIES = ("read-your-writes", "monotonic-reads", "exactly-once", "no-resurrection",
              "last-write-wins", "one-version")


class _Model:
    def __init__(self, ops, unrecorded):
        self.unrecorded = unrecorded or (lambda content: False)
        self.acked = {}      # content -> (lsn, id, op) of its acknowledged add
        self.invoked = set()  # contents of adds that may have happened
        self.failed = set()  # contents of adds that definitely did not
        self.deleted = {}    # content -> (lsn, done) of its acknowledged delete
        self.maybe_deleted = set()
        self.key_of = {}  # content -> its key, for documents with one
        self.events = {}  # key -> [(order or None, content or None, op)], acknowledged by order
        self.violations = {p: [] for p in PROPERTIES}
        for op in ops:
            if op["f"] == "add":
                self._add(op)
            elif op["f"] == "delete" and "keys" in op:
                self._keyed(op, [(k, None) for k in op["keys"]])
            elif op["f"] == "delete":
                for c in op["docs"]:
                    if op["result"] == "ok":
                        self.deleted[c] = min((op["lsn"], op["done"]),
                                              self.deleted.get(c, (op["lsn"], op["done"])))
                    elif op["result"] == "info":
                        self.maybe_deleted.add(c)
        self.failed -= self.invoked
        for evs in self.events.values():
            evs.sort(key=lambda e: (e[0] is None, e[0] or ()))
        self.ids = {}  # content -> {id: where first seen}
        self.contents = {}  # id -> {content: where first seen}

    def _add(self, op):
        keys = op.get("keys")
        if keys is not None:
            self.key_of.update(zip(op["docs"], keys))
        if op["result"] == "fail":
            self.failed.update(op["docs"])
            return
        self.invoked.update(op["docs"])
        if op["result"] != "ok":
            if keys is not None:
                self._keyed(op, list(zip(keys, op["docs"])))
            return
        ids = op["ids"]
        if len(ids) != len(op["docs"]) or len(set(ids)) != len(ids):
            self.bad("exactly-once", "add %s acknowledged ids %r for %d documents"
                     % (_where(op), ids, len(op["docs"])))
            return
        if keys is not None:
            self._keyed(op, list(zip(keys, op["docs"])))
        for c, i in zip(op["docs"], ids):
            if c in self.acked and self.acked[c][1] != i:
                self.bad("exactly-once", "%r acknowledged twice, as id %d (%s) and as id %d (%s)"
                         % (c, self.acked[c][1], _where(self.acked[c][2]), i, _where(op)))
            self.acked.setdefault(c, (op["lsn"], i, op))

    def _keyed(self, op, changes):
        """Records what op does to keys: (key, the version it adds or None
        for a delete). An acknowledged one is ordered by (LSN, position in
        its batch); one of unknown outcome has no order."""
        if op["result"] == "fail":
            return
        for pos, (key, content) in enumerate(changes):
            order = (op["lsn"], pos) if op["result"] == "ok" else None
            self.events.setdefault(key, []).append((order, content, op))

    def key_states(self, key, included, before):
        """What an answer may show of key: (base, allowed). base is the
        (order, content) of the last acknowledged operation on key the
        answer surely includes ((None, None): none); allowed the states it
        may show: base's, any that an operation it may include and that is
        ordered after base leaves, and any that an operation of unknown
        outcome invoked before `before` leaves. included(order, op): True,
        False or None (may be)."""
        evs = self.events.get(key, ())
        base = (None, None)
        for order, content, op in evs:
            if order is not None and included(order, op):
                base = (order, content)
        allowed = {base[1]}
        for order, content, op in evs:
            if order is None:
                if op["index"] < before:
                    allowed.add(content)
            elif included(order, op) is None and (base[0] is None or order > base[0]):
                allowed.add(content)
        return base, allowed

    def observe_key(self, key, content, included, before, where):
        """An answer showed key as content (None: absent)."""
        (order, current), allowed = self.key_states(key, included, before)
        if content in allowed:
            return
        at = "LSN %d (%s)" % (order[0], _where(self._event(key, order))) if order else ""
        if content is None:
            self.bad("last-write-wins", "%s lacks key %r: its version %r, acknowledged at %s, "
                     "is its last" % (where, key, current, at))
            return
        own = [(o, op) for o, c, op in self.events.get(key, ()) if c == content and o]
        if own and included(own[0][0], own[0][1]) is False:
            self.bad("last-write-wins", "%s shows key %r as %r, acknowledged at LSN %d, "
                     "which the answer does not include" % (where, key, content, own[0][0][0]))
        elif current is None and order is not None:
            self.bad("no-resurrection", "%s shows key %r as %r, deleted at %s"
                     % (where, key, content, at))
        else:
            self.bad("last-write-wins", "%s shows key %r as %r, replaced by %r at %s"
                     % (where, key, content, current, at))

    def _event(self, key, order):
        return next(op for o, _, op in self.events[key] if o == order)

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
        """Whether content may be absent though acknowledged: deleted, or
        a version of a key (whose state observe_key judges)."""
        return content in self.deleted or content in self.maybe_deleted or \
            content in self.key_of


def _exactly(lsn):
    """included() for an answer computed from the state at lsn."""
    return lambda order, op: order[0] < lsn


def _published_before(index):
    """included() for a read that holds every operation acknowledged
    before index, and may hold later ones."""
    return lambda order, op: True if op["done"] < index else None


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
            if hit_content in m.key_of:
                m.observe_key(m.key_of[hit_content], hit_content, _exactly(lsn), op["done"],
                              "%s (LSN %d)" % (where, lsn))
        found = hit is not None and hit[1] == target
        if found:
            seen.add(target)
        if found or not admits(target):
            continue
        if target in m.key_of:
            key = m.key_of[target]
            (order, _), allowed = m.key_states(key, _exactly(lsn), op["done"])
            if allowed == {target}:
                m.bad("last-write-wins", "%s (LSN %d) missed %r, the version of key %r "
                      "acknowledged at LSN %d (%s); got %r" % (
                          where, lsn, target, key, order[0], _where(m._event(key, order)),
                          hit))
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
    if not m.events:
        return
    included = _exactly(op["lsn"]) if "lsn" in op else _published_before(op["index"])
    if "lsn" in op:
        where += " (LSN %d)" % op["lsn"]
    _check_keys(m, m.events, [c for _, c in op["docs"]], included, op["index"], where)


def _check_keys(m, keys, contents, included, before, where):
    """one-version and the state of each of keys in an answer that holds
    contents (and no other version of them)."""
    shown = {}
    for c in contents:
        if c in m.key_of:
            shown.setdefault(m.key_of[c], []).append(c)
    for key in sorted(set(keys) | set(shown)):
        cs = shown.get(key, [None])
        if len(cs) > 1:
            m.bad("one-version", "%s holds key %r %d times: %r" % (where, key, len(cs), cs))
        else:
            m.observe_key(key, cs[0], included, before, where)


def _check_get(m, op):
    where = _where(op)
    lsn, min_lsn = op["lsn"], op["min_lsn"]
    if min_lsn and lsn <= min_lsn:
        m.bad("read-your-writes", "%s asked for min_lsn %d and was answered from LSN %d"
              % (where, min_lsn, lsn))
    asked = set(op["keys"])
    for doc_id, key, content in op["found"]:
        m.observe(doc_id, content, where)
        if key not in asked:
            m.bad("exactly-once", "%s returned key %r, which it did not ask for" % (where, key))
        elif m.key_of.get(content, key) != key:
            m.bad("exactly-once", "%s returned %r, a version of key %r, as key %r"
                  % (where, content, m.key_of[content], key))
    _check_keys(m, asked, [c for _, k, c in op["found"] if k in asked], _exactly(lsn),
                op["done"], "%s (LSN %d)" % (where, lsn))


def check(ops, unrecorded=None):
    """The violations of each property in PROPERTIES: {property: [text]}."""
    ops = sorted(ops, key=lambda op: op["index"])
    m = _Model(ops, unrecorded)
    last_lsn, seen = {}, {}
    for op in ops:
        if op["f"] == "read":
            _check_read(m, op)
            continue
        if op["f"] not in ("search", "get") or op["result"] != "ok":
            continue
        client = op["client"]
        if op["lsn"] < last_lsn.get(client, (0, None))[0]:
            before = last_lsn[client]
            m.bad("monotonic-reads", "%s (min_lsn %d) was answered from LSN %d after op %d "
                  "was from LSN %d" % (_where(op), op["min_lsn"], op["lsn"], before[1],
                                       before[0]))
        else:
            last_lsn[client] = (op["lsn"], op["index"])
        if op["f"] == "get":
            _check_get(m, op)
        else:
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
