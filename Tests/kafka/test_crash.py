# serve: self
"""SIGKILL of `strata serve` during acks=all production (confluent-kafka, idempotent; delivery callbacks
record what was acknowledged), restart on the same lake (and port), and every acknowledged record is
read back exactly once. Records never acknowledged may be there or not; their counts are printed."""

import collections
import os

from kafka_support import LAKE, TIMEOUT, Serve, ck_consume, ck_consumer, ck_producer, note, topic_name

import kafka_support


def test_sigkill_during_acks_all_production_loses_no_acknowledged_record():
    os.makedirs(LAKE, exist_ok=True)
    serve = Serve(LAKE).start()
    kafka_support.BOOTSTRAP = serve.address
    topic = topic_name("crash")
    acked: dict[int, int] = {}  # record number -> offset
    failed: dict[int, str] = {}

    def on_delivery(err, msg):
        i = int(msg.value().split(b":")[0])
        if err is None:
            assert i not in acked, f"record {i} acknowledged twice"
            acked[i] = msg.offset()
        else:
            failed[i] = str(err)

    p = ck_producer(**{"linger.ms": 2, "message.timeout.ms": 60_000, "retry.backoff.ms": 100})
    sent = 0

    def produce_some(n):
        nonlocal sent
        for _ in range(n):
            p.produce(topic, key=b"k%d" % (sent % 10), value=b"%d:" % sent + b"p" * 200, on_delivery=on_delivery)
            sent += 1
        p.poll(0)

    # Produce until a good share is acknowledged, then kill while more is in flight.
    while len(acked) < 3000:
        produce_some(100)
        p.poll(0.01)
        assert sent < 200_000, "no acknowledgements"
    produce_some(500)
    port = serve.address.rsplit(":", 1)[1]
    acked_at_kill = len(acked)
    acked_before = set(acked)
    assert serve.kill() == -9
    in_flight = sent - len(acked) - len(failed)

    # Restart on the same lake and port, so the producer's retries reach it.
    restarted = Serve(LAKE, listen=f"127.0.0.1:{port}").start()
    assert restarted.address.endswith(f":{port}")
    produce_some(200)
    assert p.flush(90) == 0, "records still undelivered 90 s after the restart"
    assert len(acked) + len(failed) == sent

    from confluent_kafka import TopicPartition

    c = ck_consumer()
    try:
        low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT, cached=False)
    finally:
        c.close()
    assert low == 0
    got, offsets = ck_consume(topic, 0, 0, high)
    assert offsets == list(range(high)), "offsets not dense after the restart"
    numbers = [int(r.value.split(b":")[0]) for r in got]
    counts = collections.Counter(numbers)
    missing = [i for i in acked if counts[i] == 0]
    duplicated_acked = [i for i in acked if counts[i] > 1]
    duplicated_unacked = [i for i in counts if i not in acked and counts[i] > 1]
    unacked_present = [i for i in failed if counts[i] > 0]
    note(
        f"crash: sent {sent}, acknowledged {len(acked)} "
        f"({acked_at_kill} before the kill, {in_flight} in flight at it), "
        f"failed {len(failed)} (of which present {len(unacked_present)}), read {len(got)}, "
        f"duplicated unacknowledged {len(duplicated_unacked)}"
    )
    assert not missing, f"{len(missing)} acknowledged records lost, e.g. {sorted(missing)[:10]}"
    if duplicated_acked:
        first = sorted(duplicated_acked)[0]
        where = [o for o, n in enumerate(numbers) if n == first]
        note(f"crash: record {first} stored at offsets {where}, acknowledged at {acked[first]}; "
             f"acknowledged before the kill: {first in acked_before}")
    assert not duplicated_acked, (
        f"{len(duplicated_acked)} acknowledged records read twice, e.g. {sorted(duplicated_acked)[:10]}"
    )
    for i, off in acked.items():
        assert numbers[off] == i, f"record {i} acknowledged at offset {off}, offset {off} holds {numbers[off]}"
    assert restarted.stop() == 0
