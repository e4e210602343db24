import STCore
@testable import STPrep
import XCTest

/// Brute-force oracle: the k nearest other points of point q (or of the location (x, y) when
/// q < 0), ranked as `KDTree` documents: coordinates centred on the bounding box's centre, squared
/// distances tied when |a − b| ≤ τ·√max(a, b) with τ = 32·ε·max |coordinate|, ties by lower index.
/// O(N·k): k selection passes over all squared distances (written out here, not shared with the tree).
func bruteForceNeighbours(_ c: [Double], of q: Int, k: Int, x: Double? = nil, y: Double? = nil)
    -> (ids: [Int32], d2: [Double]) {
    let n = c.count / 2
    let xsRaw = stride(from: 0, to: c.count, by: 2).map { c[$0] }, ysRaw = stride(from: 1, to: c.count, by: 2).map { c[$0] }
    let cx = xsRaw.min()! / 2 + xsRaw.max()! / 2, cy = ysRaw.min()! / 2 + ysRaw.max()! / 2
    let tau = 32 * Double.ulpOfOne * c.map { abs($0) }.max()!
    let qx = (x ?? c[2 * q]) - cx, qy = (y ?? c[2 * q + 1]) - cy
    var d = [Double](repeating: .infinity, count: n)
    for j in 0..<n where j != q {
        let dx = (c[2 * j] - cx) - qx, dy = (c[2 * j + 1] - cy) - qy
        d[j] = dx * dx + dy * dy
    }
    func before(_ a: Int, _ b: Int) -> Bool {
        if abs(d[a] - d[b]) <= tau * max(d[a], d[b]).squareRoot() { return a < b }
        return d[a] < d[b]
    }
    var taken = Set<Int>()
    var ids = [Int32](), d2 = [Double]()
    for _ in 0..<k {
        var best = -1
        for j in 0..<n where j != q && !taken.contains(j) && (best < 0 || before(j, best)) { best = j }
        taken.insert(best)
        ids.append(Int32(best)); d2.append(d[best])
    }
    return (ids, d2)
}

/// A Visium-like hexagonal lattice (spacing `spacing`, odd rows offset by half a spacing), in row
/// order: every interior point has six (nearly, in floating point) equidistant neighbours.
func hexLattice(rows: Int, cols: Int, spacing: Double = 100) -> [Double] {
    var c = [Double]()
    for r in 0..<rows {
        for q in 0..<cols {
            c.append((Double(q) + (r % 2 == 1 ? 0.5 : 0)) * spacing)
            c.append(Double(r) * spacing * 3.0.squareRoot() / 2)
        }
    }
    return c
}

func randomPoints(_ n: Int, seed: UInt64, scale: Double = 1000) -> [Double] {
    var rng = Xoshiro256(seed: seed, stream: 99)
    return (0..<(2 * n)).map { _ in rng.nextDouble() * scale }
}

final class KDTreeTests: XCTestCase {
    /// Asserts that the tree's all-points and subset queries equal brute force exactly.
    private func assertMatchesBruteForce(_ c: [Double], k: Int, leafSizes: [Int] = [8],
                                         file: StaticString = #filePath, line: UInt = #line) {
        let n = c.count / 2
        let want = (0..<n).map { bruteForceNeighbours(c, of: $0, k: k) }
        for leafSize in leafSizes {
            let tree = KDTree(coordinates: c, leafSize: leafSize)
            let all = tree.nearestNeighbours(k: k)
            XCTAssertEqual(all.count, n * k, file: file, line: line)
            var mismatches = 0
            for i in 0..<n where Array(all[(i * k)..<((i + 1) * k)]) != want[i].ids { mismatches += 1 }
            XCTAssertEqual(mismatches, 0, "rows differing from brute force (k = \(k), N = \(n), leaf \(leafSize))",
                           file: file, line: line)

            // A shuffled subset, with distances: same rows as brute force.
            var rng = Xoshiro256(seed: 7, stream: UInt64(n))
            var subset = Array(0..<n).filter { _ in rng.nextDouble() < 0.3 }
            subset.shuffle(using: &rng)
            let (sub, d2) = tree.nearestNeighbours(of: subset, k: k, withDistances: true)
            mismatches = 0
            for (r, i) in subset.enumerated()
            where Array(sub[(r * k)..<((r + 1) * k)]) != want[i].ids || Array(d2[(r * k)..<((r + 1) * k)]) != want[i].d2 {
                mismatches += 1
            }
            XCTAssertEqual(mismatches, 0, "subset rows differing from brute force (leaf \(leafSize))", file: file, line: line)
        }
    }

    func testRandomPointsMatchBruteForce() {
        let c = randomPoints(2000, seed: 1)
        assertMatchesBruteForce(c, k: 1)
        assertMatchesBruteForce(c, k: 3, leafSizes: [1, 8, 64])
        assertMatchesBruteForce(c, k: 10)
    }

    func testClusteredAndAnisotropicPoints() {
        // Two dense clusters and a thin strip: unequal splits along both axes.
        var rng = Xoshiro256(seed: 3)
        var c = [Double]()
        for _ in 0..<800 { c.append(rng.nextDouble()); c.append(rng.nextDouble()) }
        for _ in 0..<800 { c.append(500 + rng.nextDouble() * 5); c.append(-200 + rng.nextDouble()) }
        for _ in 0..<400 { c.append(rng.nextDouble() * 1e4); c.append(3) }
        assertMatchesBruteForce(c, k: 3)
        assertMatchesBruteForce(c, k: 7)
    }

    func testHexagonalLatticeTies() {
        // Six near-equidistant neighbours per spot (Visium), and points in sorted row order.
        let hex = hexLattice(rows: 40, cols: 45)
        for k in [3, 6, 7] { assertMatchesBruteForce(hex, k: k) }
        // Integer square lattice: four exactly equidistant neighbours; ties must go to lower index.
        var sq = [Double]()
        for r in 0..<40 { for q in 0..<40 { sq.append(Double(q)); sq.append(Double(r)) } }
        assertMatchesBruteForce(sq, k: 3)
        let tree = KDTree(coordinates: sq)
        let nn = tree.nearestNeighbours(k: 3)
        // Interior point (5, 5) = index 205: neighbours 165 (below), 204 (left), 206 (right); 245 loses the tie.
        XCTAssertEqual(Array(nn[(205 * 3)..<(206 * 3)]), [165, 204, 206])
    }

    func testDuplicateCoordinates() {
        // Every point appears 1–4 times, plus 30 copies of one location (more than a leaf holds).
        var rng = Xoshiro256(seed: 11)
        var c = [Double]()
        for _ in 0..<500 {
            let x = (rng.nextDouble() * 100).rounded(), y = (rng.nextDouble() * 100).rounded()
            for _ in 0...Int(rng.below(4)) { c.append(x); c.append(y) }
        }
        for _ in 0..<30 { c.append(42.5); c.append(17.25) }
        assertMatchesBruteForce(c, k: 3)
        assertMatchesBruteForce(c, k: 5)

        // Duplicates are other points at distance 0, ranked first by index; self is never returned.
        let d = [0.0, 0, 5, 5, 5, 5, 1, 0, 5, 5, 9, 9]   // points 1, 2, 4 coincide at (5, 5)
        let tree = KDTree(coordinates: d)
        let nn = tree.nearestNeighbours(k: 2)
        XCTAssertEqual(Array(nn[2..<4]), [2, 4])
        XCTAssertEqual(Array(nn[4..<6]), [1, 4])
        XCTAssertEqual(Array(nn[8..<10]), [1, 2])
        // All points identical.
        let same = [Double](repeating: 3, count: 40)
        XCTAssertEqual(Array(KDTree(coordinates: same).nearestNeighbours(k: 3)[0..<6]), [1, 2, 3, 0, 2, 3])
    }

    func testLargeCoincidentGroupsStayCheap() {
        // 40 000 spots at one location (e.g. coordinates missing and written as 0) among 2 000 others,
        // and a second group straddling a split: the query must stay O(k) per coincident leaf.
        var rng = Xoshiro256(seed: 21)
        var c = [Double]()
        for i in 0..<42_000 {
            if i % 21 == 0 { c.append(rng.nextDouble() * 10); c.append(rng.nextDouble() * 10) }
            else if i % 3 == 0 { c.append(5); c.append(5) } else { c.append(0); c.append(0) }
        }
        let tree = KDTree(coordinates: c)
        let all = tree.nearestNeighbours(k: 3)
        for i in stride(from: 0, to: 42_000, by: 997) {
            XCTAssertEqual(Array(all[(3 * i)..<(3 * i + 3)]), bruteForceNeighbours(c, of: i, k: 3).ids, "point \(i)")
        }
        XCTAssertEqual(Array(all[3..<6]), [2, 4, 5])   // lowest-index twins of point 1 at (0, 0)
        XCTAssertEqual(tree.nearestPoints(x: 5, y: 5, k: 2), [3, 6])
    }

    func testSmallAndQueryLocation() {
        let two = [0.0, 0, 1, 1]
        XCTAssertEqual(KDTree(coordinates: two).nearestNeighbours(k: 1), [1, 0])
        let c = randomPoints(1000, seed: 5)
        let tree = KDTree(coordinates: c)
        var rng = Xoshiro256(seed: 9)
        for _ in 0..<200 {
            let x = rng.nextDouble() * 1200 - 100, y = rng.nextDouble() * 1200 - 100
            XCTAssertEqual(tree.nearestPoints(x: x, y: y, k: 4), bruteForceNeighbours(c, of: -1, k: 4, x: x, y: y).ids)
        }
        // A location on a point returns that point first (it is not excluded).
        XCTAssertEqual(tree.nearestPoints(x: c[20], y: c[21], k: 1), [10])
        XCTAssertEqual(tree.nearestPoints(x: 0, y: 0, k: 1000).count, 1000)
    }

    func testSubsetQueriesAgreeWithAllQueries() {
        let c = hexLattice(rows: 30, cols: 30)
        let tree = KDTree(coordinates: c)
        let all = tree.nearestNeighbours(k: 3)
        let owned = [899, 0, 450, 451, 17, 300]
        let sub = tree.nearestNeighbours(of: owned, k: 3).neighbours
        for (r, i) in owned.enumerated() {
            XCTAssertEqual(Array(sub[(3 * r)..<(3 * r + 3)]), Array(all[(3 * i)..<(3 * i + 3)]))
        }
        XCTAssertEqual(tree.nearestNeighbours(of: [], k: 3).neighbours, [])
    }

    /// The neighbour lists do not depend on where the slide sits or on its units: a 300-spot
    /// hexagonal lattice (exact ties between a spot's six neighbours, broken by index) gives the
    /// same 3-NN (and 6-NN) lists shifted by −10⁶, by +123 456.789 in x and −10⁶ in y, scaled by
    /// 10³ and 10⁻³, and scaled then shifted. Without centring and the tie tolerance, rounding of the
    /// shifted coordinates decided ~220 of the 300 lists.
    func testHexLatticeNeighboursInvariantUnderShiftAndScale() {
        let hex = hexLattice(rows: 15, cols: 20, spacing: 1)
        XCTAssertEqual(hex.count, 600)
        let transforms: [(String, (Double, Bool) -> Double)] = [
            ("shift -1e6", { v, _ in v - 1e6 }),
            ("shift +123456.789 / -1e6", { v, isX in isX ? v + 123_456.789 : v - 1e6 }),
            ("scale 1e3", { v, _ in v * 1e3 }),
            ("scale 1e-3", { v, _ in v * 1e-3 }),
            ("scale 137.5 then shift 5e5", { v, _ in v * 137.5 + 5e5 }),
        ]
        for k in [3, 6] {
            let base = KDTree(coordinates: hex).nearestNeighbours(k: k)
            // The base lists are the lattice's: an interior spot's k nearest are at distance 1
            // (k ≤ 6), the lowest indices of its six neighbours.
            assertMatchesBruteForce(hex, k: k)
            for r in 1..<14 {
                for q in 1..<19 {
                    let i = r * 20 + q
                    let list = Array(base[(i * k)..<((i + 1) * k)])
                    XCTAssertEqual(list, list.sorted(), "spot \(i): equidistant neighbours in index order")
                    for j in list {
                        let dx = hex[2 * Int(j)] - hex[2 * i], dy = hex[2 * Int(j) + 1] - hex[2 * i + 1]
                        XCTAssertEqual((dx * dx + dy * dy).squareRoot(), 1, accuracy: 1e-12, "spot \(i) → \(j)")
                    }
                }
            }
            for (name, f) in transforms {
                let moved = hex.enumerated().map { f($1, $0 % 2 == 0) }
                let lists = KDTree(coordinates: moved).nearestNeighbours(k: k)
                let differing = (0..<300).filter { lists[($0 * k)..<(($0 + 1) * k)] != base[($0 * k)..<(($0 + 1) * k)] }
                XCTAssertEqual(differing.count, 0, "\(name), k = \(k): lists of spots \(differing.prefix(10)) changed")
                assertMatchesBruteForce(moved, k: k)
            }
            // Units far from 1, where squared distances would under- or overflow (a brute force in
            // those units cannot serve as the oracle; the lattice's own lists do).
            for (name, factor) in [("1e-300", 1e-300), ("1e300", 1e300), ("1e-160", 1e-160)] {
                let moved = hex.map { $0 * factor }
                let lists = KDTree(coordinates: moved).nearestNeighbours(k: k)
                let differing = (0..<300).filter { lists[($0 * k)..<(($0 + 1) * k)] != base[($0 * k)..<(($0 + 1) * k)] }
                XCTAssertEqual(differing.count, 0, "scale \(name), k = \(k): lists of spots \(differing.prefix(10)) changed")
            }
        }
    }

    /// The scale brings any positive finite extent, subnormal ones included, into [1, 2) exactly.
    func testScaleFactorsNormaliseEveryExtent() {
        for extent in [0x1p-1074, 3 * 0x1p-1074, 1e-300, 0.1, 1, 1.5, 1000, 1e300, Double.greatestFiniteMagnitude] {
            let (a, b) = KDTree.scaleFactors(extent: extent)
            XCTAssertTrue(a.isNormal && b.isNormal, "\(extent)")
            let scaled = extent * a * b
            XCTAssertTrue(scaled >= 1 && scaled < 2, "\(extent) → \(scaled)")
            XCTAssertEqual(scaled.significand, extent.significand, "exact: \(extent)")
        }
        XCTAssertTrue(KDTree.scaleFactors(extent: 0) == (1, 1))
        // A square grid in units of 2⁻¹⁰⁷⁰ (subnormal, but exact: small multiples of 2⁻¹⁰⁷⁴) keeps
        // the grid's lists: each interior spot's 4 nearest are its 4 grid neighbours.
        let grid = (0..<100).flatMap { i in [Double(i % 10), Double(i / 10)] }
        let base = KDTree(coordinates: grid).nearestNeighbours(k: 4)
        XCTAssertEqual(KDTree(coordinates: grid.map { $0 * 0x1p-1070 }).nearestNeighbours(k: 4), base)
        XCTAssertEqual(Array(base[(55 * 4)..<(56 * 4)]), [45, 54, 56, 65])
    }

    /// Squared distances come back in the input's units, also for units of 10⁻¹⁶⁰ (d² ~ 10⁻³²⁰).
    func testSquaredDistancesInInputUnits() {
        let pts: [Double] = [0, 0, 3, 4, 6, 8, 100, 0]
        for factor in [1.0, 1e-100, 1e100, 0.75] {
            let tree = KDTree(coordinates: pts.map { $0 * factor })
            let (nb, d2) = tree.nearestNeighbours(of: [0, 1], k: 2, withDistances: true)
            XCTAssertEqual(nb, [1, 2, 0, 2])
            for (got, want) in zip(d2, [25.0, 100, 25, 25]) {
                XCTAssertEqual(got, want * factor * factor, accuracy: 1e-12 * want * factor * factor, "factor \(factor)")
            }
        }
    }

    /// Distances that differ by more than the rounding of the coordinates are never tied: points
    /// 10⁻⁷ apart in distance keep their distance order, also shifted by −10⁶ (where rounding is
    /// ~10⁻¹⁰ and τ = 32·ε·10⁶ ≈ 7·10⁻⁹); a gap of 10⁻¹¹ there is a tie (index order).
    func testCloseButDistinctDistancesKeepTheirOrder() {
        // Spot 0 at the origin; spots 1 and 2 at distances 1 + 1e-7 and 1 (spot 2 has the higher
        // index but is nearer), spot 3 far away.
        let c = [0.0, 0, 1 + 1e-7, 0, 0, 1, 10, 10]
        XCTAssertEqual(Array(KDTree(coordinates: c).nearestNeighbours(k: 2)[0..<2]), [2, 1])
        // The same shifted by −10⁶: rounding there is ~10⁻¹⁰, still below the 10⁻⁹ gap.
        let shifted = c.map { $0 - 1e6 }
        XCTAssertEqual(Array(KDTree(coordinates: shifted).nearestNeighbours(k: 2)[0..<2]), [2, 1])
        let nearTie = [0.0, 0, 1 + 1e-11, 0, 0, 1, 10, 10].map { $0 - 1e6 }
        XCTAssertEqual(Array(KDTree(coordinates: nearTie).nearestNeighbours(k: 2)[0..<2]), [1, 2])
    }
}
