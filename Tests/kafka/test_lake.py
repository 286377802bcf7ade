# serve: self
"""The lake and Kafka are one: topics and records made with the CLI read through Kafka (a CLI-made topic
is partition 0; `topics create --partitions` shows as Kafka partitions), and what Kafka clients produce
reads back with `strata consume` once serve has stopped (SIGTERM, exit 0)."""

import os
import subprocess

from confluent_kafka.admin import AdminClient, NewTopic

import kafka_support
from kafka_support import LAKE, STRATA_BIN, TIMEOUT, Rec, Serve, check_records, ck_consume, ck_produce, describe


def strata(*args, input: bytes | None = None) -> bytes:
    out = subprocess.run([STRATA_BIN, *args], input=input, capture_output=True, timeout=120)
    assert out.returncode == 0, f"strata {' '.join(args)}: exit {out.returncode}: {out.stderr.decode(errors='replace')}"
    return out.stdout


def test_cli_topics_read_through_kafka_and_kafka_records_read_through_the_cli():
    os.makedirs(LAKE, exist_ok=True)
    strata("produce", "--lake", LAKE, "cli-made", input=b"first\nsecond\nthird\n")
    strata("topics", "create", "--lake", LAKE, "cli-three", "--partitions", "3")
    strata("produce", "--lake", LAKE, "cli-three", "--partition", "2", input=b"in two\n")

    serve = Serve(LAKE).start()
    kafka_support.BOOTSTRAP = serve.address
    try:
        got, offsets = ck_consume("cli-made", 0, 0, 3)
        assert [r.value for r in got] == [b"first", b"second", b"third"] and offsets == [0, 1, 2]
        assert all(r.key is None and r.timestamp and r.timestamp > 0 for r in got)
        admin = AdminClient({"bootstrap.servers": serve.address, "broker.address.family": "v4"})
        md = admin.list_topics(timeout=TIMEOUT)
        assert sorted(md.topics["cli-made"].partitions) == [0]
        assert sorted(md.topics["cli-three"].partitions) == [0, 1, 2]
        got, _ = ck_consume("cli-three", 2, 0, 1)
        assert [r.value for r in got] == [b"in two"]

        # Kafka's side: appends to the CLI's topics, and a topic of its own with partitions.
        ck_produce([Rec(b"k", b"fourth")], "cli-made")
        ck_produce([Rec(b"k1", b"to one", (), None, 1)], "cli-three")
        admin.create_topics([NewTopic("kafka-made", 2, 1)])["kafka-made"].result(TIMEOUT)
        ck_produce([Rec(None, b"p0"), Rec(None, b"p1", (), None, 1), Rec(None, b"p1 again", (), None, 1)], "kafka-made")
    finally:
        status = serve.stop()
    assert status == 0, f"serve exited {status} on SIGTERM"

    assert strata("consume", "--lake", LAKE, "cli-made").splitlines() == [b"first", b"second", b"third", b"fourth"]
    assert strata("consume", "--lake", LAKE, "cli-three", "--partition", "1").splitlines() == [b"to one"]
    assert strata("consume", "--lake", LAKE, "kafka-made", "--partition", "1").splitlines() == [b"p1", b"p1 again"]
    assert strata("consume", "--lake", LAKE, "kafka-made").splitlines() == [b"p0"]
    assert describe("kafka-made")["partitions"] == 2
