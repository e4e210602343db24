import Foundation
import STModel
import STPrep
import STCluster

extension AdjacencyNormalisation: Codable {}

/// Everything that defines a training run. Hashed (with the data fingerprint) into checkpoints, so
/// a checkpoint is only resumed by the run it belongs to.
public struct RunConfiguration: Codable, Sendable, Equatable {
    /// Inputs (`--input`, see `SlideSources.open`); several are integrated into one slide;
    /// empty = the built-in synthetic slide.
    public var input: [String] = []
    /// `--positions`: a positions CSV for a single 10x matrix or MatrixMarket input.
    public var positions: String?
    /// `--aligned`: several inputs keep their coordinates (else they are placed side by side).
    public var aligned: Bool = false
    public var output: String = "stgnn-out"
    public var epochs: Int = 600
    public var seed: UInt64 = 41
    public var lr: Double = 1e-3
    public var dim: Int = 64
    public var alpha: Double = 10
    public var beta: Double = 1
    public var readout: Readout = .local
    public var normalisation: AdjacencyNormalisation = .tenX
    /// `highly_variable_genes(flavor="seurat_v3", n_top_genes=…)`; slides with fewer genes keep all.
    public var nTopGenes: Int = 3000
    /// k of the spatial kNN graph.
    public var neighbors: Int = 3
    /// `normalize_total(target_sum=…)`.
    public var targetSum: Double = 1e4
    /// `scale(zero_center=False, max_value=…)`.
    public var maxValue: Double = 10
    /// Built-in slide (used when `input` is empty).
    public var syntheticSpots: Int = 3000
    public var syntheticGenes: Int = 400
    public var syntheticDomains: Int = 5
    /// A progress line every this many epochs (0: only the last).
    public var progressEvery: Int = 50
    /// Write a checkpoint every this many epochs and at the last epoch; 0: only when a stop signal
    /// (SIGTERM, SIGUSR1) ends the run early.
    public var checkpointEvery: Int = 0
    /// Checkpoints kept in `output/checkpoints` (the newest; at least 1).
    public var keepCheckpoints: Int = 2
    /// Continue a run: `latest` (this output directory's newest checkpoint), a checkpoint file, or
    /// a directory holding a `latest` pointer. nil: start from the initialisation.
    public var resume: String?
    /// Spatial domains, scores, pictures (after training).
    public var domains = DomainConfiguration()

    public init() {}

    /// The fields that change the numbers a run produces (not where it writes or how it reports).
    ///
    /// Left out on purpose: `input`, `positions` and `aligned` (the data is identified by its
    /// fingerprint — spots, genes, coordinates, raw counts — so a moved file still resumes, and
    /// what `positions`/`aligned` change, the coordinates, is in the fingerprint), `output`,
    /// `progressEvery`, the checkpoint options, and `epochs` (the total target: a checkpoint of
    /// epoch E continues to any later target).
    public var modelDefinition: [String: String] {
        ["data": input.isEmpty ? "synthetic(\(syntheticSpots),\(syntheticGenes),\(syntheticDomains))" : "file",
         "seed": "\(seed)", "lr": "\(lr)", "dim": "\(dim)", "alpha": "\(alpha)", "beta": "\(beta)",
         "readout": readout.rawValue, "normalisation": normalisation.rawValue, "n_top_genes": "\(nTopGenes)",
         "neighbors": "\(neighbors)", "target_sum": "\(targetSum)", "max_value": "\(maxValue)"]
    }

    /// Hash of `modelDefinition` (sorted key=value pairs), as 16 hex digits: recorded in every
    /// checkpoint, which only a run with the same hash may resume.
    public var configurationHash: String {
        var h = Hash64()
        for (k, v) in modelDefinition.sorted(by: { $0.key < $1.key }) {
            h.add(k)
            h.add(v)
        }
        return h.hex
    }
}

/// What happens after training: spatial domains (PCA, clustering, refinement), scores and the
/// files people open. Not part of `modelDefinition`: a checkpoint resumes whatever these are.
public struct DomainConfiguration: Codable, Sendable, Equatable {
    /// Which embedding is clustered.
    public enum Embedding: String, Codable, Sendable, CaseIterable {
        /// PCA of H = Y W2, the reconstruction GraphST stores as `obsm["emb"]` and clusters.
        case emb
        /// PCA of Z, the hidden embedding (`obsm["latent"]`).
        case latent
    }
    /// Number of domains K; nil = chosen: the built-in slide's domain count, else the number of
    /// distinct `label` values, else by BIC over 2…10 components (mclust's criterion).
    public var clusters: Int?
    public var method: ClusterMethod = .gmm
    public var clusterOn: Embedding = .emb
    /// Principal components of the clustered embedding (GraphST: 20).
    public var pcs: Int = 20
    /// Restarts of the seeding (k-means++), each followed by EM; the best log-likelihood is kept.
    public var restarts: Int = 10
    /// Majority vote over each spot's nearest other spots after clustering.
    public var refine: Bool = false
    /// Spots in the vote; nil = `auto` (see `RefinementRadius`).
    public var refineNeighbours: Int?
    /// An `obs` column to score the domains against (ARI, NMI); unlabelled spots left out.
    public var label: String?
    /// Also store H = Y W2 (N × G float32) as `obsm["emb"]`, as GraphST does.
    public var writeReconstruction: Bool = false
    /// Draw `domains.png` and `loss.png`.
    public var pictures: Bool = true
    /// Skip clustering altogether (only Z and the PCA are written).
    public var skip: Bool = false

    public init() {}
}
