import Strata
import StrataKafka
import Synchronization

// Fetch and ListOffsets: reads, hot and cold alike.
extension RequestDispatcher {
    /// One partition a Fetch asks for.
    private struct FetchWant {
        var topicName: String
        var index: Int32
        var offset: Int64
        var maxBytes: Int
        /// The partition's log, or why there is none.
        var log: Result<Topic, StrataError>
    }

    /// One partition's part of a Fetch answer.
    private struct FetchPart {
        var code = KafkaErrorCode.none
        var highWatermark: Int64 = -1
        var logStartOffset: Int64 = -1
        var records: [UInt8] = []
    }

    /// Fetch 4–12: whole batches from the first one holding each requested offset, within
    /// PartitionMaxBytes and MaxBytes (the first batch always, as Kafka does, so a large batch
    /// never stalls a consumer); waits up to MaxWaitMs for MinBytes, woken by appends to any
    /// requested partition (at most `fetchWaitMsMax`). Sessionless: SessionId 0, which clients accept (KIP-227).
    func fetch(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError) -> KafkaStruct {
        let body = request.body
        let maxWaitMs = min(max(0, Int64(try body.int32("MaxWaitMs"))), options.fetchWaitMsMax)
        let minBytes = max(0, Int(try body.int32("MinBytes")))
        let maxBytes = min(max(0, Int(try body.int32("MaxBytes"))), options.fetchBytesMax)
        if request.version >= 7, try body.int32("SessionId") != 0 {
            return [
                "ThrottleTimeMs": .int(0), "ErrorCode": .int(Int64(ExtraKafkaErrorCode.fetchSessionIdNotFound)),
                "SessionId": .int(0), "Responses": .structs([]),
            ]
        }
        var wants: [FetchWant] = []
        var layout: [(name: String, count: Int)] = []
        let topics = try body.structs("Topics") ?? []
        var entries = 0
        for topic in topics { entries += try topic.structs("Partitions")?.count ?? 0 }
        guard entries <= options.fetchPartitionsMax else {
            log("fetch names \(entries) partitions, at most \(options.fetchPartitionsMax) are served: INVALID_REQUEST")
            return [
                "ThrottleTimeMs": .int(0), "ErrorCode": KafkaErrorCode.invalidRequest.value, "SessionId": .int(0),
                "Responses": .structs([]),
            ]
        }
        for topic in topics {
            let name = try topic.string("Topic") ?? ""
            let partitions = try topic.structs("Partitions") ?? []
            let readable = allowed(session, .read, topic: name)
            for partition in partitions {
                let index = try partition.int32("Partition")
                let handle: Result<Topic, StrataError>
                if !readable {
                    handle = .failure(Self.aclDenied(name))
                } else {
                    do throws(StrataError) { handle = .success(try EngineCalls.partition(lake, name, index)) } catch {
                        handle = .failure(error)
                    }
                }
                wants.append(
                    FetchWant(
                        topicName: name, index: index, offset: try partition.int("FetchOffset"),
                        maxBytes: min(max(0, Int(try partition.int32("PartitionMaxBytes"))), options.fetchBytesMax),
                        log: handle))
            }
            layout.append((name, partitions.count))
        }
        let deadline = ContinuousClock.now + .milliseconds(maxWaitMs)
        var parts = await read(wants, maxBytes: maxBytes)
        while parts.reduce(0, { $0 + $1.records.count }) < minBytes, !parts.contains(where: { $0.code != .none }) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else { break }
            var waits: [(Topic, Int64)] = []
            for (want, part) in zip(wants, parts) {
                if case .success(let topic) = want.log { waits.append((topic, part.highWatermark)) }
            }
            guard !waits.isEmpty else { break }
            let leftMs = max(
                1, Int64(left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000))
            await Self.waitForAny(waits, timeoutMs: leftMs)
            parts = await read(wants, maxBytes: maxBytes)
            // A log closed meanwhile (its topic deleted or altered) ends every wait at once: answer
            // now, with the partition's error, instead of spinning until the deadline.
            if wants.contains(where: { if case .success(let topic) = $0.log { topic.isClosed } else { false } }) {
                for (i, want) in wants.enumerated() {
                    if case .success(let topic) = want.log, topic.isClosed {
                        parts[i].code = .unknownTopicOrPartition
                        parts[i].records = []
                    }
                }
                break
            }
        }
        var responses: [KafkaStruct] = []
        var next = 0
        for (name, count) in layout {
            var partitions: [KafkaStruct] = []
            for i in next ..< next + count {
                let part = parts[i]
                metrics.fetched(topic: name, kafkaBatches: part.records)
                partitions.append(
                    [
                        "PartitionIndex": .int(Int64(wants[i].index)), "ErrorCode": part.code.value,
                        "HighWatermark": .int(part.highWatermark), "LastStableOffset": .int(part.highWatermark),
                        "LogStartOffset": .int(part.logStartOffset), "AbortedTransactions": .array(nil),
                        "PreferredReadReplica": .int(-1), "Records": .bytes(part.records),
                    ])
            }
            next += count
            responses.append(["Topic": .string(name), "Partitions": .structs(partitions)])
        }
        return [
            "ThrottleTimeMs": .int(0), "ErrorCode": KafkaErrorCode.none.value, "SessionId": .int(0),
            "Responses": .structs(responses),
        ]
    }

    /// Reads every wanted partition once, in request order, sharing `maxBytes`.
    private func read(_ wants: [FetchWant], maxBytes: Int) async -> [FetchPart] {
        var parts: [FetchPart] = []
        var budget = maxBytes
        var total = 0
        for want in wants {
            var part = FetchPart()
            switch want.log {
            case .failure(let error):
                part.code = Self.isAclDenial(error) ? .topicAuthorizationFailed : ErrorMapping.kafkaCode(error.code)
            case .success(let topic):
                let highWatermark = topic.highWatermark
                part.highWatermark = highWatermark
                if want.offset < 0 || want.offset > highWatermark {
                    part.code = .offsetOutOfRange
                    part.logStartOffset = (try? await topic.logStartOffset()) ?? -1
                } else if want.offset == highWatermark || want.maxBytes == 0 || (budget <= 0 && total > 0) {
                    part.logStartOffset = (try? await topic.logStartOffset()) ?? -1
                } else {
                    part = await readPart(topic, want, maxBytes: min(want.maxBytes, max(budget, 1)))
                    // Only the first partition with data may exceed MaxBytes (with one batch, so a
                    // large batch never stalls a consumer); a later one that would comes next time.
                    if total > 0, part.records.count > budget { part.records = [] }
                }
            }
            budget -= part.records.count
            total += part.records.count
            parts.append(part)
        }
        return parts
    }

    private func readPart(_ topic: Topic, _ want: FetchWant, maxBytes: Int) async -> FetchPart {
        var part = FetchPart()
        do throws(StrataError) {
            let read = try await EngineCalls.readBatches(topic, from: want.offset, maxBytes: maxBytes)
            part.highWatermark = read.highWatermark
            part.logStartOffset = read.logStartOffset
            // One array for the partition's batches, sized once (a Kafka header is 3 bytes shorter).
            var records = KafkaWriter(capacity: read.batches.reduce(0) { $0 + $1.bytes.count })
            for batch in read.batches { try Self.appendKafkaBatch(batch, topic: topic, to: &records) }
            part.records = records.bytes
        } catch {
            part.code = ErrorMapping.kafkaCode(error.code)
            if error.code == .offsetOutOfRange {
                part.logStartOffset = error.validRange?.lowerBound ?? -1
                part.highWatermark = error.validRange?.upperBound ?? topic.highWatermark
            } else {
                log("fetch topic=\(want.topicName) partition=\(want.index) offset=\(want.offset): \(error)")
            }
            part.records = []
        }
        return part
    }

    /// The Kafka form of a batch the read checked (its CRC is not computed again), at the end of `w`.
    private static func appendKafkaBatch(
        _ strata: StoredBatch, topic: Topic, to w: inout KafkaWriter
    ) throws(StrataError) {
        do throws(KafkaDecodeError) {
            try KafkaBatch.appendFromStrata(checked: strata.bytes, header: strata.header, to: &w)
        } catch {
            throw StrataError(.corrupt, "stored batch does not convert: \(error)", topic: topic.name)
        }
    }

    /// Returns when any of the logs passes its offset, or after `timeoutMs`. The other waiters
    /// are cancelled then, so none keeps a slot of a log's `readWaitersMax` past this Fetch.
    private static func waitForAny(_ waits: [(Topic, Int64)], timeoutMs: Int64) async {
        await withTaskGroup(of: Void.self) { group in
            for (topic, offset) in waits {
                group.addTask {
                    do {
                        _ = try await topic.waitForData(at: offset, timeoutMs: timeoutMs)
                    } catch  where !Task.isCancelled {
                        // Too many readers wait on this log (`busy`): wait out the time instead.
                        try? await Task.sleep(for: .milliseconds(timeoutMs))
                    } catch {}
                }
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// ListOffsets 1–7: -2 the log start, -1 the high watermark, a timestamp the first offset
    /// whose record's timestamp is at least it (cold tier included). -3 (max timestamp) is not
    /// supported: UNSUPPORTED_VERSION for that partition.
    func listOffsets(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError) -> KafkaStruct {
        var topics: [KafkaStruct] = []
        for topic in try request.body.structs("Topics") ?? [] {
            let name = try topic.string("Name") ?? ""
            var partitions: [KafkaStruct] = []
            let describable = allowed(session, .describe, topic: name)
            for partition in try topic.structs("Partitions") ?? [] {
                let index = try partition.int32("PartitionIndex")
                guard describable else {
                    partitions.append(
                        [
                            "PartitionIndex": .int(Int64(index)), "LeaderEpoch": .int(0), "Offset": .int(-1),
                            "Timestamp": .int(-1), "ErrorCode": KafkaErrorCode.topicAuthorizationFailed.value,
                        ])
                    continue
                }
                let timestamp = try partition.int("Timestamp")
                var result: KafkaStruct = ["PartitionIndex": .int(Int64(index)), "LeaderEpoch": .int(0)]
                do throws(StrataError) {
                    let log = try EngineCalls.partition(lake, name, index)
                    let (offset, found) = try await Self.listOffset(log, timestamp: timestamp)
                    result["ErrorCode"] = KafkaErrorCode.none.value
                    result["Offset"] = .int(offset)
                    result["Timestamp"] = .int(found)
                } catch {
                    if error.code == .invalidArgument, timestamp == -3 {
                        result["ErrorCode"] = KafkaErrorCode.unsupportedVersion.value
                    } else if error.code == .invalidArgument {
                        result["ErrorCode"] = KafkaErrorCode.invalidTopic.value
                    } else {
                        if error.code != .notFound { log("list offsets topic=\(name) partition=\(index): \(error)") }
                        result["ErrorCode"] = ErrorMapping.kafkaCode(error.code).value
                    }
                    result["Offset"] = .int(-1)
                    result["Timestamp"] = .int(-1)
                }
                partitions.append(result)
            }
            topics.append(["Name": .string(name), "Partitions": .structs(partitions)])
        }
        return ["ThrottleTimeMs": .int(0), "Topics": .structs(topics)]
    }

    static let earliestTimestamp: Int64 = -2
    static let latestTimestamp: Int64 = -1
    static let maxTimestamp: Int64 = -3

    /// The offset (and the found record's timestamp, -1 for earliest/latest) ListOffsets answers.
    /// No record at or after `timestamp`: offset -1, as Kafka answers.
    private static func listOffset(_ log: Topic, timestamp: Int64) async throws(StrataError) -> (Int64, Int64) {
        switch timestamp {
        case earliestTimestamp: return (try await log.logStartOffset(), -1)
        case latestTimestamp: return (log.highWatermark, -1)
        case maxTimestamp:
            throw StrataError(.invalidArgument, "ListOffsets timestamp -3 (max timestamp) is not supported")
        default:
            let offset = try await log.offset(forTimestamp: timestamp)
            guard offset < log.highWatermark else { return (-1, -1) }
            let record = try await log.read(from: offset, maxBytes: 1).records.first
            return (offset, record?.timestamp ?? -1)
        }
    }
}

/// True for the first caller of `claim` only.
private final class FirstOnly: Sendable {
    private let claimed = Mutex(false)

    func claim() -> Bool {
        claimed.withLock { done in
            defer { done = true }
            return !done
        }
    }
}
