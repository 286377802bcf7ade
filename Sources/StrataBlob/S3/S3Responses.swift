import Foundation

/// The `<Error>` document S3 sends with a failed request.
struct S3ErrorBody: Sendable, Equatable {
    var code: String
    var message: String
    var requestId: String?

    /// Parses an error body; nil when the body is empty or not an S3 error document.
    static func parse(_ bytes: [UInt8]) -> S3ErrorBody? {
        guard !bytes.isEmpty, let root = try? S3XMLParser.parse(bytes), root.name == "Error" else { return nil }
        return S3ErrorBody(
            code: root.childText("Code") ?? "", message: root.childText("Message") ?? "",
            requestId: root.childText("RequestId"))
    }
}

/// One ListObjectsV2 page, keys as the server spelled them (store prefix still on).
struct S3ListResult: Sendable, Equatable {
    var objects: [BlobInfo]
    var nextContinuationToken: String?
    /// More keys follow (with `start-after` paging, servers may omit the token).
    var isTruncated: Bool = false

    /// Parses a `ListBucketResult`. Throws `S3XMLParser.Failure` on malformed documents.
    static func parse(_ bytes: [UInt8]) throws -> S3ListResult {
        let root = try S3XMLParser.parse(bytes)
        guard root.name == "ListBucketResult" else {
            throw S3XMLParser.Failure(message: "expected ListBucketResult, got \(root.name)", offset: 0)
        }
        var objects: [BlobInfo] = []
        for entry in root.children("Contents") {
            guard let key = entry.childText("Key"), let size = entry.childText("Size").flatMap({ Int64($0) }) else {
                throw S3XMLParser.Failure(message: "Contents without Key or Size", offset: 0)
            }
            let modifiedMs = entry.childText("LastModified").flatMap(S3Time.iso8601Ms) ?? 0
            objects.append(BlobInfo(key: key, size: size, modifiedMs: modifiedMs))
        }
        let truncated = root.childText("IsTruncated") == "true"
        let token = root.childText("NextContinuationToken").flatMap { $0.isEmpty ? nil : $0 }
        return S3ListResult(objects: objects, nextContinuationToken: truncated ? token : nil, isTruncated: truncated)
    }
}

/// Keys DeleteObjects could not delete.
struct S3DeleteResult: Sendable, Equatable {
    struct Failure: Sendable, Equatable {
        var key: String
        var code: String
        var message: String
    }
    var failures: [Failure]

    static func parse(_ bytes: [UInt8]) throws -> S3DeleteResult {
        let root = try S3XMLParser.parse(bytes)
        let failures = root.children("Error").map {
            Failure(
                key: $0.childText("Key") ?? "", code: $0.childText("Code") ?? "", message: $0.childText("Message") ?? ""
            )
        }
        return S3DeleteResult(failures: failures)
    }
}

/// Times in S3 answers, to milliseconds since the Unix epoch.
enum S3Time {
    /// `2024-05-15T09:30:12.345Z` (ListObjectsV2 `LastModified`).
    static func iso8601Ms(_ text: String) -> Int64? {
        let parts = text.split(whereSeparator: { "-T:Z".contains($0) }).map(String.init)
        guard parts.count >= 6, let year = Int64(parts[0]), let month = Int64(parts[1]), let day = Int64(parts[2]),
            let hour = Int64(parts[3]), let minute = Int64(parts[4]), let second = Double(parts[5]),
            isCalendarTime(year: year, month: month, day: day, hour: hour, minute: minute), second >= 0, second < 61
        else { return nil }
        let days = daysFromCivil(year: year, month: month, day: day)
        return (days * 86_400 + hour * 3_600 + minute * 60) * 1_000 + Int64((second * 1_000).rounded())
    }

    /// `Wed, 15 May 2024 09:30:12 GMT` (the `Last-Modified` header).
    static func httpDateMs(_ text: String) -> Int64? {
        let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
        let parts = text.split(separator: " ")
        guard parts.count == 6, let day = Int64(parts[1]), let monthIndex = months.firstIndex(of: String(parts[2])),
            let year = Int64(parts[3])
        else { return nil }
        let clock = parts[4].split(separator: ":").compactMap { Int64($0) }
        guard clock.count == 3,
            isCalendarTime(year: year, month: Int64(monthIndex + 1), day: day, hour: clock[0], minute: clock[1]),
            (0 ... 60).contains(clock[2])
        else { return nil }
        let days = daysFromCivil(year: year, month: Int64(monthIndex + 1), day: day)
        return (days * 86_400 + clock[0] * 3_600 + clock[1] * 60 + clock[2]) * 1_000
    }

    /// Fields a server could send anything in are bounded before the arithmetic: an
    /// out-of-range year or `1e300` seconds overflowed Int64 and trapped (found by tools/fuzz s3xml).
    static func isCalendarTime(year: Int64, month: Int64, day: Int64, hour: Int64, minute: Int64) -> Bool {
        (0 ... 9999).contains(year) && (1 ... 12).contains(month) && (1 ... 31).contains(day)
            && (0 ... 24).contains(hour)
            && (0 ... 59).contains(minute)
    }

    /// Days since 1970-01-01 in the proleptic Gregorian calendar (Howard Hinnant's algorithm).
    static func daysFromCivil(year: Int64, month: Int64, day: Int64) -> Int64 {
        let shiftedYear = month <= 2 ? year - 1 : year
        let era = (shiftedYear >= 0 ? shiftedYear : shiftedYear - 399) / 400
        let yearOfEra = shiftedYear - era * 400
        let dayOfYear = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }
}

/// `Content-Range: bytes 100-199/5000` or `bytes */5000`.
struct S3ContentRange: Sendable, Equatable {
    /// First and last byte, nil for the unsatisfied form `*/size`.
    var first: Int64?
    var last: Int64?
    var size: Int64

    static func parse(_ text: String) -> S3ContentRange? {
        guard text.hasPrefix("bytes ") else { return nil }
        let spec = text.dropFirst("bytes ".count).split(separator: "/")
        guard spec.count == 2, let size = Int64(spec[1]) else { return nil }
        if spec[0] == "*" { return S3ContentRange(first: nil, last: nil, size: size) }
        let bounds = spec[0].split(separator: "-").compactMap { Int64($0) }
        guard bounds.count == 2, bounds[0] <= bounds[1] else { return nil }
        return S3ContentRange(first: bounds[0], last: bounds[1], size: size)
    }
}
