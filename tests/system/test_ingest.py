"""The ingest path with real processes: brokers, one writer, agents."""
import math
import os
import random
import re
import signal
import struct
import subprocess
import time

import pytest

import wire
from conftest import (BIN, BUILD, ROOT, check_exactly_once, collect_all, remove_shm,
                      sealed_end, shm_dir, wait_for)

DIM = 16


def vec(seed, dim=DIM):
    rnd = random.Random(seed)
    return [rnd.uniform(-1, 1) for _ in range(dim)]


def test_sixteen_agents_every_ack_present_once(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker(0)
    inst.start_broker(1)
    agents = [inst.agent(a, requests=12, batch=(1, 50)) for a in range(16)]
    acked = {}
    for p in agents:
        acked.update(collect_all(p))
    docs = check_exactly_once(inst, acked)
    assert len(docs) == len(acked), "documents published that nobody acked"


def own_docs_found(inst, vecs, ids):
    """A search by each vector, with no min_lsn and no waiting, hits its
    own document first."""
    r = inst.search(vecs, k=1)
    assert r["status"] == 0, r
    got = [hits[0]["id"] if hits else None for hits in r["results"]]
    assert got == ids, [(i, g) for i, g in zip(ids, got) if i != g][:5]


@pytest.mark.parametrize("ack", ["queued", "visible"])
def test_ack_modes(make_instance, ack):
    # HNSW32 takes a while to index a group, which the writer does after
    # the group is durable and before it is published: an ack given at
    # durable would come back before its documents can be found.
    inst = make_instance(dim=DIM, index="HNSW32")
    inst.start_writer()
    inst.start_broker()
    inst.start_reader()
    acked = collect_all(inst.agent(1, requests=5, ack=ack))
    mine = []
    if ack == "visible":
        # Visible means searchable at reply time: each document is found
        # by a search sent right after its ack, without min_lsn.
        for seq in range(1, 31):
            vecs = [vec(1000 * seq + i) for i in range(64)]
            r = inst.client().call(wire.add_request(
                DIM, [wire.document(v, text="v%d" % seq) for v in vecs], 55, seq, ack=3))
            assert r["status"] == 0, r
            own_docs_found(inst, vecs, r["add"]["ids"])
            mine += r["add"]["ids"]
    else:
        wait_for(lambda: len(inst.dump()) >= len(acked), 30, "queued batches to apply")
    docs = check_exactly_once(inst, acked)
    assert len(docs) == len(acked) + len(mine), "documents stored that nobody acked"
    assert all(str(i) in docs for i in mine)


def test_retry_returns_original_ids(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker(0)
    inst.start_broker(1)
    frame = wire.add_request(DIM, [wire.document(vec(i), agent=3, text="hi %d" % i)
                                   for i in range(4)], client_id=77, seq=1)
    first = inst.client(0).call(frame)
    assert first["status"] == 0, first
    again = inst.client(1).call(frame)  # a resend arriving at another broker
    assert again["status"] == 0 and again["add"]["duplicate"]
    assert again["add"]["ids"] == first["add"]["ids"]
    assert again["add"]["lsn"] == first["add"]["lsn"]
    # An old sequence number after a newer one is refused, not re-added.
    newer = wire.add_request(DIM, [wire.document(vec(9))], client_id=77, seq=2)
    assert inst.client(0).call(newer)["status"] == 0
    stale = inst.client(1).call(frame)
    assert stale["status"] == -18, stale
    # The same key for a different batch is refused.
    other = wire.add_request(DIM, [wire.document(vec(1))] * 2, client_id=77, seq=2)
    assert inst.client(0).call(other)["status"] == -25
    inst.wait_published(first["add"]["ids"] + [inst.status()["durable_lsn"] - 1])
    assert len(inst.dump()) == 5


def test_idempotency_survives_writer_restart(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    frame = wire.add_request(DIM, [wire.document(vec(5), text="once")], client_id=99, seq=7)
    first = inst.client().call(frame)
    assert first["status"] == 0
    inst.kill(inst.writer)
    inst.start_writer()
    again = inst.client().call(frame)
    assert again["status"] == 0 and again["add"]["ids"] == first["add"]["ids"]
    assert [d.split(" ")[0] for d in inst.dump()] == [str(first["add"]["ids"][0])]
    # The count survives restarts without counting replayed batches twice.
    inst.kill(inst.writer)
    inst.start_writer()
    assert inst.status()["documents"] == 1


def shm_reboot(inst):
    """What a reboot does to an instance: processes and shared memory gone."""
    for p in [inst.writer] + list(inst.brokers.values()):
        inst.kill(p)
    remove_shm(inst.run_dir)
    inst.start_writer()
    inst.start_broker()


@pytest.mark.parametrize("keys_from", ["log", "manifest"])
def test_retry_after_reboot_gets_original_ids(make_instance, keys_from):
    """The keys of stored batches reach the brokers of a new control block
    too: a retry after a reboot gets its original ids, not new ones for a
    batch the writer then drops, and an older sequence number is refused;
    a retry that reaches the writer (its broker forgot the client) is
    dropped there. The writer has the keys from the log it replays or,
    once the batches are sealed into a segment and the replay starts
    after them, from the manifest alone."""
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096"])
    inst.start_writer()
    inst.start_broker()
    frames = [wire.add_request(DIM, [wire.document(vec(20 + s), text="r%d" % s)], 88, s)
              for s in (1, 2)]
    first = [inst.client().call(f) for f in frames]
    assert all(r["status"] == 0 for r in first), first
    fill = 0
    if keys_from == "manifest":
        for seq in range(1, 10):  # 4500 documents: the tail of 4096 is sealed
            r = inst.client().call(wire.add_request(
                DIM, [wire.document(vec(1000 * seq + i)) for i in range(500)], 89, seq))
            assert r["status"] == 0, r
            fill += 500
        wait_for(lambda: sealed_end(inst) > first[1]["add"]["lsn"], 30,
                 "a seal past the batches")
    shm_reboot(inst)
    again = inst.client().call(frames[1])
    assert again["status"] == 0, again
    assert again["add"] == dict(first[1]["add"], duplicate=True)
    older = inst.client().call(frames[0])
    assert older["status"] == -18, older
    forget_client(inst, 88)
    dropped = inst.client().call(frames[1])
    assert dropped["status"] == -18, dropped
    assert "repeats one this instance stored before" in dropped["message"], dropped
    inst.wait_published([inst.status()["durable_lsn"] - 1])
    docs = inst.dump()
    assert len(docs) == 2 + fill
    assert sorted(t for t in (d.split(" ")[5] for d in docs) if t) == ["r1", "r2"]


def forget_client(inst, client_id):
    """Frees a client's slot in the control block, as a slot idle for 10
    minutes is taken by another client (shm/ctl.h: after the header,
    128-byte slots, client_id after the 40-byte mutex)."""
    with open(os.path.join(shm_dir(inst.run_dir), "ctl"), "r+b") as f:
        buf = f.read()
        header = struct.unpack_from("<I", buf, 12)[0]
        for off in range(header, len(buf), 128):
            if struct.unpack_from("<Q", buf, off + 40)[0] == client_id:
                f.seek(off + 40)
                f.write(struct.pack("<Q", 0))
                return
    raise AssertionError("client %d has no slot" % client_id)


def test_batch_of_a_forgotten_client_is_not_acknowledged_as_new(make_instance):
    """A broker that forgot a client (its slot reused) takes an old batch
    for a new one; the writer knows its key and drops it. The reply must
    say so, not hand out ids that will never exist."""
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    frames = [wire.add_request(DIM, [wire.document(vec(30 + s), text="f%d" % s)], 99, s)
              for s in (1, 2)]
    assert all(inst.client().call(f)["status"] == 0 for f in frames)
    forget_client(inst, 99)
    r = inst.client().call(frames[0])
    assert r["status"] == -18, r
    assert "repeats one this instance stored before" in r["message"], r
    assert "add" not in r
    assert sorted(d.split(" ")[5] for d in inst.dump()) == ["f1", "f2"]


BAD = {
    "wrong dimension": (lambda: wire.add_request(DIM, [wire.document(vec(1, DIM - 1))], 5, 1),
                        -10),
    "request dim": (lambda: wire.add_request(DIM + 1, [wire.document(vec(1, DIM + 1))], 5, 1),
                    -10),
    "NaN": (lambda: wire.add_request(DIM, [wire.document([math.nan] + vec(1)[1:])], 5, 1), -11),
    "Inf": (lambda: wire.add_request(DIM, [wire.document([math.inf] + vec(1)[1:])], 5, 1), -11),
    "text too long": (lambda: wire.add_request(DIM, [wire.document(vec(1), text="x" * 9000)],
                                               5, 1), -12),
    "kind too long": (lambda: wire.add_request(DIM, [wire.document(vec(1), kind="k" * 24)],
                                               5, 1), -12),
    "too many docs": (lambda: wire.add_request(DIM, [wire.document(vec(1))] * 1025, 5, 1), -12),
    "no docs": (lambda: wire.add_request(DIM, [], 5, 1), -1),
    "bad utf-8": (lambda: wire.add_request(DIM, [wire.field_bytes(1, struct.pack(
        "<16f", *vec(1))) + wire.field_bytes(5, b"\xc0\x80")], 5, 1), -13),
    "missing key": (lambda: wire.add_request(DIM, [wire.document(vec(1))], 0, 0), -1),
    "unknown ack mode": (lambda: wire.add_request(DIM, [wire.document(vec(1))], 5, 1, ack=9),
                         -15),
    "unknown version": (lambda: wire.add_request(DIM, [wire.document(vec(1))], 5, 1,
                                                 version=2), -6),
    "unknown operation": (lambda: wire.field_varint(1, 1) + wire.field_bytes(15, b"x"), -15),
    "garbage": (lambda: bytes(random.Random(3).getrandbits(8) for _ in range(300)), -14),
    "truncated": (lambda: wire.add_request(DIM, [wire.document(vec(1))], 5, 1)[:-7], -14),
    "empty frame": (lambda: b"", -15),
    # protobuf-c keeps strings as C strings: these would be stored cut.
    "NUL in text": (lambda: wire.add_request(DIM, [wire.document(vec(1), text="before\0after")],
                                             5, 1), -1),
    "NUL in kind": (lambda: wire.add_request(DIM, [wire.document(vec(1), kind="tw\0eet")],
                                             5, 1), -1),
    "two operations": (lambda: wire.add_request(DIM, [wire.document(vec(1))], 5, 1) +
                       wire.status_request()[2:], -1),
}

# What a refusal says, where it matters which field is named.
BAD_MESSAGES = {
    "NUL in text": "add.docs[0].text holds a NUL byte (at byte 6 of 12)",
    "NUL in kind": "add.docs[0].kind holds a NUL byte (at byte 2 of 6)",
    "two operations": "the request sets both add and status",
}


def test_bad_input_rejected_and_nothing_changes(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    good = inst.client().call(wire.add_request(DIM, [wire.document(vec(0))], 1, 1))
    assert good["status"] == 0
    before = inst.status()
    for what, (make_frame, code) in BAD.items():
        reply = inst.client().call(make_frame())
        assert reply["status"] == code, (what, reply)
        assert reply["message"], what
        assert BAD_MESSAGES.get(what, "") in reply["message"], (what, reply)
        assert "add" not in reply or not reply["add"]["ids"], what
    after = inst.status()
    assert after["ring_reserve"] == before["ring_reserve"]
    inst.wait_published(good["add"]["ids"])
    assert len(inst.dump()) == 1
    assert inst.writer.poll() is None and inst.brokers[0].poll() is None


def test_add_timeout_beyond_int_is_the_longest_wait(make_instance):
    """timeout_ms is a uint32: 4294967295 must mean the broker's longest
    wait, not -1 ms."""
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    r = inst.client().call(wire.add_request(DIM, [wire.document(vec(3), text="t")], 6, 1, ack=3,
                                            timeout_ms=(1 << 32) - 1))
    assert r["status"] == 0, r
    assert "-1 ms" not in r["message"]


def test_second_writer_refused(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    second = subprocess.run(inst.writer_argv(), env=inst.env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, timeout=60)
    assert second.returncode != 0
    assert "another writer" in second.stdout or "in use by another writer" in second.stdout


def test_queued_without_writer_then_applied(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker()
    inst.kill(inst.writer)
    c = inst.client()
    queued = c.call(wire.add_request(DIM, [wire.document(vec(1), text="q")], 11, 1, ack=1))
    assert queued["status"] == 0, queued
    durable = c.call(wire.add_request(DIM, [wire.document(vec(2), text="d")], 12, 1, ack=2,
                                      timeout_ms=300))
    assert durable["status"] == -9, durable
    assert "writer unavailable" in durable["message"]
    inst.start_writer()
    # The same key, retried, now succeeds with the ids it was given.
    again = c.call(wire.add_request(DIM, [wire.document(vec(2), text="d")], 12, 1, ack=2))
    assert again["status"] == 0 and again["add"]["ids"] == durable["add"]["ids"]
    inst.wait_published(queued["add"]["ids"] + durable["add"]["ids"])
    ids = sorted(int(d.split(" ")[0]) for d in inst.dump())
    assert ids == sorted(queued["add"]["ids"] + durable["add"]["ids"])


def test_ring_full_replies_busy_and_loses_nothing(make_instance):
    inst = make_instance(dim=256, writer_args=["--ring-mb", "1"],
                         broker_args=["--busy-timeout-ms", "100"])
    inst.start_writer()
    inst.start_broker()
    inst.kill(inst.writer)
    c = inst.client()
    accepted, seq = [], 0
    while True:
        seq += 1
        docs = [wire.document(vec(seq * 100 + i, 256)) for i in range(64)]
        r = c.call(wire.add_request(256, docs, 21, seq, ack=1))
        if r["status"] == -7:
            break
        assert r["status"] == 0, r
        accepted += r["add"]["ids"]
        assert seq < 100, "the 1 MiB ring never filled"
    assert "ring full" in r["message"]
    inst.start_writer()
    wait_for(lambda: len(inst.dump()) == len(accepted), 30, "the queued batches")
    assert sorted(int(d.split(" ")[0]) for d in inst.dump()) == sorted(accepted)


def test_kill_broker_under_load(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker(0)
    inst.start_broker(1)
    agents = [inst.agent(a, requests=40, batch=(1, 20)) for a in range(8)]
    wait_for(lambda: inst.status()["documents"] > 200, 30, "load to start")
    inst.kill(inst.brokers[0])
    acked = {}
    for p in agents:
        acked.update(collect_all(p, timeout=180))
    docs = check_exactly_once(inst, acked)
    assert len(docs) == len(acked), "documents stored that nobody acked"


def test_kill_writer_under_load_and_restart(make_instance):
    inst = make_instance(dim=DIM, writer_args=["--seal-docs", "4096"])
    inst.start_writer()
    inst.start_broker(0)
    inst.start_broker(1)
    agents = [inst.agent(a, requests=40, batch=(1, 50)) for a in range(8)]
    wait_for(lambda: inst.status()["documents"] > 1000, 30, "load to start")
    inst.kill(inst.writer)
    time.sleep(0.5)  # the agents keep adding while no writer runs
    inst.start_writer()
    acked = {}
    for p in agents:
        acked.update(collect_all(p, timeout=180))
    docs = check_exactly_once(inst, acked)
    assert len(docs) == len(acked)


@pytest.mark.parametrize("index", ["HNSW32", "IVF16,Flat"])
def test_index_types_seal_and_recover(make_instance, index):
    inst = make_instance(dim=DIM, index=index,
                         writer_args=["--seal-docs", "4096", "--train-docs", "2048"])
    inst.start_writer()
    inst.start_broker()
    acked = collect_all(inst.agent(1, requests=110, batch=(80, 100)))
    check_exactly_once(inst, acked)
    segs = [f for f in os.listdir(inst.data) if f.endswith(".index") and f.startswith("seg-")]
    assert len(segs) >= 2
    inst.kill(inst.writer, signal.SIGTERM)
    inst.start_writer()
    assert len(check_exactly_once(inst, acked)) == len(acked)


def test_writer_refuses_other_settings(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.kill(inst.writer, signal.SIGTERM)
    argv = [os.path.join(BIN, "roost-writer"), "--name", inst.name, "--data-dir", inst.data,
            "--dim", str(DIM + 1)]
    out = subprocess.run(argv, env=inst.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=60)
    assert out.returncode != 0 and "differs" in out.stdout


def test_libroost_exports_only_its_interface():
    """libroost.so exports what client/roost.h declares (and roost_strerror
    from the err.h it includes), nothing of the modules it links."""
    with open(os.path.join(ROOT, "client", "roost.h")) as f:
        declared = set(re.findall(r"^[a-z][\w ]*?\**\b(roost_\w+)\(", f.read(), re.M))
    declared.add("roost_strerror")
    out = subprocess.run(["nm", "-D", "--defined-only", os.path.join(BUILD, "lib", "libroost.so")],
                         stdout=subprocess.PIPE, text=True, check=True).stdout
    exported = {line.split()[2].split("@")[0] for line in out.splitlines()
                if len(line.split()) == 3 and line.split()[1] == "T"}
    assert len(declared) > 10
    assert exported == declared


def test_aged_tail_waits_for_training_docs(make_instance):
    """A trained index type with an aged tail smaller than --train-docs
    keeps taking writes (nothing to seal yet) and seals once it has them."""
    inst = make_instance(dim=DIM, index="IVF16,Flat",
                         writer_args=["--seal-docs", "4096", "--train-docs", "2048",
                                      "--seal-interval-ms", "200"])
    inst.start_writer()
    inst.start_broker()
    first = collect_all(inst.agent(1, requests=2, batch=(50, 50)))
    check_exactly_once(inst, first)
    time.sleep(0.5)  # past the seal interval, with 100 of 2048 documents
    acked = collect_all(inst.agent(2, requests=30, batch=(80, 100)))
    assert inst.writer.poll() is None
    acked.update(first)
    check_exactly_once(inst, acked)
    wait_for(lambda: any(f.startswith("seg-") and f.endswith(".index")
                         for f in os.listdir(inst.data)), 30, "a sealed segment")
