"""roost.py as a LangChain vector store: its methods have the signatures
of langchain_core 0.3's VectorStore, and against real instances (L2 and
inner product) relevance scores, maximal marginal relevance, retrievers
and Documents behave as LangChain's documentation says. The module is
also loaded with LangChain present (the real langchain_core where it is
installed, else a stand-in with its shape) and absent."""
import abc
import importlib.util
import inspect
import math
import os
import sys
import types

import pytest

from conftest import BUILD, ROOT

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost  # noqa: E402

DIM = 4
ROOST_PY = os.path.join(ROOT, "client", "python", "roost.py")


def unit(*xs):
    xs = list(xs) + [0.0] * (DIM - len(xs))
    n = math.sqrt(sum(x * x for x in xs))
    return [x / n for x in xs]


# Texts and the vectors the test embedder gives them: unit vectors whose
# cosines with NORTH are 1, 0.96, 0.95, 0.8, 0 and -1.
POINTS = {"north": unit(1), "north by east": unit(0.96, 0.28), "north by east too":
          unit(0.95, 0.3, 0.0872), "north-east": unit(0.8, 0, 0.6), "east": unit(0, 1),
          "south": unit(-1)}


class Embeddings:
    """LangChain's Embeddings interface over POINTS."""

    def embed_documents(self, texts):
        return [POINTS[t] for t in texts]

    def embed_query(self, text):
        return POINTS[text]


# ---------------------------------------------------------------------
# langchain_core 0.3's interface

class LangChainStandIn:
    """langchain_core 0.3 with what roost.py uses of it: VectorStore's
    signatures as LangChain writes them, its as_retriever and retriever,
    and a Document taking metadata and id only by keyword, as the
    pydantic one does."""

    class Document:
        def __init__(self, page_content, **kwargs):
            self.page_content = page_content
            self.metadata = kwargs.pop("metadata", {})
            self.id = kwargs.pop("id", None)
            assert not kwargs, kwargs

    class VectorStore(abc.ABC):
        def add_texts(self, texts, metadatas=None, *, ids=None, **kwargs):
            raise NotImplementedError

        @property
        def embeddings(self):
            return None

        def delete(self, ids=None, **kwargs):
            raise NotImplementedError

        def get_by_ids(self, ids, /):
            raise NotImplementedError

        def add_documents(self, documents, **kwargs):
            raise NotImplementedError

        @abc.abstractmethod
        def similarity_search(self, query, k=4, **kwargs):
            pass

        def similarity_search_with_score(self, *args, **kwargs):
            raise NotImplementedError

        def similarity_search_with_relevance_scores(self, query, k=4, **kwargs):
            raise NotImplementedError

        def similarity_search_by_vector(self, embedding, k=4, **kwargs):
            raise NotImplementedError

        def max_marginal_relevance_search(self, query, k=4, fetch_k=20, lambda_mult=0.5,
                                          **kwargs):
            raise NotImplementedError

        def max_marginal_relevance_search_by_vector(self, embedding, k=4, fetch_k=20,
                                                    lambda_mult=0.5, **kwargs):
            raise NotImplementedError

        @classmethod
        def from_documents(cls, documents, embedding, **kwargs):
            raise NotImplementedError

        @classmethod
        @abc.abstractmethod
        def from_texts(cls, texts, embedding, metadatas=None, *, ids=None, **kwargs):
            pass

        def as_retriever(self, **kwargs):
            tags = kwargs.pop("tags", None) or [type(self).__name__]
            return LangChainStandIn.VectorStoreRetriever(vectorstore=self, tags=tags, **kwargs)

    class VectorStoreRetriever:
        def __init__(self, *, vectorstore, tags, search_type="similarity", search_kwargs=None):
            self.vectorstore, self.tags = vectorstore, tags
            self.search_type, self.search_kwargs = search_type, search_kwargs or {}

        def invoke(self, input, config=None, **kwargs):
            args = dict(self.search_kwargs, **kwargs)
            if self.search_type == "similarity":
                return self.vectorstore.similarity_search(input, **args)
            if self.search_type == "similarity_score_threshold":
                return [d for d, _ in self.vectorstore.similarity_search_with_relevance_scores(
                    input, **args)]
            return self.vectorstore.max_marginal_relevance_search(input, **args)

    @classmethod
    def modules(cls):
        docs = types.ModuleType("langchain_core.documents")
        docs.Document = cls.Document
        stores = types.ModuleType("langchain_core.vectorstores")
        stores.VectorStore, stores.VectorStoreRetriever = cls.VectorStore, cls.VectorStoreRetriever
        core = types.ModuleType("langchain_core")
        core.documents, core.vectorstores = docs, stores
        return {"langchain_core": core, "langchain_core.documents": docs,
                "langchain_core.vectorstores": stores}


def real_langchain():
    """langchain_core's modules by name where it is installed, else None."""
    try:
        import langchain_core.documents
        import langchain_core.vectorstores
    except ImportError:
        return None
    return {"langchain_core": langchain_core, "langchain_core.documents":
            langchain_core.documents, "langchain_core.vectorstores": langchain_core.vectorstores}


INTERFACE = ["add_texts", "delete", "get_by_ids", "add_documents", "similarity_search",
             "similarity_search_with_score", "similarity_search_with_relevance_scores",
             "similarity_search_by_vector", "max_marginal_relevance_search",
             "max_marginal_relevance_search_by_vector", "from_documents", "from_texts",
             "as_retriever"]


def shape(fn):
    """A signature as (name, kind, default) triples."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(fn).parameters.values()]


def assert_accepts_as_langchain(ours, theirs, name):
    """Every call LangChain's signature takes binds the same way to ours:
    the positional parameters are LangChain's exactly, LangChain's
    keyword-only ones are there with their defaults, and ours alone are
    keyword-only with defaults. LangChain's (*args, **kwargs) leaves the
    arguments to each store; LangChain itself calls it (query, k,
    **kwargs), so ours is similarity_search's shape."""
    P = inspect.Parameter
    positional = (P.POSITIONAL_ONLY, P.POSITIONAL_OR_KEYWORD, P.VAR_POSITIONAL)
    o, t = shape(ours), shape(theirs)
    if any(kind == P.VAR_POSITIONAL for _, kind, _ in t):
        t = shape(LangChainStandIn.VectorStore.similarity_search)
    assert [p for p in o if p[1] in positional] == [p for p in t if p[1] in positional], name
    o_kw = {n: d for n, kind, d in o if kind == P.KEYWORD_ONLY}
    t_kw = {n: d for n, kind, d in t if kind == P.KEYWORD_ONLY}
    assert t_kw.items() <= o_kw.items(), name
    assert all(d is not P.empty for d in o_kw.values()), name
    assert [kind for _, kind, _ in o if kind == P.VAR_KEYWORD] == \
        [kind for _, kind, _ in t if kind == P.VAR_KEYWORD], name


def test_signatures_are_langchains():
    real = real_langchain()
    refs = [LangChainStandIn.VectorStore]
    if real:
        refs.append(real["langchain_core.vectorstores"].VectorStore)
    for ref in refs:
        for name in INTERFACE:
            assert_accepts_as_langchain(getattr(roost.Roost, name), getattr(ref, name), name)
        assert isinstance(inspect.getattr_static(roost.Roost, "embeddings"), property)
        for name in ("from_texts", "from_documents"):
            assert isinstance(inspect.getattr_static(roost.Roost, name), classmethod), name
    # The ones LangChain pins exactly, written out.
    assert str(inspect.signature(roost.Roost.get_by_ids)) == "(self, ids, /)"
    assert str(inspect.signature(roost.Roost.add_documents)) == "(self, documents, **kwargs)"
    assert str(inspect.signature(roost.Roost.as_retriever)) == "(self, **kwargs)"
    assert str(inspect.signature(roost.Roost.from_documents)) == \
        "(documents, embedding, **kwargs)"
    assert str(inspect.signature(roost.Roost.max_marginal_relevance_search)).startswith(
        "(self, query, k=4, fetch_k=20, lambda_mult=0.5, *")
    assert str(inspect.signature(roost.Roost.add_texts)).startswith(
        "(self, texts, metadatas=None, *, ids=None,")
    # A stand-in that drifted from LangChain would make all this moot.
    for name in INTERFACE if real else ():
        assert shape(getattr(LangChainStandIn.VectorStore, name)) == \
            shape(getattr(real["langchain_core.vectorstores"].VectorStore, name)), name


# ---------------------------------------------------------------------
# Against real instances

def start(make_instance, metric="l2"):
    i = make_instance(dim=DIM, metric=metric)
    i.start_writer()
    i.start_broker(0)
    i.start_reader()
    return i


@pytest.fixture(params=["l2", "ip"])
def store(make_instance, request):
    i = start(make_instance, request.param)
    with roost.Roost(i.broker_url(), embedding=Embeddings(), ack="visible",
                     timeout_ms=20000) as db:
        yield db


def test_relevance_scores_on_unit_vectors(store):
    """Identical 1, orthogonal 0.5, opposite 0, in either metric: squared
    L2 distances 0, 2, 4 and cosines 1, 0, -1 give the same relevance."""
    store.add_texts(["north", "east", "south"], ids=["n", "e", "s"])
    found = store.similarity_search_with_relevance_scores("north", k=3)
    assert [(d.id, d.page_content) for d, _ in found] == \
        [("n", "north"), ("e", "east"), ("s", "south")]
    assert [r for _, r in found] == pytest.approx([1.0, 0.5, 0.0], abs=1e-6)
    by_vector = store.similarity_search_with_relevance_scores_by_vector(unit(0, 1), k=1)
    assert by_vector[0][0].id == "e" and by_vector[0][1] == pytest.approx(1.0, abs=1e-6)
    kept = store.similarity_search_with_relevance_scores("north", k=3, score_threshold=0.4)
    assert [d.id for d, _ in kept] == ["n", "e"]
    assert store.similarity_search_with_relevance_scores(
        "north", k=3, filter={"kind": "none"}) == []
    # The function LangChain's own code uses, clamped to [0, 1].
    fn = store._select_relevance_score_fn()
    if store.status()["metric"] == "ip":
        assert [fn(s) for s in (1.0, 0.0, -1.0, 1.5, -3.0)] == [1.0, 0.5, 0.0, 1.0, 0.0]
    else:
        assert [fn(d) for d in (0.0, 2.0, 4.0, 9.0, -1.0)] == [1.0, 0.5, 0.0, 0.0, 1.0]
    with pytest.raises(roost.RoostError) as e:
        store.similarity_search_with_relevance_scores("north", score_threshold="high")
    assert e.value.code == roost.EINVAL and "score_threshold" in e.value.message


def add_compass(db):
    """Two near-duplicates nearest to NORTH, one without an id of its own,
    then a different point and one far away."""
    texts = ["north by east", "north by east too", "north-east", "east"]
    return db.add_texts(texts, [{"group": "a"}, {"group": "a"}, {"group": "b"}, {}],
                        ids=["nbe", None, "ne", "e"])


def test_mmr_prefers_diverse_documents(store, monkeypatch):
    ids = add_compass(store)
    plain = store.similarity_search("north", k=2)
    assert [d.id for d in plain] == ids[:2]
    # Among the three nearest, MMR keeps one near-duplicate and the
    # point unlike it.
    mmr = store.max_marginal_relevance_search("north", k=2, fetch_k=3, lambda_mult=0.25)
    assert [d.id for d in mmr] == ["nbe", "ne"]
    assert (mmr[1].page_content, mmr[1].metadata) == ("north-east", {"group": "b"})
    # lambda_mult 1 is plain similarity; the assigned id works as any.
    assert [d.id for d in store.max_marginal_relevance_search_by_vector(
        unit(1), k=3, lambda_mult=1.0)] == ids[:3]
    # With every candidate, the far "east" is the most unlike the first.
    assert [d.id for d in store.max_marginal_relevance_search(
        "north", k=2, lambda_mult=0.25)] == ["nbe", "e"]
    assert [d.id for d in store.max_marginal_relevance_search(
        "north", k=2, lambda_mult=0.25, filter={"group": "a"})] == ids[:2]
    monkeypatch.setattr(roost, "_np", None)  # the same without numpy
    assert [d.id for d in store.max_marginal_relevance_search(
        "north", k=2, fetch_k=3, lambda_mult=0.25)] == ["nbe", "ne"]
    assert store.max_marginal_relevance_search("north", k=0) == []
    assert len(store.max_marginal_relevance_search("north", k=10)) == 4
    for kw, what in [({"lambda_mult": 1.5}, "lambda_mult"), ({"fetch_k": -1}, "fetch_k"),
                     ({"k": "two"}, "k"), ({"filters": {}}, "takes no filters")]:
        with pytest.raises(roost.RoostError) as e:
            store.max_marginal_relevance_search("north", **kw)
        assert e.value.code == roost.EINVAL and what in e.value.message, (kw, e.value)


def test_mmr_leaves_out_versions_replaced_since_the_search(store, monkeypatch):
    """Between the search and the fetch of its vectors a candidate may be
    replaced: the version found is gone, and MMR chooses among the rest."""
    add_compass(store)
    search = store.search

    def search_then_replace(*args, **kwargs):
        res = search(*args, **kwargs)
        store.add([unit(0, 0, 0, 1)], ["moved"], ids=["nbe"])
        return res
    monkeypatch.setattr(store, "search", search_then_replace)
    found = store.max_marginal_relevance_search("north", k=4, lambda_mult=1.0)
    assert "nbe" not in [d.id for d in found] and len(found) == 3


def test_retrievers(store):
    add_compass(store)
    r = store.as_retriever()
    assert (r.vectorstore, r.search_type, r.search_kwargs) == (store, "similarity", {})
    assert [d.id for d in r.invoke("north")][:1] == ["nbe"] and len(r.invoke("north")) == 4
    r = store.as_retriever(search_kwargs={"k": 1, "filter": {"group": "b"}})
    assert [d.id for d in r.invoke("north")] == ["ne"]
    assert [d.id for d in r.get_relevant_documents("north")] == ["ne"]
    r = store.as_retriever(search_type="mmr",
                           search_kwargs={"k": 2, "fetch_k": 3, "lambda_mult": 0.25})
    assert r.search_type == "mmr" and [d.id for d in r.invoke("north")] == ["nbe", "ne"]
    # Relevance (1 + cos) / 2 or 1 - d / 4: 0.98, 0.975, 0.9, 0.5.
    r = store.as_retriever(search_type="similarity_score_threshold",
                           search_kwargs={"score_threshold": 0.85, "k": 10})
    assert len(r.invoke("north")) == 3 and r.search_kwargs["score_threshold"] == 0.85
    r = store.as_retriever(search_type="similarity_score_threshold",
                           search_kwargs={"score_threshold": 1})
    assert r.invoke("north") == [] and isinstance(r.search_kwargs["score_threshold"], float)
    for kw, what in [({"search_type": "nearest"}, "search_type"),
                     ({"search_type": "similarity_score_threshold"}, "score_threshold"),
                     ({"search_type": "similarity_score_threshold",
                       "search_kwargs": {"score_threshold": 2.0}}, "from 0 to 1"),
                     ({"search_kwargs": ["k", 1]}, "search_kwargs")]:
        with pytest.raises(roost.RoostError) as e:
            store.as_retriever(**kw)
        assert e.value.code == roost.EINVAL and what in e.value.message, (kw, e.value)
    # A search keyword it does not take is the search's error.
    with pytest.raises(roost.RoostError) as e:
        store.as_retriever(search_kwargs={"kk": 1}).invoke("north")
    assert e.value.code == roost.EINVAL and "kk" in e.value.message


def test_documents_round_trip(make_instance):
    """add_documents and from_documents store Documents with their ids
    (ids= first), metadata comes back as added, get_by_ids keeps the
    order asked and leaves out ids not there, deletes included."""
    i = start(make_instance)
    meta = {"topic": "weather", "tags": ["a", {"b": None}], "ratio": 0.25, "agent": 3}
    docs = [roost.Document(page_content="north", metadata=meta, id="d-n"),
            roost.Document(page_content="east", metadata={}),
            roost.Document(page_content="south", metadata={"x": 1}, id="d-s")]
    db = roost.Roost.from_documents(docs, Embeddings(), target=i.broker_url(), ack="visible",
                                    timeout_ms=20000)
    try:
        assert db.embeddings is not None and db.embeddings is db.embedding
        got = db.get_by_ids(["d-s", "missing", "d-n"])
        assert [(d.id, d.page_content, d.metadata) for d in got] == \
            [("d-s", "south", {"x": 1}), ("d-n", "north", meta)]
        east = db.similarity_search("east", k=1)[0]
        assert east.id.startswith("#") and east.page_content == "east"
        assert db.get_by_ids([east.id])[0].page_content == "east"
        # ids= wins over the documents' own.
        assert db.add_documents(docs[:1], ids=["other"]) == ["other"]
        assert db.add_documents([roost.Document(page_content="north by east",
                                                id="d-nbe")]) == ["d-nbe"]
        assert db.add_texts(["north-east"], [{"k": "v"}], ids=["d-ne"]) == ["d-ne"]
        assert [d.metadata for d in db.get_by_ids(["d-ne", "d-nbe"])] == [{"k": "v"}, {}]
        assert db.delete(["d-n", "other"]) is True
        assert [d.id for d in db.get_by_ids(["d-n", "other", "d-s"])] == ["d-s"]
        # LangChain's delete() without ids deletes everything; here that
        # is drop_collection, and delete() says so.
        with pytest.raises(roost.RoostError) as e:
            db.delete()
        assert e.value.code == roost.EINVAL and "drop_collection" in e.value.message
        with pytest.raises(roost.RoostError) as e:
            db.add_documents(["just text"])
        assert e.value.code == roost.EINVAL and "documents[0] is a str" in e.value.message
        with pytest.raises(roost.RoostError) as e:
            db.add_texts(["north"], colour="red")
        assert e.value.code == roost.EINVAL and "add_texts takes no colour" in e.value.message
        with pytest.raises(roost.RoostError) as e:
            db.search("north")
        assert e.value.code == roost.EINVAL and "similarity_search" in e.value.message
    finally:
        db.close()
    with roost.Roost.from_texts(["east", "south"], Embeddings(), [{"n": 1}, {"n": 2}],
                                ids=["t-e", "t-s"], target=i.broker_url(),
                                ack="visible") as db:
        assert [(d.id, d.metadata) for d in db.get_by_ids(["t-s", "t-e"])] == \
            [("t-s", {"n": 2}), ("t-e", {"n": 1})]
        assert db.embeddings.__class__ is Embeddings
    with roost.Roost(i.broker_url()) as bare:
        assert bare.embeddings is None


def load_roost(monkeypatch, langchain):
    """A fresh copy of roost.py, imported with langchain (modules by name)
    in place of langchain_core, or with it hidden when None."""
    for name in ("langchain_core", "langchain_core.documents", "langchain_core.vectorstores"):
        monkeypatch.setitem(sys.modules, name, langchain[name] if langchain else None)
    spec = importlib.util.spec_from_file_location("roost_variant", ROOST_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("langchain", ["absent", "present"])
def test_with_and_without_langchain(make_instance, monkeypatch, langchain):
    """With langchain_core, Roost is its VectorStore, Documents are its
    Documents and as_retriever gives its retriever; without, roost.py's
    own stand in. The same methods serve both."""
    if langchain == "absent":
        mod = load_roost(monkeypatch, None)
        assert mod.Roost.__bases__ == (object,) and mod.Document.__module__ == "roost_variant"
        retriever_class = mod.VectorStoreRetriever
    else:
        mods = real_langchain() or LangChainStandIn.modules()
        mod = load_roost(monkeypatch, mods)
        lc = mods["langchain_core.vectorstores"]
        assert issubclass(mod.Roost, lc.VectorStore)
        assert mod.Document is mods["langchain_core.documents"].Document
        retriever_class = lc.VectorStoreRetriever
    i = start(make_instance, "ip")
    with mod.Roost(i.broker_url(), embedding=Embeddings(), ack="visible",
                   timeout_ms=20000) as db:
        assert db.add_documents([mod.Document(page_content=t, metadata={"t": t}, id=t)
                                 for t in ("north", "north by east", "east")]) == \
            ["north", "north by east", "east"]
        found = db.similarity_search("north", k=1)
        assert isinstance(found[0], mod.Document)
        assert (found[0].id, found[0].page_content, found[0].metadata) == \
            ("north", "north", {"t": "north"})
        assert isinstance(db.get_by_ids(["east"])[0], mod.Document)
        r = db.as_retriever(search_type="mmr", search_kwargs={"k": 2, "lambda_mult": 0.25})
        assert isinstance(r, retriever_class) and r.vectorstore is db
        assert [d.id for d in r.invoke("north")] == ["north", "east"]
        r = db.as_retriever(search_type="similarity_score_threshold",
                            search_kwargs={"score_threshold": 0.9})
        assert [d.id for d in r.invoke("north")] == ["north", "north by east"]
        with pytest.raises(mod.RoostError) as e:
            db.as_retriever(search_type="nearest")
        assert e.value.code == mod.EINVAL
