import STComm
import STCore

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

// MARK: - Directed kNN lists

/// The directed spatial kNN graph K (N×N, 0/1): row i lists the spots i points to.
///
/// For a graph computed from coordinates each row holds exactly k entries, i's k nearest other
/// spots, nearest first with ties broken by lower global index (see `KDTree`). A graph given as
/// an edge list (e.g. a reference fixture) may have rows of any length; its rows are sorted by
/// column. No self-loops, no repeated edges.
///
/// **Why every rank holds the global lists.** Row i of A = clip(K + Kᵀ, 1) needs i's reverse
/// neighbours {j : i ∈ kNN(j)}, and the degrees of all of i's neighbours need theirs, so a rank's
/// owned rows depend on kNN lists of spots it does not own, with no local bound on how far a
/// reverse neighbour may lie. The lists cost 4·k bytes per spot, less than the 16 bytes per spot
/// of the coordinates every rank already holds, so each rank keeps all of them:
/// `init(coordinates:k:communicator:)` computes an N/P block per rank (O(N/P · log N)) and
/// all-gathers the blocks; `SpatialGraph` then derives owned rows with O(N·k) local passes.
public struct KNNGraph: Sendable, Equatable {
    /// Number of spots N.
    public let count: Int
    /// Row pointers (N + 1): row i's targets are `targets[offsets[i]..<offsets[i+1]]`.
    public let offsets: [Int]
    /// Target spot of each directed edge (global indices, nnz(K)).
    public let targets: [Int32]

    /// A graph with exactly k targets per row.
    ///
    /// - Parameter neighbours: N×k row-major global indices (as returned by `KDTree`), each in
    ///   0..<count, never the row itself, no repeats within a row.
    public init(count: Int, k: Int, neighbours: [Int32]) {
        precondition(k >= 1 && neighbours.count == count &* k,
                     "KNNGraph: expected \(count)×\(k) neighbours, got \(neighbours.count)")
        for i in 0..<count {
            for a in 0..<k {
                let j = neighbours[i &* k &+ a]
                precondition(j >= 0 && Int(j) < count && Int(j) != i,
                             "KNNGraph: row \(i) has an invalid neighbour \(j)")
                for b in 0..<a { precondition(neighbours[i &* k &+ b] != j, "KNNGraph: row \(i) repeats \(j)") }
            }
        }
        self.count = count
        self.offsets = (0...count).map { $0 &* k }
        self.targets = neighbours
    }

    /// A graph from a directed edge list (row[e] → col[e]); edges are grouped by row, sorted by
    /// column, repeats merged.
    ///
    /// - Throws: `InputError` (field `field`) for an index outside 0..<count or a self-loop.
    public init(count: Int, rows: [Int], cols: [Int], field: String = "graph/knn") throws {
        guard rows.count == cols.count else {
            throw InputError(field: field, "has \(rows.count) edge rows but \(cols.count) edge columns")
        }
        var perRow = [Int](repeating: 0, count: count &+ 1)
        for e in 0..<rows.count {
            let i = rows[e], j = cols[e]
            guard i >= 0 && i < count && j >= 0 && j < count else {
                throw InputError(field: field, "edge \(e) (\(i) → \(j)) lies outside 0..<\(count)")
            }
            guard i != j else { throw InputError(field: field, "edge \(e) is a self-loop at spot \(i)") }
            perRow[i &+ 1] &+= 1
        }
        for i in 0..<count { perRow[i &+ 1] &+= perRow[i] }
        var next = perRow
        var t = [Int32](repeating: 0, count: rows.count)
        for e in 0..<rows.count {
            t[next[rows[e]]] = Int32(cols[e]); next[rows[e]] &+= 1
        }
        // Sort and de-duplicate each row.
        var offs = [Int](repeating: 0, count: count &+ 1)
        var w = 0
        for i in 0..<count {
            let lo = perRow[i], hi = perRow[i &+ 1]
            t[lo..<hi].sort()
            var p = lo
            while p < hi {
                let c = t[p]
                t[w] = c; w &+= 1
                p &+= 1
                while p < hi && t[p] == c { p &+= 1 }
            }
            offs[i &+ 1] = w
        }
        t.removeLast(t.count &- w)
        self.count = count
        self.offsets = offs
        self.targets = t
    }

    /// The k-nearest-other-spot graph of N×2 row-major coordinates, computed on this process.
    ///
    /// - Throws: `InputError` from `SpatialGraph.validateCoordinates` (non-finite coordinates,
    ///   fewer than k + 1 spots).
    public init(coordinates: [Double], k: Int = 3, file: String? = nil, spotNames: [String]? = nil) throws {
        try SpatialGraph.validateCoordinates(coordinates, k: k, file: file, spotNames: spotNames)
        let n = coordinates.count / 2
        let tree = KDTree(coordinates: coordinates)
        self.init(validated: n, k: k, neighbours: tree.nearestNeighbours(k: k))
    }

    /// The k-nearest-other-spot graph, computed cooperatively: rank r queries the contiguous block
    /// of spots [r·N/P, (r+1)·N/P) against a tree on all coordinates, then the blocks are
    /// all-gathered, so every rank returns the same global graph (equal to the one-process result,
    /// since the neighbour order is a pure function of the coordinates).
    ///
    /// Collective: every rank must call it with the same coordinates and k.
    public init(coordinates: [Double], k: Int = 3, communicator: Communicator,
                file: String? = nil, spotNames: [String]? = nil) throws {
        try SpatialGraph.validateCoordinates(coordinates, k: k, file: file, spotNames: spotNames)
        let n = coordinates.count / 2
        let p = communicator.size, r = communicator.rank
        let start = { (q: Int) -> Int in q &* n / p }
        let tree = KDTree(coordinates: coordinates)
        let mine = tree.nearestNeighbours(of: Array(start(r)..<start(r &+ 1)), k: k).neighbours
        // The blocks are consecutive in rank order: their concatenation is the N·k list.
        let all = Array(communicator.allgatherv(mine).joined())
        precondition(all.count == n &* k, "KNNGraph: the ranks' blocks hold \(all.count) neighbours, expected \(n &* k)")
        self.init(validated: n, k: k, neighbours: all)
    }

    /// Trusted k-regular construction (neighbours come from `KDTree`).
    private init(validated count: Int, k: Int, neighbours: [Int32]) {
        self.count = count
        self.offsets = (0...count).map { $0 &* k }
        self.targets = neighbours
    }

    /// Number of directed edges nnz(K).
    public var edgeCount: Int { targets.count }

    /// Spot i's targets (nearest first for computed graphs).
    public func neighbours(of i: Int) -> ArraySlice<Int32> { targets[offsets[i]..<offsets[i &+ 1]] }

    /// The directed edges as (row, column) lists sorted by row then column (COO of K).
    public func sortedEdges() -> (rows: [Int], cols: [Int]) {
        var rows = [Int](), cols = [Int]()
        rows.reserveCapacity(edgeCount); cols.reserveCapacity(edgeCount)
        for i in 0..<count {
            for j in neighbours(of: i).sorted() { rows.append(i); cols.append(Int(j)) }
        }
        return (rows, cols)
    }

    /// Degrees of A = clip(K + Kᵀ, 1) (N): |out(i) ∪ in(i)| = outdeg + indeg − #mutual edges.
    /// O(nnz(K) · max row length).
    public func symmetricDegrees() -> [Int32] {
        var deg = [Int32](repeating: 0, count: count)
        offsets.withUnsafeBufferPointer { ob in
            targets.withUnsafeBufferPointer { tb in
                deg.withUnsafeMutableBufferPointer { db in
                    for i in 0..<count {
                        let lo = ob[i], hi = ob[i &+ 1]
                        db[i] &+= Int32(truncatingIfNeeded: hi &- lo)
                        for p in lo..<hi {
                            let j = Int(tb[p])
                            // j gains in-neighbour i unless j → i already counts it.
                            var mutual = false
                            for q in ob[j]..<ob[j &+ 1] where Int(tb[q]) == i { mutual = true; break }
                            if !mutual { db[j] &+= 1 }
                        }
                    }
                }
            }
        }
        return deg
    }
}

// MARK: - Normalised adjacency and readout mask

/// The two adjacency normalisations of GraphST.
public enum AdjacencyNormalisation: String, Sendable, CaseIterable, CustomStringConvertible {
    /// Â = D^-1/2 A D^-1/2 + I, D = rowsum(A) (GraphST's default for 10x Visium). A spot of
    /// degree 0 gets D^-1/2 = 0, i.e. only its diagonal 1.
    case tenX = "10x"
    /// Â = D̃^-1/2 (A + I) D̃^-1/2, D̃ = rowsum(A + I) (Kipf & Welling; GraphST's sparse path).
    case kipf = "kipf"

    public var description: String { rawValue }
}

/// Rows of the normalised adjacency Â and readout mask M = K + I of the spatial graph, for a list
/// of global rows (a rank's owned spots, or all of them), in global column indices.
///
/// A = clip(K + Kᵀ, 1) is the symmetric 0/1 spot graph; Â is A normalised (see
/// `AdjacencyNormalisation`), symmetric with a full diagonal; M = K + I is directed (k + 1 ones per
/// row for a computed kNN graph) and its pattern lies inside Â's. Values are computed in `Double`
/// ((Â)_ij = d_i^-1/2 · d_j^-1/2 off the diagonal) and stored as `Float`. Columns are sorted within
/// each row. A partitioning layer maps the global columns to local ones.
public struct SpatialGraph: Sendable {
    /// The global row of each row of `adjacency` and `mask` (R).
    public let rows: [Int]
    /// Â restricted to `rows` (R × N), global columns.
    public let adjacency: CSRMatrix
    /// M = K + I restricted to `rows` (R × N), global columns, values 1.
    public let mask: CSRMatrix
    /// The normalisation `adjacency` was built with.
    public let normalisation: AdjacencyNormalisation

    /// The rows `rows` (distinct global indices, any order) of Â and M, from the global kNN lists.
    ///
    /// Cost: O(nnz(K) · k) for the degrees plus one O(nnz(K)) pass for the reverse edges of the
    /// requested rows, O(N) memory; no communication.
    public init(knn: KNNGraph, rows: [Int], normalisation: AdjacencyNormalisation) {
        let n = knn.count
        let m = rows.count
        let deg = knn.symmetricDegrees()
        // d^-1/2 per spot: of A (10x; 0 for isolated spots) or of A + I (kipf).
        var dinv = [Double](repeating: 0, count: n)
        for i in 0..<n {
            let d = normalisation == .kipf ? Double(deg[i]) + 1 : Double(deg[i])
            dinv[i] = d > 0 ? 1 / d.squareRoot() : 0
        }
        var localOf = [Int32](repeating: -1, count: n)
        for (l, g) in rows.enumerated() {
            precondition(g >= 0 && g < n, "SpatialGraph: row \(g) outside 0..<\(n)")
            precondition(localOf[g] < 0, "SpatialGraph: row \(g) requested twice")
            localOf[g] = Int32(truncatingIfNeeded: l)
        }
        // Reverse edges of the requested rows: revTargets[revOffsets[l]..<…] = {j : rows[l] ∈ out(j)}.
        var revOffsets = [Int](repeating: 0, count: m &+ 1)
        var revTargets = [Int32]()
        knn.offsets.withUnsafeBufferPointer { ob in
            knn.targets.withUnsafeBufferPointer { tb in
                localOf.withUnsafeBufferPointer { lb in
                    for p in 0..<tb.count {
                        let l = lb[Int(tb[p])]
                        if l >= 0 { revOffsets[Int(l) &+ 1] &+= 1 }
                    }
                    for l in 0..<m { revOffsets[l &+ 1] &+= revOffsets[l] }
                    var next = revOffsets
                    revTargets = [Int32](repeating: 0, count: revOffsets[m])
                    for j in 0..<n {
                        for p in ob[j]..<ob[j &+ 1] {
                            let l = Int(lb[Int(tb[p])])
                            if l >= 0 { revTargets[next[l]] = Int32(truncatingIfNeeded: j); next[l] &+= 1 }
                        }
                    }
                }
            }
        }

        // Upper bounds: row l of A ∪ I has at most |out| + |in| + 1 entries, row l of M |out| + 1.
        var aCap = 0, mCap = 0, widest = 1
        for (l, i) in rows.enumerated() {
            let outDeg = knn.offsets[i &+ 1] &- knn.offsets[i]
            let w = outDeg &+ (revOffsets[l &+ 1] &- revOffsets[l]) &+ 1
            aCap &+= w; mCap &+= outDeg &+ 1; widest = Swift.max(widest, w)
        }
        var aPtr = [Int](repeating: 0, count: m &+ 1)
        var aIdx = [Int32](repeating: 0, count: aCap), aVal = [Float](repeating: 0, count: aCap)
        var mPtr = [Int](repeating: 0, count: m &+ 1)
        var mIdx = [Int32](repeating: 0, count: mCap)
        var scratch = [Int32](repeating: 0, count: widest)
        var aw = 0, mw = 0
        let kipf = normalisation == .kipf
        rows.withUnsafeBufferPointer { rb in
        knn.offsets.withUnsafeBufferPointer { ob in
        knn.targets.withUnsafeBufferPointer { tb in
        revTargets.withUnsafeBufferPointer { vb in
        dinv.withUnsafeBufferPointer { db in
        aIdx.withUnsafeMutableBufferPointer { ai in
        aVal.withUnsafeMutableBufferPointer { av in
        mIdx.withUnsafeMutableBufferPointer { mi in
        scratch.withUnsafeMutableBufferPointer { sb in
            let buf = sb.baseAddress!
            for l in 0..<m {
                let i = rb[l]
                let me = Int32(truncatingIfNeeded: i)
                // out(i) ∪ {i}, sorted: row l of M and the first part of row l of A ∪ I.
                var len = 0
                for p in ob[i]..<ob[i &+ 1] { insertSorted(buf, &len, tb[p]) }
                insertSorted(buf, &len, me)
                for q in 0..<len { mi[mw &+ q] = buf[q] }
                mw &+= len
                mPtr[l &+ 1] = mw
                // ∪ in(i): row l of A ∪ I, sorted; repeats (mutual edges) dropped on output.
                for p in revOffsets[l]..<revOffsets[l &+ 1] { insertSorted(buf, &len, vb[p]) }
                let di = db[i]
                var prev: Int32 = -1
                for q in 0..<len {
                    let j = buf[q]
                    if j == prev { continue }
                    prev = j
                    ai[aw] = j
                    av[aw] = j == me ? (kipf ? Float(di * di) : 1) : Float(db[Int(j)] * di)
                    aw &+= 1
                }
                aPtr[l &+ 1] = aw
            }
        } } } } } } } } }
        aIdx.removeLast(aCap &- aw); aVal.removeLast(aCap &- aw)
        self.rows = rows
        self.normalisation = normalisation
        self.adjacency = CSRMatrix(rows: m, cols: n, indptr: aPtr, indices: aIdx, values: aVal)
        self.mask = CSRMatrix(rows: m, cols: n, indptr: mPtr, indices: mIdx,
                              values: [Float](repeating: 1, count: mIdx.count))
    }

    /// The whole slide: Â and M as N×N matrices (rows 0..<N).
    public init(knn: KNNGraph, normalisation: AdjacencyNormalisation) {
        self.init(knn: knn, rows: Array(0..<knn.count), normalisation: normalisation)
    }

    /// The whole slide from coordinates: validates them, builds the k-nearest-other-spot graph
    /// (ties by lower index) and returns N×N Â and M.
    ///
    /// - Parameter coordinates: N×2 row-major (`obsm/spatial`).
    /// - Throws: `InputError` for non-finite coordinates or fewer than k + 1 spots.
    public init(coordinates: [Double], k: Int = 3, normalisation: AdjacencyNormalisation,
                file: String? = nil, spotNames: [String]? = nil) throws {
        let knn = try KNNGraph(coordinates: coordinates, k: k, file: file, spotNames: spotNames)
        self.init(knn: knn, normalisation: normalisation)
    }

    /// Checks spot coordinates before a graph is built on them.
    ///
    /// - Parameters:
    ///   - coordinates: N×2 row-major (x, y), as read from `obsm/spatial`.
    ///   - k: neighbours per spot; the graph needs at least k + 1 spots.
    ///   - file: the input file, for the message.
    ///   - spotNames: N spot names (`obs_names`), for the message; indices are used without them.
    /// - Throws: `InputError` naming the file, the field `obsm/spatial` and the first offending spot.
    public static func validateCoordinates(_ coordinates: [Double], k: Int = 3, file: String? = nil,
                                           spotNames: [String]? = nil) throws {
        let field = "obsm/spatial"
        guard k >= 1 else {
            throw InputError(file: file, field: field, "the number of spatial neighbours k must be at least 1, got \(k)")
        }
        guard coordinates.count % 2 == 0 else {
            throw InputError(file: file, field: field, "expected N×2 coordinates (x, y per spot), got \(coordinates.count) values")
        }
        let n = coordinates.count / 2
        if let spotNames, spotNames.count != n {
            throw InputError(file: file, field: field, "has \(n) spots but there are \(spotNames.count) spot names")
        }
        // One pass: the first spot with a non-finite coordinate, and whether all spots coincide.
        var allSame = n > 0
        let bad: Int? = coordinates.withUnsafeBufferPointer { c in
            for i in 0..<n {
                let x = c[2 &* i], y = c[2 &* i &+ 1]
                if !(x.isFinite && y.isFinite) { return i }
                if x != c[0] || y != c[1] { allSame = false }
            }
            return nil
        }
        if let i = bad {
            let who = spotNames.map { "spot \(i) ('\($0[i])')" } ?? "spot \(i)"
            throw InputError(file: file, field: field,
                             "\(who) has a non-finite coordinate (\(coordinates[2 * i]), \(coordinates[2 * i + 1])); every spot needs finite x and y")
        }
        guard n >= k + 1 else {
            throw InputError(file: file, field: field,
                             "the spatial graph links each spot to its \(k) nearest other spots, so it needs at least \(k + 1) spots; got \(n)")
        }
        // Every spot at one place (coordinates zeroed or never filled in): every neighbour would be
        // a tie, the graph would follow the spots' order in the file, and training would run on it.
        if allSame {
            throw InputError(file: file, field: field,
                             "all \(n) spots are at the same place (\(coordinates[0]), \(coordinates[1])); the spatial graph needs the spots' positions")
        }
    }
}

/// Inserts v into the sorted buffer b[0..<len] (insertion sort: rows hold a handful of entries).
@inline(__always) private func insertSorted(_ b: UnsafeMutablePointer<Int32>, _ len: inout Int, _ v: Int32) {
    var q = len
    while q > 0 && b[q &- 1] > v { b[q] = b[q &- 1]; q &-= 1 }
    b[q] = v
    len &+= 1
}
