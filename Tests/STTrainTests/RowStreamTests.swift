import XCTest
import STComm
@testable import STTrain

/// `RowStream`: blocks of global rows fetched onto rank 0 equal the rows of the whole table,
/// whatever the ownership, the block bounds or the number of ranks.
final class RowStreamTests: XCTestCase {
    /// Spot g's value in column c of a table of width w (distinct for every (g, c)).
    static func value(_ g: Int, _ c: Int, _ w: Int) -> Float { Float(g * w + c) + 0.25 }

    /// Spots dealt to `ranks` ranks in a scrambled order (each rank's local order is not sorted),
    /// with rank `ranks - 1` owning none when `emptyRank`.
    static func ownership(total: Int, ranks: Int, emptyRank: Bool) -> [[Int]] {
        var owned = [[Int]](repeating: [], count: ranks)
        let dealers = emptyRank ? ranks - 1 : ranks
        for g in 0..<total { owned[(g * 7 + g / 5) % dealers].append(g) }
        return owned.map { $0.reversed() }
    }

    func testBlocksEqualTheWholeTableOnAnyRanks() throws {
        let total = 1003
        for ranks in [1, 2, 3, 4] {
            for emptyRank in ranks > 1 ? [false, true] : [false] {
                let owned = Self.ownership(total: total, ranks: ranks, emptyRank: emptyRank)
                let results = ThreadGroupCommunicator.run(ranks: ranks) { comm -> [[Float]] in
                    let mine = owned[comm.rank]
                    let wide = mine.flatMap { g in (0..<5).map { Self.value(g, $0, 5) } }
                    let narrow = mine.map { Double(Self.value($0, 0, 1)) }
                    let stream = RowStream(comm: comm, owned: mine, total: total,
                                           tables: [RowStream.Table(wide, width: 5), RowStream.Table(narrow, width: 1)])
                    stream.serve()
                    guard comm.isRoot else { return [] }
                    defer { stream.finish() }
                    // Uneven blocks, an empty one, and the tables interleaved.
                    let bounds = [0, 1, 1, 64, 500, 999, 1003]
                    var fetched: [[Float]] = [[], []]
                    for (lo, hi) in zip(bounds, bounds.dropFirst()) {
                        fetched[0] += stream.fetch(0, lo, hi)
                        fetched[1] += stream.fetch(1, lo, hi)
                    }
                    return fetched
                }
                let root = results[0]
                XCTAssertEqual(root[0], (0..<total).flatMap { g in (0..<5).map { Self.value(g, $0, 5) } }, "\(ranks) ranks")
                XCTAssertEqual(root[1], (0..<total).map { Self.value($0, 0, 1) }, "\(ranks) ranks")
            }
        }
    }

    /// Rank 0 ending without a fetch (its write failed first) releases the others; so does a
    /// second `finish()`.
    func testFinishWithoutFetchReleasesTheServers() {
        let done = ThreadGroupCommunicator.run(ranks: 3) { comm -> Bool in
            let stream = RowStream(comm: comm, owned: comm.rank == 0 ? [0] : [comm.rank], total: 3,
                                   tables: [RowStream.Table([Float(comm.rank)], width: 1)])
            stream.serve()
            stream.finish()
            stream.finish()
            comm.barrier()
            return true
        }
        XCTAssertEqual(done, [true, true, true])
    }
}
