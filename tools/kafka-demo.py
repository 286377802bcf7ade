#!/usr/bin/env python3
"""The Kafka half of the main job (tools/demo): a real Kafka client against `strata serve`.

Starts `strata serve` on a fresh lake (the embedded default cold store, file://<lake>/cold) on a
free loopback port, creates a 4-partition topic with small segments and local.retention.ms=0
through confluent-kafka's AdminClient, produces RECORDS records with acks=all and idempotence,
waits until the background offloader has moved every partition's sealed segments to the cold
tier and evicted them, then consumes every partition from offset 0 with a fresh consumer and
checks every record (key, value, headers, timestamp; null keys and values included). Stops the server with SIGTERM (exit 0).

Usage: tools/kafka-demo.py --bin PATH [--records N] [--lake DIR] [--compression zstd|gzip|snappy|lz4|none]
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

TOPIC = "clicks-kafka"
PARTITIONS = 4


def record(i):
    """Record i of the demo stream: partition, key, value, headers, timestamp (ms)."""
    key = None if i % 10 == 0 else f"user-{i % 997}".encode()
    value = None if i % 101 == 0 else f'{{"n":{i},"page":"/p/{i % 53}"}}'.encode()
    headers = [("src", b"demo"), ("i", str(i).encode())] if i % 3 == 0 else []
    ts = 1_700_000_000_000 + i
    return i % PARTITIONS, key, value, headers, ts


def start_serve(binary, lake):
    log = open(os.path.join(os.path.dirname(lake), "serve.log"), "w")
    proc = subprocess.Popen(
        [binary, "serve", "--lake", lake, "--listen", "127.0.0.1:0"],
        stdout=subprocess.PIPE, stderr=log, text=True)
    line = proc.stdout.readline()
    m = re.match(r"listening on (\S+)", line or "")
    if not m:
        proc.kill()
        sys.exit(f"kafka demo: strata serve did not start (first line {line!r}); see {log.name}")
    return proc, m.group(1)


def describe(binary, lake):
    out = subprocess.run(
        [binary, "topics", "describe", "--lake", lake, TOPIC, "--json"],
        capture_output=True, text=True, check=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.strip()]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--records", type=int, default=200_000)
    ap.add_argument("--lake")
    ap.add_argument("--compression", default="zstd", help="the producer's compression.type")
    args = ap.parse_args()
    work = None
    lake = args.lake
    if not lake:
        work = tempfile.mkdtemp(prefix="strata-kafka-demo.")
        lake = os.path.join(work, "lake")
    proc, address = start_serve(args.bin, lake)
    try:
        print(f"== kafka: strata serve on {address}, lake {lake}", file=sys.stderr)
        quiet = {"log_level": 3}  # librdkafka's info lines (a disconnect at shutdown) are noise here
        admin = AdminClient({"bootstrap.servers": address, **quiet})
        futures = admin.create_topics([NewTopic(
            TOPIC, num_partitions=PARTITIONS, replication_factor=1,
            config={"segment.bytes": str(64 * 1024), "local.retention.ms": "0"})])
        futures[TOPIC].result(30)
        del admin, futures  # its background thread would reconnect to a stopped server

        producer = Producer({
            **quiet, "bootstrap.servers": address, "acks": "all", "enable.idempotence": True,
            "linger.ms": 5, "batch.size": 64 * 1024, "compression.type": args.compression})
        acked = [0]
        errors = []

        def delivered(err, msg):
            if err:
                errors.append(err)
            else:
                acked[0] += 1

        start = time.monotonic()
        for i in range(args.records):
            p, key, value, headers, ts = record(i)
            while True:
                try:
                    producer.produce(TOPIC, value=value, key=key, headers=headers, partition=p,
                                     timestamp=ts, on_delivery=delivered)
                    break
                except BufferError:
                    producer.poll(0.05)
            if i % 1000 == 0:
                producer.poll(0)
        producer.flush(60)
        produce_s = time.monotonic() - start
        del producer
        if errors or acked[0] != args.records:
            sys.exit(f"kafka demo: {acked[0]} of {args.records} acknowledged; errors: {errors[:3]}")
        print(f"kafka produce: {args.records} records acknowledged (acks=all, idempotent, {args.compression}) in "
              f"{produce_s:.1f} s = {args.records / produce_s:,.0f} records/s", file=sys.stderr)

        # The background offloader seals by size, uploads, and with local.retention.ms=0 evicts:
        # wait until offset 0 of every partition is in the cold tier only.
        deadline = time.monotonic() + 120
        while True:
            parts = describe(args.bin, lake)
            if all(d["hot"]["startOffset"] > 0 for d in parts):
                break
            if time.monotonic() > deadline:
                sys.exit(f"kafka demo: partitions not evicted after 120 s: {parts}")
            time.sleep(0.5)
        cold = sum((d["cold"] or {}).get("segments", 0) for d in parts)
        print(f"kafka offload: {cold} cold segments; hot tier starts at "
              f"{[d['hot']['startOffset'] for d in parts]} (offset 0 is cold-only)", file=sys.stderr)

        consumer = Consumer({
            **quiet, "bootstrap.servers": address, "group.id": "kafka-demo", "enable.auto.commit": False,
            "fetch.max.bytes": 8 * 1024 * 1024})
        consumer.assign([TopicPartition(TOPIC, p, 0) for p in range(PARTITIONS)])
        expected = {p: [i for i in range(args.records) if i % PARTITIONS == p] for p in range(PARTITIONS)}
        seen = {p: 0 for p in range(PARTITIONS)}
        total = 0
        start = time.monotonic()
        deadline = start + 300
        while total < args.records:
            if time.monotonic() > deadline:
                sys.exit(f"kafka demo: consumed {total} of {args.records} in 300 s")
            for msg in consumer.consume(10_000, 1.0):
                if msg.error():
                    sys.exit(f"kafka demo: consumer error {msg.error()}")
                p = msg.partition()
                n = seen[p]
                if msg.offset() != n:
                    sys.exit(f"kafka demo: partition {p} offset {msg.offset()}, expected {n}")
                i = expected[p][n]
                _, key, value, headers, ts = record(i)
                got_headers = [(k, bytes(v) if v is not None else None) for k, v in (msg.headers() or [])]
                if (msg.key(), msg.value(), got_headers, msg.timestamp()[1]) != (key, value, headers, ts):
                    sys.exit(f"kafka demo: record {i} (partition {p} offset {n}) differs: "
                             f"{(msg.key(), msg.value(), got_headers, msg.timestamp())} != {(key, value, headers, ts)}")
                seen[p] = n + 1
                total += 1
        consume_s = time.monotonic() - start
        consumer.close()
        print(f"kafka replay: {total} records from offset 0 across both tiers, every one checked, in "
              f"{consume_s:.1f} s = {total / consume_s:,.0f} records/s", file=sys.stderr)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            status = proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
            status = "killed after 60 s"
        if work:
            shutil.rmtree(work, ignore_errors=True)
    if status != 0:
        sys.exit(f"kafka demo: strata serve exited {status} on SIGTERM")
    print("kafka demo: ok (serve stopped cleanly)", file=sys.stderr)


if __name__ == "__main__":
    main()
