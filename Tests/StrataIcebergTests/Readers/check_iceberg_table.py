#!/usr/bin/env python3
"""Reads the Iceberg table in DIR (written by Tests/StrataIcebergTests) with real readers and
compares what they return with DIR/expected.json (per snapshot: its metadata file, data files
and rows): fastavro decodes every manifest and manifest list and finds a field id on every
field; pyiceberg's StaticTable scans every snapshot (time travel), the current one with a row
filter on offset; DuckDB's iceberg_scan when the iceberg extension for the installed DuckDB
version can be had from PyPI (else a line saying why it is skipped). Prints "ok READER ..."
lines; exits 1 on the first mismatch.

usage: check_iceberg_table.py DIR
"""
import base64
import glob
import json
import os
import pathlib
import sys

import fastavro


def fail(message):
    print("MISMATCH " + message)
    sys.exit(1)


def b(v):
    return None if v is None else base64.b64decode(v)


def want_rows(snapshot):
    return [
        {
            "partition": r["partition"], "offset": r["offset"], "timestamp": r["timestamp"],
            "key": b(r["key"]), "value": b(r["value"]),
            "headers": [{"key": h["key"], "value": b(h["value"])} for h in r["headers"]],
        }
        for r in snapshot["rows"]
    ]


def compare(reader, got, want):
    if len(got) != len(want):
        fail(f"{reader}: {len(got)} rows, expected {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            fail(f"{reader}: row {i}\n  got  {g!r:.300}\n  want {w!r:.300}")


def check_field_ids(path, schema, where="schema"):
    """Every record field carries a field-id, every array an element-id."""
    if isinstance(schema, list):
        for s in schema:
            check_field_ids(path, s, where)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t == "record":
            for f in schema["fields"]:
                if "field-id" not in f:
                    fail(f"fastavro {path}: {where}.{f['name']} has no field-id")
                check_field_ids(path, f["type"], f"{where}.{f['name']}")
        elif t == "array":
            if schema.get("logicalType") != "map" and "element-id" not in schema:
                fail(f"fastavro {path}: {where} array has no element-id")
            check_field_ids(path, schema["items"], where + "[]")
        elif isinstance(t, (dict, list)):
            check_field_ids(path, t, where)


def check_avro(root, expected):
    manifests = 0
    lists = 0
    live = {}
    for path in sorted(glob.glob(str(root / "metadata" / "*.avro"))):
        with open(path, "rb") as f:
            reader = fastavro.reader(f)
            meta = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in reader.metadata.items()}
            schema = json.loads(meta["avro.schema"])
            check_field_ids(path, schema)
            if meta.get("avro.codec", "null") != "null":
                fail(f"fastavro {path}: codec {meta['avro.codec']}")
            records = list(reader)
        name = os.path.basename(path)
        if name.startswith("snap-"):
            lists += 1
            if meta["format-version"] != "2" or "snapshot-id" not in meta:
                fail(f"fastavro {path}: manifest list metadata {meta}")
            for m in records:
                if not os.path.exists(m["manifest_path"]):
                    fail(f"fastavro {path}: manifest {m['manifest_path']} does not exist")
                if m["manifest_length"] != os.path.getsize(m["manifest_path"]):
                    fail(f"fastavro {path}: manifest_length of {m['manifest_path']}")
        else:
            manifests += 1
            for key in ["schema", "partition-spec", "partition-spec-id", "format-version", "content"]:
                if key not in meta:
                    fail(f"fastavro {path}: manifest metadata lacks {key}")
            json.loads(meta["schema"])
            for e in records:
                df = e["data_file"]
                if e["status"] == 2:
                    continue  # a deleted entry: retention may have removed the file, no reader opens it
                size = os.path.getsize(df["file_path"])
                if df["file_size_in_bytes"] != size or df["file_format"] != "PARQUET":
                    fail(f"fastavro {path}: {df['file_path']} size {df['file_size_in_bytes']} vs {size}")
                if e["status"] != 2:
                    live.setdefault(name, set()).add(df["file_path"])
    if manifests == 0 or lists != len(expected["snapshots"]):
        fail(f"fastavro: {manifests} manifests, {lists} manifest lists")
    print(f"ok fastavro {manifests} manifests {lists} manifest lists")


def pyiceberg_rows(arrow_table):
    rows = arrow_table.to_pylist()
    for r in rows:
        ts = r["timestamp"]
        # timestamptz comes back as an aware datetime: back to microseconds since the epoch.
        import datetime
        r["timestamp"] = (ts - datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)) // datetime.timedelta(
            microseconds=1)
        r["headers"] = [dict(h) for h in (r["headers"] or [])]
    rows.sort(key=lambda r: (r["partition"], r["offset"]))
    return rows


def check_pyiceberg(root, expected):
    from pyiceberg.expressions import GreaterThanOrEqual
    from pyiceberg.table import StaticTable

    snapshots = expected["snapshots"]
    last = snapshots[-1]
    table = StaticTable.from_metadata(str(root / last["metadata"]))
    if table.metadata.format_version != 2 or table.current_snapshot().snapshot_id != last["snapshot-id"]:
        fail("pyiceberg: format version or current snapshot")
    compare("pyiceberg", pyiceberg_rows(table.scan().to_arrow()), want_rows(last))
    files = sorted(os.path.relpath(t.file.file_path, root) for t in table.scan().plan_files())
    if files != sorted(last["files"]):
        fail(f"pyiceberg: planned files {files}, expected {last['files']}")
    print(f"ok pyiceberg {len(last['rows'])} rows")

    cut = last["rows"][len(last["rows"]) // 2]["offset"]
    got = pyiceberg_rows(table.scan(row_filter=GreaterThanOrEqual("offset", cut)).to_arrow())
    compare("pyiceberg-filter", got, [r for r in want_rows(last) if r["offset"] >= cut])
    # A filter on the partition and the day prunes files through the manifests' bounds.
    only = table.scan(row_filter="partition = 1").plan_files()
    if {t.file.partition[0] for t in only} != {r["partition"] for r in last["rows"]} & {1}:
        fail("pyiceberg-filter: partition = 1 planned other partitions")
    print(f"ok pyiceberg-filter offset >= {cut}: {len(got)} rows")

    for s in snapshots:
        got = pyiceberg_rows(table.scan(snapshot_id=s["snapshot-id"]).to_arrow())
        compare(f"pyiceberg-time-travel {s['snapshot-id']}", got, want_rows(s))
        # Each metadata file, opened on its own, reads its own snapshot.
        older = StaticTable.from_metadata(str(root / s["metadata"]))
        compare(f"pyiceberg {s['metadata']}", pyiceberg_rows(older.scan().to_arrow()), want_rows(s))
    print(f"ok pyiceberg-time-travel {len(snapshots)} snapshots")


def duckdb_extension(name, version):
    """The extension file in the PyPI wheel duckdb-extension-NAME built for this DuckDB version."""
    import importlib
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        return None
    path = pathlib.Path(module.__file__).parent / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    return path if path.exists() else None


def check_duckdb(root, expected):
    try:
        import duckdb
    except ImportError:
        print("skipped duckdb: not importable")
        return
    version = duckdb.__version__
    paths = [duckdb_extension(name, version) for name in ("avro", "iceberg")]
    if None in paths:
        print(f"skipped duckdb {version}: the duckdb-extension-avro/-iceberg wheels for DuckDB {version} "
              "are not installed (not on PyPI for this version?)")
        return
    con = duckdb.connect()
    for path in paths:
        con.execute(f"LOAD '{path}'")
    last = expected["snapshots"][-1]
    rows = con.execute(
        f"SELECT partition, \"offset\", epoch_us(\"timestamp\"), key, value, headers "
        f"FROM iceberg_scan('{root / last['metadata']}') ORDER BY partition, \"offset\"").fetchall()
    got = [
        {"partition": p, "offset": o, "timestamp": t, "key": k, "value": v,
         "headers": [{"key": h["key"], "value": h["value"]} for h in (hs or [])]}
        for p, o, t, k, v, hs in rows
    ]
    compare("duckdb", got, want_rows(last))
    # The table directory alone: DuckDB follows metadata/version-hint.text to the last version.
    count = con.execute(f"SELECT count(*) FROM iceberg_scan('{root}')").fetchall()[0][0]
    if count != len(last["rows"]):
        fail(f"duckdb version-hint: {count} rows, expected {len(last['rows'])}")
    cut = last["rows"][len(last["rows"]) // 2]["offset"]
    count = con.execute(
        f"SELECT count(*) FROM iceberg_scan('{root / last['metadata']}') WHERE \"offset\" >= {cut}").fetchall()[0][0]
    if count != len([r for r in last["rows"] if r["offset"] >= cut]):
        fail(f"duckdb filter: {count} rows")
    for s in expected["snapshots"]:
        count = con.execute(
            f"SELECT count(*) FROM iceberg_scan('{root / last['metadata']}', snapshot_from_id={s['snapshot-id']})"
        ).fetchall()[0][0]
        if count != len(s["rows"]):
            fail(f"duckdb time travel {s['snapshot-id']}: {count} rows, expected {len(s['rows'])}")
    print(f"ok duckdb {version} {len(got)} rows, version hint, filter, {len(expected['snapshots'])} snapshots")


def main():
    root = pathlib.Path(sys.argv[1])
    expected = json.loads((root / "expected.json").read_text())
    check_avro(root, expected)
    check_pyiceberg(root, expected)
    check_duckdb(root, expected)


main()
