"""Tiered storage through Kafka: a topic created with small segments and local.retention.ms=0, produced
until its data is offloaded to the cold tier and evicted locally (polled with `strata topics describe`
on the lake while serve runs), then consumed from offset 0 by every client, record for record; and
ListOffsets by timestamp answering from the cold tier."""

import asyncio
import time

from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from kafka_support import (
    BOOTSTRAP,
    T_NOW,
    TIMEOUT,
    Rec,
    ak_consume,
    check_records,
    ck_consume,
    ck_consumer,
    ck_produce,
    describe,
    kp_consume,
    topic_name,
)

SEGMENT = 64 * 1024
N = 4000  # about 4 MB: some 60 segments of 64 KiB


def records(first=0, n=N):
    return [
        Rec(b"key-%d" % (i % 100), (b"%08d:" % i) + bytes((i + j) % 251 for j in range(1000)),
            (("n", b"%d" % i),) if i % 7 == 0 else (), T_NOW + 1000 * i)
        for i in range(first, first + n)
    ]


def wait_evicted(topic, at_least):
    """Polls the lake until offsets [0, at_least) are in the cold tier only; returns the description."""
    deadline = time.monotonic() + 90
    d = describe(topic)
    while time.monotonic() < deadline:
        d = describe(topic)
        cold, hot = d.get("cold") or {}, d.get("hot") or {}
        cold_ok = cold.get("logStartOffset") == 0 and cold.get("nextOffset", 0) >= at_least
        if cold_ok and hot.get("startOffset", 0) >= at_least:
            return d
        time.sleep(0.25)
    raise AssertionError(f"{topic}: offsets below {at_least} not offloaded and evicted within 90 s: {d}")


def test_evicted_topic_consumed_from_offset_zero_by_every_client():
    topic = topic_name("tier")
    admin = AdminClient({"bootstrap.servers": BOOTSTRAP, "broker.address.family": "v4"})
    cfg = {"segment.bytes": str(SEGMENT), "local.retention.ms": "0"}
    admin.create_topics([NewTopic(topic, 1, 1, config=cfg)])[topic].result(TIMEOUT)
    recs = records()
    reports = ck_produce(recs, topic, **{"linger.ms": 10, "batch.size": 16384})
    assert [o for _, o in reports] == list(range(N))
    d = wait_evicted(topic, N // 2)
    assert d["config"]["segmentBytes"] == SEGMENT and d["config"]["localRetentionMs"] == 0, d["config"]
    cold_upto = d["hot"]["startOffset"]

    got, offsets = ck_consume(topic, 0, 0, N)
    check_records(recs, got, offsets, "cold→confluent")
    got, offsets = kp_consume(topic, 0, 0, N)
    check_records(recs, got, offsets, "cold→kafka-python")
    got, offsets = asyncio.run(asyncio.wait_for(ak_consume(topic, 0, 0, N), TIMEOUT * 3))
    check_records(recs, got, offsets, "cold→aiokafka")
    # From inside a cold batch, across the cold/hot boundary.
    start = cold_upto // 2 + 3
    got, offsets = ck_consume(topic, 0, start, N - start)
    check_records(recs[start:], got, offsets, f"cold from {start}")

    # ListOffsets: earliest is 0 although the local log starts later; by time answers from the cold tier.
    c = ck_consumer()
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT, cached=False)
        assert (low, high) == (0, N)
        for i in (0, 1, cold_upto // 3, cold_upto - 1, N - 1):
            [tp] = c.offsets_for_times([TopicPartition(topic, 0, T_NOW + 1000 * i - 500)], timeout=TIMEOUT)
            assert tp.offset == i, f"offsets_for_times of record {i}'s time: {tp.offset}"
    finally:
        c.close()

    # More records after eviction: the log goes on, reads span both tiers.
    more = records(N, 500)
    assert [o for _, o in ck_produce(more, topic)] == list(range(N, N + 500))
    got, offsets = ck_consume(topic, 0, 0, N + 500)
    check_records(recs + more, got, offsets, "cold+hot after more appends")
