import Foundation
import Testing

@testable import Strata

/// Issue 12.5, cold tier: a truncated cold object (its footer gone) still yields the records of
/// its whole frames before the cut, then the typed error naming the object.
@Suite struct ColdSalvageTests {
    @Test func aTruncatedColdObjectReturnsItsWholeFramesThenTheError() async throws {
        try await withTempDirectory { dir in
            var options = lakeOptions()
            options.backgroundOffload = false
            let lake = try Lake.open(dir, options: options)
            var config = topicConfig()
            config.coldFrameRawBytes = 4096
            let topic = try lake.topic("c", creatingWith: config)
            for b in 0 ..< 40 { try await topic.append(offsetRecords(from: Int64(b * 50), count: 50)) }
            _ = try await lake.offload(topic: "c", seal: true, evict: true)
            let segment = try #require(try await topic.coldSegments().first)
            let coldRoot = String(lake.coldURL.dropFirst("file://".count))
            try await lake.close()
            let path = coldRoot + "/" + segment.key
            let object = try FileIO.readWholeFile(path)
            let index = try ColdObjectFooter.parse(object: object)
            try #require(index.frames.count >= 4)
            // Cut inside frame 2: frames 0 and 1 are whole, the footer is gone.
            let cut = index.frames[2].objectOffset + index.frames[2].compressedBytes / 2
            try Data(object[..<cut]).write(to: URL(fileURLWithPath: path))

            let reopened = try Lake.open(dir, options: options)
            let cold = try reopened.topic("c")
            var cursor = try await Cursor(topic: cold, start: .earliest)
            var values: [String?] = []
            let error = await strataError {
                while true {
                    let records = try await cursor.next()
                    if records.isEmpty { break }
                    values += records.map { string($0.value) }
                }
            }
            let salvaged = index.frames[1].lastOffset + 1
            #expect(values == (0 ..< salvaged).map { "v\($0)" })
            #expect(error?.code == .corrupt && error?.file == segment.key, "\(String(describing: error))")
            try await reopened.close()
        }
    }
}
