import Foundation
import STCore
import STComm

/// A uniform number in (0, 1) attached to one spot: a pure function of (seed, stream, global
/// index), so it does not depend on which rank holds the spot or in which order.
///
/// The `index`-th output of a SplitMix64 sequence started at a state derived from (seed, stream).
@inlinable func spotUniform(seed: UInt64, stream: UInt64, index: Int) -> Double {
    var s = seed ^ (stream &* 0xD1B5_4A32_D192_ED03)
    _ = splitmix64(&s)
    s = s &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15
    let z = splitmix64(&s)
    return (Double(z >> 11) + 0.5) * 0x1p-53
}

/// Global selection primitives over rows spread across ranks, independent of the distribution.
enum GlobalPick {
    /// For each of the L candidate slots, the spot with the smallest key over all ranks (ties by
    /// lower global index), and its row (p values) on every rank; nil where every key is +∞.
    ///
    /// - Parameters:
    ///   - localBest: per slot, this rank's best (key, global index, local row) or nil.
    /// Three collectives: max of −key, max of −index among the tied, sum of the owner's row.
    static func argmin(_ localBest: [(key: Double, index: Int, row: Int)?], rows x: Matrix64,
                       comm: Communicator) -> [(index: Int, point: [Double])?] {
        let L = localBest.count, p = x.cols
        var negKey = localBest.map { $0.map { -$0.key } ?? -.infinity }
        negKey.withUnsafeMutableBufferPointer { comm.allreduceMax($0) }
        // Among ranks holding the winning key, the lowest global index (exact: ints in doubles).
        var negIndex = (0..<L).map { s -> Double in
            if let b = localBest[s], -b.key == negKey[s], negKey[s] > -.infinity { return -Double(b.index) }
            return -.infinity
        }
        negIndex.withUnsafeMutableBufferPointer { comm.allreduceMax($0) }
        // The owner contributes the row, everyone else zeros: the sum is exact.
        var rows = [Double](repeating: 0, count: L * p)
        for s in 0..<L {
            if let b = localBest[s], negIndex[s] > -.infinity, Double(b.index) == -negIndex[s] {
                for j in 0..<p { rows[s * p + j] = x[b.row, j] }
            }
        }
        comm.allreduceSum(&rows)
        return (0..<L).map { s in
            negIndex[s] > -.infinity ? (Int(-negIndex[s]), Array(rows[(s * p)..<((s + 1) * p)])) : nil
        }
    }
}

/// The result of k-means on rows distributed over ranks.
public struct KMeansFit: Sendable {
    /// Centres (K × p) in canonical order (ascending first coordinate, then the next, ...).
    public var centres: Matrix64
    /// Label of each of this rank's rows, 0..<K.
    public var labels: [Int]
    /// Σ over all spots of the squared distance to the assigned centre.
    public var inertia: Double
    /// Lloyd iterations of the chosen restart.
    public var iterations: Int
    /// Whether the chosen restart stopped because no assignment changed.
    public var converged: Bool
    /// Inertia of every restart, in restart order.
    public var restartInertias: [Double]
    /// Index of the chosen restart.
    public var bestRestart: Int
}

/// Lloyd's k-means with greedy k-means++ seeding, over rows distributed across ranks.
///
/// Seeding: D² sampling (Arthur & Vassilvitskii 2007) with scikit-learn's greedy variant
/// (2 + ⌊ln K⌋ candidates per step, keep the one lowering the potential most). Each draw is an
/// exponential race: spot i gets key −ln(uᵢ)/wᵢ with uᵢ = `spotUniform(seed, stream, i)` and
/// wᵢ its D² weight; the smallest key wins, which picks i with probability wᵢ/Σw exactly. The
/// uniforms belong to the spots' global indices, so the seeding is the same for any number of
/// ranks and any row order; the winner's row is broadcast by its owner.
/// Lloyd: nearest centre (ties to the lower centre index), centres = means (float64 sums
/// allreduced); an emptied cluster is moved to the spot farthest from its centre.
public enum KMeans {
    /// Best of `restarts` k-means++ + Lloyd runs by inertia (collective).
    ///
    /// - Parameters:
    ///   - x: this rank's n×p rows; `globalIndex[i]` is row i's spot index in 0..<N (distinct).
    ///   - restarts: independent seedings (restart r uses streams derived from (seed, r)).
    /// - Throws: `ClusteringError` on N < K or fewer than K distinct points.
    public static func fit(rows x: Matrix64, globalIndex: [Int], clusters k: Int, restarts: Int = 10,
                           seed: UInt64 = 0, maxIterations: Int = 300, comm: Communicator) throws -> KMeansFit {
        try checkInput(x, globalIndex: globalIndex, clusters: k, comm: comm)
        guard restarts >= 1 else { throw ClusteringError.badSetting(name: "restarts", value: "\(restarts)", expected: "≥ 1") }
        var best: (fit: KMeansFit, restart: Int)?
        var inertias = [Double]()
        for r in 0..<restarts {
            let centres = try seedPlusPlus(rows: x, globalIndex: globalIndex, clusters: k, seed: seed, restart: r, comm: comm)
            let run = lloyd(rows: x, centres: centres, globalIndex: globalIndex, maxIterations: maxIterations, comm: comm)
            inertias.append(run.inertia)
            // Near-equal inertias (the same optimum, up to summation order) keep the earlier
            // restart, so the choice does not flip with the number of ranks.
            if best == nil || run.inertia < best!.fit.inertia * (1 - 1e-9) { best = (run, r) }
        }
        var fit = best!.fit
        fit.restartInertias = inertias
        fit.bestRestart = best!.restart
        let perm = canonicalOrder(fit.centres)
        fit.centres = permutedRows(fit.centres, perm)
        fit.labels = relabel(fit.labels, perm)
        return fit
    }

    static func checkInput(_ x: Matrix64, globalIndex: [Int], clusters k: Int, comm: Communicator) throws {
        guard globalIndex.count == x.rows else {
            throw ClusteringError.shapeMismatch("clustering: \(x.rows) rows but \(globalIndex.count) global indices")
        }
        guard k >= 1 else { throw ClusteringError.badSetting(name: "clusters", value: "\(k)", expected: "≥ 1") }
        let N = comm.sum(x.rows)
        guard N >= k else { throw ClusteringError.tooFewSpots(spots: N, needed: k, what: "clustering into \(k) clusters") }
        var bad = x.data.contains { !$0.isFinite } ? 1.0 : 0.0
        bad = comm.max(bad)
        guard bad == 0 else { throw ClusteringError.shapeMismatch("clustering: the input rows contain non-finite values") }
    }

    /// Greedy k-means++ seeding (see the type's documentation): K × p centres, collective.
    public static func seedPlusPlus(rows x: Matrix64, globalIndex: [Int], clusters k: Int,
                                    seed: UInt64, restart: Int, comm: Communicator) throws -> Matrix64 {
        let n = x.rows, p = x.cols
        let trials = 2 + Int(log(Double(k)))
        var centres = Matrix64(zeros: k, p)
        // Stream of (restart, step, trial): disjoint for restarts < 2²⁴, steps < 2¹⁶, trials < 2⁸.
        func stream(_ step: Int, _ trial: Int) -> UInt64 {
            (UInt64(restart) << 24) | (UInt64(step) << 8) | UInt64(trial)
        }
        // First centre: uniform over spots (all weights 1).
        var first: (key: Double, index: Int, row: Int)?
        for i in 0..<n {
            let key = -log(spotUniform(seed: seed, stream: stream(0, 0), index: globalIndex[i]))
            if first == nil || key < first!.key || (key == first!.key && globalIndex[i] < first!.index) {
                first = (key, globalIndex[i], i)
            }
        }
        guard let c0 = GlobalPick.argmin([first], rows: x, comm: comm)[0] else {
            throw ClusteringError.tooFewSpots(spots: 0, needed: k, what: "k-means++")
        }
        for j in 0..<p { centres[0, j] = c0.point[j] }
        var closest = [Double](repeating: 0, count: n)
        for i in 0..<n { closest[i] = squaredDistance(x, i, c0.point) }

        for step in 1..<max(k, 1) {
            // L independent D² draws.
            var local = [(key: Double, index: Int, row: Int)?](repeating: nil, count: trials)
            for i in 0..<n where closest[i] > 0 {
                for t in 0..<trials {
                    let key = -log(spotUniform(seed: seed, stream: stream(step, t), index: globalIndex[i])) / closest[i]
                    if let b = local[t], !(key < b.key || (key == b.key && globalIndex[i] < b.index)) { continue }
                    local[t] = (key, globalIndex[i], i)
                }
            }
            let picks = GlobalPick.argmin(local, rows: x, comm: comm)
            guard picks.allSatisfy({ $0 != nil }) else { throw ClusteringError.tooFewDistinctPoints(clusters: k) }
            // Potential after adding each candidate; keep the lowest (first on ties).
            var pots = [Double](repeating: 0, count: trials)
            for i in 0..<n {
                for t in 0..<trials { pots[t] += min(closest[i], squaredDistance(x, i, picks[t]!.point)) }
            }
            comm.allreduceSum(&pots)
            var bestT = 0
            for t in 1..<trials where pots[t] < pots[bestT] { bestT = t }
            let c = picks[bestT]!.point
            for j in 0..<p { centres[step, j] = c[j] }
            for i in 0..<n { closest[i] = min(closest[i], squaredDistance(x, i, c)) }
        }
        return centres
    }

    /// Lloyd iterations from `centres` until no assignment changes or `maxIterations` (collective).
    public static func lloyd(rows x: Matrix64, centres start: Matrix64, globalIndex: [Int], maxIterations: Int,
                             comm: Communicator) -> KMeansFit {
        let n = x.rows, p = x.cols, k = start.rows
        var centres = start
        var labels = [Int](repeating: -1, count: n)
        var dist = [Double](repeating: 0, count: n)
        var iterations = 0, converged = false
        while true {
            // Assignment.
            var changed = 0
            for i in 0..<n {
                var bk = 0, bd = Double.infinity
                for c in 0..<k {
                    let d = squaredDistance(x, i, centres, c)
                    if d < bd { bd = d; bk = c }
                }
                if labels[i] != bk { changed += 1; labels[i] = bk }
                dist[i] = bd
            }
            changed = comm.sum(changed)
            if changed == 0 { converged = true; break }
            if iterations == maxIterations { break }
            iterations += 1
            // Update: sums and counts in one allreduce.
            var acc = [Double](repeating: 0, count: k * (p + 1))
            for i in 0..<n {
                let c = labels[i]
                acc[k * p + c] += 1
                for j in 0..<p { acc[c * p + j] += x[i, j] }
            }
            comm.allreduceSum(&acc)
            var taken = Set<Int>()
            for c in 0..<k {
                let cnt = acc[k * p + c]
                if cnt > 0 {
                    for j in 0..<p { centres[c, j] = acc[c * p + j] / cnt }
                } else {
                    // Empty cluster: move its centre to the spot farthest from its own centre.
                    var local: (key: Double, index: Int, row: Int)?
                    for i in 0..<n where !taken.contains(globalIndex[i]) {
                        let key = -dist[i]
                        if local == nil || key < local!.key || (key == local!.key && globalIndex[i] < local!.index) {
                            local = (key, globalIndex[i], i)
                        }
                    }
                    if let pick = GlobalPick.argmin([local], rows: x, comm: comm)[0] {
                        taken.insert(pick.index)
                        for j in 0..<p { centres[c, j] = pick.point[j] }
                    }
                }
            }
        }
        var inertia = 0.0
        for i in 0..<n { inertia += dist[i] }
        inertia = comm.sum(inertia)
        return KMeansFit(centres: centres, labels: labels, inertia: inertia, iterations: iterations,
                         converged: converged, restartInertias: [inertia], bestRestart: 0)
    }

    @inline(__always) static func squaredDistance(_ x: Matrix64, _ i: Int, _ c: [Double]) -> Double {
        var s = 0.0
        for j in 0..<x.cols { let t = x.data[i * x.cols + j] - c[j]; s += t * t }
        return s
    }

    @inline(__always) static func squaredDistance(_ x: Matrix64, _ i: Int, _ c: Matrix64, _ r: Int) -> Double {
        var s = 0.0
        let p = x.cols
        for j in 0..<p { let t = x.data[i * p + j] - c.data[r * p + j]; s += t * t }
        return s
    }
}

/// The canonical order of K components by their rows (means or centres): ascending first
/// coordinate, ties by the next coordinate, then by the current index. Returns perm with
/// perm[new] = old.
func canonicalOrder(_ m: Matrix64) -> [Int] {
    (0..<m.rows).sorted { a, b in
        for j in 0..<m.cols where m[a, j] != m[b, j] { return m[a, j] < m[b, j] }
        return a < b
    }
}

/// Rows of m in the order perm (perm[new] = old).
func permutedRows(_ m: Matrix64, _ perm: [Int]) -> Matrix64 {
    var out = Matrix64(zeros: m.rows, m.cols)
    for (new, old) in perm.enumerated() { for j in 0..<m.cols { out[new, j] = m[old, j] } }
    return out
}

/// Labels after renumbering components by perm (perm[new] = old).
func relabel(_ labels: [Int], _ perm: [Int]) -> [Int] {
    var inverse = [Int](repeating: 0, count: perm.count)
    for (new, old) in perm.enumerated() { inverse[old] = new }
    return labels.map { $0 >= 0 ? inverse[$0] : $0 }
}
