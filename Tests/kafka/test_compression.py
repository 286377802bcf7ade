"""Every compression codec from three producers (confluent-kafka/librdkafka, kafka-python, aiokafka;
kcat in test_kcat.py), each topic read back by all three consumers record for record: whatever the
server stores, every client decodes what Fetch returns."""

import asyncio

import pytest

from kafka_support import (
    TIMEOUT,
    T_NOW,
    T_1969,
    Rec,
    ak_consume,
    ak_produce,
    check_records,
    ck_consume,
    ck_produce,
    kp_consume,
    kp_produce,
    topic_name,
)

CODECS = ["gzip", "snappy", "lz4", "zstd"]


def records(codec: str) -> list[Rec]:
    # Compressible and incompressible values, keys, headers, a pre-1970 timestamp, a null value.
    out = []
    for i in range(3000):
        value = (f"{codec} event {i} " + "clickstream " * (i % 20)).encode()
        if i % 97 == 0:
            value = bytes((i * 31 + j * 17) % 256 for j in range(3000))
        out.append(Rec(b"user-%d" % (i % 50), value, (("i", b"%d" % i),) if i % 10 == 0 else (), T_NOW + i))
    out.append(Rec(b"old", b"1969", (), T_1969))
    out.append(Rec(b"null", None, (), T_NOW + 5000))
    return out


def produce(client: str, codec: str, recs, topic):
    if client == "confluent":
        return ck_produce(recs, topic, **{"compression.type": codec, "linger.ms": 20, "batch.size": 65536})
    if client == "kafka-python":
        return kp_produce(recs, topic, compression_type=codec, linger_ms=20, batch_size=65536)
    return asyncio.run(asyncio.wait_for(
        ak_produce(recs, topic, compression_type=codec, linger_ms=20, max_batch_size=65536), TIMEOUT * 3))


@pytest.mark.parametrize("producer", ["confluent", "kafka-python", "aiokafka"])
@pytest.mark.parametrize("codec", CODECS)
def test_codec_round_trip(codec, producer):
    topic = topic_name(f"z-{codec}-{producer}")
    recs = records(codec)
    metas = produce(producer, codec, recs, topic)
    assert [o for _, o in metas] == list(range(len(recs))), f"{producer}/{codec}: offsets {metas[:5]}..."
    got, offsets = ck_consume(topic, 0, 0, len(recs))
    check_records(recs, got, offsets, f"{producer}/{codec} → confluent")
    got, offsets = kp_consume(topic, 0, 0, len(recs))
    check_records(recs, got, offsets, f"{producer}/{codec} → kafka-python")
    got, offsets = asyncio.run(asyncio.wait_for(ak_consume(topic, 0, 0, len(recs)), TIMEOUT * 3))
    check_records(recs, got, offsets, f"{producer}/{codec} → aiokafka")
    # From inside a compressed batch: the first record returned is the one asked for.
    got, offsets = ck_consume(topic, 0, 1234, len(recs) - 1234)
    check_records(recs[1234:], got, offsets, f"{producer}/{codec} → confluent from 1234")
    assert offsets[0] == 1234
