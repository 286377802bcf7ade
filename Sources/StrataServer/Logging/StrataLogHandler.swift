import Glibc
import Logging
import StrataFormat

/// How `strata serve` writes its log (`--log-format`).
public enum LogFormat: String, Sendable, CaseIterable {
    /// `2026-12-02T18:40:00.123Z info strata.serve: message key=value`.
    case text
    /// One JSON object per line: `ts`, `level`, `logger`, `msg`, then each metadata key.
    case json
}

/// Strata's swift-log handler: one line per event, written whole with one `write(2)` so lines of
/// concurrent events never interleave. Metadata values that name a secret (`password`, `secret`,
/// `token`, `credential`, `sasl`... in the key) are replaced by `[redacted]`, so a caller that
/// attaches one by mistake does not leak it.
public struct StrataLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    let label: String
    let format: LogFormat
    /// Where a finished line goes (stderr by default; tests collect them).
    let sink: @Sendable (String) -> Void

    /// Metadata keys whose values are never written.
    static let secretKeyParts = ["password", "passwd", "secret", "token", "credential", "sasl", "key_material"]

    /// - Parameters:
    ///   - label: the logger's label (`strata.serve`, `strata.lake`).
    ///   - sink: receives each line without its newline; nil writes it with a newline to stderr.
    public init(
        label: String, format: LogFormat, level: Logger.Level, sink: (@Sendable (String) -> Void)? = nil
    ) {
        self.label = label
        self.format = format
        self.logLevel = level
        self.sink =
            sink ?? { line in
                let bytes = Array((line + "\n").utf8)
                _ = bytes.withUnsafeBytes { write(2, $0.baseAddress, $0.count) }
            }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        if let error = event.error { merged["error"] = .string("\(error)") }
        sink(
            Self.line(
                format: format, timestampMs: Self.nowMs(), level: event.level, label: label,
                message: event.message.description, metadata: merged))
    }

    /// One formatted line (no newline).
    static func line(
        format: LogFormat, timestampMs: Int64, level: Logger.Level, label: String, message: String,
        metadata: Logger.Metadata
    ) -> String {
        let ts = timestamp(ms: timestampMs)
        let keys = metadata.keys.sorted()
        switch format {
        case .text:
            var line = "\(ts) \(level.rawValue) \(label): \(oneLine(message))"
            for key in keys { line += " \(key)=\(oneLine(value(key, metadata[key])))" }
            return line
        case .json:
            var line = "{\"ts\":\(json(ts)),\"level\":\(json(level.rawValue)),\"logger\":\(json(label)),"
            line += "\"msg\":\(json(message))"
            for key in keys where !["ts", "level", "logger", "msg"].contains(key) {
                line += ",\(json(key)):\(json(value(key, metadata[key])))"
            }
            return line + "}"
        }
    }

    /// A metadata value as text, or `[redacted]` when its key names a secret.
    static func value(_ key: String, _ value: Logger.Metadata.Value?) -> String {
        let lowered = key.lowercased()
        if secretKeyParts.contains(where: { lowered.contains($0) }) { return "[redacted]" }
        return value.map { "\($0)" } ?? ""
    }

    /// Newlines would split an event over two lines.
    static func oneLine(_ text: String) -> String {
        text.contains(where: \.isNewline) ? text.split(whereSeparator: \.isNewline).joined(separator: " ") : text
    }

    /// A JSON string literal.
    static func json(_ text: String) -> String { JSONString.quoted(text) }

    /// RFC 3339 UTC with milliseconds.
    static func timestamp(ms: Int64) -> String {
        var seconds = time_t(ms / 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ n: Int32, _ width: Int) -> String {
            let text = String(n)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(ms % 1000), 3))Z"
    }

    static func nowMs() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Int64(now.tv_sec) * 1000 + Int64(now.tv_nsec) / 1_000_000
    }
}

extension Logger.Level {
    /// The level `--log-level` names (`trace`, `debug`, `info`, `notice`, `warning`, `error`, `critical`).
    public init?(flag: String) { self.init(rawValue: flag.lowercased()) }
}
