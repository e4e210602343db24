import Foundation
import STComm
import STCore
import STData
@testable import STPrep
import STTestSupport
import XCTest

// MARK: - Oracles

/// Dense reference for Â and M from the kNN lists, straight from the formulas (Double).
private func denseReference(_ knn: KNNGraph, _ norm: AdjacencyNormalisation) -> (adj: [[Double]], mask: [[Double]]) {
    let n = knn.count
    var K = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
    for i in 0..<n { for j in knn.neighbours(of: i) { K[i][Int(j)] = 1 } }
    var A = K
    for i in 0..<n { for j in 0..<n { A[i][j] = min(K[i][j] + K[j][i], 1) } }
    var M = K
    for i in 0..<n { M[i][i] += 1 }
    if norm == .kipf { for i in 0..<n { A[i][i] += 1 } }
    let dinv = A.map { row -> Double in
        let d = row.reduce(0, +)
        return d > 0 ? 1 / d.squareRoot() : 0
    }
    var adj = A
    for i in 0..<n { for j in 0..<n { adj[i][j] = dinv[i] * A[i][j] * dinv[j] } }
    if norm == .tenX { for i in 0..<n { adj[i][i] += 1 } }
    return (adj, M)
}

private func assertCSR(_ m: CSRMatrix, equalsDense d: [[Double]], rows: [Int], tol: Double = 1e-6,
                       file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(m.rows, rows.count, file: file, line: line)
    for (r, i) in rows.enumerated() {
        var dense = [Double](repeating: 0, count: m.cols)
        var last: Int32 = -1
        for p in m.indptr[r]..<m.indptr[r + 1] {
            XCTAssertGreaterThan(m.indices[p], last, "row \(i) columns not strictly increasing", file: file, line: line)
            last = m.indices[p]
            dense[Int(m.indices[p])] = Double(m.values[p])
        }
        for j in 0..<m.cols {
            XCTAssertEqual(dense[j] != 0, d[i][j] != 0, "pattern at (\(i), \(j))", file: file, line: line)
            XCTAssertEqual(dense[j], d[i][j], accuracy: tol * max(1, abs(d[i][j])), "value at (\(i), \(j))", file: file, line: line)
        }
    }
}

// MARK: - An in-process multi-rank communicator (threads) for the collective kNN

private final class ThreadGroup: @unchecked Sendable {
    let size: Int
    let cond = NSCondition()
    var generation = 0, arrived = 0
    var posted: [(send: UnsafeRawBufferPointer, counts: [Int], offsets: [Int])?]
    init(size: Int) { self.size = size; posted = Array(repeating: nil, count: size) }

    func barrier() {
        cond.lock()
        let g = generation
        arrived += 1
        if arrived == size { arrived = 0; generation += 1; cond.broadcast() } else { while g == generation { cond.wait() } }
        cond.unlock()
    }
}

/// Implements the collectives these tests use (exchange, barrier) across threads sharing memory.
private final class ThreadCommunicator: Communicator {
    let group: ThreadGroup
    let rank: Int
    var size: Int { group.size }
    init(group: ThreadGroup, rank: Int) { self.group = group; self.rank = rank }

    func exchange(send: UnsafeRawBufferPointer, sendCounts: [Int], sendOffsets: [Int],
                  receive: UnsafeMutableRawBufferPointer, recvCounts: [Int], recvOffsets: [Int], elementSize: Int) {
        group.cond.lock(); group.posted[rank] = (send, sendCounts, sendOffsets); group.cond.unlock()
        group.barrier()
        for r in 0..<size {
            let src = group.posted[r]!
            precondition(src.counts[rank] == recvCounts[r], "exchange: count mismatch \(r) → \(rank)")
            let bytes = recvCounts[r] * elementSize
            if bytes > 0 {
                (receive.baseAddress! + recvOffsets[r] * elementSize)
                    .copyMemory(from: src.send.baseAddress! + src.offsets[rank] * elementSize, byteCount: bytes)
            }
        }
        group.barrier()
    }
    func barrier() { group.barrier() }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) { fatalError("not used by these tests") }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) { fatalError("not used by these tests") }
    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) { fatalError("not used by these tests") }
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) { fatalError("not used by these tests") }
    func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]] { fatalError("not used by these tests") }
    func abort(code: Int32) -> Never { fatalError("abort(\(code))") }
}

private final class ResultBox<T>: @unchecked Sendable {
    var results: [T?]
    init(_ n: Int) { results = Array(repeating: nil, count: n) }
}

/// Runs `body(rank, communicator)` on `size` threads and returns the results in rank order.
private func runRanks<T>(_ size: Int, _ body: @escaping @Sendable (Int, Communicator) -> T) -> [T] {
    let group = ThreadGroup(size: size)
    let box = ResultBox<T>(size)
    let done = DispatchGroup()
    let lock = NSLock()
    for r in 0..<size {
        done.enter()
        let t = Thread {
            let v = body(r, ThreadCommunicator(group: group, rank: r))
            lock.lock(); box.results[r] = v; lock.unlock()
            done.leave()
        }
        t.start()
    }
    done.wait()
    return box.results.map { $0! }
}

// MARK: - Tests

final class SpatialGraphTests: XCTestCase {
    func testNormalisationsAndMaskMatchDenseFormulas() throws {
        for (c, label) in [(randomPoints(150, seed: 2), "random"), (hexLattice(rows: 10, cols: 12), "hex")] {
            let knn = try KNNGraph(coordinates: c, k: 3)
            for norm in AdjacencyNormalisation.allCases {
                let g = SpatialGraph(knn: knn, normalisation: norm)
                let ref = denseReference(knn, norm)
                let all = Array(0..<knn.count)
                assertCSR(g.adjacency, equalsDense: ref.adj, rows: all)
                assertCSR(g.mask, equalsDense: ref.mask, rows: all, tol: 0)
                // Â symmetric (same pattern and bitwise the same values), M has k + 1 ones per row.
                XCTAssertEqual(g.adjacency.transposed(), g.adjacency, "\(label) \(norm)")
                for i in 0..<knn.count { XCTAssertEqual(g.mask.indptr[i + 1] - g.mask.indptr[i], 4) }
            }
            // Degrees of A.
            let deg = knn.symmetricDegrees()
            let ref = denseReference(knn, .tenX).adj
            for i in 0..<knn.count {
                XCTAssertEqual(Int(deg[i]), ref[i].enumerated().filter { $0.offset != i && $0.element != 0 }.count)
            }
        }
    }

    func testEdgeListGraphWithIsolatedAndShortRows() throws {
        // Irregular rows (as in GraphST's osmFISH fixture): 0 → {1, 2}, 2 → {1}, 3 → {} , 4 isolated.
        let knn = try KNNGraph(count: 5, rows: [0, 2, 0, 0], cols: [2, 1, 1, 2])
        XCTAssertEqual(knn.offsets, [0, 2, 2, 3, 3, 3])
        XCTAssertEqual(knn.targets, [1, 2, 1])
        XCTAssertEqual(knn.symmetricDegrees(), [2, 2, 2, 0, 0])
        XCTAssertEqual(knn.sortedEdges().rows, [0, 0, 2])
        for norm in AdjacencyNormalisation.allCases {
            let g = SpatialGraph(knn: knn, normalisation: norm)
            let ref = denseReference(knn, norm)
            assertCSR(g.adjacency, equalsDense: ref.adj, rows: Array(0..<5))
            assertCSR(g.mask, equalsDense: ref.mask, rows: Array(0..<5), tol: 0)
        }
        XCTAssertThrowsError(try KNNGraph(count: 3, rows: [0], cols: [3]))
        XCTAssertThrowsError(try KNNGraph(count: 3, rows: [1], cols: [1])) { e in
            XCTAssertTrue("\(e)".contains("self-loop"), "\(e)")
        }
    }

    func testOwnedRowsEqualWholeSlideRows() throws {
        let c = hexLattice(rows: 20, cols: 25)
        let knn = try KNNGraph(coordinates: c, k: 3)
        for norm in AdjacencyNormalisation.allCases {
            let whole = SpatialGraph(knn: knn, normalisation: norm)
            var rng = Xoshiro256(seed: 4)
            var owned = Array(0..<knn.count).filter { _ in rng.nextDouble() < 0.25 }
            owned.shuffle(using: &rng)
            let part = SpatialGraph(knn: knn, rows: owned, normalisation: norm)
            XCTAssertEqual(part.rows, owned)
            XCTAssertEqual(part.adjacency.cols, knn.count)
            XCTAssertEqual(part.adjacency, whole.adjacency.selectingRows(owned))
            XCTAssertEqual(part.mask, whole.mask.selectingRows(owned))
        }
    }

    func testCollectiveKNNOnThreeRanks() throws {
        let c = hexLattice(rows: 23, cols: 31) + randomPoints(200, seed: 8, scale: 2000)
        let single = try KNNGraph(coordinates: c, k: 3)
        XCTAssertEqual(try KNNGraph(coordinates: c, k: 3, communicator: SingleProcessCommunicator()), single)
        for ranks in [2, 3, 5] {
            let graphs = runRanks(ranks) { _, comm in try! KNNGraph(coordinates: c, k: 3, communicator: comm) }
            for (r, g) in graphs.enumerated() { XCTAssertEqual(g, single, "rank \(r) of \(ranks)") }
        }
        // Owned rows per rank (round-robin) reassemble the whole slide.
        let whole = SpatialGraph(knn: single, normalisation: .tenX)
        let pieces = runRanks(3) { r, comm -> SpatialGraph in
            let knn = try! KNNGraph(coordinates: c, k: 3, communicator: comm)
            return SpatialGraph(knn: knn, rows: Array(stride(from: r, to: knn.count, by: 3)), normalisation: .tenX)
        }
        for p in pieces { XCTAssertEqual(p.adjacency, whole.adjacency.selectingRows(p.rows)) }
    }

    func testCoordinateValidation() {
        var c = randomPoints(10, seed: 1)
        XCTAssertNoThrow(try SpatialGraph.validateCoordinates(c))
        c[7] = .nan
        XCTAssertThrowsError(try SpatialGraph.validateCoordinates(c, file: "slide.h5ad", spotNames: (0..<10).map { "s\($0)" })) { e in
            guard let e = e as? InputError else { return XCTFail("\(e)") }
            XCTAssertEqual(e.field, "obsm/spatial")
            XCTAssertEqual(e.file, "slide.h5ad")
            XCTAssertTrue(e.message.contains("spot 3 ('s3')") && e.message.contains("non-finite"), e.description)
        }
        c[7] = 1; c[12] = -.infinity
        XCTAssertThrowsError(try SpatialGraph(coordinates: c, normalisation: .tenX)) { e in
            XCTAssertTrue("\(e)".contains("field 'obsm/spatial'") && "\(e)".contains("spot 6 "), "\(e)")
        }
        XCTAssertThrowsError(try KNNGraph(coordinates: [0, 0, 1, 1, 2, 2], k: 3)) { e in
            XCTAssertTrue("\(e)".contains("at least 4 spots; got 3"), "\(e)")
        }
        XCTAssertNoThrow(try KNNGraph(coordinates: [0, 0, 1, 1, 2, 2, 3, 3], k: 3))
        XCTAssertThrowsError(try SpatialGraph.validateCoordinates([0, 0, 1]))
        XCTAssertThrowsError(try SpatialGraph.validateCoordinates(c, k: 0))
        // Every spot at one place: refused, naming the place; one spot elsewhere is a slide.
        var same = [Double](repeating: 0, count: 20)
        for i in 0..<10 { same[2 * i] = 7.5; same[2 * i + 1] = -2 }
        XCTAssertThrowsError(try SpatialGraph.validateCoordinates(same, file: "zero.h5ad")) { e in
            XCTAssertEqual("\(e)", "zero.h5ad: field 'obsm/spatial': all 10 spots are at the same place (7.5, -2.0); the spatial graph needs the spots' positions")
        }
        same[19] = -1.999
        XCTAssertNoThrow(try SpatialGraph.validateCoordinates(same))
    }

    // MARK: Reference fixtures (GraphST 1.1.1)

    private static let fixtures: [(file: String, norm: AdjacencyNormalisation)] = [
        ("reference/model_starmap_mpfc_bz5_10x.h5", .tenX),
        ("reference/model_osmfish_kipf.h5", .kipf),
        ("reference/model_dlpfc151676_10x.h5", .tenX),
    ]

    /// The small fixtures committed in Tests/reference (GraphST on the 300-spot synthetic lattice).
    private static let smallFixtures: [(file: String, norm: AdjacencyNormalisation)] = [
        (SmallFixtures.model10x, .tenX),
        (SmallFixtures.modelKipf, .kipf),
    ]

    func testAdjacencyAndMaskFromSmallFixtureKNNMatchGraphST() throws {
        for (name, norm) in Self.smallFixtures { try checkAdjacencyAndMask(try SmallFixtures.path(name), norm) }
    }

    func testAdjacencyAndMaskFromFixtureKNNMatchGraphST() throws {
        for (name, norm) in Self.fixtures { try checkAdjacencyAndMask(try SharedData.path(name), norm) }
    }

    func testOwnKNNMatchesSmallFixtureUpToTies() throws {
        for (name, _) in Self.smallFixtures { try checkOwnKNN(try SmallFixtures.path(name)) }
    }

    func testOwnKNNMatchesFixtureUpToTies() throws {
        for (name, _) in Self.fixtures { try checkOwnKNN(try SharedData.path(name)) }
    }

    /// Our Â and M from the fixture's own kNN edges equal GraphST's adj (float32) and mask (exactly).
    func checkAdjacencyAndMask(_ name: String, _ norm: AdjacencyNormalisation) throws {
        let h = try HDF5File(path: name)
        let n = try h.shape("spatial")[0]
        let knn = try KNNGraph(count: n, rows: try h.read("graph/knn_row", as: Int64.self).map(Int.init),
                               cols: try h.read("graph/knn_col", as: Int64.self).map(Int.init))
        let g = SpatialGraph(knn: knn, normalisation: norm)

        let aRow = try h.read("graph/adj_row", as: Int64.self), aCol = try h.read("graph/adj_col", as: Int64.self)
        let aVal = try h.read("graph/adj_val", as: Float.self)
        XCTAssertEqual(g.adjacency.nnz, aVal.count, name)
        var exact = 0, maxRel = 0.0
        var e = 0
        for i in 0..<n {
            for p in g.adjacency.indptr[i]..<g.adjacency.indptr[i + 1] where e < aVal.count {
                XCTAssertEqual(Int64(i), aRow[e]); XCTAssertEqual(Int64(g.adjacency.indices[p]), aCol[e])
                let ours = g.adjacency.values[p], theirs = aVal[e]
                if ours == theirs { exact += 1 }
                maxRel = max(maxRel, Double(abs(ours - theirs)) / Double(abs(theirs)))
                e += 1
            }
        }
        XCTAssertLessThanOrEqual(maxRel, 2e-7, name)   // ≤ 1 float32 ulp

        let mRow = try h.read("graph/mask_row", as: Int64.self), mCol = try h.read("graph/mask_col", as: Int64.self)
        var ourRows = [Int64](), ourCols = [Int64]()
        for i in 0..<n { for p in g.mask.indptr[i]..<g.mask.indptr[i + 1] { ourRows.append(Int64(i)); ourCols.append(Int64(g.mask.indices[p])) } }
        XCTAssertEqual(ourRows, mRow, name); XCTAssertEqual(ourCols, mCol, name)
        print("fixture \(name) [\(norm)]: Â nnz \(aVal.count), \(exact) values bitwise equal, max relative difference \(maxRel); M nnz \(mRow.count) equal")
    }

    /// Our kNN from `spatial` equals GraphST's except where GraphST broke a tie differently.
    ///
    /// Ties are equal distances up to floating-point rounding of the coordinates (relative 1e-9 of
    /// the squared distance): GraphST's 10x path ranks `ot.dist` values, whose rounding decides
    /// among a Visium spot's six lattice neighbours. GraphST's kNN path (osmFISH) uses scikit-learn
    /// and assigns query i's neighbours to the row of its *first* hit; for a spot with a coordinate
    /// twin that first hit may be the twin, so one spot of each duplicated pair has no outgoing
    /// edges in the fixture. Those rows are counted separately.
    func checkOwnKNN(_ name: String) throws {
        let h = try HDF5File(path: name)
        let c = try h.read("spatial", as: Double.self)
        let n = c.count / 2
        let k = 3
        let ours = try KNNGraph(coordinates: c, k: k)
        let theirs = try KNNGraph(count: n, rows: try h.read("graph/knn_row", as: Int64.self).map(Int.init),
                                  cols: try h.read("graph/knn_col", as: Int64.self).map(Int.init))
        let tree = KDTree(coordinates: c)
        let (_, d2) = tree.nearestNeighbours(of: Array(0..<n), k: k, withDistances: true)
        func dist2(_ i: Int, _ j: Int) -> Double {
            let dx = c[2 * j] - c[2 * i], dy = c[2 * j + 1] - c[2 * i + 1]
            return dx * dx + dy * dy
        }
        var mismatchedRows = 0, exactTieRows = 0, roundingTieRows = 0, twinRows = 0, other = 0
        for i in 0..<n {
            let a = Set(ours.neighbours(of: i)), b = Set(theirs.neighbours(of: i))
            if a == b { continue }
            mismatchedRows += 1
            let kth = d2[i * k + k - 1]
            // Every fixture neighbour is a valid candidate: no farther than our k-th.
            for j in b { XCTAssertLessThanOrEqual(dist2(i, Int(j)), kth * (1 + 1e-9), "\(name) row \(i)") }
            if b.count < k {
                // GraphST's first-hit quirk: the spot must have a twin at distance 0.
                XCTAssertEqual(d2[i * k], 0, "\(name): short row \(i) without a duplicate")
                twinRows += 1
                continue
            }
            let diff = a.symmetricDifference(b).map { dist2(i, Int($0)) }
            if diff.allSatisfy({ $0 == kth }) {
                exactTieRows += 1
            } else if diff.allSatisfy({ abs($0 - kth) <= 1e-9 * kth }) {
                roundingTieRows += 1
            } else {
                other += 1
            }
        }
        XCTAssertEqual(other, 0, "\(name): rows differing by more than a tie")
        print("fixture \(name): N \(n), kNN rows differing from GraphST \(mismatchedRows): exact ties \(exactTieRows), ties up to rounding \(roundingTieRows), duplicate-coordinate rows \(twinRows), other \(other)")
    }
}
