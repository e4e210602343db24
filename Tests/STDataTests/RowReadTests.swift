import XCTest
import STCore
@testable import STData
import STTestSupport

/// Row-range and row-list reads equal the corresponding slices of a full read.
final class RowReadTests: XCTestCase {
    func testRangesOfRealFiles() throws {
        for name in ["DLPFC_151676.h5ad", "MERFISH_hypothalamus_animal1.h5ad", "MOB_ST_stdeconvolve.h5ad"] {
            let r = try AnnDataReader(path: try SharedData.path("data/" + name))
            let full = try r.readX()
            let n = r.nObs
            for range in [0..<n, 0..<1, (n - 1)..<n, 5..<5, (n / 3)..<(2 * n / 3), 1..<(n - 1)] {
                XCTAssertEqual(try r.readX(rows: range), full.selectingRows(Array(range)), "\(name) \(range)")
            }
            // An 8-way split reassembles X.
            var parts: [CSRMatrix] = []
            for k in 0..<8 { parts.append(try r.readX(rows: (k * n / 8)..<((k + 1) * n / 8))) }
            XCTAssertEqual(parts.reduce(0) { $0 + $1.nnz }, full.nnz)
            XCTAssertEqual(parts.reduce(0) { $0 + $1.rows }, n)
        }
    }

    func testRowListsOfRealFile() throws {
        let r = try AnnDataReader(path: try SharedData.path("data/DLPFC_151676.h5ad"))
        let full = try r.readX()
        let n = r.nObs
        var rng = Xoshiro256(seed: 7)
        var lists: [[Int]] = [[], [0], [n - 1], Array(0..<n), Array(stride(from: 0, to: n, by: 500)),
                              Array(stride(from: 3, to: n, by: 2)), [0, 1, 2, 10, 11, 3000, 3459]]
        for density in [2, 10, 50] {
            lists.append((0..<n).filter { _ in rng.below(UInt64(density)) == 0 })
        }
        // Runs of consecutive rows separated by gaps of various sizes.
        var runs: [Int] = []
        var i = 0
        while i < n { let len = Int(rng.below(40)); runs.append(contentsOf: i..<min(n, i + len)); i += len + 1 + Int(rng.below(200)) }
        lists.append(runs)
        for list in lists {
            XCTAssertEqual(try r.readX(rows: list), full.selectingRows(list), "list of \(list.count)")
        }
        // Unsorted or duplicate lists are rejected.
        assertInputError(r.path, "X", contains: "strictly increasing") { _ = try r.readX(rows: [3, 2]) }
        assertInputError(r.path, "X", contains: "strictly increasing") { _ = try r.readX(rows: [2, 2]) }
        assertInputError(r.path, "X", contains: "outside") { _ = try r.readX(rows: 0..<(n + 1)) }
    }

    func testRowNNZMatchesX() throws {
        for name in ["osmFISH_valid_cells.h5ad", "VeraFISH_hippocampus.h5ad"] {
            let r = try AnnDataReader(path: try SharedData.path("data/" + name))
            let x = try r.readX()
            XCTAssertEqual(try r.rowNNZ(), (0..<x.rows).map { x.indptr[$0 + 1] - x.indptr[$0] })
        }
    }
}
