import ArgumentParser
import Foundation
import Strata

/// `strata inspect groups`: the consumer groups stored in a lake, with their members, what each
/// was assigned, and their committed offsets against each partition's high watermark.
struct InspectGroups: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "groups",
        abstract: "List the consumer groups of a lake: members, assignments, committed offsets and lag.",
        discussion: """
            Opens the lake read-only (works beside a running `strata serve`; nothing is created or \
            changed) and replays its internal topic __consumer_offsets (formats/groups.md). STATE is the \
            group as stored: Stable (the members of its last completed generation) or Empty (no members; \
            a group that only committed offsets has no generation). For protocol type "consumer" each \
            member's assignment is decoded from Kafka's ConsumerProtocol Assignment (topic[partitions], \
            then its user data in hex); bytes that do not decode are shown as hex:…. Per committed \
            partition: the committed offset, its metadata, when it was committed, the partition's high \
            watermark and LAG = HIGH-WATERMARK - COMMITTED (never below 0); a partition that no longer \
            exists (its topic was deleted) shows '-' for both. Offsets of deleted topics stay listed until \
            the next `strata serve` drops them. Exit codes: 0 ok, 1 a record of __consumer_offsets is \
            damaged, 2 no such lake or group.

            Example:
              strata inspect groups --lake /lake
              strata inspect groups --lake /lake --group orders-app --json
            """
    )

    @OptionGroup var lakeOption: ReadLakeOption
    @Option(help: "Only this group (an unknown group is an error).")
    var group: String?
    @Flag(help: "One JSON object per group and line.")
    var json = false

    func run() async throws {
        let lake = try lakeOption.open()
        let views: [GroupView]
        do {
            var groups = try await GroupStore.read(lake)
            if let group {
                guard let stored = groups[group] else {
                    throw StrataError(
                        .notFound, "no group '\(group)' in lake \(lake.path) (\(groups.count) groups stored)")
                }
                groups = [group: stored]
            }
            views = try groups.keys.sorted().map { name in try GroupView(name, groups[name] ?? StoredGroup(), lake) }
        } catch {
            await lake.close(after: error)
            throw error
        }
        try await lake.close()
        if json {
            views.forEach { print(jsonLine($0.json)) }
        } else if views.isEmpty {
            print("no consumer groups in \(lake.path)")
        } else {
            print(views.map(\.text).joined(separator: "\n\n"))
        }
    }
}

/// One group as `inspect groups` shows it.
struct GroupView {
    struct Partition {
        var partition: GroupTopicPartition
        var committed: CommittedOffset
        /// Nil when the partition no longer exists.
        var highWatermark: Int64?
        var lag: Int64? { highWatermark.map { max(0, $0 - committed.offset) } }
    }

    var name: String
    var stored: StoredGroup
    var partitions: [Partition]

    init(_ name: String, _ stored: StoredGroup, _ lake: Lake) throws {
        self.name = name
        self.stored = stored
        partitions = try stored.offsets.sorted { $0.key < $1.key }.map { partition, committed in
            Partition(
                partition: partition, committed: committed, highWatermark: try Self.highWatermark(lake, partition))
        }
    }

    private static func highWatermark(_ lake: Lake, _ partition: GroupTopicPartition) throws -> Int64? {
        guard TopicName.isValid(partition.topic), partition.partition >= 0 else { return nil }
        do throws(StrataError) {
            return try lake.partition(partition.topic, partition.partition).highWatermark
        } catch  where error.code == .notFound {
            return nil
        }
    }

    var state: String { (stored.metadata?.members.isEmpty ?? true) ? "Empty" : "Stable" }
    var totalLag: Int64 { partitions.reduce(0) { $0 + ($1.lag ?? 0) } }

    var text: String {
        var lines: [String] = []
        var head = "group \(name): \(state)"
        if let metadata = stored.metadata {
            head += ", generation \(metadata.generation), protocol \(metadata.protocolType)"
            head += metadata.protocolName.map { "/\($0)" } ?? ""
            head += ", leader \(metadata.leader ?? "-"), \(metadata.members.count) members"
            head += ", stored \(humanTime(metadata.stateTimestampMs))"
        } else {
            head += ", no membership stored (offsets only)"
        }
        lines.append(head + ", lag \(totalLag)")
        if let metadata = stored.metadata, !metadata.members.isEmpty {
            let rows = metadata.members.map { member in
                [
                    member.memberId, member.groupInstanceId ?? "-", member.clientId, member.clientHost,
                    "\(member.sessionTimeoutMs)",
                    ConsumerAssignment.text(member.assignment, type: metadata.protocolType),
                ]
            }
            lines += indentedTable(["MEMBER", "INSTANCE", "CLIENT", "HOST", "SESSION-MS", "ASSIGNMENT"], rows)
        }
        if !partitions.isEmpty {
            let rows = partitions.map { p in
                [
                    p.partition.topic, "\(p.partition.partition)", "\(p.committed.offset)",
                    p.highWatermark.map { "\($0)" } ?? "-", p.lag.map { "\($0)" } ?? "-",
                    "\(p.committed.leaderEpoch)", ByteText.quoted(Array(p.committed.metadata.utf8)),
                    humanTime(p.committed.commitTimestampMs),
                ]
            }
            lines += indentedTable(
                ["TOPIC", "PARTITION", "COMMITTED", "HIGH-WATERMARK", "LAG", "EPOCH", "METADATA", "COMMIT-TIME"], rows)
        }
        return lines.joined(separator: "\n")
    }

    var json: [String: Any] {
        func orNull(_ value: Any?) -> Any { value ?? NSNull() }
        let metadata = stored.metadata
        let members: [[String: Any]] = (metadata?.members ?? []).map { member in
            [
                "memberId": member.memberId, "groupInstanceId": orNull(member.groupInstanceId),
                "clientId": member.clientId, "clientHost": member.clientHost,
                "sessionTimeoutMs": member.sessionTimeoutMs, "rebalanceTimeoutMs": member.rebalanceTimeoutMs,
                "assignment": ConsumerAssignment.json(member.assignment, type: metadata?.protocolType ?? ""),
            ]
        }
        let offsets: [[String: Any]] = partitions.map { p in
            [
                "topic": p.partition.topic, "partition": p.partition.partition, "offset": p.committed.offset,
                "leaderEpoch": p.committed.leaderEpoch, "metadata": p.committed.metadata,
                "commitTimestampMs": p.committed.commitTimestampMs, "highWatermark": orNull(p.highWatermark),
                "lag": orNull(p.lag),
            ]
        }
        return [
            "group": name, "state": state, "generation": orNull(metadata?.generation),
            "protocolType": orNull(metadata?.protocolType), "protocol": orNull(metadata?.protocolName),
            "leader": orNull(metadata?.leader), "stateTimestampMs": orNull(metadata?.stateTimestampMs),
            "members": members, "offsets": offsets, "lag": totalLag,
        ]
    }
}

/// Rows under headers, columns padded to their widest cell, each line indented two spaces.
private func indentedTable(_ headers: [String], _ rows: [[String]]) -> [String] {
    var widths = headers.map(\.count)
    for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
    return ([headers] + rows).map { row in
        let padded = row.enumerated().map { i, cell in cell.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
        return ("  " + padded.joined(separator: "  ")).replacingOccurrences(
            of: " +$", with: "", options: .regularExpression)
    }
}

/// Kafka's ConsumerProtocol Assignment (big-endian): int16 version, an int32 count of (string
/// topic, int32 count of int32 partitions), then nullable bytes of user data. Fields a later
/// version appends are ignored, as Kafka's readers do.
enum ConsumerAssignment {
    struct Decoded {
        var partitions: [(topic: String, partitions: [Int32])]
        var userData: [UInt8]?
    }

    /// Nil when the bytes are not such an assignment.
    static func decode(_ bytes: [UInt8]) -> Decoded? {
        var at = 0
        func int(_ size: Int) -> Int64? {
            guard size <= bytes.count - at else { return nil }
            var value: UInt64 = 0
            for byte in bytes[at ..< at + size] { value = value << 8 | UInt64(byte) }
            at += size
            let shift = UInt64(64 - 8 * size)
            return Int64(bitPattern: value << shift) >> Int64(shift)
        }
        guard let version = int(2), version >= 0, let topicCount = int(4), topicCount >= 0,
            topicCount <= Int64(bytes.count / 6)
        else { return nil }
        var partitions: [(topic: String, partitions: [Int32])] = []
        for _ in 0 ..< topicCount {
            guard let length = int(2), length >= 0, length <= bytes.count - at,
                let topic = String(validating: bytes[at ..< at + Int(length)], as: UTF8.self)
            else { return nil }
            at += Int(length)
            guard let count = int(4), count >= 0, count <= Int64((bytes.count - at) / 4) else { return nil }
            var numbers: [Int32] = []
            for _ in 0 ..< count {
                guard let number = int(4) else { return nil }
                numbers.append(Int32(number))
            }
            partitions.append((topic, numbers))
        }
        guard let userLength = int(4) else { return nil }
        if userLength == -1 { return Decoded(partitions: partitions, userData: nil) }
        guard userLength >= 0, userLength <= bytes.count - at else { return nil }
        return Decoded(partitions: partitions, userData: Array(bytes[at ..< at + Int(userLength)]))
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// `orders[0,2] clicks[1] userData=00ff`, or `hex:…` for bytes that are not an assignment.
    static func text(_ bytes: [UInt8], type: String) -> String {
        guard type == "consumer", let decoded = decode(bytes) else { return "hex:" + hex(bytes) }
        var parts = decoded.partitions.map { "\($0.topic)[\($0.partitions.map(String.init).joined(separator: ","))]" }
        if let userData = decoded.userData, !userData.isEmpty { parts.append("userData=" + hex(userData)) }
        return parts.isEmpty ? "(none)" : parts.joined(separator: " ")
    }

    static func json(_ bytes: [UInt8], type: String) -> [String: Any] {
        guard type == "consumer", let decoded = decode(bytes) else { return ["hex": hex(bytes)] }
        return [
            "partitions": decoded.partitions.map { ["topic": $0.topic, "partitions": $0.partitions] },
            "userDataHex": decoded.userData.map { hex($0) as Any } ?? NSNull(),
        ]
    }
}
