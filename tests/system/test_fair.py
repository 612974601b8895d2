"""Fair ingest between agents: a broker started with --agent-rate holds
each agent (the documents' agent field) to that many documents a second;
an add over it is refused whole, as busy, and changes nothing, while other
agents' adds go through. The real writer and broker, over the wire."""
import os
import subprocess
import sys

import pytest

import wire
from conftest import BIN, BUILD, ROOT, wait_for

sys.path.insert(0, os.path.join(ROOT, "client", "python"))
os.environ.setdefault("ROOST_LIB", os.path.join(BUILD, "lib", "libroost.so"))
import roost  # noqa: E402

DIM = 8
EBUSY = -7


def docs(agents, seed=0):
    """One document per entry of agents, each of that agent."""
    return [wire.document([float((seed + i) % 5 + 1)] * DIM, agent=a, text="d%d" % (seed + i))
            for i, a in enumerate(agents)]


def test_flooding_agent_is_held_and_others_pass(make_instance):
    inst = make_instance(dim=DIM)
    inst.start_writer()
    # 1 document a second: the burst is all a test this short sees.
    inst.start_broker(0, extra=["--agent-rate", "1", "--agent-burst", "100"])
    key = iter(range(1, 100))

    def add(agents, seed=0):
        return inst.call(wire.add_request(DIM, docs(agents, seed), 901, next(key), ack=3))

    assert add([5] * 100)["status"] == 0
    refused = add([5] * 10, seed=100)
    assert refused["status"] == EBUSY, refused
    assert "agent 5 is over its rate of 1 documents/s" in refused["message"], refused
    # 10 documents at 1 a second: about 10 s until a retry can pass.
    assert 9000 <= refused["retry_after_ms"] <= 10000, refused
    # A batch naming agent 5 among others is refused whole.
    mixed = add([6] * 10 + [5], seed=200)
    assert mixed["status"] == EBUSY and "agent 5" in mixed["message"], mixed
    # Agent 6 was not charged for it: its whole burst is left.
    assert add([6] * 100, seed=300)["status"] == 0
    st = inst.status()
    assert st["documents"] == 200, st
    assert (st["agent_rate"], st["agent_refused"]) == (1, 2), st


def test_client_retries_until_the_agent_refills(make_instance):
    """libroost retries a refused add: with 20 documents a second and a
    burst of 20, the second batch of 20 waits about a second, then lands."""
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker(0, extra=["--agent-rate", "20", "--agent-burst", "20"])
    with roost.Roost(inst.broker_url(), timeout_ms=30000) as db:
        for batch in range(2):
            db.add([[float(batch * 20 + i + 1)] * DIM for i in range(20)],
                   metadatas=[{"agent": 7}] * 20, ack="visible")
    st = inst.status()
    assert st["documents"] == 40 and st["agent_refused"] >= 1, st


def test_client_gives_up_when_the_wait_is_past_its_timeout(make_instance):
    """A refusal whose retry_after_ms is past the handle's timeout is
    returned at once, with the broker's words, and nothing is written."""
    inst = make_instance(dim=DIM)
    inst.start_writer()
    inst.start_broker(0, extra=["--agent-rate", "1", "--agent-burst", "5"])
    with roost.Roost(inst.broker_url(), timeout_ms=3000) as db:
        db.add([[1.0] * DIM] * 5, metadatas=[{"agent": 3}] * 5, ack="visible")
        with pytest.raises(roost.RoostError) as e:
            db.add([[2.0] * DIM] * 5, metadatas=[{"agent": 3}] * 5, ack="visible")
    assert e.value.code == EBUSY and "agent 3 is over its rate" in str(e.value), e.value
    st = inst.status()
    assert st["documents"] == 5 and st["agent_refused"] == 1, st


def test_agent_burst_needs_a_rate():
    p = subprocess.run([os.path.join(BIN, "roost-broker"), "--name", "x", "--agent-burst", "5"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=30)
    assert p.returncode == 2 and "--agent-burst needs --agent-rate" in p.stdout, p.stdout
