#!/usr/bin/env python3
"""Writes Kafka golden vectors of the consumer-group APIs (issue 14) to formats/vectors/kafka/.

As tools/kafka-vectors.py does for the other APIs: every request and response is encoded by
kafka-python's own protocol classes (offline, no broker), for every version Strata supports, so
StrataKafka's schemas are checked against another implementation, not against themselves.

Output: group-<api>-v<N>-request.bin / -response.bin (a frame without its 4-byte size prefix)
and group-vectors.json listing each file with the values it was built from, in the field names
of Sources/StrataKafka/Messages (bytes as {"hex": ...}). Rerun after changing this script:
    python3 tools/kafka-group-vectors.py
"""
import importlib.util
import json
import os
import sys

from kafka.protocol.admin import (DeleteGroupsRequest, DeleteGroupsResponse, DescribeGroupsRequest,
                                  DescribeGroupsResponse, ListGroupsRequest, ListGroupsResponse)
from kafka.protocol.consumer import (HeartbeatRequest, HeartbeatResponse, JoinGroupRequest, JoinGroupResponse,
                                     LeaveGroupRequest, LeaveGroupResponse, OffsetCommitRequest,
                                     OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
                                     SyncGroupRequest, SyncGroupResponse)
from kafka.protocol.metadata import FindCoordinatorRequest, FindCoordinatorResponse

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "formats", "vectors", "kafka")


def load_vectors_module():
    spec = importlib.util.spec_from_file_location("kafka_vectors", os.path.join(HERE, "kafka-vectors.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


KV = load_vectors_module()
VECTORS = []
# A consumer protocol subscription and assignment, passed through unread by the server.
SUBSCRIPTION = {"hex": "0001000000010006" + b"orders".hex() + "ffffffff"}
ASSIGNMENT = {"hex": "00010000000100066f72646572730000000200000000000000030000ffffffff"}


def emit(cls, version, body, kind):
    message = cls[version](**KV.build(cls.fields, body))
    message.with_header(correlation_id=KV.CORRELATION_ID, client_id=KV.CLIENT_ID)
    data = message.encode(header=True)
    name = f"group-{cls.__name__[:-len(kind)].lower()}-v{version}-{kind.lower()}.bin"
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    VECTORS.append({"file": name, "apiKey": cls.API_KEY, "version": version, "kind": kind.lower(),
                    "correlationId": KV.CORRELATION_ID, "clientId": KV.CLIENT_ID, "body": body})


def main():
    os.makedirs(OUT, exist_ok=True)
    for v in range(0, 5):
        request = {"Key": "billing", "KeyType": 0}
        if v >= 4:
            request = {"KeyType": 0, "CoordinatorKeys": ["billing", "audit"]}
        emit(FindCoordinatorRequest, v, request, "Request")
        response = {"ThrottleTimeMs": 0, "ErrorCode": 0, "ErrorMessage": None, "NodeId": 1, "Host": "127.0.0.1",
                    "Port": 9092}
        if v >= 4:
            response = {"ThrottleTimeMs": 0, "Coordinators": [
                {"Key": "billing", "NodeId": 1, "Host": "127.0.0.1", "Port": 9092, "ErrorCode": 0,
                 "ErrorMessage": None},
                {"Key": "audit", "NodeId": -1, "Host": "", "Port": -1, "ErrorCode": 15,
                 "ErrorMessage": "no coordinator"}]}
        emit(FindCoordinatorResponse, v, response, "Response")
    for v in range(0, 10):
        request = {"GroupId": "billing", "SessionTimeoutMs": 45000, "RebalanceTimeoutMs": 300000,
                   "MemberId": "rdkafka-5f2c", "GroupInstanceId": "instance-1", "ProtocolType": "consumer",
                   "Protocols": [{"Name": "range", "Metadata": SUBSCRIPTION},
                                 {"Name": "cooperative-sticky", "Metadata": {"hex": "00"}}],
                   "Reason": "rebalance failed"}
        emit(JoinGroupRequest, v, {k: x for k, x in request.items() if not (
            (k == "RebalanceTimeoutMs" and v < 1) or (k == "GroupInstanceId" and v < 5) or
            (k == "Reason" and v < 8))}, "Request")
        members = [{"MemberId": "rdkafka-5f2c", "Metadata": SUBSCRIPTION},
                   {"MemberId": "rdkafka-77aa", "Metadata": {"hex": ""}}]
        if v >= 5:
            members[0]["GroupInstanceId"] = "instance-1"
            members[1]["GroupInstanceId"] = None
        response = {"ThrottleTimeMs": 0, "ErrorCode": 0, "GenerationId": 7, "ProtocolName": "range",
                    "Leader": "rdkafka-5f2c", "MemberId": "rdkafka-5f2c", "Members": members}
        if v >= 7:
            response["ProtocolType"] = "consumer"
        if v >= 9:
            response["SkipAssignment"] = False
        emit(JoinGroupResponse, v, response, "Response")
    for v in range(0, 6):
        request = {"GroupId": "billing", "GenerationId": 7, "MemberId": "rdkafka-5f2c",
                   "Assignments": [{"MemberId": "rdkafka-5f2c", "Assignment": ASSIGNMENT},
                                   {"MemberId": "rdkafka-77aa", "Assignment": {"hex": ""}}]}
        if v >= 3:
            request["GroupInstanceId"] = "instance-1"
        if v >= 5:
            request.update({"ProtocolType": "consumer", "ProtocolName": "range"})
        emit(SyncGroupRequest, v, request, "Request")
        response = {"ThrottleTimeMs": 0, "ErrorCode": 0, "Assignment": ASSIGNMENT}
        if v >= 5:
            response.update({"ProtocolType": "consumer", "ProtocolName": "range"})
        emit(SyncGroupResponse, v, response, "Response")
    for v in range(0, 5):
        request = {"GroupId": "billing", "GenerationId": 7, "MemberId": "rdkafka-5f2c"}
        if v >= 3:
            request["GroupInstanceId"] = None
        emit(HeartbeatRequest, v, request, "Request")
        emit(HeartbeatResponse, v, {"ThrottleTimeMs": 0, "ErrorCode": 27}, "Response")
    for v in range(0, 6):
        if v < 3:
            request = {"GroupId": "billing", "MemberId": "rdkafka-5f2c"}
        else:
            request = {"GroupId": "billing", "Members": [
                {"MemberId": "rdkafka-5f2c", "GroupInstanceId": None},
                {"MemberId": "", "GroupInstanceId": "instance-1"}]}
            if v >= 5:
                request["Members"][0]["Reason"] = "consumer closed"
                request["Members"][1]["Reason"] = None
        emit(LeaveGroupRequest, v, request, "Request")
        response = {"ThrottleTimeMs": 0, "ErrorCode": 0}
        if v >= 3:
            response["Members"] = [{"MemberId": "rdkafka-5f2c", "GroupInstanceId": None, "ErrorCode": 0},
                                   {"MemberId": "", "GroupInstanceId": "instance-1", "ErrorCode": 25}]
        emit(LeaveGroupResponse, v, response, "Response")
    for v in range(2, 9):
        partitions = [{"PartitionIndex": 0, "CommittedOffset": 42, "CommittedMetadata": "checkpoint-9"},
                      {"PartitionIndex": 3, "CommittedOffset": 0, "CommittedMetadata": None}]
        if v >= 6:
            partitions[0]["CommittedLeaderEpoch"] = 5
            partitions[1]["CommittedLeaderEpoch"] = -1
        request = {"GroupId": "billing", "GenerationIdOrMemberEpoch": 7, "MemberId": "rdkafka-5f2c",
                   "Topics": [{"Name": "orders", "Partitions": partitions}]}
        if v <= 4:
            request["RetentionTimeMs"] = 86_400_000
        if v >= 7:
            request["GroupInstanceId"] = "instance-1"
        emit(OffsetCommitRequest, v, request, "Request")
        emit(OffsetCommitResponse, v, {"ThrottleTimeMs": 0, "Topics": [{"Name": "orders", "Partitions": [
            {"PartitionIndex": 0, "ErrorCode": 0}, {"PartitionIndex": 3, "ErrorCode": 3}]}]}, "Response")
    for v in range(1, 9):
        topics = [{"Name": "orders", "PartitionIndexes": [0, 3]}, {"Name": "clicks", "PartitionIndexes": [1]}]
        if v < 8:
            request = {"GroupId": "billing", "Topics": topics}
        else:
            request = {"Groups": [{"GroupId": "billing", "Topics": topics}, {"GroupId": "audit", "Topics": None}]}
        if v >= 7:
            request["RequireStable"] = True
        emit(OffsetFetchRequest, v, request, "Request")
        partitions = [{"PartitionIndex": 0, "CommittedOffset": 42, "Metadata": "checkpoint-9", "ErrorCode": 0},
                      {"PartitionIndex": 3, "CommittedOffset": -1, "Metadata": None, "ErrorCode": 0}]
        if v >= 5:
            partitions[0]["CommittedLeaderEpoch"] = 5
            partitions[1]["CommittedLeaderEpoch"] = -1
        answered = [{"Name": "orders", "Partitions": partitions}]
        if v < 8:
            response = {"ThrottleTimeMs": 0, "Topics": answered}
            if v >= 2:
                response["ErrorCode"] = 0
        else:
            response = {"ThrottleTimeMs": 0, "Groups": [{"GroupId": "billing", "Topics": answered, "ErrorCode": 0},
                                                        {"GroupId": "audit", "Topics": [], "ErrorCode": 14}]}
        emit(OffsetFetchResponse, v, response, "Response")
    for v in range(0, 6):
        request = {"Groups": ["billing", "audit"]}
        if v >= 3:
            request["IncludeAuthorizedOperations"] = False
        emit(DescribeGroupsRequest, v, request, "Request")
        member = {"MemberId": "rdkafka-5f2c", "ClientId": "rdkafka", "ClientHost": "/127.0.0.1",
                  "MemberMetadata": SUBSCRIPTION, "MemberAssignment": ASSIGNMENT}
        if v >= 4:
            member["GroupInstanceId"] = "instance-1"
        group = {"ErrorCode": 0, "GroupId": "billing", "GroupState": "Stable", "ProtocolType": "consumer",
                 "ProtocolData": "range", "Members": [member]}
        dead = {"ErrorCode": 0, "GroupId": "audit", "GroupState": "Dead", "ProtocolType": "", "ProtocolData": "",
                "Members": []}
        if v >= 3:
            group["AuthorizedOperations"] = -2147483648
            dead["AuthorizedOperations"] = -2147483648
        emit(DescribeGroupsResponse, v, {"ThrottleTimeMs": 0, "Groups": [group, dead]}, "Response")
    for v in range(0, 5):
        emit(ListGroupsRequest, v, {"StatesFilter": ["Stable", "Empty"]} if v >= 4 else {}, "Request")
        groups = [{"GroupId": "billing", "ProtocolType": "consumer"}, {"GroupId": "audit", "ProtocolType": ""}]
        if v >= 4:
            groups[0]["GroupState"] = "Stable"
            groups[1]["GroupState"] = "Empty"
        emit(ListGroupsResponse, v, {"ThrottleTimeMs": 0, "ErrorCode": 0, "Groups": groups}, "Response")
    for v in range(0, 3):
        emit(DeleteGroupsRequest, v, {"GroupsNames": ["billing", "audit"]}, "Request")
        emit(DeleteGroupsResponse, v, {"ThrottleTimeMs": 0, "Results": [
            {"GroupId": "billing", "ErrorCode": 68}, {"GroupId": "audit", "ErrorCode": 0}]}, "Response")

    with open(os.path.join(OUT, "group-vectors.json"), "w") as f:
        json.dump({"generator": "tools/kafka-group-vectors.py with kafka-python " + __import__("kafka").__version__,
                   "messages": VECTORS}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(VECTORS)} group messages to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
