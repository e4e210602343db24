import ArgumentParser
import STCluster

extension ClusterMethod: ExpressibleByArgument {}

/// What happens after training: spatial domains (PCA, clustering, refinement), scores and the
/// files people open. The `Spatial domains` options of `run` and the `domains` section of the
/// configuration; not part of the model definition, so a checkpoint resumes whatever these are.
public struct DomainOptions: ConfigurationSection {
    /// Which embedding is clustered.
    public enum Embedding: String, Codable, Sendable, CaseIterable, ExpressibleByArgument {
        /// PCA of H = Y W2, the reconstruction GraphST stores as `obsm["emb"]` and clusters.
        case emb
        /// PCA of Z, the hidden embedding (`obsm["latent"]`).
        case latent
    }

    @Option(name: .long, help: ArgumentHelp("Number of spatial domains K. Default: the built-in slide's domain count; else the number of classes of --label; else chosen by BIC over 2…10 (mclust's criterion).", valueName: "K"))
    public var clusters: Int?

    @Option(name: .long, help: "gmm (Gaussian mixture with one shared full covariance, mclust model EEE, as GraphST) or kmeans.")
    public var clusterMethod: ClusterMethod = .gmm

    @Option(name: .long, help: "Embedding clustered: emb (PCA of the reconstruction H, GraphST's obsm[\"emb\"]) or latent (PCA of Z).")
    public var clusterOn: Embedding = .emb

    @Option(name: .long, help: "Principal components of the clustered embedding (GraphST: 20).")
    public var pcs: Int = 20

    @Option(name: .long, help: "k-means++ seedings, each followed by EM; the best log-likelihood is kept.")
    public var restarts: Int = 10

    @Flag(name: .long, help: "Refine domains: each spot takes the majority domain of its nearest other spots (GraphST's refine_label).")
    public var refine = false

    @Option(name: .customLong("refine-neighbors"), help: ArgumentHelp("Spots in the refinement vote; auto = min(50, ⌊N / (8·K)⌋): GraphST's 50 on Visium-sized sections, at most 1/8 of an average domain on small slides, and no vote when that leaves fewer than 6 voters (one lattice ring).", valueName: "n|auto"))
    public var refineNeighbours: String = "auto"

    @Option(name: .long, help: ArgumentHelp("obs column to score the domains against (ARI, NMI); unlabelled spots (NaN, empty) are left out. The built-in slide is scored against its ground_truth.", valueName: "column"))
    public var label: String?

    @Flag(name: .long, help: "Also write H = Y·W2 (N × genes, float32) as obsm[\"emb\"], as GraphST does (its size is printed first).")
    public var writeReconstruction = false

    @Flag(name: .long, help: "Do not draw domains.png and loss.png.")
    public var noPictures = false

    @Flag(name: .long, help: "Stop after the embedding: no clustering, scores or domain picture.")
    public var noDomains = false

    public init() {}

    /// `--refine-neighbors` as a number; nil = auto (`RefinementRadius.auto`).
    public var refineRadius: Int? { Int(refineNeighbours) }

    public func validate() throws {
        if let clusters, clusters < 1 { throw ValidationError("--clusters must be at least 1") }
        guard pcs >= 1 else { throw ValidationError("--pcs must be at least 1") }
        guard restarts >= 1 else { throw ValidationError("--restarts must be at least 1") }
        if refineNeighbours != "auto" {
            guard let r = Int(refineNeighbours), r >= 1 else {
                throw ValidationError("--refine-neighbors must be a positive number or auto, not '\(refineNeighbours)'")
            }
        }
        if let label, label.isEmpty { throw ValidationError("--label needs an obs column name") }
    }
}
