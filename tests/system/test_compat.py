"""Data directories written by roost before collections existed open
unchanged: their documents become collection 'default', with the settings
the instance had, and keep their files and ids (fixtures/README.md says how
the fixture was made)."""
import os
import shutil

from conftest import read_manifest
from test_cli import cli  # noqa: F401  (the fixture)

FIXTURE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "legacy")
LEGACY_DIM = 8
LEGACY_DOCS = 30


def legacy_vector(i):
    v = [0.0] * LEGACY_DIM
    v[i % LEGACY_DIM] = 1.0 + i // LEGACY_DIM
    return v


def copy_fixture(c, manifest):
    """The fixture as c's data directory, with MANIFEST taken from the
    fixture's file `manifest`."""
    os.makedirs(c.data)
    for f in os.listdir(FIXTURE):
        src = os.path.join(FIXTURE, f)
        if f.startswith("seg-"):
            shutil.copy(src, c.data)
        elif f == "wal":
            shutil.copytree(src, os.path.join(c.data, "wal"))
    shutil.copy(os.path.join(FIXTURE, manifest), os.path.join(c.data, "MANIFEST"))
    return sorted(f for f in os.listdir(c.data) if f.startswith("seg-"))


def check_legacy_documents(c):
    """Every legacy document is found by its own vector, with what it was
    stored with; returns their ids."""
    ids = {}
    for i in range(LEGACY_DOCS):
        hits = c.search(legacy_vector(i), "-k", 1)["hits"]
        assert len(hits) == 1 and hits[0]["score"] == 0, (i, hits)
        h = hits[0]
        assert (h["text"], h["agent"], h["time"], h["kind"]) == \
            ("legacy %d" % i, 100 + i % 3, 1000 + i, "post"), h
        ids[i] = h["id"]
    assert len(set(ids.values())) == LEGACY_DOCS
    return ids


def test_version2_directory_opens_as_collection_default(cli):  # noqa: F811
    c = cli()
    segments = copy_fixture(c, "MANIFEST")
    before = read_manifest(c.data)
    assert before["version"] == 2 and before["name"] == "legacy"
    assert list(before["collections"]) == ["default"]
    c.up("--adopt")
    st = c.status()
    assert (st["server"]["dim"], st["server"]["metric"], st["server"]["index"]) == \
        (LEGACY_DIM, "l2", "Flat")
    assert st["server"]["documents"] == LEGACY_DOCS
    ids = check_legacy_documents(c)
    # The tail (six documents only in the log, in old-format batches) was
    # replayed; the sealed ones are the same files under the same names.
    after = read_manifest(c.data, c.name)
    assert after["version"] == 6 and after["name"] == c.name
    assert set(segments) <= after["files"]
    # New writes go next to them, in 'default' and in a new collection.
    new = c.ok("add", stdin='{"vector": %s, "text": "new"}\n' % legacy_vector(3))
    assert int(new.stdout.split()[0].lstrip("#")) > max(ids.values())
    c.ok("collections", "create", "other", "--dim", 4)
    c.ok("down")
    c.up()
    assert check_legacy_documents(c) == ids
    hits = c.search(legacy_vector(3), "-k", 2)["hits"]
    assert sorted(h["text"] for h in hits) == ["legacy 3", "new"]
    assert sorted(read_manifest(c.data, c.name)["collections"]) == ["default", "other"]


def test_version1_directory_opens_under_any_name_and_records_it(cli):  # noqa: F811
    """Written before names were recorded: it opens under the name it is
    started with, without --adopt, and keeps that name from then on."""
    c = cli()
    copy_fixture(c, "MANIFEST-v1")
    assert (read_manifest(c.data)["version"], read_manifest(c.data)["name"]) == (1, "")
    c.up()
    check_legacy_documents(c)
    m = read_manifest(c.data, c.name)
    assert (m["version"], m["name"]) == (6, c.name)
    assert list(m["collections"]) == ["default"]
    assert m["collections"]["default"]["dim"] == LEGACY_DIM
