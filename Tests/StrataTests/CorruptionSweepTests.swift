import Foundation
import StrataBlob
import StrataFormat
import Testing

@testable import Strata

/// Issue 8 item 4 (ARCHITECTURE.md invariant 7): single bit flips at hundreds of sampled positions
/// (fixed seed) of a sealed hot segment, its index, a cold object (data frames, frame index,
/// seek table) and the latest manifest. After each flip a fresh lake reads every offset,
/// the log start and time lookups, and compares them with what was written. Each flip must be
/// detected (a StrataError naming the damaged file or object and a position) or harmless (every
/// answer right); none may return wrong data.
@Suite("Corruption sweep")
struct CorruptionSweepTests {
    @Test func hotSegmentFlipsAreDetectedOrHarmless() async throws {
        try await CorruptionSweep.withFixture { sweep in
            let tally = try await sweep.run(
                sweep.hotSegment, regions: [("all", 0 ..< sweep.size(sweep.hotSegment))], perRegion: 300)
            #expect(tally.detected > 0)
        }
    }

    @Test func sealedIndexFlipsAreHarmlessBecauseTheIndexIsRebuilt() async throws {
        try await CorruptionSweep.withFixture { sweep in
            let tally = try await sweep.run(
                sweep.sealedIndex, regions: [("all", 0 ..< sweep.size(sweep.sealedIndex))], perRegion: 300)
            #expect(tally.harmless == tally.flips)
        }
    }

    @Test func coldObjectFlipsAreDetectedOrHarmless() async throws {
        try await CorruptionSweep.withFixture { sweep in
            let index = try ColdObjectFooter.parse(
                object: Array(try Data(contentsOf: URL(fileURLWithPath: sweep.coldObject.path))))
            let seekStart = index.objectBytes - index.seekTableBytes
            let regions = [
                ("data frames", 0 ..< index.indexFrameOffset),
                ("frame index", index.indexFrameOffset ..< (index.indexFrameOffset + index.indexFrameBytes)),
                ("seek table", seekStart ..< index.objectBytes),
            ]
            let tally = try await sweep.run(sweep.coldObject, regions: regions, perRegion: 200)
            #expect(tally.detected > 0)
        }
    }

    @Test func manifestFlipsAreDetectedOrHarmless() async throws {
        try await CorruptionSweep.withFixture { sweep in
            let tally = try await sweep.run(
                sweep.manifest, regions: [("all", 0 ..< sweep.size(sweep.manifest))], perRegion: 300)
            #expect(tally.detected > 0)
        }
    }
}

/// A file under test: where it is and how errors may name it.
struct SweepTarget {
    var name: String
    var path: String
    /// Names an error may carry for this file (path, or the object key).
    var names: Set<String>
    /// The manifest carries no checksum of its own: a flip in an entry's object size, CRC or
    /// frame count still decodes, and is caught when the object's footer is checked against
    /// the entry. That error names the object and says the manifest disagrees.
    var crossCheckedByObjects = false
}

struct SweepTally: CustomStringConvertible {
    var flips = 0
    var detected = 0
    /// Detected, but by the cross-check with an object (the error names the object).
    var crossChecked = 0
    var harmless = 0
    var wrong: [String] = []
    var unlocated: [String] = []
    var byRegion: [String: (flips: Int, detected: Int, harmless: Int)] = [:]

    var description: String {
        let regions = byRegion.keys.sorted().map { key in
            let r = byRegion[key] ?? (0, 0, 0)
            return "\(key): flips=\(r.flips) detected=\(r.detected) harmless=\(r.harmless)"
        }.joined(separator: "; ")
        return
            "flips=\(flips) detected=\(detected) (by object cross-check: \(crossChecked)) harmless=\(harmless) "
            + "wrong=\(wrong.count) unlocated=\(unlocated.count) [\(regions)]"
    }
}

struct CorruptionSweep {
    static let topicName = "sweep"
    static let baseTimestamp: Int64 = 1_700_000_000_000
    let dir: String
    let options: LakeOptions
    let highWatermark: Int64
    let hotSegment: SweepTarget
    let sealedIndex: SweepTarget
    let coldObject: SweepTarget
    let manifest: SweepTarget
    /// Pristine copies of every target, restored before each flip.
    let pristine: [String: [UInt8]]

    static func timestamp(_ offset: Int64) -> Int64 { baseTimestamp + offset * 10 }
    static func value(_ offset: Int64) -> [UInt8] {
        Array("rec-\(offset)-\(String(repeating: "abcdefgh", count: Int(offset % 6)))".utf8)
    }

    static func withFixture(_ body: (CorruptionSweep) async throws -> Void) async throws {
        try await withTempDirectory { dir in try await body(try await make(dir)) }
    }

    /// Three cold-only segments, then sealed hot segments (with indexes) not yet offloaded, then
    /// an active segment.
    static func make(_ dir: String) async throws -> CorruptionSweep {
        var options = LakeOptions()
        options.backgroundOffload = false
        options.log = { _ in }
        let lake = try Lake.open(dir, options: options)
        var config = TopicConfig()
        config.segmentBytes = 6000
        config.coldFrameRawBytes = 1500
        config.indexIntervalBytes = 256
        config.localRetentionMs = nil
        let topic = try lake.topic(topicName, creatingWith: config)
        var next: Int64 = 0
        func append(_ count: Int) async throws {
            for _ in 0 ..< (count / 5) {
                let batch = (next ..< (next + 5)).map {
                    ProducerRecord(key: Array("k\($0 % 3)".utf8), value: value($0), timestamp: timestamp($0))
                }
                _ = try await topic.append(batch)
                next += 5
            }
        }
        try await append(240)
        _ = try await lake.offload(topic: topicName, seal: true, evict: true)
        try await append(160)
        try topic.sealActiveSegment()
        try await append(15)
        let cold = try await topic.coldSegments()
        let coldRoot = String(lake.coldURL.dropFirst("file://".count))
        let localStart = topic.segments().first?.baseOffset ?? 0
        let coldOnly = cold.filter { $0.lastOffset < localStart }
        try #require(coldOnly.count >= 3)
        let sealed = try #require(topic.segments().first { $0.sealed })
        let manifestValue = try #require(try await topic.latestManifest(refresh: true))
        let manifestKey = BucketLayout().manifestKey(topic: topicName, version: manifestValue.version)
        try await lake.close()

        let object = coldOnly[1]
        let indexPath = String(sealed.path.dropLast(4)) + ".idx"
        let targets = [
            SweepTarget(name: "hot segment", path: sealed.path, names: [sealed.path]),
            SweepTarget(name: "sealed index", path: indexPath, names: [indexPath, sealed.path]),
            SweepTarget(
                name: "cold object", path: coldRoot + "/" + object.key,
                names: [object.key, coldRoot + "/" + object.key]),
            SweepTarget(
                name: "manifest", path: coldRoot + "/" + manifestKey,
                names: [manifestKey, coldRoot + "/" + manifestKey],
                crossCheckedByObjects: true),
        ]
        var pristine: [String: [UInt8]] = [:]
        for target in targets {
            try #require(
                FileManager.default.fileExists(atPath: target.path), "\(target.name) missing at \(target.path)")
            pristine[target.path] = Array(try Data(contentsOf: URL(fileURLWithPath: target.path)))
        }
        return CorruptionSweep(
            dir: dir, options: options, highWatermark: next, hotSegment: targets[0], sealedIndex: targets[1],
            coldObject: targets[2], manifest: targets[3], pristine: pristine)
    }

    func size(_ target: SweepTarget) -> Int { pristine[target.path]?.count ?? 0 }

    /// Flips one bit at up to `perRegion` sampled positions of each region (every position when
    /// the region is smaller) and records what each flip did.
    func run(_ target: SweepTarget, regions: [(String, Range<Int>)], perRegion: Int) async throws -> SweepTally {
        var random = SeededRandom(seed: 0x5EED_0008 ^ UInt64(target.name.utf8.count))
        var tally = SweepTally()
        for (region, range) in regions {
            var positions = Array(range)
            if positions.count > perRegion {
                positions.shuffle(using: &random)
                positions = Array(positions.prefix(perRegion)).sorted()
            }
            for position in positions {
                let bit = UInt8(1) << UInt8(random.next() % 8)
                let outcome = try await probe(target, position: position, mask: bit)
                tally.flips += 1
                var counts = tally.byRegion[region] ?? (0, 0, 0)
                counts.flips += 1
                switch outcome {
                case .detected(let crossChecked):
                    tally.detected += 1
                    if crossChecked { tally.crossChecked += 1 }
                    counts.detected += 1
                case .harmless:
                    tally.harmless += 1
                    counts.harmless += 1
                case .wrong(let what): tally.wrong.append("\(region) byte \(position) mask \(bit): \(what)")
                case .unlocated(let what): tally.unlocated.append("\(region) byte \(position) mask \(bit): \(what)")
                }
                tally.byRegion[region] = counts
            }
        }
        try restore()
        print("corruption-sweep \(target.name) (\(size(target)) bytes): \(tally)")
        #expect(tally.wrong.isEmpty, "\(target.name): wrong answers \(tally.wrong.prefix(10))")
        #expect(
            tally.unlocated.isEmpty,
            "\(target.name): errors not naming the file and position \(tally.unlocated.prefix(10))")
        return tally
    }

    enum Outcome {
        case detected(crossChecked: Bool)
        case harmless
        case wrong(String)
        case unlocated(String)
    }

    private func restore() throws {
        for (path, bytes) in pristine { try Data(bytes).write(to: URL(fileURLWithPath: path)) }
        // The lake keeps a copy of the latest manifest; without it every open reads the store's.
        try? FileManager.default.removeItem(atPath: LakePaths(root: dir).topicManifestCopy(Self.topicName))
    }

    private func probe(_ target: SweepTarget, position: Int, mask: UInt8) async throws -> Outcome {
        try restore()
        var damaged = pristine[target.path] ?? []
        damaged[position] ^= mask
        try Data(damaged).write(to: URL(fileURLWithPath: target.path))
        let lake: Lake
        do { lake = try Lake.open(dir, options: options) } catch { return classify(error, target) }
        let outcome: Outcome
        do {
            let problem = try await check(try lake.topic(Self.topicName))
            outcome = problem.map { .wrong($0) } ?? .harmless
        } catch {
            outcome = classify(error, target)
        }
        try await lake.close()
        return outcome
    }

    private func classify(_ error: any Error, _ target: SweepTarget) -> Outcome {
        guard let error = error as? StrataError else { return .unlocated("not a StrataError: \(error)") }
        if target.crossCheckedByObjects, error.code == .corrupt, let file = error.file,
            file.hasPrefix(BucketLayout().segmentPrefix(topic: Self.topicName)), error.message.contains("the manifest")
        {
            return .detected(crossChecked: true)
        }
        guard let file = error.file, target.names.contains(file), error.position != nil else {
            return .unlocated("\(error)")
        }
        return .detected(crossChecked: false)
    }

    /// Every answer the topic gives, compared with what was written; a description of the
    /// first wrong one, nil when all are right.
    private func check(_ topic: Topic) async throws -> String? {
        if topic.highWatermark != highWatermark {
            return "high watermark \(topic.highWatermark), wrote \(highWatermark)"
        }
        let start = try await topic.logStartOffset()
        if start != 0 { return "log start \(start), expected 0" }
        var offset: Int64 = 0
        while offset < highWatermark {
            let read = try await topic.read(from: offset)
            if read.records.isEmpty { return "read at \(offset) returned nothing" }
            for (i, record) in read.records.enumerated() {
                let expected = offset + Int64(i)
                guard record.offset == expected, record.value == Self.value(expected),
                    record.timestamp == Self.timestamp(expected), record.key == Array("k\(expected % 3)".utf8)
                else {
                    return
                        "record at \(expected) differs: offset \(record.offset) value \(string(record.value) ?? "nil")"
                }
            }
            offset = read.nextOffset
        }
        for probe in stride(from: Int64(0), to: highWatermark, by: 7) {
            for timestamp in [Self.timestamp(probe), Self.timestamp(probe) - 3] {
                let found = try await topic.offset(forTimestamp: timestamp)
                if found != probe { return "offset(forTimestamp: \(timestamp)) = \(found), expected \(probe)" }
            }
        }
        let past = try await topic.offset(forTimestamp: Self.timestamp(highWatermark))
        if past != highWatermark { return "offset(forTimestamp:) past the end = \(past), expected \(highWatermark)" }
        return nil
    }
}
