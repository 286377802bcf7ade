import Strata
import StrataKafka

// CreateTopics, DeleteTopics, DescribeConfigs: topic administration through Kafka's admin APIs.
extension RequestDispatcher {
    /// CreateTopics 2–5: partitions, replication factor 1 (or -1, the default), Kafka-named
    /// configs mapped onto `TopicConfig`; an unknown config is INVALID_CONFIG naming it.
    func createTopics(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError) -> KafkaStruct {
        let validateOnly = try request.body.bool("ValidateOnly")
        let topics = try request.body.structs("Topics") ?? []
        var counts: [String: Int] = [:]
        for topic in topics { counts[try topic.string("Name") ?? "", default: 0] += 1 }
        var results: [KafkaStruct] = []
        for topic in topics {
            let name = try topic.string("Name") ?? ""
            var result: KafkaStruct = ["Name": .string(name)]
            do throws(AdminRefusal) {
                guard counts[name] == 1 else {
                    throw AdminRefusal(.invalidRequest, "topic '\(name)' is named more than once in the request")
                }
                guard allowed(session, .create, topic: name) else {
                    throw AdminRefusal(.topicAuthorizationFailed, "not authorized to create topic '\(name)'")
                }
                let (config, partitions) = try await createTopic(name, topic, validateOnly: validateOnly)
                result["ErrorCode"] = KafkaErrorCode.none.value
                result["NumPartitions"] = .int(Int64(partitions))
                result["ReplicationFactor"] = .int(1)
                result["Configs"] = .structs(
                    Self.configEntries(config, keys: nil, version: 0).map { entry in
                        var created = entry
                        created["Synonyms"] = nil
                        created["ConfigType"] = nil
                        created["Documentation"] = nil
                        return created
                    })
            } catch {
                result["ErrorCode"] = error.code.value
                result["ErrorMessage"] = .string(error.message)
                if error.code == .invalidConfig { result["TopicConfigErrorCode"] = error.code.value }
            }
            results.append(result)
        }
        return ["ThrottleTimeMs": .int(0), "Topics": .structs(results)]
    }

    private func createTopic(
        _ name: String, _ topic: KafkaStruct, validateOnly: Bool
    ) async throws(AdminRefusal) -> (TopicConfig, Int32) {
        guard TopicName.isValid(name) else {
            throw AdminRefusal(
                .invalidTopic, "'\(name)' is not a valid topic name ([A-Za-z0-9._-], 1 to 249 characters)")
        }
        guard name != Self.groupsTopic else {
            throw AdminRefusal(.invalidTopic, "\(name) is internal: the group coordinator makes it")
        }
        let requested = try AdminRefusal.decoding { () throws(KafkaDecodeError) in try topic.int32("NumPartitions") }
        let factor = try AdminRefusal.decoding { () throws(KafkaDecodeError) in try topic.int16("ReplicationFactor") }
        let assignments = try AdminRefusal.decoding { () throws(KafkaDecodeError) in try topic.structs("Assignments") }
        guard assignments?.isEmpty ?? true else {
            throw AdminRefusal(.invalidRequest, "manual replica assignments are not supported (one broker)")
        }
        let partitions = requested == -1 ? options.defaultPartitions : requested
        guard partitions >= 1 else {
            throw AdminRefusal(.invalidPartitions, "NumPartitions \(requested) is not ≥ 1 (or -1 for the default)")
        }
        guard factor == 1 || factor == -1 else {
            throw AdminRefusal(.invalidReplicationFactor, "replication factor \(factor): this broker keeps 1 copy")
        }
        let configs = try AdminRefusal.decoding { () throws(KafkaDecodeError) in try topic.structs("Configs") } ?? []
        let config = try Self.topicConfig(from: configs, base: EngineCalls.defaultTopicConfig(lake))
        if (try? EngineCalls.partitionCount(lake, name)) != nil {
            throw AdminRefusal(.topicAlreadyExists, "topic '\(name)' already exists")
        }
        if validateOnly { return (config, partitions) }
        do throws(StrataError) {
            try await EngineCalls.createTopic(lake, name, config: config, partitions: partitions)
        } catch {
            if (try? EngineCalls.partitionCount(lake, name)) != nil {
                throw AdminRefusal(.topicAlreadyExists, "topic '\(name)' already exists")
            }
            let code: KafkaErrorCode = error.message.contains("partition") ? .invalidPartitions : .invalidRequest
            throw AdminRefusal(error.code == .invalidArgument ? code : ErrorMapping.kafkaCode(error.code), "\(error)")
        }
        log("created topic=\(name) partitions=\(partitions)")
        return (config, partitions)
    }

    /// A config built from CreateTopics' `Configs`, Kafka names only (`TopicConfigKey.kafkaName`).
    /// `cleanup.policy=delete` is what Strata does and is accepted; a null value keeps the default.
    /// `max.message.bytes` bounds the batch and, as in Kafka, a single record too.
    static func topicConfig(from configs: [KafkaStruct], base: TopicConfig) throws(AdminRefusal) -> TopicConfig {
        var config = base
        var seen = Set<String>()
        for entry in configs {
            let (name, value) = try AdminRefusal.decoding { () throws(KafkaDecodeError) in
                (try entry.string("Name") ?? "", try entry.string("Value"))
            }
            guard seen.insert(name).inserted else {
                throw AdminRefusal(.invalidConfig, "config '\(name)' is given more than once")
            }
            if name == "cleanup.policy" {
                guard value == nil || value == "delete" else {
                    throw AdminRefusal(.invalidConfig, "cleanup.policy '\(value ?? "")': only delete is supported")
                }
                continue
            }
            guard let key = TopicConfigKey.all.first(where: { $0.kafkaName == name }) else {
                let known = (TopicConfigKey.all.compactMap(\.kafkaName) + ["cleanup.policy"]).joined(separator: ", ")
                throw AdminRefusal(.invalidConfig, "unknown topic config '\(name)' (known: \(known))")
            }
            guard let value else { continue }
            do throws(StrataError) {
                try config.set(name, to: value)
                if key.name == "batchBytesMax" { config.recordBytesMax = config.batchBytesMax }
            } catch {
                throw AdminRefusal(.invalidConfig, "config '\(name)': \(error.message)")
            }
        }
        do throws(StrataError) { try config.validate() } catch {
            throw AdminRefusal(.invalidConfig, error.message)
        }
        return config
    }

    /// DeleteTopics 1–4: every partition of each named topic, both tiers, and every group's
    /// committed offsets for it. `__consumer_offsets` is INVALID_TOPIC.
    func deleteTopics(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError) -> KafkaStruct {
        var results: [KafkaStruct] = []
        for name in try request.body.strings("TopicNames") ?? [] {
            let name = name ?? ""
            var code = KafkaErrorCode.none
            if !TopicName.isValid(name) || name == Self.groupsTopic {
                code = .invalidTopic
            } else if !allowed(session, .delete, topic: name) {
                code = .topicAuthorizationFailed
            } else {
                do throws(StrataError) {
                    _ = try await lake.deleteTopic(name)
                    log("deleted topic=\(name)")
                    await groups.topicDeleted(name)
                } catch {
                    if error.code != .notFound { log("delete topic=\(name): \(error)") }
                    code = ErrorMapping.kafkaCode(error.code)
                }
            }
            results.append(["Name": .string(name), "ErrorCode": code.value])
        }
        return ["ThrottleTimeMs": .int(0), "Responses": .structs(results)]
    }

    /// DescribeConfigs 1–4: a topic's configs under their Kafka names; a broker has none to show.
    func describeConfigs(_ request: KafkaRequest, session: ConnectionSession) async throws(KafkaDecodeError)
        -> KafkaStruct
    {
        var results: [KafkaStruct] = []
        for resource in try request.body.structs("Resources") ?? [] {
            let type = try resource.int8("ResourceType")
            let name = try resource.string("ResourceName") ?? ""
            let keys = try resource.strings("ConfigurationKeys").map { Set($0.compactMap { $0 }) }
            var result: KafkaStruct = ["ResourceType": .int(Int64(type)), "ResourceName": .string(name)]
            switch type {
            case Self.topicResource where !allowed(session, .describe, topic: name):
                result["ErrorCode"] = KafkaErrorCode.topicAuthorizationFailed.value
                result["ErrorMessage"] = .string("not authorized to describe topic '\(name)'")
                result["Configs"] = .structs([])
            case Self.topicResource:
                do throws(StrataError) {
                    let config = try EngineCalls.partition(lake, name, 0).config
                    result["ErrorCode"] = KafkaErrorCode.none.value
                    result["Configs"] = .structs(Self.configEntries(config, keys: keys, version: request.version))
                } catch {
                    result["ErrorCode"] = ErrorMapping.kafkaCode(error.code).value
                    result["ErrorMessage"] = .string(error.message)
                    result["Configs"] = .structs([])
                }
            case Self.brokerResource:
                result["ErrorCode"] = KafkaErrorCode.none.value
                result["Configs"] = .structs([])
            default:
                result["ErrorCode"] = KafkaErrorCode.invalidRequest.value
                result["ErrorMessage"] = .string("resource type \(type) is not supported (2 topic, 4 broker)")
                result["Configs"] = .structs([])
            }
            results.append(result)
        }
        return ["ThrottleTimeMs": .int(0), "Results": .structs(results)]
    }

    static let topicResource: Int8 = 2
    static let brokerResource: Int8 = 4

    /// A topic config's Kafka-named settings, as DescribeConfigs (and CreateTopics v5) list them.
    static func configEntries(_ config: TopicConfig, keys: Set<String>?, version: Int16) -> [KafkaStruct] {
        let defaults = TopicConfig()
        var entries: [KafkaStruct] = []
        func add(_ name: String, _ value: String, isDefault: Bool, type: Int64, readOnly: Bool = false) {
            guard keys?.contains(name) ?? true else { return }
            entries.append(
                [
                    "Name": .string(name), "Value": .string(value), "ReadOnly": .bool(readOnly),
                    "ConfigSource": .int(isDefault ? 5 : 1), "IsSensitive": .bool(false), "Synonyms": .structs([]),
                    "ConfigType": .int(type),
                ])
        }
        add("cleanup.policy", "delete", isDefault: true, type: 7, readOnly: true)
        for key in TopicConfigKey.all {
            guard let kafkaName = key.kafkaName else { continue }
            let text = config.text(of: key)
            let type: Int64 = ["batchBytesMax", "indexIntervalBytes"].contains(key.name) ? 3 : 5
            add(kafkaName, text == "none" ? "-1" : text, isDefault: text == defaults.text(of: key), type: type)
        }
        return entries
    }
}

/// Why one topic of an admin request was refused: its Kafka code and a message naming the cause.
struct AdminRefusal: Error {
    var code: KafkaErrorCode
    var message: String

    init(_ code: KafkaErrorCode, _ message: String) {
        self.code = code
        self.message = message
    }

    /// Runs a schema accessor; a missing field (a bug, never input) becomes INVALID_REQUEST.
    static func decoding<T>(_ body: () throws(KafkaDecodeError) -> T) throws(AdminRefusal) -> T {
        do throws(KafkaDecodeError) { return try body() } catch { throw AdminRefusal(.invalidRequest, "\(error)") }
    }
}
