"""kafka-python: KafkaProducer (idempotent by default in 3.x, acks=all), KafkaConsumer with assign(),
KafkaAdminClient, offsets_for_times, beginning/end offsets, murmur2 partitioning of keys."""

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import InvalidTopicError, TopicAlreadyExistsError
from kafka.partitioner.default import murmur2

from kafka_support import (
    BOOTSTRAP,
    T_1969,
    T_NOW,
    TIMEOUT,
    Rec,
    check_records,
    ck_consume,
    kp_consume,
    kp_produce,
    shaped_records,
    topic_name,
)


def admin():
    return KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=int(TIMEOUT * 1000))


def test_producer_is_idempotent_and_round_trips_every_shape():
    topic = topic_name("kp-shapes")
    recs = shaped_records()
    p = KafkaProducer(bootstrap_servers=BOOTSTRAP, acks="all")
    try:
        assert p.config.get("enable_idempotence"), "kafka-python 3.x should default to an idempotent producer"
    finally:
        p.close(timeout=5)
    metas = kp_produce(recs, topic)
    assert metas == [(0, i) for i in range(len(recs))]
    got, offsets = kp_consume(topic, 0, 0, len(recs))
    check_records(recs, got, offsets, "kafka-python→kafka-python")
    got, offsets = ck_consume(topic, 0, 0, len(recs))
    check_records(recs, got, offsets, "kafka-python→confluent")


def test_reads_what_confluent_produced():
    from kafka_support import ck_produce

    topic = topic_name("kp-from-ck")
    recs = shaped_records()
    ck_produce(recs, topic)
    got, offsets = kp_consume(topic, 0, 0, len(recs))
    check_records(recs, got, offsets, "confluent→kafka-python")


def test_seek_inside_a_batch():
    topic = topic_name("kp-mid")
    recs = [Rec(b"k", b"%d" % i, (), T_NOW + i) for i in range(30)]
    kp_produce(recs, topic, linger_ms=100)
    got, offsets = kp_consume(topic, 0, 17, 13)
    check_records(recs[17:], got, offsets, "from 17")
    assert offsets[0] == 17


def test_offsets_for_times_and_beginning_end_offsets():
    topic = topic_name("kp-times")
    # Ten records before 1970, ten after. (kafka-python refuses a negative target time itself.)
    recs = [Rec(None, b"%d" % i, (), -600_000 + 60_000 * i) for i in range(20)]
    kp_produce(recs, topic)
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None)
    try:
        tp = TopicPartition(topic, 0)
        assert c.beginning_offsets([tp]) == {tp: 0}
        assert c.end_offsets([tp]) == {tp: 20}
        found = c.offsets_for_times({tp: 0})[tp]
        assert found is not None and found.offset == 10 and found.timestamp == 0
        found = c.offsets_for_times({tp: 60_000 * 7 - 1})[tp]
        assert found is not None and found.offset == 17 and found.timestamp == 60_000 * 7
        assert c.offsets_for_times({tp: T_NOW})[tp] is None, "a time after every record has no offset"
    finally:
        c.close()


def test_four_partitions_with_murmur2_keys():
    topic = topic_name("kp-4p")
    a = admin()
    try:
        a.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)], timeout_ms=int(TIMEOUT * 1000))
        with pytest.raises(TopicAlreadyExistsError):
            a.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)], timeout_ms=int(TIMEOUT * 1000))
    finally:
        a.close()
    recs = [Rec(b"key-%d" % (i % 29), b"v%d" % i, (), T_NOW + i, None) for i in range(300)]
    metas = kp_produce(recs, topic)
    for r, (p, _) in zip(recs, metas):
        # kafka-python's default partitioner: murmur2(key) & 0x7fffffff % partitions (the Java client's).
        assert p == (murmur2(r.key) & 0x7FFFFFFF) % 4, f"{r.key}: partition {p}"
    c = KafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None)
    try:
        assert c.partitions_for_topic(topic) == {0, 1, 2, 3}
    finally:
        c.close()
    for part in range(4):
        want = [Rec(r.key, r.value, r.headers, r.timestamp, part) for r, (p, _) in zip(recs, metas) if p == part]
        assert want, f"no key hashed to partition {part}"
        got, offsets = kp_consume(topic, part, 0, len(want))
        check_records(want, got, offsets, f"partition {part}")
        assert offsets[0] == 0


def test_invalid_topic_name_through_the_admin_client():
    a = admin()
    try:
        resp = a.create_topics([NewTopic("bad/name", num_partitions=1, replication_factor=1)], raise_errors=False)
        codes = [t["error_code"] for t in resp["topics"]]
        assert codes == [InvalidTopicError.errno], resp
    finally:
        a.close()
