# serve: self
"""Prometheus metrics of `strata serve --metrics-listen` read by a real reader (issue 18,
Observability): records are produced and consumed with confluent-kafka, `/metrics` is scraped
over HTTP and parsed with prometheus_client's text parser, and the values must have moved by
exactly what was produced, fetched and committed. The server logs JSON lines (--log-format json)."""

import glob
import time
import json
import os
import socket
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from kafka_support import TIMEOUT, Serve, ck_consumer, ck_produce, Rec, topic_name
import kafka_support


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(address: str) -> dict:
    """{(sample name, frozenset(labels)): value} of one GET /metrics."""
    with urllib.request.urlopen(f"http://{address}/metrics", timeout=TIMEOUT) as answer:
        assert answer.status == 200
        assert answer.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = answer.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, frozenset(s.labels.items()))] = s.value
    return samples


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_metrics_move_as_records_are_produced_fetched_and_committed():
    metrics = f"127.0.0.1:{free_port()}"
    lake = os.path.join(kafka_support.WORK, "metrics-lake")
    serve = Serve(lake, args=["--metrics-listen", metrics, "--log-format", "json", "--log-level", "info"]).start()
    kafka_support.BOOTSTRAP = serve.address
    try:
        topic = topic_name("metrics")
        before = scrape(metrics)
        produced = [Rec(f"k{i}".encode(), f"value {i}".encode() * 3, (), None) for i in range(50)]
        ck_produce(produced, topic)

        group = topic_name("metrics-group")
        consumer = ck_consumer(**{"group.id": group, "auto.offset.reset": "earliest", "enable.auto.offset.store": True})
        consumer.subscribe([topic])
        got = 0


        deadline = time.monotonic() + TIMEOUT
        while got < len(produced) and time.monotonic() < deadline:
            m = consumer.poll(1.0)
            if m is None or m.error():
                continue
            got += 1
        assert got == len(produced), f"consumed {got} of {len(produced)}"
        consumer.commit(asynchronous=False)

        after = scrape(metrics)
        delta = lambda name, **labels: value(after, name, **labels) - value(before, name, **labels)
        assert delta("strata_produced_records_total", topic=topic) == 50
        assert delta("strata_produced_bytes_total", topic=topic) > 50 * len(b"value 0" * 3)
        # librdkafka may fetch a record twice (a fetch in flight at the subscribe's first assignment),
        # never fewer than were consumed.
        assert delta("strata_fetched_records_total", topic=topic) >= 50
        assert delta("strata_fetched_bytes_total", topic=topic) > 0
        assert delta("strata_requests_total", api="Produce") >= 1
        assert delta("strata_request_seconds_count", api="Fetch") >= 1
        assert delta("strata_requests_total", api="OffsetCommit") >= 1
        assert value(after, "strata_consumer_group_lag_records", group=group, topic=topic, partition="0") == 0
        assert value(after, "strata_connections") >= 1
        assert value(after, "strata_open_partitions") >= 1
        # The topics are `sync` by default: every acknowledged batch waited for a journal fsync.
        assert delta("strata_fsyncs_total", kind="journal") >= 1
        assert delta("strata_fsync_seconds_count", kind="journal") == delta("strata_fsyncs_total", kind="journal")
        assert delta("strata_journal_written_bytes_total") > 0

        # Ten more records, not consumed: the group's lag is ten.
        ck_produce([Rec(None, b"more", (), None) for _ in range(10)], topic)
        lagging = scrape(metrics)
        assert value(lagging, "strata_consumer_group_lag_records", group=group, topic=topic, partition="0") == 10
        consumer.close()

        try:
            urllib.request.urlopen(f"http://{metrics}/other", timeout=TIMEOUT)
            raise AssertionError("GET /other answered 200")
        except urllib.error.HTTPError as e:
            assert e.code == 404
    finally:
        assert serve.stop() == 0

    # Every stderr line of this server is one JSON object with ts, level, logger, msg.
    logs = sorted(glob.glob(os.path.join(kafka_support.WORK, "serve-*.err")), key=os.path.getmtime)
    lines = [l for l in open(logs[-1]).read().splitlines() if l]
    assert lines, "serve logged nothing"
    for line in lines:
        event = json.loads(line)
        assert {"ts", "level", "logger", "msg"} <= event.keys(), line
    assert any("stopped; lake closed" in json.loads(l)["msg"] for l in lines)
