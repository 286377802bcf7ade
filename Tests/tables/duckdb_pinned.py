"""Runs SQL in the DuckDB pinned by tools/test-tables (on PYTHONPATH) with the iceberg, avro and httpfs
extensions loaded by path from their PyPI wheels (DuckDB cannot download extensions here).

stdin: {"queries": [SQL, ...], "s3": null | {"endpoint": "127.0.0.1:PORT", "key", "secret", "region"}}
stdout: {"version": DuckDB version, "results": [[row, ...] per query]}, bytes as {"b64": ...}.
"""
import base64
import datetime
import importlib
import json
import pathlib
import sys

import duckdb


def extension(name: str) -> pathlib.Path:
    module = importlib.import_module(f"duckdb_extension_{name}")
    path = pathlib.Path(module.__file__).parent / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
    if not path.exists():
        sys.exit(f"duckdb_extension_{name} has no extension for DuckDB {duckdb.__version__} at {path}")
    return path


def plain(v):
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"b64": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, (list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, (datetime.datetime, datetime.date)):
        return v.isoformat()
    if hasattr(v, "__int__") and not isinstance(v, (int, float, bool)):
        return int(v)  # HUGEINT sums come back as int already; Decimal and friends as int
    return v


def main():
    spec = json.load(sys.stdin)
    con = duckdb.connect()
    for name in ("httpfs", "avro", "iceberg"):
        con.execute(f"LOAD '{extension(name)}'")
    s3 = spec.get("s3")
    if s3:
        def q(text):
            return "'" + str(text).replace("'", "''") + "'"

        con.execute(
            f"CREATE SECRET strata_s3 (TYPE s3, KEY_ID {q(s3['key'])}, SECRET {q(s3['secret'])}, "
            f"ENDPOINT {q(s3['endpoint'])}, REGION {q(s3['region'])}, URL_STYLE 'path', USE_SSL false)")
    results = [[plain(list(row)) for row in con.execute(q).fetchall()] for q in spec["queries"]]
    print(json.dumps({"version": duckdb.__version__, "results": results}))


main()
