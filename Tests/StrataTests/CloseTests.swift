import Foundation
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// Closing a lake flushes every topic; a flush that fails is the caller's to hear about.
@Suite struct CloseTests {
    /// Makes the group-commit fdatasync fail (as EIO would) while `failing` is set.
    final class FsyncFault: Sendable {
        let failing: Mutex<Bool>
        init(failing: Bool) { self.failing = Mutex(failing) }
        func set(_ value: Bool) { failing.withLock { $0 = value } }

        var options: LakeOptions {
            var options = lakeOptions()
            options.beforeGroupFsync = { [self] topic throws(StrataError) in
                guard failing.withLock({ $0 }) else { return }
                throw StrataError(.io, "fdatasync failed: EIO (injected)", topic: topic.name)
            }
            return options
        }
    }

    @Test func closeReportsAFailedFinalFlushAndStillReleasesTheLake() async throws {
        try await withTempDirectory { dir in
            let fault = FsyncFault(failing: false)
            let lake = try Lake.open(dir, options: fault.options)
            let flushed = try lake.topic("flushed", creatingWith: topicConfig(durability: .async))
            let pending = try lake.topic("pending", creatingWith: topicConfig(durability: .async))
            try await flushed.append(offsetRecords(from: 0, count: 2))
            try await flushed.flush()
            try await pending.append(offsetRecords(from: 0, count: 3))
            fault.set(true)

            let error = await strataError { try await lake.close() }
            #expect(error?.code == .io)
            #expect(error?.topic == "pending")
            // Closed all the same: no more appends, and the lock is free for a new open.
            let refused = await strataError { try await flushed.append(offsetRecords(from: 2, count: 1)) }
            #expect(refused?.code == .closed)
            let reopened = try Lake.open(dir, options: lakeOptions())
            #expect(try readAll(reopened.topic("flushed")).count == 2)
            try await reopened.close()
        }
    }

    @Test func flushReportsTheFailureAndTheTopicStops() async throws {
        try await withTempDirectory { dir in
            let fault = FsyncFault(failing: true)
            let lake = try Lake.open(dir, options: fault.options)
            let topic = try lake.topic("async", creatingWith: topicConfig(durability: .async))
            try await topic.append(offsetRecords(from: 0, count: 3))
            let flushError = await strataError { try await topic.flush() }
            #expect(flushError?.code == .io)
            // The file's state is unknown after a failed fsync: the topic refuses appends.
            fault.set(false)
            let refused = await strataError { try await topic.append(offsetRecords(from: 3, count: 1)) }
            #expect(refused?.code == .closed)
            // Its records never became durable, and close says so too.
            let closeError = await strataError { try await lake.close() }
            #expect(closeError?.code == .io)
        }
    }

    @Test func closeOfAHealthyLakeThrowsNothing() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("async", creatingWith: topicConfig(durability: .async))
            try await topic.append(offsetRecords(from: 0, count: 3))
            try await lake.close()
            #expect(topic.durableOffset == 3)
            // A second close is a no-op.
            try await lake.close()
        }
    }
}
