import Foundation
import STCore
import STComm

/// Parameters of a Gaussian mixture whose components share one full covariance (mclust "EEE").
///
/// Density: f(x) = Σ_k π_k φ(x; μ_k, Σ), x ∈ ℝᵖ, K components.
public struct MixtureModel: Codable, Sendable, Equatable {
    /// Number of components K.
    public var clusters: Int
    /// Dimension p.
    public var dimension: Int
    /// Mixing proportions π (K, sum 1).
    public var proportions: [Double]
    /// Means μ (K × p, row-major).
    public var means: [Double]
    /// The shared covariance Σ (p × p, row-major, symmetric).
    public var covariance: [Double]

    public init(proportions: [Double], means: [Double], covariance: [Double]) {
        let k = proportions.count
        let p = Int(Double(covariance.count).squareRoot().rounded())
        precondition(p * p == covariance.count && means.count == k * p, "MixtureModel: inconsistent shapes")
        self.clusters = k
        self.dimension = p
        self.proportions = proportions
        self.means = means
        self.covariance = covariance
    }

    /// mclust's number of free parameters of EEE: (K − 1) + K·p + p(p + 1)/2.
    public var parameterCount: Int { GaussianMixture.parameterCount(clusters: clusters, dimension: dimension) }
}

/// One EM run from a given partition.
public struct EMRun: Sendable {
    /// Final parameters (the ones `loglik` and `labels` belong to), component order as started.
    public var model: MixtureModel
    /// Most probable component of each of this rank's rows (ties to the lower index).
    public var labels: [Int]
    /// log-likelihood of `model` on all spots.
    public var loglik: Double
    /// EM iterations (M-step + E-step pairs).
    public var iterations: Int
    /// Whether the relative change of the log-likelihood fell below the tolerance.
    public var converged: Bool
    /// log-likelihood after each iteration.
    public var trace: [Double]
    /// Why the run stopped early (singular covariance, emptied component, non-finite values), or nil.
    public var failure: String?
}

/// Settings of `GaussianMixture.fit`.
public struct MixtureOptions: Codable, Sendable, Equatable {
    /// Independent k-means++ → k-means → EM runs; the best log-likelihood is kept.
    public var restarts: Int = 10
    /// Seed of every restart's k-means++ draws.
    public var seed: UInt64 = 2020
    /// Cap on EM iterations per restart (mclust's default itmax is effectively unbounded).
    public var maxIterations: Int = 1000
    /// EM stops when |ℓ − ℓ_prev| / (1 + |ℓ|) < tolerance (mclust's tol[1], 1e-5).
    public var tolerance: Double = 1e-5
    /// Cap on Lloyd iterations of the initialising k-means.
    public var kmeansIterations: Int = 300

    public init(restarts: Int = 10, seed: UInt64 = 2020, maxIterations: Int = 1000, tolerance: Double = 1e-5,
                kmeansIterations: Int = 300) {
        self.restarts = restarts
        self.seed = seed
        self.maxIterations = maxIterations
        self.tolerance = tolerance
        self.kmeansIterations = kmeansIterations
    }
}

/// The chosen mixture of several restarts.
public struct MixtureFit: Sendable {
    /// Parameters, components in canonical order (ascending mean of the first coordinate, ties by
    /// the next coordinates).
    public var model: MixtureModel
    /// Component 0..<K of each of this rank's rows.
    public var labels: [Int]
    /// log-likelihood on all spots.
    public var loglik: Double
    /// mclust's BIC, 2ℓ − npar·ln N (larger is better).
    public var bic: Double
    /// EM iterations of the chosen restart.
    public var iterations: Int
    /// Whether the chosen restart converged (else it hit `maxIterations`).
    public var converged: Bool
    /// Index of the chosen restart.
    public var bestRestart: Int
    /// Final log-likelihood of every restart (nil where it failed), in restart order.
    public var restartLogliks: [Double?]
    /// Why each failed restart failed (nil where it succeeded).
    public var restartFailures: [String?]
    /// log-likelihood per EM iteration of the chosen restart.
    public var trace: [Double]
}

/// Gaussian mixture with one shared full covariance (mclust model EEE) by EM over rows
/// distributed across ranks (collective; the same result on every rank).
///
/// E-step, with Σ = L Lᵀ (Cholesky): whiten every row and mean once per iteration, yᵢ = L⁻¹xᵢ,
/// m_k = L⁻¹μ_k, so each Mahalanobis distance ‖yᵢ − m_k‖² costs O(p):
/// ```
/// log p_ik = ln π_k − ½ p ln 2π − Σ_j ln L_jj − ½ ‖yᵢ − m_k‖²
/// ℓ = Σᵢ logsumexp_k(log p_ik),   r_ik = exp(log p_ik − logsumexp_k log p_ik)
/// ```
/// M-step (mclust's `mstepEEE` without prior): n_k = Σᵢ r_ik and Σᵢ r_ik xᵢ in one allreduce,
/// μ_k = Σᵢ r_ik xᵢ / n_k, π_k = n_k / N; then, in a second pass for accuracy,
/// W = Σ_k Σᵢ r_ik (xᵢ − μ_k)(xᵢ − μ_k)ᵀ (float64 Gram of √r_ik-weighted centred blocks) allreduced,
/// Σ = W / N.
/// Stopping as mclust's Fortran: |ℓ − ℓ_prev| / (1 + |ℓ|) < tol, or the iteration cap.
/// Failures (reported, never a crash): Σ not positive definite or (min L_jj / max L_jj)² < ε
/// (mclust's singularity test on the Cholesky factor, eps = machine ε), a component with
/// n_k ≤ N·ε, a non-finite log-likelihood.
/// Initialisation (not mclust's O(N²) hierarchical agglomeration): each restart runs k-means++
/// seeding + Lloyd (`KMeans`), then EM from that hard partition.
public enum GaussianMixture {
    /// mclust's EEE parameter count: (K − 1) + K·p + p(p + 1)/2.
    public static func parameterCount(clusters k: Int, dimension p: Int) -> Int {
        (k - 1) + k * p + p * (p + 1) / 2
    }

    /// mclust's BIC = 2ℓ − npar·ln N (larger is better).
    public static func bic(loglik: Double, clusters k: Int, dimension p: Int, spots n: Int) -> Double {
        2 * loglik - Double(parameterCount(clusters: k, dimension: p)) * log(Double(n))
    }

    /// Best of `options.restarts` k-means-initialised EM runs by log-likelihood (collective).
    ///
    /// - Parameters:
    ///   - x: this rank's n×p rows; `globalIndex[i]` is row i's spot index (distinct over ranks),
    ///     which fixes the k-means++ draws independently of the distribution.
    /// - Throws: `ClusteringError` for bad input or when every restart fails.
    public static func fit(rows x: Matrix64, globalIndex: [Int], clusters k: Int, options: MixtureOptions = .init(),
                           comm: Communicator) throws -> MixtureFit {
        try KMeans.checkInput(x, globalIndex: globalIndex, clusters: k, comm: comm)
        guard options.restarts >= 1 else {
            throw ClusteringError.badSetting(name: "restarts", value: "\(options.restarts)", expected: "≥ 1")
        }
        guard options.tolerance > 0, options.maxIterations >= 1 else {
            throw ClusteringError.badSetting(name: "EM tolerance / maxIterations",
                                             value: "\(options.tolerance) / \(options.maxIterations)", expected: "> 0 / ≥ 1")
        }
        let N = comm.sum(x.rows)
        var best: (run: EMRun, restart: Int)?
        var logliks = [Double?](), failures = [String?]()
        for r in 0..<options.restarts {
            let seeds = try KMeans.seedPlusPlus(rows: x, globalIndex: globalIndex, clusters: k, seed: options.seed,
                                                restart: r, comm: comm)
            let km = KMeans.lloyd(rows: x, centres: seeds, globalIndex: globalIndex,
                                  maxIterations: options.kmeansIterations, comm: comm)
            let run = em(rows: x, initialLabels: km.labels, clusters: k, maxIterations: options.maxIterations,
                         tolerance: options.tolerance, comm: comm)
            if let why = run.failure {
                logliks.append(nil); failures.append("restart \(r): \(why)")
                continue
            }
            logliks.append(run.loglik); failures.append(nil)
            // Near-equal logliks (the same optimum up to summation order) keep the earlier
            // restart, so the choice does not flip with the number of ranks.
            if best == nil || run.loglik > best!.run.loglik + 1e-9 * abs(best!.run.loglik) { best = (run, r) }
        }
        guard let (run, r) = best else { throw ClusteringError.allRestartsFailed(failures.compactMap { $0 }) }
        let p = x.cols
        let means = Matrix64(rows: k, cols: p, data: run.model.means)
        let perm = canonicalOrder(means)
        let model = MixtureModel(proportions: perm.map { run.model.proportions[$0] },
                                 means: permutedRows(means, perm).data, covariance: run.model.covariance)
        return MixtureFit(model: model, labels: relabel(run.labels, perm), loglik: run.loglik,
                          bic: bic(loglik: run.loglik, clusters: k, dimension: p, spots: N),
                          iterations: run.iterations, converged: run.converged, bestRestart: r,
                          restartLogliks: logliks, restartFailures: failures, trace: run.trace)
    }

    /// EM from a hard partition (labels 0..<K of this rank's rows): M-step, then E-step, repeated
    /// until converged, failed or `maxIterations` (collective).
    public static func em(rows x: Matrix64, initialLabels: [Int], clusters k: Int, maxIterations: Int = 1000,
                          tolerance: Double = 1e-5, comm: Communicator) -> EMRun {
        let n = x.rows, p = x.cols
        precondition(initialLabels.count == n, "GaussianMixture.em: one label per row")
        let N = comm.sum(n)
        var z = [Double](repeating: 0, count: n * k)
        for i in 0..<n {
            precondition(initialLabels[i] >= 0 && initialLabels[i] < k, "GaussianMixture.em: label outside 0..<K")
            z[i * k + initialLabels[i]] = 1
        }
        var work = EStepWork(n: n, p: p, k: k)
        var trace = [Double]()
        var model: MixtureModel?
        var labels = initialLabels
        var converged = false
        var failure: String?
        var iterations = 0
        while iterations < maxIterations {
            let m: MixtureModel
            switch mStep(rows: x, responsibilities: z, clusters: k, spots: N, comm: comm) {
            case .failure(let why): failure = "\(why) at EM iteration \(iterations + 1)"
            case .success(let fitted): m = fitted
                iterations += 1
                switch eStep(model: m, rows: x, work: &work, responsibilities: &z, labels: &labels, comm: comm) {
                case .failure(let why): failure = "\(why) at EM iteration \(iterations)"
                case .success(let ll):
                    model = m
                    let prev = trace.last
                    trace.append(ll)
                    if let prev, abs(ll - prev) / (1 + abs(ll)) < tolerance { converged = true }
                }
            }
            if failure != nil || converged { break }
        }
        let fallback = MixtureModel(proportions: [Double](repeating: 1 / Double(k), count: k),
                                    means: [Double](repeating: 0, count: k * p), covariance: [Double](repeating: 0, count: p * p))
        return EMRun(model: model ?? fallback, labels: labels, loglik: trace.last ?? -.infinity,
                     iterations: iterations, converged: converged, trace: trace, failure: failure)
    }

    /// The log-likelihood of `model` on all spots (collective), or nil when Σ is singular.
    public static func logLikelihood(_ model: MixtureModel, rows x: Matrix64, comm: Communicator) -> Double? {
        var work = EStepWork(n: x.rows, p: x.cols, k: model.clusters)
        var z = [Double](repeating: 0, count: x.rows * model.clusters)
        var labels = [Int](repeating: 0, count: x.rows)
        if case .success(let ll) = eStep(model: model, rows: x, work: &work, responsibilities: &z, labels: &labels, comm: comm) {
            return ll
        }
        return nil
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// Scratch of the E-step, reused across iterations.
    struct EStepWork {
        var y: [Double]
        var logp: [Double]
        init(n: Int, p: Int, k: Int) {
            y = [Double](repeating: 0, count: n * p)
            logp = [Double](repeating: 0, count: k)
        }
    }

    /// The lower Cholesky factor of Σ, or a failure when Σ is (numerically) singular.
    static func choleskyFactor(_ sigma: [Double], p: Int) -> Result<[Double], Failure> {
        guard let l = DenseAlgebra.cholesky(sigma, n: p) else {
            return .failure(Failure(description: "covariance not positive definite"))
        }
        var lo = Double.infinity, hi = 0.0
        for j in 0..<p { lo = min(lo, abs(l[j * p + j])); hi = max(hi, abs(l[j * p + j])) }
        if p > 0 && !((lo / hi) * (lo / hi) >= Double.ulpOfOne) {
            return .failure(Failure(description: String(format: "covariance singular (Cholesky diagonal ratio² %.1e < machine ε)", (lo / hi) * (lo / hi))))
        }
        return .success(l)
    }

    /// E-step: responsibilities, labels (argmax) and the log-likelihood (allreduced).
    static func eStep(model: MixtureModel, rows x: Matrix64, work: inout EStepWork, responsibilities z: inout [Double],
                      labels: inout [Int], comm: Communicator) -> Result<Double, Failure> {
        let n = x.rows, p = x.cols, k = model.clusters
        // Every rank holds the same Σ, so every rank takes the same branch.
        let l: [Double]
        switch choleskyFactor(model.covariance, p: p) {
        case .success(let factor): l = factor
        case .failure(let f): return .failure(f)
        }
        var logDet = 0.0
        for j in 0..<p { logDet += log(l[j * p + j]) }
        let constant = -0.5 * Double(p) * log(2 * Double.pi) - logDet
        var m = model.means
        m.withUnsafeMutableBufferPointer { DenseAlgebra.whitenRows($0.baseAddress!, rows: k, width: p, lower: l) }
        let logPi = model.proportions.map { $0 > 0 ? log($0) : -Double.infinity }
        var total = 0.0
        work.y.withUnsafeMutableBufferPointer { yb in
            x.data.withUnsafeBufferPointer { xb in
                if n > 0 { yb.baseAddress!.update(from: xb.baseAddress!, count: n * p) }
            }
            DenseAlgebra.whitenRows(yb.baseAddress!, rows: n, width: p, lower: l)
            work.logp.withUnsafeMutableBufferPointer { lp in
                m.withUnsafeBufferPointer { mb in
                    z.withUnsafeMutableBufferPointer { zb in
                        for i in 0..<n {
                            let yi = yb.baseAddress! + i * p
                            var top = -Double.infinity, arg = 0
                            for c in 0..<k {
                                let mc = mb.baseAddress! + c * p
                                var d = 0.0
                                for j in 0..<p { let t = yi[j] - mc[j]; d += t * t }
                                let v = logPi[c] + constant - 0.5 * d
                                lp[c] = v
                                if v > top { top = v; arg = c }
                            }
                            var s = 0.0
                            for c in 0..<k { s += exp(lp[c] - top) }
                            let lse = top + log(s)
                            total += lse
                            for c in 0..<k { zb[i * k + c] = exp(lp[c] - lse) }
                            labels[i] = arg
                        }
                    }
                }
            }
        }
        total = comm.sum(total)
        guard total.isFinite else { return .failure(Failure(description: "non-finite log-likelihood")) }
        return .success(total)
    }

    /// M-step of EEE from responsibilities (n × K): μ, π, then Σ = W/N from the two-pass scatter.
    static func mStep(rows x: Matrix64, responsibilities z: [Double], clusters k: Int, spots N: Int,
                      comm: Communicator) -> Result<MixtureModel, Failure> {
        let n = x.rows, p = x.cols
        // n_k and Σᵢ r_ik xᵢ in one allreduce.
        var acc = [Double](repeating: 0, count: k * (p + 1))
        for i in 0..<n {
            for c in 0..<k {
                let r = z[i * k + c]
                if r == 0 { continue }
                acc[k * p + c] += r
                for j in 0..<p { acc[c * p + j] += r * x.data[i * p + j] }
            }
        }
        comm.allreduceSum(&acc)
        var means = [Double](repeating: 0, count: k * p)
        var pro = [Double](repeating: 0, count: k)
        for c in 0..<k {
            let nk = acc[k * p + c]
            guard nk > Double(N) * Double.ulpOfOne else {
                return .failure(Failure(description: "component \(c) emptied (n_k = \(nk))"))
            }
            pro[c] = nk / Double(N)
            for j in 0..<p { means[c * p + j] = acc[c * p + j] / nk }
        }
        // W = Σ_k Σᵢ r_ik (xᵢ − μ_k)(xᵢ − μ_k)ᵀ: Gram of √r-weighted centred blocks.
        var w = [Double](repeating: 0, count: p * p)
        let block = 512
        var buf = [Double](repeating: 0, count: min(block, max(n, 1)) * p)
        var r0 = 0
        while r0 < n {
            let rows = min(block, n - r0)
            for c in 0..<k {
                for i in 0..<rows {
                    let s = z[(r0 + i) * k + c].squareRoot()
                    for j in 0..<p { buf[i * p + j] = s * (x.data[(r0 + i) * p + j] - means[c * p + j]) }
                }
                BLAS.dgemm(transA: true, m: p, n: p, k: rows, a: buf, lda: p, b: buf, ldb: p, beta: 1, c: &w, ldc: p)
            }
            r0 += rows
        }
        comm.allreduceSum(&w)
        var sigma = DenseAlgebra.symmetrised(w, n: p)
        for i in 0..<(p * p) { sigma[i] /= Double(N) }
        return .success(MixtureModel(proportions: pro, means: means, covariance: sigma))
    }
}
