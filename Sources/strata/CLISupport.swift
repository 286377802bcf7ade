import ArgumentParser
import Foundation
import Strata

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// One JSON object per line, keys sorted, for `--json` output.
func jsonLine(_ object: [String: Any]) -> String {
    guard
        let data = try? JSONSerialization.data(
            withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
        let text = String(data: data, encoding: .utf8)
    else { return "{}" }
    return text
}

/// `--key-ring FILE` of every command that reads or writes cold objects (formats/keys.md).
struct KeyRingOption: ParsableArguments {
    @Option(
        name: .customLong("key-ring"),
        help: ArgumentHelp(
            "Keys of an encrypted lake: a file of id:base64key entries, newest first (formats/keys.md). Default: "
                + "the \(ColdKeyRing.environmentVariable) environment variable. The newest key seals new cold "
                + "objects; any key opens the objects sealed with it.",
            valueName: "file"))
    var keyRing: String?

    /// The key ring from `--key-ring`, else from `STRATA_KEYS`, else nil.
    /// - Throws: `invalidArgument` naming the file (or the variable) and the bad entry, never a key.
    func load() throws(StrataError) -> ColdKeyRing? {
        let text: String
        let source: String
        if let keyRing {
            guard let data = FileManager.default.contents(atPath: keyRing), let read = String(data: data, encoding: .utf8)
            else {
                throw StrataError(.invalidArgument, "cannot read the key ring file \(keyRing)", file: keyRing)
            }
            (text, source) = (read, keyRing)
        } else if let variable = ProcessInfo.processInfo.environment[ColdKeyRing.environmentVariable],
            !variable.isEmpty
        {
            (text, source) = (variable, ColdKeyRing.environmentVariable)
        } else {
            return nil
        }
        do throws(FormatError) { return try ColdKeyRing.parse(text, source: source) } catch {
            throw StrataError(.invalidArgument, "bad key ring: \(error.message)", file: keyRing)
        }
    }

    /// `options` with the key ring loaded.
    func apply(to options: inout LakeOptions) throws(StrataError) { options.keyRing = try load() }
}

/// `--lake DIR` and the topic config flags shared by commands that may create topics.
struct LakeOption: ParsableArguments {
    @Option(name: .long, help: "Lake directory (created if absent).")
    var lake: String
    @Option(
        name: .long,
        help: ArgumentHelp(
            "Cold store of a new lake: file:///abs/path or s3://bucket/prefix (default: file://<lake>/cold). An "
                + "existing lake remembers its own.",
            valueName: "url"))
    var cold: String?
    @Option(
        help: ArgumentHelp(
            "Encrypt the lake's new cold objects: aes-256-gcm (needs --key-ring or STRATA_KEYS). The lake remembers "
                + "it; objects already stored stay readable as they are.",
            valueName: "cipher"))
    var encryption: String?
    @OptionGroup var keys: KeyRingOption

    func validate() throws {
        if let encryption, ColdCipher(name: encryption) == nil {
            throw ValidationError("--encryption must be aes-256-gcm, is '\(encryption)'")
        }
    }

    /// Opens the lake; `background` runs the offloader while the command works; `configure`
    /// sets further options (serve: its logger and metrics).
    func open(background: Bool = true, configure: (inout LakeOptions) -> Void = { _ in }) throws -> Lake {
        var options = LakeOptions()
        options.backgroundOffload = background
        options.encryption = encryption.flatMap { ColdCipher(name: $0) }
        try keys.apply(to: &options)
        configure(&options)
        return try Lake.open(lake, cold: cold, options: options)
    }

    /// Opens the existing lake read-only (see `ReadLakeOption`). A `--cold` other than the one the
    /// lake remembers is refused as `open` refuses it: the command would otherwise look at a
    /// store the user did not name.
    /// - Throws: `invalidArgument` naming both stores; what `Lake.openReadOnly` throws.
    func openReadOnly() throws -> Lake {
        var options = LakeOptions()
        try keys.apply(to: &options)
        let opened = try Lake.openReadOnly(lake, options: options)
        if let cold, cold != opened.coldURL {
            // Nothing is open yet and a read-only lake holds no lock: dropping it releases all.
            throw StrataError(
                .invalidArgument,
                "lake \(lake) uses cold store \(opened.coldURL), not \(cold); omit --cold to use it")
        }
        return opened
    }
}

/// `--lake DIR` of the commands that only read (`inspect`, `consume`): the lake is opened with
/// `Lake.openReadOnly`, so nothing is created, locked or changed and a running writer is no
/// obstacle (issue 12 item 9). A missing lake is a `notFound` error.
struct ReadLakeOption: ParsableArguments {
    @Option(
        name: .long,
        help: "Lake directory (read only: nothing is created, locked or changed; a running writer is fine).")
    var lake: String
    @OptionGroup var keys: KeyRingOption

    func open() throws -> Lake {
        var options = LakeOptions()
        try keys.apply(to: &options)
        return try Lake.openReadOnly(lake, options: options)
    }
}

/// A command that changes an existing lake (scrub --delete-orphans, repair, topic admin) never
/// creates one: a directory without `lake.json` is `notFound` and nothing is changed.
func requireExistingLake(_ path: String) throws(StrataError) {
    guard FileManager.default.fileExists(atPath: path + "/lake.json") else {
        let why = FileManager.default.fileExists(atPath: path) ? "it has no lake.json" : "the directory does not exist"
        throw StrataError(.notFound, "no lake at \(path): \(why); nothing was changed", file: path)
    }
}

/// `--lake DIR` of a command that must not create a lake.
struct ExistingLakeOption: ParsableArguments {
    @Option(name: .long, help: "Lake directory (must exist).")
    var lake: String
    @OptionGroup var keys: KeyRingOption

    /// Opens the lake without background offload; a directory that is not a lake is an error.
    func open() throws -> Lake {
        try requireExistingLake(lake)
        var options = LakeOptions()
        options.backgroundOffload = false
        try keys.apply(to: &options)
        return try Lake.open(lake, options: options)
    }
}

/// `--partition N` of the commands that work on one partition log.
struct PartitionOption: ParsableArguments {
    @Option(
        help: "Partition of the topic (default 0; a topic created without --partitions has only partition 0).")
    var partition: Int32 = 0

    func validate() throws {
        guard partition >= 0, partition < FormatLimits.partitionsMax else {
            throw ValidationError("--partition must be in 0..<\(FormatLimits.partitionsMax), is \(partition)")
        }
    }

    /// The log name (`orders`, `orders/3`) of this partition of `topic`, as cold-store reads take it.
    func logName(_ topic: String) throws -> String {
        try LogName(topic: topic, partition: partition).description
    }
}

struct TopicConfigOptions: ParsableArguments {
    @Option(help: "Durability when the topic is created: sync (fdatasync before ack, the default) or async.")
    var durability: String?
    @Option(help: "Roll the active segment at this many bytes (topic creation only).")
    var segmentBytes: Int?
    @Option(help: "Roll the active segment at this age in ms (topic creation only).")
    var segmentMs: Int64?
    @Option(help: "Keep at most this many bytes of sealed segments locally (topic creation only).")
    var localRetentionBytes: Int64?
    @Option(help: "Keep sealed segments locally at most this long in ms (topic creation only).")
    var localRetentionMs: Int64?
    @Option(
        help: ArgumentHelp(
            "An Iceberg schema JSON file of the topic's JSON values: the table carries those fields as typed "
                + "columns beside the raw bytes (formats/table.md, \"Typed value columns\"; topic creation only).",
            valueName: "file"))
    var valueSchema: String?

    /// The text of `--value-schema`'s file, nil without the flag.
    /// - Throws: `ValidationError` naming the file when it cannot be read or is not UTF-8.
    func valueSchemaText() throws -> String? {
        guard let valueSchema else { return nil }
        guard let data = FileManager.default.contents(atPath: valueSchema) else {
            throw ValidationError("--value-schema \(valueSchema): cannot read the file")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ValidationError("--value-schema \(valueSchema): the file is not UTF-8 text")
        }
        return text
    }

    func config() throws -> TopicConfig {
        var config = TopicConfig()
        let durability = self.durability ?? Durability.sync.rawValue
        guard let mode = Durability(rawValue: durability) else {
            throw ValidationError("--durability must be sync or async, not '\(durability)'")
        }
        config.durability = mode
        if let segmentBytes { config.segmentBytes = segmentBytes }
        if let segmentMs { config.segmentMs = segmentMs }
        // Only flags given replace a default: nil means "not given", not "no bound" (issue 12.6).
        if let localRetentionBytes { config.localRetentionBytes = localRetentionBytes }
        if let localRetentionMs { config.localRetentionMs = localRetentionMs }
        if let text = try valueSchemaText() { config.valueSchema = text }
        try config.validate()
        return config
    }
}

extension TopicConfigOptions {
    /// Config flags given for a topic that already exists must agree with its stored config: a
    /// different value is an error naming the flag, never silently ignored.
    /// - Throws: `invalidArgument` naming the first flag that differs and the `alter-config`
    ///   command that would change it.
    func checkAgrees(with existing: TopicConfig, topic: String, lake: String) throws {
        var given: [(flag: String, key: String, value: String)] = []
        if let durability { given.append(("--durability", "durability", durability)) }
        if let segmentBytes { given.append(("--segment-bytes", "segmentBytes", String(segmentBytes))) }
        if let segmentMs { given.append(("--segment-ms", "segmentMs", String(segmentMs))) }
        if let localRetentionBytes {
            given.append(("--local-retention-bytes", "localRetentionBytes", String(localRetentionBytes)))
        }
        if let localRetentionMs { given.append(("--local-retention-ms", "localRetentionMs", String(localRetentionMs))) }
        if let text = try valueSchemaText() { given.append(("--value-schema", "valueSchema", text)) }
        for (flag, keyName, value) in given {
            guard let key = TopicConfigKey.named(keyName) else { continue }
            let stored = existing.text(of: key)
            guard stored != value else { continue }
            throw StrataError(
                .invalidArgument,
                "\(flag) \(value) differs from topic '\(topic)', which exists with \(keyName)=\(stored); "
                    + "config flags apply only when a topic is created. To change it: "
                    + "strata topics alter-config --lake \(lake) \(topic) --set \(keyName)=\(value)",
                topic: topic)
        }
    }
}

/// `1536` → `1.5 KiB`.
func humanBytes(_ count: Int64) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var value = Double(count)
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
        value /= 1024
        unit += 1
    }
    return unit == 0 ? "\(count) B" : String(format: "%.1f %@", value, units[unit])
}

/// Milliseconds since the epoch as ISO 8601 UTC.
func humanTime(_ ms: Int64?) -> String {
    guard let ms else { return "-" }
    let formatter = ISO8601DateFormatter()
    formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return formatter.string(from: Date(timeIntervalSince1970: Double(ms) / 1000))
}

/// Parses `--from-time`: milliseconds since the epoch or an ISO 8601 date-time with a four-digit
/// year. Anything outside what Strata stores is an error, never a different time: Foundation's
/// ISO parser wraps a year like 300000000 around instead of failing (issue 12.8).
func parseTimestamp(_ text: String, flag: String) throws -> Int64 {
    if let ms = Int64(text) { return ms }
    let digits = text.drop { $0 == "-" || $0 == "+" }
    if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
        throw ValidationError(
            "\(flag) '\(text)' is outside the milliseconds since 1970 Strata stores "
                + "(\(Int64.min)...\(Int64.max))")
    }
    let year = text.prefix { $0.isASCII && $0.isNumber }
    if text.first == "+" || text.first == "-" || (year.count > 4 && text.dropFirst(year.count).first == "-") {
        throw ValidationError(
            "\(flag) '\(text)': ISO 8601 years must be 0000 to 9999 (four digits); "
                + "for other times give milliseconds since 1970")
    }
    try checkCalendarFields(text, flag: flag)
    let formatter = ISO8601DateFormatter()
    for options: ISO8601DateFormatter.Options in [
        [.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime],
    ] {
        formatter.formatOptions = options
        guard let date = formatter.date(from: text) else { continue }
        // The parser must have kept the year it was given (±1 for a zone offset across New Year):
        // anything else is a wrapped date.
        let back = ISO8601DateFormatter().string(from: date)
        let backYear = back.prefix { $0.isASCII && $0.isNumber }
        guard let given = Int(year), let parsed = Int(backYear), abs(parsed - given) <= 1 else {
            throw ValidationError(
                "\(flag) '\(text)' is outside the times this parser handles; "
                    + "give milliseconds since 1970")
        }
        return Int64((date.timeIntervalSince1970 * 1000).rounded())
    }
    throw ValidationError(
        "\(flag) '\(text)' is neither milliseconds since 1970 nor an ISO 8601 time like 2026-01-31T12:00:00Z")
}

/// Refuses an ISO 8601 date-time whose fields are not on the calendar (2026-02-30, month 13,
/// 24:00, second 60, zone +24:00): Foundation's parser rolls them over (2026-02-30 becomes
/// March 2) instead of failing. Fields may have fewer digits (`2026-2-3T4:05:06Z`, which the
/// parser takes too). Text of another shape is left to the parser, which refuses it.
private func checkCalendarFields(_ text: String, flag: String) throws {
    /// The numbers of `part` split at `separator`, when every piece is 1 to 9 ASCII digits.
    func numbers(_ part: Substring, _ separator: Character) -> [Int]? {
        let pieces = part.split(separator: separator, omittingEmptySubsequences: false)
        guard pieces.allSatisfy({ (1 ... 9).contains($0.count) && $0.allSatisfy { $0.isASCII && $0.isNumber } })
        else { return nil }
        return pieces.compactMap { Int($0) }
    }
    let halves = text.split(separator: "T", maxSplits: 1, omittingEmptySubsequences: false)
    guard let date = numbers(halves[0], "-"), date.count == 3 else { return }
    func fail(_ what: String) -> ValidationError {
        ValidationError("\(flag) '\(text)' is not a date-time on the calendar: \(what)")
    }
    let (year, month, day) = (date[0], date[1], date[2])
    guard (1 ... 12).contains(month) else { throw fail("there is no month \(month)") }
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
    let days = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]
    guard (1 ... days).contains(day) else {
        throw fail(String(format: "%04d-%02d has %d days, not %d", year, month, days, day))
    }
    guard halves.count == 2 else { return }
    let zoneStart = halves[1].firstIndex { "Zz+-".contains($0) } ?? halves[1].endIndex
    let clock = halves[1][..<zoneStart].split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)[0]
    if let time = numbers(clock, ":"), (2 ... 3).contains(time.count) {
        if time[0] > 23 { throw fail("hour \(time[0]) is not 00 to 23") }
        if time[1] > 59 { throw fail("minute \(time[1]) is not 00 to 59") }
        // Milliseconds since 1970 have no leap seconds.
        if time.count == 3, time[2] > 59 { throw fail("second \(time[2]) is not 00 to 59") }
    }
    let zone = halves[1][zoneStart...]
    guard zone.first == "+" || zone.first == "-" else { return }
    // `+HH:MM`, or `+HHMM`, which the parser takes too.
    let digits = zone.dropFirst()
    var offset = numbers(digits, ":")
    if digits.count == 4, let hours = numbers(digits.prefix(2), ":"), let minutes = numbers(digits.suffix(2), ":") {
        offset = hours + minutes
    }
    if let offset, offset.count == 2, offset[0] > 23 || offset[1] > 59 {
        throw fail("zone offset \(zone) is not ±00:00 to ±23:59")
    }
}
