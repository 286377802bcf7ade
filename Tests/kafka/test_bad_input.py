"""Bad input on a raw socket (issue 13 §3): an oversize declared frame, a negative size, garbage, a
truncated request, unknown API keys and versions, idle connections. Each gets a Kafka error code or a
closed connection, and the server keeps serving everyone else. The requests are built here by hand,
not with the project's encoder, so what they check is the wire as Kafka defines it."""

import os
import socket
import struct

from kafka_support import BOOTSTRAP, TIMEOUT, Rec, ck_consume, ck_produce, topic_name

HOST, PORT = BOOTSTRAP.rsplit(":", 1)[0], int(BOOTSTRAP.rsplit(":", 1)[1] or 0)

# The table of issue 13 §2: api key -> (min, max) the server must offer at least.
REQUIRED = {0: (3, 9), 1: (4, 12), 2: (1, 7), 3: (1, 12), 18: (0, 3), 19: (2, 5), 20: (1, 4), 22: (0, 4), 32: (1, 4)}


def connect():
    s = socket.create_connection((HOST, PORT), timeout=TIMEOUT)
    s.settimeout(TIMEOUT)
    return s


def frame(body: bytes) -> bytes:
    return struct.pack(">i", len(body)) + body


def header_v1(api_key, version, correlation, client=b"strata-raw"):
    return struct.pack(">hhih", api_key, version, correlation, len(client)) + client


def recv_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"closed after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def recv_frame(s):
    (size,) = struct.unpack(">i", recv_exact(s, 4))
    assert 0 <= size < 1 << 20, f"response frame size {size}"
    return recv_exact(s, size)


def closed_or_error(s) -> str:
    """Waits for the server's answer to a bad request: 'closed' or 'response'."""
    try:
        data = s.recv(4)
    except (ConnectionResetError, BrokenPipeError):
        return "closed"
    return "closed" if data == b"" else "response"


def api_versions_v0(s, correlation=7):
    s.sendall(frame(header_v1(18, 0, correlation)))
    body = recv_frame(s)
    corr, err, n = struct.unpack(">ihi", body[:10])
    apis = {}
    for i in range(n):
        k, lo, hi = struct.unpack(">hhh", body[10 + 6 * i : 16 + 6 * i])
        apis[k] = (lo, hi)
    return corr, err, apis


def uvarint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def read_uvarint(buf, pos):
    shift = result = 0
    while True:
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def assert_still_serving():
    s = connect()
    try:
        corr, err, apis = api_versions_v0(s, 99)
        assert (corr, err) == (99, 0)
    finally:
        s.close()
    topic = topic_name("still")
    ck_produce([Rec(b"k", b"still serving")], topic)
    got, _ = ck_consume(topic, 0, 0, 1)
    assert got[0].value == b"still serving"


def test_api_versions_v0_lists_the_table_of_the_issue():
    s = connect()
    try:
        corr, err, apis = api_versions_v0(s, 12345)
    finally:
        s.close()
    assert (corr, err) == (12345, 0)
    for key, (lo, hi) in REQUIRED.items():
        assert key in apis, f"api {key} missing: {apis}"
        assert apis[key][0] <= lo and apis[key][1] >= hi, f"api {key}: {apis[key]} does not cover {lo}-{hi}"


def test_api_versions_v3_flexible():
    body = header_v1(18, 3, 4242) + b"\x00"  # header v2: tagged fields
    body += uvarint(len(b"strata-raw") + 1) + b"strata-raw" + uvarint(len(b"1.0") + 1) + b"1.0" + b"\x00"
    s = connect()
    try:
        s.sendall(frame(body))
        resp = recv_frame(s)
    finally:
        s.close()
    corr, err = struct.unpack(">ih", resp[:6])  # ApiVersions answers with header v0 even at v3
    assert (corr, err) == (4242, 0)
    n, pos = read_uvarint(resp, 6)
    apis = {}
    for _ in range(n - 1):
        k, lo, hi = struct.unpack(">hhh", resp[pos : pos + 6])
        pos += 6
        tags, pos = read_uvarint(resp, pos)
        assert tags == 0
        apis[k] = (lo, hi)
    for key, (lo, hi) in REQUIRED.items():
        assert apis.get(key, (99, -1))[0] <= lo and apis[key][1] >= hi, f"api {key}: {apis.get(key)}"


def test_unknown_api_version_gets_unsupported_version_with_the_list():
    s = connect()
    try:
        s.sendall(frame(header_v1(18, 99, 31337)))
        body = recv_frame(s)
    finally:
        s.close()
    corr, err, n = struct.unpack(">ihi", body[:10])
    assert corr == 31337 and err == 35, (corr, err)
    keys = {struct.unpack(">h", body[10 + 6 * i : 12 + 6 * i])[0] for i in range(n)}
    assert 18 in keys and 0 in keys and 1 in keys, keys


def test_unknown_api_key_gets_an_error_or_a_closed_connection():
    s = connect()
    try:
        s.sendall(frame(header_v1(9999, 0, 555)))
        try:
            body = recv_frame(s)
        except (ConnectionError, ConnectionResetError):
            body = None
        if body is not None:
            corr, err = struct.unpack(">ih", body[:6])
            assert corr == 555 and err == 35, (corr, err)
    finally:
        s.close()
    assert_still_serving()


def test_oversize_declared_frame_closes_the_connection():
    s = connect()
    try:
        s.sendall(struct.pack(">i", 200 * 1024 * 1024) + header_v1(18, 0, 1))
        assert closed_or_error(s) == "closed"
    finally:
        s.close()
    assert_still_serving()


def test_negative_frame_size_closes_the_connection():
    s = connect()
    try:
        s.sendall(struct.pack(">i", -5) + b"abcd")
        assert closed_or_error(s) == "closed"
    finally:
        s.close()
    assert_still_serving()


def test_garbage_frames():
    rng = os.urandom
    for size in (3, 64, 4096):
        s = connect()
        try:
            s.sendall(frame(rng(size)))
            # An error answer and a closed connection are both fine; a server that answers nothing and
            # keeps the connection is fine too (garbage may read as an incomplete request): 2 s of quiet.
            s.settimeout(2)
            try:
                while s.recv(65536):  # an answer (an error) is fine; the server must then close or wait
                    pass
            except (ConnectionResetError, socket.timeout):
                pass
        finally:
            s.close()
    assert_still_serving()


def test_garbage_after_a_valid_request_still_answers_the_valid_one():
    s = connect()
    try:
        s.sendall(frame(header_v1(18, 0, 77)) + frame(b"\xff" * 32))
        corr, err = struct.unpack(">ih", recv_frame(s)[:6])
        assert (corr, err) == (77, 0)
    finally:
        s.close()
    assert_still_serving()


def test_truncated_request_inside_its_frame():
    # A Metadata v1 header whose body (the topic array) is cut: a complete frame, an incomplete request.
    s = connect()
    try:
        s.sendall(frame(header_v1(3, 1, 8) + b"\x00\x00"))
        state = closed_or_error(s)
        assert state in ("closed", "response")
    finally:
        s.close()
    # A produce request cut in its record batch.
    s = connect()
    try:
        topic = b"trunc"
        body = header_v1(0, 3, 9) + struct.pack(">hhi", -1, -1, 5000)  # transactional id null, acks -1, timeout
        body += struct.pack(">ih", 1, len(topic)) + topic + struct.pack(">iii", 1, 0, 200) + b"\x00" * 20
        s.sendall(frame(body))
        state = closed_or_error(s)
        assert state in ("closed", "response")
    finally:
        s.close()
    assert_still_serving()
    # Nothing stored: the topic is absent (the request never created it) or empty.
    from confluent_kafka import TopicPartition
    from confluent_kafka.admin import AdminClient

    md = AdminClient({"bootstrap.servers": BOOTSTRAP, "broker.address.family": "v4"}).list_topics(timeout=TIMEOUT)
    if "trunc" in md.topics:
        from kafka_support import ck_consumer

        c = ck_consumer()
        try:
            assert c.get_watermark_offsets(TopicPartition("trunc", 0), timeout=TIMEOUT, cached=False) == (0, 0)
        finally:
            c.close()


def test_frame_cut_short_then_closed():
    s = connect()
    s.sendall(struct.pack(">i", 100) + header_v1(18, 0, 1))  # 100 declared, ~16 sent
    s.shutdown(socket.SHUT_WR)
    try:
        assert closed_or_error(s) == "closed"
    finally:
        s.close()
    assert_still_serving()


def test_idle_connections_do_not_stop_the_server():
    idle = [connect() for _ in range(200)]
    half = connect()
    half.sendall(struct.pack(">i", 50) + b"\x00\x12")  # half a frame, then silence
    try:
        assert_still_serving()
        # And an idle connection can still be used afterwards.
        corr, err, _ = api_versions_v0(idle[0], 5)
        assert (corr, err) == (5, 0)
    finally:
        for s in idle + [half]:
            s.close()
    assert_still_serving()
