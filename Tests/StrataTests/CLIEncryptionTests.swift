import Foundation
import Testing

@testable import Strata

/// Encryption at rest through the built `strata` binary (issue 18; formats/keys.md): without an
/// object's key, `consume`, `export`, `inspect verify` and `inspect dump` name the missing key
/// id, exit with their documented codes and never print a key; with it every record reads back;
/// a flipped bit is named by object and frame; a bad key ring names its file and entry.
@Suite("CLI encryption at rest")
struct CLIEncryptionTests {
    /// 32 distinct bytes, base64: a key of its own per id.
    static func key(_ seed: UInt8) -> String { Data((0 ..< 32).map { $0 &* 7 &+ seed }).base64EncodedString() }

    /// A lake whose topic `t` (300 lines) was produced with key A and offloaded and evicted, so
    /// only the cold tier holds it; rings for A and B beside it.
    static func encryptedLake(_ dir: String) throws -> (lake: String, ringA: String, ringB: String) {
        let (lake, ringA, ringB) = (dir + "/lake", dir + "/a.ring", dir + "/b.ring")
        try "# key A\nA:\(key(1))\n".write(toFile: ringA, atomically: true, encoding: .utf8)
        try "B:\(key(2))\n".write(toFile: ringB, atomically: true, encoding: .utf8)
        let lines = (0 ..< 300).map { "line \($0)" }.joined(separator: "\n") + "\n"
        let produced = CLI.run(
            ["produce", "--lake", lake, "--encryption", "aes-256-gcm", "--key-ring", ringA, "t"], stdin: lines)
        try #require(produced.status == 0, "\(produced)")
        let offloaded = CLI.run(["offload", "--lake", lake, "t", "--evict", "--key-ring", ringA])
        try #require(offloaded.status == 0, "\(offloaded)")
        return (lake, ringA, ringB)
    }

    static func coldObjects(_ lake: String) throws -> [String] {
        let directory = lake + "/cold/topics/t/segments"
        return try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".seg.zst") }
            .sorted().map { directory + "/" + $0 }
    }

    @Test func withoutTheKeyEveryReaderNamesTheMissingIdAndPrintsNoKey() async throws {
        try await withTempDirectory { dir in
            let (lake, ringA, ringB) = try Self.encryptedLake(dir)
            let object = try #require(try Self.coldObjects(lake).first)
            let runs: [(name: String, arguments: [String], status: Int32)] = [
                ("consume, ring B", ["consume", "--lake", lake, "t", "--key-ring", ringB], 2),
                ("consume, no ring", ["consume", "--lake", lake, "t"], 2),
                (
                    "export, ring B",
                    ["export", "--cold", "file://\(lake)/cold", "t", "--key-ring", ringB, "--output", dir + "/out.jsonl"], 2
                ),
                ("inspect verify, ring B", ["inspect", "verify", "--lake", lake, "--key-ring", ringB], 1),
                ("inspect dump, no ring", ["inspect", "dump", object], 1),
            ]
            for run in runs {
                let result = CLI.run(run.arguments)
                #expect(result.status == run.status, "\(run.name): \(result)")
                let said = result.stderr + result.stdout
                #expect(said.contains("key id 'A'"), "\(run.name) names the missing key id: \(said)")
                #expect(said.contains("missingKey"), "\(run.name): \(said)")
                for key in [Self.key(1), Self.key(2)] { #expect(!said.contains(key), "\(run.name) printed a key") }
                #expect(!said.contains("line 1"), "\(run.name) printed a record it should not have read")
            }
            let exportedText = (try? String(contentsOfFile: dir + "/out.jsonl", encoding: .utf8)) ?? ""
            #expect(exportedText.isEmpty, "export wrote records it could not have read")

            // With key A every record comes back, through each reader.
            let consumed = CLI.run(["consume", "--lake", lake, "t", "--key-ring", ringA])
            #expect(consumed.status == 0, "\(consumed)")
            #expect(consumed.stdout.split(separator: "\n").map(String.init) == (0 ..< 300).map { "line \($0)" })
            let verified = CLI.run(["inspect", "verify", "--lake", lake, "--key-ring", ringA])
            #expect(verified.status == 0, "\(verified)")
            #expect((verified.stderr + verified.stdout).contains("300 records"), "\(verified)")
            let dumped = CLI.run(["inspect", "dump", object, "--key-ring", ringA, "--records"])
            #expect(dumped.status == 0, "\(dumped)")
            #expect(dumped.stdout.contains("value: \"line 299\""), "\(dumped.stdout.suffix(300))")
            let exported = CLI.run(
                ["export", "--cold", "file://\(lake)/cold", "t", "--key-ring", "\(ringB)", "--output", dir + "/b.jsonl"])
            #expect(exported.status == 2)
            // A ring of both keys, newest (B) first, opens A's objects.
            let both = dir + "/both.ring"
            try "B:\(Self.key(2))\nA:\(Self.key(1))\n".write(toFile: both, atomically: true, encoding: .utf8)
            let rotated = CLI.run(["consume", "--lake", lake, "t", "--key-ring", both, "--count", "3"])
            #expect(rotated.status == 0 && rotated.stdout == "line 0\nline 1\nline 2\n", "\(rotated)")
        }
    }

    @Test func aFlippedBitIsNamedByObjectAndFrame() async throws {
        try await withTempDirectory { dir in
            let (lake, ringA, _) = try Self.encryptedLake(dir)
            let object = try #require(try Self.coldObjects(lake).first)
            var bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: object)))
            bytes[40] ^= 0x10  // inside frame 0's sealed bytes
            try Data(bytes).write(to: URL(fileURLWithPath: object))
            let verified = CLI.run(["inspect", "verify", "--lake", lake, "--key-ring", ringA])
            #expect(verified.status == 1, "\(verified)")
            let name = (object as NSString).lastPathComponent
            #expect(verified.stdout.contains(name), "\(verified.stdout)")
            #expect(verified.stdout.contains("frame 0"), "\(verified.stdout)")
            let consumed = CLI.run(["consume", "--lake", lake, "t", "--key-ring", ringA])
            #expect(consumed.status != 0, "\(consumed)")
            #expect(consumed.stderr.contains("frame 0"), "\(consumed.stderr)")
            #expect(!consumed.stdout.contains("line 0"), "a record of a forged frame was printed")
        }
    }

    @Test func aBadKeyRingNamesItsFileAndEntryAndChangesNothing() async throws {
        try await withTempDirectory { dir in
            let (lake, _, _) = try Self.encryptedLake(dir)
            let before = try Self.coldObjects(lake)
            let cases: [(text: String, says: String)] = [
                ("A:not*base64\n", "entry 1 (key id 'A'): the key is not base64"),
                ("A:\(Data(repeating: 1, count: 16).base64EncodedString())\n", "the key is 16 bytes, AES-256 takes 32"),
                ("A:\(Self.key(1)),A:\(Self.key(3))\n", "'A'"),
                ("# nothing\n", "holds no key"),
                ("no-colon-here\n", "entry 1 is not id:base64key"),
            ]
            for (i, bad) in cases.enumerated() {
                let ring = dir + "/bad\(i).ring"
                try bad.text.write(toFile: ring, atomically: true, encoding: .utf8)
                let result = CLI.run(["consume", "--lake", lake, "t", "--key-ring", ring])
                #expect(result.status == 2, "\(bad.text): \(result)")
                #expect(result.stderr.contains(ring), "names the file: \(result.stderr)")
                #expect(result.stderr.contains(bad.says), "\(bad.text): \(result.stderr)")
                #expect(!result.stderr.contains(Self.key(1)) && !result.stderr.contains(Self.key(3)))
                #expect(result.stdout.isEmpty)
            }
            let missing = CLI.run(["consume", "--lake", lake, "t", "--key-ring", dir + "/absent.ring"])
            #expect(missing.status == 2 && missing.stderr.contains("cannot read the key ring file"), "\(missing)")
            #expect(try Self.coldObjects(lake) == before, "a refused ring changed the bucket")
        }
    }
}
