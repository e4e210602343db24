import XCTest
@testable import STCluster

final class MatchingTests: XCTestCase {
    /// Brute force over all one-to-one assignments (the oracle for small cases).
    func bestTotal(_ m: [[Int]]) -> Int {
        let k = m.count, c = m[0].count
        var best = 0
        func go(_ i: Int, _ used: Set<Int>, _ total: Int) {
            if i == k { best = max(best, total); return }
            go(i + 1, used, total)                        // row i unmatched
            for j in 0..<c where !used.contains(j) { go(i + 1, used.union([j]), total + m[i][j]) }
        }
        go(0, [], 0)
        return best
    }

    func testGreedyWouldFailButHungarianFindsTheBestAssignment() {
        // Greedy takes (0,0) = 9 and is left with (1,1) = 1: 10. The best is 8 + 7 = 15.
        let m = [[9, 8], [7, 1]]
        XCTAssertEqual(LabelMatching.match(m), [1, 0])
    }

    func testMoreClustersThanClassesLeavesTheWeakestUnmatched() {
        let m = [[5, 0], [0, 6], [4, 1]]
        XCTAssertEqual(LabelMatching.match(m), [0, 1, nil])
        XCTAssertEqual(LabelMatching.match([[0, 3, 1]]), [1])
    }

    func testRandomMatricesReachTheBruteForceOptimum() {
        var rng = SystemRandomNumberGenerator()
        for trial in 0..<200 {
            let k = Int.random(in: 1...5, using: &rng), c = Int.random(in: 1...5, using: &rng)
            let m = (0..<k).map { _ in (0..<c).map { _ in Int.random(in: 0...20, using: &rng) } }
            let a = LabelMatching.match(m)
            XCTAssertEqual(a.count, k)
            let cols = a.compactMap { $0 }
            XCTAssertEqual(Set(cols).count, cols.count, "one-to-one, trial \(trial): \(m)")
            XCTAssertEqual(cols.count, min(k, c), "as many pairs as possible, trial \(trial)")
            var total = 0
            for (i, j) in a.enumerated() { if let j { total += m[i][j] } }
            XCTAssertEqual(total, bestTotal(m), "trial \(trial): \(m)")
        }
    }
}
