#!/usr/bin/env python3
"""table-query's engine side (issue 15): one DuckDB aggregate over a topic's table (Parquet data
files) and the same aggregate over the JSON lines export of the same records, timed in the same
process, alternating, best of --rounds each. Both answers must equal what the bench computed from
the records it produced (--expected); any difference exits 1 and names the partition.

  count(*), sum(offset), min(timestamp), max(timestamp) GROUP BY partition

Usage: table-query-bench.py --parquet F [--parquet F ...] --json P=F [--json P=F ...]
                            --expected JSON --rounds N
  --json P=F   the export of partition P (JSON lines carry no partition field: the file names it)
  --expected   {"<partition>": [count, sumOffset, minTimestampMs, maxTimestampMs], ...}
Prints one JSON line: {"parquetSeconds", "jsonSeconds", "speedup", "parquetBytes", "jsonBytes", ...}.
"""
import argparse
import json
import os
import sys
import time

import duckdb


def sql_list(paths):
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--parquet", action="append", required=True)
    parser.add_argument("--json", action="append", required=True)
    parser.add_argument("--expected", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    expected = {int(p): tuple(v) for p, v in json.loads(args.expected).items()}
    json_files = {}
    for item in args.json:
        partition, _, path = item.partition("=")
        json_files[path] = int(partition)

    parquet_sql = f"""
        SELECT partition, count(*), sum("offset"), epoch_ms(min("timestamp")), epoch_ms(max("timestamp"))
        FROM read_parquet({sql_list(args.parquet)})
        GROUP BY partition ORDER BY partition"""
    # The export has no partition column: each partition is its own file, which names it.
    json_sql = f"""
        SELECT filename, count(*), sum("offset"), min("timestamp"), max("timestamp")
        FROM read_json({sql_list(list(json_files))}, format = 'newline_delimited', filename = true)
        GROUP BY filename ORDER BY filename"""

    con = duckdb.connect()

    def run(sql, by_file):
        start = time.perf_counter()
        rows = con.execute(sql).fetchall()
        seconds = time.perf_counter() - start
        answer = {}
        for row in rows:
            key = json_files[row[0]] if by_file else int(row[0])
            answer[key] = tuple(int(v) for v in row[1:])
        return seconds, answer

    parquet_times, json_times = [], []
    for _ in range(args.rounds):
        seconds, parquet_answer = run(parquet_sql, False)
        parquet_times.append(seconds)
        seconds, json_answer = run(json_sql, True)
        json_times.append(seconds)
        for name, answer in (("parquet", parquet_answer), ("json", json_answer)):
            if answer != expected:
                for partition in sorted(set(answer) | set(expected)):
                    if answer.get(partition) != expected.get(partition):
                        print(f"table-query-bench: {name} answer for partition {partition} is "
                              f"{answer.get(partition)}, the produced records give {expected.get(partition)}",
                              file=sys.stderr)
                sys.exit(1)

    parquet_seconds, json_seconds = min(parquet_times), min(json_times)
    print(json.dumps({
        "parquetSeconds": parquet_seconds, "jsonSeconds": json_seconds,
        "speedup": json_seconds / parquet_seconds if parquet_seconds > 0 else 0,
        "parquetBytes": sum(os.path.getsize(p) for p in args.parquet),
        "jsonBytes": sum(os.path.getsize(p) for p in json_files),
        "parquetFiles": len(args.parquet), "rounds": args.rounds, "duckdb": duckdb.__version__,
        "rows": sum(v[0] for v in expected.values()),
    }))


if __name__ == "__main__":
    main()
