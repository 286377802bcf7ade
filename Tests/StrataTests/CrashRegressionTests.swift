import Foundation
import StrataBlob
import StrataFormat
import Testing

@testable import Strata

/// Regression tests for what `tools/crash-test` (issue 8) found.
@Suite("Crash regressions")
struct CrashRegressionTests {
    /// A SIGKILL between creating the next segment file and its header reaching the page cache
    /// leaves a short active file. Recovery recreates it (nothing in it was acknowledged), so
    /// verify must call it a torn tail (a warning, exit 0), not a corrupt header.
    @Test func verifyCallsATornActiveHeaderATornTailLikeRecovery() async throws {
        try await withTempDirectory { dir in
            var options = LakeOptions()
            options.backgroundOffload = false
            options.log = { _ in }
            let lake = try Lake.open(dir, options: options)
            let topic = try lake.topic("t", creatingWith: topicConfig())
            _ = try await topic.append(offsetRecords(from: 0, count: 10))
            try topic.sealActiveSegment()
            try await lake.close()
            let active = LakePaths(root: dir).segment("t", baseOffset: 10)
            try #require(FileManager.default.fileExists(atPath: active))
            for shortBytes in [0, 7] {
                try truncateFile(active, to: shortBytes)
                let reopened = try Lake.open(dir, options: options)
                let report = try await reopened.verify()
                #expect(report.isClean, "\(report.problems)")
                #expect(report.problems.map(\.kind) == [.tornTail])
                #expect(report.problems.map(\.location) == [active])
                let values = try readAll(try reopened.topic("t")).map { string($0.value) }
                #expect(values == (0 ..< 10).map { "v\($0)" })
                // Opening the topic recreated the header: verify has nothing left to say.
                #expect(try await reopened.verify().problems.isEmpty)
                try await reopened.close()
            }
        }
    }
}

func truncateFile(_ path: String, to size: Int) throws {
    guard truncate(path, off_t(size)) == 0 else { throw StrataError(.io, "truncate \(path): errno \(errno)") }
}
