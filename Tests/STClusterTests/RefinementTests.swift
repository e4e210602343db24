import XCTest
import STCore
import STComm
import STPartition
@testable import STCluster

/// Brute-force GraphST `refine_label` (O(N²)): for each spot, all other spots sorted by
/// (squared distance, index), the first r vote, ties to the label met first.
func refine_ref(labels: [Int], coordinates c: [Double], radius r: Int) -> [Int] {
    let n = labels.count
    return (0..<n).map { i in
        let others = (0..<n).filter { $0 != i }.sorted { a, b in
            let da = (c[2 * a] - c[2 * i]) * (c[2 * a] - c[2 * i]) + (c[2 * a + 1] - c[2 * i + 1]) * (c[2 * a + 1] - c[2 * i + 1])
            let db = (c[2 * b] - c[2 * i]) * (c[2 * b] - c[2 * i]) + (c[2 * b + 1] - c[2 * i + 1]) * (c[2 * b + 1] - c[2 * i + 1])
            return da != db ? da < db : a < b
        }
        let votes = others.prefix(min(r, n - 1)).map { labels[$0] }
        // Python's max(votes, key=votes.count): the first element with the largest count.
        var best = votes[0]
        for v in votes where votes.filter({ $0 == v }).count > votes.filter({ $0 == best }).count { best = v }
        return best
    }
}

final class RefinementTests: XCTestCase {
    func single(_ labels: [Int], _ c: [Double], _ r: Int) -> [Int] {
        Refinement.refine(owned: Array(0..<labels.count), labels: labels, partition: .single(count: labels.count),
                          coordinates: c, radius: r, comm: SingleProcessCommunicator())
    }

    func testLineWithAnIsolatedWrongLabel() {
        // Spots 0…9 on a line, r = 2 (each spot's two nearest others; equidistant → lower index first).
        // spot 3 (label 1) hears 2, 4 → [0, 0] → 0: the isolated label is flipped.
        // spot 4 hears 3, 5 → [1, 0]: tie, the first met (spot 3, label 1) wins.
        // spot 7 hears 6, 8 → [2, 1]: tie → 2.  spot 9 hears 8, 7 → [1, 1] → 1.
        let c = (0..<10).flatMap { i -> [Double] in [Double(i), 0] }
        let labels = [0, 0, 0, 1, 0, 0, 2, 1, 1, 1]
        XCTAssertEqual(single(labels, c, 2), [0, 0, 0, 0, 1, 0, 0, 2, 1, 1])
        XCTAssertEqual(refine_ref(labels: labels, coordinates: c, radius: 2), [0, 0, 0, 0, 1, 0, 0, 2, 1, 1])
    }

    func testTieGoesToTheNearestNotTheLowestIndex() {
        // p0 (0,0) label 5, p1 (3,0) label 0, p2 (−2,0) label 1, p3 (10,0) label 1; r = 2.
        // p0 hears p2 (d 2, label 1) then p1 (d 3, label 0): tie → 1 (index order would give 0);
        // its own label 5 does not vote. p1 hears p0 (5), p2 (1) → 5. p2 hears p0 (5), p1 (0) → 5.
        // p3 hears p1 (d 7, label 0), p0 (d 10, label 5) → 0.
        let c: [Double] = [0, 0, 3, 0, -2, 0, 10, 0]
        XCTAssertEqual(single([5, 0, 1, 1], c, 2), [1, 5, 5, 0])
    }

    func testMatchesBruteForceAndThreeRanksAgree() {
        var rng = Xoshiro256(seed: 12, stream: 1)
        let n = 300
        // Integer coordinates on a small grid: many exact distance ties.
        let c = (0..<(2 * n)).map { _ in Double(rng.below(40)) }
        let labels = (0..<n).map { i in (c[2 * i] < 20 ? 0 : 2) + (rng.nextDouble() < 0.2 ? 1 : 0) }
        for r in [1, 4, 7] {
            let want = refine_ref(labels: labels, coordinates: c, radius: r)
            XCTAssertEqual(single(labels, c, r), want, "r = \(r)")
            let split = randomSplit(n, parts: 3, seed: UInt64(r))
            var owner = [Int32](repeating: 0, count: n)
            for (rank, s) in split.enumerated() { for g in s { owner[g] = Int32(rank) } }
            let partition = Partition(owner: owner, parts: 3)
            let parts = ThreadGroupCommunicator.run(ranks: 3) { comm in
                Refinement.refine(owned: split[comm.rank], labels: split[comm.rank].map { labels[$0] }, partition: partition,
                                  coordinates: c, radius: r, comm: comm)
            }
            for (rank, p) in parts.enumerated() { XCTAssertEqual(p, split[rank].map { want[$0] }, "r = \(r), rank \(rank)") }
        }
    }

    func testRankWithoutSpotsTakesPart() {
        let c = (0..<20).flatMap { i -> [Double] in [Double(i % 5), Double(i / 5)] }
        let labels = (0..<20).map { $0 % 3 }
        let owner = (0..<20).map { Int32($0 < 10 ? 0 : 2) }   // rank 1 owns nothing
        let partition = Partition(owner: owner, parts: 3)
        let parts = ThreadGroupCommunicator.run(ranks: 3) { comm in
            let mine = (0..<20).filter { Int(owner[$0]) == comm.rank }
            return Refinement.refine(owned: mine, labels: mine.map { labels[$0] }, partition: partition, coordinates: c,
                                     radius: 3, comm: comm)
        }
        let want = refine_ref(labels: labels, coordinates: c, radius: 3)
        XCTAssertEqual(parts[0] + parts[2], Array(want[0..<10]) + Array(want[10..<20]))
        XCTAssertEqual(parts[1], [])
    }

    func testAutoRadius() {
        XCTAssertNil(RefinementRadius.auto(spots: 262, clusters: 7))           // MOB: too small to vote
        XCTAssertEqual(RefinementRadius.auto(spots: 2800, clusters: 7), 50)
        XCTAssertEqual(RefinementRadius.auto(spots: 3460, clusters: 7), 50)    // DLPFC 151676
        XCTAssertEqual(RefinementRadius.auto(spots: 1000, clusters: 7), 17)
        XCTAssertEqual(RefinementRadius.auto(spots: 1049, clusters: 4), 32)    // STARmap mPFC
        XCTAssertEqual(RefinementRadius.auto(spots: 336, clusters: 7), 6)      // the smallest that votes
        XCTAssertNil(RefinementRadius.auto(spots: 335, clusters: 7))
    }
}
