import STCore
import STComm

/// Why a clustering step refused its input or could not finish. Every case is decided from
/// global quantities (allreduced counts and sums), so every rank throws the same error.
public enum ClusteringError: Error, CustomStringConvertible, Equatable, Sendable {
    /// Fewer spots than the method needs (PCA needs 2, a K-cluster fit needs K).
    case tooFewSpots(spots: Int, needed: Int, what: String)
    /// More principal components requested than A·W can have.
    case tooManyComponents(requested: Int, maximum: Int, spots: Int, features: Int, width: Int)
    /// Shapes that do not fit together.
    case shapeMismatch(String)
    /// A setting outside its range (name, value, what was expected).
    case badSetting(name: String, value: String, expected: String)
    /// Fewer distinct points than clusters: k-means++ cannot place every centre.
    case tooFewDistinctPoints(clusters: Int)
    /// Every restart of the mixture fit failed (singular covariance or an emptied component).
    case allRestartsFailed([String])
    /// LAPACK's symmetric eigensolver did not converge (non-finite input).
    case eigensolverFailed(String)

    public var description: String {
        switch self {
        case let .tooFewSpots(n, needed, what):
            return "\(what) needs at least \(needed) spots, got \(n)"
        case let .tooManyComponents(k, m, n, g, d):
            return "PCA: \(k) components requested, but A·W (\(n) spots, \(g) features, through a width of \(d)) has at most \(m)"
        case let .shapeMismatch(s):
            return s
        case let .badSetting(name, value, expected):
            return "\(name) is \(value); expected \(expected)"
        case let .tooFewDistinctPoints(k):
            return "k-means++: fewer than \(k) distinct points, cannot place \(k) centres"
        case let .allRestartsFailed(reasons):
            return "Gaussian mixture: every restart failed (" + reasons.joined(separator: "; ") + ")"
        case let .eigensolverFailed(s):
            return "eigensolver failed on \(s) (non-finite values?)"
        }
    }
}

/// Principal components of the rows of A·W, as scikit-learn's `PCA` computes them, without ever
/// forming A·W.
///
/// Shapes: A is this rank's n×d rows (N over all ranks), W is d×G (or the identity, G = d).
/// In the pipeline A = Y = ÂZ and W = W2, so A·W = H, GraphST's N×G reconstruction
/// (DESIGN.md §2 "PCA of H without H"); with W = nil it is the PCA of Z itself.
///
/// Method (all float64, O(n·d² + d²·G) per rank, one allreduce of d and one of d×d values):
/// ```
/// ā = mean of the rows of A            (the column means of A·W are ā·W)
/// C = (A − ā)ᵀ(A − ā)                   d×d, allreduced per-rank sums of centred float64 blocks
/// C = F Fᵀ,  F = Q Λ^½                  from C = Q Λ Qᵀ (dsyev; handles rank-deficient C)
/// M = W Wᵀ                              d×d (I when W = nil)
/// T = Fᵀ M F = U Σ² Uᵀ                  d×d; Σ² are the non-zero eigenvalues of (AW)_cᵀ(AW)_c
/// V = Wᵀ F U Σ⁻¹                        G×k principal axes (orthonormal; never needed in full)
/// scores = (A − ā) W V = (A − ā) · P,   P = M F U_k Σ_k⁻¹ (d×k, computed once)
/// explained variance = Σ²/(N − 1),  ratio = Σ² / tr(C M)   (tr(C M) = ‖(AW)_c‖²_F)
/// ```
/// **Signs** follow scikit-learn ≥ 1.5 (`svd_flip(u_based_decision=False)`): each principal axis
/// (column of V, row of `components_`) is negated if needed so that its entry of largest absolute
/// value (the first such entry on exact ties) is positive. The axis is Wᵀ·(F U_j/σ_j), O(d·G).
///
/// **Component count.** At most min(N, G, d) components exist; asking for more throws
/// `ClusteringError.tooManyComponents`. Components whose variance is numerically zero
/// (σ_j² ≤ 1e-12·σ_1², i.e. beyond the numerical rank of A·W, e.g. when rank(W) < k) have no
/// defined axis and are *dropped*: `components < requestedComponents` then, and callers see it.
public struct PCAResult: Sendable {
    /// Scores of this rank's rows (n × k, float64): the input of the Gaussian mixture, which
    /// works in float64; N×20 doubles is small next to the N×d float32 activations.
    public var scores: Matrix64
    /// Variance along each axis, Σ²/(N − 1), descending (k).
    public var explainedVariance: [Double]
    /// explainedVariance / total variance (k).
    public var explainedVarianceRatio: [Double]
    /// Singular values of the centred A·W (k).
    public var singularValues: [Double]
    /// Total variance tr(Cov(A·W)) = tr(C M)/(N − 1).
    public var totalVariance: Double
    /// Column means of A (d); the mean of A·W is mean·W.
    public var mean: [Double]
    /// P (d × k): scores = (A − mean)·P for any rows of A.
    public var projection: Matrix64
    /// Φ = F U_k Σ_k⁻¹ (d × k), sign-corrected: the principal axes are V = Wᵀ Φ (G × k).
    public var axisFactor: Matrix64
    /// Components asked for.
    public var requestedComponents: Int
    /// Number of spots N over all ranks.
    public var samples: Int
    /// Components returned (≤ requested; fewer only beyond the numerical rank).
    public var components: Int { explainedVariance.count }
}

public enum PCA {
    /// Relative threshold below which σ_j² counts as zero (see `PCAResult`).
    public static let rankTolerance = 1e-12

    /// Rows per centred float64 block in the Gram and score passes.
    static let block = 512

    /// PCA of the rows of A·W (collective; see `PCAResult` for the method and conventions).
    ///
    /// - Parameters:
    ///   - a: this rank's n×d rows of A (n may be 0 on some ranks).
    ///   - w: W (d×G), or nil for the identity (PCA of A itself).
    ///   - k: number of components, 1 ≤ k ≤ min(N, G, d).
    /// - Throws: `ClusteringError` (the same on every rank).
    public static func fit(rows a: Matrix, projection w: Matrix?, components k: Int, comm: Communicator) throws -> PCAResult {
        let n = a.rows, d = a.cols
        if let w, w.rows != d {
            throw ClusteringError.shapeMismatch("PCA: rows have width \(d) but W is \(w.rows)×\(w.cols)")
        }
        let g = w?.cols ?? d
        let N = comm.sum(n)
        guard N >= 2 else { throw ClusteringError.tooFewSpots(spots: N, needed: 2, what: "PCA") }
        let maxK = min(N, g, d)
        guard k >= 1 && k <= maxK else {
            throw ClusteringError.tooManyComponents(requested: k, maximum: maxK, spots: N, features: g, width: d)
        }

        // Mean of A (float64 sums in row order, then allreduce).
        var mean = [Double](repeating: 0, count: d)
        a.data.withUnsafeBufferPointer { ab in
            for i in 0..<n { for j in 0..<d { mean[j] += Double(ab[i * d + j]) } }
        }
        comm.allreduceSum(&mean)
        for j in 0..<d { mean[j] /= Double(N) }

        // C = (A − ā)ᵀ(A − ā): centred float64 blocks, so no cancellation against N·āāᵀ.
        var c = [Double](repeating: 0, count: d * d)
        forCentredBlocks(a, mean: mean) { blk, rows in
            BLAS.dgemm(transA: true, m: d, n: d, k: rows, a: blk, lda: d, b: blk, ldb: d, beta: 1, c: &c, ldc: d)
        }
        comm.allreduceSum(&c)
        c = DenseAlgebra.symmetrised(c, n: d)

        // M = W Wᵀ in float64 (identity without W).
        var m = [Double](repeating: 0, count: d * d)
        var wd = [Double]()
        if let w {
            wd = w.data.map(Double.init)
            BLAS.dgemm(transB: true, m: d, n: d, k: g, a: wd, lda: g, b: wd, ldb: g, c: &m, ldc: d)
            m = DenseAlgebra.symmetrised(m, n: d)
        } else {
            for i in 0..<d { m[i * d + i] = 1 }
        }

        // C = F Fᵀ with F = Q Λ^½ (eigenvalues clipped at 0: C is PSD up to rounding).
        guard let (lambda, q) = DenseAlgebra.symmetricEigen(c, n: d) else {
            throw ClusteringError.eigensolverFailed("the d×d scatter of the PCA input")
        }
        var f = q
        for j in 0..<d {
            let s = max(lambda[j], 0).squareRoot()
            for i in 0..<d { f[i * d + j] *= s }
        }
        // T = Fᵀ M F.
        var mf = [Double](repeating: 0, count: d * d)
        BLAS.dgemm(m: d, n: d, k: d, a: m, lda: d, b: f, ldb: d, c: &mf, ldc: d)
        var t = [Double](repeating: 0, count: d * d)
        BLAS.dgemm(transA: true, m: d, n: d, k: d, a: f, lda: d, b: mf, ldb: d, c: &t, ldc: d)
        t = DenseAlgebra.symmetrised(t, n: d)
        guard let (sigma2All, u) = DenseAlgebra.symmetricEigen(t, n: d) else {
            throw ClusteringError.eigensolverFailed("the d×d projected scatter of the PCA input")
        }

        // Total variance tr(C M) (both symmetric: the sum of their elementwise product).
        var trace = 0.0
        for i in 0..<(d * d) { trace += c[i] * m[i] }

        // Numerical rank: components with σ² ≤ tol·σ₁² have no defined axis.
        let top = max(sigma2All[0], 0)
        var kk = 0
        while kk < k && top > 0 && sigma2All[kk] > rankTolerance * top { kk += 1 }
        let sigma2 = Array(sigma2All[0..<kk])

        // Φ = F U_k Σ_k⁻¹ (d × kk).
        var phi = [Double](repeating: 0, count: d * kk)
        if kk > 0 {
            var uk = [Double](repeating: 0, count: d * kk)
            for i in 0..<d { for j in 0..<kk { uk[i * kk + j] = u[i * d + j] / sigma2[j].squareRoot() } }
            BLAS.dgemm(m: d, n: kk, k: d, a: f, lda: d, b: uk, ldb: kk, c: &phi, ldc: kk)
        }
        // Sign: the largest-|·| entry of each axis V_j = Wᵀ Φ_j positive (first on exact ties).
        var axes = phi
        if w != nil && kk > 0 {
            axes = [Double](repeating: 0, count: g * kk)
            BLAS.dgemm(transA: true, m: g, n: kk, k: d, a: wd, lda: g, b: phi, ldb: kk, c: &axes, ldc: kk)
        }
        for j in 0..<kk {
            var best = 0.0, sign = 1.0
            for r in 0..<g {
                let v = axes[r * kk + j]
                if abs(v) > best { best = abs(v); sign = v < 0 ? -1 : 1 }
            }
            if sign < 0 { for i in 0..<d { phi[i * kk + j] = -phi[i * kk + j] } }
        }
        // P = M Φ.
        var p = [Double](repeating: 0, count: d * kk)
        if kk > 0 { BLAS.dgemm(m: d, n: kk, k: d, a: m, lda: d, b: phi, ldb: kk, c: &p, ldc: kk) }

        let scores = project(a, mean: mean, projection: Matrix64(rows: d, cols: kk, data: p))
        let dof = Double(N - 1)
        return PCAResult(scores: scores,
                         explainedVariance: sigma2.map { $0 / dof },
                         explainedVarianceRatio: sigma2.map { trace > 0 ? $0 / trace : 0 },
                         singularValues: sigma2.map { $0.squareRoot() },
                         totalVariance: trace / dof,
                         mean: mean,
                         projection: Matrix64(rows: d, cols: kk, data: p),
                         axisFactor: Matrix64(rows: d, cols: kk, data: phi),
                         requestedComponents: k,
                         samples: N)
    }

    /// Scores (A − mean)·P of rows A (n×d) for a fitted projection P (d×k): n×k float64.
    public static func project(_ a: Matrix, mean: [Double], projection p: Matrix64) -> Matrix64 {
        let d = a.cols, k = p.cols
        precondition(mean.count == d && p.rows == d, "PCA.project: width \(d), mean \(mean.count), P \(p.rows)×\(p.cols)")
        var out = Matrix64(zeros: a.rows, k)
        if k == 0 { return out }
        out.data.withUnsafeMutableBufferPointer { ob in
            forCentredBlocks(a, mean: mean) { blk, rows, start in
                BLAS.dgemm(m: rows, n: k, k: d, a: blk, lda: d, b: p.data, ldb: k, c: ob.baseAddress! + start * k, ldc: k)
            }
        }
        return out
    }

    /// The principal axes V = Wᵀ Φ as scikit-learn's `components_` (k × G, float64), or Φᵀ
    /// (k × d) without W. O(d·G·k); for inspection and tests, the pipeline never needs them.
    public static func components(of r: PCAResult, projection w: Matrix?) -> Matrix64 {
        let d = r.axisFactor.rows, k = r.components
        guard let w else {
            var out = Matrix64(zeros: k, d)
            for i in 0..<d { for j in 0..<k { out[j, i] = r.axisFactor[i, j] } }
            return out
        }
        let g = w.cols
        let wd = w.data.map(Double.init)
        var out = Matrix64(zeros: k, g)
        if k > 0 {
            BLAS.dgemm(transA: true, m: k, n: g, k: d, a: r.axisFactor.data, lda: k, b: wd, ldb: g, c: &out.data, ldc: g)
        }
        return out
    }

    /// Calls body(block, rows) for consecutive blocks of A's rows converted to float64 and centred.
    static func forCentredBlocks(_ a: Matrix, mean: [Double], _ body: (UnsafePointer<Double>, Int) -> Void) {
        forCentredBlocks(a, mean: mean) { blk, rows, _ in body(blk, rows) }
    }

    /// As above, with the first row index of each block.
    static func forCentredBlocks(_ a: Matrix, mean: [Double], _ body: (UnsafePointer<Double>, Int, Int) -> Void) {
        let n = a.rows, d = a.cols
        var buf = [Double](repeating: 0, count: min(block, max(n, 1)) * d)
        a.data.withUnsafeBufferPointer { ab in
            buf.withUnsafeMutableBufferPointer { bb in
                var r0 = 0
                while r0 < n {
                    let rows = min(block, n - r0)
                    for i in 0..<rows {
                        for j in 0..<d { bb[i * d + j] = Double(ab[(r0 + i) * d + j]) - mean[j] }
                    }
                    body(bb.baseAddress!, rows, r0)
                    r0 += rows
                }
            }
        }
    }
}
