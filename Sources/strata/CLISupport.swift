import ArgumentParser
import Foundation
import Strata

func printError(_ message: String) {
    FileHandle.standardError.write(Data((message + "\n").utf8))
}

/// One JSON object per line, keys sorted, for `--json` output.
func jsonLine(_ object: [String: Any]) -> String {
    guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]),
          let text = String(data: data, encoding: .utf8)
    else { return "{}" }
    return text
}

/// `--lake DIR` and the topic config flags shared by commands that may create topics.
struct LakeOption: ParsableArguments {
    @Option(name: .long, help: "Lake directory (created if absent).")
    var lake: String
    @Option(name: .long, help: ArgumentHelp(
        "Cold store of a new lake: file:///abs/path or s3://bucket/prefix (default: file://<lake>/cold). An existing lake remembers its own.",
        valueName: "url"))
    var cold: String?

    /// Opens the lake; `background` runs the offloader while the command works.
    func open(background: Bool = true) throws -> Lake {
        var options = LakeOptions()
        options.backgroundOffload = background
        return try Lake.open(lake, cold: cold, options: options)
    }
}

struct TopicConfigOptions: ParsableArguments {
    @Option(help: "Durability when the topic is created: sync (fdatasync before ack) or async.")
    var durability: String = "sync"
    @Option(help: "Roll the active segment at this many bytes (topic creation only).")
    var segmentBytes: Int?
    @Option(help: "Roll the active segment at this age in ms (topic creation only).")
    var segmentMs: Int64?
    @Option(help: "Keep at most this many bytes of sealed segments locally (topic creation only).")
    var localRetentionBytes: Int64?
    @Option(help: "Keep sealed segments locally at most this long in ms (topic creation only).")
    var localRetentionMs: Int64?

    func config() throws -> TopicConfig {
        var config = TopicConfig()
        guard let mode = Durability(rawValue: durability) else {
            throw ValidationError("--durability must be sync or async, not '\(durability)'")
        }
        config.durability = mode
        if let segmentBytes { config.segmentBytes = segmentBytes }
        if let segmentMs { config.segmentMs = segmentMs }
        config.localRetentionBytes = localRetentionBytes
        config.localRetentionMs = localRetentionMs
        try config.validate()
        return config
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

/// Parses `--from-time`: milliseconds since the epoch or an ISO 8601 date-time.
func parseTimestamp(_ text: String, flag: String) throws -> Int64 {
    if let ms = Int64(text) { return ms }
    let formatter = ISO8601DateFormatter()
    for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
        formatter.formatOptions = options
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
    }
    throw ValidationError("\(flag) '\(text)' is neither milliseconds since 1970 nor an ISO 8601 time like 2026-01-31T12:00:00Z")
}
