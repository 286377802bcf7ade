"""A lake on the local file system: every engine reads the topic's table after one offload."""

import pathlib

import pytest

import readers
from tables_support import once, Plan, live_data_files, make_lake, newest_metadata_local, strata_status


_lake = once(lambda: make_lake("local", Plan(partitions=3, old=120, recent=60)))


@pytest.fixture(scope="module")
def lake():
    return _lake()


@pytest.fixture(scope="module")
def table(lake):
    return readers.static_table(newest_metadata_local(lake.table_uri))


def test_the_produced_records_span_two_days_with_nulls_and_repeated_headers(lake):
    # The expected answer itself has the shapes the readers must get right.
    days = {r.timestamp_us // 86_400_000_000 for r in lake.rows}
    assert len(days) >= 2, days
    assert any(r.value is None for r in lake.rows) and any(r.value == b"" for r in lake.rows)
    assert any(r.key is None for r in lake.rows)
    assert any(len({k for k, _ in r.headers}) < len(r.headers) for r in lake.rows)
    assert any(v is None for r in lake.rows for _, v in r.headers)
    assert {r.partition for r in lake.rows} == {0, 1, 2}


def test_data_files_are_partitioned_by_partition_and_day(lake, table):
    files = live_data_files(table)
    on_disk = sorted(str(p) for p in pathlib.Path(lake.table_uri, "data").rglob("*.parquet"))
    # Files a later snapshot replaced (a small-file merge) stay while an older snapshot reads them;
    # nothing else may be in data/.
    retained = {task.file.file_path.removeprefix("file://") for s in table.metadata.snapshots
                for task in table.scan(snapshot_id=s.snapshot_id).plan_files()}
    live = [f.removeprefix("file://") for f in files]
    assert set(live) <= set(on_disk), "the table reads files that are not in data/"
    assert set(on_disk) <= retained, f"data/ holds files no snapshot reads: {sorted(set(on_disk) - retained)}"
    assert strata_status(lake)["dataFilePaths"] == sorted(files), "table status lists other files than pyiceberg"
    for r in lake.rows:
        assert any(f"/partition={r.partition}/" in f for f in files)
    for f in files:
        assert "/partition=" in f and "/timestamp_day=" in f, f


def test_pyiceberg_static_table(lake, table):
    print(readers.check_pyiceberg("local", table, lake.rows))


def test_duckdb_read_parquet_of_the_live_files(lake):
    # The files `table status --json` lists, as a reader without Iceberg support reads the table.
    print(readers.check_duckdb_parquet("local", strata_status(lake)["dataFilePaths"], lake.rows))


def test_duckdb_iceberg_scan(lake, table):
    print(readers.check_duckdb_iceberg("local", table.metadata_location, lake.rows))


def test_duckdb_iceberg_scan_of_the_table_directory_follows_the_version_hint(lake):
    from tables_support import pinned_duckdb

    out = pinned_duckdb([f"SELECT count(*), sum(\"offset\") FROM iceberg_scan('{lake.table_uri}')"])
    assert out["results"][0] == [[len(lake.rows), sum(r.offset for r in lake.rows)]]


def test_polars_scan_parquet(lake, table):
    print(readers.check_polars("local", live_data_files(table), lake.rows))


def test_pyarrow_dataset(lake, table):
    print(readers.check_pyarrow("local", live_data_files(table), lake.rows))
