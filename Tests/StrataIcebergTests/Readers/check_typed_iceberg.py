#!/usr/bin/env python3
"""Reads the Iceberg table with typed value columns in DIR (written by
Tests/StrataIcebergTests/TypedColumnsIcebergTests) and compares it with DIR/expected.json
(the value schema, the partitions, and per record the typed columns as TypedColumnsVector
writes them, null where the value did not match). pyiceberg's StaticTable: the schema's
`value_fields` struct has id 10 and the value schema's fields with their Iceberg types and ids
from 11; a scan returns the values; a row filter on a typed column returns the matching rows.
DuckDB's iceberg_scan when its extension wheels for the installed DuckDB exist. Prints
"ok READER typed ..." lines; exits 1 on the first mismatch.

usage: check_typed_iceberg.py DIR
"""
import base64
import datetime
import decimal
import glob
import json
import pathlib
import sys

EPOCH = datetime.datetime(1970, 1, 1)
EPOCH_UTC = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


def fail(message):
    print("MISMATCH " + message)
    sys.exit(1)


def render(iceberg, v):
    if v is None:
        return None
    if iceberg == "boolean":
        return "true" if v else "false"
    if iceberg in ("int", "long"):
        return str(v)
    if iceberg in ("float", "double"):
        return str(int(v)) if v == int(v) and abs(v) < 1e15 else repr(float(v))
    if iceberg in ("string",):
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


def rendered(fields, struct):
    if struct is None:
        return None
    return {f["name"]: render(f["type"], struct[f["name"]]) for f in fields if struct[f["name"]] is not None}


def compare(reader, got, want):
    if len(got) != len(want):
        fail(f"{reader}: {len(got)} rows, expected {len(want)}")
    for i, (g, w) in enumerate(zip(got, want)):
        if g != w:
            fail(f"{reader}: row {i}\n  got  {g!r:.400}\n  want {w!r:.400}")


def iceberg_type_name(t):
    from pyiceberg import types as T
    simple = {
        T.BooleanType: "boolean", T.IntegerType: "int", T.LongType: "long", T.FloatType: "float",
        T.DoubleType: "double", T.StringType: "string", T.DateType: "date", T.TimestampType: "timestamp",
        T.TimestamptzType: "timestamptz", T.BinaryType: "binary",
    }
    for cls, name in simple.items():
        if isinstance(t, cls):
            return name
    if isinstance(t, T.DecimalType):
        return f"decimal({t.precision},{t.scale})"
    return str(t)


def main():
    root = pathlib.Path(sys.argv[1])
    expected = json.loads((root / "expected.json").read_text())
    fields = json.loads(expected["schema"])["fields"]
    per_partition = expected["rows"]
    want = [(p, o, row) for p in expected["partitions"] for o, row in enumerate(per_partition)]

    from pyiceberg.expressions import GreaterThanOrEqual, IsNull, And, NotNull
    from pyiceberg.table import StaticTable

    metadata = sorted(glob.glob(str(root / "metadata" / "v*.metadata.json")))[-1]
    table = StaticTable.from_metadata(metadata)
    schema = table.schema()
    struct = schema.find_field("value_fields")
    if struct.field_id != 10 or struct.required:
        fail(f"pyiceberg: value_fields is {struct}")
    got_fields = struct.field_type.fields
    if [f.name for f in got_fields] != [f["name"] for f in fields]:
        fail(f"pyiceberg: typed fields {[f.name for f in got_fields]}")
    for i, (g, f) in enumerate(zip(got_fields, fields)):
        if g.field_id != 11 + i or g.required:
            fail(f"pyiceberg: {g} (expected id {11 + i}, optional)")
        if iceberg_type_name(g.field_type) != f["type"].replace(" ", ""):
            fail(f"pyiceberg: {f['name']} is {g.field_type}, expected {f['type']}")
    if table.metadata.last_column_id != 10 + len(fields):
        fail(f"pyiceberg: last-column-id {table.metadata.last_column_id}")

    arrow = table.scan(selected_fields=("partition", "offset", "value_fields")).to_arrow()
    rows = sorted(arrow.to_pylist(), key=lambda r: (r["partition"], r["offset"]))
    got = [(r["partition"], r["offset"], rendered(fields, r["value_fields"])) for r in rows]
    compare("pyiceberg", got, want)
    print(f"ok pyiceberg typed {len(got)} rows, {len(fields)} typed columns")

    # Filters on typed columns: a value, and the null struct of values that did not match.
    clicks = GreaterThanOrEqual("value_fields.clicks", 3)
    filtered = table.scan(row_filter=clicks, selected_fields=("partition", "offset")).to_arrow().to_pylist()
    expect = [(p, o) for p, o, r in want if r is not None and int(r.get("clicks", "-1")) >= 3]
    compare("pyiceberg-filter clicks", sorted((r["partition"], r["offset"]) for r in filtered), expect)
    unmatched = table.scan(
        row_filter=And(IsNull("value_fields.page"), NotNull("value")), selected_fields=("partition", "offset")
    ).to_arrow().num_rows
    values = expected.get("nullValues", 1)
    if unmatched != len(want) - sum(1 for _, _, r in want if r is not None) - values * len(expected["partitions"]):
        fail(f"pyiceberg-filter: {unmatched} rows with value_fields.page null and a value")
    print(f"ok pyiceberg-filter typed clicks >= 3: {len(filtered)} rows; unmatched values: {unmatched}")

    check_duckdb(root, metadata, fields, want)


def duckdb_extension(name, version):
    import importlib
    try:
        module = importlib.import_module(f"duckdb_extension_{name}")
    except ImportError:
        return None
    path = pathlib.Path(module.__file__).parent / "extensions" / f"v{version}" / f"{name}.duckdb_extension"
    return path if path.exists() else None


def check_duckdb(root, metadata, fields, want):
    try:
        import duckdb
    except ImportError:
        print("skipped duckdb: not importable")
        return
    version = duckdb.__version__
    paths = [duckdb_extension(name, version) for name in ("avro", "iceberg")]
    if None in paths:
        print(f"skipped duckdb {version}: the duckdb-extension-avro/-iceberg wheels for DuckDB {version} "
              "are not installed")
        return
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    for path in paths:
        con.execute(f"LOAD '{path}'")
    rows = con.execute(
        f"SELECT partition, \"offset\", value_fields FROM iceberg_scan('{metadata}') ORDER BY partition, \"offset\""
    ).fetchall()
    compare("duckdb", [(p, o, rendered(fields, s)) for p, o, s in rows], want)
    total = con.execute(
        f"SELECT sum(value_fields.price) FROM iceberg_scan('{metadata}') WHERE value_fields.page IS NOT NULL"
    ).fetchall()[0][0]
    print(f"ok duckdb typed {len(rows)} rows, sum(price) {total}")


if __name__ == "__main__":
    main()
