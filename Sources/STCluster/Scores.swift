import Foundation
import STComm

/// A contingency table n_ij = #{spots with truth class i and predicted cluster j}.
///
/// Built from dense codes (truth 0..<rows, predicted 0..<cols) so that per-rank tables can be
/// summed with one allreduce (`reduced(comm:)`): the scores of N distributed labels without
/// gathering them. `init(truth:predicted:missing:)` maps arbitrary labels to codes first.
public struct ContingencyTable: Sendable, Equatable {
    /// Number of truth classes (rows) and predicted clusters (columns).
    public let rows: Int, cols: Int
    /// Counts (rows × cols, row-major).
    public var counts: [Int64]

    /// A zero table.
    public init(rows: Int, cols: Int) {
        self.rows = rows
        self.cols = cols
        counts = [Int64](repeating: 0, count: rows * cols)
    }

    /// The table of dense codes; pairs where either code is negative (missing) are left out.
    public init(truthCodes: [Int], predictedCodes: [Int], rows: Int, cols: Int) {
        precondition(truthCodes.count == predictedCodes.count, "ContingencyTable: label arrays differ in length")
        self.init(rows: rows, cols: cols)
        for (t, p) in zip(truthCodes, predictedCodes) where t >= 0 && p >= 0 {
            precondition(t < rows && p < cols, "ContingencyTable: code (\(t), \(p)) outside \(rows)×\(cols)")
            counts[t * cols + p] += 1
        }
    }

    /// The table of two labelings with arbitrary label values; spots where either label equals
    /// `missing` are left out of both. Labels are coded in ascending order of their values.
    public init(truth: [Int], predicted: [Int], missing: Int = -1) {
        precondition(truth.count == predicted.count, "ContingencyTable: label arrays differ in length")
        let keep = truth.indices.filter { truth[$0] != missing && predicted[$0] != missing }
        let tv = Array(Set(keep.map { truth[$0] })).sorted()
        let pv = Array(Set(keep.map { predicted[$0] })).sorted()
        let tc = Dictionary(uniqueKeysWithValues: tv.enumerated().map { ($1, $0) })
        let pc = Dictionary(uniqueKeysWithValues: pv.enumerated().map { ($1, $0) })
        self.init(rows: tv.count, cols: pv.count)
        for i in keep { counts[tc[truth[i]]! * cols + pc[predicted[i]]!] += 1 }
    }

    /// The sum of every rank's table (collective; all ranks must use the same shape).
    public func reduced(comm: Communicator) -> ContingencyTable {
        var t = self
        comm.allreduceSum(&t.counts)
        return t
    }

    /// Number of spots counted.
    public var total: Int64 { counts.reduce(0, +) }
    /// Row sums (truth class sizes) and column sums (cluster sizes).
    public var rowSums: [Int64] { (0..<rows).map { i in (0..<cols).reduce(Int64(0)) { $0 + counts[i * cols + $1] } } }
    public var colSums: [Int64] { (0..<cols).map { j in (0..<rows).reduce(Int64(0)) { $0 + counts[$1 * cols + j] } } }
}

/// Agreement between two labelings, as scikit-learn computes them.
public enum ClusterScores {
    /// Adjusted Rand index (Hubert & Arabie 1985), sklearn's `adjusted_rand_score`.
    ///
    /// With C(m) = m(m−1)/2, Σ_ij C(n_ij) = index, a = Σ_i C(n_i·), b = Σ_j C(n_·j), n = total:
    /// expected = a·b / C(n), max = (a + b)/2, ARI = (index − expected)/(max − expected);
    /// 1 when max == expected (both labelings trivial in the same way, as sklearn's special cases).
    public static func adjustedRandIndex(_ t: ContingencyTable) -> Double {
        func c2(_ m: Int64) -> Double { Double(m) * Double(m - 1) / 2 }
        let n = t.total
        if n < 2 { return 1 }
        let index = t.counts.reduce(0.0) { $0 + c2($1) }
        let a = t.rowSums.reduce(0.0) { $0 + c2($1) }
        let b = t.colSums.reduce(0.0) { $0 + c2($1) }
        let expected = a * b / c2(n)
        let maximum = (a + b) / 2
        if maximum == expected { return 1 }
        return (index - expected) / (maximum - expected)
    }

    /// Normalised mutual information with arithmetic-mean normalisation and natural logarithms
    /// (sklearn's `normalized_mutual_info_score` defaults): NMI = MI / ((H(truth) + H(pred)) / 2),
    /// MI = Σ_ij (n_ij/n) ln(n·n_ij / (n_i· n_·j)), H = −Σ (n_i/n) ln(n_i/n).
    /// Special cases as sklearn: both labelings a single class (or empty) → 1; MI = 0 → 0.
    public static func normalizedMutualInformation(_ t: ContingencyTable) -> Double {
        let rs = t.rowSums.filter { $0 > 0 }, cs = t.colSums.filter { $0 > 0 }
        if (rs.count == 1 && cs.count == 1) || (rs.isEmpty && cs.isEmpty) { return 1 }
        let mi = mutualInformation(t)
        if mi == 0 { return 0 }
        let h = (entropy(rs) + entropy(cs)) / 2
        return mi / max(h, Double.ulpOfOne)
    }

    /// Mutual information (nats) of a table; 0 when either labeling has one class.
    public static func mutualInformation(_ t: ContingencyTable) -> Double {
        let n = Double(t.total)
        let rs = t.rowSums, cs = t.colSums
        if rs.filter({ $0 > 0 }).count <= 1 || cs.filter({ $0 > 0 }).count <= 1 { return 0 }
        var mi = 0.0
        for i in 0..<t.rows {
            for j in 0..<t.cols {
                let nij = Double(t.counts[i * t.cols + j])
                if nij == 0 { continue }
                // Terms below machine ε are zeroed as sklearn does.
                let term = nij / n * (log(nij) + log(n) - log(Double(rs[i])) - log(Double(cs[j])))
                mi += abs(term) < Double.ulpOfOne ? 0 : term
            }
        }
        return max(mi, 0)
    }

    /// Entropy (nats) of class sizes.
    static func entropy(_ sizes: [Int64]) -> Double {
        let n = Double(sizes.reduce(0, +))
        if n == 0 { return 1 }
        return -sizes.reduce(0.0) { s, m in m == 0 ? s : s + Double(m) / n * (log(Double(m)) - log(n)) }
    }

    /// ARI of two labelings (arbitrary values), spots where either is `missing` left out.
    public static func adjustedRandIndex(_ truth: [Int], _ predicted: [Int], missing: Int = -1) -> Double {
        adjustedRandIndex(ContingencyTable(truth: truth, predicted: predicted, missing: missing))
    }

    /// NMI of two labelings (arbitrary values), spots where either is `missing` left out.
    public static func normalizedMutualInformation(_ truth: [Int], _ predicted: [Int], missing: Int = -1) -> Double {
        normalizedMutualInformation(ContingencyTable(truth: truth, predicted: predicted, missing: missing))
    }
}
