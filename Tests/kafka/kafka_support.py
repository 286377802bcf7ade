"""Shared helpers of the real-client tests (run by tools/test-kafka, one `strata serve` per file).

Environment set by the driver: KAFKA_BOOTSTRAP (HOST:PORT of the running server, absent for a
`# serve: self` group), STRATA_BIN, STRATA_LAKE (the server's lake), STRATA_TEST_WORK (a scratch
directory), STRATA_PIDS_FILE (pids of servers a group starts itself, killed by the driver on exit).
"""

import json
import os
import select
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass, field

BOOTSTRAP = os.environ.get("KAFKA_BOOTSTRAP", "")
STRATA_BIN = os.environ.get("STRATA_BIN", "strata")
LAKE = os.environ.get("STRATA_LAKE", "")
WORK = os.environ.get("STRATA_TEST_WORK", "/tmp")

#: How long any client call may wait for the server before the test fails.
TIMEOUT = 30.0


def topic_name(prefix: str) -> str:
    """A fresh topic name per test, so tests in one group never see each other's records."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass(frozen=True)
class Rec:
    """One record as every client sees it: key, value (None = null), headers, timestamp in ms."""

    key: bytes | None
    value: bytes | None
    headers: tuple = ()
    timestamp: int | None = None
    partition: int = 0

    def check(self, other: "Rec", where: str) -> None:
        assert other.key == self.key, f"{where}: key {other.key!r} != {self.key!r}"
        assert other.value == self.value, f"{where}: value {short(other.value)} != {short(self.value)}"
        assert tuple(other.headers) == tuple(self.headers), f"{where}: headers {other.headers!r} != {self.headers!r}"
        if self.timestamp is not None:
            assert other.timestamp == self.timestamp, f"{where}: timestamp {other.timestamp} != {self.timestamp}"


def short(b):
    if b is None:
        return "None"
    return repr(b[:40]) + (f"...({len(b)} bytes)" if len(b) > 40 else "")


def norm_headers(headers) -> tuple:
    """Headers as a tuple of (str, bytes|None), whatever the client returned (None, list, tuple)."""
    if not headers:
        return ()
    return tuple((k, None if v is None else bytes(v)) for k, v in headers)


# Timestamps (ms): recent ones, and before 1970 (negative; -1 means "no timestamp" in Kafka, so avoided).
T_NOW = 1_764_547_200_000  # 2025-12-01
T_1969 = -31_536_000_000  # 1969-01-01
T_1900 = -2_208_988_800_000  # 1900-01-01


def shaped_records() -> list[Rec]:
    """Records of every shape §4 asks for: keys, no key, null values, empty key and value, headers
    (repeated names, empty values), binary and large values, timestamps before 1970. (No record with
    both key and value null: kafka-python refuses to send one; test_confluent.py sends it.)"""
    big = bytes((i * 7 + 3) % 256 for i in range(200_000))
    return [
        Rec(b"k1", b"v1", (), T_NOW),
        Rec(None, b"no key", (), T_NOW + 1),
        Rec(b"tombstone", None, (), T_NOW + 2),
        Rec(b"", b"", (), T_NOW + 3),
        Rec(b"h", b"with headers", (("a", b"1"), ("b", b""), ("a", b"second a")), T_NOW + 4),
        Rec("ключ".encode(), "значение ✓".encode(), (("utf8-ключ", "✓".encode()),), T_NOW + 5),
        Rec(b"bin", bytes(range(256)), (), T_NOW + 6),
        Rec(b"1969", b"before the epoch", (), T_1969),
        Rec(b"1900", b"long before the epoch", (("century", b"19th"),), T_1900),
        Rec(b"minus-one-second", b"-1000 ms", (), -1000),
        Rec(b"big", big, (), T_NOW + 7),
        Rec(b"last", b"", (("only-header", b"x"),), T_NOW + 8),
    ]


def check_records(expected: list[Rec], got: list[Rec], offsets: list[int] | None, label: str) -> None:
    """Record-for-record: same count, same order, every field; offsets dense from the first."""
    assert len(got) == len(expected), f"{label}: {len(got)} records read, {len(expected)} expected"
    for i, (e, g) in enumerate(zip(expected, got)):
        e.check(g, f"{label}: record {i}")
    if offsets is not None and offsets:
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets))), f"{label}: offsets {offsets[:20]}..."


# --- confluent-kafka ---------------------------------------------------------------------------


def ck_producer(**extra):
    from confluent_kafka import Producer

    conf = {
        "bootstrap.servers": BOOTSTRAP,
        "acks": "all",
        "enable.idempotence": True,
        "message.timeout.ms": int(TIMEOUT * 1000),
        "broker.address.family": "v4",
    }
    conf.update(extra)
    return Producer(conf)


def ck_consumer(**extra):
    from confluent_kafka import Consumer

    conf = {
        "bootstrap.servers": BOOTSTRAP,
        # librdkafka requires a group id; nothing is ever committed (consumer groups: the next issue).
        "group.id": "strata-test-no-commits",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "broker.address.family": "v4",
        "enable.partition.eof": True,
    }
    conf.update(extra)
    return Consumer(conf)


def ck_produce(records: list[Rec], topic: str, producer=None, **extra) -> list[tuple[int, int]]:
    """Produces and flushes; returns (partition, offset) of each record from its delivery report and
    fails on any delivery error."""
    p = producer or ck_producer(**extra)
    reports: dict[int, object] = {}

    def report(i):
        def cb(err, msg):
            reports[i] = err if err is not None else (msg.partition(), msg.offset())

        return cb

    for i, r in enumerate(records):
        kwargs = {"value": r.value, "key": r.key, "on_delivery": report(i)}
        if r.headers:
            kwargs["headers"] = list(r.headers)
        if r.timestamp is not None:
            kwargs["timestamp"] = r.timestamp
        if r.partition is not None:
            kwargs["partition"] = r.partition
        p.produce(topic, **kwargs)
        p.poll(0)
    left = p.flush(TIMEOUT)
    assert left == 0, f"confluent-kafka: {left} messages not delivered within {TIMEOUT} s"
    errors = {i: e for i, e in reports.items() if not isinstance(e, tuple)}
    assert not errors, (
        f"confluent-kafka: {len(errors)} of {len(records)} records failed, e.g. "
        f"{[(i, str(e)) for i, e in list(errors.items())[:3]]}"
    )
    assert len(reports) == len(records)
    return [reports[i] for i in range(len(records))]


def ck_consume(topic: str, partition: int, offset: int, count: int, consumer=None, **extra):
    """Reads `count` records of one partition from `offset` with assign() (no group); returns
    (records, offsets). Stops early, and fails, at end of partition with fewer records."""
    from confluent_kafka import TopicPartition, KafkaError

    c = consumer or ck_consumer(**extra)
    c.assign([TopicPartition(topic, partition, offset)])
    out, offsets = [], []
    deadline = time.monotonic() + TIMEOUT
    try:
        while len(out) < count and time.monotonic() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    # At the high watermark: every record asked for was produced before, so stop here
                    # (the caller's count check fails) rather than wait out the timeout.
                    break
                raise AssertionError(f"confluent-kafka consume error: {m.error()}")
            ts_type, ts = m.timestamp()
            out.append(Rec(m.key(), m.value(), norm_headers(m.headers()), ts, m.partition()))
            offsets.append(m.offset())
    finally:
        if consumer is None:
            c.close()
    return out, offsets


# --- kafka-python ------------------------------------------------------------------------------


def kp_consume(topic: str, partition: int, offset: int, count: int, **extra):
    from kafka import KafkaConsumer, TopicPartition

    c = KafkaConsumer(**{"bootstrap_servers": BOOTSTRAP, "group_id": None, "enable_auto_commit": False, **extra})
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek(tp, offset)
        out, offsets = [], []
        deadline = time.monotonic() + TIMEOUT
        while len(out) < count and time.monotonic() < deadline:
            for msgs in c.poll(timeout_ms=1000).values():
                for m in msgs:
                    out.append(Rec(m.key, m.value, norm_headers(m.headers), m.timestamp, m.partition))
                    offsets.append(m.offset)
        return out, offsets
    finally:
        c.close()


def kp_produce(records: list[Rec], topic: str, **extra) -> list[tuple[int, int]]:
    from kafka import KafkaProducer

    p = KafkaProducer(**{"bootstrap_servers": BOOTSTRAP, "acks": "all", **extra})
    try:
        futures = []
        for r in records:
            futures.append(
                p.send(
                    topic,
                    value=r.value,
                    key=r.key,
                    headers=list(r.headers) or None,
                    timestamp_ms=r.timestamp,
                    partition=r.partition,
                )
            )
        p.flush(timeout=TIMEOUT)
        metas = [f.get(timeout=TIMEOUT) for f in futures]
        return [(m.partition, m.offset) for m in metas]
    finally:
        p.close(timeout=5)


# --- aiokafka ----------------------------------------------------------------------------------


async def ak_produce(records: list[Rec], topic: str, **extra) -> list[tuple[int, int]]:
    from aiokafka import AIOKafkaProducer

    p = AIOKafkaProducer(
        **{"bootstrap_servers": BOOTSTRAP, "acks": "all", "request_timeout_ms": int(TIMEOUT * 1000), **extra}
    )
    await p.start()
    try:
        futures = []
        for r in records:
            futures.append(
                await p.send(
                    topic,
                    value=r.value,
                    key=r.key,
                    headers=list(r.headers) or None,
                    timestamp_ms=r.timestamp,
                    partition=r.partition,
                )
            )
        metas = [await f for f in futures]
        return [(m.partition, m.offset) for m in metas]
    finally:
        await p.stop()


async def ak_consume(topic: str, partition: int, offset: int, count: int, **extra):
    import asyncio
    from aiokafka import AIOKafkaConsumer, TopicPartition

    if count == 0:
        return [], []  # (aiokafka's stop() right after start() raises CancelledError)
    c = AIOKafkaConsumer(**{"bootstrap_servers": BOOTSTRAP, "group_id": None, "enable_auto_commit": False, **extra})
    await c.start()
    try:
        tp = TopicPartition(topic, partition)
        c.assign([tp])
        c.seek(tp, offset)
        out, offsets = [], []
        deadline = time.monotonic() + TIMEOUT
        while len(out) < count and time.monotonic() < deadline:
            batch = await asyncio.wait_for(c.getmany(tp, timeout_ms=1000), TIMEOUT)
            for m in batch.get(tp, []):
                out.append(Rec(m.key, m.value, norm_headers(m.headers), m.timestamp, m.partition))
                offsets.append(m.offset)
        return out, offsets
    finally:
        await c.stop()


# --- the lake, read while serve runs --------------------------------------------------------------


def describe(topic: str, lake: str | None = None) -> dict:
    """`strata topics describe --json` of one log (read-only: fine while serve holds the lake)."""
    out = subprocess.run(
        [STRATA_BIN, "topics", "describe", "--lake", lake or LAKE, topic, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, f"topics describe {topic}: exit {out.returncode}: {out.stderr}"
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- a server of one's own (groups marked `# serve: self`) ----------------------------------------


@dataclass
class Serve:
    """`strata serve` started by a test: waits for its `listening on HOST:PORT` line (and, with
    `--tls-cert` in `args`, its `listening tls on HOST:PORT` line: `tls_address`)."""

    lake: str
    listen: str = "127.0.0.1:0"
    args: list = field(default_factory=list)
    proc: subprocess.Popen | None = None
    address: str = ""
    tls_address: str = ""
    log_path: str = ""

    def start(self, timeout: float = 30.0) -> "Serve":
        self.log_path = os.path.join(WORK, f"serve-{int(time.time() * 1000)}.err")
        log = open(self.log_path, "wb")
        wants_tls = "--tls-cert" in self.args
        wants_plain = self.listen != "none"
        self.proc = subprocess.Popen(
            [STRATA_BIN, "serve", "--lake", self.lake, "--listen", self.listen, *self.args],
            stdout=subprocess.PIPE,
            stderr=log,
        )
        pids = os.environ.get("STRATA_PIDS_FILE")
        if pids:
            with open(pids, "a") as f:
                f.write(f"{self.proc.pid}\n")
        deadline = time.monotonic() + timeout
        buf = b""
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.proc.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(self.proc.stdout.fileno(), 4096)
                if not chunk:
                    break
                buf += chunk
                for line in buf.decode(errors="replace").splitlines():
                    if line.startswith("listening on "):
                        self.address = line[len("listening on ") :].strip()
                    if line.startswith("listening tls on "):
                        self.tls_address = line[len("listening tls on ") :].strip()
                if (self.address or not wants_plain) and (self.tls_address or not wants_tls):
                    return self
            elif self.proc.poll() is not None:
                break
        self.proc.kill()
        self.proc.wait()
        raise AssertionError(f"serve did not print 'listening on' within {timeout} s (stdout {buf!r}); see {log.name}")

    def kill(self, sig=signal.SIGKILL) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=60)

    def stop(self) -> int:
        """SIGTERM; returns the exit status (0 expected)."""
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("serve did not exit within 30 s of SIGTERM")


def note(text: str) -> None:
    """A line for the driver's summary (counts a test measured), also printed for pytest -s."""
    print(text)
    path = os.environ.get("STRATA_NOTES_FILE")
    if path:
        with open(path, "a") as f:
            f.write(text.rstrip("\n") + "\n")


# --- a proxy that sees what producers send ---------------------------------------------------------


def _shut_both(*sockets):
    """Shuts both directions of every socket, ignoring ones already closed."""
    for s in sockets:
        try:
            s.shutdown(2)
        except OSError:
            pass


class ProduceSniffer:
    """A loopback TCP proxy in front of serve (which advertises the proxy's address, `--advertise`, so
    every client connection goes through it). It forwards bytes both ways unchanged and, parsing each
    Produce request (v3-v9) it forwards, records per topic the compression codecs of the record batches
    in it (attributes & 7: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd). So a codec test can assert that the
    client really compressed, not only that records came back."""

    CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}

    def __init__(self):
        import socket
        import threading

        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.target = None
        self.codecs: dict[str, set] = {}
        self.errors: list[str] = []
        self.lock = threading.Lock()
        self.threading = threading

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, target: str):
        self.target = target
        self.threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self):
        import socket

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            host, port = self.target.rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            self.threading.Thread(target=self._client_to_server, args=(client, upstream), daemon=True).start()
            self.threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            _shut_both(src, dst)

    def _client_to_server(self, src, dst):
        import struct

        buf = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
                buf += data
                while len(buf) >= 4:
                    (size,) = struct.unpack_from(">i", buf)
                    if len(buf) < 4 + size:
                        break
                    frame, buf = buf[4 : 4 + size], buf[4 + size :]
                    try:
                        self._inspect(frame)
                    except Exception as e:  # a parse mistake here must not break the connection
                        with self.lock:
                            self.errors.append(repr(e))
        except OSError:
            pass
        finally:
            _shut_both(src, dst)

    def _inspect(self, frame: bytes):
        import struct

        api, version = struct.unpack_from(">hh", frame)
        if api != 0:
            return
        pos = 8
        (n,) = struct.unpack_from(">h", frame, pos)
        pos += 2 + max(n, 0)
        flexible = version >= 9

        def uvarint():
            nonlocal pos
            shift = result = 0
            while True:
                b = frame[pos]
                pos += 1
                result |= (b & 0x7F) << shift
                if not b & 0x80:
                    return result
                shift += 7

        def skip_tags():
            for _ in range(uvarint()):
                uvarint()
                nonlocal pos
                pos += uvarint()

        def string():
            nonlocal pos
            if flexible:
                n = uvarint() - 1
            else:
                (n,) = struct.unpack_from(">h", frame, pos)
                pos += 2
            s = frame[pos : pos + max(n, 0)]
            pos += max(n, 0)
            return s.decode() if n >= 0 else None

        def count():
            nonlocal pos
            if flexible:
                return uvarint() - 1
            (n,) = struct.unpack_from(">i", frame, pos)
            pos += 4
            return n

        if flexible:
            skip_tags()  # request header v2
        string()  # transactional id
        pos += 2 + 4  # acks, timeout
        for _ in range(count()):
            topic = string()
            for _ in range(count()):
                pos += 4  # partition index
                n = count()
                records = frame[pos : pos + max(n, 0)]
                pos += max(n, 0)
                at = 0
                while at + 23 <= len(records):
                    (length,) = struct.unpack_from(">i", records, at + 8)
                    (attributes,) = struct.unpack_from(">h", records, at + 21)
                    with self.lock:
                        self.codecs.setdefault(topic, set()).add(self.CODECS.get(attributes & 7, str(attributes & 7)))
                    at += 12 + length
                if flexible:
                    skip_tags()
            if flexible:
                skip_tags()

    def close(self):
        self.listener.close()
