#!/usr/bin/env python3
"""Reads every DIR/*.parquet that has a DIR/*.parquet.json (RecordTableVector) with real
readers and compares what they return with the JSON: pyarrow (required), DuckDB and polars
(when importable), and with --spark also Spark through pyspark in local mode (about 15 s to
start). Prints one line per file and reader; exits 1 on the first mismatch.

usage: check_table_files.py [--spark] DIR
"""
import base64
import json
import pathlib
import sys

import pyarrow as pa
import pyarrow.parquet as pq

FIELD_IDS = {"partition": 1, "offset": 2, "timestamp": 3, "key": 4, "value": 5, "headers": 6}
ELEMENT_ID, HEADER_KEY_ID, HEADER_VALUE_ID = 7, 8, 9


def fail(message):
    print("MISMATCH " + message)
    sys.exit(1)


def described_bytes(d):
    if d is None:
        return None
    if "utf8" in d:
        return d["utf8"].encode("utf-8")
    return base64.b64decode(d["base64"])


def expected_rows(desc):
    rows = []
    for r in desc["rows"]:
        rows.append({
            "partition": desc["partition"],
            "offset": r["offset"],
            "timestamp": r["timestamp"] * 1000,
            "key": described_bytes(r["key"]),
            "value": described_bytes(r["value"]),
            "headers": [{"key": h["key"], "value": described_bytes(h["value"])} for h in r["headers"]],
        })
    return rows


def compare(name, reader, got, want):
    if len(got) != len(want):
        fail(f"{name} {reader}: {len(got)} rows, expected {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            fail(f"{name} {reader}: row {i}\n  got  {g!r:.300}\n  want {w!r:.300}")


def field_id(field):
    meta = field.metadata or {}
    value = meta.get(b"PARQUET:field_id")
    return int(value) if value is not None else None


def check_schema(name, schema):
    for column, fid in FIELD_IDS.items():
        if field_id(schema.field(column)) != fid:
            fail(f"{name}: field {column} has id {field_id(schema.field(column))}, expected {fid}")
    types = {
        "partition": pa.int32(), "offset": pa.int64(), "timestamp": pa.timestamp("us", tz="UTC"),
        "key": pa.binary(), "value": pa.binary(),
    }
    for column, t in types.items():
        if schema.field(column).type != t:
            fail(f"{name}: {column} is {schema.field(column).type}, expected {t}")
    for column in ("partition", "offset", "timestamp"):
        if schema.field(column).nullable:
            fail(f"{name}: {column} should be required")
    headers = schema.field("headers")
    if not pa.types.is_list(headers.type):
        fail(f"{name}: headers is {headers.type}, not a list")
    element = headers.type.value_field
    if field_id(element) != ELEMENT_ID or element.nullable:
        fail(f"{name}: headers element id {field_id(element)}, nullable {element.nullable}")
    key, value = element.type.field("key"), element.type.field("value")
    if (field_id(key), field_id(value)) != (HEADER_KEY_ID, HEADER_VALUE_ID):
        fail(f"{name}: header field ids {field_id(key)}, {field_id(value)}")
    if key.type != pa.string() or key.nullable or value.type != pa.binary() or not value.nullable:
        fail(f"{name}: header fields {key}, {value}")


def check_metadata(name, path, desc, want):
    metadata = pq.ParquetFile(path).metadata
    counts = [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)]
    if counts != desc["rowGroupRowCounts"]:
        fail(f"{name}: row groups {counts}, expected {desc['rowGroupRowCounts']}")
    columns = [metadata.row_group(0).column(j).path_in_schema for j in range(metadata.num_columns)] if counts else []
    start = 0
    for g, count in enumerate(counts):
        rows = want[start:start + count]
        start += count
        group = metadata.row_group(g)
        for j in range(group.num_columns):
            column = group.column(j)
            path_name = column.path_in_schema
            if not column.has_offset_index:
                fail(f"{name}: row group {g} {path_name} has no offset index")
            expected_codec = "ZSTD" if desc["codec"] == "zstd" else "UNCOMPRESSED"
            if column.compression != expected_codec:
                fail(f"{name}: {path_name} compression {column.compression}")
            stats = column.statistics
            if path_name in ("partition", "offset", "timestamp"):
                values = [r[path_name] for r in rows]
                if not column.has_column_index:
                    fail(f"{name}: row group {g} {path_name} has no column index")
                if not stats.has_min_max or (stats.min_raw, stats.max_raw) != (min(values), max(values)):
                    fail(f"{name}: row group {g} {path_name} min/max {stats.min_raw}/{stats.max_raw}")
                if stats.null_count != 0:
                    fail(f"{name}: {path_name} null_count {stats.null_count}")
            elif path_name in ("key", "value"):
                nulls = sum(1 for r in rows if r[path_name] is None)
                if stats.null_count != nulls:
                    fail(f"{name}: row group {g} {path_name} null_count {stats.null_count}, expected {nulls}")
    if columns and columns != ["partition", "offset", "timestamp", "key", "value",
                               "headers.list.element.key", "headers.list.element.value"]:
        fail(f"{name}: columns {columns}")


def check_pyarrow(name, path, desc, want):
    table = pq.read_table(path)
    check_schema(name, table.schema)
    got = table.cast(table.schema.set(2, pa.field("timestamp", pa.int64(), nullable=False))).to_pylist()
    compare(name, "pyarrow", got, want)
    check_metadata(name, path, desc, want)
    if want:
        # A filtered read (row-group statistics, then rows) returns exactly the rows asked for.
        middle = want[len(want) // 2]["offset"]
        filtered = pq.read_table(path, filters=[("offset", ">=", middle)], columns=["offset"]).column(0).to_pylist()
        if filtered != [r["offset"] for r in want if r["offset"] >= middle]:
            fail(f"{name}: filtered read returned {len(filtered)} rows")
    print(f"ok pyarrow {name} rows={len(want)}")


def check_duckdb(name, path, want):
    try:
        import duckdb
    except ImportError:
        print(f"skipped duckdb {name}: not importable")
        return
    rows = duckdb.sql(
        'select "partition", "offset", epoch_us("timestamp"), "key", "value", headers '
        f"from read_parquet('{path}') order by \"offset\"").fetchall()
    got = [{"partition": p, "offset": o, "timestamp": t, "key": k, "value": v,
            "headers": [{"key": h["key"], "value": h["value"]} for h in hs]}
           for p, o, t, k, v, hs in rows]
    compare(name, "duckdb", got, want)
    print(f"ok duckdb {name} rows={len(want)}")


def check_polars(name, path, want):
    try:
        import polars as pl
    except ImportError:
        print(f"skipped polars {name}: not importable")
        return
    frame = pl.read_parquet(path).with_columns(pl.col("timestamp").dt.epoch("us"))
    got = [{**r, "headers": [{"key": h["key"], "value": h["value"]} for h in r["headers"]]} for r in frame.to_dicts()]
    compare(name, "polars", got, want)
    print(f"ok polars {name} rows={len(want)}")


def check_spark(files):
    import os
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    from pyspark.sql import SparkSession
    spark = (SparkSession.builder.master("local[1]").config("spark.ui.enabled", "false")
             .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    try:
        for path, want in files:
            frame = spark.read.parquet(str(path)).selectExpr(
                "partition", "offset", "unix_micros(timestamp) as timestamp", "key", "value", "headers")
            got = []
            for r in frame.orderBy("offset").collect():
                row = r.asDict(recursive=True)
                for column in ("key", "value"):
                    row[column] = None if row[column] is None else bytes(row[column])
                row["headers"] = [{"key": h["key"], "value": None if h["value"] is None else bytes(h["value"])}
                                  for h in row["headers"]]
                got.append(row)
            compare(path.name, "spark", got, want)
            print(f"ok spark {path.name} rows={len(want)}")
    finally:
        spark.stop()


def main():
    arguments = sys.argv[1:]
    spark = "--spark" in arguments
    directory = pathlib.Path([a for a in arguments if a != "--spark"][0])
    files = sorted(directory.glob("*.parquet"))
    if not files:
        fail(f"no .parquet files in {directory}")
    checked = []
    for path in files:
        desc = json.loads(path.with_name(path.name + ".json").read_text())
        want = expected_rows(desc)
        check_pyarrow(path.name, str(path), desc, want)
        check_duckdb(path.name, str(path), want)
        check_polars(path.name, str(path), want)
        checked.append((path, want))
    if spark:
        check_spark(checked)


if __name__ == "__main__":
    main()
