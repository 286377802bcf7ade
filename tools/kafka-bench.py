#!/usr/bin/env python3
"""The Kafka client side of `strata bench kafka-produce` / `kafka-fetch` (issue 13 §5) / `group-consume`
(issue 14).

  kafka-bench.py produce --bootstrap H:P --topic T --pool FILE --bytes N [--linger-ms 5] [--batch-bytes 65536]
      confluent-kafka Producer, acks=all, idempotent, no compression, produce_batch of ~64 KiB slices,
      delivery reports for errors only (the bench checks the log holds every record): cycles the records of FILE
      (written by the bench: per record u32le key length or 0xffffffff for null, key, u32le value
      length, value) until N key+value bytes are acknowledged.
  kafka-bench.py fetch --bootstrap H:P --topic T --end HW [--partition-max-bytes B] [--client kcat|confluent]
      (produce and fetch take --ssl-ca PEM: TLS to a TLS listener, for kafka-tls)
      kcat (librdkafka in C, the default when installed) or confluent-kafka's Python Consumer,
      from offset 0 up to HW; kcat prints every offset and the last HW lines are checked to be
      0..HW-1 in order; the Python consumer checks first/last offset and count of each call.
      kcat is the default because Python's per-message objects (~1 µs each) bound a 1M-record
      read at about 130 MB/s, measuring the interpreter rather than the server.

  kafka-bench.py group --bootstrap H:P --topic T --ends E0,E1,... [--members 4] [--heartbeat-ms 1000]
      `--members` kcat -G processes in one fresh group drain partitions 0.. of T up to their ends (-e:
      each exits once its partitions are at their end), every (partition, offset) checked to arrive
      exactly once; seconds from the first record any member printed to the last. Then the departure:
      a second fresh group of `--members` kcat (enable.auto.offset.store=false: nothing is committed, so
      after a rebalance every member reads from the start again and has records; kcat 1.7 maps
      `-X enable.auto.commit=false` to a legacy topic property and commits anyway), one is sent
      SIGTERM (kcat closes: LeaveGroup), and
      departureSeconds is the time from that signal to the first record a remaining member printed
      after its new assignment (kcat's `assigned:` line on stderr). kcat rather than confluent-kafka
      processes: four Python interpreters would be the bound on two cores, not the server.

Prints one JSON line: seconds (wall, from the first produce/poll to the last ack/record), records,
payloadBytes (keys + values), cpuSeconds (this process: shows when the client is the bound).
"""

import argparse
import json
import resource
import struct
import sys
import time


def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def load_pool(path):
    data = open(path, "rb").read()
    pos, out = 0, []
    while pos < len(data):
        (kl,) = struct.unpack_from("<I", data, pos)
        pos += 4
        key = None if kl == 0xFFFFFFFF else data[pos : pos + kl]
        pos += 0 if key is None else kl
        (vl,) = struct.unpack_from("<I", data, pos)
        pos += 4
        value = None if vl == 0xFFFFFFFF else data[pos : pos + vl]
        pos += 0 if value is None else vl
        out.append((key, value, (len(key) if key else 0) + (len(value) if value else 0)))
    return out


def tls(args):
    """librdkafka settings for --ssl-ca (kafka-tls: the TLS listener, its CA's certificate)."""
    return {"security.protocol": "SSL", "ssl.ca.location": args.ssl_ca} if args.ssl_ca else {}


def produce(args):
    from confluent_kafka import KafkaError, Producer

    pool = load_pool(args.pool)
    p = Producer(
        {
            **tls(args),
            "bootstrap.servers": args.bootstrap,
            "broker.address.family": "v4",
            "acks": "all",
            "enable.idempotence": True,
            "compression.type": "none",
            "linger.ms": args.linger_ms,
            "batch.size": args.batch_bytes,
            "batch.num.messages": 100000,
            "queue.buffering.max.kbytes": 262144,
            "queue.buffering.max.messages": 1000000,
            "message.timeout.ms": 120000,
            # Reports for failures only: a Python callback per acknowledged record would make this
            # script, not the server, the bound. Success is checked by the bench: the log must hold
            # exactly the records sent.
            "delivery.report.only.error": True,
        }
    )
    errors = []

    def on_delivery(err, msg):
        errors.append(str(err))

    # produce_batch of ~64 KiB slices of the pool: one call into librdkafka per slice.
    slices, current, size = [], [], 0
    for key, value, n in pool:
        current.append({"key": key, "value": value})
        size += n
        if size >= args.batch_bytes:
            slices.append((current, size))
            current, size = [], 0
    if current:
        slices.append((current, size))

    sent = payload = 0
    c0, t0 = cpu(), time.perf_counter()
    i = 0
    while payload < args.bytes:
        messages, size = slices[i % len(slices)]
        batch = [dict(m) for m in messages]
        while batch:
            try:
                p.produce_batch(args.topic, batch, on_delivery=on_delivery)
            except BufferError:
                p.poll(0.05)
                continue
            # A full queue refuses the rest of a batch (each refused message carries `_error`):
            # wait for acknowledgements and queue those again; any other refusal is a failure.
            refused = [m for m in batch if "_error" in m]
            other = [m["_error"] for m in refused if m["_error"].code() != KafkaError._QUEUE_FULL]
            if other:
                sys.exit(f"kafka-bench produce: produce_batch refused {len(other)} messages: {other[:3]}")
            batch = [{"key": m["key"], "value": m["value"]} for m in refused]
            if batch:
                p.poll(0.05)
        payload += size
        sent += len(messages)
        i += 1
        p.poll(0)
    left = p.flush(120)
    seconds = time.perf_counter() - t0
    if left or errors:
        sys.exit(f"kafka-bench produce: {left} undelivered, {len(errors)} errors ({errors[:3]})")
    print(json.dumps({"seconds": seconds, "records": sent, "payloadBytes": payload, "cpuSeconds": cpu() - c0}))


def fetch_kcat(args):
    import shutil
    import subprocess

    cmd = [shutil.which("kcat"), "-b", args.bootstrap, "-C", "-t", args.topic, "-p", "0", "-o", "beginning",
           "-c", str(args.end), "-q", "-f", "%o\\n", "-X", "broker.address.family=v4",
           "-X", f"max.partition.fetch.bytes={args.partition_max_bytes}", "-X", "fetch.max.bytes=67108864",
           "-X", "fetch.wait.max.ms=100"]
    for key, value in tls(args).items():
        cmd += ["-X", f"{key}={value}"]
    t0 = time.perf_counter()
    out = subprocess.run(cmd, capture_output=True, timeout=args.timeout)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        sys.exit(f"kafka-bench fetch: kcat exited {out.returncode}: {out.stderr.decode(errors='replace')[:300]}")
    offsets = out.stdout.split()
    if len(offsets) != args.end or (offsets and (int(offsets[0]) != 0 or int(offsets[-1]) != args.end - 1)):
        sys.exit(f"kafka-bench fetch: kcat read {len(offsets)} records, expected 0..{args.end - 1}")
    for i in range(0, len(offsets), max(1, len(offsets) // 1000)):  # spot checks, every offset in place
        if int(offsets[i]) != i:
            sys.exit(f"kafka-bench fetch: record {i} has offset {int(offsets[i])}")
    child = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(json.dumps({"seconds": seconds, "records": len(offsets), "payloadBytes": 0,
                      "cpuSeconds": child.ru_utime + child.ru_stime, "client": "kcat"}))


def fetch(args):
    import shutil

    if args.client == "kcat" or (args.client is None and shutil.which("kcat")):
        return fetch_kcat(args)
    from confluent_kafka import Consumer, TopicPartition

    c = Consumer(
        {
            **tls(args),
            "bootstrap.servers": args.bootstrap,
            "broker.address.family": "v4",
            "group.id": "strata-bench-no-commits",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "fetch.max.bytes": 64 << 20,
            "max.partition.fetch.bytes": args.partition_max_bytes,
            "fetch.wait.max.ms": 100,
            "queued.max.messages.kbytes": 262144,
        }
    )
    c.assign([TopicPartition(args.topic, 0, 0)])
    expected = records = payload = 0
    c0, t0 = cpu(), time.perf_counter()
    deadline = time.monotonic() + args.timeout
    while expected < args.end:
        if time.monotonic() > deadline:
            sys.exit(f"kafka-bench fetch: {expected} of {args.end} records within {args.timeout} s")
        ms = c.consume(num_messages=10000, timeout=1.0)
        if not ms:
            continue
        # Per call, not per record: a Python loop over every message costs ~3 µs each and made
        # this bench measure the interpreter (1.3M records: 4.6 s) instead of the server. One
        # partition's offsets are dense and in order, so the first and last offset and the count
        # of each call check that nothing is missing or repeated; an error arrives as a message
        # whose offset breaks that.
        first, last = ms[0], ms[-1]
        if first.error() or last.error():
            sys.exit(f"kafka-bench fetch: {(first.error() or last.error())}")
        if first.offset() != expected or last.offset() != expected + len(ms) - 1:
            sys.exit(f"kafka-bench fetch: offsets {first.offset()}..{last.offset()} for {len(ms)} "
                     f"records, expected {expected}..")
        expected += len(ms)
        records += len(ms)
    seconds = time.perf_counter() - t0
    c.close()
    print(json.dumps({"seconds": seconds, "records": records, "payloadBytes": payload, "cpuSeconds": cpu() - c0}))


# --- group: kcat -G members -------------------------------------------------------------------------


class KcatMember:
    """One `kcat -G` process; its stdout (`%p %o` lines) and stderr read in chunks, with the time of each."""

    def __init__(self, index, args, group, extra):
        import shutil
        import subprocess

        self.index = index
        cmd = [shutil.which("kcat"), "-b", args.bootstrap, "-G", group, args.topic, "-f", "%p %o\\n",
               "-X", "broker.address.family=v4", "-X", "auto.offset.reset=earliest",
               "-X", f"max.partition.fetch.bytes={args.partition_max_bytes}", "-X", "fetch.max.bytes=67108864",
               "-X", "fetch.wait.max.ms=100", "-X", f"heartbeat.interval.ms={args.heartbeat_ms}",
               "-X", f"session.timeout.ms={args.session_ms}"] + extra
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = []  # stdout chunks
        self.first_out = self.last_out = None
        self.err = b""
        self.err_tail = b""  # the last of stderr, for errors
        self.events = []  # (time, "assigned"|"revoked", text) from stderr
        self.out_times = []  # (time, bytes so far) per stdout chunk
        self.open = {self.proc.stdout.fileno(): "out", self.proc.stderr.fileno(): "err"}

    def fds(self):
        return list(self.open)

    def read(self, fd, now):
        import os

        chunk = os.read(fd, 1 << 20)
        kind = self.open[fd]
        if not chunk:
            del self.open[fd]
            return
        if kind == "out":
            self.out.append(chunk)
            self.first_out = self.first_out or now
            self.last_out = now
            self.out_times.append(now)
        else:
            self.err_tail = (self.err_tail + chunk)[-2000:]
            self.err += chunk
            *lines, rest = self.err.split(b"\n")
            self.err = rest
            for line in lines:
                text = line.decode(errors="replace")
                for word in ("assigned:", "revoked:"):
                    if word in text:
                        self.events.append((now, word[:-1], text))

    def stop(self):
        import signal

        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)


def pump(members, until, timeout):
    """Reads every member's pipes until until() or every pipe is closed; fails after timeout seconds."""
    import select

    deadline = time.monotonic() + timeout
    while not until():
        fds = {fd: m for m in members for fd in m.fds()}
        if not fds:
            return
        left = deadline - time.monotonic()
        if left <= 0:
            for m in members:
                m.proc.kill()
            sys.exit(f"kafka-bench group: not done within {timeout} s")
        ready, _, _ = select.select(list(fds), [], [], min(left, 0.5))
        now = time.perf_counter()
        for fd in ready:
            fds[fd].read(fd, now)


def group(args):
    import os

    ends = [int(e) for e in args.ends.split(",")]
    total = sum(ends)
    stamp = f"{os.getpid()}-{int(time.time())}"

    # The drain: one generation of `members` (they all join within serve's initial rebalance delay).
    members = [KcatMember(i, args, f"bench-group-{stamp}", ["-e"]) for i in range(args.members)]
    pump(members, lambda: False, args.timeout)
    for m in members:
        m.proc.wait()
        if m.proc.returncode != 0:
            sys.exit(f"kafka-bench group: kcat {m.index} exited {m.proc.returncode}: "
                     f"{m.err_tail.decode(errors='replace')[-300:]}")
    first = min(m.first_out for m in members if m.first_out)
    last = max(m.last_out for m in members if m.last_out)
    seen = [bytearray(e) for e in ends]
    per_member, duplicates = [], 0
    for m in members:
        lines = b"".join(m.out).split()
        partitions = set()
        for p, o in zip(lines[0::2], lines[1::2]):
            p, o = int(p), int(o)
            partitions.add(p)
            if seen[p][o]:
                duplicates += 1
            seen[p][o] = 1
        per_member.append({"records": len(lines) // 2, "partitions": sorted(partitions),
                           "rebalances": sum(1 for _, kind, _ in m.events if kind == "assigned")})
    missing = sum(len(s) - sum(s) for s in seen)
    if missing or duplicates:
        sys.exit(f"kafka-bench group: {missing} records missing, {duplicates} delivered twice; members {per_member}")
    child = resource.getrusage(resource.RUSAGE_CHILDREN)

    # The departure: a member closes; the time until another member prints a record of its new assignment.
    members = [KcatMember(i, args, f"bench-depart-{stamp}", ["-X", "enable.auto.offset.store=false"])
               for i in range(args.members)]
    pump(members, lambda: all(m.events and m.first_out for m in members), 120)
    leaver = members[0]
    for m in members:
        m.mark = (len(m.events), len(m.out_times))
    t0 = time.perf_counter()
    leaver.stop()

    def resumed_at(m):
        assigned = [t for t, kind, _ in m.events[m.mark[0]:] if kind == "assigned"]
        if not assigned:
            return None
        after = [t for t in m.out_times[m.mark[1]:] if t >= assigned[0]]
        return after[0] if after else None

    others = members[1:]
    pump(members, lambda: any(resumed_at(m) for m in others), 120)
    departure = min(resumed_at(m) for m in others if resumed_at(m)) - t0
    for m in members:
        m.stop()
    pump(members, lambda: False, 60)
    for m in members:
        m.proc.wait()
    print(json.dumps({"seconds": last - first, "records": total, "payloadBytes": 0,
                      "cpuSeconds": child.ru_utime + child.ru_stime, "client": "kcat",
                      "members": per_member, "departureSeconds": departure,
                      "heartbeatMs": args.heartbeat_ms, "sessionMs": args.session_ms}))


def main():
    import signal

    # `strata bench` starts this script with almost every signal blocked (Foundation's Process passes
    # its threads' mask on), and the kcat children would inherit that: SIGTERM, how the group bench
    # makes a member leave, would never arrive.
    signal.pthread_sigmask(signal.SIG_SETMASK, set())
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    pr = sub.add_parser("produce")
    pr.add_argument("--bootstrap", required=True)
    pr.add_argument("--topic", required=True)
    pr.add_argument("--pool", required=True)
    pr.add_argument("--bytes", type=int, required=True)
    pr.add_argument("--linger-ms", type=int, default=5)
    pr.add_argument("--batch-bytes", type=int, default=65536)
    pr.add_argument("--ssl-ca", default=None, help="connect with TLS, trusting this CA certificate (PEM)")
    fe = sub.add_parser("fetch")
    fe.add_argument("--bootstrap", required=True)
    fe.add_argument("--topic", required=True)
    fe.add_argument("--end", type=int, required=True)
    fe.add_argument("--partition-max-bytes", type=int, default=8 << 20)
    fe.add_argument("--client", choices=["kcat", "confluent"], default=None)
    fe.add_argument("--timeout", type=float, default=600)
    fe.add_argument("--ssl-ca", default=None, help="connect with TLS, trusting this CA certificate (PEM)")
    gr = sub.add_parser("group")
    gr.add_argument("--bootstrap", required=True)
    gr.add_argument("--topic", required=True)
    gr.add_argument("--ends", required=True, help="high watermark of each partition, comma-separated")
    gr.add_argument("--members", type=int, default=4)
    gr.add_argument("--partition-max-bytes", type=int, default=8 << 20)
    gr.add_argument("--heartbeat-ms", type=int, default=1000)
    gr.add_argument("--session-ms", type=int, default=10000)
    gr.add_argument("--timeout", type=float, default=600)
    args = ap.parse_args()
    {"produce": produce, "fetch": fetch, "group": group}[args.mode](args)


if __name__ == "__main__":
    main()
