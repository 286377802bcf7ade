"""Spark (pyspark, local mode) reads the table's Parquet data files: every row, and counts, sums and
first/last timestamps computed by Spark, on a fresh lake and after delete-records. One Spark session
serves every check (it takes ~15 s to start)."""

import os

import pytest

from tables_support import (Plan, Row, aggregates, compare_rows, live_data_files, make_lake, newest_metadata_local,
                            once, rows_from, strata)
import readers


@pytest.fixture(scope="module")
def spark():
    pyspark = pytest.importorskip("pyspark")
    from pyspark.sql import SparkSession

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    session = (SparkSession.builder.master("local[2]").appName("strata-tables")
               .config("spark.sql.session.timeZone", "UTC").config("spark.ui.enabled", "false")
               .config("spark.driver.host", "127.0.0.1").config("spark.sql.shuffle.partitions", "2")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


_lake = once(lambda: make_lake("spark", Plan(partitions=2, old=90, recent=40)))


@pytest.fixture(scope="module")
def lake():
    return _lake()


def spark_check(spark, label: str, paths: list[str], want: list[Row]) -> None:
    from pyspark.sql import functions as F

    df = spark.read.option("recursiveFileLookup", "true").parquet(*[p.removeprefix("file://") for p in paths])
    rows = df.select("partition", "offset", F.unix_micros("timestamp").alias("ts"), "key", "value", "headers") \
        .orderBy("partition", "offset").collect()
    got = rows_from([r["partition"] for r in rows], [r["offset"] for r in rows], [r["ts"] for r in rows],
                    [r["key"] for r in rows], [r["value"] for r in rows],
                    [[(h["key"], h["value"]) for h in (r["headers"] or [])] for r in rows])
    compare_rows(f"{label} spark", got, want)
    agg = df.groupBy("partition").agg(F.count("*").alias("n"), F.sum("offset").alias("s"),
                                      F.min(F.unix_micros("timestamp")).alias("lo"),
                                      F.max(F.unix_micros("timestamp")).alias("hi")).collect()
    got_agg = {int(r["partition"]): (int(r["n"]), int(r["s"]), int(r["lo"]), int(r["hi"])) for r in agg}
    assert dict(sorted(got_agg.items())) == aggregates(want), f"{label} spark aggregates {got_agg}"


def test_spark_reads_the_data_files_then_what_delete_records_left(spark, lake):
    fresh = readers.static_table(newest_metadata_local(lake.table_uri))
    spark_check(spark, "fresh", live_data_files(fresh), lake.rows)
    cut = [r.offset for r in lake.rows if r.partition == 1][50]
    strata("delete-records", "--lake", lake.path, lake.topic, "--partition", 1, "--before", cut)
    lake.offload()
    remaining = lake.remaining()
    assert len(remaining) < len(lake.rows) and all(r.offset >= cut for r in remaining if r.partition == 1)
    table = readers.static_table(newest_metadata_local(lake.table_uri))
    spark_check(spark, "after delete-records", live_data_files(table), remaining)
