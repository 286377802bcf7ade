import StrataKafka
import Testing

/// Hostile and unsupported requests: every one ends in a typed error that names a field and
/// position, never a trap, and carries the header whenever it could be read.
@Suite struct KafkaRequestBadInputTests {
    /// Every proper prefix of every request vector is a typed error.
    @Test func everyTruncationIsATypedError() throws {
        let vectors = try KafkaVectors.load()
        var prefixes = 0
        for vector in vectors.messages where vector.isRequest {
            let bytes = try kafkaVector(vector.file)
            for count in 0 ..< bytes.count {
                let prefix = Array(bytes[..<count])
                let error = kafkaError { () throws(KafkaDecodeError) in try KafkaRequest.decode(prefix) }
                #expect(error != nil, "\(vector.file) cut to \(count) bytes decoded")
                if let error {
                    #expect(error.position <= count, "\(vector.file) cut to \(count): \(error)")
                    #expect([.truncated, .outOfBounds, .invalidValue].contains(error.code), "\(error)")
                    // Once the header (8 bytes, then the client id) is whole, the error carries it.
                    if count >= 10 + vector.clientId.utf8.count {
                        #expect(error.requestHeader?.correlationId == vector.correlationId)
                    }
                }
                prefixes += 1
            }
        }
        #expect(prefixes > 4000)
    }

    /// A byte after the body is an error, not silently ignored.
    @Test func trailingBytesAreAnError() throws {
        let bytes = try kafkaVector("produce-v9-request.bin") + [0]
        let error = kafkaError { () throws(KafkaDecodeError) in try KafkaRequest.decode(bytes) }
        #expect(error?.code == .trailingBytes)
        #expect(error?.position == bytes.count - 1)
    }

    /// Random byte flips never trap: each flipped request decodes or throws a typed error.
    @Test func flippedBytesNeverTrap() throws {
        var state: UInt64 = 0x5EED_1313
        func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
        let vectors = try KafkaVectors.load()
        var failures = 0
        for vector in vectors.messages where vector.isRequest {
            let bytes = try kafkaVector(vector.file)
            for _ in 0 ..< 40 {
                var copy = bytes
                let index = Int(next() % UInt64(copy.count))
                copy[index] = UInt8(truncatingIfNeeded: next())
                if kafkaError({ () throws(KafkaDecodeError) in try KafkaRequest.decode(copy) }) != nil { failures += 1 }
            }
        }
        #expect(failures > 0)
    }

    @Test func unknownApiKeyIsUnsupportedWithItsHeader() throws {
        var w = KafkaWriter()
        w.int16(21)  // DeleteRecords: not supported
        w.int16(1)
        w.int32(77)
        try w.string("c", compact: false)
        let error = kafkaError { () throws(KafkaDecodeError) in try KafkaRequest.decode(w.bytes) }
        #expect(error?.code == .unsupportedApi)
        #expect(error?.kafkaErrorCode == .unsupportedVersion)
        #expect(error?.requestHeader == KafkaRequestHeader(apiKey: 21, apiVersion: 1, correlationId: 77, clientId: "c"))
    }

    /// ApiVersions v4 from a newer client: UNSUPPORTED_VERSION, answered as an ApiVersions v0
    /// body with the supported list, which a v0 decoder reads.
    @Test func unsupportedVersionIsAnsweredWithTheSupportedList() throws {
        var w = KafkaWriter()
        w.int16(KafkaApiKey.apiVersions.rawValue)
        w.int16(4)
        w.int32(5)
        try w.string("new-client", compact: false)
        w.unsignedVarint(0)
        let error = try #require(kafkaError { () throws(KafkaDecodeError) in try KafkaRequest.decode(w.bytes) })
        #expect(error.code == .unsupportedVersion)
        #expect(error.kafkaErrorCode == .unsupportedVersion)
        let header = try #require(error.requestHeader)
        let answer = KafkaResponse.unsupportedVersion(correlationId: header.correlationId)
        let api = try #require(KafkaApis.api(.apiVersions))
        let decoded = try KafkaResponse.decode(answer, api: api, version: 0)
        #expect(decoded.correlationId == 5)
        #expect(try decoded.body.int16("ErrorCode") == KafkaErrorCode.unsupportedVersion.rawValue)
        let keys = try #require(try decoded.body.structs("ApiKeys"))
        #expect(keys.count == KafkaApis.all.count)
        let produce = try #require(keys.first { try $0.int16("ApiKey") == 0 })
        #expect(try produce.int16("MinVersion") == 3 && produce.int16("MaxVersion") == 9)
        // And the same list through the schema encoder.
        let body: KafkaStruct = ["ErrorCode": .int(35), "ApiKeys": KafkaApis.apiVersionsEntries]
        #expect(try KafkaResponse.encode(api, version: 0, correlationId: 5, body: body) == answer)
    }

    /// Request headers v0 (no client id), v1 and v2 (tagged fields) round-trip; v2's unknown
    /// tagged fields are skipped.
    @Test func requestHeaderVersionsRoundTrip() throws {
        let header = KafkaRequestHeader(apiKey: 3, apiVersion: 12, correlationId: -9, clientId: "c")
        for version: Int16 in 0 ... 2 {
            var w = KafkaWriter()
            try header.encode(into: &w, headerVersion: version)
            #expect(w.count == [8, 11, 12][Int(version)])
            var r = KafkaReader(w.bytes)
            let decoded = try KafkaRequestHeader.decode(from: &r, headerVersion: version)
            #expect(decoded.correlationId == -9 && decoded.clientId == (version == 0 ? nil : "c"))
            #expect(r.isAtEnd)
        }
        var w = KafkaWriter()
        try header.encode(into: &w, headerVersion: 1)
        w.raw([1, 7, 2, 0xAB, 0xCD])  // one tagged field, tag 7, two bytes
        var r = KafkaReader(w.bytes)
        #expect(try KafkaRequestHeader.decode(from: &r, headerVersion: 2) == header)
        #expect(r.isAtEnd)
    }

    /// Which header each version uses: flexible versions take request header v2 and response
    /// header v1, except ApiVersions, which always answers with header v0.
    @Test func headerVersionsFollowFlexibility() throws {
        let expected: [(KafkaApiKey, Int16)] = [
            (.apiVersions, 3), (.metadata, 9), (.produce, 9), (.fetch, 12),
            (.listOffsets, 6), (.initProducerId, 2), (.createTopics, 5),
            (.deleteTopics, 4), (.describeConfigs, 4),
        ]
        for (key, flexibleFrom) in expected {
            let api = try #require(KafkaApis.api(key))
            #expect(api.flexibleFrom == flexibleFrom)
            #expect(api.requestHeaderVersion(flexibleFrom) == 2)
            #expect(api.requestHeaderVersion(flexibleFrom - 1) == 1)
            #expect(api.responseHeaderVersion(flexibleFrom) == (key == .apiVersions ? 0 : 1))
        }
    }
}
