import Strata
import StrataKafka

// ApiVersions and Metadata: what a client asks first.
extension RequestDispatcher {
    /// ApiVersions 0–3: every supported API and its versions, Produce advertised from v0.
    func apiVersions(_ request: KafkaRequest) -> KafkaStruct {
        ["ErrorCode": KafkaErrorCode.none.value, "ApiKeys": Self.advertisedApis, "ThrottleTimeMs": .int(0)]
    }

    /// The ApiVersions list. Produce is advertised from v0 although v0–v2 (legacy message sets)
    /// are refused with UNSUPPORTED_VERSION: librdkafka before 2.11.1 compresses with gzip,
    /// snappy or lz4 only when the broker's Produce range includes v0, and sends uncompressed
    /// otherwise. Clients pick the highest common version (9), so none sends v0–v2.
    static let advertisedApis: KafkaValue = .structs(
        KafkaApis.all.map { api in
            let min = api.key == .produce ? 0 : api.versions.lowerBound
            return [
                "ApiKey": .int(Int64(api.key.rawValue)), "MinVersion": .int(Int64(min)),
                "MaxVersion": .int(Int64(api.versions.upperBound)),
            ]
        })

    /// Metadata 1–12: this broker, the cluster id and each requested topic's partitions (all
    /// led by this node). Unknown topics are created when both `--auto-create-topics` and the
    /// request allow it. `__consumer_offsets` is never listed; asked by name it is INVALID_TOPIC.
    func metadata(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError) -> KafkaStruct {
        let allowed = try request.body.bool("AllowAutoTopicCreation")
        let autoCreate = options.autoCreateTopics && allowed
        var topics: [KafkaStruct] = []
        if let requested = try request.body.structs("Topics") {
            var seen = Set<String>()
            for topic in requested {
                guard let name = try topic.string("Name") else {
                    // Asked by id only: Strata's topics have none (TopicId zero).
                    topics.append(
                        [
                            "ErrorCode": KafkaErrorCode.unknownTopicId.value, "Name": .string(nil),
                            "TopicId": .uuid(try topic.uuid("TopicId")), "Partitions": .structs([]),
                        ])
                    continue
                }
                guard seen.insert(name).inserted else { continue }
                guard self.allowed(session, .describe, topic: name) else {
                    topics.append(
                        ["ErrorCode": KafkaErrorCode.topicAuthorizationFailed.value, "Name": .string(name), "Partitions": .structs([])])
                    continue
                }
                // Auto-creation is a create: without it an absent topic stays absent.
                let mayCreate = autoCreate && security.allows(session.principal, .create, .topic, name)
                topics.append(await topicMetadata(name, autoCreate: mayCreate))
            }
        } else {
            do throws(StrataError) {
                for name in try lake.topicNames()
                where name != Self.groupsTopic && security.allows(session.principal, .describe, .topic, name) {
                    topics.append(await topicMetadata(name, autoCreate: false))
                }
            } catch {
                log("metadata: cannot list topics: \(error)")
            }
        }
        // The listener the client connected to (plaintext or TLS).
        let broker: KafkaStruct = [
            "NodeId": .int(Int64(KafkaServerOptions.nodeId)), "Host": .string(session.listener.advertisedHost),
            "Port": .int(Int64(session.listener.advertisedPort)),
        ]
        return [
            "ThrottleTimeMs": .int(0), "Brokers": .structs([broker]), "ClusterId": .string(clusterId),
            "ControllerId": .int(Int64(KafkaServerOptions.nodeId)), "Topics": .structs(topics),
        ]
    }

    private func topicMetadata(_ name: String, autoCreate: Bool) async -> KafkaStruct {
        func failed(_ code: KafkaErrorCode) -> KafkaStruct {
            ["ErrorCode": code.value, "Name": .string(name), "Partitions": .structs([])]
        }
        // The internal groups topic is not Kafka's to see (and must never be auto-created).
        guard TopicName.isValid(name), name != Self.groupsTopic else { return failed(.invalidTopic) }
        let count: Int32
        do throws(StrataError) {
            count = try await partitionCount(name, creatingIfAbsent: autoCreate)
        } catch {
            if error.code != .notFound { log("metadata topic=\(name): \(error)") }
            return failed(ErrorMapping.kafkaCode(error.code))
        }
        let node = KafkaValue.ints([KafkaServerOptions.nodeId])
        let partitions: [KafkaStruct] = (0 ..< count).map { index in
            [
                "ErrorCode": KafkaErrorCode.none.value, "PartitionIndex": .int(Int64(index)),
                "LeaderId": .int(Int64(KafkaServerOptions.nodeId)), "LeaderEpoch": .int(0), "ReplicaNodes": node,
                "IsrNodes": node, "OfflineReplicas": .ints([Int32]()),
            ]
        }
        return [
            "ErrorCode": KafkaErrorCode.none.value, "Name": .string(name), "IsInternal": .bool(false),
            "Partitions": .structs(partitions),
        ]
    }

    /// The topic's partition count, creating it with the defaults first when asked to.
    private func partitionCount(_ name: String, creatingIfAbsent: Bool) async throws(StrataError) -> Int32 {
        do throws(StrataError) {
            return try EngineCalls.partitionCount(lake, name)
        } catch  where error.code == .notFound && creatingIfAbsent {
            do throws(StrataError) {
                try await EngineCalls.createTopic(
                    lake, name, config: EngineCalls.defaultTopicConfig(lake), partitions: options.defaultPartitions)
                log("auto-created topic=\(name) partitions=\(options.defaultPartitions)")
            } catch {
                // Another request may have created it meanwhile: that is success.
                if let count = try? EngineCalls.partitionCount(lake, name) { return count }
                throw error
            }
            return try EngineCalls.partitionCount(lake, name)
        }
    }
}
