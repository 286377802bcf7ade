#!/usr/bin/env python3
"""Writes Kafka golden vectors for StrataKafka's tests to formats/vectors/kafka/.

Every request and response is encoded by kafka-python's own protocol classes (offline, no
broker), and every record batch by its DefaultRecordBatchBuilder, so the Swift codecs are checked
against another implementation, not against themselves. Needs `pip install kafka-python` (3.x),
and for the compressed batches python-snappy, lz4, zstandard and aiokafka (with cramjam).

Output: one .bin per message (a frame without its 4-byte size prefix: header, then body) or
batch, and vectors.json listing each file with the values it was built from, in the field names
of Sources/StrataKafka/Messages (bytes as {"hex": ...}). Rerun after changing this script:
    python3 tools/kafka-vectors.py
"""
import gzip as gzip_module
import json
import os
import sys

from kafka.protocol.admin import (CreateTopicsRequest, CreateTopicsResponse, DeleteTopicsRequest,
                                  DeleteTopicsResponse, DescribeConfigsRequest, DescribeConfigsResponse)
from kafka.protocol.consumer import (FetchRequest, FetchResponse, ListOffsetsRequest, ListOffsetsResponse)
from kafka.protocol.metadata import (ApiVersionsRequest, ApiVersionsResponse, MetadataRequest,
                                     MetadataResponse)
from kafka.protocol.sasl import (SaslAuthenticateRequest, SaslAuthenticateResponse, SaslHandshakeRequest,
                                 SaslHandshakeResponse)
from kafka.protocol.producer import (InitProducerIdRequest, InitProducerIdResponse, ProduceRequest,
                                     ProduceResponse)
import kafka.record.default_records as default_records
from kafka.record.default_records import DefaultRecordBatchBuilder

# kafka-python's gzip stamps the current time into the gzip header; a fixed one keeps the
# vectors reproducible.
default_records.gzip_encode = lambda data: gzip_module.compress(bytes(data), mtime=0)

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "formats", "vectors", "kafka")
CORRELATION_ID = 0x1234
CLIENT_ID = "strata-vectors"


def compressible_records():
    """300 records (about 70 KB uncompressed, more than two xerial blocks) with null keys and
    values, headers and a timestamp before 1970; shared with tools/kafka-capture.py."""
    records = []
    for i in range(300):
        key = None if i == 1 else f"key-{i % 50}".encode()
        value = None if i == 2 else (f"value {i} " + "lorem ipsum dolor " * 11).encode()
        headers = [("seq", str(i).encode())] if i % 3 == 0 else []
        if i == 5:
            headers = [("h-null", None), ("\u00e9t\u00e9", b"\x00\xff")]
        timestamp = -86_400_000 if i == 4 else 1_700_000_000_000 + 7 * i
        records.append((i, timestamp, key, value, headers))
    return records


COMPRESSIBLE_RECORDS = compressible_records()


def compressed_with(codec, encoder):
    """The compressible records, compressed by kafka-python's builder with `encoder` standing in
    for its own codec function (None: kafka-python's own)."""
    name = {1: "gzip_encode", 2: "snappy_encode", 3: "lz4_encode", 4: "zstd_encode"}[codec]
    original = getattr(default_records, name)
    if encoder is not None:
        setattr(default_records, name, encoder)
    try:
        data, _ = batch(compression=codec, records=COMPRESSIBLE_RECORDS)
    finally:
        setattr(default_records, name, original)
    if data[22] & 0x7 != codec:
        raise SystemExit(f"codec {codec}: kafka-python sent the batch uncompressed")
    return data


def batch(compression=0, producer=(1000, 3, 17), records=None):
    """A v2 batch with null keys and values, headers, and timestamps before 1970."""
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=compression, is_transactional=0,
                                        producer_id=producer[0], producer_epoch=producer[1],
                                        base_sequence=producer[2], batch_size=64 << 20)
    records = records or [
        (0, 1_700_000_000_000, b"key-0", b"value-0", []),
        (1, 1_700_000_000_250, None, b"no key", [("h1", b"v1"), ("h2", None)]),
        (2, -86_400_000, b"key-2", None, []),
        (3, 1_700_000_000_100, b"", b"", [("\u00e9t\u00e9", b"\x00\xff")]),
    ]
    for offset, timestamp, key, value, headers in records:
        builder.append(offset, timestamp=timestamp, key=key, value=value, headers=headers)
    listed = [{"timestamp": t, "key": hexed(k), "value": hexed(v),
               "headers": [{"key": hk, "value": hexed(hv)} for hk, hv in h]} for _, t, k, v, h in records]
    return bytes(builder.build()), listed


def compressed_batches():
    """The compressible records uncompressed, then compressed by each codec and encoder variant;
    each decompresses to exactly the uncompressed batch (the builder writes the same header but
    for the codec bits, length and CRC). Bombs: one record of zeros, small compressed, large
    decompressed."""
    import lz4.frame
    import snappy
    import zstandard

    plain, listed = batch(records=COMPRESSIBLE_RECORDS)
    variants = [
        ("gzip", 1, None, "kafka-python gzip_encode (one member, mtime 0)"),
        ("snappy", 2, None, "kafka-python snappy_encode (xerial framing, 32 KiB blocks)"),
        ("lz4", 3, None, "kafka-python lz4_encode (lz4.frame.compress, content size)"),
        ("zstd", 4, None, "kafka-python zstd_encode (zstandard, content size)"),
        ("gzip-members", 1, lambda d: gzip_module.compress(bytes(d[:30000]), mtime=0)
         + gzip_module.compress(bytes(d[30000:]), mtime=0), "two concatenated gzip members"),
        ("snappy-raw", 2, lambda d: snappy.compress(bytes(d)), "python-snappy raw block, no xerial framing"),
        ("lz4-checksums", 3, lambda d: lz4.frame.compress(
            bytes(d), block_size=lz4.frame.BLOCKSIZE_MAX64KB, block_linked=False, content_checksum=True,
            block_checksum=True, store_size=False), "lz4 frame: 64 KiB independent blocks, block and content "
         "checksums, no content size"),
        ("zstd-nosize", 4, lambda d: zstandard.ZstdCompressor(level=19, write_content_size=False).compress(bytes(d)),
         "zstandard level 19 without a content size"),
    ]
    result = {"compressible": {"file": "batch-v2-compressible.bin", "records": listed}}
    with open(os.path.join(OUT, "batch-v2-compressible.bin"), "wb") as f:
        f.write(plain)
    for name, codec, encoder, note in variants:
        data = compressed_with(codec, encoder)
        path = f"batch-v2-compressible-{name}.bin"
        with open(os.path.join(OUT, path), "wb") as f:
            f.write(data)
        result["compressible-" + name] = {"file": path, "compression": codec, "encoder": note,
                                          "decompressesTo": "batch-v2-compressible.bin"}
    # aiokafka's own (Cython) builder, compressing with cramjam: another implementation of the
    # batch and, for snappy (Rust `snap`) and lz4, of the codecs.
    from aiokafka.record.default_records import DefaultRecordBatchBuilder as AioBuilder
    import aiokafka
    import aiokafka.record._crecords.default_records as aio_records
    # aiokafka's gzip stamps the time too (level 9 is its own default).
    aio_records.gzip_encode = lambda data, compresslevel=None: gzip_module.compress(bytes(data), 9, mtime=0)
    for codec, name in ((1, "gzip"), (2, "snappy"), (3, "lz4"), (4, "zstd")):
        builder = AioBuilder(magic=2, compression_type=codec, is_transactional=0, producer_id=-1, producer_epoch=-1,
                             base_sequence=-1, batch_size=64 << 20)
        for offset, timestamp, key, value, headers in COMPRESSIBLE_RECORDS:
            builder.append(offset, timestamp=timestamp, key=key, value=value, headers=headers)
        data = bytes(builder.build())
        if data[22] & 0x7 != codec:
            raise SystemExit(f"aiokafka {name}: sent uncompressed")
        path = f"batch-v2-aiokafka-{name}.bin"
        with open(os.path.join(OUT, path), "wb") as f:
            f.write(data)
        result["aiokafka-" + name] = {"file": path, "compression": codec, "records": "compressible",
                                      "encoder": f"aiokafka {aiokafka.__version__} DefaultRecordBatchBuilder"}
    # A stream with a 128 MiB window and no content size: the decoder would need the whole window.
    def wide_window(data):
        params = zstandard.ZstdCompressionParameters.from_level(3, window_log=27, write_content_size=False)
        stream = zstandard.ZstdCompressor(compression_params=params).compressobj()
        return stream.compress(bytes(data)) + stream.flush()
    data = compressed_with(4, wide_window)
    with open(os.path.join(OUT, "batch-v2-window-zstd.bin"), "wb") as f:
        f.write(data)
    result["window-zstd"] = {"file": "batch-v2-window-zstd.bin", "compression": 4, "windowBytes": 1 << 27,
                             "decompressesTo": "batch-v2-compressible.bin"}
    # Streams without a size that expand far past the first guess, so the output array grows.
    pattern = bytes(range(256)) * 4096
    grow = [(0, 1_700_000_000_000, b"grow", pattern, [])]
    for codec, name, encoder in ((3, "lz4", lambda d: lz4.frame.compress(bytes(d), store_size=False)),
                                 (4, "zstd", lambda d: zstandard.ZstdCompressor(write_content_size=False)
                                  .compress(bytes(d)))):
        original = getattr(default_records, {3: "lz4_encode", 4: "zstd_encode"}[codec])
        setattr(default_records, {3: "lz4_encode", 4: "zstd_encode"}[codec], encoder)
        try:
            data, _ = batch(compression=codec, records=grow)
        finally:
            setattr(default_records, {3: "lz4_encode", 4: "zstd_encode"}[codec], original)
        path = f"batch-v2-grow-{name}.bin"
        with open(os.path.join(OUT, path), "wb") as f:
            f.write(data)
        result["grow-" + name] = {"file": path, "compression": codec, "value": "bytes 0-255 repeated 4096 times",
                                  "decompressedBytes": len(batch(records=grow)[0])}
    for codec, name, size in ((1, "gzip", 8 << 20), (2, "snappy", 2 << 20), (3, "lz4", 8 << 20),
                              (4, "zstd", 8 << 20)):
        data, _ = batch(compression=codec, records=[(0, 1_700_000_000_000, None, bytes(size), [])])
        path = f"batch-v2-bomb-{name}.bin"
        with open(os.path.join(OUT, path), "wb") as f:
            f.write(data)
        result["bomb-" + name] = {"file": path, "compression": codec, "valueBytes": size,
                                  "decompressedBytes": len(batch(records=[(0, 1_700_000_000_000, None,
                                                                            bytes(size), [])])[0])}
    return result


def hexed(value):
    return None if value is None else {"hex": bytes(value).hex()}


def field_map(fields):
    """kafka-python's fields by lower-cased schema name."""
    return {f._json["name"].lower(): (key, f) for key, f in fields.items()}


def build(container_fields, values):
    """kafka-python keyword arguments for `values`, which use this project's field names."""
    kwargs = {}
    fields = field_map(container_fields)
    for name, value in values.items():
        key, field = fields[ALIASES.get(name, name).lower()]
        if field.is_struct_array() and value is not None:
            value = [field.data_class(**build(field.fields, v)) for v in value]
        elif field.is_struct() and value is not None:
            value = field.data_class(**build(field.fields, value))
        elif field._json.get("type") == "bitfield":
            value = {bit for bit in range(32) if (value >> bit) & 1}
        elif isinstance(value, dict) and "hex" in value:
            value = bytes.fromhex(value["hex"])
        kwargs[key] = value
    return kwargs


VECTORS = []
# kafka-python exposes these int32 fields as bitfields under another name.
ALIASES = {"TopicAuthorizedOperations": "authorized_operations",
           "ClusterAuthorizedOperations": "authorized_operations"}


def emit(cls, version, body, kind, suffix=""):
    message = cls[version](**build(cls.fields, body))
    message.with_header(correlation_id=CORRELATION_ID, client_id=CLIENT_ID)
    data = message.encode(header=True)
    name = f"{cls.__name__[:-len(kind)].lower()}-v{version}-{kind.lower()}{suffix}.bin"
    with open(os.path.join(OUT, name), "wb") as f:
        f.write(data)
    VECTORS.append({"file": name, "apiKey": cls.API_KEY, "version": version, "kind": kind.lower(),
                    "correlationId": CORRELATION_ID, "clientId": CLIENT_ID, "body": body})


def main():
    os.makedirs(OUT, exist_ok=True)
    plain, plain_records = batch()
    # Repetitive values, so that kafka-python keeps the compressed form (it sends a batch
    # uncompressed when compression does not make it smaller).
    gzip, _ = batch(compression=1, records=[(i, 1_700_000_000_000 + i, None, b"a" * 200, []) for i in range(20)])
    for name, data in (("batch-v2.bin", plain), ("batch-v2-gzip.bin", gzip)):
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
    batches = {"plain": {"file": "batch-v2.bin", "baseOffset": 0, "producerId": 1000, "producerEpoch": 3,
                         "baseSequence": 17, "records": plain_records},
               "gzip": {"file": "batch-v2-gzip.bin", "compression": 1}}
    batches.update(compressed_batches())

    for v in range(0, 4):
        emit(ApiVersionsRequest, v, {"ClientSoftwareName": "strata-vectors", "ClientSoftwareVersion": "1.0"},
             "Request")
        emit(ApiVersionsResponse, v, {"ErrorCode": 0, "ThrottleTimeMs": 0, "ApiKeys": [
            {"ApiKey": 0, "MinVersion": 3, "MaxVersion": 9}, {"ApiKey": 1, "MinVersion": 4, "MaxVersion": 12}]},
             "Response")
    for v in range(1, 13):
        emit(MetadataRequest, v, {"Topics": [{"Name": "orders"}, {"Name": "clicks"}],
                                  "AllowAutoTopicCreation": False, "IncludeClusterAuthorizedOperations": True,
                                  "IncludeTopicAuthorizedOperations": True}, "Request")
        emit(MetadataResponse, v, {
            "ThrottleTimeMs": 0, "Brokers": [{"NodeId": 0, "Host": "127.0.0.1", "Port": 9092, "Rack": None}],
            "ClusterId": "strata-cluster", "ControllerId": 0,
            "Topics": [{"ErrorCode": 0, "Name": "orders", "IsInternal": False, "TopicAuthorizedOperations": -2147483648,
                        "Partitions": [{"ErrorCode": 0, "PartitionIndex": 0, "LeaderId": 0, "LeaderEpoch": 0,
                                        "ReplicaNodes": [0], "IsrNodes": [0], "OfflineReplicas": []}]}],
            "ClusterAuthorizedOperations": -2147483648}, "Response")
    emit(MetadataRequest, 12, {"Topics": None, "AllowAutoTopicCreation": True}, "Request", "-all-topics")
    for v in range(3, 10):
        emit(ProduceRequest, v, {"TransactionalId": None, "Acks": -1, "TimeoutMs": 30000, "TopicData": [
            {"Name": "orders", "PartitionData": [{"Index": 0, "Records": hexed(plain)},
                                                 {"Index": 3, "Records": None}]}]}, "Request")
        emit(ProduceResponse, v, {"Responses": [{"Name": "orders", "PartitionResponses": [
            {"Index": 0, "ErrorCode": 0, "BaseOffset": 42, "LogAppendTimeMs": -1, "LogStartOffset": 0,
             "RecordErrors": [], "ErrorMessage": None},
            {"Index": 3, "ErrorCode": 2, "BaseOffset": -1, "LogAppendTimeMs": -1, "LogStartOffset": -1,
             "RecordErrors": [{"BatchIndex": 0, "BatchIndexErrorMessage": "crc"}], "ErrorMessage": "corrupt"}]}],
            "ThrottleTimeMs": 0}, "Response")
    for v in range(4, 13):
        request = {"ReplicaId": -1, "MaxWaitMs": 500, "MinBytes": 1, "MaxBytes": 52428800, "IsolationLevel": 0,
                   "SessionId": 0, "SessionEpoch": -1, "Topics": [{"Topic": "orders", "Partitions": [
                       {"Partition": 0, "CurrentLeaderEpoch": -1, "FetchOffset": 42, "LastFetchedEpoch": -1,
                        "LogStartOffset": -1, "PartitionMaxBytes": 1048576}]}],
                   "ForgottenTopicsData": [{"Topic": "clicks", "Partitions": [1, 2]}], "RackId": "rack-a"}
        if v >= 12:
            request["ClusterId"] = "cluster-x"  # a tagged field
        emit(FetchRequest, v, request, "Request")
        response = {"ThrottleTimeMs": 0, "ErrorCode": 0, "SessionId": 0, "Responses": [
            {"Topic": "orders", "Partitions": [
            {"PartitionIndex": 0, "ErrorCode": 0, "HighWatermark": 46, "LastStableOffset": 46, "LogStartOffset": 0,
             "AbortedTransactions": None, "PreferredReadReplica": -1, "Records": hexed(plain)}]}]}
        if v >= 12:
            response["Responses"][0]["Partitions"][0]["CurrentLeader"] = {"LeaderId": 0, "LeaderEpoch": 0}
        emit(FetchResponse, v, response, "Response")
    for v in range(1, 8):
        emit(ListOffsetsRequest, v, {"ReplicaId": -1, "IsolationLevel": 1, "Topics": [{"Name": "orders", "Partitions": [
            {"PartitionIndex": 0, "CurrentLeaderEpoch": 5, "Timestamp": -2},
            {"PartitionIndex": 1, "CurrentLeaderEpoch": -1, "Timestamp": 1_700_000_000_000}]}]}, "Request")
        emit(ListOffsetsResponse, v, {"ThrottleTimeMs": 0, "Topics": [{"Name": "orders", "Partitions": [
            {"PartitionIndex": 0, "ErrorCode": 0, "Timestamp": -1, "Offset": 0, "LeaderEpoch": 0}]}]}, "Response")
    for v in range(0, 5):
        emit(InitProducerIdRequest, v, {"TransactionalId": None, "TransactionTimeoutMs": 60000, "ProducerId": -1,
                                        "ProducerEpoch": -1}, "Request")
        emit(InitProducerIdResponse, v, {"ThrottleTimeMs": 0, "ErrorCode": 0, "ProducerId": 4000,
                                         "ProducerEpoch": 0}, "Response")
    for v in range(2, 6):
        emit(CreateTopicsRequest, v, {"Topics": [{"Name": "orders", "NumPartitions": 4, "ReplicationFactor": 1,
                                                  "Assignments": [], "Configs": [
                                                      {"Name": "retention.ms", "Value": "86400000"},
                                                      {"Name": "segment.bytes", "Value": None}]}],
                                      "TimeoutMs": 30000, "ValidateOnly": False}, "Request")
        result = {"Name": "orders", "ErrorCode": 40, "ErrorMessage": "unknown config x.y"}
        if v >= 5:
            result.update({"NumPartitions": 4, "ReplicationFactor": 1, "TopicConfigErrorCode": 40, "Configs": [
                {"Name": "retention.ms", "Value": "86400000", "ReadOnly": False, "ConfigSource": 1,
                 "IsSensitive": False}]})
        emit(CreateTopicsResponse, v, {"ThrottleTimeMs": 0, "Topics": [result]}, "Response")
    for v in range(1, 5):
        emit(DeleteTopicsRequest, v, {"TopicNames": ["orders", "clicks"], "TimeoutMs": 30000}, "Request")
        emit(DeleteTopicsResponse, v, {"ThrottleTimeMs": 0, "Responses": [
            {"Name": "orders", "ErrorCode": 0}, {"Name": "clicks", "ErrorCode": 3}]}, "Response")
    for v in range(1, 5):
        emit(DescribeConfigsRequest, v, {"Resources": [
            {"ResourceType": 2, "ResourceName": "orders", "ConfigurationKeys": None},
            {"ResourceType": 2, "ResourceName": "clicks", "ConfigurationKeys": ["retention.ms"]}],
            "IncludeSynonyms": True, "IncludeDocumentation": True}, "Request")
        emit(DescribeConfigsResponse, v, {"ThrottleTimeMs": 0, "Results": [
            {"ErrorCode": 0, "ErrorMessage": None, "ResourceType": 2, "ResourceName": "orders", "Configs": [
                {"Name": "retention.ms", "Value": "86400000", "ReadOnly": False, "ConfigSource": 1,
                 "IsSensitive": False, "Synonyms": [], "ConfigType": 5, "Documentation": None}]}]}, "Response")
    for v in range(0, 2):
        emit(SaslHandshakeRequest, v, {"Mechanism": "SCRAM-SHA-256"}, "Request")
        emit(SaslHandshakeResponse, v, {"ErrorCode": 0, "Mechanisms": ["PLAIN", "SCRAM-SHA-256"]}, "Response")
    for v in range(0, 3):
        emit(SaslAuthenticateRequest, v, {"AuthBytes": hexed(b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO")}, "Request")
        emit(SaslAuthenticateResponse, v, {"ErrorCode": 58, "ErrorMessage": "Authentication failed",
                                           "AuthBytes": hexed(b""), "SessionLifetimeMs": 0}, "Response")

    with open(os.path.join(OUT, "vectors.json"), "w") as f:
        json.dump({"generator": "tools/kafka-vectors.py with kafka-python " + __import__("kafka").__version__,
                   "batches": batches, "messages": VECTORS}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(f"wrote {len(VECTORS)} messages and {len(batches)} batches to {os.path.normpath(OUT)}", file=sys.stderr)


if __name__ == "__main__":
    main()
