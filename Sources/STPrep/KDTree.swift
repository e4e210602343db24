/// A static 2-D k-d tree over spot coordinates for exact k-nearest-neighbour queries.
///
/// Built once on all N points (N×2 row-major `Double` coordinates, every rank holds them all) in
/// O(N log N); each query costs O(log N + k) on spatial data, so the kNN lists of a rank's owned
/// spots, or of every spot, never cost anything quadratic in N.
///
/// **Order and ties.** Neighbours are ranked by squared distance, and distances that agree to
/// within the rounding of the input coordinates are ties, ranked by lower global index. Two things
/// make the result independent of where the slide sits and of its units:
///
/// * The coordinates are centred first (the bounding box's centre is subtracted, in `Double`), so
///   `dx = x_b - x_a` is computed between numbers of the slide's own extent, not of its offset.
/// * Rounding the input already cost each coordinate up to half an ulp of the largest raw
///   magnitude S = max |coordinate| (a lattice shifted by −10⁶ carries errors of ~10⁻¹⁰ however it
///   is centred afterwards), so squared distances a and b are *tied* when
///   |a − b| ≤ τ·√max(a, b), τ = 32·ε·S (ε = `Double.ulpOfOne`): a few ulps of S on the distance,
///   a bound on what that rounding can do to d². On a Visium lattice (S ~ 10⁴ px, spacing ~100 px)
///   this is a relative 10⁻¹² of d²; distances of real spots that differ are far apart.
///
/// * The centred coordinates are then scaled by a power of two (exact) so that the largest lies in
///   [1, 2): squared distances neither underflow to 0 (a slide in units of 10⁻³⁰⁰ would be all
///   ties) nor overflow to ∞ (units of 10³⁰⁰). Distances handed back are in the input's units.
///
/// On a hexagonal lattice each spot's six neighbours are then tied exactly whatever the shift or
/// scale, and the lower indices win, so shifting by −10⁶ or scaling by 10³ gives the same lists.
/// Without ties the order is plain distance order (scikit-learn's). Within a group of mutually
/// tied distances the order is by index; distances spread over more than 2τ (a chain of near-ties)
/// could order differently depending on the search's visiting order, which is the same on every
/// rank (every rank builds the same tree on all points), so the result stays a pure function of the
/// coordinates and k: independent of which subset is queried and of the number of ranks.
///
/// **Self and duplicates.** A query for point i never returns i itself, but points at the same
/// coordinates as i (duplicates) are other points at distance 0 and rank first, by index. A large
/// group of coincident points (e.g. a file whose coordinates are all 0) becomes one leaf sorted by
/// index, scanned only until k candidates are found, so it costs O(k) per query, not O(group).
///
/// Layout: the points are reordered in place into tree order (flat `xs`, `ys`, `ids` arrays) and
/// the tree is implicit: node n covers a contiguous range [lo, hi), splits at mid = (lo+hi)/2 into
/// children 2n and 2n+1, so a node stores only its split axis and value.
public struct KDTree: Sendable {
    /// Number of points N.
    public let count: Int
    /// Leaf capacity: nodes of at most this many points are scanned linearly.
    public let leafSize: Int

    /// x coordinates in tree order (N).
    let xs: [Double]
    /// y coordinates in tree order (N).
    let ys: [Double]
    /// Global index of the point at each tree position (N).
    let ids: [Int32]
    /// Tree position of each global index (N).
    let positions: [Int32]
    /// Split axis per heap-numbered node: 0 = x, 1 = y, 2 = leaf, 3 = coincident leaf.
    let axes: [UInt8]
    /// Split value per heap-numbered node (points left of the split have coordinate ≤ it, right ≥).
    let splits: [Double]
    /// The centre subtracted from every coordinate (x, y): the bounding box's centre.
    public let centre: (x: Double, y: Double)
    /// The power-of-two factors applied to the centred coordinates (`scale` = their product; two
    /// factors because 2^e of a subnormal-sized extent is beyond one Double).
    let scaleFactors: (Double, Double)
    /// τ of the tie rule (see the type's documentation) in the scaled units: squared distances a, b
    /// tie when |a − b| ≤ τ·√max(a, b).
    public let tieScale: Double

    /// τ for raw coordinates of largest magnitude `magnitude` (see the type's documentation).
    public static func tieScale(magnitude: Double) -> Double { 32 * Double.ulpOfOne * magnitude }

    /// Two powers of two whose product p makes p·`extent` lie in [1, 2) (1, 1 for an extent of 0):
    /// multiplying by them is exact, and each is a normal Double even for subnormal extents.
    static func scaleFactors(extent: Double) -> (Double, Double) {
        guard extent > 0, extent.isFinite else { return (1, 1) }
        let e = -Int(extent.exponent)
        return (Double(sign: .plus, exponent: e / 2, significand: 1),
                Double(sign: .plus, exponent: e - e / 2, significand: 1))
    }

    /// Whether squared distances `a` and `b` are tied under `tieScale`.
    @inline(__always) static func tied(_ a: Double, _ b: Double, tieScale t: Double) -> Bool {
        a.isFinite && b.isFinite && Swift.abs(a - b) <= t * Swift.max(a, b).squareRoot()
    }

    static let leafAxis: UInt8 = 2
    /// A leaf of more than `leafSize` points at one location, stored by ascending global index.
    static let coincidentAxis: UInt8 = 3

    /// Builds the tree on all points.
    ///
    /// - Parameters:
    ///   - coordinates: N×2 row-major (x, y) coordinates; all finite (check user input with
    ///     `SpatialGraph.validateCoordinates` first). N may be 0. N < 2³¹.
    ///   - leafSize: maximum points per leaf (default 8).
    public init(coordinates: [Double], leafSize: Int = 8) {
        precondition(coordinates.count % 2 == 0, "KDTree: coordinates must be N×2, got \(coordinates.count) values")
        precondition(leafSize >= 1, "KDTree: leafSize must be positive")
        let n = coordinates.count / 2
        precondition(n < Int(Int32.max), "KDTree: at most 2³¹−1 points")
        self.count = n
        self.leafSize = leafSize

        var xs = [Double](repeating: 0, count: n)
        var ys = [Double](repeating: 0, count: n)
        var ids = [Int32](repeating: 0, count: n)
        var minX = Double.infinity, maxX = -Double.infinity, minY = Double.infinity, maxY = -Double.infinity
        coordinates.withUnsafeBufferPointer { c in
            for i in 0..<n {
                let x = c[2 &* i], y = c[2 &* i &+ 1]
                precondition(x.isFinite && y.isFinite, "KDTree: point \(i) has a non-finite coordinate")
                minX = Swift.min(minX, x); maxX = Swift.max(maxX, x)
                minY = Swift.min(minY, y); maxY = Swift.max(maxY, y)
            }
        }
        // Halves first: (min + max) could overflow near the largest finite Double.
        let cx = n > 0 ? minX / 2 + maxX / 2 : 0, cy = n > 0 ? minY / 2 + maxY / 2 : 0
        centre = (cx, cy)
        let extent = n > 0 ? Swift.max(maxX / 2 - minX / 2, maxY / 2 - minY / 2) : 0
        let (sa, sb) = Self.scaleFactors(extent: extent)
        scaleFactors = (sa, sb)
        tieScale = n > 0 ? Self.tieScale(magnitude: Swift.max(-minX, maxX, -minY, maxY)) * sa * sb : 0
        coordinates.withUnsafeBufferPointer { c in
            for i in 0..<n {
                xs[i] = (c[2 &* i] - cx) * sa * sb; ys[i] = (c[2 &* i &+ 1] - cy) * sa * sb
                ids[i] = Int32(truncatingIfNeeded: i)
            }
        }
        // Midpoint splits halve ranges, so leaves sit at depth D ≤ the first t with ⌈N/2ᵗ⌉ ≤ leafSize;
        // then N/2^(D−1) > leafSize, and every heap index is below 2^(D+1) < 4N/leafSize.
        let nodeCapacity = Swift.max(2, 4 &* n / leafSize &+ 4)
        var axes = [UInt8](repeating: Self.leafAxis, count: nodeCapacity)
        var splits = [Double](repeating: 0, count: nodeCapacity)
        if n > 0 {
            xs.withUnsafeMutableBufferPointer { xb in
                ys.withUnsafeMutableBufferPointer { yb in
                    ids.withUnsafeMutableBufferPointer { ib in
                        axes.withUnsafeMutableBufferPointer { ab in
                            splits.withUnsafeMutableBufferPointer { sb in
                                var b = Builder(x: xb.baseAddress!, y: yb.baseAddress!, id: ib.baseAddress!,
                                                axis: ab.baseAddress!, split: sb.baseAddress!,
                                                capacity: nodeCapacity, leafSize: leafSize)
                                b.build(node: 1, lo: 0, hi: n)
                            }
                        }
                    }
                }
            }
        }
        var positions = [Int32](repeating: 0, count: n)
        positions.withUnsafeMutableBufferPointer { pb in
            ids.withUnsafeBufferPointer { ib in
                for p in 0..<n { pb[Int(ib[p])] = Int32(truncatingIfNeeded: p) }
            }
        }
        self.xs = xs
        self.ys = ys
        self.ids = ids
        self.positions = positions
        self.axes = axes
        self.splits = splits
    }

    /// The k nearest other points of every point.
    ///
    /// - Returns: N×k row-major global indices; row i lists i's neighbours nearest first, ties by
    ///   lower index. Requires 0 < k < N.
    public func nearestNeighbours(k: Int = 3) -> [Int32] {
        precondition(k >= 1 && k < count, "KDTree: need 1 ≤ k < N (k = \(k), N = \(count))")
        var out = [Int32](repeating: 0, count: count &* k)
        // Tree order: consecutive queries touch the same leaves.
        out.withUnsafeMutableBufferPointer { ob in
            withSearcher(k: k) { s in
                for p in 0..<count {
                    let self_ = s.id[p]
                    s.query(x: s.x[p], y: s.y[p], excluding: self_)
                    s.copyResult(to: ob.baseAddress! + Int(self_) &* k, distances: nil)
                }
            }
        }
        return out
    }

    /// The k nearest other points of each point in `queries` (global indices, e.g. a rank's owned
    /// spots), in the order given.
    ///
    /// - Returns: `neighbours` (queries.count × k, row-major global indices, nearest first, ties by
    ///   lower index) and `squaredDistances` (queries.count × k) when `withDistances` is set, else
    ///   empty. Requires 0 < k < N.
    public func nearestNeighbours(of queries: [Int], k: Int = 3, withDistances: Bool = false)
        -> (neighbours: [Int32], squaredDistances: [Double]) {
        precondition(k >= 1 && k < count, "KDTree: need 1 ≤ k < N (k = \(k), N = \(count))")
        let m = queries.count
        // Visit the queries in tree order for locality; write each result at its requested row.
        var order = [UInt64](repeating: 0, count: m)
        queries.withUnsafeBufferPointer { qb in
            positions.withUnsafeBufferPointer { pb in
                for r in 0..<m {
                    let g = qb[r]
                    precondition(g >= 0 && g < count, "KDTree: query index \(g) outside 0..<\(count)")
                    order[r] = UInt64(UInt32(bitPattern: pb[g])) << 32 | UInt64(r)
                }
            }
        }
        order.sort()
        var out = [Int32](repeating: 0, count: m &* k)
        var dist = [Double](repeating: 0, count: withDistances ? m &* k : 0)
        out.withUnsafeMutableBufferPointer { ob in
            dist.withUnsafeMutableBufferPointer { db in
                withSearcher(k: k) { s in
                    for e in order {
                        let p = Int(e >> 32), r = Int(e & 0xFFFF_FFFF)
                        s.query(x: s.x[p], y: s.y[p], excluding: s.id[p])
                        s.copyResult(to: ob.baseAddress! + r &* k,
                                     distances: withDistances ? db.baseAddress! + r &* k : nil)
                    }
                }
            }
        }
        // Back to the input's units: d² / p² (exact unless the input's own d² over- or underflows).
        let (ia, ib) = (1 / scaleFactors.0, 1 / scaleFactors.1)
        for j in dist.indices { dist[j] = dist[j] * ia * ia * ib * ib }
        return (out, dist)
    }

    /// The k nearest points of the location (x, y), which need not be one of the points.
    ///
    /// - Returns: k global indices, nearest first, ties by lower index. Requires 0 < k ≤ N.
    public func nearestPoints(x: Double, y: Double, k: Int) -> [Int32] {
        precondition(k >= 1 && k <= count, "KDTree: need 1 ≤ k ≤ N (k = \(k), N = \(count))")
        precondition(x.isFinite && y.isFinite, "KDTree: query location must be finite")
        var out = [Int32](repeating: 0, count: k)
        out.withUnsafeMutableBufferPointer { ob in
            withSearcher(k: k) { s in
                s.query(x: (x - centre.x) * scaleFactors.0 * scaleFactors.1,
                        y: (y - centre.y) * scaleFactors.0 * scaleFactors.1, excluding: -1)
                s.copyResult(to: ob.baseAddress!, distances: nil)
            }
        }
        return out
    }

    /// Runs `body` with a searcher over this tree's arrays and k-sized scratch.
    private func withSearcher(k: Int, _ body: (inout Searcher) -> Void) {
        var bestD = [Double](repeating: 0, count: k)
        var bestI = [Int32](repeating: 0, count: k)
        xs.withUnsafeBufferPointer { xb in
            ys.withUnsafeBufferPointer { yb in
                ids.withUnsafeBufferPointer { ib in
                    axes.withUnsafeBufferPointer { ab in
                        splits.withUnsafeBufferPointer { sb in
                            bestD.withUnsafeMutableBufferPointer { bd in
                                bestI.withUnsafeMutableBufferPointer { bi in
                                    var s = Searcher(x: xb.baseAddress!, y: yb.baseAddress!, id: ib.baseAddress!,
                                                     axis: ab.baseAddress!, split: sb.baseAddress!,
                                                     count: count, k: k, tieScale: tieScale,
                                                     bestD: bd.baseAddress!, bestI: bi.baseAddress!)
                                    body(&s)
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

// MARK: - Construction

/// Recursive median split over flat arrays (all three permuted together).
private struct Builder {
    let x: UnsafeMutablePointer<Double>
    let y: UnsafeMutablePointer<Double>
    let id: UnsafeMutablePointer<Int32>
    let axis: UnsafeMutablePointer<UInt8>
    let split: UnsafeMutablePointer<Double>
    let capacity: Int
    let leafSize: Int

    mutating func build(node: Int, lo: Int, hi: Int) {
        precondition(node < capacity, "KDTree: node index overflow")
        if hi &- lo <= leafSize { axis[node] = KDTree.leafAxis; return }
        var minX = x[lo], maxX = minX, minY = y[lo], maxY = minY
        var p = lo &+ 1
        while p < hi {
            let a = x[p], b = y[p]
            if a < minX { minX = a } else if a > maxX { maxX = a }
            if b < minY { minY = b } else if b > maxY { maxY = b }
            p &+= 1
        }
        let ex = maxX - minX, ey = maxY - minY
        // All points coincide: nothing to split. Ordered by index, a query needs only the first
        // k (+ itself) of them: the rest tie on distance and lose on index.
        if ex == 0 && ey == 0 {
            var ids = UnsafeMutableBufferPointer(start: id + lo, count: hi &- lo)
            ids.sort()
            axis[node] = KDTree.coincidentAxis
            return
        }
        let mid = lo &+ (hi &- lo) / 2
        if ex >= ey {
            select(key: x, other: y, lo: lo, hi: hi, nth: mid)
            axis[node] = 0; split[node] = x[mid]
        } else {
            select(key: y, other: x, lo: lo, hi: hi, nth: mid)
            axis[node] = 1; split[node] = y[mid]
        }
        build(node: 2 &* node, lo: lo, hi: mid)
        build(node: 2 &* node &+ 1, lo: mid, hi: hi)
    }

    @inline(__always) func swapAt(_ i: Int, _ j: Int) {
        let tx = x[i]; x[i] = x[j]; x[j] = tx
        let ty = y[i]; y[i] = y[j]; y[j] = ty
        let ti = id[i]; id[i] = id[j]; id[j] = ti
    }

    /// Hoare quickselect: afterwards key[lo..<nth] ≤ key[nth] ≤ key[nth+1..<hi].
    func select(key: UnsafeMutablePointer<Double>, other: UnsafeMutablePointer<Double>,
                lo: Int, hi: Int, nth: Int) {
        var l = lo, r = hi &- 1
        while r > l {
            // Median of three as pivot value (robust to sorted input, e.g. lattices in row order).
            let m = l &+ (r &- l) / 2
            if key[m] < key[l] { swapAt(m, l) }
            if key[r] < key[l] { swapAt(r, l) }
            if key[r] < key[m] { swapAt(r, m) }
            let pivot = key[m]
            var i = l, j = r
            while i <= j {
                while key[i] < pivot { i &+= 1 }
                while key[j] > pivot { j &-= 1 }
                if i <= j { swapAt(i, j); i &+= 1; j &-= 1 }
            }
            // Now key[l...j] ≤ pivot, key[i...r] ≥ pivot, and key[j+1..<i] == pivot.
            if nth <= j { r = j } else if nth >= i { l = i } else { return }
        }
    }
}

// MARK: - Search

/// One query's state: the current k best (sorted by (squared distance, index)) and the tree.
private struct Searcher {
    let x: UnsafePointer<Double>
    let y: UnsafePointer<Double>
    let id: UnsafePointer<Int32>
    let axis: UnsafePointer<UInt8>
    let split: UnsafePointer<Double>
    let count: Int
    let k: Int
    /// τ of the tie rule (`KDTree.tieScale`).
    let tieScale: Double
    let bestD: UnsafeMutablePointer<Double>
    let bestI: UnsafeMutablePointer<Int32>
    var qx = 0.0, qy = 0.0
    var exclude: Int32 = -1
    var worstD = Double.infinity
    var worstI = Int32.max

    mutating func query(x qx: Double, y qy: Double, excluding: Int32) {
        self.qx = qx; self.qy = qy; exclude = excluding
        for j in 0..<k { bestD[j] = .infinity; bestI[j] = .max }
        worstD = .infinity; worstI = .max
        search(node: 1, lo: 0, hi: count, offX: 0, offY: 0)
    }

    /// Whether candidate (d, i) ranks before (e, j): clearly nearer, or tied and of lower index.
    @inline(__always) func precedes(_ d: Double, _ i: Int32, _ e: Double, _ j: Int32) -> Bool {
        if KDTree.tied(d, e, tieScale: tieScale) { return i < j }
        return d < e
    }

    /// Whether a cell whose squared distance is at least `bound` can hold no candidate: it is
    /// farther than the current k-th by more than a tie.
    @inline(__always) func prunable(_ bound: Double) -> Bool {
        bound > worstD && !KDTree.tied(bound, worstD, tieScale: tieScale)
    }

    func copyResult(to out: UnsafeMutablePointer<Int32>, distances: UnsafeMutablePointer<Double>?) {
        for j in 0..<k { out[j] = bestI[j] }
        if let distances { for j in 0..<k { distances[j] = bestD[j] } }
    }

    /// Visits node (covering [lo, hi)); offX/offY are the per-axis gaps from the query to the
    /// node's cell, each a lower bound on |coordinate difference| of any point in the cell.
    /// The cell bound offX² + offY² is computed directly (not incrementally), so by monotonicity
    /// of rounding it never exceeds the computed distance of a point inside: a cell holding a point
    /// tied with the current worst is never pruned.
    mutating func search(node: Int, lo: Int, hi: Int, offX: Double, offY: Double) {
        let a = axis[node]
        if a == KDTree.coincidentAxis {
            let dx = x[lo] - qx, dy = y[lo] - qy
            let d = dx * dx + dy * dy
            if prunable(d) { return }
            var p = lo, seen = 0
            while p < hi && seen < k {
                let i = id[p]
                if i != exclude {
                    seen &+= 1
                    if precedes(d, i, worstD, worstI) { insert(d, i) } else { return }
                }
                p &+= 1
            }
            return
        }
        if a == KDTree.leafAxis {
            var p = lo
            while p < hi {
                let i = id[p]
                let dx = x[p] - qx, dy = y[p] - qy
                let d = dx * dx + dy * dy
                if i != exclude && precedes(d, i, worstD, worstI) { insert(d, i) }
                p &+= 1
            }
            return
        }
        let mid = lo &+ (hi &- lo) / 2
        let diff = (a == 0 ? qx : qy) - split[node]
        let nearLeft = diff < 0
        if nearLeft {
            search(node: 2 &* node, lo: lo, hi: mid, offX: offX, offY: offY)
        } else {
            search(node: 2 &* node &+ 1, lo: mid, hi: hi, offX: offX, offY: offY)
        }
        let fx = a == 0 ? diff : offX
        let fy = a == 0 ? offY : diff
        let bound = fx * fx + fy * fy
        if prunable(bound) { return }
        if nearLeft {
            search(node: 2 &* node &+ 1, lo: mid, hi: hi, offX: fx, offY: fy)
        } else {
            search(node: 2 &* node, lo: lo, hi: mid, offX: fx, offY: fy)
        }
    }

    @inline(__always) mutating func insert(_ d: Double, _ i: Int32) {
        var j = k &- 1
        while j > 0 {
            let pd = bestD[j &- 1]
            if !precedes(d, i, pd, bestI[j &- 1]) { break }
            bestD[j] = pd; bestI[j] = bestI[j &- 1]
            j &-= 1
        }
        bestD[j] = d; bestI[j] = i
        worstD = bestD[k &- 1]; worstI = bestI[k &- 1]
    }
}
