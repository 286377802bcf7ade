#!/usr/bin/env python3
"""Reads every DIR/*.parquet that has a DIR/*.parquet.json (RecordTableVector with a
valueSchema) with real readers and checks the typed value columns (formats/table.md, "Typed
value columns"): the `value_fields` struct has field id 10 and the value schema's fields in
order with ids from 11, each with the Arrow type of its Iceberg type, and every row holds the
JSON's `valueFields` (null where the value did not match). pyarrow is required; DuckDB and
polars are used when importable. Prints one line per file and reader; exits 1 on a mismatch.

usage: check_typed_columns.py DIR
"""
import base64
import datetime
import decimal
import json
import pathlib
import sys

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

EPOCH = datetime.datetime(1970, 1, 1)
EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def fail(message):
    print("MISMATCH " + message)
    sys.exit(1)


def arrow_type(iceberg):
    simple = {
        "boolean": pa.bool_(), "int": pa.int32(), "long": pa.int64(), "float": pa.float32(),
        "double": pa.float64(), "string": pa.string(), "date": pa.date32(),
        "timestamp": pa.timestamp("us"), "timestamptz": pa.timestamp("us", tz="UTC"), "binary": pa.binary(),
    }
    if iceberg in simple:
        return simple[iceberg]
    inner = iceberg.replace(" ", "")[len("decimal("):-1]
    precision, scale = (int(x) for x in inner.split(","))
    return pa.decimal128(precision, scale)


def render(iceberg, v):
    """A value as the description writes it (TypedColumnsVector.expected)."""
    if v is None:
        return None
    if iceberg == "boolean":
        return "true" if v else "false"
    if iceberg in ("int", "long"):
        return str(v)
    if iceberg in ("float", "double"):
        return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(float(v))
    if iceberg == "string":
        return v
    if iceberg == "date":
        return v.isoformat()
    if iceberg == "timestamp":
        return str((v - EPOCH) // datetime.timedelta(microseconds=1))
    if iceberg == "timestamptz":
        return str((v - EPOCH_UTC) // datetime.timedelta(microseconds=1))
    if iceberg == "binary":
        return base64.b64encode(v).decode()
    if isinstance(v, decimal.Decimal):
        return format(v, "f")
    fail(f"no rendering of {iceberg} {v!r}")


def rendered_rows(fields, rows):
    out = []
    for row in rows:
        if row is None:
            out.append(None)
            continue
        out.append({f["name"]: render(f["type"], row[f["name"]]) for f in fields
                    if row[f["name"]] is not None})
    return out


def compare(name, reader, got, want):
    if len(got) != len(want):
        fail(f"{name} {reader}: {len(got)} rows, expected {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            fail(f"{name} {reader}: row {i}\n  got  {g!r:.400}\n  want {w!r:.400}")


def field_id(field):
    value = (field.metadata or {}).get(b"PARQUET:field_id")
    return int(value) if value is not None else None


def check_pyarrow(name, path, fields, want):
    table = pq.read_table(path)
    struct = table.schema.field("value_fields")
    if field_id(struct) != 10 or not struct.nullable or not pa.types.is_struct(struct.type):
        fail(f"{name}: value_fields is {struct} id {field_id(struct)}")
    if table.schema.names[:6] != ["partition", "offset", "timestamp", "key", "value", "headers"]:
        fail(f"{name}: columns {table.schema.names}")
    children = [struct.type.field(i) for i in range(struct.type.num_fields)]
    if [c.name for c in children] != [f["name"] for f in fields]:
        fail(f"{name}: typed columns {[c.name for c in children]}")
    for i, (child, f) in enumerate(zip(children, fields)):
        if child.type != arrow_type(f["type"]):
            fail(f"{name}: {f['name']} is {child.type}, expected {arrow_type(f['type'])} for {f['type']}")
        # Optional even when required: `required` decides whether a value matches.
        if field_id(child) != 11 + i or not child.nullable:
            fail(f"{name}: {f['name']} id {field_id(child)} nullable {child.nullable}")
    got = rendered_rows(fields, table.column("value_fields").to_pylist())
    compare(name, "pyarrow", got, want)
    # A filter on a typed column reads the matching rows.
    clicks = [r for r in want if r is not None and "clicks" in r]
    if clicks:
        cut = int(clicks[len(clicks) // 2]["clicks"])
        filtered = pq.read_table(path, filters=pc.field("value_fields", "clicks") >= cut, columns=["offset"])
        expected = sum(1 for r in clicks if int(r["clicks"]) >= cut)
        if filtered.num_rows != expected:
            fail(f"{name}: clicks >= {cut} read {filtered.num_rows} rows, expected {expected}")
    print(f"ok pyarrow {name} rows={len(want)} typed={sum(r is not None for r in want)}")


def check_duckdb(name, path, fields, want):
    try:
        import duckdb
    except ImportError:
        print(f"skipped duckdb {name}: not importable")
        return
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    types = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT value_fields.* FROM read_parquet('{path}')").fetchall()}
    duck = {"boolean": "BOOLEAN", "int": "INTEGER", "long": "BIGINT", "float": "FLOAT", "double": "DOUBLE",
            "string": "VARCHAR", "date": "DATE", "timestamp": "TIMESTAMP", "timestamptz": "TIMESTAMP WITH TIME ZONE",
            "binary": "BLOB"}
    for f in fields:
        expected = duck.get(f["type"]) or "DECIMAL(" + f["type"].replace(" ", "")[len("decimal("):]
        if types.get(f["name"], "").replace(" ", "") != expected.replace(" ", ""):
            fail(f"{name} duckdb: {f['name']} is {types.get(f['name'])}, expected {expected}")
    rows = con.execute(f"SELECT value_fields FROM read_parquet('{path}') ORDER BY \"offset\"").fetchall()
    got = rendered_rows(fields, [r[0] for r in rows])
    compare(name, "duckdb", got, want)
    mismatched = con.execute(
        f"SELECT count(*) FROM read_parquet('{path}') WHERE value_fields IS NULL AND value IS NOT NULL").fetchall()
    print(f"ok duckdb {name} rows={len(want)} unmatched={mismatched[0][0]}")


def check_polars(name, path, fields, want):
    try:
        import polars as pl
    except ImportError:
        print(f"skipped polars {name}: not importable")
        return
    frame = pl.read_parquet(path)
    got = rendered_rows(fields, frame["value_fields"].to_list())
    compare(name, "polars", got, want)
    print(f"ok polars {name} rows={len(want)}")


def main():
    directory = pathlib.Path(sys.argv[1])
    files = sorted(directory.glob("*.parquet"))
    if not files:
        fail(f"no .parquet files in {directory}")
    for path in files:
        desc = json.loads(path.with_name(path.name + ".json").read_text())
        if not desc.get("valueSchema"):
            fail(f"{path.name}: the description has no valueSchema")
        fields = json.loads(desc["valueSchema"])["fields"]
        want = desc["valueFields"]
        unmatched = sum(1 for r, w in zip(desc["rows"], want) if r["value"] is not None and w is None)
        if unmatched != desc["valueMismatches"]:
            fail(f"{path.name}: {unmatched} values without typed columns, valueMismatches {desc['valueMismatches']}")
        check_pyarrow(path.name, str(path), fields, want)
        check_duckdb(path.name, str(path), fields, want)
        check_polars(path.name, str(path), fields, want)


if __name__ == "__main__":
    main()
