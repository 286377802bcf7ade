import Testing

@testable import StrataBlob

@Suite("ColdURL")
struct ColdURLTests {
    @Test func parsesTheTwoSchemes() throws {
        #expect(try ColdURL.parse("file:///var/lib/strata cold") == .file(path: "/var/lib/strata cold"))
        #expect(try ColdURL.parse("file:///var/a%20b") == .file(path: "/var/a b"))
        #expect(try ColdURL.parse("s3://my-bucket") == .s3(bucket: "my-bucket", prefix: ""))
        #expect(try ColdURL.parse("s3://my-bucket/") == .s3(bucket: "my-bucket", prefix: ""))
        #expect(try ColdURL.parse("s3://my.bucket/lakes/prod/") == .s3(bucket: "my.bucket", prefix: "lakes/prod"))
        #expect(try ColdURL.parse("S3://abc/x").description == "s3://abc/x")
    }

    @Test(arguments: [
        "/var/cold", "file://relative/path", "file://", "ftp://host/x", "memory://", "memory://a",
        "s3://", "s3://Upper", "s3://ab", "s3://-bucket", "s3://bucket/a//b",
    ])
    func rejectsBadURLsNamingTheAcceptedForms(text: String) {
        do {
            _ = try ColdURL.parse(text)
            Issue.record("accepted \(text)")
        } catch let error as BlobError {
            #expect(error.code == .invalid)
            #expect(error.message.contains(ColdURL.acceptedForms))
        } catch {
            Issue.record("unexpected \(error)")
        }
    }

    @Test func opensLocalStores() async throws {
        let root = try TemporaryDirectory()
        defer { root.remove() }
        let fileStore = try makeLocalStore(for: .parse("file://" + root.path + "/lake"))
        #expect(fileStore.location == "file://" + root.path + "/lake")
        #expect(throws: BlobError.self) { try makeLocalStore(for: .s3(bucket: "bucket", prefix: "")) }
    }
}
