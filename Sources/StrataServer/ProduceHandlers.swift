import Strata
import StrataKafka

// Produce and InitProducerId: writes.
extension RequestDispatcher {
    /// How one partition of a Produce request ended.
    struct ProduceOutcome: Sendable {
        var code = KafkaErrorCode.none
        var baseOffset: Int64 = -1
        var logStartOffset: Int64 = -1
        var message: String? = nil
    }

    /// Produce 3–9. Each partition is appended on its own (one's failure leaves the others
    /// alone), all at once so they share fsyncs; the answer comes after the engine returns, which
    /// on a `sync` topic is after fdatasync. Acks 0: no answer at all, and when a partition
    /// failed the connection closes, as Kafka does, so the producer learns of it.
    func produce(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError) -> Answer {
        let acks = try request.body.int16("Acks")
        let transactional = try request.body.string("TransactionalId") != nil
        var jobs: [(name: String, index: Int32, records: [UInt8]?)] = []
        var layout: [(name: String, count: Int)] = []
        var denied = Set<String>()
        for topic in try request.body.structs("TopicData") ?? [] {
            let name = try topic.string("Name") ?? ""
            if !allowed(session, .write, topic: name) { denied.insert(name) }
            let partitions = try topic.structs("PartitionData") ?? []
            for partition in partitions {
                jobs.append((name, try partition.int32("Index"), try partition.bytes("Records")))
            }
            layout.append((name, partitions.count))
        }
        var outcomes = [ProduceOutcome](repeating: ProduceOutcome(), count: jobs.count)
        if ![0, 1, -1].contains(acks) {
            log("produce: acks \(acks) is not 0, 1 or -1; nothing stored")
            for i in outcomes.indices {
                outcomes[i].code = .invalidRequiredAcks
                outcomes[i].message = "acks \(acks) is not 0, 1 or -1 (all)"
            }
        } else {
            await withTaskGroup(of: (Int, ProduceOutcome).self) { group in
                for (i, job) in jobs.enumerated() {
                    if denied.contains(job.name) {
                        outcomes[i].code = .topicAuthorizationFailed
                        continue
                    }
                    group.addTask {
                        (
                            i,
                            await self.produce(
                                job.records, to: job.name, partition: job.index, transactional: transactional)
                        )
                    }
                }
                for await (i, outcome) in group { outcomes[i] = outcome }
            }
        }
        for outcome in outcomes where outcome.code != .none { metrics.produceFailed(outcome.code) }
        if acks == 0 {
            guard let failed = outcomes.first(where: { $0.code != .none }) else { return .none }
            return .close("acks 0 produce failed (\(failed.code)): \(failed.message ?? "")")
        }
        var responses: [KafkaStruct] = []
        var next = 0
        for (name, count) in layout {
            var partitions: [KafkaStruct] = []
            for i in next ..< next + count {
                let outcome = outcomes[i]
                partitions.append(
                    [
                        "Index": .int(Int64(jobs[i].index)), "ErrorCode": outcome.code.value,
                        "BaseOffset": .int(outcome.baseOffset), "LogAppendTimeMs": .int(-1),
                        "LogStartOffset": .int(outcome.logStartOffset), "RecordErrors": .structs([]),
                        "ErrorMessage": .string(outcome.message),
                    ])
            }
            next += count
            responses.append(["Name": .string(name), "PartitionResponses": .structs(partitions)])
        }
        return .body(["Responses": .structs(responses), "ThrottleTimeMs": .int(0)])
    }

    /// Checks and appends one partition's records. Nothing is stored unless every check passed.
    private func produce(
        _ records: [UInt8]?, to name: String, partition index: Int32, transactional: Bool
    ) async -> ProduceOutcome {
        func refused(_ code: KafkaErrorCode, _ message: String) -> ProduceOutcome {
            log("produce topic=\(name) partition=\(index): \(message); nothing stored")
            return ProduceOutcome(code: code, message: message)
        }
        if transactional {
            return refused(
                .unsupportedForMessageFormat, "transactional producers are not supported (TransactionalId set)")
        }
        guard TopicName.isValid(name) else { return refused(.invalidTopic, "'\(name)' is not a valid topic name") }
        guard name != Self.groupsTopic else {
            return refused(.invalidTopic, "\(name) is internal: only the group coordinator writes it")
        }
        let topic: Topic
        do throws(StrataError) { topic = try EngineCalls.partition(lake, name, index) } catch {
            if error.code == .notFound { return ProduceOutcome(code: .unknownTopicOrPartition, message: error.message) }
            return refused(ErrorMapping.kafkaCode(error.code), error.message)
        }
        guard let records, !records.isEmpty else { return refused(.invalidRecord, "no record batch") }
        guard records.count <= topic.config.batchBytesMax + KafkaBatchHeader.size else {
            return refused(
                .messageTooLarge,
                "batch of \(records.count) bytes, limit max.message.bytes=\(topic.config.batchBytesMax)")
        }
        let strata: [UInt8]
        do throws(KafkaDecodeError) {
            let batches = try KafkaBatch.split(records)
            guard batches.count == 1 else {
                return refused(.invalidRecord, "\(batches.count) record batches; Produce v3+ carries exactly one")
            }
            // The Strata batch is 3 bytes longer than Kafka's and must fit the topic's batchBytesMax.
            let limit = topic.config.batchBytesMax - (BatchHeader.size - KafkaBatchHeader.size)
            // `split` checked the CRC (a decompressed batch gets a new one): not checked again.
            let plain = try EngineCalls.decompressed(records, maxBytes: limit, crcChecked: true)
            strata = try Self.strataBatch(plain, crcChecked: true)
        } catch {
            return refused(ErrorMapping.produceCode(error), error.description)
        }
        do throws(StrataError) {
            let base = try await EngineCalls.appendBatch(topic, strata)
            let start = (try? await topic.logStartOffset()) ?? -1
            metrics.produced(topic: name, kafkaBatch: records)
            return ProduceOutcome(baseOffset: base, logStartOffset: start)
        } catch {
            return refused(ErrorMapping.appendCode(error.code), error.description)
        }
    }

    /// The Strata batch of an uncompressed Kafka batch. As Kafka does, one whose header's
    /// maxTimestamp is not its records' maximum (librdkafka's before 1970) gets the records'
    /// maximum, and one without a producer id gets epoch and sequence -1 (aiokafka writes 0).
    /// `crcChecked`: the caller checked the Kafka CRC (each produced byte is checked once; the
    /// Strata CRC is then derived from the Kafka one, `KafkaBatch.toStrata`).
    static func strataBatch(_ input: [UInt8], crcChecked: Bool = false) throws(KafkaDecodeError) -> [UInt8] {
        let kafka = try ProducedBatchRepair.withoutProducerFields(input, crcChecked: crcChecked) ?? input
        do throws(KafkaDecodeError) {
            return try KafkaBatch.toStrata(kafka, baseOffset: 0, crcChecked: crcChecked)
        } catch  where error.code == .corruptRecords && error.field == "RecordBatch.batch.maxTimestamp" {
            guard let patched = ProducedBatchRepair.patched(kafka) else { throw error }
            return try KafkaBatch.toStrata(patched, baseOffset: 0)
        }
    }

    /// InitProducerId 0–4: a producer id and epoch for an idempotent producer. Transactional
    /// producers (a non-null TransactionalId) are refused.
    func initProducerId(_ request: KafkaRequest) async throws(KafkaDecodeError) -> KafkaStruct {
        if let transactionalId = try request.body.string("TransactionalId") {
            log("init producer id: transactional id '\(transactionalId)' refused (transactions are not supported)")
            return [
                "ThrottleTimeMs": .int(0), "ErrorCode": KafkaErrorCode.unsupportedForMessageFormat.value,
                "ProducerId": .int(-1), "ProducerEpoch": .int(-1),
            ]
        }
        do throws(StrataError) {
            let (id, epoch) = try await EngineCalls.allocateProducerId(lake)
            return [
                "ThrottleTimeMs": .int(0), "ErrorCode": KafkaErrorCode.none.value, "ProducerId": .int(id),
                "ProducerEpoch": .int(Int64(epoch)),
            ]
        } catch {
            log("init producer id: \(error)")
            return [
                "ThrottleTimeMs": .int(0), "ErrorCode": ErrorMapping.kafkaCode(error.code).value,
                "ProducerId": .int(-1), "ProducerEpoch": .int(-1),
            ]
        }
    }
}
