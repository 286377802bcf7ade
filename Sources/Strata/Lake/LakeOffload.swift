import Foundation
import Glibc
import StrataBlob
import Synchronization

/// Offload on demand (`strata offload`, `Lake.offload`).
extension Lake {
    /// Offloads now: seals active segments (when `seal`), uploads every sealed segment, and with
    /// `evict` deletes every local segment already committed to the cold tier. Logs are offloaded
    /// several at once (`offloadLogsAtOnce` of those with little sealed data, whose passes mostly
    /// wait on the store; `LakeOptions.offloadConcurrency` of the others, bounding the memory
    /// their encodes hold), each log's segments in offset order as always.
    /// - Parameter topicName: one topic, or every topic when nil.
    /// - Throws: the first failure in log-name order, once every log's pass has ended (no table
    ///   is synced then).
    public func offload(
        topic topicName: String? = nil, seal: Bool = true, evict: Bool = false
    ) async throws -> OffloadReport {
        try refuseIfReadOnly("offload")
        var names = try logNames()
        if let topicName {
            _ = try partitionCount(topicName)  // `notFound` for a missing topic
            names = names.filter { $0 == topicName || $0.hasPrefix(topicName + "/") }
        }
        var total = OffloadReport()
        var firstFailure: (any Error)? = nil
        // In chunks: a lake of a million logs never holds a handle to each at once (the registry
        // may evict a chunk's idle handles once it is done).
        for start in stride(from: 0, to: names.count, by: Self.offloadChunkLogs) {
            let chunk = Array(names[start ..< min(start + Self.offloadChunkLogs, names.count)])
            let failure = try await offloadChunk(chunk, seal: seal, evict: evict, into: &total)
            firstFailure = firstFailure ?? failure
        }
        // A failed offload syncs no table; the next pass does.
        if let firstFailure { throw firstFailure }
        await syncTables(afterOffloadOf: names)
        return total
    }

    /// Offloads the logs called `names`: seals them (with `seal`), packs what is small, then the
    /// logs' own passes. Returns the first failure of a log's pass in `names` order.
    private func offloadChunk(
        _ names: [String], seal: Bool, evict: Bool, into total: inout OffloadReport
    ) async throws -> (any Error)? {
        let logs = try names.map { (name) throws -> Topic in try self.log(name) }
        if seal { for topic in logs { try topic.sealActiveSegment() } }
        // Packed offload (Cold/PackedOffload.swift, §2k): small sealed segments of many logs
        // share objects; the passes below offload what it leaves as objects of their own.
        if options.packSegmentBytesMax > 0 { total.add(await offloadPacked(logs)) }
        var small: [(Int, Topic)] = []
        var large: [(Int, Topic)] = []
        for (index, topic) in logs.enumerated() {
            let sealedBytes = topic.localSegments().reduce(0) { $0 + ($1.sealed ? $1.segmentBytes : 0) }
            if sealedBytes <= Self.smallOffloadBytes { small.append((index, topic)) } else { large.append((index, topic)) }
        }
        var outcomes = [Result<OffloadReport, any Error>?](repeating: nil, count: names.count)
        for (logs, atOnce) in [(small, Self.offloadLogsAtOnce), (large, options.offloadConcurrency)] {
            let results = await concurrentMap(logs, atOnce: atOnce) { (index, topic) in
                (index, await Self.offloadNow(topic, evict: evict))
            }
            for (index, outcome) in results { outcomes[index] = outcome }
        }
        var firstFailure: (any Error)? = nil
        for (name, outcome) in zip(names, outcomes) {
            switch outcome {
            case .success(let report):
                total.segmentsOffloaded += report.segmentsOffloaded
                total.rawBytes += report.rawBytes
                total.objectBytes += report.objectBytes
                total.blocked += report.blocked
                total.segmentsEvicted += report.segmentsEvicted
                if !report.blocked.isEmpty { total.blockedTopics.append(name) }
            case .failure(let error): firstFailure = firstFailure ?? error
            case nil: break
            }
        }
        return firstFailure
    }

    /// Logs an on-demand offload takes at once (sealed, packed, offloaded, then let go).
    static let offloadChunkLogs = 4_096

    /// One log's on-demand pass: its sealed segments, then eviction or retention.
    private static func offloadNow(_ topic: Topic, evict: Bool) async -> Result<OffloadReport, any Error> {
        do {
            var report = try await topic.offloadSealed(wait: true)
            report.segmentsEvicted += try await evict ? topic.evictCommitted() : topic.applyRetention()
            return .success(report)
        } catch {
            return .failure(error)
        }
    }

    /// Logs with little sealed data offloaded at once: their passes wait on the store (a put, the
    /// read-back, the manifest commit, each with its fsyncs) far more than they use a core.
    static let offloadLogsAtOnce = 16
    /// Sealed bytes up to which a log counts as small for `offloadLogsAtOnce` (a few of its
    /// encodes at once hold little memory).
    static let smallOffloadBytes = 4 << 20
}
