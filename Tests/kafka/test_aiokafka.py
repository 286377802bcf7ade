"""aiokafka: AIOKafkaProducer (acks=all, idempotent) and AIOKafkaConsumer with assign(); reads what the
other clients wrote and the other way round; offsets_for_times."""

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from kafka_support import (
    BOOTSTRAP,
    T_NOW,
    TIMEOUT,
    Rec,
    ak_consume,
    ak_produce,
    check_records,
    ck_consume,
    ck_produce,
    kp_consume,
    shaped_records,
    topic_name,
)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT * 3))


def test_round_trip_of_every_shape_and_other_clients_read_it():
    topic = topic_name("ak-shapes")
    recs = shaped_records()
    metas = run(ak_produce(recs, topic))
    assert metas == [(0, i) for i in range(len(recs))]
    got, offsets = run(ak_consume(topic, 0, 0, len(recs)))
    check_records(recs, got, offsets, "aiokafka→aiokafka")
    got, offsets = ck_consume(topic, 0, 0, len(recs))
    check_records(recs, got, offsets, "aiokafka→confluent")
    got, offsets = kp_consume(topic, 0, 0, len(recs))
    check_records(recs, got, offsets, "aiokafka→kafka-python")


def test_idempotent_producer():
    topic = topic_name("ak-idem")
    recs = [Rec(b"k%d" % i, b"v%d" % i, (), T_NOW + i) for i in range(500)]
    metas = run(ak_produce(recs, topic, enable_idempotence=True))
    assert [o for _, o in metas] == list(range(500))
    got, offsets = run(ak_consume(topic, 0, 0, 500))
    check_records(recs, got, offsets, "idempotent aiokafka")


def test_reads_what_confluent_produced_from_inside_a_batch():
    topic = topic_name("ak-from-ck")
    recs = shaped_records()
    ck_produce(recs, topic, **{"linger.ms": 100})
    got, offsets = run(ak_consume(topic, 0, 3, len(recs) - 3))
    check_records(recs[3:], got, offsets, "confluent→aiokafka from 3")
    assert offsets[0] == 3


def test_offsets_for_times_and_end_offsets():
    topic = topic_name("ak-times")
    recs = [Rec(None, b"%d" % i, (), -10_000 + 1000 * i) for i in range(20)]
    run(ak_produce(recs, topic))

    async def query():
        c = AIOKafkaConsumer(bootstrap_servers=BOOTSTRAP, group_id=None)
        await c.start()
        try:
            tp = TopicPartition(topic, 0)
            assert await c.beginning_offsets([tp]) == {tp: 0}
            assert await c.end_offsets([tp]) == {tp: 20}
            found = (await c.offsets_for_times({tp: -10_000 + 1000 * 12 - 500}))[tp]
            assert found is not None and found.offset == 12, found
            assert (await c.offsets_for_times({tp: 10_000_000}))[tp] is None
        finally:
            await c.stop()

    run(query())


def test_four_partitions():
    topic = topic_name("ak-4p")
    from confluent_kafka.admin import AdminClient, NewTopic

    a = AdminClient({"bootstrap.servers": BOOTSTRAP, "broker.address.family": "v4"})
    a.create_topics([NewTopic(topic, num_partitions=4, replication_factor=1)])[topic].result(TIMEOUT)
    recs = [Rec(b"u%d" % (i % 11), b"v%d" % i, (), T_NOW + i, None) for i in range(200)]
    metas = run(ak_produce(recs, topic))
    assert len({p for p, _ in metas}) > 1
    for part in range(4):
        want = [Rec(r.key, r.value, r.headers, r.timestamp, part) for r, (p, _) in zip(recs, metas) if p == part]
        got, offsets = run(ak_consume(topic, part, 0, len(want)))
        check_records(want, got, offsets, f"partition {part}")
