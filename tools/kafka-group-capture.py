#!/usr/bin/env python3
"""Captures the group requests librdkafka (through confluent-kafka) sends, for StrataKafka's tests.

As tools/kafka-capture.py does for produce requests: this script is the broker, a minimal Kafka
listener on a free loopback port answering with kafka-python's protocol classes. It advertises
Strata's own versions table, so librdkafka picks the versions it will use against `strata serve`,
and acts as a one-member group coordinator. Two confluent-kafka consumers in turn join group
`capture-group` (one dynamic, one static with group.instance.id), subscribe to `orders`, commit
an offset with metadata and leave. Every group request's frame is kept.
Output: formats/vectors/kafka/group-<client>-<api>-v<N>[-static][-first].bin and group-captured.json
naming the librdkafka version and, per file, the values kafka-python decodes from it (in the
field names of Sources/StrataKafka/Messages). Offline:
    python3 tools/kafka-group-capture.py
"""
import json
import os
import socket
import struct
import sys
import threading
import time

import confluent_kafka
from kafka.protocol.admin import DescribeGroupsRequest, ListGroupsRequest, DeleteGroupsRequest
from kafka.protocol.consumer import (FetchRequest, FetchResponse, HeartbeatRequest, HeartbeatResponse,
                                     JoinGroupRequest, JoinGroupResponse, LeaveGroupRequest, LeaveGroupResponse,
                                     ListOffsetsRequest, ListOffsetsResponse, OffsetCommitRequest,
                                     OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
                                     SyncGroupRequest, SyncGroupResponse)
from kafka.protocol.metadata import (ApiVersionsRequest, ApiVersionsResponse, FindCoordinatorRequest,
                                     FindCoordinatorResponse, MetadataRequest, MetadataResponse)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "formats", "vectors", "kafka")
TOPIC = "orders"
GROUP = "capture-group"
MEMBER = "rdkafka-capture-member"
# Strata's table (Sources/StrataKafka/KafkaApi.swift; Produce advertised from 0 as the server does).
SUPPORTED = {0: (0, 9), 1: (4, 12), 2: (1, 7), 3: (1, 12), 8: (2, 8), 9: (1, 8), 10: (0, 4), 11: (0, 9),
             12: (0, 4), 13: (0, 5), 14: (0, 5), 15: (0, 5), 16: (0, 4), 18: (0, 3), 19: (2, 5), 20: (1, 4),
             22: (0, 4), 32: (1, 4), 42: (0, 2)}
CLASSES = {c.API_KEY: c for c in (
    ApiVersionsRequest, MetadataRequest, FindCoordinatorRequest, JoinGroupRequest, SyncGroupRequest,
    HeartbeatRequest, LeaveGroupRequest, OffsetCommitRequest, OffsetFetchRequest, ListOffsetsRequest,
    FetchRequest, DescribeGroupsRequest, ListGroupsRequest, DeleteGroupsRequest)}
GROUP_KEYS = {8, 9, 10, 11, 12, 13, 14, 15, 16, 42}


def load_vectors_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("kafka_vectors", os.path.join(HERE, "kafka-vectors.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


KV = load_vectors_module()


class Listener:
    def __init__(self):
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(8)
        self.port = self.server.getsockname()[1]
        self.frames = []
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
                response.with_header(correlation_id=correlation_id)
                data = response.encode(header=True)
                connection.sendall(struct.pack(">i", len(data)) + data)
        except (EOFError, BrokenPipeError, ConnectionResetError):
            pass  # the consumer hung up (it closes its fetch connection mid-wait)
        except Exception as error:  # a listener that cannot answer stops the capture
            print(f"kafka-group-capture: {error!r}", file=sys.stderr)
            os._exit(1)
        finally:
            connection.close()

    def answer(self, key, version, frame):
        if key == 18:
            version = min(version, 3)
            return ApiVersionsResponse[version](**KV.build(ApiVersionsResponse.fields, {
                "ErrorCode": 0, "ThrottleTimeMs": 0, "ApiKeys": [
                    {"ApiKey": k, "MinVersion": low, "MaxVersion": high} for k, (low, high) in SUPPORTED.items()]}))
        request = CLASSES[key][version].decode(frame, header=True)
        if key in GROUP_KEYS:
            with self.lock:
                self.frames.append((key, version, frame, request))
        if key == 3:
            body = {"ThrottleTimeMs": 0, "Brokers": [{"NodeId": 1, "Host": "127.0.0.1", "Port": self.port,
                                                      "Rack": None}],
                    "ClusterId": "capture", "ControllerId": 1, "ClusterAuthorizedOperations": -2147483648,
                    "Topics": [{"ErrorCode": 0, "Name": TOPIC, "IsInternal": False,
                                "TopicAuthorizedOperations": -2147483648,
                                "Partitions": [{"ErrorCode": 0, "PartitionIndex": 0, "LeaderId": 1, "LeaderEpoch": 0,
                                                "ReplicaNodes": [1], "IsrNodes": [1], "OfflineReplicas": []}]}]}
            return MetadataResponse[version](**KV.build(MetadataResponse.fields, body))
        if key == 10:
            found = {"ErrorCode": 0, "ErrorMessage": None, "NodeId": 1, "Host": "127.0.0.1", "Port": self.port}
            if version >= 4:
                body = {"ThrottleTimeMs": 0, "Coordinators": [dict(found, Key=k) for k in request.coordinator_keys]}
            else:
                body = dict(found, ThrottleTimeMs=0)
            return FindCoordinatorResponse[version](**KV.build(FindCoordinatorResponse.fields, body))
        if key == 11:
            if version >= 4 and not request.member_id and request.group_instance_id is None:
                body = {"ErrorCode": 79, "GenerationId": -1, "ProtocolName": "", "Leader": "", "MemberId": MEMBER,
                        "Members": []}
            else:
                member = request.member_id or MEMBER
                chosen = request.protocols[0]
                body = {"ErrorCode": 0, "GenerationId": 1, "ProtocolType": "consumer", "ProtocolName": chosen.name,
                        "Leader": member, "MemberId": member, "Members": [
                            {"MemberId": member, "GroupInstanceId": request.group_instance_id,
                             "Metadata": {"hex": bytes(chosen.metadata).hex()}}]}
            return JoinGroupResponse[version](**KV.build(JoinGroupResponse.fields, dict(body, ThrottleTimeMs=0)))
        if key == 14:
            mine = [a.assignment for a in request.assignments if a.member_id == request.member_id]
            body = {"ThrottleTimeMs": 0, "ErrorCode": 0, "ProtocolType": "consumer",
                    "ProtocolName": request.protocol_name if version >= 5 else None,
                    "Assignment": {"hex": bytes(mine[0] if mine else b"").hex()}}
            return SyncGroupResponse[version](**KV.build(SyncGroupResponse.fields, body))
        if key == 12:
            return HeartbeatResponse[version](**KV.build(HeartbeatResponse.fields, {"ThrottleTimeMs": 0,
                                                                                   "ErrorCode": 0}))
        if key == 13:
            body = {"ThrottleTimeMs": 0, "ErrorCode": 0}
            if version >= 3:
                body["Members"] = [{"MemberId": m.member_id, "GroupInstanceId": m.group_instance_id, "ErrorCode": 0}
                                   for m in request.members]
            return LeaveGroupResponse[version](**KV.build(LeaveGroupResponse.fields, body))
        if key == 9:
            def topics(asked):
                return [{"Name": t.name, "Partitions": [
                    {"PartitionIndex": p, "CommittedOffset": -1, "CommittedLeaderEpoch": -1, "Metadata": "",
                     "ErrorCode": 0} for p in t.partition_indexes]} for t in (asked or [])]
            if version >= 8:
                body = {"ThrottleTimeMs": 0, "Groups": [{"GroupId": g.group_id, "Topics": topics(g.topics),
                                                         "ErrorCode": 0} for g in request.groups]}
            else:
                body = {"ThrottleTimeMs": 0, "ErrorCode": 0, "Topics": topics(request.topics)}
            return OffsetFetchResponse[version](**KV.build(OffsetFetchResponse.fields, body))
        if key == 8:
            body = {"ThrottleTimeMs": 0, "Topics": [{"Name": t.name, "Partitions": [
                {"PartitionIndex": p.partition_index, "ErrorCode": 0} for p in t.partitions]} for t in request.topics]}
            return OffsetCommitResponse[version](**KV.build(OffsetCommitResponse.fields, body))
        if key == 2:
            body = {"ThrottleTimeMs": 0, "Topics": [{"Name": t.name, "Partitions": [
                {"PartitionIndex": p.partition_index, "ErrorCode": 0, "Timestamp": -1, "Offset": 0, "LeaderEpoch": 0}
                for p in t.partitions]} for t in request.topics]}
            return ListOffsetsResponse[version](**KV.build(ListOffsetsResponse.fields, body))
        if key == 1:
            time.sleep(min(request.max_wait_ms, 200) / 1000)
            body = {"ThrottleTimeMs": 0, "ErrorCode": 0, "SessionId": 0, "Responses": [
                {"Topic": t.topic, "Partitions": [
                    {"PartitionIndex": p.partition, "ErrorCode": 0, "HighWatermark": 0, "LastStableOffset": 0,
                     "LogStartOffset": 0, "AbortedTransactions": None, "PreferredReadReplica": -1, "Records": {"hex": ""}}
                    for p in t.partitions]} for t in request.topics]}
            return FetchResponse[version](**KV.build(FetchResponse.fields, body))
        raise RuntimeError(f"api {key} v{version} is not answered by this listener")


def run_consumer(listener, static):
    config = {"bootstrap.servers": f"127.0.0.1:{listener.port}", "group.id": GROUP, "enable.auto.commit": False,
              "session.timeout.ms": 6000, "heartbeat.interval.ms": 100, "broker.address.family": "v4",
              "auto.offset.reset": "earliest", "client.id": "capture"}
    if static:
        config["group.instance.id"] = "capture-instance"
    assigned = threading.Event()
    consumer = confluent_kafka.Consumer(config)
    consumer.subscribe([TOPIC], on_assign=lambda c, parts: assigned.set())
    deadline = time.time() + 30
    while not assigned.is_set() and time.time() < deadline:
        consumer.poll(0.1)
    if not assigned.is_set():
        raise SystemExit("the consumer was never assigned its partition")
    # A few heartbeats (every 100 ms), then a commit with metadata.
    until = time.time() + 0.5
    while time.time() < until:
        consumer.poll(0.1)
    consumer.commit(offsets=[confluent_kafka.TopicPartition(TOPIC, 0, 42, metadata="capture-metadata")],
                    asynchronous=False)
    consumer.committed([confluent_kafka.TopicPartition(TOPIC, 0)], timeout=10)
    consumer.close()


def run_aiokafka(listener):
    import asyncio
    from aiokafka import AIOKafkaConsumer, TopicPartition
    from aiokafka.structs import OffsetAndMetadata

    async def consume():
        consumer = AIOKafkaConsumer(TOPIC, bootstrap_servers=f"127.0.0.1:{listener.port}", group_id=GROUP,
                                    client_id="capture", enable_auto_commit=False, heartbeat_interval_ms=100,
                                    session_timeout_ms=6000, auto_offset_reset="earliest")
        await consumer.start()
        try:
            deadline = time.time() + 30
            while not consumer.assignment() and time.time() < deadline:
                await consumer.getmany(timeout_ms=100)
            if not consumer.assignment():
                raise SystemExit("aiokafka was never assigned its partition")
            await asyncio.sleep(0.5)  # a few heartbeats
            await consumer.commit({TopicPartition(TOPIC, 0): OffsetAndMetadata(42, "capture-metadata")})
            await consumer.committed(TopicPartition(TOPIC, 0))
        finally:
            await consumer.stop()

    asyncio.run(consume())


def in_versions(spec, version):
    if spec.endswith("+"):
        return version >= int(spec[:-1])
    low, _, high = spec.partition("-")
    return int(low) <= version <= int(high or low)


def named(fields, value, version):
    """kafka-python's decoded `value` under the field names of Kafka's (and Strata's) schemas,
    only the fields `version` has; bytes as {"hex": ...}."""
    result = {}
    for key, field in fields.items():
        if not in_versions(field._json["versions"], version):
            continue
        item = getattr(value, key)
        if field.is_struct_array() and item is not None:
            item = [named(field.fields, element, version) for element in item]
        elif field.is_struct() and item is not None:
            item = named(field.fields, item, version)
        elif isinstance(item, (bytes, bytearray, memoryview)):
            item = {"hex": bytes(item).hex()}
        result[field._json["name"]] = item
    return result


def main():
    os.makedirs(OUT, exist_ok=True)
    listener = Listener()
    files = {}
    for client, static in (("librdkafka", False), ("librdkafka", True), ("aiokafka", False)):
        with listener.lock:
            listener.frames.clear()
        if client == "aiokafka":
            run_aiokafka(listener)
        else:
            run_consumer(listener, static)
        with listener.lock:
            frames = list(listener.frames)
        for key, version, frame, request in frames:
            name = f"group-{client}-{type(request).__name__[:-len('Request')].lower()}-v{version}"
            if static:
                name += "-static"
            if key == 11 and version >= 4 and not request.member_id:
                name += "-first"
            name += ".bin"
            if name in files:
                continue
            with open(os.path.join(OUT, name), "wb") as f:
                f.write(frame)
            files[name] = {"apiKey": key, "version": version, "static": static, "client": client,
                           "body": named(type(request).fields, request, version)}
    with open(os.path.join(OUT, "group-captured.json"), "w") as f:
        json.dump({"librdkafka": confluent_kafka.libversion()[0], "confluent-kafka": confluent_kafka.version()[0],
                   "aiokafka": __import__("aiokafka").__version__, "files": files}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"captured {len(files)} group requests from librdkafka {confluent_kafka.libversion()[0]} and aiokafka: "
          + ", ".join(sorted(files)), file=sys.stderr)


if __name__ == "__main__":
    main()
