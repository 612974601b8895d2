"""Recomputes what tests/tools/agent.c sends, so tests can check search
results against the exact vectors and fields an agent acknowledged."""
import struct

M = (1 << 64) - 1


def _mix(x):
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & M
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & M
    return x ^ (x >> 31)


def _f32(x):
    return struct.unpack("<f", struct.pack("<f", x))[0]


def vector(agent, req, i, dim):
    s = _mix((agent * 1000003 + req * 7919 + i) & M)
    out = []
    for j in range(dim):
        s = _mix((s + j) & M)
        f = _f32((s >> 11) / float(1 << 53))
        out.append(_f32(f * 2.0 - 1.0))
    return out


def parse_ack(fields):
    """'id agent time kind hash agent A post R.I' -> (id, agent, time, req, i)."""
    parts = fields.split(" ")
    req, i = parts[-1].split(".")
    return int(parts[0]), int(parts[1]), int(parts[2]), int(req), int(i)
