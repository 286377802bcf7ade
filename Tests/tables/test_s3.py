"""The same lake with its cold store on S3 (a throwaway SeaweedFS started by tools/test-tables):
pyiceberg (its S3 FileIO pointed at the endpoint), DuckDB (httpfs and iceberg from the pinned wheels)
and pyarrow (`S3FileSystem(endpoint_override=…)`) read the table in the bucket."""

import os
import uuid

import pytest

import readers
from tables_support import once, Plan, live_data_files, make_lake

ENDPOINT = os.environ.get("STRATA_S3_TEST_ENDPOINT", "")
pytestmark = pytest.mark.skipif(
    not ENDPOINT, reason="no S3 server: STRATA_S3_TEST_ENDPOINT unset (tools/test-tables starts one)")


def s3_settings():
    return {"endpoint": ENDPOINT, "key": os.environ["STRATA_S3_TEST_ACCESS_KEY"],
            "secret": os.environ["STRATA_S3_TEST_SECRET_KEY"],
            "region": os.environ.get("STRATA_S3_TEST_REGION", "us-east-1")}


def filesystem():
    from pyarrow.fs import S3FileSystem

    s = s3_settings()
    return S3FileSystem(endpoint_override=s["endpoint"], access_key=s["key"], secret_key=s["secret"],
                        region=s["region"], scheme="http", force_virtual_addressing=False)


def newest_metadata_s3(table_uri: str) -> str:
    """s3://… of the newest metadata file: version-hint.text's N, checked against the listing."""
    from pyarrow.fs import FileSelector

    fs = filesystem()
    base = table_uri.removeprefix("s3://") + "/metadata"
    try:
        names = [i.base_name for i in fs.get_file_info(FileSelector(base))]
    except FileNotFoundError:
        raise AssertionError(f"no table at {table_uri}: no metadata/ (did offload sync the table?)") from None
    versions = sorted(int(n[1:].split(".")[0]) for n in names if n.startswith("v") and n.endswith(".metadata.json"))
    assert versions, f"no table at {table_uri}: metadata/ holds {names}"
    with fs.open_input_stream(base + "/version-hint.text") as f:
        hint = int(f.read().decode().strip())
    assert hint == versions[-1], f"version-hint.text says {hint}, newest is v{versions[-1]}"
    return f"{table_uri}/metadata/v{versions[-1]}.metadata.json"


_lake = once(lambda: make_lake(
    "s3", Plan(partitions=2, old=60, recent=30),
    cold=f"s3://{os.environ['STRATA_S3_TEST_BUCKET']}/tables-{uuid.uuid4().hex[:8]}"))


@pytest.fixture(scope="module")
def lake():
    return _lake()


@pytest.fixture(scope="module")
def table(lake):
    s = s3_settings()
    return readers.static_table(newest_metadata_s3(lake.table_uri), {
        "s3.endpoint": s["endpoint"], "s3.access-key-id": s["key"], "s3.secret-access-key": s["secret"],
        "s3.region": s["region"], "s3.force-virtual-addressing": "false"})


def test_table_lives_in_the_bucket(lake, table):
    assert table.metadata_location.startswith(lake.table_uri + "/metadata/")
    files = live_data_files(table)
    assert files and all(f.startswith(lake.table_uri + "/data/partition=") for f in files), files


def test_pyiceberg_on_s3(lake, table):
    print(readers.check_pyiceberg("s3", table, lake.rows))


def test_duckdb_httpfs_on_s3(lake, table):
    s = s3_settings()
    s["endpoint"] = s["endpoint"].removeprefix("http://")
    print(readers.check_duckdb_iceberg("s3", table.metadata_location, lake.rows, s3=s,
                                       parquet=live_data_files(table)))


def test_pyarrow_s3_filesystem(lake, table):
    print(readers.check_pyarrow("s3", live_data_files(table), lake.rows, filesystem=filesystem()))
