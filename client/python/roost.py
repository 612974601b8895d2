"""roost: Python binding for the roost vector memory service.

A ctypes binding over libroost (client/roost.h): no packages to install,
numpy used when present. The API is LangChain's vector store interface;
with langchain_core installed, Roost is one of its VectorStores and
Documents and retrievers are LangChain's own:

    from roost import Roost
    db = Roost("sim", embedding=my_embedder)        # instance name or URLs
    ids = db.add_texts(["hello"], metadatas=[{"agent": 7, "topic": "cats"}],
                       ids=["post-1"])               # ids: strings
    docs = db.similarity_search("hello", k=4, filter={"agent": 7})
    docs[0].id, docs[0].page_content, docs[0].metadata  # "post-1", text, as added
    db.similarity_search("hello", filter={"topic": {"$in": ["cats", "dogs"]},
                                          "likes": {"$gte": 10}})  # on metadata
    db.similarity_search_with_relevance_scores("hello")  # [(Document, 0..1)]
    db.max_marginal_relevance_search("hello", k=4, lambda_mult=0.25)
    db.as_retriever(search_type="mmr").invoke("hello")

plus the lower-level add() and search(..., min_lsn=...) with last_lsn for
read-your-writes. Every failure is a RoostError with the server's code and
message. docs/python.md is the guide.

libroost is found through $ROOST_LIB (a path to libroost.so), next to this
file, where `make install` puts it (PREFIX/lib, this file being in
PREFIX/lib/python3/dist-packages), in the source tree's build directory
($BUILD, else build), or by the system loader.
"""
import array
import ctypes
import ctypes.util
import json
import math
import operator
import os
import threading
from collections import namedtuple

try:
    import numpy as _np
except ImportError:  # numpy is optional
    _np = None

__all__ = ["Roost", "RoostError", "Document", "VectorStoreRetriever", "Hit", "Results",
           "ACK_MODES"]

ACK_MODES = {"default": 0, "queued": 1, "durable": 2, "visible": 3}

# Error codes of base/err.h that this module raises itself, and ESEQ.
EINVAL, EDIM, ETOOBIG, EUTF8, ESEQ = -1, -10, -12, -13, -18
# Codes of reads that callers tell apart: not visible within the wait, and
# an as_of before the collection's kept history.
ENOTVISIBLE, EHISTORY = -19, -28
# Codes of collection calls: a name taken, none by that name.
EEXIST, ENOCOLL = -5, -27

# What one request carries at most: libroost's ROOST_MAX_DOCS, and half
# its 16 MiB frame limit so texts and framing always fit.
_MAX_DOCS = 1024
_MAX_BYTES = 8 << 20
_MAX_QUERIES = 1024  # a reader's limit per search (RSEARCH_MAX_QUERIES)
_MAX_TUNING = 65536  # a reader's limit for nprobe and ef_search (reader/search.h)
_MAX_KEY = 128  # bytes of a document's own id (proto/batch.h)
_MAX_META = 16384  # bytes of a document's metadata as JSON (proto/batch.h)


class RoostError(Exception):
    """A failure, with the roost error code (base/err.h, negative), its
    name and the server's message. added_ids lists what an add() split into
    several requests had stored before the failing one."""

    def __init__(self, code, message, added_ids=()):
        self.code = code
        self.name = _strerror(code)
        self.message = message or self.name
        self.added_ids = list(added_ids)
        super().__init__("%s (%d): %s" % (self.name, code, self.message))


# Retriever search types, as LangChain's VectorStoreRetriever names them.
_SEARCH_TYPES = ("similarity", "similarity_score_threshold", "mmr")

try:  # With LangChain installed, a Roost is one of its vector stores.
    from langchain_core.documents import Document
    from langchain_core.vectorstores import VectorStore as _VectorStore
    from langchain_core.vectorstores import VectorStoreRetriever
    _LANGCHAIN = True
except ImportError:
    _VectorStore, _LANGCHAIN = object, False

if not _LANGCHAIN:
    class Document:
        """A document shaped like LangChain's: page_content is the text,
        metadata the dict it was added with, id its id as a string."""

        __slots__ = ("page_content", "metadata", "id")

        def __init__(self, page_content, metadata=None, id=None):
            self.page_content = page_content
            self.metadata = dict(metadata or {})
            self.id = id

        def __eq__(self, other):
            return (isinstance(other, Document) and self.page_content == other.page_content and
                    self.metadata == other.metadata and self.id == other.id)

        def __repr__(self):
            return "Document(id=%r, metadata=%r, page_content=%r)" % (
                self.id, self.metadata, self.page_content)

    class VectorStoreRetriever:
        """A retriever shaped like LangChain's: invoke(query) runs the
        vector store's search of search_type with search_kwargs."""

        def __init__(self, vectorstore, search_type="similarity", search_kwargs=None,
                     tags=None, metadata=None):
            self.vectorstore = vectorstore
            self.search_type = search_type
            self.search_kwargs = dict(search_kwargs or {})
            self.tags = list(tags or [])
            self.metadata = dict(metadata or {})

        def invoke(self, input, config=None, **kwargs):
            """The Documents for a query; kwargs add to search_kwargs.
            config, LangChain's run settings, has no use here."""
            store, args = self.vectorstore, dict(self.search_kwargs, **kwargs)
            if self.search_type == "similarity":
                return store.similarity_search(input, **args)
            if self.search_type == "similarity_score_threshold":
                return [d for d, _ in store.similarity_search_with_relevance_scores(input, **args)]
            if self.search_type == "mmr":
                return store.max_marginal_relevance_search(input, **args)
            raise RoostError(EINVAL, "search_type must be one of %s, not %r"
                             % (", ".join(_SEARCH_TYPES), self.search_type))

        def get_relevant_documents(self, query, **kwargs):
            return self.invoke(query, **kwargs)

        def __repr__(self):
            return "VectorStoreRetriever(search_type=%r, search_kwargs=%r)" % (
                self.search_type, self.search_kwargs)


# id: the document's id as a string (its own, or "#<version>" for one roost
# assigned); version: the number roost gave this version of it; metadata:
# the dict it was added with (for a document added without one, as by the
# CLI or C, its agent, time and kind).
Hit = namedtuple("Hit", "id score agent time kind text metadata version vector",
                 defaults=(None,))


def _id_str(key, version):
    """A document's id in string form: assigned ids are "#<number>", and
    no id of a client's may begin with '#'."""
    return key if key else "#%d" % version


class Results(list):
    """One list of Hits per query, best first; lsn is the LSN the answer was
    computed from (it includes every batch below it)."""

    def __init__(self, hits, lsn):
        super().__init__(hits)
        self.lsn = lsn


class Found(list):
    """The Hits of a get, in the order asked; lsn is the LSN the answer
    was computed from (for more than 1024 ids, asked in parts, the
    smallest of the parts': every part includes every batch below it)."""

    def __init__(self, hits, lsn):
        super().__init__(hits)
        self.lsn = lsn


# ---------------------------------------------------------------------
# libroost

class _Doc(ctypes.Structure):
    _fields_ = [("vector", ctypes.POINTER(ctypes.c_float)), ("agent", ctypes.c_int64),
                ("time", ctypes.c_int64), ("kind", ctypes.c_char_p), ("text", ctypes.c_char_p),
                ("id", ctypes.c_char_p), ("metadata", ctypes.c_char_p)]


class _Condition(ctypes.Structure):
    _fields_ = [("key", ctypes.c_char_p), ("any_of", ctypes.POINTER(ctypes.c_char_p)),
                ("n_any_of", ctypes.c_size_t), ("has_min", ctypes.c_int),
                ("min", ctypes.c_double), ("min_exclusive", ctypes.c_int),
                ("has_max", ctypes.c_int), ("max", ctypes.c_double),
                ("max_exclusive", ctypes.c_int)]


class _Filter(ctypes.Structure):
    _fields_ = [("agents", ctypes.POINTER(ctypes.c_int64)), ("nagents", ctypes.c_size_t),
                ("has_time", ctypes.c_int), ("time_min", ctypes.c_int64),
                ("time_max", ctypes.c_int64), ("kind", ctypes.c_char_p),
                ("where", ctypes.POINTER(_Condition)), ("nwhere", ctypes.c_size_t)]


class _Hit(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("score", ctypes.c_float), ("agent", ctypes.c_int64),
                ("time", ctypes.c_int64), ("kind", ctypes.c_char_p), ("text", ctypes.c_char_p),
                ("key", ctypes.c_char_p), ("metadata", ctypes.c_char_p),
                ("vector", ctypes.POINTER(ctypes.c_float)), ("dim", ctypes.c_size_t)]


class _Status(ctypes.Structure):
    _fields_ = [("dim", ctypes.c_uint32), ("metric", ctypes.c_uint32),
                ("index", ctypes.c_char * 64), ("writer_pid", ctypes.c_int32),
                ("writer_mode", ctypes.c_char * 64), ("ring_head", ctypes.c_uint64),
                ("ring_reserve", ctypes.c_uint64), ("ring_capacity", ctypes.c_uint64),
                ("durable_lsn", ctypes.c_uint64), ("applied_lsn", ctypes.c_uint64),
                ("published_lsn", ctypes.c_uint64), ("documents", ctypes.c_uint64),
                ("collection", ctypes.c_char * 64), ("collections", ctypes.c_uint32),
                ("agent_rate", ctypes.c_uint32), ("agent_refused", ctypes.c_uint64)]


class _History(ctypes.Structure):
    _fields_ = [("retain", ctypes.c_char * 48), ("horizon_lsn", ctypes.c_uint64),
                ("log_bytes", ctypes.c_uint64), ("start_lsn", ctypes.c_uint64),
                ("bytes", ctypes.c_uint64)]


class _CollSettings(ctypes.Structure):
    _fields_ = [("dim", ctypes.c_uint32), ("metric", ctypes.c_uint32),
                ("index", ctypes.c_char_p), ("train_docs", ctypes.c_uint64),
                ("seal_docs", ctypes.c_uint64), ("seal_interval_ms", ctypes.c_uint32),
                ("indexed_keys", ctypes.c_char_p)]


class _Coll(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char * 64), ("id", ctypes.c_uint32),
                ("dim", ctypes.c_uint32), ("metric", ctypes.c_uint32),
                ("index", ctypes.c_char * 64), ("train_docs", ctypes.c_uint64),
                ("seal_docs", ctypes.c_uint64), ("seal_interval_ms", ctypes.c_uint32),
                ("documents", ctypes.c_uint64), ("segments", ctypes.c_uint32),
                ("created_lsn", ctypes.c_uint64), ("indexed_keys", ctypes.c_char * 128),
                ("rebuilding", ctypes.c_uint32)]


_P = ctypes.c_void_p
_SIGNATURES = {
    "roost_connect": (ctypes.c_int, [ctypes.POINTER(_P), ctypes.c_char_p]),
    "roost_close": (None, [_P]),
    "roost_set_timeout": (None, [_P, ctypes.c_int]),
    "roost_set_search_tuning": (None, [_P, ctypes.c_uint32, ctypes.c_uint32]),
    "roost_set_as_of": (None, [_P, ctypes.c_uint64]),
    "roost_add": (ctypes.c_int, [_P, ctypes.c_uint32, ctypes.POINTER(_Doc), ctypes.c_size_t,
                                 ctypes.c_int, ctypes.POINTER(ctypes.c_uint64),
                                 ctypes.POINTER(ctypes.c_uint64)]),
    "roost_delete": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                                    ctypes.c_int, ctypes.POINTER(ctypes.c_uint64)]),
    "roost_delete_where": (ctypes.c_int, [_P, ctypes.POINTER(_Filter), ctypes.c_int,
                                          ctypes.POINTER(ctypes.c_uint64)]),
    "roost_get": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.c_char_p), ctypes.c_size_t,
                                 ctypes.c_int, ctypes.c_uint64, ctypes.POINTER(_P)]),
    "roost_scroll": (ctypes.c_int, [_P, ctypes.POINTER(_Filter), ctypes.c_uint32,
                                    ctypes.c_char_p, ctypes.c_int, ctypes.c_uint64,
                                    ctypes.POINTER(_P)]),
    "roost_results_cursor": (ctypes.c_char_p, [_P]),
    "roost_search": (ctypes.c_int, [_P, ctypes.c_uint32, ctypes.POINTER(ctypes.c_float),
                                    ctypes.c_uint32, ctypes.c_uint32, ctypes.POINTER(_Filter),
                                    ctypes.c_uint64, ctypes.POINTER(_P)]),
    "roost_results_hits": (ctypes.c_size_t, [_P, ctypes.c_uint32,
                                             ctypes.POINTER(ctypes.POINTER(_Hit))]),
    "roost_results_lsn": (ctypes.c_uint64, [_P]),
    "roost_results_free": (None, [_P]),
    "roost_status": (ctypes.c_int, [_P, ctypes.POINTER(_Status)]),
    "roost_history": (ctypes.c_int, [_P, ctypes.POINTER(_History)]),
    "roost_use": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "roost_collection_create": (ctypes.c_int, [_P, ctypes.c_char_p,
                                               ctypes.POINTER(_CollSettings),
                                               ctypes.POINTER(_Coll),
                                               ctypes.POINTER(ctypes.c_int)]),
    "roost_collection_drop": (ctypes.c_int, [_P, ctypes.c_char_p]),
    "roost_collection_fork": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_char_p,
                                             ctypes.c_uint64, ctypes.POINTER(_Coll)]),
    "roost_collection_alter": (ctypes.c_int, [_P, ctypes.c_char_p, ctypes.c_char_p,
                                              ctypes.c_uint64, ctypes.POINTER(_Coll)]),
    "roost_collection_list": (ctypes.c_int, [_P, ctypes.POINTER(ctypes.POINTER(_Coll)),
                                             ctypes.POINTER(ctypes.c_size_t)]),
    "roost_collections_free": (None, [ctypes.POINTER(_Coll)]),
    "roost_last_error": (ctypes.c_char_p, [_P]),
    "roost_client_id": (ctypes.c_uint64, [_P]),
    "roost_set_client_id": (ctypes.c_int, [_P, ctypes.c_uint64, ctypes.c_uint64]),
    "roost_strerror": (ctypes.c_char_p, [ctypes.c_int]),
}

_lib = None
_lib_lock = threading.Lock()


def _candidates():
    env = os.environ.get("ROOST_LIB")
    if env:
        return [env]
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    builds = [os.environ.get("BUILD", "build"), "build"]
    found = ctypes.util.find_library("roost")
    installed = os.path.join(os.path.dirname(os.path.dirname(here)), "libroost.so.1")
    return ([os.path.join(here, "libroost.so"), installed] +
            [os.path.join(root, b, "lib", "libroost.so") for b in builds] +
            [found or "libroost.so"])


def _load():
    """libroost, loaded once; ROOST_LIB names it exactly."""
    global _lib
    with _lib_lock:
        if _lib is not None:
            return _lib
        tried = []
        for path in _candidates():
            if os.sep in path and not os.path.exists(path):
                tried.append(path)
                continue
            try:
                lib = ctypes.CDLL(path)
            except OSError as e:
                tried.append("%s (%s)" % (path, e))
                continue
            for name, (res, args) in _SIGNATURES.items():
                fn = getattr(lib, name)
                fn.restype, fn.argtypes = res, args
            _lib = lib
            return lib
        raise OSError("libroost.so not found; build it with `make` or set ROOST_LIB. "
                      "Tried: " + ", ".join(tried))


def _strerror(code):
    try:
        return _load().roost_strerror(code).decode()
    except OSError:
        return "error"


def _cstr(value, what):
    """UTF-8 bytes for a C string; roost strings cannot hold U+0000."""
    if value is None:
        return b""
    if not isinstance(value, str):
        raise RoostError(EINVAL, "%s must be a str, not %s" % (what, type(value).__name__))
    try:
        b = value.encode("utf-8")
    except UnicodeEncodeError as e:
        raise RoostError(EUTF8, "%s is not valid Unicode text: %s" % (what, e)) from None
    if b"\0" in b:
        raise RoostError(EINVAL, "%s holds U+0000, which roost strings cannot hold" % what)
    return b


def _int(value, what, lo=-(1 << 63), hi=(1 << 63) - 1):
    """An exact integer in [lo, hi]: ctypes would silently wrap or truncate."""
    try:
        v = operator.index(value)
    except TypeError:
        raise RoostError(EINVAL, "%s must be an integer, not %r" % (what, value)) from None
    if not lo <= v <= hi:
        raise RoostError(EINVAL, "%s = %d is out of range (%d to %d)" % (what, v, lo, hi))
    return v


def _rows(vectors, what):
    """A list of vectors as lists, all of one non-zero length."""
    try:
        rows = [list(v) for v in vectors]
    except TypeError:
        raise RoostError(EINVAL, "%s must be a sequence of vectors (wrap a single vector in "
                                 "a list)" % what) from None
    if not rows:
        raise RoostError(EINVAL, "%s is empty" % what)
    for i, r in enumerate(rows):
        if len(r) != len(rows[0]) or not r:
            raise RoostError(EDIM, "%s[%d] has %d values, %s[0] has %d"
                             % (what, i, len(r), what, len(rows[0])))
    return rows


def _floats(vectors, what):
    """(float pointer, keep-alive, rows, dim) for vectors: a sequence of
    vectors or a 2-D numpy array, as one contiguous float32 block that the
    keep-alive object owns."""
    if _np is not None and isinstance(vectors, _np.ndarray):
        if vectors.ndim != 2 or vectors.shape[0] == 0 or vectors.shape[1] == 0:
            raise RoostError(EDIM, "%s must be a non-empty 2-D array, not shape %s"
                             % (what, vectors.shape))
        a = _np.ascontiguousarray(vectors, dtype=_np.float32)
        return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), a, a.shape[0], a.shape[1]
    rows = _rows(vectors, what)
    flat = [x for r in rows for x in r]
    try:
        a = (_np.asarray(flat, dtype=_np.float32) if _np is not None else
             array.array("f", flat))
    except (TypeError, ValueError) as e:
        raise RoostError(EINVAL, "%s must hold numbers: %s" % (what, e)) from None
    if _np is not None:
        return a.ctypes.data_as(ctypes.POINTER(ctypes.c_float)), a, len(rows), len(rows[0])
    c = (ctypes.c_float * len(a)).from_buffer(a)
    return ctypes.cast(c, ctypes.POINTER(ctypes.c_float)), (a, c), len(rows), len(rows[0])


_FIRST_CLASS = ("agent", "agents", "kind", "time", "time_min", "time_max")
# Comparison operators on a metadata key, as LangChain's and Chroma's
# filters write them: (bound side, exclusive) for the range ones.
_RANGE_OPS = {"$gt": ("min", 1), "$gte": ("min", 0), "$lt": ("max", 1), "$lte": ("max", 0)}
_OPS = ("$eq", "$in") + tuple(_RANGE_OPS)


def _filter_items(spec, out):
    """The (key, value) pairs of a filter dict, those of $and's dicts
    included, in order."""
    if not isinstance(spec, dict):
        raise RoostError(EINVAL, "a filter is a dict, not %r" % (spec,))
    for key, value in spec.items():
        if key == "$and":
            if not isinstance(value, (list, tuple)):
                raise RoostError(EINVAL, "filter $and takes a list of filter dicts, not %r"
                                 % (value,))
            for part in value:
                _filter_items(part, out)
        elif isinstance(key, str) and key.startswith("$"):
            raise RoostError(EINVAL, "unknown filter operator %s; roost filters take $and of "
                                     "dicts, and %s on metadata keys" % (key, ", ".join(_OPS)))
        else:
            out.append((key, value))
    return out


def _json_scalar(value, what):
    """A JSON scalar's text for a condition: JSON types are kept, so 5 and
    "5" are different values."""
    if value is not None and not isinstance(value, (str, int, float, bool)):
        raise RoostError(EINVAL, "%s: metadata values to compare are str, int, float, bool or "
                                 "None, not %s" % (what, type(value).__name__))
    try:
        return _cstr(json.dumps(value, allow_nan=False), what)
    except ValueError:
        raise RoostError(EINVAL, "%s: %r is not a JSON number" % (what, value)) from None


def _bound(value, what):
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RoostError(EINVAL, "%s must be a number, not %r" % (what, value))
    try:
        v = float(value)
    except OverflowError:
        v = float("inf")
    if v != v or v in (float("inf"), float("-inf")):
        raise RoostError(EINVAL, "%s must be finite, not %r" % (what, value))
    return v


def _conditions(key, value):
    """The conditions (dicts of _Condition's fields) of one metadata key: a
    scalar is equality, a list any of its values, a dict of operators each
    of them."""
    what = "filter %r" % (key,)
    if not isinstance(key, str):
        raise RoostError(EINVAL, "filter keys are str, not %r" % (key,))
    if not isinstance(value, dict):
        value = {"$in": value} if isinstance(value, (list, tuple)) else {"$eq": value}
    unknown = sorted(map(str, set(value) - set(_OPS)))
    if unknown:
        raise RoostError(EINVAL, "%s: unknown operator%s %s; use %s" % (
            what, "s" if len(unknown) > 1 else "", ", ".join(unknown), ", ".join(_OPS)))
    if not value:
        raise RoostError(EINVAL, "%s: no operator; use %s" % (what, ", ".join(_OPS)))
    out, bounds = [], {}
    for op, arg in value.items():
        if op == "$eq":
            out.append({"any_of": [_json_scalar(arg, what)]})
        elif op == "$in":
            if not isinstance(arg, (list, tuple)):
                raise RoostError(EINVAL, "%s: $in takes a list, not %r" % (what, arg))
            # An empty list admits nothing: a range no number lies in says so.
            out.append({"any_of": [_json_scalar(v, what) for v in arg]} if arg else
                       {"has_min": 1, "min": 1.0, "has_max": 1, "max": 0.0})
        else:
            side, exclusive = _RANGE_OPS[op]
            b = {"has_" + side: 1, side: _bound(arg, "%s: %s" % (what, op)),
                 side + "_exclusive": exclusive}
            # One lower and one upper bound share a condition.
            if side in bounds:
                out.append(b)
            else:
                bounds.update(b)
    if bounds:
        out.append(bounds)
    return [dict(c, key=_cstr(key, what)) for c in out]


def _filter(spec):
    """A libroost filter from a dict: agent (int or list), agents (list),
    kind (str), time_min/time_max (either bound alone is open on the
    other side) or time (a (min, max) pair); any other key is a metadata
    condition (a value, a list of values, or a dict of $eq, $in, $gt, $gte,
    $lt, $lte); $and takes a list of such dicts. Returns the filter and
    what owns the memory it points to."""
    if not spec:
        return None, None
    first, conds = {}, []
    for key, value in _filter_items(spec, []):
        if key in _FIRST_CLASS:
            if key in first:
                raise RoostError(EINVAL, "filter gives %s twice" % key)
            if isinstance(value, dict):
                raise RoostError(EINVAL, "filter %s is a first-class field, which takes no "
                                         "operators: give agent, agents, kind, time_min, "
                                         "time_max or time (min, max)" % key)
            first[key] = value
        else:
            conds += _conditions(key, value)
    agents = first.get("agents", first.get("agent", []))
    agents = [agents] if isinstance(agents, int) else list(agents)
    agents = [_int(a, "filter agent") for a in agents]
    f = _Filter()
    keep = [(ctypes.c_int64 * len(agents))(*agents)]
    f.agents, f.nagents = (keep[0] if agents else None), len(agents)
    lo, hi = first.get("time", (first.get("time_min"), first.get("time_max")))
    if lo is not None or hi is not None:
        f.has_time = 1
        f.time_min = -(1 << 63) if lo is None else _int(lo, "filter time_min")
        f.time_max = (1 << 63) - 1 if hi is None else _int(hi, "filter time_max")
    f.kind = _cstr(first.get("kind"), "filter kind")
    if conds:
        where = (_Condition * len(conds))()
        for c, spec_c in zip(where, conds):
            values = spec_c.pop("any_of", [])
            arr = (ctypes.c_char_p * len(values))(*values)
            keep.append((arr, values))
            c.any_of, c.n_any_of = (arr if values else None), len(values)
            for name, v in spec_c.items():
                setattr(c, name, v)
        keep.append(where)
        f.where, f.nwhere = where, len(conds)
    return f, keep


def _id_list(ids):
    """Ids to name in a get or a delete, as bytes: none may be empty."""
    keys = [_cstr(i, "ids[%d]" % n) for n, i in enumerate(ids)]
    for n, k in enumerate(keys):
        if not k:
            raise RoostError(EINVAL, "ids[%d] is empty" % n)
    return keys


def _key(value, what):
    """A document's own id as bytes: 1 to 128 bytes of UTF-8, not
    beginning with '#' (which marks the ids roost assigns)."""
    b = _cstr(value, what)
    if not b or len(b) > _MAX_KEY or b.startswith(b"#"):
        raise RoostError(EINVAL if len(b) <= _MAX_KEY else ETOOBIG,
                         "%s = %r: an id is 1 to %d bytes of UTF-8 not beginning with '#'"
                         % (what, value, _MAX_KEY))
    return b


def _meta_json(m, what):
    """A metadata dict as the JSON object roost stores verbatim."""
    if not isinstance(m, dict):
        raise RoostError(EINVAL, "%s must be a dict, not %s" % (what, type(m).__name__))
    try:
        text = json.dumps(m, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (TypeError, ValueError) as e:
        raise RoostError(EINVAL, "%s cannot be stored as JSON: %s" % (what, e)) from None
    b = _cstr(text, what)
    if len(b) > _MAX_META:
        raise RoostError(ETOOBIG, "%s is %d bytes as JSON; the limit is %d"
                         % (what, len(b), _MAX_META))
    return b


def _documents_args(documents, kwargs):
    """The texts and metadatas of Documents, and kwargs with their ids
    added: the documents' own where any has one (ids= given wins, as in
    LangChain), so that documents without one get ids roost assigns."""
    texts, metadatas, own = [], [], []
    for i, d in enumerate(documents):
        try:
            texts.append(d.page_content)
            metadatas.append(d.metadata)
        except AttributeError:
            raise RoostError(EINVAL, "documents[%d] is a %s, not a Document (page_content, "
                                     "metadata, id)" % (i, type(d).__name__)) from None
        own.append(getattr(d, "id", None) or None)
    if "ids" not in kwargs and any(own):
        kwargs = dict(kwargs, ids=own)
    return texts, metadatas, kwargs


def _no_more(method, kwargs):
    """Keywords a method does not take are an error, not ignored: a
    misspelt filter= would otherwise search everything."""
    if kwargs:
        raise RoostError(EINVAL, "%s takes no %s" % (method, ", ".join(sorted(kwargs))))


def _hit_metadata(h):
    """The dict a document was added with; for one added without metadata
    (by the CLI or C), its first-class fields."""
    if h.metadata:
        try:
            return json.loads(h.metadata.decode("utf-8"))
        except ValueError:
            pass  # a server stores only valid objects; never fail a search on it
    return {"agent": h.agent, "time": h.time, "kind": (h.kind or b"").decode("utf-8", "replace")}


def _hit(h):
    """A Hit from libroost's, its strings decoded and copied."""
    return Hit(_id_str((h.key or b"").decode("utf-8", "replace"), h.id), h.score, h.agent,
               h.time, (h.kind or b"").decode("utf-8", "replace"),
               (h.text or b"").decode("utf-8", "replace"), _hit_metadata(h), h.id,
               list(h.vector[:h.dim]) if h.vector else None)


def _document(h):
    return Document(page_content=h.text, metadata=h.metadata, id=h.id)


def _l2_relevance(distance):
    """Relevance from a squared L2 distance: between unit vectors it lies
    in [0, 4], 0 the same vector and 2 orthogonal ones."""
    return min(1.0, max(0.0, 1.0 - distance / 4.0))


def _ip_relevance(similarity):
    """Relevance from an inner product: between unit vectors the cosine,
    in [-1, 1]."""
    return min(1.0, max(0.0, (1.0 + similarity) / 2.0))


def _unit_rows(vectors):
    """Vectors scaled to length 1 (a zero vector stays zero: similar to
    nothing), as a numpy array when numpy is there."""
    out = []
    for v in vectors:
        n = math.sqrt(sum(x * x for x in v))
        out.append([x / n for x in v] if n else [0.0] * len(v))
    return _np.asarray(out, dtype=_np.float64) if _np is not None else out


def _mmr(query, vectors, k, lambda_mult):
    """Maximal marginal relevance: the indexes of up to k vectors, chosen
    one at a time for the highest lambda_mult * cosine(query, v) -
    (1 - lambda_mult) * (the highest cosine of v with one chosen before);
    the first is the nearest to query."""
    rows = _unit_rows(vectors)
    q = _unit_rows([query])[0]

    def cosines(v):
        if _np is not None:
            return (rows @ v).tolist()
        return [sum(a * b for a, b in zip(r, v)) for r in rows]

    relevance = cosines(q)
    redundancy = [-1.0] * len(vectors)
    chosen = []
    while len(chosen) < min(k, len(vectors)):
        best, best_score = -1, -math.inf
        for i, rel in enumerate(relevance):
            if i in chosen:
                continue
            score = lambda_mult * rel - (1.0 - lambda_mult) * redundancy[i] if chosen else rel
            if score > best_score:
                best, best_score = i, score
        chosen.append(best)
        redundancy = [max(r, c) for r, c in zip(redundancy, cosines(rows[best]))]
    return chosen


def _chunks(docs, dim):
    """Splits documents into requests under libroost's limits."""
    start, size = 0, 0
    for i, d in enumerate(docs):
        need = dim * 4 + sum(len(x) for x in d[2:]) + 64
        if i > start and (i - start == _MAX_DOCS or size + need > _MAX_BYTES):
            yield start, i
            start, size = i, 0
        size += need
    if start < len(docs):
        yield start, len(docs)


# ---------------------------------------------------------------------
# The client

class Roost(_VectorStore):
    """A connection to one roost instance.

    target: an instance name (its brokers' sockets in the runtime directory)
    or comma-separated SP URLs (ipc://, tcp://). embedding: a LangChain Embeddings
    object (embed_documents/embed_query) or a function text -> vector, for
    add_texts() without vectors and for similarity_search(). ack: the
    default acknowledgement ("queued", "durable", "visible"). timeout_ms:
    how long one call may take, retries included (libroost's default: 30 s).
    nprobe, ef_search: see set_search_tuning(). client_id: a stable
    idempotency identity instead of a random one (see set_client_id()).
    collection: the collection adds, searches and status() name (see
    use(); default "default").

    Calls on one Roost are serialised (libroost handles are not for
    concurrent use); give each thread its own for parallelism.
    """

    def __init__(self, target, embedding=None, ack="durable", timeout_ms=None, nprobe=0,
                 ef_search=0, client_id=None, collection=None):
        self._lib = _load()
        self._lock = threading.Lock()
        self._h = None
        self.target = target
        self.embedding = embedding
        self.ack = self._ack(ack)
        self.last_lsn = None
        h = _P()
        rc = self._lib.roost_connect(ctypes.byref(h), _cstr(target, "target"))
        if rc:
            raise RoostError(rc, "cannot connect to %r: %s" % (target, _strerror(rc)))
        self._h = h
        if timeout_ms is not None:
            self._lib.roost_set_timeout(h, int(timeout_ms))
        self.set_search_tuning(nprobe, ef_search)
        if client_id is not None:
            self.set_client_id(client_id)
        self.collection = "default"
        if collection is not None:
            self.use(collection)

    # -- lifetime ---------------------------------------------------------
    def close(self):
        with self._lock:
            if self._h:
                self._lib.roost_close(self._h)
                self._h = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        if getattr(self, "_h", None):
            self.close()

    @property
    def client_id(self):
        """This connection's idempotency client id."""
        return self._lib.roost_client_id(self._handle())

    def set_client_id(self, client_id, next_seq=1):
        """Makes the next add's idempotency key (client_id, next_seq), later
        adds (and the requests of a split add) continuing from there. A load
        rerun with the same client_id and the same numbering stores nothing
        twice: a request the server already stored gets its original ids
        (the newest one) or RoostError ESEQ (older ones). Both non-zero."""
        client_id = _int(client_id, "client_id", 1, (1 << 64) - 1)
        next_seq = _int(next_seq, "next_seq", 1, (1 << 64) - 1)
        with self._lock:
            rc = self._lib.roost_set_client_id(self._handle(), client_id, next_seq)
            if rc:
                raise self._error(rc)

    def use(self, collection):
        """Makes later adds, searches and status() name this collection
        (None: "default"). Only the name is checked here; a collection that
        does not exist is the server's RoostError ENOCOLL on the next call."""
        name = _cstr(collection, "collection")
        with self._lock:
            rc = self._lib.roost_use(self._handle(), name)
            if rc:
                raise self._error(rc)
        self.collection = collection or "default"

    def _handle(self):
        if not self._h:
            raise RoostError(EINVAL, "this Roost is closed")
        return self._h

    def _error(self, rc, added=()):
        msg = self._lib.roost_last_error(self._h) or b""
        return RoostError(rc, msg.decode("utf-8", "replace"), added)

    @staticmethod
    def _ack(ack):
        if ack not in ACK_MODES:
            raise RoostError(EINVAL, "ack must be one of %s, not %r" % (list(ACK_MODES), ack))
        return ACK_MODES[ack]

    # -- writes -----------------------------------------------------------
    def add(self, vectors, texts=None, metadatas=None, ids=None, ack=None):
        """Adds one document per vector and returns their ids as strings,
        in order. texts: one str per vector (default ""). metadatas: one
        dict per vector, stored as JSON and returned as it was; its agent,
        time and kind (default 0, 0, "") are also the document's
        first-class fields, which filters use. ids: one str per vector, the
        documents' own ids (an existing one is replaced); None: roost
        assigns ids ("#<number>"). ack overrides the default
        acknowledgement. Large batches are split into several requests,
        each idempotent on its own; last_lsn is the newest LSN."""
        ptr, keep, n, dim = _floats(vectors, "vectors")  # keep: owns what ptr points to
        docs = self._docs(n, texts, metadatas, ids)
        mode = self.ack if ack is None else self._ack(ack)
        ids = []
        with self._lock:
            h = self._handle()
            for lo, hi in _chunks(docs, dim):
                ids += self._add_chunk(h, ptr, dim, docs[lo:hi], lo, mode, ids)
        return ids

    @staticmethod
    def _docs(n, texts, metadatas, ids):
        texts = [""] * n if texts is None else list(texts)
        metas = [{}] * n if metadatas is None else list(metadatas)
        keys = [None] * n if ids is None else list(ids)
        if len(texts) != n or len(metas) != n or len(keys) != n:
            raise RoostError(EINVAL, "%d vectors but %d texts, %d metadatas and %d ids"
                             % (n, len(texts), len(metas), len(keys)))
        docs = []
        for i, (t, m, k) in enumerate(zip(texts, metas, keys)):
            m = {} if m is None else m
            meta = _meta_json(m, "metadatas[%d]" % i)
            docs.append((_int(m.get("agent", 0), "metadatas[%d] agent" % i),
                         _int(m.get("time", 0), "metadatas[%d] time" % i),
                         _cstr(m.get("kind"), "metadatas[%d] kind" % i),
                         _cstr(t, "texts[%d]" % i),
                         b"" if k is None else _key(k, "ids[%d]" % i),
                         meta))
        return docs

    def _add_chunk(self, h, ptr, dim, docs, first, mode, added):
        n = len(docs)
        cdocs = (_Doc * n)()
        base = ctypes.cast(ptr, ctypes.c_void_p).value
        for j, (agent, time, kind, text, key, meta) in enumerate(docs):
            row = ctypes.cast(base + (first + j) * dim * 4, ctypes.POINTER(ctypes.c_float))
            cdocs[j] = _Doc(row, agent, time, kind, text, key, meta)
        ids = (ctypes.c_uint64 * n)()
        lsn = ctypes.c_uint64()
        rc = self._lib.roost_add(h, dim, cdocs, n, mode, ids, ctypes.byref(lsn))
        if rc:
            raise self._error(rc, added)
        self._saw_lsn(lsn.value)
        return [_id_str(d[4].decode("utf-8"), v) for d, v in zip(docs, ids)]

    def add_texts(self, texts, metadatas=None, *, ids=None, embeddings=None, vectors=None,
                  ack=None, **kwargs):
        """LangChain's add_texts: stores texts with their vectors (embeddings
        or vectors, else computed with the embedding function), metadatas
        and ids (see add()); returns the ids as strings."""
        _no_more("add_texts", kwargs)
        texts = list(texts)
        if embeddings is None:
            embeddings = vectors
        if embeddings is None:
            embeddings = self._embed_documents(texts)
        return self.add(embeddings, texts, metadatas, ids, ack)

    def add_documents(self, documents, **kwargs):
        """LangChain's add_documents: stores Documents (page_content,
        metadata, id) as add_texts() does. Their ids are ids= when given,
        else each document's own id where it has one; returns the ids."""
        texts, metadatas, kwargs = _documents_args(documents, kwargs)
        return self.add_texts(texts, metadatas, **kwargs)

    def delete(self, ids=None, *, ack=None, filter=None, **kwargs):
        """LangChain's delete: removes the documents with these ids (their
        own, or "#<number>"; ids the collection does not hold are no
        error), or, with filter= instead, every document the filter admits
        that was added before the delete (those added after it stay).
        Returns True. Once acknowledged "visible", or for a search with
        min_lsn=last_lsn, no search finds them."""
        _no_more("delete", kwargs)
        if (ids is None) == (filter is None):
            raise RoostError(EINVAL, "delete needs ids or a filter, not %s (deleting "
                                     "everything is dropping the collection: drop_collection)"
                             % ("both" if ids is not None else "neither"))
        mode = self.ack if ack is None else self._ack(ack)
        if filter is not None:
            self._delete_where(filter, mode)
            return True
        keys = _id_list(ids)
        with self._lock:
            h = self._handle()
            for lo in range(0, len(keys), _MAX_DOCS):
                part = keys[lo:lo + _MAX_DOCS]
                arr = (ctypes.c_char_p * len(part))(*part)
                lsn = ctypes.c_uint64()
                rc = self._lib.roost_delete(h, arr, len(part), mode, ctypes.byref(lsn))
                if rc:
                    raise self._error(rc)
                self._saw_lsn(lsn.value)
        return True

    def _delete_where(self, filter, mode):
        f, fkeep = _filter(filter)  # fkeep: owns the arrays f points to
        if f is None:
            raise RoostError(EINVAL, "a delete by filter needs a filter that sets some part")
        lsn = ctypes.c_uint64()
        with self._lock:
            rc = self._lib.roost_delete_where(self._handle(), ctypes.byref(f), mode,
                                              ctypes.byref(lsn))
            if rc:
                raise self._error(rc)
            self._saw_lsn(lsn.value)

    def _saw_lsn(self, lsn):
        self.last_lsn = lsn if self.last_lsn is None else max(self.last_lsn, lsn)

    @classmethod
    def from_texts(cls, texts, embedding, metadatas=None, *, ids=None, target=None, **kwargs):
        """LangChain's constructor: connects to target (other keywords go
        to Roost()) and adds texts with their metadatas and ids."""
        if target is None:
            raise RoostError(EINVAL, "from_texts needs target=: the instance name (or "
                                     "comma-separated URLs) to add the texts to")
        db = cls(target, embedding=embedding, **kwargs)
        db.add_texts(texts, metadatas, ids=ids)
        return db

    @classmethod
    def from_documents(cls, documents, embedding, **kwargs):
        """LangChain's constructor from Documents: from_texts() with their
        texts, metadatas and ids (ids= first, as in add_documents())."""
        texts, metadatas, kwargs = _documents_args(documents, kwargs)
        return cls.from_texts(texts, embedding, metadatas, **kwargs)

    @property
    def embeddings(self):
        """LangChain's embeddings: the embedding object or function given
        as embedding=, None without one."""
        return self.embedding

    def _embed_documents(self, texts):
        e = self._need_embedding()
        if hasattr(e, "embed_documents"):
            return e.embed_documents(texts)
        return [e(t) for t in texts]

    def _embed_query(self, text):
        e = self._need_embedding()
        return e.embed_query(text) if hasattr(e, "embed_query") else e(text)

    def _need_embedding(self):
        if self.embedding is None:
            raise RoostError(EINVAL, "no embedding function: pass embedding= to Roost() or "
                                     "give vectors")
        return self.embedding

    # -- reads ------------------------------------------------------------
    def set_search_tuning(self, nprobe=0, ef_search=0):
        """Trades recall for speed in later searches: IVF indexes visit
        nprobe inverted lists, HNSW indexes keep ef_search candidates (each
        1 .. 65536; 0: roost's defaults, nlist/64 lists but at least 8, and
        64 candidates). Other index types, and the
        recent documents roost scans exactly, are not affected."""
        nprobe = _int(nprobe or 0, "nprobe", 0, _MAX_TUNING)
        ef_search = _int(ef_search or 0, "ef_search", 0, _MAX_TUNING)
        with self._lock:
            self._lib.roost_set_search_tuning(self._handle(), nprobe, ef_search)

    def _as_of(self, h, as_of):
        """Sets the LSN the next read of handle h reads as of (None: now)."""
        self._lib.roost_set_as_of(h, _int(as_of or 0, "as_of", 0, (1 << 64) - 1))

    def search(self, queries, k=10, filter=None, min_lsn=None, as_of=None):
        """Searches each query vector for its k nearest documents among
        those filter admits (a dict: first-class fields and metadata
        conditions, see _filter and docs/python.md). min_lsn (e.g.
        last_lsn) answers only from data that includes that LSN, waiting a
        bounded time for it. as_of (e.g. an earlier answer's .lsn) reads
        the documents as they were at that LSN: RoostError EHISTORY before
        the collection's kept history. Returns Results: a list of Hit
        lists, best first, with .lsn."""
        if isinstance(queries, str):
            raise RoostError(EINVAL, "search takes query vectors, not text: "
                                     "similarity_search(query) embeds a text")
        ptr, keep, nq, dim = _floats(queries, "queries")  # keep: owns what ptr points to
        if nq > _MAX_QUERIES:
            raise RoostError(ETOOBIG, "%d queries; at most %d per search" % (nq, _MAX_QUERIES))
        f, fkeep = _filter(filter)  # fkeep: owns the arrays f points to
        res = _P()
        with self._lock:
            h = self._handle()
            self._as_of(h, as_of)
            rc = self._lib.roost_search(h, dim, ptr, nq, _int(k, "k", 0, (1 << 32) - 1),
                                        ctypes.byref(f) if f is not None else None,
                                        _int(min_lsn or 0, "min_lsn", 0, (1 << 64) - 1),
                                        ctypes.byref(res))
            if rc:
                raise self._error(rc)
        try:
            return self._results(res, nq)
        finally:
            self._lib.roost_results_free(res)

    def _results(self, res, nq):
        out = []
        for q in range(nq):
            hp = ctypes.POINTER(_Hit)()
            n = self._lib.roost_results_hits(res, q, ctypes.byref(hp))
            out.append([_hit(h) for h in hp[:n]])
        return Results(out, self._lib.roost_results_lsn(res))

    def get(self, ids, with_vectors=False, min_lsn=None, as_of=None):
        """The documents with these ids (their own, or "#<number>") as Hits
        (score 0), in the order asked, from data that includes min_lsn (as
        they were at LSN as_of, as in search()); ids not there are left
        out. with_vectors fills Hit.vector. Returns a list with .lsn
        (Found)."""
        keys = _id_list(ids)
        found, lsn = [], None
        with self._lock:
            h = self._handle()
            self._as_of(h, as_of)
            for lo in range(0, len(keys), _MAX_DOCS):
                part = keys[lo:lo + _MAX_DOCS]
                arr = (ctypes.c_char_p * len(part))(*part)
                res = _P()
                rc = self._lib.roost_get(h, arr, len(part), 1 if with_vectors else 0,
                                         _int(min_lsn or 0, "min_lsn", 0, (1 << 64) - 1),
                                         ctypes.byref(res))
                if rc:
                    raise self._error(rc)
                try:
                    part = self._results(res, 1)
                finally:
                    self._lib.roost_results_free(res)
                found += part[0]
                lsn = part.lsn if lsn is None else min(lsn, part.lsn)
        return Found(found, lsn or 0)

    def scroll(self, filter=None, limit=100, cursor=None, with_vectors=False, min_lsn=None,
               as_of=None):
        """A page of up to limit (1 .. 1024) documents that filter admits,
        in the order they were added, as (hits, next_cursor); pass
        next_cursor back for the next page (None after the last). Every
        page of one scroll reads the state the first page read (hits.lsn),
        whatever is added, replaced or deleted meanwhile: the state at
        as_of when the first page names one (as in search())."""
        f, fkeep = _filter(filter)  # fkeep: owns the arrays f points to
        res = _P()
        with self._lock:
            h = self._handle()
            self._as_of(h, as_of)
            rc = self._lib.roost_scroll(h, ctypes.byref(f) if f is not None else None,
                                        _int(limit, "limit", 1, 1024),
                                        _cstr(cursor, "cursor") or None,
                                        1 if with_vectors else 0,
                                        _int(min_lsn or 0, "min_lsn", 0, (1 << 64) - 1),
                                        ctypes.byref(res))
            if rc:
                raise self._error(rc)
        try:
            hits = self._results(res, 1)
            nxt = self._lib.roost_results_cursor(res).decode()
        finally:
            self._lib.roost_results_free(res)
        page = Results(hits[0], hits.lsn)
        return page, nxt or None

    def scroll_all(self, filter=None, page=1000, with_vectors=False, min_lsn=None, as_of=None):
        """Every document filter admits, in the order they were added, as
        of one LSN (as_of, or the first page's): scroll() page after page."""
        cursor = None
        while True:
            hits, cursor = self.scroll(filter, page, cursor, with_vectors, min_lsn, as_of)
            yield from hits
            if cursor is None:
                return

    def get_by_ids(self, ids, /):
        """LangChain's get_by_ids: the Documents with these ids that exist,
        in the order asked (as of this object's last write)."""
        return [_document(h) for h in self.get(list(ids), min_lsn=self.last_lsn)]

    def similarity_search(self, query, k=4, *, filter=None, min_lsn=None, **kwargs):
        """LangChain's similarity_search: the k Documents nearest to a text,
        embedded with the embedding function, nearest first; filter and
        min_lsn as in search()."""
        _no_more("similarity_search", kwargs)
        return self.similarity_search_by_vector(self._embed_query(query), k, filter=filter,
                                                min_lsn=min_lsn)

    def similarity_search_by_vector(self, embedding, k=4, *, filter=None, min_lsn=None,
                                    **kwargs):
        """LangChain's similarity_search_by_vector: the same for a vector."""
        _no_more("similarity_search_by_vector", kwargs)
        return [_document(h) for h in self.search([embedding], k, filter, min_lsn)[0]]

    def similarity_search_with_score(self, query, k=4, *, filter=None, min_lsn=None,
                                     **kwargs):
        """(Document, score) pairs; the score is roost's: L2 the squared
        distance (lower is nearer), inner product the similarity."""
        _no_more("similarity_search_with_score", kwargs)
        return self.similarity_search_with_score_by_vector(self._embed_query(query), k,
                                                           filter=filter, min_lsn=min_lsn)

    def similarity_search_with_score_by_vector(self, embedding, k=4, *, filter=None,
                                               min_lsn=None, **kwargs):
        _no_more("similarity_search_with_score_by_vector", kwargs)
        hits = self.search([embedding], k, filter, min_lsn)[0]
        return [(_document(h), h.score) for h in hits]

    def _select_relevance_score_fn(self):
        """LangChain's relevance function for this collection's metric: a
        score in [0, 1], 1 the nearest, assuming unit-length vectors."""
        return _ip_relevance if self.status()["metric"] == "ip" else _l2_relevance

    def similarity_search_with_relevance_scores(self, query, k=4, *, score_threshold=None,
                                                filter=None, min_lsn=None, **kwargs):
        """LangChain's (Document, relevance) pairs, relevance in [0, 1]
        (see _select_relevance_score_fn), those below score_threshold
        left out."""
        _no_more("similarity_search_with_relevance_scores", kwargs)
        return self.similarity_search_with_relevance_scores_by_vector(
            self._embed_query(query), k, score_threshold=score_threshold, filter=filter,
            min_lsn=min_lsn)

    def similarity_search_with_relevance_scores_by_vector(self, embedding, k=4, *,
                                                          score_threshold=None, filter=None,
                                                          min_lsn=None, **kwargs):
        _no_more("similarity_search_with_relevance_scores_by_vector", kwargs)
        if score_threshold is not None:
            score_threshold = _bound(score_threshold, "score_threshold")
        relevance = self._select_relevance_score_fn()
        pairs = [(d, relevance(score)) for d, score in
                 self.similarity_search_with_score_by_vector(embedding, k, filter=filter,
                                                             min_lsn=min_lsn)]
        if score_threshold is None:
            return pairs
        return [(d, r) for d, r in pairs if r >= score_threshold]

    def max_marginal_relevance_search(self, query, k=4, fetch_k=20, lambda_mult=0.5, *,
                                      filter=None, min_lsn=None, **kwargs):
        """LangChain's max_marginal_relevance_search: k Documents chosen
        from the fetch_k nearest to a text for being near it and unlike
        each other; lambda_mult from 0 (most diverse) to 1 (nearest)."""
        _no_more("max_marginal_relevance_search", kwargs)
        return self.max_marginal_relevance_search_by_vector(
            self._embed_query(query), k, fetch_k, lambda_mult, filter=filter, min_lsn=min_lsn)

    def max_marginal_relevance_search_by_vector(self, embedding, k=4, fetch_k=20,
                                                lambda_mult=0.5, *, filter=None,
                                                min_lsn=None, **kwargs):
        """The same for a vector. Similarities are cosines, whatever the
        collection's metric, as in LangChain's other stores."""
        _no_more("max_marginal_relevance_search_by_vector", kwargs)
        k = _int(k, "k", 0, (1 << 32) - 1)
        fetch_k = _int(fetch_k, "fetch_k", 0, (1 << 32) - 1)
        lambda_mult = _bound(lambda_mult, "lambda_mult")
        if not 0.0 <= lambda_mult <= 1.0:
            raise RoostError(EINVAL, "lambda_mult must be from 0 to 1, not %r" % (lambda_mult,))
        res = self.search([embedding], fetch_k, filter, min_lsn)
        hits = res[0]
        if not hits or not k:
            return []
        # By number, each hit's own version, from data that includes all the
        # search saw (res.lsn is the first LSN it did not): the vectors are
        # those of the documents found. A version replaced or deleted since
        # is left out.
        vectors = {h.version: h.vector for h in
                   self.get(["#%d" % h.version for h in hits], with_vectors=True,
                            min_lsn=res.lsn - 1 if res.lsn else None)}
        hits = [h for h in hits if h.version in vectors]
        chosen = _mmr(list(embedding), [vectors[h.version] for h in hits], k, lambda_mult)
        return [_document(hits[i]) for i in chosen]

    def as_retriever(self, **kwargs):
        """LangChain's as_retriever: a VectorStoreRetriever (LangChain's
        own when installed) whose invoke(query) returns Documents.
        search_type: "similarity" (default), "mmr" or
        "similarity_score_threshold"; search_kwargs: that search's
        keywords (k, filter, min_lsn; fetch_k and lambda_mult for mmr;
        score_threshold, from 0 to 1, which similarity_score_threshold
        needs)."""
        search_type = kwargs.get("search_type", "similarity")
        if search_type not in _SEARCH_TYPES:
            raise RoostError(EINVAL, "as_retriever search_type must be one of %s, not %r"
                             % (", ".join(_SEARCH_TYPES), search_type))
        search_kwargs = kwargs.get("search_kwargs") or {}
        if not isinstance(search_kwargs, dict):
            raise RoostError(EINVAL, "as_retriever search_kwargs must be a dict, not %r"
                             % (search_kwargs,))
        search_kwargs = dict(search_kwargs)
        if search_type == "similarity_score_threshold":
            what = "as_retriever search_kwargs score_threshold"
            if search_kwargs.get("score_threshold") is None:
                raise RoostError(EINVAL, "%s is needed by search_type "
                                         "similarity_score_threshold" % what)
            t = _bound(search_kwargs["score_threshold"], what)
            if not 0.0 <= t <= 1.0:
                raise RoostError(EINVAL, "%s must be from 0 to 1, not %r" % (what, t))
            search_kwargs["score_threshold"] = t  # a float: LangChain's retriever takes no int
        kwargs = dict(kwargs, search_type=search_type, search_kwargs=search_kwargs)
        if _LANGCHAIN:
            return super().as_retriever(**kwargs)
        _no_more("as_retriever", {k: v for k, v in kwargs.items()
                                  if k not in ("search_type", "search_kwargs", "tags",
                                               "metadata")})
        return VectorStoreRetriever(self, **kwargs)

    # -- status -----------------------------------------------------------
    def status(self):
        """The instance's status as a dict (proto/roost.proto StatusReply)."""
        st = _Status()
        with self._lock:
            rc = self._lib.roost_status(self._handle(), ctypes.byref(st))
            if rc:
                raise self._error(rc)
        out = {name: getattr(st, name) for name, _ in _Status._fields_}
        out["index"] = st.index.decode("utf-8", "replace")
        out["writer_mode"] = st.writer_mode.decode("utf-8", "replace")
        out["metric"] = "ip" if st.metric == 1 else "l2"
        out["collection"] = st.collection.decode("utf-8", "replace")
        return out

    def history(self):
        """The history kept for this handle's collection (use()) as a dict:
        "retain" (the instance's `roost up --retain`), "horizon_lsn" (with
        retention, everything visible from it on is kept; 0: none),
        "log_bytes" (log kept for history alone), "start_lsn" (the oldest
        LSN as_of= may name) and "bytes" (disk its deleted and replaced
        versions take). RoostError ENOCOLL when the collection does not
        exist."""
        h = _History()
        with self._lock:
            rc = self._lib.roost_history(self._handle(), ctypes.byref(h))
            if rc:
                raise self._error(rc)
        out = {name: getattr(h, name) for name, _ in _History._fields_}
        out["retain"] = h.retain.decode("utf-8", "replace")
        return out

    # -- collections ------------------------------------------------------
    def create_collection(self, name, dim, metric="l2", index=None, train_docs=0,
                          seal_docs=0, seal_interval_ms=0, indexed_keys=None):
        """Creates a collection and returns it as collections() lists it,
        with "existed": True when one by that name already had these
        settings (not an error). Settings left 0 or None take the writer's
        defaults. indexed_keys (a list of str, none by default) names up to
        8 top-level metadata keys whose values readers index per sealed
        segment, so that filtered searches on them do not scan every row.
        RoostError EEXIST when it exists with other settings, EINVAL for
        settings FAISS or roost cannot take."""
        if metric not in ("l2", "ip"):
            raise RoostError(EINVAL, "metric must be 'l2' or 'ip', not %r" % (metric,))
        cs = _CollSettings(_int(dim, "dim", 1, (1 << 32) - 1), 1 if metric == "ip" else 0,
                           _cstr(index, "index") or None,
                           _int(train_docs or 0, "train_docs", 0, (1 << 64) - 1),
                           _int(seal_docs or 0, "seal_docs", 0, (1 << 64) - 1),
                           _int(seal_interval_ms or 0, "seal_interval_ms", 0, (1 << 32) - 1),
                           _keys_arg(indexed_keys) or None)
        out, existed = _Coll(), ctypes.c_int()
        with self._lock:
            rc = self._lib.roost_collection_create(self._handle(), _cstr(name, "name"),
                                                   ctypes.byref(cs), ctypes.byref(out),
                                                   ctypes.byref(existed))
            if rc:
                raise self._error(rc)
        return dict(_coll_dict(out), existed=bool(existed.value))

    def drop_collection(self, name):
        """Drops a collection with its documents; RoostError ENOCOLL when
        there is none by that name."""
        with self._lock:
            rc = self._lib.roost_collection_drop(self._handle(), _cstr(name, "name"))
            if rc:
                raise self._error(rc)

    def alter_collection(self, name, index=None, train_docs=0):
        """Changes a collection's FAISS factory string and/or its training
        size (None and 0 keep the current ones; the same index retrains an
        IVF, PQ or SQ index on the collection's data as it is now) and returns it as
        collections() lists it, as altered. Acknowledged once applied:
        every seal from then on builds the new index, while segments sealed
        before are rebuilt in the background, searchable throughout;
        "rebuilding" counts those left. RoostError ENOCOLL when there is no
        collection by that name, EINVAL for an index FAISS cannot build at
        its dimension and metric (the message has FAISS's words); nothing
        changes then."""
        out = _Coll()
        with self._lock:
            rc = self._lib.roost_collection_alter(
                self._handle(), _cstr(name, "name"), _cstr(index, "index") or None,
                _int(train_docs or 0, "train_docs", 0, (1 << 64) - 1), ctypes.byref(out))
            if rc:
                raise self._error(rc)
        return _coll_dict(out)

    def fork_collection(self, source, name, as_of=None):
        """Makes collection name of what source held as of LSN as_of (a
        reply's .lsn; None: now), with source's settings, sharing its sealed
        segments (a link per file, not a copy), and returns it as
        collections() lists it. The two then change independently; the
        source is never changed by the fork. RoostError EHISTORY when as_of
        is before the source's history (the message says where it starts),
        EEXIST when name is taken, ENOCOLL when source does not exist."""
        out = _Coll()
        with self._lock:
            rc = self._lib.roost_collection_fork(
                self._handle(), _cstr(source, "source"), _cstr(name, "name"),
                _int(as_of or 0, "as_of", 0, (1 << 64) - 1), ctypes.byref(out))
            if rc:
                raise self._error(rc)
        return _coll_dict(out)

    def collections(self):
        """Every collection as a dict (name, id, dim, metric, index,
        train_docs, seal_docs, seal_interval_ms, documents, segments,
        created_lsn, indexed_keys: a list, rebuilding), ascending id."""
        arr, n = ctypes.POINTER(_Coll)(), ctypes.c_size_t()
        with self._lock:
            rc = self._lib.roost_collection_list(self._handle(), ctypes.byref(arr),
                                                 ctypes.byref(n))
            if rc:
                raise self._error(rc)
        try:
            return [_coll_dict(arr[i]) for i in range(n.value)]
        finally:
            self._lib.roost_collections_free(arr)


def _coll_dict(c):
    out = {name: getattr(c, name) for name, _ in _Coll._fields_}
    out["name"] = c.name.decode("utf-8", "replace")
    out["index"] = c.index.decode("utf-8", "replace")
    out["metric"] = "ip" if c.metric == 1 else "l2"
    keys = c.indexed_keys.decode("utf-8", "replace")
    out["indexed_keys"] = keys.split(",") if keys else []
    return out


def _keys_arg(keys):
    """The comma-separated list libroost takes; a key that is empty or holds
    a comma would read as other keys once joined."""
    if keys is None:
        return b""
    if isinstance(keys, (str, bytes)) or not hasattr(keys, "__iter__"):
        raise RoostError(EINVAL, "indexed_keys must be a list of str, not %s"
                         % type(keys).__name__)
    keys = list(keys)
    for k in keys:
        if not isinstance(k, str) or not k or "," in k:
            raise RoostError(EINVAL, "indexed_keys: %r is not a key (each is 1 to 63 letters, "
                             "digits, '_', '.' or '-', starting with a letter or digit)"
                             % (k,))
    return _cstr(",".join(keys), "indexed_keys")

