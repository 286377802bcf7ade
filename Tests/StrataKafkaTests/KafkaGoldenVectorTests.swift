import StrataKafka
import Testing

/// Requests and responses encoded by kafka-python's own protocol classes
/// (tools/kafka-vectors.py): Strata must read what they write and write what they write.
@Suite struct KafkaGoldenVectorTests {
    /// Every supported version of every API has a request and a response vector.
    @Test func vectorsCoverTheVersionsTable() throws {
        let vectors = try KafkaVectors.load()
        for api in KafkaApis.all {
            for version in api.versions {
                let both = vectors.messages.filter { $0.apiKey == api.key.rawValue && $0.version == version }
                #expect(both.contains { $0.isRequest }, "\(api.name) v\(version) request")
                #expect(both.contains { !$0.isRequest }, "\(api.name) v\(version) response")
            }
        }
    }

    /// Each request decodes to the values it was built from, and re-encodes to the same bytes.
    @Test func requestsFromKafkaPythonDecode() throws {
        let vectors = try KafkaVectors.load()
        var checked = 0
        for vector in vectors.messages where vector.isRequest {
            let bytes = try kafkaVector(vector.file)
            let request = try KafkaRequest.decode(bytes)
            #expect(request.header.apiKey == vector.apiKey, "\(vector.file)")
            #expect(request.header.apiVersion == vector.version)
            #expect(request.header.correlationId == vector.correlationId)
            #expect(request.header.clientId == vector.clientId)
            let expected = try JSONToKafka.structure(vector.body, request.api.request, version: vector.version)
            #expect(
                JSONToKafka.matches(.structure(expected), .structure(request.body)),
                "\(vector.file): decoded \(request.body) expected \(expected)")
            #expect(try KafkaRequest.encode(request.header, body: request.body) == bytes, "\(vector.file) re-encodes")
            checked += 1
        }
        #expect(checked >= 55)
    }

    /// Each response Strata encodes from the same values is byte-identical to kafka-python's,
    /// and kafka-python's decodes back to those values.
    @Test func responsesMatchKafkaPythonByteForByte() throws {
        let vectors = try KafkaVectors.load()
        var checked = 0
        for vector in vectors.messages where !vector.isRequest {
            let api = try #require(KafkaApis.api(rawKey: vector.apiKey))
            let bytes = try kafkaVector(vector.file)
            let body = try JSONToKafka.structure(vector.body, api.response, version: vector.version)
            let encoded = try KafkaResponse.encode(
                api, version: vector.version, correlationId: vector.correlationId,
                body: body)
            #expect(encoded == bytes, "\(vector.file)")
            // What serve sends: the same bytes behind their big-endian size, written in one pass.
            let framed = try KafkaResponse.encode(
                api, version: vector.version, correlationId: vector.correlationId, body: body, framed: true)
            #expect(framed == KafkaResponse.framed(bytes), "\(vector.file)")
            let decoded = try KafkaResponse.decode(bytes, api: api, version: vector.version)
            #expect(decoded.correlationId == vector.correlationId)
            #expect(JSONToKafka.matches(.structure(body), .structure(decoded.body)), "\(vector.file)")
            checked += 1
        }
        #expect(checked >= 55)
    }

    /// A tagged field a client sets (Fetch v12's ClusterId) is read from the tagged section.
    @Test func taggedFieldIsDecoded() throws {
        let request = try KafkaRequest.decode(try kafkaVector("fetch-v12-request.bin"))
        #expect(try request.body.string("ClusterId") == "cluster-x")
        let v11 = try KafkaRequest.decode(try kafkaVector("fetch-v11-request.bin"))
        #expect(try v11.body.string("ClusterId") == nil, "absent before v12: the default")
    }

    /// Metadata with a null topic list (every topic) stays distinct from an empty one.
    @Test func nullTopicListIsNull() throws {
        let request = try KafkaRequest.decode(try kafkaVector("metadata-v12-request-all-topics.bin"))
        #expect(try request.body.structs("Topics") == nil)
        let named = try KafkaRequest.decode(try kafkaVector("metadata-v12-request.bin"))
        #expect(try named.body.structs("Topics")?.map { try $0.string("Name") } == ["orders", "clicks"])
    }
}
