"""kcat (librdkafka's command-line client) against strata serve: -L, -P, -C, keys with -K:, headers,
null values, partitions (its compression codecs: test_compression.py)."""

import json
import subprocess

import pytest

from kafka_support import BOOTSTRAP, TIMEOUT, Rec, ck_consume, ck_produce, topic_name


def kcat(*args, input: bytes | None = None) -> bytes:
    cmd = ["kcat", "-b", BOOTSTRAP, "-X", "broker.address.family=v4", *args]
    out = subprocess.run(cmd, input=input, capture_output=True, timeout=TIMEOUT * 2)
    if out.returncode != 0:
        lines = out.stderr.decode(errors="replace").splitlines()
        distinct = list(dict.fromkeys(lines))  # kcat repeats one line per failed message
        raise AssertionError(
            f"{' '.join(cmd)}: exit {out.returncode} ({len(lines)} stderr lines): " + "\n".join(distinct[:8])
        )
    return out.stdout


def consume_lines(topic: str, fmt: str, *extra) -> list[str]:
    out = kcat("-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", fmt, *extra)
    return out.decode().splitlines()


def test_metadata_lists_this_broker_and_the_topics():
    topic = topic_name("kcat-meta")
    kcat("-P", "-t", topic, input=b"one\n")
    meta = json.loads(kcat("-L", "-J"))
    host, port = BOOTSTRAP.rsplit(":", 1)
    assert [(b["name"].rsplit(":", 1)[0], b["name"].rsplit(":", 1)[1]) for b in meta["brokers"]] == [(host, port)], meta
    topics = {t["topic"]: t for t in meta["topics"]}
    assert topic in topics, f"{topic} missing from -L: {sorted(topics)}"
    parts = topics[topic]["partitions"]
    assert [p["partition"] for p in parts] == [0]
    assert parts[0]["leader"] == meta["brokers"][0]["id"]


def test_metadata_of_one_topic():
    topic = topic_name("kcat-meta1")
    kcat("-P", "-t", topic, input=b"x\n")
    meta = json.loads(kcat("-L", "-J", "-t", topic))
    assert [t["topic"] for t in meta["topics"]] == [topic]
    assert meta["topics"][0].get("error") in (None, ""), meta


def test_produce_and_consume_lines():
    topic = topic_name("kcat-lines")
    lines = [f"line {i} " + "x" * (i % 50) for i in range(500)]
    kcat("-P", "-t", topic, input=("\n".join(lines) + "\n").encode())
    got = consume_lines(topic, "%o %s\n")
    assert got == [f"{i} {line}" for i, line in enumerate(lines)]


def test_keys_with_K_colon_and_null_values():
    topic = topic_name("kcat-keys")
    # -Z: an empty value is sent as NULL (and NULL printed as NULL).
    kcat("-P", "-t", topic, "-K:", "-Z", input=b"k1:v1\nk2:v:with:colons\ntomb:\n:no key\n")
    got = consume_lines(topic, "%k|%s|%o\n", "-Z")
    assert got == ["k1|v1|0", "k2|v:with:colons|1", "tomb|NULL|2", "NULL|no key|3"]
    # The same records through another client, byte for byte.
    recs, offsets = ck_consume(topic, 0, 0, 4)
    assert [(r.key, r.value) for r in recs] == [
        (b"k1", b"v1"), (b"k2", b"v:with:colons"), (b"tomb", None), (None, b"no key")
    ]
    assert offsets == [0, 1, 2, 3]


def test_headers():
    topic = topic_name("kcat-headers")
    kcat("-P", "-t", topic, "-H", "a=1", "-H", "b=two", "-K:", input=b"k:v\n")
    got = consume_lines(topic, "%k|%s|%h\n")
    assert got == ["k|v|a=1,b=two"]
    recs, _ = ck_consume(topic, 0, 0, 1)
    assert recs[0].headers == (("a", b"1"), ("b", b"two"))


def test_consume_from_an_offset_and_a_count():
    topic = topic_name("kcat-offset")
    kcat("-P", "-t", topic, input=b"".join(b"m%d\n" % i for i in range(100)))
    out = kcat("-C", "-t", topic, "-o", "37", "-c", "5", "-e", "-q", "-f", "%o:%s\n").decode().splitlines()
    assert out == [f"{i}:m{i}" for i in range(37, 42)]
    # Negative -o: relative to the end (ListOffsets latest).
    out = kcat("-C", "-t", topic, "-o", "-3", "-e", "-q", "-f", "%o:%s\n").decode().splitlines()
    assert out == [f"{i}:m{i}" for i in range(97, 100)]


def test_produce_to_partitions_of_a_four_partition_topic():
    from confluent_kafka.admin import AdminClient, NewTopic

    topic = topic_name("kcat-parts")
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP, "broker.address.family": "v4"})
    admin.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result(TIMEOUT)
    for p in range(4):
        kcat("-P", "-t", topic, "-p", str(p), input=b"".join(b"p%d-%d\n" % (p, i) for i in range(p + 1)))
    meta = json.loads(kcat("-L", "-J", "-t", topic))
    assert sorted(x["partition"] for x in meta["topics"][0]["partitions"]) == [0, 1, 2, 3]
    for p in range(4):
        out = kcat("-C", "-t", topic, "-p", str(p), "-o", "beginning", "-e", "-q", "-f", "%p %o %s\n")
        assert out.decode().splitlines() == [f"{p} {i} p{p}-{i}" for i in range(p + 1)]


def test_kcat_reads_what_confluent_produced_with_timestamps():
    topic = topic_name("kcat-ts")
    recs = [Rec(b"a", b"1", (), 1_700_000_000_123), Rec(b"b", b"2", (), -5000)]
    ck_produce(recs, topic)
    out = kcat("-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k %s %T\n").decode().splitlines()
    assert out == ["a 1 1700000000123", "b 2 -5000"]
