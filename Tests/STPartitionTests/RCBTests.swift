import XCTest
import STCore
import STTestSupport
@testable import STPartition

/// Tests of recursive coordinate bisection: balance, determinism, compactness, errors, and exact
/// agreement with a plain full-sort reference implementation.
final class RCBTests: XCTestCase {

    /// A rows × cols hexagonal lattice (Visium-like): odd rows shifted by half a spacing. (N×2)
    func hexLattice(rows: Int, cols: Int) -> [Double] {
        var xy: [Double] = []
        xy.reserveCapacity(2 * rows * cols)
        for r in 0..<rows {
            for c in 0..<cols {
                xy.append(Double(c) + (r % 2 == 1 ? 0.5 : 0))
                xy.append(Double(r) * 3.0.squareRoot() / 2)
            }
        }
        return xy
    }

    /// Uniform random points in [0, w) × [0, h) from a fixed seed. (N×2)
    func randomPoints(_ n: Int, seed: UInt64, width: Double = 1000, height: Double = 600) -> [Double] {
        var rng = Xoshiro256(seed: seed)
        return (0..<n).flatMap { _ in [Double.random(in: 0..<width, using: &rng), Double.random(in: 0..<height, using: &rng)] }
    }

    /// Checks the structural invariants of a partition and returns max/mean of the part weights.
    func checkedImbalance(_ p: RCBPartition, n: Int, parts: Int, weights: [Double]?,
                          file: StaticString = #filePath, line: UInt = #line) -> Double {
        XCTAssertEqual(p.owner.count, n, file: file, line: line)
        XCTAssertEqual(p.parts, parts, file: file, line: line)
        var counts = [Int](repeating: 0, count: parts)
        var w = [Double](repeating: 0, count: parts)
        for i in 0..<n {
            let o = Int(p.owner[i])
            guard o >= 0 && o < parts else { XCTFail("owner \(o) out of range", file: file, line: line); return .infinity }
            counts[o] += 1
            w[o] += weights?[i] ?? 1
        }
        XCTAssertEqual(counts, p.counts, "counts disagree with owner", file: file, line: line)
        XCTAssertTrue(counts.allSatisfy { $0 > 0 }, "an empty part: \(counts)", file: file, line: line)
        for q in 0..<parts {
            XCTAssertEqual(w[q], p.partWeights[q], accuracy: 1e-9 * Swift.max(1, w[q]), file: file, line: line)
        }
        let total = w.reduce(0, +)
        return w.max()! / (total / Double(parts))
    }

    func testBalanceOnHexLattice() throws {
        let xy = hexLattice(rows: 200, cols: 200)
        for parts in Array(1...9) + [16] {
            let p = try RCB.partition(coordinates: xy, parts: parts)
            let imbalance = checkedImbalance(p, n: 40_000, parts: parts, weights: nil)
            XCTAssertLessThanOrEqual(imbalance, 1.01, "P = \(parts): counts \(p.counts)")
        }
    }

    func testWeightedBalance() throws {
        let xy = hexLattice(rows: 200, cols: 200)
        // nnz-like weights that grow 20-fold across the slide (dense tissue on the right).
        let weights = (0..<40_000).map { i -> Double in
            let x = xy[2 * i]
            return 1 + (20 * x / 200).rounded(.down) + Double((i &* 2_654_435_761) % 7)
        }
        for parts in Array(2...9) + [16] {
            let p = try RCB.partition(coordinates: xy, parts: parts, weights: weights)
            let imbalance = checkedImbalance(p, n: 40_000, parts: parts, weights: weights)
            XCTAssertLessThanOrEqual(imbalance, 1.01, "P = \(parts): weights \(p.partWeights)")
            // The weighting matters: the point counts are far from equal.
            let countImbalance = Double(p.counts.max()!) / (40_000 / Double(parts))
            XCTAssertGreaterThan(countImbalance, 1.2, "P = \(parts): counts \(p.counts)")
        }
        // nnzWeights: 1 + nnz of each row.
        XCTAssertEqual(RCB.nnzWeights(indptr: [0, 3, 3, 10]), [4, 1, 8])
        XCTAssertEqual(RCB.nnzWeights(indptr: [0]), [])
    }

    func testDeterministic() throws {
        let xy = randomPoints(20_000, seed: 7)
        let w = (0..<20_000).map { Double(1 + $0 % 13) }
        for parts in [3, 7, 16] {
            let a = try RCB.partition(coordinates: xy, parts: parts, weights: w)
            let b = try RCB.partition(coordinates: xy, parts: parts, weights: w)
            XCTAssertEqual(a, b)
        }
        // Without ties the order of the input does not matter (unit weights sum exactly).
        let n = 5_000
        let pts = randomPoints(n, seed: 11)
        var perm = Array(0..<n)
        var rng = Xoshiro256(seed: 3)
        perm.shuffle(using: &rng)
        let shuffled = perm.flatMap { [pts[2 * $0], pts[2 * $0 + 1]] }
        let a = try RCB.partition(coordinates: pts, parts: 6)
        let b = try RCB.partition(coordinates: shuffled, parts: 6)
        for (k, i) in perm.enumerated() where a.owner[i] != b.owner[k] {
            XCTFail("point \(i) is in part \(a.owner[i]) but in part \(b.owner[k]) after shuffling (seed 3)")
            break
        }
    }

    /// Parts are separated by axis-aligned cuts: their bounding boxes have disjoint interiors.
    func testPartsAreCompactTiles() throws {
        let n = 30_000
        let xy = randomPoints(n, seed: 5)
        for parts in [2, 5, 8, 13] {
            let p = try RCB.partition(coordinates: xy, parts: parts)
            var box = [(Double, Double, Double, Double)](repeating: (.infinity, -.infinity, .infinity, -.infinity), count: parts)
            for i in 0..<n {
                let o = Int(p.owner[i])
                box[o] = (Swift.min(box[o].0, xy[2 * i]), Swift.max(box[o].1, xy[2 * i]),
                          Swift.min(box[o].2, xy[2 * i + 1]), Swift.max(box[o].3, xy[2 * i + 1]))
            }
            var area = 0.0
            for a in 0..<parts { for b in (a + 1)..<parts {
                let w = Swift.min(box[a].1, box[b].1) - Swift.max(box[a].0, box[b].0)
                let h = Swift.min(box[a].3, box[b].3) - Swift.max(box[a].2, box[b].2)
                if w > 0 && h > 0 { area += w * h }
            } }
            XCTAssertEqual(area, 0, "P = \(parts): part boxes overlap")
        }
    }

    /// Exact agreement with a plain reference that fully sorts at every level.
    func testMatchesFullSortReference() throws {
        var rng = Xoshiro256(seed: 2024)
        for trial in 0..<40 {
            let n = Int.random(in: 1...3000, using: &rng)
            let parts = Int.random(in: 1...Swift.min(n, 23), using: &rng)
            // Coarse coordinates force many ties; integer weights sum exactly in any order.
            let xy = (0..<(2 * n)).map { _ in Double(Int.random(in: 0..<40, using: &rng)) }
            let weighted = trial % 2 == 1
            let w: [Double]? = weighted ? (0..<n).map { _ in Double(Int.random(in: 1...30, using: &rng)) } : nil
            let got = try RCB.partition(coordinates: xy, parts: parts, weights: w)
            let want = referenceRCB(xy, parts: parts, weights: w ?? [Double](repeating: 1, count: n))
            if let i = (0..<n).first(where: { got.owner[$0] != want[$0] }) {
                let diff = (0..<n).filter { got.owner[$0] != want[$0] }.count
                XCTFail("trial \(trial) (seed 2024): n = \(n), P = \(parts), weighted \(weighted): \(diff) owners differ, "
                        + "first spot \(i): part \(got.owner[i]), reference \(want[i])")
            }
        }
    }

    /// The reference: the same rule (longer extent, x on ties; nearest cut, larger on half-way
    /// ties; at least one point per part) with a full sort per box.
    func referenceRCB(_ xy: [Double], parts: Int, weights: [Double]) -> [Int32] {
        var owner = [Int32](repeating: -1, count: weights.count)
        func split(_ pts: [Int], _ first: Int, _ np: Int) {
            if np == 1 { for i in pts { owner[i] = Int32(first) }; return }
            let xs = pts.map { xy[2 * $0] }, ys = pts.map { xy[2 * $0 + 1] }
            let axis = (xs.max()! - xs.min()!) >= (ys.max()! - ys.min()!) ? 0 : 1
            let sorted = pts.sorted { (xy[2 * $0 + axis], $0) < (xy[2 * $1 + axis], $1) }
            let nl = np / 2
            let target = pts.reduce(0.0) { $0 + weights[$1] } * Double(nl) / Double(np)
            var bestK = 0, bestErr = Double.infinity, acc = 0.0
            for k in 0...sorted.count {
                if k > 0 { acc += weights[sorted[k - 1]] }
                let err = abs(acc - target)
                if err <= bestErr { bestErr = err; bestK = k }   // later k wins ties
                if acc > target { break }
            }
            let k = Swift.min(Swift.max(bestK, nl), sorted.count - (np - nl))
            split(Array(sorted[..<k]), first, nl)
            split(Array(sorted[k...]), first + nl, np - nl)
        }
        split(Array(0..<weights.count), 0, parts)
        return owner
    }

    func testDegenerateInputs() throws {
        // All points at one location: split by index, perfectly balanced.
        let same = [Double](repeating: 3.5, count: 2 * 1001)
        let p = try RCB.partition(coordinates: same, parts: 7)
        XCTAssertLessThanOrEqual(checkedImbalance(p, n: 1001, parts: 7, weights: nil), 1.01)
        // Collinear points.
        let line = (0..<999).flatMap { [0.0, Double($0)] }
        let q = try RCB.partition(coordinates: line, parts: 9)
        XCTAssertEqual(q.counts, [Int](repeating: 111, count: 9))
        // One part takes everything.
        let one = try RCB.partition(coordinates: [1, 2], parts: 1)
        XCTAssertEqual(one.owner, [0])
        XCTAssertEqual(one.counts, [1])
    }

    func testAsManyPartsAsPointsWithSkewedWeights() throws {
        let n = 37
        let xy = randomPoints(n, seed: 9)
        // One huge weight pulls the cuts; every part must still get exactly one point.
        var w = [Double](repeating: 1, count: n)
        w[5] = 1e6
        let p = try RCB.partition(coordinates: xy, parts: n, weights: w)
        XCTAssertEqual(p.counts, [Int](repeating: 1, count: n))
        XCTAssertEqual(Set(p.owner).count, n)
        let q = try RCB.partition(coordinates: xy, parts: 10, weights: w)
        _ = checkedImbalance(q, n: n, parts: 10, weights: w)
    }

    func testErrors() {
        let xy = hexLattice(rows: 2, cols: 3)   // 6 spots
        XCTAssertThrowsError(try RCB.partition(coordinates: xy, parts: 7)) { e in
            XCTAssertTrue(e is InputError)
            XCTAssertTrue("\(e)".contains("more ranks than spots"), "\(e)")
            XCTAssertTrue("\(e)".contains("6 spots"), "\(e)")
        }
        XCTAssertNoThrow(try RCB.partition(coordinates: xy, parts: 6))
        XCTAssertThrowsError(try RCB.partition(coordinates: xy, parts: 0)) { XCTAssertTrue($0 is InputError) }
        XCTAssertThrowsError(try RCB.partition(coordinates: [], parts: 1)) { XCTAssertTrue($0 is InputError) }
        XCTAssertThrowsError(try RCB.partition(coordinates: [1, 2, 3], parts: 1)) { XCTAssertTrue($0 is InputError) }
        var bad = xy
        bad[5] = .nan
        XCTAssertThrowsError(try RCB.partition(coordinates: bad, parts: 2)) { e in
            XCTAssertTrue("\(e)".contains("spot 2"), "\(e)")
        }
        XCTAssertThrowsError(try RCB.partition(coordinates: xy, parts: 2, weights: [1, 1, 1])) { XCTAssertTrue($0 is InputError) }
        XCTAssertThrowsError(try RCB.partition(coordinates: xy, parts: 2, weights: [1, 1, 0, 1, 1, 1])) { e in
            XCTAssertTrue("\(e)".contains("spot 2"), "\(e)")
        }
        XCTAssertThrowsError(try RCB.partition(coordinates: xy, parts: 2, weights: [1, 1, 1, .infinity, 1, 1]))
    }
}
