import Strata
import StrataKafka
import StrataTesting
import Testing

@testable import StrataServer

/// Review of issue 14's coordinator (review1): each test pins a defect found on main (fixed, or a
/// known issue until the fix lands).
@Suite(.timeLimit(.minutes(2)))
struct GroupReviewTests {
    /// A new group's only member leaves during the initial rebalance delay. The group then had
    /// no members and no pending ids, and the sweep skipped it, so the join never completed: it
    /// stayed PreparingRebalance until the next join, DeleteGroups refused it (NON_EMPTY_GROUP)
    /// and standalone commits got UNKNOWN_MEMBER_ID.
    @Test func aGroupWhoseOnlyMemberLeftDuringTheInitialDelayBecomesEmpty() async throws {
        let h = await GroupHarness.start()
        let (a, joinA) = try await h.joinNew(client: "a")
        let left = await h.coordinator.leave(LeaveGroupCall(groupId: "g", members: [(a, nil)]))
        #expect(left.members.map(\.error) == [.none])
        #expect(await joinA.answer.error == .unknownMemberId)
        await h.advance(ms: 3_000)
        await h.advance(ms: 3_000)
        await h.advance(ms: 10_000)
        #expect(await h.coordinator.snapshot("g")?.phase == .empty)
        let committed = await h.commit([("t", 0, 5)])
        #expect(committed.map(\.1) == [.none])
        #expect(await h.coordinator.delete(["g"]).map(\.1) == [.none])
    }
}
