# serve: self
"""Consumer groups on `strata serve` with real clients (issue 14): confluent-kafka members sharing a
4-partition topic (two, then three, then one leaving and one SIGKILLed), committed offsets surviving a
SIGKILL of serve, kcat -G, kafka-python's and aiokafka's group consumers, cooperative-sticky, range and
roundrobin assignments passed through unchanged, and `strata inspect groups` beside the running serve.

One serve for the module (started here with a short initial rebalance delay, so the file stays fast);
the SIGKILL test starts its own on a second lake. Members run in this process and are driven round-robin
from one thread (`drive`), so the order of their callbacks and deliveries is the order they happened.
"""

import asyncio
import json
import os
import select
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

import kafka_support
from kafka_support import LAKE, STRATA_BIN, TIMEOUT, WORK, Serve, ck_producer, note, topic_name

#: Every member's session timeout: how long a member that stops heartbeating keeps its partitions. Below
#: serve's default minimum (6 s, Kafka's group.min.session.timeout.ms), so serve runs with a lower one.
SESSION_MS = 3000
#: How long a new group waits for more members before its first generation (serve's default is 3 s).
INITIAL_DELAY_MS = 300
SERVE_ARGS = ["--group-initial-rebalance-delay-ms", str(INITIAL_DELAY_MS), "--group-min-session-timeout-ms", "1000"]
PARTITIONS = [0, 1, 2, 3]


@pytest.fixture(scope="module", autouse=True)
def server():
    os.makedirs(LAKE, exist_ok=True)
    serve = Serve(LAKE, args=SERVE_ARGS).start()
    kafka_support.BOOTSTRAP = serve.address
    yield serve
    assert serve.stop() == 0, "serve did not exit 0 on SIGTERM"


def bootstrap() -> str:
    return kafka_support.BOOTSTRAP


def create_topic(partitions=4, address=None) -> str:
    topic = topic_name("grp")
    admin = AdminClient({"bootstrap.servers": address or bootstrap(), "broker.address.family": "v4"})
    admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])[topic].result(TIMEOUT)
    return topic


def group_conf(group: str, **extra) -> dict:
    conf = {
        "bootstrap.servers": bootstrap(),
        "broker.address.family": "v4",
        "group.id": group,
        "auto.offset.reset": "earliest",
        "enable.auto.commit": False,
        "session.timeout.ms": SESSION_MS,
        "heartbeat.interval.ms": 300,
        "partition.assignment.strategy": "range",
        "topic.metadata.refresh.interval.ms": 1000,
    }
    conf.update(extra)
    return conf


def produce(topic: str, per_partition: int, first: int = 0, address=None) -> dict[int, list[int]]:
    """`per_partition` records to each partition (values `p:i`); returns the offsets per partition."""
    p = ck_producer(**({"bootstrap.servers": address} if address else {}))
    offsets: dict[int, list[int]] = {q: [] for q in PARTITIONS}
    errors = []

    def report(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            offsets[msg.partition()].append(msg.offset())

    for i in range(first, first + per_partition):
        for q in PARTITIONS:
            p.produce(topic, value=b"%d:%d" % (q, i), partition=q, on_delivery=report)
        p.poll(0)
    assert p.flush(TIMEOUT) == 0 and not errors, f"produce: {errors[:3]}"
    return {q: sorted(v) for q, v in offsets.items()}


class Feeder:
    """Produces `per_step` records to every partition per `step()` while the members run, so rebalances
    happen with records flowing; `finish()` flushes and returns how many records each partition holds."""

    def __init__(self, topic: str, limit_per_partition: int = 20_000, per_step: int = 10):
        self.topic, self.limit, self.per_step = topic, limit_per_partition, per_step
        self.p = ck_producer(**{"linger.ms": 5})
        self.sent = 0
        self.errors = []
        self.counts = {q: 0 for q in PARTITIONS}

    def _report(self, err, msg):
        if err is not None:
            self.errors.append(str(err))
        else:
            self.counts[msg.partition()] = max(self.counts[msg.partition()], msg.offset() + 1)

    def step(self):
        for _ in range(self.per_step if self.sent < self.limit else 0):
            for q in PARTITIONS:
                self.p.produce(self.topic, value=b"%d:%d" % (q, self.sent), partition=q, on_delivery=self._report)
            self.sent += 1
        self.p.poll(0)

    def finish(self) -> dict[int, int]:
        assert self.p.flush(TIMEOUT) == 0 and not self.errors, f"feeder: {self.errors[:3]}"
        assert all(self.counts[q] == self.sent for q in PARTITIONS), f"feeder: {self.counts} after {self.sent}"
        return dict(self.counts)


class Ledger:
    """Who held which partition when, and every delivery, across the members of one test. A member's
    holding of a partition from its assignment to its revocation is an interval; within a generation each
    partition belongs to one member, so two intervals of one partition must never overlap, and no offset
    may be delivered twice within one interval."""

    def __init__(self):
        self.owner: dict[int, tuple[str, int]] = {}  # partition -> (member, interval id)
        self.next_interval = 0
        self.violations: list[str] = []
        self.deliveries: dict[tuple[int, int], list[tuple[str, int]]] = {}
        self.before_assign = []  # hooks run before an assignment is checked (external members' pipes)

    def assign(self, member: str, partitions) -> dict[int, int]:
        for hook in self.before_assign:
            hook()
        out = {}
        for q in partitions:
            if q in self.owner and self.owner[q][0] != member:
                self.violations.append(f"{member} assigned partition {q} still held by {self.owner[q][0]}")
            self.next_interval += 1
            self.owner[q] = (member, self.next_interval)
            out[q] = self.next_interval
        return out

    def revoke(self, member: str, partitions):
        for q in partitions:
            if self.owner.get(q, (None,))[0] == member:
                del self.owner[q]

    def delivered(self, member: str, interval: int | None, partition: int, offset: int):
        if interval is None:
            self.violations.append(f"{member} delivered {partition}/{offset} without holding partition {partition}")
        self.deliveries.setdefault((partition, offset), []).append((member, interval))

    def check(self, counts: dict[int, int], duplicates_allowed: bool = False):
        assert not self.violations, f"{len(self.violations)} ownership violations: {self.violations[:5]}"
        missing = [(q, o) for q in PARTITIONS for o in range(counts[q]) if (q, o) not in self.deliveries]
        assert not missing, f"{len(missing)} records never delivered, e.g. {missing[:5]}"
        extra = [k for k in self.deliveries if k[1] >= counts[k[0]]]
        assert not extra, f"records delivered beyond the high watermark: {extra[:5]}"
        within = {k: v for k, v in self.deliveries.items() if len(v) != len(set(v))}
        assert not within, (
            f"{len(within)} records delivered twice within one generation, e.g. {list(within.items())[:3]}"
        )
        twice = {k: v for k, v in self.deliveries.items() if len(v) > 1}
        if not duplicates_allowed:
            assert not twice, (
                f"{len(twice)} records delivered again after a rebalance although every member committed on "
                f"revoke, e.g. {list(twice.items())[:3]}"
            )
        return len(twice)


class Member:
    """A confluent-kafka consumer in a group, subscribed to one topic; it commits synchronously when
    partitions are revoked (what an application does for exactly-once handover)."""

    def __init__(self, name: str, group: str, topic: str, ledger: Ledger, **extra):
        self.name, self.ledger = name, ledger
        self.c = Consumer(group_conf(group, **extra))
        self.held: dict[int, int] = {}  # partition -> interval id
        self.assigned_calls: list[list[int]] = []
        self.revoked_calls: list[list[int]] = []
        self.lost_calls: list[list[int]] = []
        self.commit_errors: list[str] = []
        self.consumed_intervals: set[int] = set()
        self.cooperative = extra.get("partition.assignment.strategy") == "cooperative-sticky"
        self.closed = False
        self.c.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost)

    def _on_assign(self, consumer, partitions):
        qs = sorted(tp.partition for tp in partitions)
        self.assigned_calls.append(qs)
        if not self.cooperative:
            self.held = {}
        self.held.update(self.ledger.assign(self.name, qs))

    def _commit(self):
        try:
            for tp in self.c.commit(asynchronous=False) or []:
                if tp.error is not None:
                    self.commit_errors.append(f"{tp.partition}: {tp.error}")
        except KafkaException as e:
            if e.args[0].code() != KafkaError._NO_OFFSET:
                self.commit_errors.append(str(e))

    def _on_revoke(self, consumer, partitions):
        qs = sorted(tp.partition for tp in partitions)
        self.revoked_calls.append(qs)
        self._commit()
        self.ledger.revoke(self.name, qs)
        for q in qs:
            self.held.pop(q, None)

    def _on_lost(self, consumer, partitions):
        qs = sorted(tp.partition for tp in partitions)
        self.lost_calls.append(qs)
        self.ledger.revoke(self.name, qs)
        for q in qs:
            self.held.pop(q, None)

    def poll(self, timeout: float) -> int:
        if self.closed:
            return 0
        msgs = self.c.consume(num_messages=500, timeout=timeout)
        for m in msgs:
            if m.error():
                raise AssertionError(f"{self.name}: consume error {m.error()}")
            interval = self.held.get(m.partition())
            self.consumed_intervals.add(interval)
            self.ledger.delivered(self.name, interval, m.partition(), m.offset())
        return len(msgs)

    def close(self):
        if not self.closed:
            self.closed = True
            self.c.close()

    def partitions(self) -> list[int]:
        return sorted(self.held)


def drive(members, until, what: str, timeout: float = TIMEOUT, feeder: Feeder | None = None, external=()):
    """Polls every open member in turn (and steps the feeder, reads external members) until `until()`
    holds; fails naming `what` and each member's partitions after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        for m in members:
            m.poll(0.02)
        for x in external:
            x.read()
        if feeder:
            feeder.step()
        if until():
            return
        if time.monotonic() > deadline:
            state = {m.name: m.partitions() for m in members if not m.closed}
            state.update({x.name: x.partitions() for x in external})
            raise AssertionError(f"{what}: not reached within {timeout} s; partitions held: {state}")


def covering(holdings) -> bool:
    """Disjoint and covering the topic."""
    flat = [q for h in holdings for q in h]
    return sorted(flat) == PARTITIONS


def consumed_up_to(ledger: Ledger, counts: dict[int, int]) -> bool:
    return all((q, o) in ledger.deliveries for q in PARTITIONS for o in range(counts[q]))


# --- membership and rebalances (confluent-kafka) -------------------------------------------------


def test_two_members_get_two_partitions_each():
    topic, group = create_topic(), topic_name("g2")
    counts = {q: len(v) for q, v in produce(topic, 50).items()}
    ledger = Ledger()
    a, b = Member("a", group, topic, ledger), Member("b", group, topic, ledger)
    try:
        drive([a, b], lambda: len(a.held) == 2 and len(b.held) == 2 and consumed_up_to(ledger, counts),
              "two members with two partitions each, every record consumed")
        assert covering([a.partitions(), b.partitions()]), (a.partitions(), b.partitions())
        ledger.check(counts)
    finally:
        a.close()
        b.close()


def test_third_member_joins_and_partitions_are_spread_again_without_duplicates():
    topic, group = create_topic(), topic_name("g3")
    ledger = Ledger()
    feeder = Feeder(topic)
    a, b = Member("a", group, topic, ledger), Member("b", group, topic, ledger)
    members = [a, b]
    try:
        drive(members, lambda: len(a.held) == 2 and len(b.held) == 2 and len(ledger.deliveries) > 100,
              "two members consuming two partitions each", feeder=feeder)
        c = Member("c", group, topic, ledger)
        members.append(c)
        # Spread again (2/1/1), and every member consumed a record in its new holding.
        def spread():
            sizes = sorted(len(m.held) for m in members)
            if sizes != [1, 1, 2] or not covering([m.partitions() for m in members]):
                return False
            return all(set(m.held.values()) & m.consumed_intervals for m in members)

        drive(members, spread, "three members holding 2/1/1 partitions, each consuming", feeder=feeder)
        counts = feeder.finish()
        drive(members, lambda: consumed_up_to(ledger, counts), "every record consumed after the rebalance")
        ledger.check(counts)
        for m in members:
            assert not m.commit_errors, f"{m.name}: commits on revoke failed: {m.commit_errors[:3]}"
        assert c.assigned_calls and a.revoked_calls and b.revoked_calls
        note(f"groups: third member joined; {sum(counts.values())} records, none delivered twice")
    finally:
        for m in members:
            m.close()


class External:
    """A confluent-kafka member in a subprocess (SIGKILLed to stop its heartbeats). It prints
    `assigned P,...`, `revoked P,...` and `record P O` lines, flushed, and auto-commits every 200 ms."""

    SCRIPT = r"""
import json, sys
from confluent_kafka import Consumer
conf = json.loads(sys.argv[1]); topic = sys.argv[2]
conf.update({"enable.auto.commit": True, "auto.commit.interval.ms": 200})
c = Consumer(conf)
def say(*words):
    print(*words, flush=True)
c.subscribe([topic], on_assign=lambda c, ps: say("assigned", ",".join(str(p.partition) for p in ps)),
            on_revoke=lambda c, ps: say("revoked", ",".join(str(p.partition) for p in ps)))
say("started")
# One message per poll: consume(num_messages=N) returns messages it collected before a rebalance
# callback it served in the same call, so their lines came after "revoked" (a flake in CI).
while True:
    m = c.poll(0.05)
    if m is None:
        continue
    if m.error():
        say("error", m.error()); continue
    say("record", m.partition(), m.offset())
"""

    def __init__(self, name: str, group: str, topic: str, ledger: Ledger):
        self.name, self.ledger = name, ledger
        self.held: dict[int, int] = {}
        self.buf = b""
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, json.dumps(group_conf(group)), topic],
            stdout=subprocess.PIPE, stderr=open(os.path.join(WORK, f"external-{name}.err"), "wb"),
        )
        ledger.before_assign.append(self.read)

    def read(self):
        while self.proc.stdout and select.select([self.proc.stdout], [], [], 0)[0]:
            chunk = os.read(self.proc.stdout.fileno(), 65536)
            if not chunk:
                break
            self.buf += chunk
        *lines, self.buf = self.buf.split(b"\n")
        for line in lines:
            words = line.decode().split()
            if not words:
                continue
            qs = [int(q) for q in words[1].split(",") if q] if len(words) > 1 and words[0] != "record" else []
            if words[0] == "assigned":
                self.held = self.ledger.assign(self.name, qs)
            elif words[0] == "revoked":
                self.ledger.revoke(self.name, qs)
                self.held = {}
            elif words[0] == "record":
                q, o = int(words[1]), int(words[2])
                self.ledger.delivered(self.name, self.held.get(q), q, o)
            elif words[0] == "error":
                raise AssertionError(f"{self.name}: {line.decode()}")

    def kill(self):
        self.read()
        self.proc.kill()
        self.proc.wait()
        self.ledger.before_assign.remove(self.read)
        self.ledger.revoke(self.name, list(self.held))  # it holds nothing any more: no heartbeat
        self.held = {}

    def partitions(self) -> list[int]:
        return sorted(self.held)


def test_a_member_leaves_and_one_is_killed_and_the_rest_take_over():
    topic, group = create_topic(), topic_name("gk")
    ledger = Ledger()
    feeder = Feeder(topic)
    a, b = Member("a", group, topic, ledger), Member("b", group, topic, ledger)
    k = External("killed", group, topic, ledger)
    try:
        drive([a, b],
              lambda: covering([a.partitions(), b.partitions(), k.partitions()]) and all((a.held, b.held, k.held)),
              "three members (one in a subprocess) sharing the topic", feeder=feeder, external=[k])
        # b leaves (close: LeaveGroup): a and the subprocess share the topic at once.
        b.close()
        left_at = time.monotonic()
        drive([a], lambda: covering([a.partitions(), k.partitions()]) and a.held and k.held,
              "a and the subprocess sharing the topic after b left", feeder=feeder, external=[k])
        after_leave = time.monotonic() - left_at
        # The subprocess is SIGKILLed: no LeaveGroup, no heartbeat; after its session timeout a takes all.
        k.kill()
        killed_at = time.monotonic()
        drive([a], lambda: a.partitions() == PARTITIONS, "a holding every partition after the kill",
              timeout=SESSION_MS / 1000 + TIMEOUT, feeder=feeder)
        after_kill = time.monotonic() - killed_at
        counts = feeder.finish()
        drive([a], lambda: consumed_up_to(ledger, counts), "every record consumed by a")
        # The killed member's uncommitted records are delivered again to a (at least once).
        again = ledger.check(counts, duplicates_allowed=True)
        assert not a.commit_errors, a.commit_errors[:3]
        note(f"groups: takeover after a leave {after_leave:.2f} s, after a SIGKILL {after_kill:.2f} s "
             f"(session timeout {SESSION_MS / 1000:.0f} s); {again} records delivered again after the kill")
    finally:
        if k.proc.poll() is None:
            k.proc.kill()
            k.proc.wait()
        a.close()
        b.close()


# --- committed offsets across a SIGKILL of serve --------------------------------------------------


def test_commits_survive_a_sigkill_of_serve_and_a_new_member_resumes_after_them():
    lake = os.path.join(WORK, "lake-sigkill")
    os.makedirs(lake, exist_ok=True)
    serve = Serve(lake, args=SERVE_ARGS).start()
    address = serve.address
    topic = create_topic(address=address)
    group = topic_name("gcrash")
    produce(topic, 60, address=address)
    # Committed positions, with a metadata string and the leader epoch the client saw: p3 at its end.
    wanted = {0: 13, 1: 0, 2: 59, 3: 60}
    first = Consumer(group_conf(group, **{"bootstrap.servers": address}))
    try:
        first.subscribe([topic])
        seen: set[tuple[int, int]] = set()
        deadline = time.monotonic() + TIMEOUT
        while len(seen) < 240 and time.monotonic() < deadline:
            for m in first.consume(num_messages=500, timeout=0.1):
                assert not m.error(), m.error()
                seen.add((m.partition(), m.offset()))
        assert len(seen) == 240, f"the only member read {len(seen)} of 240 records"
        offsets = [TopicPartition(topic, q, o, metadata=f"meta-{q}-{o}") for q, o in wanted.items()]
        result = first.commit(offsets=offsets, asynchronous=False)
        assert all(tp.error is None for tp in result), [(tp.partition, tp.error) for tp in result]
        # Acknowledged: now the server dies without a chance to flush anything.
        port = address.rsplit(":", 1)[1]
        assert serve.kill() == -9
        restarted = Serve(lake, listen=f"127.0.0.1:{port}", args=SERVE_ARGS).start()
    finally:
        # (Against the restarted server: its LeaveGroup lets the next member in without a session timeout.)
        first.close()
    try:
        produce(topic, 5, first=60, address=address)  # so every partition has records after its commit
        second = Consumer(group_conf(group, **{"bootstrap.servers": address}))
        try:
            committed = second.committed([TopicPartition(topic, q) for q in PARTITIONS], timeout=TIMEOUT)
            got = {tp.partition: (tp.offset, tp.metadata) for tp in committed}
            assert got == {q: (o, f"meta-{q}-{o}") for q, o in wanted.items()}, got
            second.subscribe([topic])
            firsts: dict[int, int] = {}
            count: dict[int, int] = {q: 0 for q in PARTITIONS}
            deadline = time.monotonic() + TIMEOUT
            while sum(count.values()) < sum(65 - o for o in wanted.values()) and time.monotonic() < deadline:
                for m in second.consume(num_messages=500, timeout=0.1):
                    assert not m.error(), m.error()
                    firsts.setdefault(m.partition(), m.offset())
                    count[m.partition()] += 1
            assert firsts == wanted, f"first offsets after the restart {firsts}, committed {wanted}"
            assert count == {q: 65 - o for q, o in wanted.items()}, count
        finally:
            second.close()
    finally:
        assert restarted.stop() == 0


# --- other clients ---------------------------------------------------------------------------------


def committed_offsets(group: str, topic: str) -> dict[int, int]:
    """OffsetFetch through confluent-kafka (a consumer of the group that never subscribes)."""
    c = Consumer(group_conf(group))
    try:
        return {tp.partition: tp.offset for tp in c.committed([TopicPartition(topic, q) for q in PARTITIONS],
                                                              timeout=TIMEOUT)}
    finally:
        c.close()


def kcat_group(group: str, topic: str, expect: int) -> list[tuple[int, int]]:
    """kcat -G until it has read `expect` records (-c), then it closes: its auto-commit commits."""
    cmd = ["kcat", "-b", bootstrap(), "-G", group, topic, "-c", str(expect), "-q", "-f", "%p %o\\n",
           "-X", "broker.address.family=v4", "-X", "auto.offset.reset=earliest",
           "-X", f"session.timeout.ms={SESSION_MS}", "-X", "heartbeat.interval.ms=300"]
    out = subprocess.run(cmd, capture_output=True, timeout=TIMEOUT * 2)
    assert out.returncode == 0, f"kcat -G exited {out.returncode}: {out.stderr.decode(errors='replace')[-500:]}"
    return [tuple(int(w) for w in line.split()) for line in out.stdout.decode().splitlines()]


def test_kcat_group_consumes_and_commits_and_resumes():
    topic, group = create_topic(), topic_name("gkcat")
    produce(topic, 30)
    got = kcat_group(group, topic, 120)
    assert sorted(got) == [(q, o) for q in PARTITIONS for o in range(30)], got[:10]
    assert committed_offsets(group, topic) == {q: 30 for q in PARTITIONS}
    produce(topic, 10, first=30)
    got = kcat_group(group, topic, 40)
    assert sorted(got) == [(q, o) for q in PARTITIONS for o in range(30, 40)], got[:10]
    assert committed_offsets(group, topic) == {q: 40 for q in PARTITIONS}


def kp_group_consume(group: str, topic: str, expect: int) -> list[tuple[int, int]]:
    from kafka import KafkaConsumer

    c = KafkaConsumer(topic, bootstrap_servers=bootstrap(), group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, session_timeout_ms=SESSION_MS, heartbeat_interval_ms=300)
    got = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(got) < expect and time.monotonic() < deadline:
            for msgs in c.poll(timeout_ms=200).values():
                got += [(m.partition, m.offset) for m in msgs]
        c.commit()
    finally:
        c.close()
    return got


def test_kafka_python_group_consumer_joins_consumes_commits_and_resumes():
    topic, group = create_topic(), topic_name("gkp")
    produce(topic, 25)
    got = kp_group_consume(group, topic, 100)
    assert sorted(got) == [(q, o) for q in PARTITIONS for o in range(25)], got[:10]
    assert committed_offsets(group, topic) == {q: 25 for q in PARTITIONS}
    produce(topic, 7, first=25)
    got = kp_group_consume(group, topic, 28)
    assert sorted(got) == [(q, o) for q in PARTITIONS for o in range(25, 32)], got[:10]
    assert committed_offsets(group, topic) == {q: 32 for q in PARTITIONS}


async def ak_group_consume(group: str, topic: str, expect: int) -> list[tuple[int, int]]:
    from aiokafka import AIOKafkaConsumer

    c = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap(), group_id=group, auto_offset_reset="earliest",
                         enable_auto_commit=False, session_timeout_ms=SESSION_MS, heartbeat_interval_ms=300)
    await c.start()
    got = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while len(got) < expect and time.monotonic() < deadline:
            for msgs in (await c.getmany(timeout_ms=200)).values():
                got += [(m.partition, m.offset) for m in msgs]
        await c.commit()
    finally:
        await c.stop()
    return got


def test_aiokafka_group_consumer_joins_consumes_commits_and_resumes():
    topic, group = create_topic(), topic_name("gak")
    produce(topic, 25)
    got = asyncio.run(asyncio.wait_for(ak_group_consume(group, topic, 100), TIMEOUT * 2))
    assert sorted(got) == [(q, o) for q in PARTITIONS for o in range(25)], got[:10]
    assert committed_offsets(group, topic) == {q: 25 for q in PARTITIONS}
    produce(topic, 7, first=25)
    got = asyncio.run(asyncio.wait_for(ak_group_consume(group, topic, 28), TIMEOUT * 2))
    assert sorted(got) == [(q, o) for q in PARTITIONS for o in range(25, 32)], got[:10]
    assert committed_offsets(group, topic) == {q: 32 for q in PARTITIONS}


# --- assignors -----------------------------------------------------------------------------------


def test_cooperative_sticky_moves_partitions_without_revoking_all():
    topic, group = create_topic(), topic_name("gcoop")
    counts = {q: len(v) for q, v in produce(topic, 40).items()}
    ledger = Ledger()
    coop = {"partition.assignment.strategy": "cooperative-sticky"}
    a = Member("a", group, topic, ledger, **coop)
    members = [a]
    try:
        drive(members, lambda: a.partitions() == PARTITIONS and consumed_up_to(ledger, counts),
              "the first member holding and consuming every partition")
        b = Member("b", group, topic, ledger, **coop)
        members.append(b)
        drive(members, lambda: len(a.held) == 2 and len(b.held) == 2, "two cooperative members with two each")
        assert covering([a.partitions(), b.partitions()])
        # Incremental: a gave up exactly the two partitions b took, and kept the other two all along.
        revoked = sorted(q for call in a.revoked_calls for q in call)
        assert revoked == b.partitions(), f"a's revocations {a.revoked_calls}, b holds {b.partitions()}"
        assert a.assigned_calls[0] == PARTITIONS, a.assigned_calls
        assert all(set(call) <= set(a.partitions()) for call in a.assigned_calls[1:]), a.assigned_calls
        assert b.assigned_calls[-1] == b.partitions(), b.assigned_calls
        more = {q: len(v) for q, v in produce(topic, 10, first=40).items()}
        counts = {q: counts[q] + more[q] for q in PARTITIONS}
        drive(members, lambda: consumed_up_to(ledger, counts), "records after the move consumed")
        ledger.check(counts)
    finally:
        for m in members:
            m.close()


def expected_assignment(strategy: str, member_ids: list[str]) -> dict[str, list[int]]:
    """What librdkafka's assignor computes for one 4-partition topic: members sorted by member id."""
    ordered = sorted(member_ids)
    if strategy == "range":
        per = len(PARTITIONS) // len(ordered)
        return {m: PARTITIONS[i * per:(i + 1) * per] for i, m in enumerate(ordered)}
    return {m: PARTITIONS[i::len(ordered)] for i, m in enumerate(ordered)}


@pytest.mark.parametrize("strategy", ["range", "roundrobin"])
def test_assignor_assignments_reach_the_members_unchanged(strategy):
    topic, group = create_topic(), topic_name(f"g-{strategy}")
    ledger = Ledger()
    a = Member("a", group, topic, ledger, **{"partition.assignment.strategy": strategy})
    b = Member("b", group, topic, ledger, **{"partition.assignment.strategy": strategy})
    try:
        drive([a, b], lambda: len(a.held) == 2 and len(b.held) == 2, f"two {strategy} members with two each")
        ids = {a.c.memberid(): a.partitions(), b.c.memberid(): b.partitions()}
        assert ids == expected_assignment(strategy, list(ids)), ids
        # DescribeGroups tells the same: the protocol chosen and each member's assignment as stored.
        admin = AdminClient({"bootstrap.servers": bootstrap(), "broker.address.family": "v4"})
        desc = admin.describe_consumer_groups([group])[group].result(TIMEOUT)
        assert desc.partition_assignor == strategy
        assert str(desc.state).endswith("STABLE"), desc.state
        described = {m.member_id: sorted(tp.partition for tp in m.assignment.topic_partitions) for m in desc.members}
        assert described == ids
    finally:
        a.close()
        b.close()


# --- strata inspect groups beside the running serve -------------------------------------------------


def test_inspect_groups_shows_members_and_lag_beside_serve():
    topic, group = create_topic(), topic_name("ginspect")
    produce(topic, 20)
    ledger = Ledger()
    a = Member("a", group, topic, ledger)
    try:
        drive([a], lambda: a.partitions() == PARTITIONS and len(ledger.deliveries) == 80, "one member, all read")
        committed = {0: 20, 1: 5, 2: 0, 3: 17}
        result = a.c.commit(offsets=[TopicPartition(topic, q, o) for q, o in committed.items()], asynchronous=False)
        assert all(tp.error is None for tp in result)
        out = subprocess.run([STRATA_BIN, "inspect", "groups", "--lake", LAKE, "--json"],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"inspect groups: exit {out.returncode}: {out.stderr}"
        groups = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
        mine = [g for g in groups if g["group"] == group]
        assert len(mine) == 1, [g.get("group") for g in groups]
        g = mine[0]
        assert g["state"].lower() == "stable" and g["protocol"] == "range", g
        assert [m["memberId"] for m in g["members"]] == [a.c.memberid()], g["members"]
        assigned = g["members"][0]["assignment"]["partitions"]
        assert assigned == [{"topic": topic, "partitions": PARTITIONS}], assigned
        rows = {(o["topic"], o["partition"]): o for o in g["offsets"]}
        assert sorted(rows) == [(topic, q) for q in PARTITIONS], sorted(rows)
        for q, o in committed.items():
            row = rows[(topic, q)]
            assert (row["offset"], row["highWatermark"], row["lag"]) == (o, 20, 20 - o), row
        assert g["lag"] == sum(20 - o for o in committed.values()), g["lag"]
    finally:
        a.close()
