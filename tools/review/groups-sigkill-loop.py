"""SIGKILL strata serve at random moments while a standalone consumer commits big offset sets
(kafka-python, generation -1) so that checkpoints span several batches and trims run; after each
restart, every acknowledged commit must be there, whole (one batch: all partitions equal).
Also runs `strata inspect groups` beside the running serve and checks what it reads. Passed on main (25 rounds;
kills landed in torn 4.8 MB commit batches). Usage: python3 tools/review/groups-sigkill-loop.py /tmp/empty-lake-dir 25"""
import os, random, signal, subprocess, sys, threading, time, json, re

BIN = os.environ.get("STRATA_BIN", ".build/debug/strata")
LAKE = sys.argv[1]
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 6
PARTS = int(os.environ.get("PARTS", "1200"))
META = int(os.environ.get("META", "4000"))
from kafka import KafkaConsumer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata

def start(port=0):
    p = subprocess.Popen([BIN, "serve", "--lake", LAKE, "--listen", f"127.0.0.1:{port}"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines = []
    while True:
        line = p.stdout.readline()
        if not line:
            raise SystemExit("serve exited: " + "".join(lines))
        lines.append(line)
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if m and "listen" in line.lower():
            port = int(m.group(1))
            break
    log = []
    threading.Thread(target=lambda: [log.append(l) for l in p.stdout], daemon=True).start()
    for l in lines:
        if "consumer_offsets" in l or "interrupted" in l:
            print("  serve start:", l.strip()[:300], flush=True)
    return p, port, log

os.makedirs(LAKE, exist_ok=True)
p, port, log = start()
boot = f"127.0.0.1:{port}"
admin = KafkaAdminClient(bootstrap_servers=boot)
try:
    admin.create_topics([NewTopic("t", PARTS, 1)])
except Exception as e:
    print("create:", e)
admin.close()
tps = [TopicPartition("t", i) for i in range(PARTS)]
READER_FAIL = []
READS = []
acked = 0   # the last acknowledged commit value
k = 0
for rnd in range(ROUNDS):
    c = KafkaConsumer(bootstrap_servers=boot, group_id="crash", enable_auto_commit=False,
                      request_timeout_ms=30000)
    # verify what survived
    got = {}
    for tp in tps:
        om = c.committed(tp, metadata=True) if False else c.committed(tp)
        got[tp.partition] = om
    vals = set(got.values())
    print(f"round {rnd}: acked {acked}, in flight {k}, stored {sorted(v for v in vals if v is not None)[:5]}", flush=True)
    assert len(vals) == 1, f"commit not atomic: {len(vals)} distinct values {sorted(vals, key=str)[:10]}"
    v = vals.pop()
    if acked:
        assert v is not None and v in (acked, k), f"stored {v}, acked {acked}, in flight {k}"
    acked = v or 0
    k = acked
    killer_delay = random.uniform(0.3, 3.0)
    killed = threading.Event()
    def killer():
        time.sleep(killer_delay)
        p.send_signal(signal.SIGKILL)
        killed.set()
    threading.Thread(target=killer, daemon=True).start()
    def reader():
        while not killed.is_set():
            lo = acked
            r = subprocess.run([BIN, "inspect", "groups", "--lake", LAKE, "--json", "--group", "crash"], capture_output=True, text=True)
            hi = k
            if killed.is_set():
                return
            if r.returncode != 0:
                print("  READER FAILED", r.returncode, r.stderr[:2000], flush=True)
                READER_FAIL.append(r.stderr)
                continue
            g = json.loads(r.stdout)
            vals = set(o["offset"] for o in g["offsets"])
            if len(vals) != 1 or not (lo <= min(vals) and max(vals) <= hi):
                print("  READER WRONG", sorted(vals)[:5], lo, hi, flush=True)
                READER_FAIL.append(str(vals))
            READS.append(1)
    threading.Thread(target=reader, daemon=True).start()
    try:
        while not killed.is_set():
            k = acked + 1
            c.commit({tp: OffsetAndMetadata(k, "m" * META, -1) for tp in tps})
            acked = k
    except Exception as e:
        print(f"  commit {k} failed: {type(e).__name__}", flush=True)
    p.wait()
    try:
        c.close(autocommit=False)
    except Exception:
        pass
    out = subprocess.run([BIN, "inspect", "topic", "--lake", LAKE, "__consumer_offsets"], capture_output=True, text=True)
    p, port2, log = start(port)
    boot = f"127.0.0.1:{port2}"
    time.sleep(0.5)
    for l in log:
        if "consumer_offsets" in l or "recover" in l.lower() or "torn" in l.lower():
            print("  serve:", l.strip()[:300], flush=True)
p.send_signal(signal.SIGKILL); p.wait()
print("ok", acked, "reads", len(READS), "reader failures", len(READER_FAIL))
