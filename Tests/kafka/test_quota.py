# serve: self
"""Quotas of `strata serve` (issue 18, "Limits per connection and per principal"): a client far
over a produce or fetch byte quota is answered with ThrottleTimeMs, and real clients see it
(librdkafka's per-broker `throttle` statistics, kafka-python's throttle-time metric)
while every record is delivered exactly once and read back. Outcomes are asserted, not times."""

import json
import os

from kafka_support import TIMEOUT, Rec, Serve, check_records, ck_consume, ck_consumer, ck_produce, ck_producer, topic_name
import kafka_support

QUOTA = 20_000  # bytes per second per principal; each test moves several times that
RECORDS = [Rec(b"k%d" % i, (b"v%03d-" % i) * 200, (), None) for i in range(120)]  # ~1 KB each


def broker_throttle_max(stats_lines: list) -> int:
    """The largest throttle (ms) any broker reported in librdkafka's statistics."""
    top = 0
    for line in stats_lines:
        for broker in json.loads(line).get("brokers", {}).values():
            top = max(top, int(broker.get("throttle", {}).get("max", 0)))
    return top


def start(name: str, *quota_args: str) -> Serve:
    serve = Serve(os.path.join(kafka_support.WORK, name), args=list(quota_args)).start()
    kafka_support.BOOTSTRAP = serve.address
    return serve


def test_confluent_producer_over_the_produce_quota_is_throttled_and_loses_nothing():
    serve = start("quota-produce-lake", "--quota-produce-bytes", str(QUOTA))
    try:
        topic = topic_name("quota-produce")
        stats: list = []
        # Small batches: many requests, so the throttle shows in several answers.
        producer = ck_producer(**{"statistics.interval.ms": 200, "stats_cb": stats.append, "batch.size": 8192,
                                  "linger.ms": 5})
        ck_produce(RECORDS, topic, producer=producer)
        producer.poll(0.5)  # one more statistics callback after the last answers
        assert broker_throttle_max(stats) > 0, "librdkafka saw no throttle from a client 6x over its quota"
        got, offsets = ck_consume(topic, 0, 0, len(RECORDS))
        check_records(RECORDS, got, offsets, "throttled produce read back")
    finally:
        assert serve.stop() == 0


def test_kafka_python_producer_reports_the_produce_throttle():
    serve = start("quota-kp-lake", "--quota-produce-bytes", str(QUOTA))
    try:
        topic = topic_name("quota-kp")
        from kafka import KafkaProducer

        producer = KafkaProducer(bootstrap_servers=serve.address, acks="all", batch_size=8192, linger_ms=5)
        futures = [producer.send(topic, key=r.key, value=r.value) for r in RECORDS]
        producer.flush(TIMEOUT)
        offsets = sorted(f.get(timeout=TIMEOUT).offset for f in futures)
        assert offsets == list(range(len(RECORDS))), "every record acknowledged once, in one dense range"
        # kafka-python keeps a throttle-time sensor per connection and one over all of them.
        throttle = max(metrics.get("throttle-time-max", 0) for metrics in producer.metrics().values())
        producer.close()
        assert throttle > 0, f"kafka-python's throttle-time-max is {throttle}"
        got, offsets = ck_consume(topic, 0, 0, len(RECORDS))
        check_records(RECORDS, got, offsets, "kafka-python throttled produce read back")
    finally:
        assert serve.stop() == 0


def test_confluent_consumer_over_the_fetch_quota_reads_everything():
    serve = start("quota-fetch-lake", "--quota-fetch-bytes", str(QUOTA))
    try:
        topic = topic_name("quota-fetch")
        ck_produce(RECORDS, topic)
        stats: list = []
        # Small fetches: the answers come one after another, each charged to the same budget.
        consumer = ck_consumer(**{"statistics.interval.ms": 200, "stats_cb": stats.append,
                                  "fetch.max.bytes": 16384, "message.max.bytes": 16384,
                                  "max.partition.fetch.bytes": 16384})
        try:
            got, offsets = ck_consume(topic, 0, 0, len(RECORDS), consumer=consumer)
            consumer.poll(0.5)
        finally:
            consumer.close()
        check_records(RECORDS, got, offsets, "throttled fetch")
        assert broker_throttle_max(stats) > 0, "librdkafka saw no throttle from a consumer 6x over its quota"
    finally:
        assert serve.stop() == 0
