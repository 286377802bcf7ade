import Foundation
import StrataParquet
import Testing

@testable import StrataIceberg

/// formats/vectors/table/iceberg/orders (tools/gen-vectors): the table of `IcebergTableVector`
/// with uncompressed data files, reproduced byte for byte; its Avro files decode with the
/// manifest schemas, and its data files hold the records the manifests count.
@Suite struct IcebergVectorTests {
    static let root = repoRoot().appendingPathComponent("formats/vectors/table/iceberg/orders")
    static let location = "s3://strata-vectors/tables/orders"

    func storedFiles() throws -> [String] {
        let enumerator = FileManager.default.enumerator(atPath: Self.root.path)
        var paths: [String] = []
        while let path = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(
                atPath: Self.root.appendingPathComponent(path).path, isDirectory: &isDirectory),
                !isDirectory.boolValue
            {
                paths.append(path)
            }
        }
        return paths.sorted()
    }

    @Test func vectorIsReproduced() throws {
        let vector = try IcebergTableVector(location: Self.location, codec: .uncompressed)
        #expect(vector.files.map(\.path).sorted() == (try storedFiles()))
        for (path, bytes) in vector.files {
            let stored = [UInt8](try Data(contentsOf: Self.root.appendingPathComponent(path)))
            #expect(stored == bytes, "\(path) is not reproduced: \(bytes.count) vs \(stored.count) bytes")
        }
    }

    @Test func vectorDecodes() throws {
        var manifestRows: Int64 = 0
        for path in try storedFiles() where path.hasSuffix(".avro") {
            let file = try AvroContainer.decode([UInt8](try Data(contentsOf: Self.root.appendingPathComponent(path))))
            let isList = path.hasPrefix("metadata/snap-")
            #expect(file.schema == (isList ? IcebergSchema.manifestFile : IcebergSchema.manifestEntry), "\(path)")
            #expect(file.metadata("avro.codec") == "null" && file.metadata("format-version") == "2")
            if path.hasSuffix("-000000000002-m0.avro") {
                for case .record(let entry) in file.values {
                    guard case .record(let dataFile) = entry[4], case .long(let rows) = dataFile[4] else { continue }
                    manifestRows += rows
                    guard case .string(let filePath) = dataFile[1] else { continue }
                    let local = Self.root.appendingPathComponent(String(filePath.dropFirst(Self.location.count + 1)))
                    let (_, records) = try RecordTableReader.records([UInt8](try Data(contentsOf: local)))
                    #expect(Int64(records.count) == rows)
                }
            }
        }
        #expect(manifestRows == 15)
        let hint = try String(
            contentsOf: Self.root.appendingPathComponent("metadata/version-hint.text"), encoding: .utf8)
        #expect(hint == "3")
        let metadata = try JSONValue.parse(
            [UInt8](try Data(contentsOf: Self.root.appendingPathComponent("metadata/v3.metadata.json"))), field: "v3")
        #expect(metadata["location"] == .string(Self.location))
        #expect(metadata["snapshots"]?.arrayValue?.count == 3)
    }
}
