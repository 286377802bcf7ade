# serve: self
"""Every compression codec from four producers (kcat, confluent-kafka, kafka-python, aiokafka), each
topic read back record for record by the consumers: whatever the server stores, every client decodes
what Fetch returns. serve runs behind ProduceSniffer (it advertises the proxy), which checks that the
producer really sent batches compressed with the codec: librdkafka, for one, sends a batch
uncompressed when compressing does not make it smaller."""

import asyncio
import os
import subprocess

import pytest

import kafka_support
from kafka_support import (
    LAKE,
    ProduceSniffer,
    Serve,
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


@pytest.fixture(scope="module", autouse=True)
def server():
    os.makedirs(LAKE, exist_ok=True)
    sniffer = ProduceSniffer()
    serve = Serve(LAKE, args=["--advertise", sniffer.address]).start()
    sniffer.start(serve.address)
    kafka_support.BOOTSTRAP = sniffer.address
    yield sniffer
    sniffer.close()
    assert serve.stop() == 0, "serve did not exit 0 on SIGTERM"


def assert_sent_compressed(sniffer, topic, codec):
    # librdkafka uses lz4 only when the broker's ApiVersions lists FindCoordinator v0
    # (rdkafka_feature.c), which serve advertises since consumer groups (issue 14): every codec, lz4
    # included, must now arrive compressed from every producer.
    seen = sniffer.codecs.get(topic, set())
    assert not sniffer.errors, f"proxy could not parse a Produce request: {sniffer.errors[:3]}"
    assert codec in seen, f"{topic}: the producer sent batches with codecs {sorted(seen)}, none with {codec}"


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
def test_codec_round_trip(codec, producer, server):
    topic = topic_name(f"z-{codec}-{producer}")
    recs = records(codec)
    metas = produce(producer, codec, recs, topic)
    assert_sent_compressed(server, topic, codec)
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


@pytest.mark.parametrize("codec", CODECS)
def test_kcat_compressed_produce_read_by_kcat_and_confluent(codec, server):
    topic = topic_name(f"kcat-{codec}")
    lines = [f"{codec} record {i} " + "abc" * (i % 40) for i in range(2000)]
    body = "".join(f"k{i}:{v}\n" for i, v in enumerate(lines)).encode()
    base = ["kcat", "-b", kafka_support.BOOTSTRAP, "-X", "broker.address.family=v4"]
    out = subprocess.run(base + ["-P", "-t", topic, "-z", codec, "-K:"], input=body, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace").splitlines()[:5]
    assert_sent_compressed(server, topic, codec)
    out = subprocess.run(base + ["-C", "-t", topic, "-o", "beginning", "-e", "-q", "-f", "%k|%s|%o\n"],
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode(errors="replace").splitlines()[:5]
    assert out.stdout.decode().splitlines() == [f"k{i}|{v}|{i}" for i, v in enumerate(lines)]
    recs, offsets = ck_consume(topic, 0, 0, len(lines))
    assert [r.value for r in recs] == [v.encode() for v in lines]
    assert offsets == list(range(len(lines)))
