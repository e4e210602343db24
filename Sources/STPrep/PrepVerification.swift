import Foundation
import STComm
import STCore

/// What a `prep` reference fixture records (scanpy 1.11 run by `make_reference.py prep`).
public struct PrepReference: Sendable {
    /// Raw counts, spots × all genes.
    public var counts: CSRMatrix
    /// scanpy's `var["means"]`, `var["variances"]`, `var["variances_norm"]` (G each).
    public var means: [Double]
    public var variances: [Double]
    public var variancesNorm: [Double]
    /// scanpy's `highly_variable_rank` with NaN stored as −1 (G).
    public var highlyVariableRank: [Double]
    /// scanpy's `highly_variable` (G).
    public var highlyVariable: [Bool]
    /// The preprocessed HVG matrix (spots × HVGs, HVG columns in gene order).
    public var X: CSRMatrix
    /// `n_top_genes`, `target_sum` and `max_value` the fixture was made with.
    public var nTopGenes: Int
    public var targetSum: Double
    public var maxValue: Double

    public init(counts: CSRMatrix, means: [Double], variances: [Double], variancesNorm: [Double],
                highlyVariableRank: [Double], highlyVariable: [Bool], X: CSRMatrix, nTopGenes: Int,
                targetSum: Double = 1e4, maxValue: Double = 10) {
        self.counts = counts
        self.means = means
        self.variances = variances
        self.variancesNorm = variancesNorm
        self.highlyVariableRank = highlyVariableRank
        self.highlyVariable = highlyVariable
        self.X = X
        self.nTopGenes = nTopGenes
        self.targetSum = targetSum
        self.maxValue = maxValue
    }
}

/// One compared quantity: its error, the tolerance from the fixture README and the verdict.
public struct PrepCheck: Sendable, CustomStringConvertible {
    /// Name of the quantity (fixture field).
    public var name: String
    /// The error measure (max relative error unless `unit` says otherwise).
    public var error: Double
    /// The tolerance the error must not exceed (nil: reported only).
    public var tolerance: Double?
    /// What `error` measures.
    public var unit: String
    /// Extra context (counts, worst element).
    public var detail: String

    public var passed: Bool { tolerance.map { error <= $0 } ?? true }

    public var description: String {
        let tol = tolerance.map { " (tolerance \(fmt($0)))" } ?? ""
        let verdict = tolerance == nil ? "info" : (passed ? "ok" : "FAIL")
        return "\(name): \(unit) \(fmt(error))\(tol) \(verdict)\(detail.isEmpty ? "" : "; " + detail)"
    }
}

/// The comparison of our preprocessing with a `prep` fixture.
public struct PrepVerificationReport: Sendable, CustomStringConvertible {
    public var checks: [PrepCheck]
    public var passed: Bool { checks.allSatisfy(\.passed) }
    public var description: String { checks.map(\.description).joined(separator: "\n") }
}

/// Comparison of `preprocess` with scanpy's output recorded in a `prep` fixture.
///
/// Errors are elementwise relative, max over elements of |ours − ref| / |ref| (elements with
/// ref = 0 compare absolutely). Tolerances are the fixture README's: means and variances 1e-5,
/// variances_norm 2e-2, at least nTop − nTop/300 (2990 of 3000) selected genes shared, and the
/// preprocessed values of genes selected by both within 1e-5 (stored entries must coincide).
public enum PrepVerification {
    /// Runs `preprocess` on the fixture's counts (all spots on this process) with the fixture's
    /// parameters and compares. `hvg.nTopGenes` is replaced by the fixture's.
    public static func run(_ reference: PrepReference, hvg: HVGOptions = HVGOptions(),
                           comm: Communicator = SingleProcessCommunicator()) throws -> PrepVerificationReport {
        var options = hvg
        options.nTopGenes = reference.nTopGenes
        let result = try preprocess(counts: reference.counts, hvg: options,
                                    normalisation: NormalisationOptions(targetSum: reference.targetSum,
                                                                        maxValue: reference.maxValue),
                                    comm: comm)
        return compare(result, with: reference)
    }

    /// Compares a (whole-slide) preprocessing result with the reference.
    public static func compare(_ result: PreprocessResult, with ref: PrepReference) -> PrepVerificationReport {
        var checks: [PrepCheck] = []
        let s = result.stats
        checks.append(vectorCheck("hvg/means", s.means, ref.means, tolerance: 1e-5))
        checks.append(vectorCheck("hvg/variances", s.variances, ref.variances, tolerance: 1e-5))
        checks.append(vectorCheck("hvg/variances_norm", s.variancesNorm, ref.variancesNorm, tolerance: 2e-2))

        // Ranks: how many ranked genes got a different rank (informational).
        var rankDiffs = 0, ranked = 0
        for j in 0..<min(s.rank.count, ref.highlyVariableRank.count) {
            let r = ref.highlyVariableRank[j] < 0 ? -1 : Int(ref.highlyVariableRank[j])
            if r >= 0 || s.rank[j] >= 0 { ranked += 1; if r != s.rank[j] { rankDiffs += 1 } }
        }
        checks.append(PrepCheck(name: "hvg/highly_variable_rank", error: Double(rankDiffs), tolerance: nil,
                                unit: "genes ranked differently", detail: "\(ranked) genes ranked by either"))

        // Selection overlap.
        let refSel = (0..<ref.highlyVariable.count).filter { ref.highlyVariable[$0] }
        let ourSet = Set(result.selectedGenes)
        let shared = refSel.filter { ourSet.contains($0) }
        let nTop = max(refSel.count, result.selectedGenes.count)
        let allowed = Double(nTop / 300)
        checks.append(PrepCheck(name: "hvg/highly_variable", error: Double(nTop - shared.count), tolerance: allowed,
                                unit: "genes not selected by both",
                                detail: "\(shared.count) shared of \(refSel.count) (ours \(result.selectedGenes.count))"))

        // Preprocessed values of the genes selected by both.
        checks.append(matrixCheck(result: result, refSelected: refSel, refX: ref.X, shared: shared))
        return PrepVerificationReport(checks: checks)
    }

    static func vectorCheck(_ name: String, _ ours: [Double], _ ref: [Double], tolerance: Double) -> PrepCheck {
        guard ours.count == ref.count else {
            return PrepCheck(name: name, error: .infinity, tolerance: tolerance, unit: "max rel error",
                             detail: "length \(ours.count), reference \(ref.count)")
        }
        var worst = 0.0, at = -1
        for j in 0..<ref.count {
            let e = relErr(ours[j], ref[j])
            if !(e <= worst) { worst = e; at = j }
        }
        let detail = at >= 0 ? "worst at gene \(at): \(ours[at]) vs \(ref[at])" : ""
        return PrepCheck(name: name, error: worst, tolerance: tolerance, unit: "max rel error", detail: detail)
    }

    static func relErr(_ a: Double, _ b: Double) -> Double {
        if a == b { return 0 }
        if a.isNaN || b.isNaN { return .infinity }
        return b == 0 ? abs(a) : abs(a - b) / abs(b)
    }

    static func matrixCheck(result: PreprocessResult, refSelected: [Int], refX: CSRMatrix, shared: [Int]) -> PrepCheck {
        let name = "X"
        let X = result.X.wideMatrix
        guard refX.rows == X.rows, refX.cols == refSelected.count else {
            return PrepCheck(name: name, error: .infinity, tolerance: 1e-5, unit: "max rel error",
                             detail: "shape \(X.rows)×\(X.cols), reference \(refX.rows)×\(refX.cols) with \(refSelected.count) HVGs")
        }
        // Column of each shared gene in ours and in the reference.
        var ourCol = [Int32](repeating: -1, count: (result.selectedGenes.last ?? 0) + 1)
        for (c, g) in result.selectedGenes.enumerated() { ourCol[g] = Int32(c) }
        var refToOurs = [Int32](repeating: -1, count: refSelected.count)
        for (c, g) in refSelected.enumerated() where g < ourCol.count { refToOurs[c] = ourCol[g] }
        var worst = 0.0, compared = 0, mismatched = 0
        var worstAt = (-1, -1)
        var dense = [Float](repeating: 0, count: X.cols)
        var present = [Bool](repeating: false, count: X.cols)
        for r in 0..<refX.rows {
            for p in X.indptr[r]..<X.indptr[r + 1] {
                let c = Int(X.indices[p]); dense[c] = X.values[p]; present[c] = true
            }
            var seen = 0
            for p in refX.indptr[r]..<refX.indptr[r + 1] {
                let oc = refToOurs[Int(refX.indices[p])]
                if oc < 0 { continue }
                let v = Double(refX.values[p])
                if !present[Int(oc)] { mismatched += 1; continue }
                seen += 1
                compared += 1
                let e = relErr(Double(dense[Int(oc)]), v)
                if !(e <= worst) { worst = e; worstAt = (r, refSelected[Int(refX.indices[p])]) }
            }
            // Entries we store for shared genes that the reference does not.
            var oursShared = 0
            for p in X.indptr[r]..<X.indptr[r + 1] {
                let g = result.selectedGenes[Int(X.indices[p])]
                if refSelected.binarySearchContains(g) { oursShared += 1 }
            }
            mismatched += oursShared - seen
            for p in X.indptr[r]..<X.indptr[r + 1] {
                let c = Int(X.indices[p]); dense[c] = 0; present[c] = false
            }
        }
        if mismatched > 0 { worst = .infinity }
        return PrepCheck(name: name, error: worst, tolerance: 1e-5, unit: "max rel error",
                         detail: "\(compared) stored values of \(shared.count) shared genes compared, \(mismatched) sparsity mismatches"
                            + (worstAt.0 >= 0 ? ", worst at spot \(worstAt.0) gene \(worstAt.1)" : ""))
    }
}

extension Array where Element == Int {
    /// Membership in a sorted array.
    fileprivate func binarySearchContains(_ x: Int) -> Bool {
        var lo = 0, hi = count
        while lo < hi { let m = (lo + hi) / 2; if self[m] < x { lo = m + 1 } else { hi = m } }
        return lo < count && self[lo] == x
    }
}

/// Compact number formatting for reports ("1.23e-07", "0.0123").
fileprivate func fmt(_ x: Double) -> String {
    if x == 0 { return "0" }
    if !x.isFinite { return "\(x)" }
    return String(format: "%.3g", x)
}
