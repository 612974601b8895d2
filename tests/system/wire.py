"""A tiny protobuf encoder/decoder and nanomsg REQ client over ctypes, so
system tests can send exact (and exactly wrong) frames to the real servers
without generated code or pip packages. Field numbers follow
common/roost.proto."""
import ctypes
import ctypes.util
import struct

AF_SP = 1
AF_SP_RAW = 2
NN_REQ = 3 * 16
NN_SOL_SOCKET = 0
NN_RCVTIMEO = 5
NN_SNDTIMEO = 4
NN_REQ_RESEND_IVL = 1
NN_MSG = ctypes.c_size_t(-1).value

_nn = ctypes.CDLL(ctypes.util.find_library("nanomsg") or "libnanomsg.so.5", use_errno=True)
_nn.nn_recv.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
_nn.nn_send.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t, ctypes.c_int]
_nn.nn_freemsg.argtypes = [ctypes.c_void_p]
_nn.nn_strerror.restype = ctypes.c_char_p


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def field_varint(num, value):
    return varint(num << 3) + varint(value)


def field_bytes(num, data):
    if isinstance(data, str):
        data = data.encode()
    return varint(num << 3 | 2) + varint(len(data)) + data


def document(vector, agent=0, time=0, kind="", text=""):
    body = field_bytes(1, struct.pack("<%df" % len(vector), *vector))
    body += field_varint(2, agent) + field_varint(3, time)
    if kind:
        body += field_bytes(4, kind)
    if text:
        body += field_bytes(5, text)
    return body


def add_request(dim, docs, client_id, seq, ack=2, timeout_ms=0, version=1):
    add = field_varint(1, dim)
    for d in docs:
        add += field_bytes(2, d)
    add += field_varint(3, client_id) + field_varint(4, seq) + field_varint(5, ack)
    if timeout_ms:
        add += field_varint(6, timeout_ms)
    return field_varint(1, version) + field_bytes(2, add)


def status_request(version=1):
    return field_varint(1, version) + field_bytes(4, b"")


def decode(buf):
    """Field number -> list of raw values (ints or bytes)."""
    out, i = {}, 0
    while i < len(buf):
        key, i = _read_varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, i = _read_varint(buf, i)
        elif wt == 2:
            n, i = _read_varint(buf, i)
            val, i = buf[i:i + n], i + n
        elif wt == 5:
            val, i = buf[i:i + 4], i + 4
        elif wt == 1:
            val, i = buf[i:i + 8], i + 8
        else:
            raise ValueError("bad wire type %d" % wt)
        out.setdefault(num, []).append(val)
    return out


def _read_varint(buf, i):
    shift = n = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def signed32(n):
    n &= 0xFFFFFFFF
    return n - (1 << 32) if n >= 1 << 31 else n


def parse_reply(buf):
    f = decode(buf)
    reply = {"status": signed32(f.get(2, [0])[0]) if 2 in f else 0,
             "message": f.get(3, [b""])[0].decode(errors="replace")}
    if 4 in f:
        add = decode(f[4][0])
        ids = []
        for v in add.get(2, []):
            if isinstance(v, bytes):  # packed
                j = 0
                while j < len(v):
                    x, j = _read_varint(v, j)
                    ids.append(x)
            else:
                ids.append(v)
        reply["add"] = {"lsn": add.get(1, [0])[0], "ids": ids,
                        "duplicate": bool(add.get(3, [0])[0])}
    if 6 in f:
        st = decode(f[6][0])
        names = {1: "dim", 4: "writer_pid", 5: "ring_head", 6: "ring_reserve",
                 7: "ring_capacity", 8: "durable_lsn", 9: "applied_lsn",
                 10: "published_lsn", 11: "documents"}
        reply["status_reply"] = {name: st.get(k, [0])[0] for k, name in names.items()}
    return reply


class Client:
    """A nanomsg REQ socket with a receive timeout."""

    def __init__(self, url, timeout_ms=10000):
        self.sock = _nn.nn_socket(AF_SP, NN_REQ)
        assert self.sock >= 0
        t = ctypes.c_int(timeout_ms)
        _nn.nn_setsockopt(self.sock, NN_SOL_SOCKET, NN_RCVTIMEO, ctypes.byref(t), 4)
        _nn.nn_setsockopt(self.sock, NN_SOL_SOCKET, NN_SNDTIMEO, ctypes.byref(t), 4)
        big = ctypes.c_int(3600 * 1000)
        _nn.nn_setsockopt(self.sock, NN_REQ, NN_REQ_RESEND_IVL, ctypes.byref(big), 4)
        if _nn.nn_connect(self.sock, url.encode()) < 0:
            raise OSError("nn_connect failed")

    def call_raw(self, frame):
        if _nn.nn_send(self.sock, frame, len(frame), 0) < 0:
            raise OSError("nn_send: %s" % _nn.nn_strerror(ctypes.get_errno()))
        buf = ctypes.c_void_p()
        n = _nn.nn_recv(self.sock, ctypes.byref(buf), NN_MSG, 0)
        if n < 0:
            raise TimeoutError("no reply: %s" % _nn.nn_strerror(ctypes.get_errno()))
        data = ctypes.string_at(buf, n)
        _nn.nn_freemsg(buf)
        return data

    def call(self, frame):
        return parse_reply(self.call_raw(frame))

    def close(self):
        _nn.nn_close(self.sock)


def search_request(dim, queries, k, min_lsn=0, agents=(), time_range=None, kind="",
                   timeout_ms=0, version=1, nprobe=0, ef_search=0):
    flat = [x for q in queries for x in q]
    s = field_varint(1, dim) + field_bytes(2, struct.pack("<%df" % len(flat), *flat))
    s += field_varint(3, k)
    if agents or time_range or kind:
        f = b""
        if agents:
            f += field_bytes(1, b"".join(varint(a) for a in agents))
        if time_range:
            f += field_varint(2, 1) + field_varint(3, time_range[0]) + field_varint(4, time_range[1])
        if kind:
            f += field_bytes(5, kind)
        s += field_bytes(4, f)
    if min_lsn:
        s += field_varint(5, min_lsn)
    if timeout_ms:
        s += field_varint(6, timeout_ms)
    if nprobe:
        s += field_varint(7, nprobe)
    if ef_search:
        s += field_varint(8, ef_search)
    return field_varint(1, version) + field_bytes(3, s)


def signed64(n):
    return n - (1 << 64) if n >= 1 << 63 else n


def parse_search(buf):
    """Reply -> {status, message, lsn, results: [[hit dict, ...], ...]}."""
    f = decode(buf)
    out = {"status": signed32(f.get(2, [0])[0]) if 2 in f else 0,
           "message": f.get(3, [b""])[0].decode(errors="replace"), "results": []}
    if 5 not in f:
        return out
    sr = decode(f[5][0])
    out["lsn"] = sr.get(1, [0])[0]
    for qr in sr.get(2, []):
        hits = []
        for h in decode(qr).get(1, []):
            hf = decode(h)
            hits.append({"id": hf.get(1, [0])[0],
                         "score": struct.unpack("<f", hf[2][0])[0] if 2 in hf else 0.0,
                         "agent": signed64(hf.get(3, [0])[0]),
                         "time": signed64(hf.get(4, [0])[0]),
                         "kind": hf.get(5, [b""])[0].decode(),
                         "text": hf.get(6, [b""])[0].decode()})
        out["results"].append(hits)
    return out
