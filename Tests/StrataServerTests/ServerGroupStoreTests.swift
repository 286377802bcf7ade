import Foundation
import Strata
import Testing

@testable import StrataServer

/// `KafkaServer.start` opens the engine's group store before it binds (ARCHITECTURE.md §2f).
@Suite struct ServerGroupStoreTests {
    /// A record in `__consumer_offsets` that is not a group record: the server refuses to start,
    /// naming the log and the offset, rather than serve groups from a state it cannot trust; the
    /// log is left as it was.
    @Test func aDamagedGroupLogRefusesTheStartNamingTheOffset() async throws {
        let path = NSTemporaryDirectory() + "strata-serve-\(UUID().uuidString)"
        defer { try? FileManager.default.removeItem(atPath: path) }
        var lakeOptions = LakeOptions()
        lakeOptions.backgroundOffload = false
        let lake = try Lake.open(path, options: lakeOptions)
        let log = try lake.topic(GroupStore.topicName, creatingWith: nil)
        _ = try await log.append([ProducerRecord(value: Array("not a group record".utf8))])
        var options = KafkaServerOptions()
        options.listenPort = 0
        options.log = { _ in }
        let server = KafkaServer(lake: lake, options: options)
        do {
            _ = try await server.start()
            Issue.record("the server started on a damaged group log")
            await server.shutdown()
        } catch {
            guard case .groupStore(let why) = error else { throw error }
            #expect(why.contains(GroupStore.topicName) && why.contains("offset 0"), "\(why)")
        }
        #expect(log.highWatermark == 1)
        try await lake.close()
    }
}
