"""Review repro (issue 14): a topic deleted and recreated with the CLI while serve is down keeps its old
committed offsets; a confluent-kafka consumer of the group then skips the new topic's first records.
Usage: python3 tools/review/groups-recreated-topic.py /tmp/empty-lake-dir"""
import subprocess, sys, re, time, signal
import os
B = os.environ.get("STRATA_BIN", ".build/debug/strata"); LAKE = sys.argv[1]
def serve():
    p = subprocess.Popen([B, "serve", "--lake", LAKE, "--listen", "127.0.0.1:0"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    while True:
        l = p.stdout.readline()
        m = re.search(r"listening on 127.0.0.1:(\d+)", l)
        if m: return p, "127.0.0.1:" + m.group(1)
from confluent_kafka import Consumer, TopicPartition, Producer
def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True); print("$", " ".join(cmd[1:]), "->", r.returncode, r.stdout.strip()[:200], r.stderr.strip()[:200])
p, boot = serve()
pr = Producer({"bootstrap.servers": boot}); [pr.produce("t", value=b"old-%d" % i, partition=0) for i in range(8)]; pr.flush(10); del pr
c = Consumer({"bootstrap.servers": boot, "group.id": "app", "enable.auto.commit": False, "auto.offset.reset": "earliest"})
c.assign([TopicPartition("t", 0, 0)]); got = []
while len(got) < 8:
    m = c.poll(5)
    if m and not m.error(): got.append(m.value())
c.commit(asynchronous=False); print("committed", c.committed([TopicPartition("t", 0)], 10)); c.close()
p.send_signal(signal.SIGTERM); p.wait()
run([B, "topics", "delete", "--lake", LAKE, "t"])
run([B, "topics", "create", "--lake", LAKE, "t"])
subprocess.run([B, "produce", "--lake", LAKE, "t"], input="".join("new-%d\n" % i for i in range(10)), text=True, capture_output=True)
run([B, "inspect", "groups", "--lake", LAKE])
p, boot = serve()
c = Consumer({"bootstrap.servers": boot, "group.id": "app", "enable.auto.commit": False, "auto.offset.reset": "earliest"})
c.subscribe(["t"]); got = []; t0 = time.time()
while time.time() - t0 < 15 and len(got) < 10:
    m = c.poll(1)
    if m and not m.error(): got.append(m.value().decode())
print("the group 'app' read from the NEW topic t:", got)
c.close(); p.send_signal(signal.SIGTERM); p.wait()
