import Foundation
import StrataBlob
import Testing

@testable import StrataFormat

/// The project's seeded generator, so every random test is reproducible.
typealias SeededRNG = SplitMix64

/// The error a typed-throwing body threw, or nil when it returned.
func formatError<T>(_ body: () throws(FormatError) -> T) -> FormatError? {
    do {
        _ = try body()
        return nil
    } catch {
        return error
    }
}

enum Random {
    static let words = ["", "a", "strata", "clé", "日本語", "☃", "🚀", "ключ", "\u{0}", "x y"]

    static func bytes(_ rng: inout SeededRNG, maxCount: Int) -> [UInt8] {
        let count = Int.random(in: 0 ... maxCount, using: &rng)
        if Bool.random(using: &rng) {
            var text = ""
            while text.utf8.count < count { text += words.randomElement(using: &rng) ?? "" }
            return Array(text.utf8)
        }
        return (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
    }

    static func nullable(_ rng: inout SeededRNG, maxCount: Int) -> [UInt8]? {
        Int.random(in: 0 ..< 5, using: &rng) == 0 ? nil : bytes(&rng, maxCount: maxCount)
    }

    static func timestamp(_ rng: inout SeededRNG, near base: Int64) -> Int64 {
        switch Int.random(in: 0 ..< 10, using: &rng) {
        case 0: return Int64.random(in: Int64.min ... Int64.max, using: &rng)
        case 1: return Int64.random(in: -2_000_000_000_000 ... 0, using: &rng)
        default: return base &+ Int64.random(in: -10_000 ... 10_000, using: &rng)
        }
    }

    static func record(_ rng: inout SeededRNG, timestampBase: Int64, maxValueBytes: Int = 300) -> Record {
        let headerCount = Int.random(in: 0 ... 3, using: &rng)
        let headers = (0 ..< headerCount).map { _ in
            RecordHeader(key: words.randomElement(using: &rng) ?? "k", value: nullable(&rng, maxCount: 20))
        }
        return Record(
            timestamp: timestamp(&rng, near: timestampBase), key: nullable(&rng, maxCount: 30),
            value: nullable(&rng, maxCount: maxValueBytes), headers: headers)
    }

    static func records(_ rng: inout SeededRNG, maxCount: Int = 8, timestampBase: Int64 = 1_700_000_000_000) -> [Record]
    {
        (0 ..< Int.random(in: 1 ... maxCount, using: &rng)).map { _ in record(&rng, timestampBase: timestampBase) }
    }

    /// A whole segment file and the records of each batch.
    static func segment(
        _ rng: inout SeededRNG, baseOffset: Int64, batchCount: Int
    ) -> (bytes: [UInt8], batches: [[Record]]) {
        var bytes = SegmentHeader(baseOffset: baseOffset, createdMs: 1_700_000_000_000).encode()
        var next = baseOffset
        var batches: [[Record]] = []
        for _ in 0 ..< batchCount {
            let records = Random.records(&rng)
            bytes += BatchCodec.encode(baseOffset: next, records: records)
            next += Int64(records.count)
            batches.append(records)
        }
        return (bytes, batches)
    }
}

/// The repository root, found from this file's path.
func repoRoot(_ file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

func vector(_ name: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: repoRoot().appendingPathComponent("formats/vectors/\(name)")))
}

func flipped(_ bytes: [UInt8], bit: Int) -> [UInt8] {
    var copy = bytes
    copy[bit / 8] ^= UInt8(1) << UInt8(bit % 8)
    return copy
}
