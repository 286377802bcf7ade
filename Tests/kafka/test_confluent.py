"""confluent-kafka (librdkafka): idempotent acks=all producer, assign() consumer, admin client
(CreateTopics with configs, DeleteTopics, DescribeConfigs), a 4-partition topic, ListOffsets
(watermarks, offsets_for_times), fetch from inside a batch, long-poll."""

import threading
import time

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, ConfigResource, NewTopic

from kafka_support import (
    BOOTSTRAP,
    T_1969,
    T_NOW,
    TIMEOUT,
    Rec,
    check_records,
    ck_consume,
    ck_consumer,
    ck_produce,
    ck_producer,
    shaped_records,
    topic_name,
)


_admin = None


def admin():
    # One client for the module: a temporary one would be destroyed before its futures resolve.
    global _admin
    if _admin is None:
        _admin = AdminClient({"bootstrap.servers": BOOTSTRAP, "broker.address.family": "v4"})
    return _admin


def create(topic, partitions=1, config=None):
    fut = admin().create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1, config=config or {})])
    fut[topic].result(TIMEOUT)


def test_idempotent_acks_all_round_trip_of_every_record_shape():
    topic = topic_name("ck-shapes")
    recs = shaped_records()
    reports = ck_produce(recs, topic)
    assert reports == [(0, i) for i in range(len(recs))], reports
    got, offsets = ck_consume(topic, 0, 0, len(recs))
    check_records(recs, got, offsets, "confluent→confluent")
    assert offsets[0] == 0


def test_null_key_and_null_value_together():
    topic = topic_name("ck-nullnull")
    ck_produce([Rec(None, None, (), T_NOW), Rec(None, b"after", (), T_NOW + 1)], topic)
    got, offsets = ck_consume(topic, 0, 0, 2)
    check_records([Rec(None, None, (), T_NOW), Rec(None, b"after", (), T_NOW + 1)], got, offsets, "null/null")


def test_null_header_value():
    topic = topic_name("ck-nullhdr")
    p = ck_producer()
    p.produce(topic, key=b"k", value=b"v", headers=[("present", b"x"), ("null", None)])
    assert p.flush(TIMEOUT) == 0
    got, offsets = ck_consume(topic, 0, 0, 1)
    check_records([Rec(b"k", b"v", (("present", b"x"), ("null", None)))], got, offsets, "null header value")


def test_many_batches_and_offsets_are_dense():
    topic = topic_name("ck-many")
    recs = [Rec(b"k%d" % (i % 17), b"value %d " % i + b"z" * (i % 300), (), T_NOW + i) for i in range(20_000)]
    reports = ck_produce(recs, topic, **{"linger.ms": 5, "batch.size": 65536})
    assert [o for _, o in reports] == list(range(len(recs)))
    got, offsets = ck_consume(topic, 0, 0, len(recs))
    check_records(recs, got, offsets, "20k records")


def test_fetch_from_the_middle_of_a_batch_starts_at_the_requested_offset():
    topic = topic_name("ck-mid")
    recs = [Rec(None, b"%d" % i, (), T_NOW + i) for i in range(50)]
    # One produce call per batch: linger long enough that all 50 go in one batch.
    ck_produce(recs, topic, **{"linger.ms": 200})
    for start in (1, 25, 49):
        got, offsets = ck_consume(topic, 0, start, 50 - start)
        assert offsets[0] == start
        check_records(recs[start:], got, offsets, f"from {start}")


def test_watermarks_and_offsets_for_times():
    topic = topic_name("ck-times")
    base = T_NOW
    recs = [Rec(None, b"%d" % i, (), base + 1000 * i) for i in range(10)]
    ck_produce(recs, topic)
    c = ck_consumer()
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT, cached=False)
        assert (low, high) == (0, 10)
        queries = {base - 5: 0, base: 0, base + 1: 1, base + 3500: 4, base + 9000: 9}
        for ts, want in queries.items():
            [tp] = c.offsets_for_times([TopicPartition(topic, 0, ts)], timeout=TIMEOUT)
            assert tp.error is None, tp.error
            assert tp.offset == want, f"offsets_for_times({ts - base:+d} ms): {tp.offset}, expected {want}"
        # Past the last timestamp: no such offset (-1, the end).
        [tp] = c.offsets_for_times([TopicPartition(topic, 0, base + 10_000)], timeout=TIMEOUT)
        assert tp.offset == -1, tp.offset
    finally:
        c.close()


def test_offsets_for_times_before_1970():
    topic = topic_name("ck-times-neg")
    ts = [-3_000_000, -2_000_000, -1_000_000, 5_000]
    ck_produce([Rec(None, b"%d" % t, (), t) for t in ts], topic)
    c = ck_consumer()
    try:
        [tp] = c.offsets_for_times([TopicPartition(topic, 0, -2_500_000)], timeout=TIMEOUT)
        assert tp.offset == 1, tp.offset
        [tp] = c.offsets_for_times([TopicPartition(topic, 0, -1_000_000)], timeout=TIMEOUT)
        assert tp.offset == 2, tp.offset
    finally:
        c.close()


def test_a_batch_whose_every_timestamp_is_before_1970():
    # librdkafka writes such a batch with MaxTimestamp 0 (its running max starts at 0); Kafka brokers
    # take the batch and keep the records' own timestamps.
    topic = topic_name("ck-all-neg")
    recs = [Rec(b"k", b"%d" % i, (), T_1969 + 1000 * i) for i in range(100)]
    ck_produce(recs, topic, **{"linger.ms": 50, "message.timeout.ms": 10_000})
    got, offsets = ck_consume(topic, 0, 0, len(recs))
    check_records(recs, got, offsets, "all before 1970")


def test_four_partitions_created_by_the_admin_client():
    topic = topic_name("ck-4p")
    create(topic, partitions=4)
    md = admin().list_topics(topic, timeout=TIMEOUT)
    assert sorted(md.topics[topic].partitions) == [0, 1, 2, 3]
    # Explicit partitions, and keys with the default partitioner.
    explicit = [Rec(b"e%d" % i, b"explicit %d" % i, (), T_NOW + i, i % 4) for i in range(40)]
    keyed = [Rec(b"user-%d" % (i % 13), b"keyed %d" % i, (), T_NOW + 100 + i, None) for i in range(200)]
    r1 = ck_produce(explicit, topic)
    assert [p for p, _ in r1] == [i % 4 for i in range(40)]
    r2 = ck_produce(keyed, topic)
    by_key = {}
    for r, (p, _) in zip(keyed, r2):
        assert by_key.setdefault(r.key, p) == p, f"key {r.key} went to two partitions"
    assert len(set(by_key.values())) > 1, "every key in one partition: the partitioner saw one partition"
    for part in range(4):
        want = [r for r, (p, _) in zip(explicit + keyed, r1 + r2) if p == part]
        want = [Rec(r.key, r.value, r.headers, r.timestamp, part) for r in want]
        got, offsets = ck_consume(topic, part, 0, len(want))
        check_records(want, got, offsets, f"partition {part}")
        assert offsets[:1] == [0]
        assert all(g.partition == part for g in got)
    c = ck_consumer()
    try:
        for part in range(4):
            low, high = c.get_watermark_offsets(TopicPartition(topic, part), timeout=TIMEOUT, cached=False)
            n = sum(1 for p, _ in r1 + r2 if p == part)
            assert (low, high) == (0, n), f"partition {part}: {(low, high)} != (0, {n})"
    finally:
        c.close()


def test_a_partition_past_the_count_is_an_error():
    topic = topic_name("ck-nopart")
    create(topic, partitions=2)
    p = ck_producer(**{"message.timeout.ms": 3000})
    errors = []
    p.produce(topic, value=b"x", partition=7, on_delivery=lambda err, msg: errors.append(err))
    p.flush(10)
    assert errors and errors[0] is not None, "a record for partition 7 of a 2-partition topic was acknowledged"


def test_create_topics_with_configs_and_describe_configs():
    topic = topic_name("ck-config")
    config = {"segment.bytes": "1048576", "retention.ms": "86400000", "local.retention.ms": "3600000",
              "max.message.bytes": "500000"}
    create(topic, config=config)
    res = ConfigResource(ConfigResource.Type.TOPIC, topic)
    described = admin().describe_configs([res])[res].result(TIMEOUT)
    for k, v in config.items():
        assert k in described, f"DescribeConfigs lacks {k}: {sorted(described)}"
        assert described[k].value == v, f"{k}: {described[k].value} != {v}"


def test_create_topics_with_an_unknown_config_is_an_error_and_creates_nothing():
    topic = topic_name("ck-badconfig")
    fut = admin().create_topics([NewTopic(topic, 1, 1, config={"no.such.config": "1"})])
    with pytest.raises(KafkaException) as e:
        fut[topic].result(TIMEOUT)
    assert e.value.args[0].code() in (KafkaError.INVALID_CONFIG, KafkaError.INVALID_REQUEST), e.value
    md = admin().list_topics(timeout=TIMEOUT)
    assert topic not in md.topics or md.topics[topic].error is not None


def test_create_an_existing_topic_is_an_error():
    topic = topic_name("ck-exists")
    create(topic)
    with pytest.raises(KafkaException) as e:
        create(topic)
    assert e.value.args[0].code() == KafkaError.TOPIC_ALREADY_EXISTS


def test_invalid_topic_name_is_an_error():
    fut = admin().create_topics([NewTopic("bad name!", 1, 1)])
    with pytest.raises(KafkaException) as e:
        fut["bad name!"].result(TIMEOUT)
    assert e.value.args[0].code() == KafkaError.TOPIC_EXCEPTION


def test_delete_topics():
    topic = topic_name("ck-delete")
    ck_produce([Rec(None, b"x")], topic)
    admin().delete_topics([topic])[topic].result(TIMEOUT)
    md = admin().list_topics(timeout=TIMEOUT)
    assert topic not in md.topics, "deleted topic still listed"


def test_a_record_over_max_message_bytes_is_refused_and_not_stored():
    topic = topic_name("ck-toolarge")
    create(topic, config={"max.message.bytes": "1000"})
    p = ck_producer(**{"enable.idempotence": False})
    errors = []
    # max.message.bytes bounds a whole batch (as in Kafka): flush between, so each is its own batch.
    p.produce(topic, value=b"x" * 5000, on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(TIMEOUT) == 0
    p.produce(topic, value=b"small", on_delivery=lambda err, msg: errors.append(err))
    assert p.flush(TIMEOUT) == 0
    assert errors[0] is not None and errors[0].code() == KafkaError.MSG_SIZE_TOO_LARGE, errors
    assert errors[1] is None, errors
    got, offsets = ck_consume(topic, 0, 0, 1)
    assert [r.value for r in got] == [b"small"] and offsets == [0]


def test_long_poll_returns_a_record_produced_while_waiting():
    topic = topic_name("ck-longpoll")
    ck_produce([Rec(None, b"first")], topic)
    c = ck_consumer(**{"fetch.wait.max.ms": 10_000})
    try:
        c.assign([TopicPartition(topic, 0, 1)])
        producer = threading.Thread(target=ck_produce, args=([Rec(None, b"second")], topic))
        start = time.monotonic()
        producer.start()
        msg = None
        while msg is None and time.monotonic() - start < TIMEOUT:
            m = c.poll(1.0)
            if m is not None and not m.error():
                msg = m
        producer.join()
        assert msg is not None and msg.value() == b"second" and msg.offset() == 1
        # A long-poll that ignored new data would hold the fetch for the whole 10 s.
        assert time.monotonic() - start < 9.0, f"record arrived after {time.monotonic() - start:.1f} s"
    finally:
        c.close()
