import Foundation
import StrataFormat

/// SplitMix64: seeded, so every random test is reproducible.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

enum Random {
    static let words = ["", "a", "strata", "clé", "日本語", "☃", "🚀", "\u{0}", "x,y", "\"q\"", "\\", "\r\n", "\t/"]

    /// Text built of `words` half the time, arbitrary bytes otherwise.
    static func bytes(_ rng: inout SplitMix, maxCount: Int) -> [UInt8] {
        let count = Int.random(in: 0 ... maxCount, using: &rng)
        if Bool.random(using: &rng) {
            var text = ""
            while text.utf8.count < count { text += words.randomElement(using: &rng) ?? "" }
            return Array(text.utf8)
        }
        return (0 ..< count).map { _ in UInt8.random(in: 0 ... 255, using: &rng) }
    }

    static func nullable(_ rng: inout SplitMix, maxCount: Int) -> [UInt8]? {
        Int.random(in: 0 ..< 5, using: &rng) == 0 ? nil : bytes(&rng, maxCount: maxCount)
    }

    static func record(_ rng: inout SplitMix) -> Record {
        let headers = (0 ..< Int.random(in: 0 ... 3, using: &rng)).map { _ in
            RecordHeader(key: words.randomElement(using: &rng) ?? "k", value: nullable(&rng, maxCount: 20))
        }
        return Record(
            offset: Int64.random(in: 0 ... Int64.max, using: &rng),
            timestamp: Int64.random(in: Int64.min ... Int64.max, using: &rng),
            key: nullable(&rng, maxCount: 30), value: nullable(&rng, maxCount: 300), headers: headers)
    }
}

/// The repository root, found from this file's path.
func repoRoot(_ file: String = #filePath) -> URL {
    URL(fileURLWithPath: file).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

func repoFile(_ path: String) throws -> [UInt8] {
    [UInt8](try Data(contentsOf: repoRoot().appendingPathComponent(path)))
}
