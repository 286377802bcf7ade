import Foundation
import Glibc
import StrataBlob
import Synchronization

/// The open partition logs: opening one (under the registry lock), and closing them all.
extension Lake {
    func load(_ log: LogName) throws(StrataError) -> Topic {
        let name = log.description
        if closed.withLock({ $0 }) { throw StrataError(.closed, "lake is closed", topic: name) }
        let config = try storedConfig(log.topic)
        // Topics open under the registry lock so two callers never recover one directory twice.
        return try registry.topics.withLock { (open) throws(StrataError) -> Topic in
            if let existing = open[name] { return existing }
            // `deleteTopic` renames `topic.json` before it lists the open logs under this lock:
            // checked here, a log is either listed (and retired) or never opened.
            guard topicExists(log.topic) else {
                throw StrataError(.notFound, "topic '\(log.topic)' does not exist in \(path)", topic: name)
            }
            // A read-only lake sees a partition never written as an empty log (ReadOnlySegmentLoader).
            if log.partition > 0, !isReadOnly, !FileIO.exists(paths.topicDirectory(name)) {
                try FileIO.makeDirectories(paths.topicDirectory(name))
                try FileIO.fsyncDirectory(paths.topicDirectory(log.topic))
            }
            let topic =
                isReadOnly
                ? try Topic.openReadOnly(
                    name: name, config: config, paths: paths, files: files, clock: options.clock,
                    log: options.log, cold: cold, startOffset: startOffset(name))
                : try Topic.open(
                    name: name, config: config, paths: paths, files: files, clock: options.clock,
                    log: options.log, cold: cold, startOffset: startOffset(name),
                    limits: options.topicLimits, beforeGroupFsync: options.beforeGroupFsync, journal: journal,
                    metadataBarrier: metadataBarrier)
            try topic.loadLogStart()
            if !isReadOnly { try topic.recoverProducerState() }
            open[name] = topic
            return topic
        }
    }


    /// Flushes every topic, stops background work and releases the lock. The lake cannot be
    /// used afterwards, also when this throws: every topic is closed and the lock released
    /// whatever fails.
    /// - Throws: `io` naming the first topic whose final flush (fdatasync) failed: records
    ///   written to it since its last flush may not be durable.
    public func close() async throws(StrataError) {
        let alreadyClosed = closed.withLock { c in
            defer { c = true }
            return c
        }
        guard !alreadyClosed else { return }
        let task = background.withLock { t in
            t?.cancel()
            return t
        }
        await task?.value
        await tables.stopBackgroundPass()
        var firstFailure: StrataError? = nil
        for topic in registry.topics.withLock({ Array($0.values) }) {
            do throws(StrataError) { try await topic.close() } catch {
                options.log("close topic=\(topic.name): final flush failed: \(error)")
                firstFailure = firstFailure ?? error
            }
        }
        do throws(StrataError) { try journal?.close() } catch {
            options.log("close: journal checkpoint failed, the journal is kept for recovery: \(error)")
            firstFailure = firstFailure ?? error
        }
        do throws(StrataError) { try closeMetadata() } catch {
            options.log("close: the topic metadata store did not close cleanly: \(error)")
            firstFailure = firstFailure ?? error
        }
        files.closeAll()
        if lockFD >= 0 { FileIO.close(lockFD) }
        if let firstFailure { throw firstFailure }
    }
}

/// The lake's open topics.
final class TopicRegistry: Sendable {
    let topics = Mutex<[String: Topic]>([:])
}
