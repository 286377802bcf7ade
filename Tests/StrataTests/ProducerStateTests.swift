import Foundation
import StrataTesting
import Synchronization
import Testing

@testable import Strata

/// Idempotent producers (issue 13 InitProducerId, DESIGN.md invariant 12): retries stored once,
/// gaps and zombie epochs refused, state that survives close, crash, snapshot damage and eviction.
@Suite struct ProducerStateTests {
    /// Appends `count` one-record batches of producer `id` from sequence `from`.
    private func produce(
        _ topic: Topic, id: Int64, epoch: Int16 = 0, from: Int32, count: Int32, records: Int = 1
    ) async throws -> [BatchAppendResult] {
        var results: [BatchAppendResult] = []
        var sequence = from
        for _ in 0 ..< count {
            let values = (0 ..< records).map { "p\(id)-e\(epoch)-s\(sequence)-\($0)" }
            results.append(
                try await topic.appendBatch(encodedBatch(values, producerId: id, epoch: epoch, sequence: sequence)))
            sequence += Int32(records)
        }
        return results
    }

    private func expectRefused(
        _ code: StrataError.Code, _ topic: Topic, _ batch: [UInt8], sourceLocation: SourceLocation = #_sourceLocation
    ) async {
        let before = topic.highWatermark
        do {
            let result = try await topic.appendBatch(batch)
            Issue.record("accepted: \(result)", sourceLocation: sourceLocation)
        } catch {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        }
        #expect(topic.highWatermark == before, "nothing stored", sourceLocation: sourceLocation)
    }

    @Test func retriedBatchGetsItsOriginalOffsetsAndIsStoredOnce() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("idem", creatingWith: topicConfig())
            let (id, epoch) = try lake.allocateProducerId()
            #expect(epoch == 0)
            let first = try await produce(topic, id: id, from: 0, count: 6, records: 2)
            #expect(first.map(\.firstOffset) == [0, 2, 4, 6, 8, 10])
            try await topic.append(offsetRecords(from: 12, count: 1))  // another writer in between
            // A retry of any of the last five batches: the stored offsets, nothing written.
            for (n, original) in first.enumerated().dropFirst() {
                let sequence = Int32(n * 2)
                let retry = try await topic.appendBatch(
                    encodedBatch(
                        ["p\(id)-e0-s\(sequence)-0", "p\(id)-e0-s\(sequence)-1"], producerId: id, epoch: 0,
                        sequence: sequence))
                #expect(
                    retry
                        == BatchAppendResult(
                            firstOffset: original.firstOffset, lastOffset: original.lastOffset, duplicate: true))
            }
            #expect(topic.highWatermark == 13)
            // The oldest batch is no longer remembered (five are kept): out of order, not a duplicate.
            await expectRefused(
                .outOfOrderSequence, topic, encodedBatch(["a", "b"], producerId: id, epoch: 0, sequence: 0))
            let next = try await topic.appendBatch(encodedBatch(["c"], producerId: id, epoch: 0, sequence: 12))
            #expect(next == BatchAppendResult(firstOffset: 13, lastOffset: 13, duplicate: false))
            let stored = try await storedBatches(topic)
            #expect(stored.count == 8)
            #expect(stored.filter { $0.header.producerId == id }.map(\.header.baseSequence) == [0, 2, 4, 6, 8, 10, 12])
            try await lake.close()
        }
    }

    /// A retry that arrives while the original waits for its fdatasync is acknowledged only once
    /// the original is durable: its answer must not promise more than the original's. The first
    /// fsync is held until the retry has returned or for at most a second; a retry that did not
    /// wait would return at once, with nothing durable yet.
    @Test func aRetryOnASyncTopicWaitsForTheOriginalsFsync() async throws {
        try await withTempDirectory { dir in
            let retryReturned = Mutex(false)
            let firstFsyncHeld = Mutex(false)
            var options = lakeOptions()
            options.beforeGroupFsync = { _ in
                guard
                    !firstFsyncHeld.withLock({ held in
                        defer { held = true }; return held
                    })
                else { return }
                for _ in 0 ..< 1000 where !retryReturned.withLock({ $0 }) { usleep(1000) }
            }
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic("idem", creatingWith: topicConfig(durability: .sync))
            let original = Task {
                try await topic.appendBatch(encodedBatch(["a"], producerId: 1, epoch: 0, sequence: 0))
            }
            // Yield, never block: the original runs on the same two-thread pool.
            for _ in 0 ..< 10_000_000 where topic.writtenOffset < 1 { await Task.yield() }
            #expect(topic.writtenOffset == 1, "the original was written first")
            let retry = try await topic.appendBatch(encodedBatch(["a"], producerId: 1, epoch: 0, sequence: 0))
            retryReturned.withLock { $0 = true }
            #expect(retry == BatchAppendResult(firstOffset: 0, lastOffset: 0, duplicate: true))
            #expect(topic.durableOffset >= 1, "the retry was acknowledged before the original was durable")
            #expect(try await original.value.duplicate == false)
            try await lake.close()
        }
    }

    @Test func gapsZombieEpochsAndUnknownProducersAreRefused() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("idem", creatingWith: topicConfig())
            let id = try lake.allocateProducerId().producerId
            _ = try await produce(topic, id: id, from: 0, count: 3)
            await expectRefused(
                .outOfOrderSequence, topic, encodedBatch(["gap"], producerId: id, epoch: 0, sequence: 4))
            // A retry overlapping a stored batch without matching it exactly is out of order too.
            await expectRefused(
                .outOfOrderSequence, topic, encodedBatch(["x", "y"], producerId: id, epoch: 0, sequence: 1))
            // An unknown producer must start at 0.
            await expectRefused(
                .unknownProducerId, topic, encodedBatch(["u"], producerId: id + 1, epoch: 0, sequence: 5))
            // A new epoch must start at 0; once it has, the old epoch is a zombie.
            await expectRefused(.outOfOrderSequence, topic, encodedBatch(["n"], producerId: id, epoch: 1, sequence: 3))
            let bumped = try await topic.appendBatch(encodedBatch(["n"], producerId: id, epoch: 1, sequence: 0))
            #expect(bumped.firstOffset == 3 && !bumped.duplicate)
            await expectRefused(
                .invalidProducerEpoch, topic, encodedBatch(["z"], producerId: id, epoch: 0, sequence: 3))
            // The old epoch's batches are no longer duplicates either: its epoch is refused.
            await expectRefused(
                .invalidProducerEpoch, topic, encodedBatch(["z"], producerId: id, epoch: 0, sequence: 0))
            #expect(
                try await topic.appendBatch(encodedBatch(["m"], producerId: id, epoch: 1, sequence: 1)).firstOffset == 4
            )
            try await lake.close()
        }
    }

    @Test func sequencesWrapAtInt32Max() throws {
        #expect(ProducerStateTable.lastSequence(first: Int32.max, recordCount: 1) == Int32.max)
        #expect(ProducerStateTable.lastSequence(first: Int32.max, recordCount: 3) == 1)
        #expect(ProducerStateTable.lastSequence(first: Int32.max - 1, recordCount: 2) == Int32.max)
        var table = ProducerStateTable()
        table.record(
            producerId: 9, epoch: 2,
            batch: ProducerBatch(firstSequence: Int32.max - 1, lastSequence: Int32.max, firstOffset: 0, lastOffset: 1),
            nowMs: 0)
        #expect(try table.check(producerId: 9, epoch: 2, firstSequence: 0, recordCount: 5, topic: "t") == .append)
        #expect(throws: StrataError.self) {
            try table.check(producerId: 9, epoch: 2, firstSequence: 1, recordCount: 1, topic: "t")
        }
        // A batch that itself wraps: the last sequence is counted from 0 again.
        table.record(
            producerId: 9, epoch: 2,
            batch: ProducerBatch(firstSequence: 0, lastSequence: 4, firstOffset: 2, lastOffset: 6),
            nowMs: 0)
        #expect(try table.check(producerId: 9, epoch: 2, firstSequence: 5, recordCount: 1, topic: "t") == .append)
    }

    @Test func memoryIsBoundedPerProducerAndPerLog() {
        var table = ProducerStateTable()
        for i in 0 ..< 12 {
            table.record(
                producerId: 1, epoch: 0,
                batch: ProducerBatch(
                    firstSequence: Int32(i), lastSequence: Int32(i), firstOffset: Int64(i), lastOffset: Int64(i)),
                nowMs: 0)
        }
        #expect(table.producers[1]?.batches.map(\.firstSequence) == [7, 8, 9, 10, 11])
        for id in 2 ... Int64(ProducerStateTable.producersMax + 1) {
            table.record(
                producerId: id, epoch: 0,
                batch: ProducerBatch(firstSequence: 0, lastSequence: 0, firstOffset: 0, lastOffset: 0),
                nowMs: id)
        }
        #expect(table.producers.count == ProducerStateTable.producersMax)
        #expect(table.producers[1] == nil, "the producer appended to least recently is dropped")
        table.expire(nowMs: ProducerStateTable.expirationMs + 5)
        #expect(table.producers[2] == nil && table.producers[5] == nil && table.producers[6] != nil)
    }

    @Test func aRepairCutForgetsTheBatchesItCut() throws {
        var table = ProducerStateTable()
        for i in 0 ..< 4 {
            let batch = ProducerBatch(
                firstSequence: Int32(i), lastSequence: Int32(i), firstOffset: Int64(i * 10),
                lastOffset: Int64(i * 10 + 9))
            table.record(producerId: 1, epoch: 0, batch: batch, nowMs: 0)
        }
        table.record(
            producerId: 2, epoch: 0,
            batch: ProducerBatch(firstSequence: 0, lastSequence: 0, firstOffset: 40, lastOffset: 40),
            nowMs: 0)
        table.lastBatch = (40, 7)
        table.truncate(from: 20)
        #expect(table.producers[1]?.batches.map(\.firstSequence) == [0, 1])
        #expect(table.producers[2] == nil)
        #expect(table.lastBatch == nil)
        // The retry of a cut batch is stored again; the next sequence after the kept ones is in order.
        #expect(try table.check(producerId: 1, epoch: 0, firstSequence: 2, recordCount: 1, topic: "t") == .append)
    }

    /// Rolls write a snapshot even when no producer is known, so reopening a log of plain
    /// appends replays the active segment's headers only.
    @Test func rollsWriteSnapshotsForPlainTopicsToo() async throws {
        try await withTempDirectory { dir in
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("plain", creatingWith: topicConfig(segmentBytes: 1024))
            for i in 0 ..< 30 { try await topic.append(offsetRecords(from: Int64(i * 3), count: 3)) }
            let snapshots = try FileIO.listDirectory(dir + "/topics/plain").compactMap(
                LakePaths.producerSnapshotOffset(fileName:))
            #expect(snapshots.count == 2)
            #expect(snapshots.max() == topic.segments().last?.baseOffset)
            try await lake.close()
        }
    }

    /// An open without a usable snapshot writes one only after a long replay: a short log (an
    /// evicted small partition reopens often) replays its few headers again instead of paying a
    /// snapshot file's two fsyncs; a long one writes it so the next open does not replay again.
    @Test func anOpenWritesASnapshotOnlyAfterALongReplay() async throws {
        try await withTempDirectory { dir in
            let batches = Topic.replayedHeadersBeforeSnapshot + 1
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                let short = try lake.topic("short", creatingWith: topicConfig(durability: .async))
                let long = try lake.topic("long", creatingWith: topicConfig(durability: .async))
                for i in 0 ..< 3 { try await short.append(offsetRecords(from: Int64(i), count: 1)) }
                for i in 0 ..< batches { try await long.append(offsetRecords(from: Int64(i), count: 1)) }
            }  // dropped, never closed: no close-time snapshot
            func snapshots(_ name: String) throws -> [Int64] {
                try FileIO.listDirectory(dir + "/topics/" + name).compactMap(LakePaths.producerSnapshotOffset(fileName:))
            }
            #expect(try snapshots("short").isEmpty && snapshots("long").isEmpty)
            let lake = try Lake.open(dir, options: lakeOptions())
            #expect(try lake.topic("short").highWatermark == 3)
            #expect(try lake.topic("long").highWatermark == Int64(batches))
            #expect(try snapshots("short").isEmpty)
            #expect(try snapshots("long") == [Int64(batches)])
            try await lake.close()
        }
    }

    @Test func snapshotRoundTripsAndDamageIsFound() throws {
        var table = ProducerStateTable()
        table.record(
            producerId: 3, epoch: 4,
            batch: ProducerBatch(firstSequence: 10, lastSequence: 12, firstOffset: 100, lastOffset: 102),
            nowMs: 77)
        let snapshot = ProducerSnapshot(
            offset: 103, lastBatchBaseOffset: 100, lastBatchCrc: 0xDEAD_BEEF, producers: table.producers)
        let bytes = snapshot.encode()
        #expect(try ProducerSnapshot.decode(bytes) == snapshot)
        for position in [0, 9, bytes.count / 2, bytes.count - 1] {
            var damaged = bytes
            damaged[position] ^= 0x10
            #expect(throws: FormatError.self) { try ProducerSnapshot.decode(damaged) }
        }
        #expect(throws: FormatError.self) { try ProducerSnapshot.decode(Array(bytes.dropLast())) }
    }

    @Test func stateSurvivesACleanReopen() async throws {
        try await withTempDirectory { dir in
            let results: [BatchAppendResult]
            let id: Int64
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                let topic = try lake.topic("idem", creatingWith: topicConfig(segmentBytes: 1024))
                id = try lake.allocateProducerId().producerId
                results = try await produce(topic, id: id, from: 0, count: 30)
                try await lake.close()
            }
            #expect(try FileIO.listDirectory(dir + "/topics/idem").filter { $0.hasSuffix(".producers") }.count == 2)
            let lake = try Lake.open(dir, options: lakeOptions())
            let topic = try lake.topic("idem")
            let retry = try await topic.appendBatch(
                encodedBatch(["p\(id)-e0-s29-0"], producerId: id, epoch: 0, sequence: 29))
            #expect(
                retry
                    == BatchAppendResult(
                        firstOffset: results[29].firstOffset, lastOffset: results[29].lastOffset, duplicate: true))
            await expectRefused(.outOfOrderSequence, topic, encodedBatch(["g"], producerId: id, epoch: 0, sequence: 31))
            #expect(
                try await topic.appendBatch(encodedBatch(["n"], producerId: id, epoch: 0, sequence: 30)).firstOffset
                    == 30)
            try await lake.close()
        }
    }

    /// A lake dropped without `close` (what SIGKILL leaves): the newest snapshot is older than the
    /// log's end, so the batches after it are replayed from their headers.
    @Test func stateSurvivesACrashWithAStaleSnapshot() async throws {
        try await withTempDirectory { dir in
            let id: Int64
            let results: [BatchAppendResult]
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                let topic = try lake.topic("idem", creatingWith: topicConfig(segmentBytes: 1024))
                id = try lake.allocateProducerId().producerId
                results = try await produce(topic, id: id, from: 0, count: 25, records: 2)
                let snapshots = try FileIO.listDirectory(dir + "/topics/idem").compactMap(
                    LakePaths.producerSnapshotOffset(fileName:))
                #expect(!snapshots.isEmpty)
                #expect(snapshots.max()! < topic.highWatermark, "the snapshot is stale")
            }  // dropped, never closed
            let log = LogSink()
            let lake = try Lake.open(dir, options: lakeOptions(log: log))
            let topic = try lake.topic("idem")
            for n in 20 ..< 25 {
                let sequence = Int32(n * 2)
                let retry = try await topic.appendBatch(
                    encodedBatch(["a", "b"], producerId: id, epoch: 0, sequence: sequence))
                #expect(retry.duplicate && retry.firstOffset == results[n].firstOffset, "batch \(n)")
            }
            #expect(topic.highWatermark == 50)
            try await lake.close()
        }
    }

    @Test func aDamagedSnapshotIsNotUsedAndTheLogIsReplayed() async throws {
        try await withTempDirectory { dir in
            let id: Int64
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                let topic = try lake.topic("idem", creatingWith: topicConfig(segmentBytes: 1024))
                id = try lake.allocateProducerId().producerId
                _ = try await produce(topic, id: id, from: 0, count: 20)
                try await lake.close()
            }
            let directory = dir + "/topics/idem"
            for name in try FileIO.listDirectory(directory) where name.hasSuffix(".producers") {
                var bytes = try FileIO.readWholeFile(directory + "/" + name)
                bytes[bytes.count / 2] ^= 0xFF
                try FileIO.writeAtomically(directory + "/" + name, bytes)
            }
            let log = LogSink()
            let lake = try Lake.open(dir, options: lakeOptions(log: log))
            let topic = try lake.topic("idem")
            #expect(log.contains("is damaged, not used"))
            let retry = try await topic.appendBatch(encodedBatch(["r"], producerId: id, epoch: 0, sequence: 19))
            #expect(retry == BatchAppendResult(firstOffset: 19, lastOffset: 19, duplicate: true))
            try await lake.close()
        }
    }

    /// A snapshot that names a batch the log no longer holds (the log was cut back and written
    /// again) is not used: the state comes from the log as it is.
    @Test func aSnapshotOfBytesTheLogNoLongerHoldsIsNotUsed() async throws {
        try await withTempDirectory { dir in
            let directory = dir + "/topics/idem"
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                let topic = try lake.topic("idem", creatingWith: topicConfig())
                _ = try await produce(topic, id: 5, from: 0, count: 3)
                try await lake.close()
            }
            // A snapshot claiming producer 5 reached sequence 40, and naming a batch not in the log.
            var table = ProducerStateTable()
            table.record(
                producerId: 5, epoch: 0,
                batch: ProducerBatch(firstSequence: 40, lastSequence: 40, firstOffset: 2, lastOffset: 2), nowMs: 0)
            let forged = ProducerSnapshot(
                offset: 3, lastBatchBaseOffset: 2, lastBatchCrc: 1, producers: table.producers)
            for name in try FileIO.listDirectory(directory) where name.hasSuffix(".producers") {
                try FileIO.remove(directory + "/" + name)
            }
            try FileIO.writeAtomically(LakePaths(root: dir).producerSnapshot("idem", offset: 3), forged.encode())
            let log = LogSink()
            let lake = try Lake.open(dir, options: lakeOptions(log: log))
            let topic = try lake.topic("idem")
            #expect(log.contains("names a batch the log no longer holds"))
            #expect(
                try await topic.appendBatch(encodedBatch(["s3"], producerId: 5, epoch: 0, sequence: 3)).firstOffset == 3
            )
            try await lake.close()
        }
    }

    /// A producer whose batches all left the hot tier is still known: its state lives on in the
    /// snapshot, which eviction never removes.
    @Test func stateOutlivesEvictionOfTheProducersBatches() async throws {
        let dir = try ColdFixture.makeDirectory()
        defer { ColdFixture.remove(dir) }
        let id: Int64
        do {
            let lake = try Lake.open(dir, options: ColdFixture.options())
            let topic = try lake.topic("idem", creatingWith: topicConfig(segmentBytes: 1024))
            id = try lake.allocateProducerId().producerId
            _ = try await produce(topic, id: id, from: 0, count: 10)
            _ = try await lake.offload(evict: true)
            #expect(topic.localStartOffset == 10)
            try await lake.close()
        }
        let lake = try Lake.open(dir, options: ColdFixture.options())
        let topic = try lake.topic("idem")
        let retry = try await topic.appendBatch(encodedBatch(["r"], producerId: id, epoch: 0, sequence: 9))
        #expect(retry == BatchAppendResult(firstOffset: 9, lastOffset: 9, duplicate: true))
        #expect(
            try await topic.appendBatch(encodedBatch(["n"], producerId: id, epoch: 0, sequence: 10)).firstOffset == 10)
        try await lake.close()
    }

    /// Each partition is its own log with its own producer state: one producer's sequences are
    /// per partition (as in Kafka), and each partition's snapshot lives in its own directory.
    @Test func producerStateIsPerPartition() async throws {
        try await withTempDirectory { dir in
            let id: Int64
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                _ = try await lake.createTopic("orders", config: topicConfig(segmentBytes: 1024), partitions: 3)
                id = try lake.allocateProducerId().producerId
                let p0 = try lake.partition("orders", 0)
                let p2 = try lake.partition("orders", 2)
                _ = try await produce(p0, id: id, from: 0, count: 12)
                _ = try await produce(p2, id: id, from: 0, count: 3)
                #expect(p2.name == "orders/2")
                try await lake.close()
            }
            #expect(try FileIO.listDirectory(dir + "/topics/orders/2").contains { $0.hasSuffix(".producers") })
            let lake = try Lake.open(dir, options: lakeOptions())
            let p0 = try lake.partition("orders", 0)
            let p1 = try lake.partition("orders", 1)
            let p2 = try lake.partition("orders", 2)
            #expect(try await p2.appendBatch(encodedBatch(["r"], producerId: id, epoch: 0, sequence: 2)).duplicate)
            #expect(try await p0.appendBatch(encodedBatch(["r"], producerId: id, epoch: 0, sequence: 11)).duplicate)
            #expect(
                try await p2.appendBatch(encodedBatch(["n"], producerId: id, epoch: 0, sequence: 3)).firstOffset == 3)
            await expectRefused(.unknownProducerId, p1, encodedBatch(["x"], producerId: id, epoch: 0, sequence: 3))
            let batches = try await p2.readBatches(from: 0)
            #expect(batches.batches.map(\.header.baseSequence) == [0, 1, 2, 3])
            try await lake.close()
        }
    }

    @Test func producerIdsAreUniqueAcrossReopenAndCrash() async throws {
        try await withTempDirectory { dir in
            var seen = Set<Int64>()
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                for _ in 0 ..< 1500 { #expect(seen.insert(try lake.allocateProducerId().producerId).inserted) }
                try await lake.close()
                #expect(throws: StrataError.self) { try lake.allocateProducerId() }
            }
            do {
                let lake = try Lake.open(dir, options: lakeOptions())
                for _ in 0 ..< 10 { #expect(seen.insert(try lake.allocateProducerId().producerId).inserted) }
            }  // dropped without close
            let lake = try Lake.open(dir, options: lakeOptions())
            for _ in 0 ..< 10 { #expect(seen.insert(try lake.allocateProducerId().producerId).inserted) }
            try await lake.close()

            let reader = try Lake.openReadOnly(dir, options: lakeOptions())
            do {
                _ = try reader.allocateProducerId()
                Issue.record("a read-only lake handed out a producer id")
            } catch { #expect((error as? StrataError)?.code == .readOnly) }
            try await reader.close()

            try FileIO.writeAtomically(dir + "/producer-ids", Array("garbage".utf8))
            let damaged = try Lake.open(dir, options: lakeOptions())
            do {
                _ = try damaged.allocateProducerId()
                Issue.record("a damaged producer-ids file was used")
            } catch { #expect((error as? StrataError)?.code == .corrupt) }
            #expect(try FileIO.readWholeFile(dir + "/producer-ids") == Array("garbage".utf8))
            try await damaged.close()
        }
    }
}
