"""Shared helpers of the table engine tests (issue 15), run by tools/test-tables.

A test makes a lake with the `strata` binary: `strata topics create` (several partitions, small
segments), records produced through `strata serve` with confluent-kafka (keys, null values,
repeated headers in order, timestamps over three UTC days), then `strata offload`, which syncs
the topic's table (`<cold>/tables/<topic>/`, formats/table.md). What was produced, with the
offsets the broker acknowledged, is the expected answer every engine's result is compared with.

Environment (set by tools/test-tables): STRATA_BIN, STRATA_TEST_WORK (scratch directory),
STRATA_PIDS_FILE (pids of servers started here, killed by the driver on exit),
STRATA_DUCKDB_PIN (a `pip install --target` directory holding a DuckDB with its iceberg, avro and
httpfs extension wheels, for iceberg_scan and S3; absent: those checks skip with the reason in
STRATA_DUCKDB_PIN_WHY), and for the S3 group the STRATA_S3_TEST_* coordinates of a SeaweedFS.
"""

import base64
import json
import os
import pathlib
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field

STRATA_BIN = os.environ.get("STRATA_BIN", "strata")
WORK = pathlib.Path(os.environ.get("STRATA_TEST_WORK", "/tmp"))
HERE = pathlib.Path(__file__).resolve().parent
TIMEOUT = 60.0

DAY_MS = 86_400_000

# The one launcher of `strata serve` the real-client suites share (it waits for "listening on").
sys.path.insert(0, str(HERE.parent / "kafka"))
from kafka_support import Serve  # noqa: E402


def strata(*args, check=True, timeout=300) -> subprocess.CompletedProcess:
    out = subprocess.run([STRATA_BIN, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    if check and out.returncode != 0:
        raise AssertionError(f"strata {' '.join(map(str, args))}: exit {out.returncode}\n{out.stderr}{out.stdout}")
    return out


# --- records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One record as a table row: what every engine's answer is normalised to."""

    partition: int
    offset: int
    timestamp_us: int
    key: bytes | None
    value: bytes | None
    headers: tuple = ()  # ((str, bytes | None), ...) in order

    def sort_key(self):
        return (self.partition, self.offset)


def rows_from(partitions, offsets, timestamps_us, keys, values, headers) -> list[Row]:
    """Rows from column lists as engines return them (headers: lists of {key, value} dicts,
    (key, value) tuples or None), sorted by partition and offset."""
    out = []
    for p, o, t, k, v, hs in zip(partitions, offsets, timestamps_us, keys, values, headers):
        hs = hs or []
        norm = []
        for h in hs:
            hk, hv = (h["key"], h["value"]) if isinstance(h, dict) else (h[0], h[1])
            norm.append((hk, None if hv is None else bytes(hv)))
        out.append(Row(int(p), int(o), int(t), None if k is None else bytes(k), None if v is None else bytes(v),
                       tuple(norm)))
    return sorted(out, key=Row.sort_key)


def compare_rows(label: str, got: list[Row], want: list[Row]) -> None:
    """Row for row: the same count, then every field of every row, the first difference named."""
    assert len(got) == len(want), (
        f"{label}: {len(got)} rows, expected {len(want)} "
        f"(per partition got {per_partition_counts(got)}, expected {per_partition_counts(want)})")
    for g, w in zip(got, want):
        assert g == w, f"{label}: row at partition {w.partition} offset {w.offset}: got {g}, expected {w}"


def per_partition_counts(rows: list[Row]) -> dict:
    counts: dict[int, int] = {}
    for r in rows:
        counts[r.partition] = counts.get(r.partition, 0) + 1
    return dict(sorted(counts.items()))


def aggregates(rows: list[Row]) -> dict:
    """Per partition: count, sum of offsets, first and last timestamp (µs) — what engines compute in SQL."""
    out: dict[int, tuple] = {}
    for r in rows:
        c, s, lo, hi = out.get(r.partition, (0, 0, None, None))
        out[r.partition] = (c + 1, s + r.offset, r.timestamp_us if lo is None else min(lo, r.timestamp_us),
                            r.timestamp_us if hi is None else max(hi, r.timestamp_us))
    return dict(sorted(out.items()))


def shaped_value(p: int, i: int) -> bytes | None:
    if i % 11 == 5:
        return None  # a null value (a tombstone)
    if i % 13 == 7:
        return b""  # empty is not null
    return json.dumps({"p": p, "i": i, "page": f"/page/{i % 7}", "pad": "x" * (i % 40)}).encode()


def shaped_key(p: int, i: int) -> bytes | None:
    if i % 7 == 3:
        return None
    return f"user-{(i * 31 + p) % 17}".encode()


def shaped_headers(p: int, i: int) -> tuple:
    if i % 3 == 0:
        return ()
    hs = [("trace", f"t-{p}-{i}".encode()), ("tag", b"first")]
    if i % 3 == 2:
        hs += [("tag", b"second"), ("empty", b""), ("tag", f"third-{i}".encode())]  # repeated keys, in order
    if i % 5 == 1:
        hs.append(("null-value", None))
    return tuple(hs)


def day_start_ms(now_ms: int, days_ago: int) -> int:
    return (now_ms // DAY_MS - days_ago) * DAY_MS


@dataclass
class Plan:
    """What to produce: per partition `old` records an hour either side of the UTC midnight ten days
    ago (two UTC days, old enough for a 5-day retention) and then `recent` records within the last hour."""

    partitions: int = 3
    old: int = 120
    recent: int = 60

    def records(self, now_ms: int):
        midnight = day_start_ms(now_ms, 9)  # 00:00 UTC nine days ago: day -10 before it, day -9 after
        out = []
        for p in range(self.partitions):
            for i in range(self.old + self.recent):
                if i < self.old:
                    ts = midnight - 3_600_000 + i * (7_200_000 // self.old) + p
                else:
                    ts = now_ms - 3_600_000 + (i - self.old) * 1000 + p
                out.append((p, shaped_key(p, i), shaped_value(p, i), shaped_headers(p, i), ts))
        return out


# --- the lake -------------------------------------------------------------------------------------


@dataclass
class Lake:
    """A lake with one topic whose records were produced and offloaded; `rows` is what was produced."""

    path: pathlib.Path
    topic: str
    cold: str  # the cold store URL (file:///… or s3://bucket/prefix)
    rows: list = field(default_factory=list)
    now_ms: int = 0

    @property
    def table_uri(self) -> str:
        """The table's location as readers address it: s3://bucket/prefix/tables/<topic>, or a local path."""
        base = self.cold[len("file://"):] if self.cold.startswith("file://") else self.cold
        return base.rstrip("/") + f"/tables/{self.topic}"

    def describe(self) -> list[dict]:
        out = strata("topics", "describe", "--lake", self.path, self.topic, "--json")
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def log_starts(self) -> dict[int, int]:
        starts = {}
        for d in self.describe():
            starts[int(d["partition"])] = int(d["logStartOffset"])
        return starts

    def remaining(self) -> list[Row]:
        """The produced rows at or above each partition's log start now."""
        starts = self.log_starts()
        return [r for r in self.rows if r.offset >= starts.get(r.partition, 0)]

    def offload(self) -> None:
        """`strata offload` of the topic: seals, offloads, applies retention, then syncs the table (a
        failed sync is logged on stderr, shown here with a failing test's output)."""
        out = strata("offload", "--lake", self.path, self.topic)
        if out.stderr:
            print(f"strata offload stderr:\n{out.stderr}", file=sys.stderr)


def once(make):
    """A module fixture's body run once: its failure is raised again for every test that uses it,
    instead of making the lake again for each."""
    done = {}

    def run():
        if "error" in done:
            raise AssertionError(f"the fixture failed before: {done['error']}")
        if "value" not in done:
            try:
                done["value"] = make()
            except BaseException as e:
                done["error"] = f"{type(e).__name__}: {str(e)[:2000]}"
                raise
        return done["value"]

    return run


def make_lake(name: str, plan: Plan = Plan(), cold: str | None = None) -> Lake:
    """Creates the topic, produces `plan` through serve with confluent-kafka (acks=all, idempotent),
    stops serve, offloads (which syncs the table) and returns the lake with the produced rows."""
    from confluent_kafka import Producer

    path = WORK / f"lake-{name}-{uuid.uuid4().hex[:6]}"
    topic = f"{name}-events"
    args = ["topics", "create", "--lake", path, topic, "--partitions", plan.partitions, "--segment-bytes", 8192]
    if cold:
        args += ["--cold", cold]
    strata(*args)
    serve = Serve(str(path)).start()
    now_ms = int(time.time() * 1000)
    records = plan.records(now_ms)
    reports: dict[int, object] = {}
    try:
        producer = Producer({"bootstrap.servers": serve.address, "acks": "all", "enable.idempotence": True,
                             "message.timeout.ms": int(TIMEOUT * 1000), "broker.address.family": "v4",
                             "linger.ms": 1, "batch.num.messages": 10})  # several segments per partition

        def report(i):
            def cb(err, msg):
                reports[i] = err if err is not None else (msg.partition(), msg.offset(), msg.timestamp()[1])
            return cb

        for i, (p, k, v, hs, ts) in enumerate(records):
            kwargs = {"key": k, "value": v, "partition": p, "timestamp": ts, "on_delivery": report(i)}
            if hs:
                kwargs["headers"] = list(hs)
            producer.produce(topic, **kwargs)
            producer.poll(0)
        left = producer.flush(TIMEOUT)
        assert left == 0, f"{left} records not delivered within {TIMEOUT} s"
        del producer  # destroyed before serve stops, or librdkafka logs its reconnects
    finally:
        status = serve.stop()
        assert status == 0, f"serve exited {status} on SIGTERM"
    errors = [e for e in reports.values() if not isinstance(e, tuple)]
    assert not errors and len(reports) == len(records), f"delivery errors: {errors[:3]}"
    rows = []
    for i, (p, k, v, hs, ts) in enumerate(records):
        rp, offset, _ = reports[i]
        assert rp == p
        rows.append(Row(p, offset, ts * 1000, k, v, tuple(hs)))
    rows.sort(key=Row.sort_key)
    lake = Lake(path, topic, cold or f"file://{path}/cold", rows, now_ms)
    lake.offload()
    return lake


# --- the table --------------------------------------------------------------------------------------


def local_path(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri


def newest_metadata_local(table_dir: str) -> str:
    """The newest metadata file of a local table: v<N> of version-hint.text, checked to be the highest
    v<N>.metadata.json present (the hint is only a hint, formats/table.md "A commit")."""
    meta = pathlib.Path(table_dir) / "metadata"
    versions = sorted(int(p.name[1:].split(".")[0]) for p in meta.glob("v*.metadata.json")) if meta.is_dir() else []
    assert versions, f"no table: {meta} holds no v<N>.metadata.json (did offload sync the table?)"
    hint = int((meta / "version-hint.text").read_text().strip())
    assert hint == versions[-1], f"version-hint.text says {hint}, newest metadata is v{versions[-1]}"
    return str(meta / f"v{versions[-1]}.metadata.json")


def strata_status(lake: "Lake") -> dict:
    """`strata table status --json` of the lake's topic."""
    out = strata("table", "status", "--lake", lake.path, lake.topic, "--json")
    return json.loads(out.stdout)


def live_data_files(table) -> list[str]:
    """The data files the table's current snapshot reads (pyiceberg), as their URIs."""
    return sorted(task.file.file_path for task in table.scan().plan_files())


# --- DuckDB pinned with its extension wheels (a subprocess: the main DuckDB stays importable) ----------


def duckdb_pin_or_skip():
    import pytest

    pin = os.environ.get("STRATA_DUCKDB_PIN")
    if not pin:
        pytest.skip("no DuckDB with iceberg/avro/httpfs extension wheels: "
                    + os.environ.get("STRATA_DUCKDB_PIN_WHY", "STRATA_DUCKDB_PIN not set (run tools/test-tables)"))
    return pin


def pinned_duckdb(queries: list[str], s3: dict | None = None) -> dict:
    """Runs `queries` in the pinned DuckDB (iceberg, avro and httpfs loaded from the wheels; an S3
    secret when `s3` is given) and returns {"version": …, "results": [[row, …], …]} with bytes as
    {"b64": …}."""
    pin = duckdb_pin_or_skip()
    env = dict(os.environ, PYTHONPATH=pin + os.pathsep + os.environ.get("PYTHONPATH", ""))
    spec = json.dumps({"queries": queries, "s3": s3})
    out = subprocess.run([sys.executable, str(HERE / "duckdb_pinned.py")], input=spec, capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, f"pinned DuckDB failed (exit {out.returncode}):\n{out.stderr[-3000:]}"
    return json.loads(out.stdout)


def unb64(v):
    if isinstance(v, dict) and "b64" in v:
        return base64.b64decode(v["b64"])
    if isinstance(v, list):
        return [unb64(x) for x in v]
    if isinstance(v, dict):
        return {k: unb64(x) for k, x in v.items()}
    return v


# --- SQL shared by the DuckDB readers ------------------------------------------------------------------

ROWS_SQL = ('SELECT "partition", "offset", epoch_us("timestamp"), "key", "value", "headers" FROM {src} '
            'ORDER BY "partition", "offset"')
AGG_SQL = ('SELECT "partition", count(*), sum("offset"), min(epoch_us("timestamp")), max(epoch_us("timestamp")) '
           'FROM {src} GROUP BY "partition" ORDER BY "partition"')


def agg_from(rows) -> dict:
    return {int(p): (int(c), int(s), int(lo), int(hi)) for p, c, s, lo, hi in rows}
