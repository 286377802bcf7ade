import Foundation
import StrataFormat

/// One record of `catalog.log` as `catalog.json` describes it (formats/catalog.md).
struct CatalogRecordDescription: Codable, Equatable {
    var position: Int
    var length: Int
    var kind: String
    var name: String?
    var configID: UInt32?
    var json: String?
    var partitions: Int32?
    var partition: Int32?
    var offset: Int64?
    var topicCount: UInt64?
}

struct CatalogDescription: Codable, Equatable {
    var sequence: UInt64
    /// One past the end-of-snapshot record.
    var snapshotEnd: Int
    var records: [CatalogRecordDescription]
}

/// The records of the catalog vector: a snapshot (two configs' worth of topics, a delete in
/// progress), its end, then one record of every other kind.
func catalogVectorRecords() -> [CatalogRecord] {
    let small = Array(#"{"segmentBytes":1048576}"#.utf8)
    let table = Array(#"{"durability":"async","table":true}"#.utf8)
    return [
        .config(id: 1, json: small),
        .topicCreated(name: "orders", configID: 1, partitions: 3),
        .topicCreated(name: "clicks", configID: 1, partitions: 1),
        .topicCreated(name: "old", configID: 1, partitions: 1),
        .deleteBegun(name: "old"),
        .startOffsetSet(name: "clicks", partition: 0, offset: 100),
        .snapshotEnd(topicCount: 3),
        .config(id: 2, json: table),
        .topicCreated(name: "user-42", configID: 2, partitions: 1),
        .configChanged(name: "clicks", configID: 2),
        .partitionsGrown(name: "orders", partitions: 4),
        .logStartMoved(name: "orders", partition: 2, offset: 10),
        .deleteFinished(name: "old"),
    ]
}

func describeCatalogRecord(_ record: CatalogRecord, position: Int, length: Int) -> CatalogRecordDescription {
    var d = CatalogRecordDescription(position: position, length: length, kind: "\(record.kind)")
    switch record {
    case .config(let id, let json):
        d.configID = id
        d.json = String(decoding: json, as: UTF8.self)
    case .topicCreated(let name, let configID, let partitions):
        (d.name, d.configID, d.partitions) = (name, configID, partitions)
    case .configChanged(let name, let configID): (d.name, d.configID) = (name, configID)
    case .partitionsGrown(let name, let partitions): (d.name, d.partitions) = (name, partitions)
    case .logStartMoved(let name, let partition, let offset), .startOffsetSet(let name, let partition, let offset):
        (d.name, d.partition, d.offset) = (name, partition, offset)
    case .deleteBegun(let name), .deleteFinished(let name): d.name = name
    case .snapshotEnd(let count): d.topicCount = count
    }
    return d
}

/// `catalog.log` (sequence 3) and `catalog.json`.
func generateCatalogVectors(into directory: URL) throws {
    let sequence: UInt64 = 3
    var file = CatalogFormat.encodeFileHeader(sequence: sequence)
    var described: [CatalogRecordDescription] = []
    var snapshotEnd = 0
    for record in catalogVectorRecords() {
        let bytes = CatalogFormat.encode(record)
        described.append(describeCatalogRecord(record, position: file.count, length: bytes.count))
        file += bytes
        if case .snapshotEnd = record { snapshotEnd = file.count }
    }
    try write(file, "catalog.log", in: directory)
    try write(
        [UInt8](try prettyJSON(CatalogDescription(sequence: sequence, snapshotEnd: snapshotEnd, records: described))),
        "catalog.json", in: directory)
}
