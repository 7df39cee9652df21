import Switchboard
import Testing

@Suite struct HistoryStreamTests {
    let start = ContinuousClock.now

    @Test func offsetsIncreaseAndSizeIsKept() throws {
        var stream = HistoryStream(epoch: "e1")
        for i in 1...5 {
            let publication = stream.append(Publication(data: "\(i)"), size: 3, ttl: .seconds(60), now: self.start)
            #expect(publication.offset == UInt64(i))
        }
        #expect(stream.count == 3)
        #expect(stream.position == StreamPosition(offset: 5, epoch: "e1"))
        let all = stream.query(since: nil, limit: -1, reverse: false, now: self.start, size: 3)
        #expect(try all.get().map(\.offset) == [3, 4, 5])
    }

    @Test func recoveryNeedsTheWholeGapAndTheSameEpoch() {
        var stream = HistoryStream(epoch: "e1")
        for i in 1...5 { _ = stream.append(Publication(data: "\(i)"), size: 3, ttl: .seconds(60), now: self.start) }
        // Offsets 3...5 are kept: a client at 2 misses 3, 4, 5, all there.
        #expect(stream.publications(after: .init(offset: 2, epoch: "e1"), now: self.start, size: 3)?.map(\.offset) == [3, 4, 5])
        #expect(stream.publications(after: .init(offset: 5, epoch: "e1"), now: self.start, size: 3) == [])
        // A client at 1 missed 2, which is gone.
        #expect(stream.publications(after: .init(offset: 1, epoch: "e1"), now: self.start, size: 3) == nil)
        // Another epoch, or a position ahead of the stream, cannot be recovered.
        #expect(stream.publications(after: .init(offset: 4, epoch: "other"), now: self.start, size: 3) == nil)
        #expect(stream.publications(after: .init(offset: 9, epoch: "e1"), now: self.start, size: 3) == nil)
    }

    @Test func publicationsExpireAfterTheirTTL() throws {
        var stream = HistoryStream()
        _ = stream.append(Publication(data: "old"), size: 10, ttl: .seconds(10), now: self.start)
        _ = stream.append(Publication(data: "new"), size: 10, ttl: .seconds(10), now: self.start + .seconds(8))
        let later = self.start + .seconds(12)
        #expect(try stream.query(since: nil, limit: -1, reverse: false, now: later, size: 10).get().map(\.data) == ["new"])
        // Offset 1 expired, so a client at 0 cannot recover; one at 1 can.
        #expect(stream.publications(after: .init(offset: 0, epoch: stream.epoch), now: later, size: 10) == nil)
        #expect(stream.publications(after: .init(offset: 1, epoch: stream.epoch), now: later, size: 10)?.map(\.data) == ["new"])
    }

    @Test func queryLimitReverseAndSince() throws {
        var stream = HistoryStream(epoch: "e")
        for i in 1...6 { _ = stream.append(Publication(data: "\(i)"), size: 10, ttl: .seconds(60), now: self.start) }
        func offsets(_ since: StreamPosition?, _ limit: Int, _ reverse: Bool) throws -> [UInt64] {
            try stream.query(since: since, limit: limit, reverse: reverse, now: self.start, size: 10).get().map(\.offset)
        }
        #expect(try offsets(nil, 0, false) == [])
        #expect(try offsets(nil, 2, false) == [1, 2])
        #expect(try offsets(nil, 2, true) == [6, 5])
        #expect(try offsets(.init(offset: 4, epoch: "e"), -1, false) == [5, 6])
        #expect(stream.query(since: .init(offset: 4, epoch: "x"), limit: 1, reverse: false, now: self.start, size: 10) == .failure(.unrecoverablePosition))
        stream.removeAll()
        #expect(try offsets(nil, -1, false) == [])
        #expect(stream.append(Publication(data: "7"), size: 10, ttl: .seconds(60), now: self.start).offset == 7, "offsets carry on after removal")
    }

    @Test func epochsDiffer() {
        #expect(HistoryStream().epoch != HistoryStream().epoch)
    }
}
