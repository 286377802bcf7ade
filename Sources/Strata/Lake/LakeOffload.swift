import Foundation
import Glibc
import StrataBlob
import Synchronization

/// Offload on demand (`strata offload`, `Lake.offload`).
extension Lake {
    /// Offloads now: seals active segments (when `seal`), uploads every sealed segment, and with
    /// `evict` deletes every local segment already committed to the cold tier.
    /// - Parameter topicName: one topic, or every topic when nil.
    public func offload(
        topic topicName: String? = nil, seal: Bool = true, evict: Bool = false
    ) async throws -> OffloadReport {
        try refuseIfReadOnly("offload")
        var total = OffloadReport()
        var names = try logNames()
        if let topicName {
            _ = try partitionCount(topicName)  // `notFound` for a missing topic
            names = names.filter { $0 == topicName || $0.hasPrefix(topicName + "/") }
        }
        // Packed offload (Cold/PackedOffload.swift, §2k): small sealed segments of many logs
        // share objects; the loop below offloads what it leaves as objects of their own.
        if options.packSegmentBytesMax > 0 {
            let logs = try names.map { (name) throws -> Topic in try self.log(name) }
            if seal { for topic in logs { try topic.sealActiveSegment() } }
            total.add(await offloadPacked(logs))
        }
        for name in names {
            let topic = try self.log(name)
            if seal { try topic.sealActiveSegment() }
            let report = try await topic.offloadSealed(wait: true)
            total.segmentsOffloaded += report.segmentsOffloaded
            total.rawBytes += report.rawBytes
            total.objectBytes += report.objectBytes
            total.blocked += report.blocked
            if !report.blocked.isEmpty { total.blockedTopics.append(name) }
            total.segmentsEvicted += try await evict ? topic.evictCommitted() : topic.applyRetention()
        }
        await syncTables(afterOffloadOf: names)
        return total
    }
}
