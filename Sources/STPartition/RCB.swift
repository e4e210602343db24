import STCore

/// The result of recursive coordinate bisection: which part owns each point.
public struct RCBPartition: Equatable, Sendable {
    /// Part of each point, 0..<parts. (N)
    public var owner: [Int32]
    /// Number of points in each part; every entry is ≥ 1. (P)
    public var counts: [Int]
    /// Total weight of each part (the point count when unweighted). (P)
    public var partWeights: [Double]

    /// Number of parts P.
    public var parts: Int { counts.count }

    /// The owner map as the `Partition` the halo plans are built from.
    public var partition: Partition { Partition(owner: owner, parts: parts) }
}

/// Recursive coordinate bisection (RCB) of 2-D points into balanced, spatially compact parts.
///
/// A box of points and a number of parts p is split along its longer extent (x on ties) into
/// ⌊p/2⌋ and ⌈p/2⌉ parts; the cut is placed so that the lower side carries ⌊p/2⌋/p of the box's
/// weight (to the nearest point), then both sides recurse. Points are ordered along the axis by
/// (coordinate, index), a strict total order, so equal coordinates (lattices) are split exactly
/// and the result depends on nothing but the input: every rank computes the same partition.
///
/// Cost: each level selects its cut with a weighted quickselect (expected O(n), not a sort), so the
/// whole partition is O(N log P) expected time and O(N) extra memory.
public enum RCB {
    /// Partitions N points into `parts` parts balanced by `weights`.
    ///
    /// - Parameters:
    ///   - coordinates: row-major N×2 (x, y) of each point (`obsm["spatial"]`). (N×2)
    ///   - parts: P ≥ 1, any value up to N (not only powers of two).
    ///   - weights: positive finite weight of each point (nil: 1 each), e.g. `nnzWeights(indptr:)`
    ///     so that ranks get equal sparse work. (N)
    /// - Throws: `InputError` when P < 1, P > N ("more ranks than spots"), coordinates are not
    ///   N×2 or not finite, or a weight is not positive and finite.
    public static func partition(coordinates: [Double], parts: Int, weights: [Double]? = nil) throws -> RCBPartition {
        guard coordinates.count % 2 == 0 else {
            throw InputError("spatial coordinates must be N×2 (x, y per spot); got \(coordinates.count) values")
        }
        let n = coordinates.count / 2
        guard parts >= 1 else { throw InputError("number of parts must be at least 1; got \(parts)") }
        guard n >= 1 else { throw InputError("cannot partition an empty slide (0 spots)") }
        guard parts <= n else {
            throw InputError("cannot split \(n) spots into \(parts) parts: more ranks than spots (use at most \(n) ranks)")
        }
        guard n <= Int(Int32.max) else { throw InputError("\(n) spots exceed the 2^31-1 supported by the partitioner") }
        if let i = coordinates.firstIndex(where: { !$0.isFinite }) {
            throw InputError("spatial coordinate of spot \(i / 2) is not finite (\(coordinates[i]))")
        }
        if let w = weights {
            guard w.count == n else { throw InputError("partition weights: expected \(n) values (one per spot), got \(w.count)") }
            if let i = w.firstIndex(where: { !($0 > 0 && $0.isFinite) }) {
                throw InputError("partition weight of spot \(i) must be positive and finite; got \(w[i])")
            }
        }

        var owner = [Int32](repeating: 0, count: n)
        var counts = [Int](repeating: 0, count: parts)
        var partWeights = [Double](repeating: 0, count: parts)
        // The points, moved in place by the selections; a box is always a contiguous range.
        var items = [RCBItem](unsafeUninitializedCapacity: n) { it, c in
            coordinates.withUnsafeBufferPointer { xy in
                for i in 0..<n {
                    it[i] = RCBItem(x: xy[i &* 2], y: xy[i &* 2 &+ 1], weight: weights?[i] ?? 1,
                                    index: Int32(truncatingIfNeeded: i))
                }
            }
            c = n
        }

        items.withUnsafeMutableBufferPointer { items in
        owner.withUnsafeMutableBufferPointer { owner in
            // (lo, hi, firstPart, nParts): items[lo..<hi] is split into parts firstPart..<firstPart+nParts.
            var stack: [(Int, Int, Int, Int)] = [(0, n, 0, parts)]
            while let (lo, hi, first, np) = stack.popLast() {
                if np == 1 {
                    var w = 0.0
                    for t in lo..<hi {
                        owner[Int(items[t].index)] = Int32(truncatingIfNeeded: first)
                        w += items[t].weight
                    }
                    counts[first] = hi &- lo
                    partWeights[first] = w
                    continue
                }
                // Bounding box → axis of the longer extent; total weight of the box.
                var minX = Double.infinity, maxX = -Double.infinity
                var minY = Double.infinity, maxY = -Double.infinity
                var total = 0.0
                for t in lo..<hi {
                    let p = items[t]
                    minX = Swift.min(minX, p.x); maxX = Swift.max(maxX, p.x)
                    minY = Swift.min(minY, p.y); maxY = Swift.max(maxY, p.y)
                    total += p.weight
                }
                let nLeft = np / 2, nRight = np &- nLeft
                let target = total * Double(nLeft) / Double(np)
                let seg = UnsafeMutableBufferPointer(rebasing: items[lo..<hi])
                var k: Int
                if (maxX - minX) >= (maxY - minY) {
                    k = weightedCut(seg, target: target, axis: RCBAxisX.self)
                } else {
                    k = weightedCut(seg, target: target, axis: RCBAxisY.self)
                }
                // Every part needs at least one point: each side keeps one per part.
                let clamped = Swift.min(Swift.max(k, nLeft), seg.count &- nRight)
                if clamped != k {
                    k = clamped
                    if (maxX - minX) >= (maxY - minY) {
                        selectRank(seg, k, axis: RCBAxisX.self)
                    } else {
                        selectRank(seg, k, axis: RCBAxisY.self)
                    }
                }
                stack.append((lo &+ k, hi, first &+ nLeft, nRight))
                stack.append((lo, lo &+ k, first, nLeft))
            }
        } }

        if let p = counts.firstIndex(of: 0) {
            throw InputError("partition part \(p) of \(parts) would be empty (\(n) spots)")
        }
        return RCBPartition(owner: owner, counts: counts, partWeights: partWeights)
    }

    /// Per-spot weights 1 + nnz(row i) from CSR row pointers (N+1), for `partition(weights:)`.
    ///
    /// The 1 accounts for the per-row work that does not depend on X (the d-wide graph products).
    public static func nnzWeights(indptr: [Int]) -> [Double] {
        guard indptr.count > 1 else { return [] }
        return (0..<(indptr.count - 1)).map { Double(1 &+ indptr[$0 &+ 1] &- indptr[$0]) }
    }

    // MARK: Selection

    /// Number k of leading points (in (key, index) order) whose weight is closest to `target`,
    /// leaving `seg` partitioned at k (`seg[..<k]` are the k smallest). Half-way ties take the
    /// larger k. Requires 0 < target < total weight.
    static func weightedCut<A: RCBAxis>(_ seg: UnsafeMutableBufferPointer<RCBItem>, target: Double, axis: A.Type) -> Int {
        var lo = 0, hi = seg.count
        var before = 0.0                         // weight of seg[..<lo]
        var rng = UInt64(truncatingIfNeeded: seg.count) &* 0x9E37_79B9_7F4A_7C15
        var rounds = 0
        let maxRounds = 2 &* (Int.bitWidth &- seg.count.leadingZeroBitCount) &+ 16
        // Finds j with before(j) < target ≤ before(j) + w(j), where before(j) = weight of seg[..<j].
        var j = -1, beforeJ = 0.0
        while j < 0 {
            if hi &- lo <= 16 || rounds >= maxRounds {
                // Small or unlucky range: sort it (introselect's fallback keeps O(n log n) worst case).
                seg[lo..<hi].sort(by: A.less)
                // The crossing lies in [lo, hi) unless rounding moved it; then the last item.
                var acc = before
                for t in lo..<hi {
                    if acc + seg[t].weight >= target { j = t; break }
                    acc += seg[t].weight
                }
                if j < 0 {
                    j = hi &- 1
                    acc -= seg[j].weight
                }
                beforeJ = acc
                break
            }
            rounds &+= 1
            let m = partition(seg, lo, hi, axis: A.self, pivot: lo &+ Int(splitmix64(&rng) % UInt64(hi &- lo)))
            var wLess = 0.0
            for t in lo..<m { wLess += seg[t].weight }
            if before + wLess >= target {
                hi = m
            } else if before + wLess + seg[m].weight >= target {
                j = m
                beforeJ = before + wLess
            } else {
                before += wLess + seg[m].weight
                lo = m &+ 1
            }
        }
        // seg is partitioned at j and at j+1; take the nearer of the two cuts.
        let below = target - beforeJ, above = beforeJ + seg[j].weight - target
        return above <= below ? j &+ 1 : j
    }

    /// Rearranges `seg` so that `seg[..<k]` are its k smallest items (quickselect).
    static func selectRank<A: RCBAxis>(_ seg: UnsafeMutableBufferPointer<RCBItem>, _ k: Int, axis: A.Type) {
        guard k > 0 && k < seg.count else { return }
        var lo = 0, hi = seg.count
        var rng = UInt64(truncatingIfNeeded: k) &* 0xBF58_476D_1CE4_E5B9
        var rounds = 0
        let maxRounds = 2 &* (Int.bitWidth &- seg.count.leadingZeroBitCount) &+ 16
        while hi &- lo > 1 {
            if hi &- lo <= 16 || rounds >= maxRounds {
                seg[lo..<hi].sort(by: A.less)
                return
            }
            rounds &+= 1
            let m = partition(seg, lo, hi, axis: A.self, pivot: lo &+ Int(splitmix64(&rng) % UInt64(hi &- lo)))
            if m == k || m &+ 1 == k { return }
            if m > k { hi = m } else { lo = m &+ 1 }
        }
    }

    /// Lomuto partition of seg[lo..<hi] around seg[pivot]; returns the pivot's final position m
    /// (seg[lo..<m] < pivot < seg[m+1..<hi]; the order is strict, so no item equals the pivot).
    @inline(__always)
    static func partition<A: RCBAxis>(_ seg: UnsafeMutableBufferPointer<RCBItem>, _ lo: Int, _ hi: Int,
                                       axis: A.Type, pivot: Int) -> Int {
        seg.swapAt(pivot, hi &- 1)
        let p = seg[hi &- 1]
        var store = lo
        for t in lo..<(hi &- 1) where A.less(seg[t], p) {
            seg.swapAt(t, store)
            store &+= 1
        }
        seg.swapAt(store, hi &- 1)
        return store
    }
}

/// One point during the bisection: its coordinates, weight and index.
struct RCBItem {
    var x: Double
    var y: Double
    var weight: Double
    var index: Int32
}

/// The cut axis, as a type so that each selection loop is specialised for it (no per-compare branch).
protocol RCBAxis {
    /// The coordinate of `p` along this axis.
    static func key(_ p: RCBItem) -> Double
}

extension RCBAxis {
    /// The strict total order of a cut: by coordinate, ties by point index.
    @inline(__always) static func less(_ a: RCBItem, _ b: RCBItem) -> Bool {
        let ka = key(a), kb = key(b)
        return ka < kb || (ka == kb && a.index < b.index)
    }
}

/// Cuts across x.
enum RCBAxisX: RCBAxis { @inline(__always) static func key(_ p: RCBItem) -> Double { p.x } }
/// Cuts across y.
enum RCBAxisY: RCBAxis { @inline(__always) static func key(_ p: RCBItem) -> Double { p.y } }
