import Foundation
import StrataTesting
import Testing

@testable import StrataBlob

/// S3 pieces that need no server: XML, configuration, error mapping, redaction.
@Suite struct S3OfflineTests {
    static let secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    static let token = "SESSIONTOKEN/with+chars="

    static func config(endpoint: String = "http://127.0.0.1:8333", prefix: String = "cold") throws -> S3Config {
        S3Config(
            endpoint: try #require(URL(string: endpoint)), region: "us-east-1", bucket: "strata-test", prefix: prefix,
            credentials: S3Credentials(accessKeyId: "AKIDTEST", secretAccessKey: secret, sessionToken: token))
    }

    @Test func parsesErrorDocuments() {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>NoSuchKey</Code><Message>The specified key does not exist &amp; never did.</Message>
            <Key>cold/a</Key><RequestId>4442587FB7D0A2F9</RequestId><HostId>x</HostId></Error>
            """
        #expect(
            S3ErrorBody.parse(Array(xml.utf8))
                == S3ErrorBody(
                    code: "NoSuchKey", message: "The specified key does not exist & never did.",
                    requestId: "4442587FB7D0A2F9"))
        #expect(S3ErrorBody.parse([]) == nil)
        #expect(S3ErrorBody.parse(Array("<html>busy</html>".utf8)) == nil)
        #expect(S3ErrorBody.parse(Array("<Error><Code>".utf8)) == nil)
    }

    @Test func parsesListObjectsV2Pages() throws {
        let xml = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>strata-test</Name>
            <Prefix>cold/</Prefix><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true</IsTruncated>
            <Contents><Key>cold/a&lt;b&gt; &#233;&#x4E2D;</Key><LastModified>2024-05-15T09:30:12.345Z</LastModified>
            <ETag>&quot;abc&quot;</ETag><Size>42</Size><StorageClass>STANDARD</StorageClass></Contents>
            <Contents><Key><![CDATA[cold/b&c]]></Key><LastModified>1970-01-01T00:00:01Z</LastModified><Size>0</Size></Contents>
            <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>
            """
        let page = try S3ListResult.parse(Array(xml.utf8))
        #expect(
            page.objects == [
                BlobInfo(key: "cold/a<b> é中", size: 42, modifiedMs: 1_715_765_412_345),
                BlobInfo(key: "cold/b&c", size: 0, modifiedMs: 1_000),
            ])
        #expect(page.nextContinuationToken == "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=")
        let last = try S3ListResult.parse(
            Array("<ListBucketResult><IsTruncated>false</IsTruncated></ListBucketResult>".utf8))
        #expect(last == S3ListResult(objects: [], nextContinuationToken: nil, isTruncated: false))
        #expect(page.isTruncated)
        #expect(throws: S3XMLParser.Failure.self) { try S3ListResult.parse(Array("<ListBucketResult><Contents>".utf8)) }
    }

    @Test func parsesDeleteResultsAndTimes() throws {
        let xml =
            "<DeleteResult><Error><Key>cold/x</Key><Code>AccessDenied</Code><Message>no</Message></Error></DeleteResult>"
        #expect(
            try S3DeleteResult.parse(Array(xml.utf8)).failures == [
                .init(key: "cold/x", code: "AccessDenied", message: "no")
            ])
        #expect(S3Time.httpDateMs("Wed, 15 May 2024 09:30:12 GMT") == 1_715_765_412_000)
        #expect(S3ContentRange.parse("bytes 100-199/5000") == S3ContentRange(first: 100, last: 199, size: 5000))
        #expect(S3ContentRange.parse("bytes */5000") == S3ContentRange(first: nil, last: nil, size: 5000))
        #expect(S3ContentRange.parse("bytes 5-1/9") == nil)
    }

    /// Found by tools/fuzz s3xml: escape worked on Characters, so "<" or "&" followed by a
    /// combining mark (one Character) went out raw, and a DeleteObjects key could close its
    /// element and name another key.
    @Test func escapeHandlesMarkupFollowedByCombiningMarks() throws {
        for text in [
            "<\u{05BB}", "a<\u{0301}/Key><Key>victim", "&\u{0301}amp;", ">\u{20DD}'\u{0301}\"\u{0301}", "plain",
        ] {
            let escaped = S3XMLParser.escape(text)
            #expect(!escaped.unicodeScalars.contains("<"))
            let root = try S3XMLParser.parse(Array("<Key>\(escaped)</Key>".utf8))
            #expect(root.children.isEmpty)
            #expect(root.text == text)
        }
    }

    /// Found by tools/fuzz s3xml: a ListObjectsV2 `LastModified` or a `Last-Modified` header with
    /// a huge year or seconds overflowed Int64 and trapped, taking the process down. A server
    /// or proxy can send anything: such times are not times.
    @Test func outOfRangeTimesAreNilNotATrap() throws {
        #expect(S3Time.iso8601Ms("2026-05-15T09:30:1e300Z") == nil)
        #expect(S3Time.iso8601Ms("2026-05-15T09:30:infZ") == nil)
        #expect(S3Time.iso8601Ms("2026-05-15T09:30:nanZ") == nil)
        #expect(S3Time.iso8601Ms("999999999999999-05-15T09:30:12Z") == nil)
        #expect(S3Time.iso8601Ms("2026-05-15T9223372036854775807:30:12Z") == nil)
        #expect(S3Time.httpDateMs("Wed, 15 May 999999999999999 09:30:12 GMT") == nil)
        #expect(S3Time.httpDateMs("Wed, 15 May 2024 9223372036854775807:30:12 GMT") == nil)
        #expect(S3Time.iso8601Ms("2024-05-15T09:30:12.345Z") == 1_715_765_412_345)
        let list = """
            <ListBucketResult><Contents><Key>k</Key><Size>1</Size><LastModified>2026-05-15T09:30:1e300Z</LastModified>\
            </Contents></ListBucketResult>
            """
        #expect(try S3ListResult.parse(Array(list.utf8)).objects == [BlobInfo(key: "k", size: 1, modifiedMs: 0)])
    }

    @Test func rejectsDeepOrBrokenXML() {
        let deep = String(repeating: "<a>", count: 100) + String(repeating: "</a>", count: 100)
        #expect(throws: S3XMLParser.Failure.self) { try S3XMLParser.parse(Array(deep.utf8)) }
        #expect(throws: S3XMLParser.Failure.self) { try S3XMLParser.parse(Array("<a><b></a>".utf8)) }
        #expect(throws: S3XMLParser.Failure.self) { try S3XMLParser.parse(Array("<a>&bogus;</a>".utf8)) }
        #expect(S3XMLParser.escape("a&b<c>\"'") == "a&amp;b&lt;c&gt;&quot;&apos;")
    }

    @Test func configFromEnvironment() throws {
        let environment = [
            "AWS_ACCESS_KEY_ID": "AKID", "AWS_SECRET_ACCESS_KEY": Self.secret, "AWS_SESSION_TOKEN": Self.token,
            "AWS_DEFAULT_REGION": "eu-west-1",
        ]
        let aws = try S3Config.fromURL("s3://bucket/some/prefix", environment: environment)
        #expect(aws.endpoint.absoluteString == "https://s3.eu-west-1.amazonaws.com")
        #expect(aws.region == "eu-west-1" && aws.bucket == "bucket" && aws.prefix == "some/prefix/")
        #expect(aws.addressing == .virtualHosted && !aws.insecureTLS)
        #expect(aws.credentials.sessionToken == Self.token)
        var local = environment
        local["AWS_ENDPOINT_URL"] = "http://127.0.0.1:8333"
        local["AWS_REGION"] = "us-west-2"
        let seaweed = try S3Config.fromEnvironment(bucket: "b", environment: local)
        #expect(seaweed.addressing == .pathStyle && seaweed.region == "us-west-2" && seaweed.prefix == "")
        local["STRATA_S3_PATH_STYLE"] = "0"
        local["STRATA_S3_INSECURE"] = "1"
        let vhost = try S3Config.fromEnvironment(bucket: "b", environment: local)
        #expect(vhost.addressing == .virtualHosted && vhost.insecureTLS)
        #expect(try S3Config.fromEnvironment(bucket: "my.bucket", environment: environment).addressing == .pathStyle)
        let store = try S3BlobStore(url: "s3://bucket/p", environment: local)
        #expect(store.location == "s3://bucket/p/ (endpoint http://127.0.0.1:8333)")
        #expect(throws: BlobError.self) { try S3Config.fromEnvironment(bucket: "b", environment: [:]) }
        #expect(throws: BlobError.self) { try S3Config.fromURL("file:///x", environment: environment) }
    }

    @Test func addressingBuildsPathsAndHosts() throws {
        var config = try Self.config(endpoint: "http://127.0.0.1:8333")
        let path = try S3Client(config: config, now: { Date() })
        #expect(path.target(key: "a b") == ("127.0.0.1:8333", "/strata-test/cold/a b"))
        #expect(path.target(key: nil) == ("127.0.0.1:8333", "/strata-test"))
        config.endpoint = try #require(URL(string: "https://s3.us-east-1.amazonaws.com:443"))
        config.addressing = .virtualHosted
        let vhost = try S3Client(config: config, now: { Date() })
        #expect(vhost.target(key: "k") == ("strata-test.s3.us-east-1.amazonaws.com", "/cold/k"))
        #expect(vhost.location == "s3://strata-test/cold/")
        #expect(path.location == "s3://strata-test/cold/ (endpoint http://127.0.0.1:8333)")
        config.partSizeBytes = 1 << 20
        #expect(throws: BlobError.self) { try S3BlobStore(config: config) }
    }

    @Test func errorsMapToCodesAndNeverCarrySecrets() throws {
        let client = try S3Client(config: Self.config(), now: { Date() })
        func mapped(_ status: Int, _ code: String, message: String = "m") -> BlobError {
            let body = code.isEmpty ? "" : "<Error><Code>\(code)</Code><Message>\(message)</Message></Error>"
            return client.statusError(HTTPResponse(status: status, headers: [], body: Array(body.utf8)), key: "k")
        }
        #expect(mapped(404, "NoSuchKey").code == .notFound)
        #expect(mapped(404, "").code == .notFound)
        #expect(mapped(404, "NoSuchBucket").code == .invalid)
        #expect(mapped(404, "NoSuchBucket").message.contains("strata-test"))
        #expect(mapped(412, "PreconditionFailed").code == .preconditionFailed)
        #expect(mapped(416, "InvalidRange").code == .invalid)
        #expect(mapped(503, "SlowDown").code == .unavailable)
        #expect(mapped(429, "").code == .unavailable)
        #expect(mapped(500, "InternalError").code == .unavailable)
        #expect(mapped(400, "InvalidArgument").code == .invalid)
        let denied = mapped(403, "SignatureDoesNotMatch", message: "leaked \(Self.secret) and \(Self.token)")
        #expect(denied.code == .denied)
        let text = "\(denied)"
        #expect(text.contains("http://127.0.0.1:8333") && text.contains("strata-test"))
        #expect(!text.contains(Self.secret) && !text.contains(Self.token), "\(text)")
        #expect(!"\(try Self.config())".contains(Self.secret))
        #expect(!"\(try Self.config())".contains(Self.token))
    }

    @Test func signedRequestsCarryNoSecret() throws {
        let client = try S3Client(config: Self.config(), now: { Date(timeIntervalSince1970: 0) })
        let request = client.httpRequest(
            for: S3Call(method: "GET", key: "k"), payloadHash: SigV4Signer.emptyPayloadHash)
        #expect(request.url == "http://127.0.0.1:8333/strata-test/cold/k")
        let names = request.headers.map(\.name)
        #expect(names.contains("x-amz-content-sha256") && names.contains("x-amz-security-token"))
        #expect(!request.headers.contains { $0.value.contains(Self.secret) })
    }

    @Test func unreachableEndpointIsUnavailableAfterBoundedRetries() async throws {
        var config = try Self.config(endpoint: "http://127.0.0.1:\(try Self.closedPort())")
        config.retry = RetryPolicy(attemptsMax: 3, baseDelayMs: 10, delayMaxMs: 50)
        let waits = RecordedWaits()
        let store = try S3BlobStore(config: config, retryEnvironment: waits.environment())
        let error = await expectS3Error(.unavailable) { try await store.put("k", [1], mode: .overwrite) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("gave up after 3 attempts") && text.contains(config.endpoint.absoluteString), "\(text)")
        #expect(waits.recorded.count == 2)
        #expect(!text.contains(Self.secret))
    }

    /// A loopback port nobody listens on: bound, then closed.
    static func closedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let port = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { raw -> Int in
                guard bind(fd, raw, length) == 0, getsockname(fd, raw, &length) == 0 else { return 0 }
                return Int(UInt16(bigEndian: pointer.pointee.sin_port))
            }
        }
        try #require(port > 0)
        return port
    }
}
