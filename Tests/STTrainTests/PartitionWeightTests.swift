import XCTest
@testable import STTrain
import STPartition

/// The spot weights `run` partitions by (`RankLayout.rowEntries`): stored entries plus a row's
/// dense work in entries.
final class PartitionWeightTests: XCTestCase {
    func testRowEntriesIsTwoDScaledByTheKeptShareOfGenes() {
        // All genes kept (a small panel): 2d, the floor's 16·d² per spot over its 8·d per entry.
        XCTAssertEqual(RankLayout.rowEntries(dim: 64, genes: 161, keptGenes: 3000), 128)
        XCTAssertEqual(RankLayout.rowEntries(dim: 32, genes: 3000, keptGenes: 3000), 64)
        // 3000 of 5000 genes kept: a raw entry stands for 0.6 of a kept one.
        XCTAssertEqual(RankLayout.rowEntries(dim: 64, genes: 5000, keptGenes: 3000), 128 * 5000 / 3000, accuracy: 1e-9)
    }

    /// A small panel where the left half of the slide holds 10 entries per spot and the right half
    /// 100 (as a FISH slide with a dense region). Entries alone would give the left rank far more
    /// spots, so far more of the dense per-spot work; with the row term the ranks' estimated work
    /// (entries + 2d per spot) is within a few spots of equal.
    func testSmallPanelRanksGetEqualWork() throws {
        let side = 60, d = 64
        var xy = [Double](), nnz = [Int]()
        for i in 0..<side { for j in 0..<side { xy += [Double(i), Double(j)]; nnz.append(i < side / 2 ? 10 : 100) } }
        func work(_ p: RCBPartition) -> [Double] {
            var w = [Double](repeating: 0, count: p.parts)
            for (i, o) in p.owner.enumerated() { w[Int(o)] += Double(nnz[i]) + 2 * Double(d) }
            return w
        }
        let rowEntries = RankLayout.rowEntries(dim: d, genes: 140, keptGenes: 3000)
        for ranks in [2, 4, 8] {
            let weighted = work(try RankLayout.partition(coordinates: xy, rowNNZ: nnz, ranks: ranks, rowEntries: rowEntries))
            let entriesOnly = work(try RCB.partition(coordinates: xy, parts: ranks, weights: nnz.map { 1 + Double($0) }))
            let mean = weighted.reduce(0, +) / Double(ranks)
            XCTAssertLessThan(weighted.max()! / mean, 1.01, "\(ranks) ranks: \(weighted)")
            XCTAssertGreaterThan(entriesOnly.max()! / mean, 1.2, "\(ranks) ranks, weighted by entries alone: \(entriesOnly)")
        }
    }
}
