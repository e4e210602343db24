import STCore
import STComm
import STPartition

/// Clustering method of the spatial-domain step.
public enum ClusterMethod: String, Codable, Sendable, CaseIterable {
    /// Gaussian mixture with one shared full covariance (mclust EEE), GraphST's default.
    case gmm
    /// k-means (k-means++ restarts + Lloyd, best inertia).
    case kmeans
}

/// Settings of the spatial-domain step (PCA → clustering → optional refinement). Every field
/// has a default, and missing keys decode to it.
public struct ClusteringConfig: Codable, Sendable, Equatable {
    public var method: ClusterMethod = .gmm
    /// Number of domains K.
    public var clusters: Int = 7
    /// Principal components fed to the clustering (GraphST: 20).
    public var pcs: Int = 20
    /// k-means++ restarts (each followed by Lloyd, and for gmm by EM).
    public var restarts: Int = 10
    /// Seed of the restarts' random draws.
    public var seed: UInt64 = 2020
    /// EM iteration cap (gmm) / Lloyd iteration cap (kmeans).
    public var maxIterations: Int = 1000
    /// EM relative log-likelihood tolerance (mclust's 1e-5).
    public var tolerance: Double = 1e-5
    /// Majority-vote refinement over spatial neighbours (GraphST's `refine_label`).
    public var refine: Bool = false
    /// Voting neighbours; nil = `RefinementRadius.auto(spots:clusters:)`.
    public var refineRadius: Int? = nil

    public init(method: ClusterMethod = .gmm, clusters: Int = 7, pcs: Int = 20, restarts: Int = 10, seed: UInt64 = 2020,
                maxIterations: Int = 1000, tolerance: Double = 1e-5, refine: Bool = false, refineRadius: Int? = nil) {
        self.method = method
        self.clusters = clusters
        self.pcs = pcs
        self.restarts = restarts
        self.seed = seed
        self.maxIterations = maxIterations
        self.tolerance = tolerance
        self.refine = refine
        self.refineRadius = refineRadius
    }

    enum CodingKeys: String, CodingKey {
        case method, clusters, pcs, restarts, seed, tolerance, refine
        case maxIterations = "max_iterations", refineRadius = "refine_radius"
    }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let d = ClusteringConfig()
        method = try c.decodeIfPresent(ClusterMethod.self, forKey: .method) ?? d.method
        clusters = try c.decodeIfPresent(Int.self, forKey: .clusters) ?? d.clusters
        pcs = try c.decodeIfPresent(Int.self, forKey: .pcs) ?? d.pcs
        restarts = try c.decodeIfPresent(Int.self, forKey: .restarts) ?? d.restarts
        seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        maxIterations = try c.decodeIfPresent(Int.self, forKey: .maxIterations) ?? d.maxIterations
        tolerance = try c.decodeIfPresent(Double.self, forKey: .tolerance) ?? d.tolerance
        refine = try c.decodeIfPresent(Bool.self, forKey: .refine) ?? d.refine
        refineRadius = try c.decodeIfPresent(Int.self, forKey: .refineRadius) ?? d.refineRadius
    }

    /// Throws `ClusteringError.badSetting` naming the first setting out of range.
    public func validate() throws {
        func bad(_ name: String, _ v: Any, _ e: String) -> ClusteringError { .badSetting(name: name, value: "\(v)", expected: e) }
        if clusters < 1 { throw bad("clusters", clusters, "≥ 1") }
        if pcs < 1 { throw bad("pcs", pcs, "≥ 1") }
        if restarts < 1 { throw bad("restarts", restarts, "≥ 1") }
        if maxIterations < 1 { throw bad("maxIterations", maxIterations, "≥ 1") }
        if !(tolerance > 0) { throw bad("tolerance", tolerance, "> 0") }
        if let r = refineRadius, r < 1 { throw bad("refineRadius", r, "≥ 1") }
    }
}

/// What the spatial-domain step did, for `summary.json` (values are global, the same on every rank).
public struct ClusteringSummary: Codable, Sendable {
    public var config: ClusteringConfig
    /// Spots N.
    public var spots: Int
    /// Principal components used (≤ config.pcs; fewer only beyond the numerical rank), or the input
    /// width when clustering given features.
    public var components: Int
    /// Explained variance ratio of each component (empty when no PCA ran).
    public var explainedVarianceRatio: [Double]
    /// gmm: final log-likelihood and mclust's BIC (2ℓ − npar·ln N); nil for kmeans.
    public var loglik: Double?
    public var bic: Double?
    /// kmeans: Σ squared distances to the centres; nil for gmm.
    public var inertia: Double?
    /// Iterations (EM or Lloyd) of the chosen restart, and whether it converged.
    public var iterations: Int
    public var converged: Bool
    /// Index of the chosen restart.
    public var bestRestart: Int
    /// Every restart's log-likelihood (gmm; nil where the restart failed) or inertia (kmeans).
    public var restartScores: [Double?]
    /// Voting neighbours used by the refinement (nil when not refined) and how many spots it relabelled.
    public var refineRadius: Int?
    public var refinedChanged: Int?
    /// Why `--refine` did not refine (the automatic radius found the slide too small), or nil.
    public var refineSkipped: String?
    /// Wall-clock seconds (maximum over ranks) per phase.
    public var secondsPCA: Double
    public var secondsFit: Double
    public var secondsRefine: Double
    public var seconds: Double

    enum CodingKeys: String, CodingKey {
        case config, spots, components, loglik, bic, inertia, iterations, converged
        case explainedVarianceRatio = "explained_variance_ratio", bestRestart = "best_restart"
        case restartScores = "restart_scores", refineRadius = "refine_radius", refinedChanged = "refined_changed"
        case refineSkipped = "refine_skipped"
        case secondsPCA = "seconds_pca", secondsFit = "seconds_fit", secondsRefine = "seconds_refine", seconds
    }
}

/// The spatial-domain labels of this rank's rows.
public struct ClusteringResult: Sendable {
    /// Final label 0..<K of each local row (refined when the config asks).
    public var labels: [Int]
    /// Labels straight from the clustering, before refinement.
    public var unrefinedLabels: [Int]
    /// The clustered features of each local row (n × components): PCA scores, or the given features.
    public var features: Matrix64
    /// The fitted mixture (gmm), components in canonical order.
    public var mixture: MixtureModel?
    /// The k-means centres (kmeans), K × components, canonical order.
    public var centres: Matrix64?
    public var summary: ClusteringSummary
}

/// Where the spots are, for the refinement vote.
public struct SpatialContext: Sendable {
    /// N×2 row-major coordinates of every spot.
    public var coordinates: [Double]
    /// The owner of every spot; this rank's rows must be exactly its spots.
    public var partition: Partition
    public init(coordinates: [Double], partition: Partition) {
        self.coordinates = coordinates
        self.partition = partition
    }
}

/// GraphST's spatial domains on distributed rows: PCA of A·W (never formed) → Gaussian mixture
/// EEE or k-means → optional majority-vote refinement. One entry point; collective.
public enum SpatialDomains {
    /// Clusters the rows of A·W (see `PCA.fit`): in the pipeline A = Y (n×d) and W = W2 (d×G),
    /// so the PCA is GraphST's PCA of H; W = nil clusters the PCA of A itself (e.g. the latent Z).
    ///
    /// - Parameters:
    ///   - globalIndex: the spot index of each local row (distinct over ranks).
    ///   - spatial: coordinates and partition; required when `config.refine`.
    /// - Throws: `ClusteringError` (the same on every rank).
    public static func run(config: ClusteringConfig, rows a: Matrix, projection w: Matrix?, globalIndex: [Int],
                           spatial: SpatialContext? = nil, comm: Communicator) throws -> ClusteringResult {
        try config.validate()
        let t0 = PhaseTimer.now()
        let pca = try PCA.fit(rows: a, projection: w, components: config.pcs, comm: comm)
        let tPCA = seconds(since: t0)
        var result = try cluster(config: config, features: pca.scores, globalIndex: globalIndex, spatial: spatial, comm: comm)
        result.summary.explainedVarianceRatio = pca.explainedVarianceRatio
        result.summary.secondsPCA = comm.max(tPCA)
        result.summary.seconds = comm.max(seconds(since: t0))
        return result
    }

    /// Clusters given features (n × p float64 rows, e.g. precomputed principal components),
    /// then refines when asked. Collective.
    public static func cluster(config: ClusteringConfig, features x: Matrix64, globalIndex: [Int],
                               spatial: SpatialContext? = nil, comm: Communicator) throws -> ClusteringResult {
        try config.validate()
        if config.refine && spatial == nil {
            throw ClusteringError.badSetting(name: "refine", value: "true", expected: "coordinates and a partition to refine with")
        }
        let t0 = PhaseTimer.now()
        let N = comm.sum(x.rows)
        var summary = ClusteringSummary(config: config, spots: N, components: x.cols, explainedVarianceRatio: [],
                                        loglik: nil, bic: nil, inertia: nil, iterations: 0, converged: false,
                                        bestRestart: 0, restartScores: [], refineRadius: nil, refinedChanged: nil, refineSkipped: nil,
                                        secondsPCA: 0, secondsFit: 0, secondsRefine: 0, seconds: 0)
        var labels: [Int]
        var mixture: MixtureModel?, centres: Matrix64?
        switch config.method {
        case .gmm:
            let options = MixtureOptions(restarts: config.restarts, seed: config.seed, maxIterations: config.maxIterations,
                                         tolerance: config.tolerance)
            let fit = try GaussianMixture.fit(rows: x, globalIndex: globalIndex, clusters: config.clusters,
                                              options: options, comm: comm)
            labels = fit.labels
            mixture = fit.model
            summary.loglik = fit.loglik
            summary.bic = fit.bic
            summary.iterations = fit.iterations
            summary.converged = fit.converged
            summary.bestRestart = fit.bestRestart
            summary.restartScores = fit.restartLogliks
        case .kmeans:
            let fit = try KMeans.fit(rows: x, globalIndex: globalIndex, clusters: config.clusters, restarts: config.restarts,
                                     seed: config.seed, maxIterations: config.maxIterations, comm: comm)
            labels = fit.labels
            centres = fit.centres
            summary.inertia = fit.inertia
            summary.iterations = fit.iterations
            summary.converged = fit.converged
            summary.bestRestart = fit.bestRestart
            summary.restartScores = fit.restartInertias
        }
        summary.secondsFit = comm.max(seconds(since: t0))
        summary.seconds = summary.secondsFit
        var result = ClusteringResult(labels: labels, unrefinedLabels: labels, features: x, mixture: mixture,
                                      centres: centres, summary: summary)
        if config.refine, let spatial { try refine(&result, globalIndex: globalIndex, spatial: spatial, comm: comm) }
        return result
    }

    /// Refines `result.labels` by the majority vote over spatial neighbours (radius
    /// `config.refineRadius`, else `RefinementRadius.auto`), keeping `unrefinedLabels`. Collective.
    public static func refine(_ result: inout ClusteringResult, globalIndex: [Int], spatial: SpatialContext,
                              comm: Communicator) throws {
        let t1 = PhaseTimer.now()
        let N = result.summary.spots
        let config = result.summary.config
        // Decided globally, so every rank throws (or none does).
        let misplaced = comm.sum(globalIndex.filter { $0 < 0 || $0 >= spatial.partition.count
                                                       || Int(spatial.partition.owner[$0]) != comm.rank }.count)
        let owned = comm.sum(spatial.partition.counts.indices.contains(comm.rank) ? spatial.partition.counts[comm.rank] : 0)
        guard misplaced == 0, owned == N, spatial.partition.count == N, spatial.coordinates.count == 2 * N,
              globalIndex.count == result.labels.count else {
            throw ClusteringError.shapeMismatch("refinement: the rows (\(N) spots, \(misplaced) not owned by their rank) do not match the partition (\(spatial.partition.count) spots) and coordinates (\(spatial.coordinates.count / 2))")
        }
        guard let r = config.refineRadius ?? RefinementRadius.auto(spots: N, clusters: config.clusters) else {
            result.summary.refineSkipped = "an average domain of \(N / max(config.clusters, 1)) spots is too small for a vote over one ring of \(RefinementRadius.minimum) neighbours (needs \(8 * RefinementRadius.minimum)); --refine-neighbors N forces a vote"
            return
        }
        let unrefined = result.unrefinedLabels
        result.labels = Refinement.refine(owned: globalIndex, labels: unrefined, partition: spatial.partition,
                                          coordinates: spatial.coordinates, radius: r, comm: comm)
        result.summary.config.refine = true
        result.summary.refineRadius = min(r, max(N - 1, 0))
        result.summary.refinedChanged = comm.sum(zip(result.labels, unrefined).filter { $0 != $1 }.count)
        result.summary.secondsRefine = comm.max(seconds(since: t1))
        result.summary.seconds += result.summary.secondsRefine
    }

    static func seconds(since t: UInt64) -> Double { Double(PhaseTimer.now() - t) * 1e-9 }
}
