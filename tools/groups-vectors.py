#!/usr/bin/env python3
"""Writes formats/vectors/groups.bin and groups.json from formats/groups.md.

An encoder independent of the Swift one (Sources/StrataFormat/GroupRecords.swift), written from
the spec's tables, so GroupRecordVectorTests checks the Swift codec against the spec and not
against itself. Standard library only (CRC32C is computed here). Rerun after a format change:
    python3 tools/groups-vectors.py

groups.bin is a sequence of records, each: u32 key length, key, i32 value length (-1: null),
value. groups.json lists each record's values in order ("type" names the record), bytes as hex,
and the entries of the checkpoint's state.
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "formats", "vectors")
VERSION = 1


def crc32c(data):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        table.append(c)
    crc = 0xFFFFFFFF
    for b in data:
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def string(text):
    raw = text.encode("utf-8")
    assert len(raw) <= 32767
    return struct.pack("<h", len(raw)) + raw


def nullable_string(text):
    return struct.pack("<h", -1) if text is None else string(text)


def byte_string(raw):
    return struct.pack("<I", len(raw)) + raw


def key_of(record):
    t = record["type"]
    head = bytes([VERSION])
    if t in ("offsetCommit", "offsetTombstone"):
        return head + bytes([0]) + string(record["group"]) + string(record["topic"]) + struct.pack(
            "<i", record["partition"])
    if t in ("groupMetadata", "groupTombstone"):
        return head + bytes([1]) + string(record["group"])
    if t == "topicTombstone":
        return head + bytes([2]) + string(record["topic"])
    if t.startswith("checkpoint"):
        return head + bytes([3]) + struct.pack("<q", record["id"])
    raise ValueError(t)


def value_of(record):
    t = record["type"]
    head = bytes([VERSION])
    if t == "offsetCommit":
        return head + struct.pack("<qi", record["offset"], record["leaderEpoch"]) + string(
            record["metadata"]) + struct.pack("<q", record["commitTimestampMs"])
    if t == "groupMetadata":
        out = head + string(record["protocolType"]) + struct.pack("<i", record["generation"])
        out += nullable_string(record["protocolName"]) + nullable_string(record["leader"])
        out += struct.pack("<q", record["stateTimestampMs"]) + struct.pack("<I", len(record["members"]))
        for m in record["members"]:
            out += string(m["memberId"]) + nullable_string(m["groupInstanceId"]) + string(m["clientId"])
            out += string(m["clientHost"]) + struct.pack("<ii", m["rebalanceTimeoutMs"], m["sessionTimeoutMs"])
            out += byte_string(bytes.fromhex(m["subscriptionHex"])) + byte_string(bytes.fromhex(m["assignmentHex"]))
        return out
    if t == "checkpointBegin":
        return head + bytes([0]) + struct.pack("<IQI", record["chunkCount"], record["stateBytes"], record["stateCrc"])
    if t == "checkpointChunk":
        return head + bytes([1]) + struct.pack("<I", record["index"]) + byte_string(bytes.fromhex(record["bytesHex"]))
    if t == "checkpointEnd":
        return head + bytes([2]) + struct.pack("<I", record["chunkCount"])
    return None  # tombstones


def kafka_string(text):
    raw = text.encode("utf-8")
    return struct.pack(">h", len(raw)) + raw


def consumer_subscription(topics):
    """Kafka's ConsumerProtocol Subscription v0 (big-endian): version, topics, user data."""
    return struct.pack(">hi", 0, len(topics)) + b"".join(kafka_string(t) for t in topics) + struct.pack(">i", -1)


def consumer_assignment(partitions, user_data=b""):
    """Kafka's ConsumerProtocol Assignment v0: version, [(topic, [partition])], user data."""
    out = struct.pack(">hi", 0, len(partitions))
    for topic, numbers in partitions:
        out += kafka_string(topic) + struct.pack(">i", len(numbers)) + b"".join(struct.pack(">i", n) for n in numbers)
    return out + struct.pack(">i", len(user_data)) + user_data


def main():
    metadata = {
        "type": "groupMetadata", "group": "paiements-é", "protocolType": "consumer", "generation": 7,
        "protocolName": "range", "leader": "rdkafka-1f2e",
        "stateTimestampMs": 1_700_000_123_456,
        "members": [
            {"memberId": "rdkafka-1f2e", "groupInstanceId": "pod-0", "clientId": "rdkafka",
             "clientHost": "/127.0.0.1", "rebalanceTimeoutMs": 300_000, "sessionTimeoutMs": 45_000,
             "subscriptionHex": consumer_subscription(["orders"]).hex(),
             "assignmentHex": consumer_assignment([("orders", [0, 2])]).hex()},
            {"memberId": "kafka-python-9a", "groupInstanceId": None, "clientId": "kp",
             "clientHost": "/10.0.0.2", "rebalanceTimeoutMs": 60_000, "sessionTimeoutMs": 10_000,
             "subscriptionHex": consumer_subscription(["orders"]).hex(),
             "assignmentHex": consumer_assignment([("orders", [1, 3])], b"\x00\xff").hex()},
        ],
    }
    empty = {
        "type": "groupMetadata", "group": "idle", "protocolType": "consumer", "generation": 12,
        "protocolName": None, "leader": None, "stateTimestampMs": -5, "members": [],
    }
    commit = {"type": "offsetCommit", "group": "paiements-é", "topic": "orders", "partition": 2,
              "offset": 41_000_000_000, "leaderEpoch": -1, "metadata": "", "commitTimestampMs": 1_700_000_123_999}
    commit_with_metadata = {"type": "offsetCommit", "group": "paiements-é", "topic": "orders.v2",
                            "partition": 0, "offset": 0, "leaderEpoch": 3, "metadata": "ck=☃ 12",
                            "commitTimestampMs": 1_700_000_124_000}
    state_entries = [metadata, commit, commit_with_metadata]
    state = bytes([VERSION]) + struct.pack("<I", len(state_entries))
    for entry in state_entries:
        k, v = key_of(entry), value_of(entry)
        state += struct.pack("<I", len(k)) + k + struct.pack("<I", len(v)) + v
    split = len(state) // 2
    chunks = [state[:split], state[split:]]
    checkpoint_id = 3
    records = [
        commit,
        {"type": "offsetTombstone", "group": "paiements-é", "topic": "orders", "partition": 1},
        metadata,
        empty,
        {"type": "groupTombstone", "group": "gone"},
        {"type": "topicTombstone", "topic": "deleted_topic-1"},
        {"type": "checkpointBegin", "id": checkpoint_id, "chunkCount": 2, "stateBytes": len(state),
         "stateCrc": crc32c(state)},
    ] + [
        {"type": "checkpointChunk", "id": checkpoint_id, "index": i, "bytesHex": chunk.hex()}
        for i, chunk in enumerate(chunks)
    ] + [
        {"type": "checkpointEnd", "id": checkpoint_id, "chunkCount": 2},
        commit_with_metadata,
    ]
    out = b""
    for record in records:
        k, v = key_of(record), value_of(record)
        out += struct.pack("<I", len(k)) + k
        out += struct.pack("<i", -1) if v is None else struct.pack("<i", len(v)) + v
    with open(os.path.join(OUT, "groups.bin"), "wb") as f:
        f.write(out)
    with open(os.path.join(OUT, "groups.json"), "w") as f:
        json.dump({"records": records, "checkpointState": state_entries}, f, indent=2, ensure_ascii=False)
        f.write("\n")


if __name__ == "__main__":
    main()
