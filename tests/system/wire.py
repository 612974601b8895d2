"""A tiny protobuf encoder/decoder and an SP REQ client written from the
protocol's own specification (sp-request-reply-01, sp-ipc-mapping-01,
sp-tcp-mapping-01), so system tests send exact (and exactly wrong) frames
to the real servers without generated code, pip packages or the transport
library under test. Field numbers follow proto/roost.proto."""
import itertools
import socket
import struct

SP_REQ, SP_REP = 0x30, 0x31
_request_ids = itertools.count(1)


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


def add_request(dim, docs, client_id, seq, ack=2, timeout_ms=0, version=1, collection=""):
    add = field_varint(1, dim)
    for d in docs:
        add += field_bytes(2, d)
    add += field_varint(3, client_id) + field_varint(4, seq) + field_varint(5, ack)
    if timeout_ms:
        add += field_varint(6, timeout_ms)
    if collection:
        add += field_bytes(7, collection)
    return field_varint(1, version) + field_bytes(2, add)


def status_request(version=1, collection=""):
    return field_varint(1, version) + field_bytes(4, field_bytes(1, collection)
                                                  if collection else b"")


def settings(dim, metric=0, index="", train_docs=0, seal_docs=0, seal_interval_ms=0,
             indexed_keys=()):
    body = field_varint(1, dim)
    if metric:
        body += field_varint(2, metric)
    if index:
        body += field_bytes(3, index)
    for num, v in ((4, train_docs), (5, seal_docs), (6, seal_interval_ms)):
        if v:
            body += field_varint(num, v)
    for key in indexed_keys:
        body += field_bytes(7, key)
    return body


def create_request(name, client_id, seq, version=1, timeout_ms=0, **kw):
    body = field_bytes(1, name) + field_bytes(2, settings(**kw))
    body += field_varint(3, client_id) + field_varint(4, seq)
    if timeout_ms:
        body += field_varint(5, timeout_ms)
    return field_varint(1, version) + field_bytes(5, body)


def drop_request(name, client_id, seq, version=1, timeout_ms=0):
    body = field_bytes(1, name) + field_varint(2, client_id) + field_varint(3, seq)
    if timeout_ms:
        body += field_varint(4, timeout_ms)
    return field_varint(1, version) + field_bytes(6, body)


def alter_request(name, client_id, seq, index="", train_docs=0, version=1, timeout_ms=0):
    body = field_bytes(1, name)
    if index:
        body += field_bytes(2, index)
    if train_docs:
        body += field_varint(3, train_docs)
    body += field_varint(4, client_id) + field_varint(5, seq)
    if timeout_ms:
        body += field_varint(6, timeout_ms)
    return field_varint(1, version) + field_bytes(11, body)


def list_request(version=1):
    return field_varint(1, version) + field_bytes(7, b"")


def parse_collection(buf):
    f = decode(buf)
    st = decode(f.get(3, [b""])[0])
    out = {"name": f.get(1, [b""])[0].decode(), "id": f.get(2, [0])[0],
           "documents": f.get(4, [0])[0], "segments": f.get(5, [0])[0],
           "created_lsn": f.get(6, [0])[0], "rebuilding": f.get(7, [0])[0],
           "history_start_lsn": f.get(8, [0])[0], "history_bytes": f.get(9, [0])[0]}
    names = {1: "dim", 2: "metric", 4: "train_docs", 5: "seal_docs", 6: "seal_interval_ms"}
    out.update({name: st.get(k, [0])[0] for k, name in names.items()})
    out["index"] = st.get(3, [b""])[0].decode()
    out["indexed_keys"] = [k.decode() for k in st.get(7, [])]
    return out


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
    if 12 in f:
        reply["retry_after_ms"] = f[12][0]
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
                 10: "published_lsn", 11: "documents", 15: "agent_rate", 16: "agent_refused",
                 18: "history_horizon_lsn", 19: "history_log_bytes"}
        reply["status_reply"] = {name: st.get(k, [0])[0] for k, name in names.items()}
        reply["status_reply"]["retain"] = st.get(17, [b""])[0].decode()
        reply["status_reply"]["collection"] = st.get(13, [b""])[0].decode()
        reply["status_reply"]["collections"] = [parse_collection(c) for c in st.get(14, [])]
    if 7 in f:
        c = decode(f[7][0])
        reply["collection"] = {"lsn": c.get(1, [0])[0], "existed": bool(c.get(3, [0])[0]),
                               **parse_collection(c.get(2, [b""])[0])}
    if 8 in f:
        reply["collections"] = [parse_collection(c) for c in decode(f[8][0]).get(1, [])]
    return reply


def sp_header(protocol=SP_REQ):
    return b"\x00SP\x00" + struct.pack(">H", protocol) + b"\x00\x00"


def sp_connect(url, timeout_s=10.0):
    """A stream socket to an ipc:// or tcp:// URL, not yet negotiated."""
    if url.startswith("ipc://"):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        addr = url[len("ipc://"):]
    elif url.startswith("tcp://"):
        host, port = url[len("tcp://"):].rsplit(":", 1)
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        addr = (host, int(port))
    else:
        raise ValueError("not an ipc:// or tcp:// URL: %s" % url)
    s.settimeout(timeout_s)
    s.connect(addr)
    return s


class Client:
    """One REQ peer on one connection: a request out, its reply back.
    No reply in time is a TimeoutError, a closed connection a
    ConnectionError."""

    def __init__(self, url, timeout_ms=10000):
        self.ipc = url.startswith("ipc://")
        self.sock = sp_connect(url, timeout_ms / 1000.0)
        self.sock.sendall(sp_header(SP_REQ))
        peer = self._read(8)
        if peer[:4] != b"\x00SP\x00" or struct.unpack(">H", peer[4:6])[0] != SP_REP:
            raise ConnectionError("not a REP peer: %r" % peer)

    def _read(self, n):
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.sock.recv(n - len(buf))
            except socket.timeout:
                raise TimeoutError("no reply in time") from None
            if not chunk:
                raise ConnectionError("connection closed by the server")
            buf += chunk
        return buf

    def send_message(self, payload):
        """payload framed as one SP message on this transport."""
        head = (b"\x01" if self.ipc else b"") + struct.pack(">Q", len(payload))
        self.sock.sendall(head + payload)

    def call_raw(self, frame):
        rid = 0x80000000 | (next(_request_ids) & 0x7FFFFFFF)
        self.send_message(struct.pack(">I", rid) + frame)
        while True:
            head = self._read(9 if self.ipc else 8)
            n = struct.unpack(">Q", head[-8:])[0]
            body = self._read(n)
            if body[:4] == struct.pack(">I", rid):
                return body[4:]

    def call(self, frame):
        return parse_reply(self.call_raw(frame))

    def close(self):
        self.sock.close()


def field_double(num, value):
    return varint(num << 3 | 1) + struct.pack("<d", value)


def condition(key, any_of=(), min=None, max=None, min_exclusive=False, max_exclusive=False):
    """A Filter.where Condition; any_of holds JSON texts."""
    c = field_bytes(1, key)
    for v in any_of:
        c += field_bytes(2, v)
    for num, bound, exclusive in ((3, min, min_exclusive), (6, max, max_exclusive)):
        if bound is not None:
            c += field_varint(num, 1) + field_double(num + 1, bound)
            c += field_varint(num + 2, 1) if exclusive else b""
    return c


def search_request(dim, queries, k, min_lsn=0, agents=(), time_range=None, kind="",
                   timeout_ms=0, version=1, nprobe=0, ef_search=0, collection="", where=()):
    """where: Condition messages (condition())."""
    flat = [x for q in queries for x in q]
    s = field_varint(1, dim) + field_bytes(2, struct.pack("<%df" % len(flat), *flat))
    s += field_varint(3, k)
    if agents or time_range or kind or where:
        f = b""
        if agents:
            f += field_bytes(1, b"".join(varint(a) for a in agents))
        if time_range:
            f += field_varint(2, 1) + field_varint(3, time_range[0]) + field_varint(4, time_range[1])
        if kind:
            f += field_bytes(5, kind)
        for c in where:
            f += field_bytes(6, c)
        s += field_bytes(4, f)
    if min_lsn:
        s += field_varint(5, min_lsn)
    if timeout_ms:
        s += field_varint(6, timeout_ms)
    if nprobe:
        s += field_varint(7, nprobe)
    if ef_search:
        s += field_varint(8, ef_search)
    if collection:
        s += field_bytes(9, collection)
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
                         "text": hf.get(6, [b""])[0].decode(),
                         "key": hf.get(7, [b""])[0].decode()})
        out["results"].append(hits)
    return out
