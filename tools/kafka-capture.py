#!/usr/bin/env python3
"""Captures record batches compressed by librdkafka (through confluent-kafka) for StrataKafka's tests.

confluent-kafka never hands out the bytes it sends, so this script is the broker: a minimal Kafka
listener on a free loopback port answers ApiVersions, Metadata and Produce (one broker, one
partition) using kafka-python's protocol classes, and keeps the `Records` of every Produce request.
A confluent-kafka producer with `compression.type=X` sends the record set of
formats/vectors/kafka/vectors.json's "compressible" batch (see tools/kafka-vectors.py) for each codec.
Output: formats/vectors/kafka/batch-v2-librdkafka-<codec>.bin, and librdkafka.json naming the
librdkafka version and the files. Rerun after changing the record set (offline, no real broker):
    python3 tools/kafka-capture.py
"""
import importlib.util
import json
import os
import socket
import struct
import sys
import threading

import confluent_kafka
from kafka.protocol.metadata import ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse
from kafka.protocol.producer import ProduceRequest, ProduceResponse

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "formats", "vectors", "kafka")
TOPIC = "captured"
# What this listener claims: librdkafka writes v2 batches only to brokers with Produce 3+ and
# Fetch 4+, zstd only with Produce 7+ and Fetch 10+, lz4 only with FindCoordinator (its marker for
# brokers from 0.8.2 on). Fetch and FindCoordinator are claimed, never answered.
SUPPORTED = {ApiVersionsRequest.API_KEY: (0, 3), MetadataRequest.API_KEY: (1, 8), ProduceRequest.API_KEY: (3, 8),
             1: (4, 11), 10: (0, 2)}
CLASSES = {ApiVersionsRequest.API_KEY: (ApiVersionsRequest, ApiVersionsResponse),
           MetadataRequest.API_KEY: (MetadataRequest, MetadataResponse),
           ProduceRequest.API_KEY: (ProduceRequest, ProduceResponse)}


def load_vectors_module():
    spec = importlib.util.spec_from_file_location("kafka_vectors", os.path.join(HERE, "kafka-vectors.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Listener:
    def __init__(self, vectors):
        self.vectors = vectors
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self.batches = []
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            connection, _ = self.server.accept()
            threading.Thread(target=self.serve, args=(connection,), daemon=True).start()

    @staticmethod
    def read_exactly(connection, count):
        data = b""
        while len(data) < count:
            chunk = connection.recv(count - len(data))
            if not chunk:
                raise EOFError
            data += chunk
        return data

    def serve(self, connection):
        try:
            while True:
                size, = struct.unpack(">i", self.read_exactly(connection, 4))
                frame = self.read_exactly(connection, size)
                api_key, version, correlation_id = struct.unpack(">hhi", frame[:8])
                response = self.answer(api_key, version, frame)
                if response is None:
                    continue
                response.with_header(correlation_id=correlation_id)
                data = response.encode(header=True)
                connection.sendall(struct.pack(">i", len(data)) + data)
        except EOFError:
            pass
        except Exception as error:  # a listener that cannot answer stops the capture
            print(f"kafka-capture: {error!r}", file=sys.stderr)
            os._exit(1)
        finally:
            connection.close()

    def answer(self, api_key, version, frame):
        request_class, response_class = CLASSES[api_key]
        if api_key == ApiVersionsRequest.API_KEY:
            if version > SUPPORTED[api_key][1]:
                version = 0
            body = {"ErrorCode": 0, "ThrottleTimeMs": 0, "ApiKeys": [
                {"ApiKey": key, "MinVersion": low, "MaxVersion": high} for key, (low, high) in SUPPORTED.items()]}
        elif api_key == MetadataRequest.API_KEY:
            body = {"ThrottleTimeMs": 0, "Brokers": [{"NodeId": 0, "Host": "127.0.0.1", "Port": self.port,
                                                      "Rack": None}],
                    "ClusterId": "capture", "ControllerId": 0, "ClusterAuthorizedOperations": -2147483648,
                    "Topics": [{"ErrorCode": 0, "Name": TOPIC, "IsInternal": False,
                                "TopicAuthorizedOperations": -2147483648,
                                "Partitions": [{"ErrorCode": 0, "PartitionIndex": 0, "LeaderId": 0, "LeaderEpoch": 0,
                                                "ReplicaNodes": [0], "IsrNodes": [0], "OfflineReplicas": []}]}]}
        else:
            request = request_class[version].decode(frame, header=True)
            with self.lock:
                for topic in request.topic_data:
                    for partition in topic.partition_data:
                        self.batches.append(bytes(partition.records))
            if request.acks == 0:
                return None
            body = {"ThrottleTimeMs": 0, "Responses": [{"Name": t.name, "PartitionResponses": [
                {"Index": p.index, "ErrorCode": 0, "BaseOffset": 0, "LogAppendTimeMs": -1, "LogStartOffset": 0,
                 "RecordErrors": [], "ErrorMessage": None} for p in t.partition_data]} for t in request.topic_data]}
        return response_class[version](**self.vectors.build(response_class.fields, body))


def capture(listener, codec, records):
    producer = confluent_kafka.Producer({
        "bootstrap.servers": f"127.0.0.1:{listener.port}", "compression.type": codec, "linger.ms": 200,
        "batch.num.messages": 100000, "batch.size": 16 * 1024 * 1024, "acks": 1, "enable.idempotence": False,
        "broker.address.family": "v4"})
    for timestamp, key, value, headers in records:
        producer.produce(TOPIC, value=value, key=key, timestamp=timestamp, headers=headers or None)
    left = producer.flush(30)
    if left:
        raise SystemExit(f"{codec}: {left} messages not delivered")
    with listener.lock:
        batches, listener.batches[:] = list(listener.batches), []
    if len(batches) != 1:
        raise SystemExit(f"{codec}: expected one batch, captured {len(batches)}")
    return batches[0]


def main():
    vectors = load_vectors_module()
    records = vectors.COMPRESSIBLE_RECORDS
    listener = Listener(vectors)
    files = {}
    for codec in ("gzip", "snappy", "lz4", "zstd"):
        data = capture(listener, codec, [(t, k, v, h) for _, t, k, v, h in records])
        name = f"batch-v2-librdkafka-{codec}.bin"
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        files[codec] = name
    version, _ = confluent_kafka.libversion()
    with open(os.path.join(OUT, "librdkafka.json"), "w") as f:
        json.dump({"generator": f"tools/kafka-capture.py with librdkafka {version} "
                                f"(confluent-kafka {confluent_kafka.version()[0]})",
                   "records": "vectors.json batches.compressible", "files": files}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"captured {len(files)} batches from librdkafka {version} in {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
