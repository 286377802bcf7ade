"""The engines, each reading a topic's table and compared with the produced rows (tables_support.Row):
every row (partition, offset, timestamp, key, value, headers in order) and aggregates computed by the
engine itself (count, sum of offsets, first and last timestamp per partition).
"""

import datetime

from tables_support import (AGG_SQL, ROWS_SQL, Row, agg_from, aggregates, compare_rows, local_path,
                            pinned_duckdb, rows_from, unb64)


def iso_us(us: int) -> str:
    return datetime.datetime.fromtimestamp(us / 1_000_000, tz=datetime.timezone.utc).isoformat()


# --- pyarrow tables (pyiceberg's scans, pyarrow datasets) ------------------------------------------------


def arrow_rows(table) -> list[Row]:
    import pyarrow as pa

    ts = table.column("timestamp")
    assert pa.types.is_timestamp(ts.type) and ts.type.unit == "us" and ts.type.tz in ("UTC", "+00:00"), ts.type
    return rows_from(table.column("partition").to_pylist(), table.column("offset").to_pylist(),
                     ts.cast(pa.int64()).to_pylist(), table.column("key").to_pylist(),
                     table.column("value").to_pylist(), table.column("headers").to_pylist())


# --- pyiceberg ------------------------------------------------------------------------------------------


def static_table(metadata_uri: str, properties: dict | None = None):
    from pyiceberg.table import StaticTable

    return StaticTable.from_metadata(metadata_uri, properties=properties or {})


def check_pyiceberg(label: str, table, want: list[Row]) -> str:
    """A full scan, a scan with `offset >= X and partition == p` (planning only that partition's files),
    and one with a timestamp window (planning no file of another day)."""
    from pyiceberg.expressions import And, EqualTo, GreaterThanOrEqual, LessThan

    compare_rows(f"{label} pyiceberg scan", arrow_rows(table.scan().to_arrow()), want)
    counts = {}
    for r in want:
        counts[r.partition] = counts.get(r.partition, 0) + 1
    p = max(counts)  # the last partition
    offsets = [r.offset for r in want if r.partition == p]
    cut = offsets[len(offsets) // 2]
    scan = table.scan(row_filter=And(GreaterThanOrEqual("offset", cut), EqualTo("partition", p)))
    planned = [t.file.file_path for t in scan.plan_files()]
    assert planned and all(f"/partition={p}/" in f for f in planned), f"{label}: partition {p} planned {planned}"
    compare_rows(f"{label} pyiceberg filter offset >= {cut} and partition == {p}", arrow_rows(scan.to_arrow()),
                 [r for r in want if r.partition == p and r.offset >= cut])
    # A window inside the oldest day the rows span: files of later days are not even planned.
    first = min(r.timestamp_us for r in want)
    day0 = first // 86_400_000_000 * 86_400_000_000
    lo, hi = first + 1, day0 + 86_400_000_000
    window = table.scan(row_filter=And(GreaterThanOrEqual("timestamp", iso_us(lo)), LessThan("timestamp", iso_us(hi))))
    day = datetime.datetime.fromtimestamp(day0 / 1_000_000, tz=datetime.timezone.utc).date().isoformat()
    planned = [t.file.file_path for t in window.plan_files()]
    assert planned and all(f"/timestamp_day={day}/" in f for f in planned), f"{label}: day {day} planned {planned}"
    expected = [r for r in want if lo <= r.timestamp_us < hi]
    assert expected, f"{label}: the window [{iso_us(lo)}, {iso_us(hi)}) selects no produced row"
    compare_rows(f"{label} pyiceberg timestamp window", arrow_rows(window.to_arrow()), expected)
    return f"pyiceberg {len(want)} rows, filter {cut}..{p}, window {len(expected)} rows"


# --- DuckDB ---------------------------------------------------------------------------------------------


def duck_rows(rows) -> list[Row]:
    cols = list(zip(*rows)) if rows else [[]] * 6
    return rows_from(*cols)


def sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def check_duckdb_parquet(label: str, paths: list[str], want: list[Row]) -> str:
    """The installed DuckDB's core `read_parquet` over the data files (hive partitioning off: `partition`
    is a column of the file and a directory name)."""
    import duckdb

    src = f"read_parquet({sql_list([local_path(p) for p in paths])}, hive_partitioning = false)"
    con = duckdb.connect()
    compare_rows(f"{label} duckdb read_parquet", duck_rows(con.execute(ROWS_SQL.format(src=src)).fetchall()), want)
    got = agg_from(con.execute(AGG_SQL.format(src=src)).fetchall())
    assert got == aggregates(want), f"{label} duckdb aggregates {got} != {aggregates(want)}"
    return f"duckdb {duckdb.__version__} read_parquet {len(paths)} files"


def check_duckdb_iceberg(label: str, metadata_uri: str, want: list[Row], s3: dict | None = None,
                         parquet: list[str] | None = None) -> str:
    """The pinned DuckDB's `iceberg_scan` of the newest metadata file: every row, the aggregates and a
    filtered count; with `parquet`, also `read_parquet` over those files (S3 through httpfs)."""
    src = f"iceberg_scan('{metadata_uri}')"
    cut = want[len(want) // 2].offset
    queries = [ROWS_SQL.format(src=src), AGG_SQL.format(src=src),
               f'SELECT count(*) FROM {src} WHERE "offset" >= {cut}']
    if parquet:
        psrc = f"read_parquet({sql_list(parquet)}, hive_partitioning = false)"
        queries += [ROWS_SQL.format(src=psrc), AGG_SQL.format(src=psrc)]
    out = pinned_duckdb(queries, s3)
    results = [unb64(r) for r in out["results"]]
    compare_rows(f"{label} duckdb {out['version']} iceberg_scan", duck_rows(results[0]), want)
    got = agg_from(results[1])
    assert got == aggregates(want), f"{label} duckdb iceberg_scan aggregates {got} != {aggregates(want)}"
    n = results[2][0][0]
    assert n == sum(1 for r in want if r.offset >= cut), f"{label} duckdb iceberg_scan offset >= {cut}: {n} rows"
    if parquet:
        compare_rows(f"{label} duckdb {out['version']} read_parquet", duck_rows(results[3]), want)
        assert agg_from(results[4]) == aggregates(want), f"{label} duckdb read_parquet aggregates"
    return f"duckdb {out['version']} iceberg_scan{' + read_parquet' if parquet else ''}"


# --- polars, pyarrow datasets ------------------------------------------------------------------------------


def check_polars(label: str, paths: list[str], want: list[Row]) -> str:
    import polars as pl

    lf = pl.scan_parquet([local_path(p) for p in paths], hive_partitioning=False)
    df = lf.with_columns(pl.col("timestamp").dt.epoch("us").alias("ts_us")).sort("partition", "offset").collect()
    got = rows_from(df["partition"].to_list(), df["offset"].to_list(), df["ts_us"].to_list(), df["key"].to_list(),
                    df["value"].to_list(), df["headers"].to_list())
    compare_rows(f"{label} polars", got, want)
    agg = (lf.group_by("partition")
           .agg(pl.len().alias("n"), pl.col("offset").sum().alias("s"),
                pl.col("timestamp").min().dt.epoch("us").alias("lo"),
                pl.col("timestamp").max().dt.epoch("us").alias("hi"))
           .sort("partition").collect())
    got = agg_from(agg.select("partition", "n", "s", "lo", "hi").rows())
    assert got == aggregates(want), f"{label} polars aggregates {got} != {aggregates(want)}"
    return f"polars {pl.__version__} scan_parquet"


def check_pyarrow(label: str, paths: list[str], want: list[Row], filesystem=None) -> str:
    """A pyarrow dataset over the files: every row, and a pushed-down `offset >= X` filter."""
    import pyarrow.dataset as ds

    files = [local_path(p) for p in paths] if filesystem is None else [p.split("://", 1)[1] for p in paths]
    dataset = ds.dataset(files, format="parquet", filesystem=filesystem)
    compare_rows(f"{label} pyarrow dataset", arrow_rows(dataset.to_table()), want)
    cut = want[len(want) // 2].offset
    filtered = dataset.to_table(filter=ds.field("offset") >= cut)
    compare_rows(f"{label} pyarrow filter offset >= {cut}", arrow_rows(filtered), [r for r in want if r.offset >= cut])
    return f"pyarrow dataset {len(files)} files"
