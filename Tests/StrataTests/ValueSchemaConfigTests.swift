import Foundation
import StrataParquet
import Testing

@testable import Strata

/// A topic's value schema (formats/table.md, "Typed value columns") in its config: refused
/// unless it parses, and set from a file by `strata topics create --value-schema FILE`.
@Suite struct ValueSchemaConfigTests {
    static let good = #"{"type":"struct","fields":[{"id":1,"name":"page","required":true,"type":"string"}]}"#
    static let nested =
        #"{"type":"struct","fields":[{"id":1,"name":"tags","required":false,"type":"#
        + #"{"type":"list","element-id":2,"element":"string","element-required":true}}]}"#

    @Test func validateRefusesASchemaThatDoesNotParse() throws {
        var config = TopicConfig()
        config.valueSchema = Self.good
        try config.validate()
        config.valueSchema = Self.nested
        do {
            try config.validate()
            Issue.record("a nested type was accepted")
        } catch {
            #expect(error.code == .invalidArgument)
            #expect(error.message.contains("valueSchema"), "\(error)")
            #expect(error.message.contains("valueSchema.fields[0].type"), "\(error)")
            #expect(error.message.contains("'tags'"), "\(error)")
        }
        config.valueSchema = "{"
        #expect(throws: StrataError.self) { try config.validate() }
    }

    @Test func createTakesTheSchemaFromAFile() async throws {
        try await withTempDirectory { dir in
            let lake = dir + "/lake"
            try Data(Self.good.utf8).write(to: URL(fileURLWithPath: dir + "/schema.json"))
            try Data(Self.nested.utf8).write(to: URL(fileURLWithPath: dir + "/nested.json"))
            let created = try CLIRun.strata([
                "topics", "create", "--lake", lake, "clicks", "--value-schema", dir + "/schema.json",
            ])
            #expect(created.status == 0, "\(created.stderr)")
            let described = try CLIRun.strata(["topics", "describe", "--lake", lake, "clicks", "--json"])
            let line = described.stdout.split(separator: "\n").last.map(String.init) ?? ""
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            #expect((object?["config"] as? [String: Any])?["valueSchema"] as? String == Self.good, "\(line)")

            let refused = try CLIRun.strata([
                "topics", "create", "--lake", lake, "views", "--value-schema", dir + "/nested.json",
            ])
            #expect(refused.status != 0)
            #expect(refused.stderr.contains("valueSchema.fields[0].type"), "\(refused.stderr)")
            let missing = try CLIRun.strata([
                "topics", "create", "--lake", lake, "views", "--value-schema", dir + "/absent.json",
            ])
            #expect(missing.status != 0 && missing.stderr.contains("absent.json"), "\(missing.stderr)")
            let views = try CLIRun.strata(["topics", "describe", "--lake", lake, "views"])
            #expect(views.status != 0, "a refused schema creates nothing: \(views.stdout)")

            // The text itself through alter-config: checked the same way, nothing changes when refused.
            let altered = try CLIRun.strata([
                "topics", "alter-config", "--lake", lake, "clicks", "--set", "valueSchema=" + Self.nested,
            ])
            #expect(altered.status != 0 && altered.stderr.contains("valueSchema"), "\(altered.stderr)")
            let again = try CLIRun.strata(["topics", "describe", "--lake", lake, "clicks", "--json"])
            #expect(again.stdout.contains("page"), "\(again.stdout)")
        }
    }
}
