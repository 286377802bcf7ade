import Foundation
import StrataBlob
import StrataFormat
import StrataTesting
import Testing

@testable import Strata

/// Issue 8 item 3: the blob fault soak. This short version runs in CI; `tools/fault-soak`
/// runs the same soak over ≥ 1 GiB on a FileSystemBlobStore.
@Suite("Blob fault soak")
struct FaultSoakTests {
    /// 10% of blob calls fail (unavailable before the call, put landed then failed, short
    /// gets). Offload still completes, every record reads back, scrub leaves no orphan and
    /// verify is clean. `STRATA_SOAK_BYTES` and `STRATA_SOAK_STORE=fs` scale it up.
    @Test func faultSoakAtTenPercentFailures() async throws {
        let environment = ProcessInfo.processInfo.environment
        let totalBytes = environment["STRATA_SOAK_BYTES"].flatMap(Int.init) ?? 24 << 20
        let seed = environment["STRATA_SOAK_SEED"].flatMap(UInt64.init) ?? 8
        try await withTempDirectory { dir in
            let inner: any BlobStore =
                environment["STRATA_SOAK_STORE"] == "fs"
                ? try FileSystemBlobStore(root: dir + "/cold") : MemoryBlobStore()
            let result = try await FaultSoak(dir: dir + "/lake", inner: inner, seed: seed).run(totalBytes: totalBytes)
            print("fault-soak: \(result)")
            #expect(result.faults.unavailable > 0 && result.faults.failedAfter > 0 && result.faults.truncatedGets > 0)
        }
    }

    /// The soak over S3 through `tools/s3-fault-proxy`, which resets, cuts mid-body or delays
    /// a fraction of connections: the faults come from the network, not from a wrapper.
    /// `tools/fault-soak --s3` starts SeaweedFS and the proxy and sets the variables.
    @Test(
        .enabled(
            if: ProcessInfo.processInfo.environment["STRATA_SOAK_S3_ENDPOINT"] != nil,
            "set by tools/fault-soak --s3"))
    func faultSoakOverS3ThroughAConnectionBreakingProxy() async throws {
        let environment = ProcessInfo.processInfo.environment
        let totalBytes = environment["STRATA_SOAK_BYTES"].flatMap(Int.init) ?? 24 << 20
        let endpoint = try #require(environment["STRATA_SOAK_S3_ENDPOINT"].flatMap(URL.init(string:)))
        let credentials = S3Credentials(
            accessKeyId: environment["STRATA_S3_TEST_ACCESS_KEY"] ?? "",
            secretAccessKey: environment["STRATA_S3_TEST_SECRET_KEY"] ?? "")
        let config = S3Config(
            endpoint: endpoint, region: environment["STRATA_S3_TEST_REGION"] ?? "us-east-1",
            bucket: environment["STRATA_S3_TEST_BUCKET"] ?? "strata-test",
            prefix: "soak-\(UUID().uuidString.prefix(8))/", credentials: credentials)
        try await withTempDirectory { dir in
            let store = try S3BlobStore(config: config)
            let result = try await FaultSoak(dir: dir + "/lake", inner: store, seed: 8, plan: .none).run(
                totalBytes: totalBytes)
            print("fault-soak s3: \(result)")
        }
    }
}

/// What one soak run did and saw.
struct FaultSoakResult: CustomStringConvertible {
    var bytesAppended = 0
    var records: Int64 = 0
    var coldObjects = 0
    var faults = (calls: 0, unavailable: 0, failedAfter: 0, truncatedGets: 0)
    var offloadPassesFailed = 0
    var readRetries = 0
    var orphansDeleted = 0
    var verify = ""
    var seconds = 0.0

    var description: String {
        "bytes=\(bytesAppended) records=\(records) objects=\(coldObjects) blobCalls=\(faults.calls) "
            + "faults(unavailable=\(faults.unavailable) failAfterPut=\(faults.failedAfter) "
            + "truncatedGet=\(faults.truncatedGets)) "
            + "offloadPassesFailed=\(offloadPassesFailed) readRetries=\(readRetries) orphansDeleted=\(orphansDeleted) "
            + "verify=\(verify) seconds=\(Int(seconds))"
    }
}

/// The soak: append, offload with eviction every few MiB under faults, then read everything
/// back from the cold tier, scrub with deletion, and check with faults off.
struct FaultSoak {
    static let recordBytes = 1000
    static let offloadEveryBytes = 4 << 20
    let dir: String
    let faulty: FaultyBlobStore
    let lakeOptions: LakeOptions
    /// Pseudo-random text the values are cut from: compressible like real payloads, and any
    /// value can be recomputed from its offset.
    let alphabet: [UInt8]

    /// About 10% of gets and puts fail: 5% unavailable before the call, plus 5% of puts that
    /// land and then fail, and 5% of gets that come back short.
    static let tenPercent = FaultPlan(unavailableFraction: 0.05, truncatedGetFraction: 0.05, failAfterPutFraction: 0.05)

    init(dir: String, inner: any BlobStore, seed: UInt64, plan: FaultPlan = FaultSoak.tenPercent) {
        self.dir = dir
        faulty = FaultyBlobStore(wrapping: inner, plan: plan, seed: seed)
        var options = LakeOptions()
        options.backgroundOffload = false
        options.coldStore = faulty
        // An S3 store under the fault wrapper retries its own requests: the tier must not again.
        let quick = RetryPolicy(attemptsMax: 8, baseDelayMs: 1, delayMaxMs: 4)
        options.blobRetry = inner is any SelfRetryingBlobStore ? .once : quick
        options.log = { _ in }
        lakeOptions = options
        var random = SeededRandom(seed: seed)
        let words = ["click ", "view ", "cart ", "buy ", "home ", "search ", "user=", "item=", "page ", "ref "]
        var text: [UInt8] = []
        while text.count < 1 << 16 {
            text += Array(words[Int(random.next() % 10)].utf8)
            text += Array(String(random.next() % 100_000).utf8)
            text.append(0x20)
        }
        alphabet = text
    }

    func value(_ offset: Int64) -> [UInt8] {
        let head = Array("offset=\(offset) ".utf8)
        let start = Int((UInt64(offset) &* 7919) % UInt64(alphabet.count - Self.recordBytes))
        return head + alphabet[start ..< (start + Self.recordBytes - head.count)]
    }

    func run(totalBytes: Int) async throws -> FaultSoakResult {
        let started = Date()
        var result = FaultSoakResult()
        let lake = try Lake.open(dir, options: lakeOptions)
        var config = TopicConfig()
        config.segmentBytes = 1 << 20
        config.coldFrameRawBytes = 128 << 10
        config.localRetentionMs = nil
        let topic = try lake.topic("soak", creatingWith: config)
        var next: Int64 = 0
        var sinceOffload = 0
        while result.bytesAppended < totalBytes {
            let batch = (0 ..< Int64(200)).map { ProducerRecord(value: value(next + $0)) }
            let ack = try await topic.append(batch)
            #expect(ack.firstOffset == next)
            next += Int64(batch.count)
            result.bytesAppended += batch.count * Self.recordBytes
            sinceOffload += batch.count * Self.recordBytes
            if sinceOffload >= Self.offloadEveryBytes {
                try await offloadUntilDone(lake, &result)
                sinceOffload = 0
            }
        }
        try await offloadUntilDone(lake, &result)
        result.records = next
        let cold = try await topic.coldSegments()
        result.coldObjects = cold.count
        #expect(cold.last?.lastOffset == next - 1, "offload did not complete")
        #expect(topic.segments().allSatisfy { !$0.sealed }, "a committed segment was not evicted")
        try await readBack(topic, until: next, &result)
        try await scrubUntilDone(lake, &result)
        // The faults stop: what is left must be exactly what the manifest references.
        faulty.setPlan(.none)
        let finalScrub = try await lake.scrub(deleteOrphans: false)
        #expect(finalScrub.problems.isEmpty, "\(finalScrub.problems)")
        let report = try await lake.verify()
        #expect(report.problems.isEmpty, "\(report.problems)")
        #expect(report.recordsChecked == next)
        result.verify = report.problems.isEmpty ? "clean" : "\(report.problems.count) problems"
        let counters = faulty.counters
        result.faults = (counters.calls, counters.failedBefore, counters.failedAfter, counters.truncatedGets)
        try await lake.close()
        result.seconds = Date().timeIntervalSince(started)
        return result
    }

    /// Offload passes until one succeeds; a failed pass is retried by the next one (as the
    /// background offloader does). Being fenced is never a transient fault.
    private func offloadUntilDone(_ lake: Lake, _ result: inout FaultSoakResult) async throws {
        for _ in 0 ..< 50 {
            do {
                _ = try await lake.offload(topic: "soak", seal: true, evict: true)
                return
            } catch let error as StrataError {
                #expect(error.code != .fenced && error.code != .corrupt, "offload under faults: \(error)")
                if error.code == .fenced || error.code == .corrupt { throw error }
                result.offloadPassesFailed += 1
            }
        }
        throw StrataError(.io, "offload did not complete in 50 passes")
    }

    /// Reads every offset from the cold tier; a read failing with a transient error is
    /// retried, anything else (or a wrong record) is a failure.
    private func readBack(_ topic: Topic, until end: Int64, _ result: inout FaultSoakResult) async throws {
        var offset: Int64 = 0
        var failuresInARow = 0
        while offset < end {
            let read: ReadResult
            do {
                read = try await topic.read(from: offset)
                failuresInARow = 0
            } catch {
                #expect(error.code == .io, "read at \(offset) under faults: \(error)")
                failuresInARow += 1
                result.readRetries += 1
                if error.code != .io || failuresInARow > 20 { throw error }
                continue
            }
            try #require(!read.records.isEmpty, "read at \(offset) returned nothing below the end \(end)")
            for (i, record) in read.records.enumerated() {
                guard record.offset == offset + Int64(i), record.value == value(record.offset) else {
                    Issue.record("wrong record at \(offset + Int64(i)): offset \(record.offset)")
                    throw StrataError(.corrupt, "wrong data")
                }
            }
            offset = read.nextOffset
        }
    }

    private func scrubUntilDone(_ lake: Lake, _ result: inout FaultSoakResult) async throws {
        for _ in 0 ..< 50 {
            do {
                let report = try await lake.scrub(deleteOrphans: true, graceMs: 0)
                result.orphansDeleted += report.deleted.count
                if report.remainingProblems.isEmpty { return }
            } catch {
                #expect(error.code == .io, "scrub under faults: \(error)")
            }
        }
        Issue.record("scrub did not finish cleanly in 50 passes")
    }
}
