import Foundation
import STCore
import STComm
import STData
import STCluster
import STPlot

/// Scores of domains against a labelled `obs` column (unlabelled spots left out).
public struct DomainScores: Codable, Sendable, Equatable {
    /// Adjusted Rand index.
    public var ari: Double
    /// Normalised mutual information (arithmetic-mean normalisation, as scikit-learn's default).
    public var nmi: Double
    /// Spots scored (those with a label).
    public var labelled: Int
}

/// What the step after training did: `summary.json`'s `domains` and `uns["stgnn_dist"]["domains"]`.
public struct DomainSummary: Codable, Sendable {
    /// `emb` (PCA of H) or `latent` (PCA of Z).
    public var cluster_on: String
    /// Components of the clustered embedding and the fraction of variance each explains.
    public var pcs: Int
    public var explained_variance_ratio: [Double]
    /// Where K came from: "--clusters", "synthetic slide", "--label classes", "BIC over 2…10".
    public var clusters_from: String?
    /// BIC of each K tried, when K was chosen by BIC.
    public var bic_by_clusters: [String: Double]?
    /// The clustering and refinement (method, K, log-likelihood, BIC, iterations, restarts, …);
    /// nil with `--no-domains`.
    public var clustering: ClusteringSummary?
    /// Spots per domain (domains 1…K).
    public var sizes: [Int]?
    /// `--label` and the scores against it (after refinement, and before it with `--refine`).
    public var label: String?
    public var scores: DomainScores?
    public var scores_unrefined: DomainScores?
    /// Wall-clock seconds of each step (embed, pca, cluster, gather, write, pictures).
    public var seconds: [String: Double]
}

extension RunPipeline {
    /// The step after training, on every rank: Z and Y, PCA of H = Y W2 (never formed), the
    /// clustering, the refinement; then rank 0 gathers N-row results and writes `result.h5ad`,
    /// `domains.csv` and the pictures. Collective; errors on rank 0 end every rank alike.
    func finish(setup: Setup, params: [Float], obs: DataFrame?, labelColumn: LabelColumn?,
                metricsPath: String, out: URL) throws -> DomainSummary {
        let dc = config.domains
        let model = setup.model
        let layout = model.layout
        let owned = setup.owned, total = source.spotCount
        var seconds = [String: Double]()
        var t = DispatchTime.now().uptimeNanoseconds
        func lap(_ name: String) {
            comm.barrier()
            let now = DispatchTime.now().uptimeNanoseconds
            seconds[name] = Double(now - t) / 1e9
            phases.append((name, Double(now - t) / 1e9))
            t = now
            clock = now
        }

        // Z = Â X W1 and Y = Â Z on the owned rows; H = Y W2 stays implicit.
        let (z, y0) = model.embed(params: params)
        model.releaseTrainingMemory()
        let w2 = Matrix(rows: layout.dim, cols: layout.genes, data: layout.values(of: .w2, in: params))
        // GraphST's Stereo-seq/Slide-seq path (our kipf normalisation) L2-normalises the rows of H
        // before storing and clustering it: H_i/‖H_i‖ = (Y_i/‖Y_i W2‖) W2, so scaling Y's rows does it.
        let y = config.data.normalisation == .kipf ? Self.rowNormalisedForH(y0, w2: w2) : y0
        lap("embed")

        // emb_pca = PCA of H (GraphST's obsm["emb"]); with --cluster-on latent, PCA of Z is clustered.
        let pcsH = min(dc.pcs, layout.dim, layout.genes, total)
        let pcaH = try PCA.fit(rows: y, projection: w2, components: pcsH, comm: comm)
        let pcaClustered = dc.clusterOn == .emb ? pcaH
            : try PCA.fit(rows: z, projection: nil, components: min(dc.pcs, layout.dim, total), comm: comm)
        var summary = DomainSummary(cluster_on: dc.clusterOn.rawValue, pcs: pcaClustered.components,
                                    explained_variance_ratio: pcaClustered.explainedVarianceRatio, seconds: [:])
        lap("pca")

        // Clustering (distributed EM / Lloyd), then the refinement vote.
        var labels: [Int]?
        var refined: [Int]?
        if !dc.noDomains {
            let (k, from) = try clusterCount(labelColumn: labelColumn)
            let spatial = dc.refine ? SpatialContext(coordinates: try source.spatial(), partition: setup.partition.partition) : nil
            var result = try cluster(pcaClustered.scores, k: k, owned: owned, summary: &summary)
            if let spatial { try SpatialDomains.refine(&result, globalIndex: owned, spatial: spatial, comm: comm) }
            summary.clusters_from = from
            summary.clustering = result.summary
            labels = result.unrefinedLabels
            if let why = result.summary.refineSkipped {
                if comm.isRoot { onNote?("--refine: not refined: " + why) }
            } else if dc.refine {
                refined = result.labels
            }
            lap("cluster")
        }

        // Rank 0 gathers the labels (one pair per spot) whole: the domain column, the scores and the
        // pictures need them all. The N-row tables (Z, the principal components, Y for H) travel
        // block by block while result.h5ad is written (`RowStream`), so no rank holds one whole.
        var labelsAll: [Int32]?, refinedAll: [Int32]?
        if let labels {
            let g = RowGatherer(comm: comm, owned: owned, total: total)
            let pairs = zip(labels, refined ?? labels).flatMap { [Int32($0), Int32($1)] }
            if let both = g.gather(pairs, width: 2) {
                labelsAll = stride(from: 0, to: both.count, by: 2).map { both[$0] }
                if refined != nil { refinedAll = stride(from: 1, to: both.count, by: 2).map { both[$0] } }
            }
        }
        lap("gather")

        // Rank 0: scores, files. Its errors reach every rank through `onRoot`.
        let latentTable = 0, pcaTable = 1, yTable = 2
        var tables = [RowStream.Table(z.data, width: z.cols), RowStream.Table(pcaH.scores.data, width: pcaH.components)]
        if dc.writeReconstruction { tables.append(RowStream.Table(y.data, width: y.cols)) }
        let stream = RowStream(comm: comm, owned: owned, total: total, tables: tables)
        // Ranks other than 0 answer rank 0's requests until it has written the file: their waits
        // belong to rank 0's step (named for the watchdog before they start).
        comm.watchdog?.enterPhase("writing the results (rank 0)")
        stream.serve()
        let written: DomainSummary = try onRootShared("writing the results") {
            defer { stream.finish() }
            var s = summary
            let spatial = try source.spatial()
            let final = (refinedAll ?? labelsAll)?.map { Int($0) + 1 }       // domains 1…K, as mclust
            if let final, let k = s.clustering?.config.clusters {
                var sizes = [Int](repeating: 0, count: k)
                for l in final { sizes[l - 1] += 1 }
                s.sizes = sizes
            }
            if let labelColumn, let obs, let final {
                let tr = LabelColumn.labels(obs[labelColumn.column]!)
                s.label = labelColumn.column
                s.scores = Self.score(final, truth: tr)
                if let raw = labelsAll, refinedAll != nil { s.scores_unrefined = Self.score(raw.map { Int($0) + 1 }, truth: tr) }
            }
            if let sc = s.scores {
                onNote?(String(format: "domains vs obs[\"%@\"] (%d labelled spots): ARI %.4f, NMI %.4f%@", labelColumn!.column,
                               sc.labelled, sc.ari, sc.nmi,
                               s.scores_unrefined.map { String(format: " (before refinement: ARI %.4f, NMI %.4f)", $0.ari, $0.nmi) } ?? ""))
            }

            let resultPath = out.appendingPathComponent("result.h5ad").path
            var streamed = [
                AnnDataWriter.StreamedObsm(key: "latent", rows: total, cols: z.cols) { stream.fetch(latentTable, $0, $1) },
                AnnDataWriter.StreamedObsm(key: "emb_pca", rows: total, cols: pcaH.components) { stream.fetch(pcaTable, $0, $1) },
            ]
            if dc.writeReconstruction {
                let bytes = Double(total) * Double(layout.genes) * 4
                onNote?(String(format: "writing obsm[\"emb\"] = H: %d × %d float32, %@ before compression", total, layout.genes,
                               MemoryEstimate.format(Int(bytes))))
                streamed.append(AnnDataWriter.StreamedObsm(key: "emb", rows: total, cols: layout.genes) { lo, hi in
                    let yb = stream.fetch(yTable, lo, hi)
                    var h = Matrix(zeros: hi - lo, layout.genes)
                    BLAS.sgemm(m: hi - lo, n: layout.genes, k: layout.dim, a: yb, lda: layout.dim,
                               b: w2.data, ldb: layout.genes, c: &h.data, ldc: layout.genes)
                    return h.data
                })
            }
            if obs!.columns["domain"] != nil, final != nil {
                onNote?("note: the input's obs[\"domain\"] is replaced by this run's domains in result.h5ad")
            }
            try ResultWriter.write(to: resultPath, obs: obs!, spatial: spatial, domains: final, obsm: [:],
                                   streamed: streamed, uns: ["stgnn_dist": try unsEntry(s)])
            if let final {
                try OutputFiles.writeDomainsCSV(to: out.appendingPathComponent("domains.csv").path,
                                                names: obs!.index, spatial: spatial, domains: final)
            }
            return s
        }
        summary = written
        lap("write")

        if !dc.noPictures {
            try onRoot("drawing the pictures") {
                try drawPictures(summary: summary, obs: obs!, truthColumn: labelColumn?.column,
                                 labels: (refinedAll ?? labelsAll)?.map { Int($0) + 1 },
                                 unrefined: refinedAll == nil ? nil : labelsAll?.map { Int($0) + 1 },
                                 metricsPath: metricsPath, out: out)
            }
            lap("pictures")
        }
        summary.seconds = seconds
        return summary
    }

    /// Y with row i scaled by 1/max(‖Y_i W2‖, 1e-12) (torch's F.normalize), so that Y W2 holds the
    /// rows of H normalised; ‖Y_i W2‖² = Y_i (W2 W2ᵀ) Y_iᵀ costs O(d²) per spot, H is not formed.
    static func rowNormalisedForH(_ y: Matrix, w2: Matrix) -> Matrix {
        let d = y.cols, g = w2.cols
        var gram = [Double](repeating: 0, count: d * d)           // W2 W2ᵀ (d×d), float64
        let w = w2.data.map(Double.init)
        BLAS.dgemm(transB: true, m: d, n: d, k: g, a: w, lda: g, b: w, ldb: g, c: &gram, ldc: d)
        var out = y
        for i in 0..<y.rows {
            var q = 0.0
            for a in 0..<d {
                let ya = Double(y.data[i * d + a])
                var t = 0.0
                for b in 0..<d { t += gram[a * d + b] * Double(y.data[i * d + b]) }
                q += ya * t
            }
            let scale = 1 / max(q.squareRoot(), 1e-12)
            for a in 0..<d { out.data[i * d + a] = Float(Double(y.data[i * d + a]) * scale) }
        }
        return out
    }

    /// Seed of the clustering's k-means++ draws: GraphST calls mclust after `set.seed(2020)`, whatever
    /// the model's seed, so training seeds vary the embedding only.
    static let clusteringSeed: UInt64 = 2020

    /// K and where it came from (see `DomainOptions.clusters`).
    func clusterCount(labelColumn: LabelColumn?) throws -> (Int?, String) {
        if let k = config.domains.clusters { return (k, "--clusters") }
        if config.data.input.isEmpty { return (config.data.syntheticDomains, "synthetic slide") }
        if let l = labelColumn { return (l.classes.count, "--label classes") }
        return (nil, "BIC over 2…10")
    }

    /// Clusters this rank's rows into `k` domains, or into the K in 2…10 with the best BIC when
    /// `k` is nil (mclust's criterion; k-means has no likelihood and takes 7). Collective.
    func cluster(_ x: Matrix64, k: Int?, owned: [Int], summary: inout DomainSummary) throws -> ClusteringResult {
        let dc = config.domains
        func fit(_ kk: Int) throws -> ClusteringResult {
            let c = ClusteringConfig(method: dc.clusterMethod, clusters: kk, pcs: x.cols, restarts: dc.restarts,
                                     seed: Self.clusteringSeed, refine: false, refineRadius: dc.refineRadius)
            return try SpatialDomains.cluster(config: c, features: x, globalIndex: owned, comm: comm)
        }
        guard k == nil, dc.clusterMethod == .gmm else { return try fit(k ?? 7) }
        let n = comm.sum(x.rows)
        var best: ClusteringResult?
        var bics = [String: Double]()
        for kk in 2...10 where kk < n {
            let r = try fit(kk)
            bics[String(kk)] = r.summary.bic
            if best == nil || r.summary.bic! > best!.summary.bic! { best = r }
        }
        guard let best else { throw InputError(file: source.label, "too few spots (\(n)) to choose a number of domains") }
        summary.bic_by_clusters = bics
        return best
    }

    /// ARI and NMI of `domains` against `truth` over the labelled spots.
    static func score(_ domains: [Int], truth: [String?]) -> DomainScores {
        var codes = [String: Int](), a = [Int](), b = [Int]()
        for (d, t) in zip(domains, truth) {
            guard let t else { continue }
            let c = codes[t] ?? codes.count
            codes[t] = c
            a.append(d); b.append(c)
        }
        return DomainScores(ari: ClusterScores.adjustedRandIndex(b, a),
                            nmi: ClusterScores.normalizedMutualInformation(b, a), labelled: a.count)
    }

    /// `uns["stgnn_dist"]`: the version, the configuration (JSON) and the domain step's figures.
    func unsEntry(_ s: DomainSummary) throws -> UnsValue {
        var d: [String: UnsValue] = ["configuration": .string(String(decoding: try jsonData(config), as: UTF8.self)),
                                     "input": .string(source.label)]
        var dom: [String: UnsValue] = ["cluster_on": .string(s.cluster_on), "pcs": .int(s.pcs),
                                       "explained_variance_ratio": .doubles(s.explained_variance_ratio)]
        if let c = s.clustering {
            dom["method"] = .string(c.config.method.rawValue)
            dom["clusters"] = .int(c.config.clusters)
            if let v = c.loglik { dom["log_likelihood"] = .double(v) }
            if let v = c.bic { dom["bic"] = .double(v) }
            if let v = c.inertia { dom["inertia"] = .double(v) }
            if let v = c.refineRadius { dom["refine_neighbours"] = .int(v) }
        }
        if let v = s.clusters_from { dom["clusters_from"] = .string(v) }
        if let v = s.label { dom["label"] = .string(v) }
        if let v = s.scores { dom["ari"] = .double(v.ari); dom["nmi"] = .double(v.nmi) }
        if let v = s.scores_unrefined { dom["ari_unrefined"] = .double(v.ari); dom["nmi_unrefined"] = .double(v.nmi) }
        d["domains"] = .dict(dom)
        return .dict(d)
    }

    /// `domains.png` (the domains, beside the truth when scored) and `loss.png` (rank 0).
    func drawPictures(summary s: DomainSummary, obs: DataFrame, truthColumn: String?, labels: [Int]?,
                      unrefined: [Int]?, metricsPath: String, out: URL) throws {
        let spatial = try source.spatial()
        if let labels, let c = s.clustering {
            let k = c.config.clusters
            var what = c.config.method == .kmeans ? "k-means" : "GMM (EEE)"
            what += ", K = \(k)"
            if let r = c.refineRadius { what += ", refined (\(r) neighbours)" }
            var title = "stgnn-dist domains: " + what
            if let sc = s.scores { title += String(format: " — ARI %.3f", sc.ari) }
            var panels = [DomainMap.Panel(title: title, labels: labels.map { String($0) },
                                          categories: (1...k).map(String.init))]
            if let unrefined {
                var t = "before refinement"
                if let sc = s.scores_unrefined { t += String(format: " — ARI %.3f", sc.ari) }
                panels.append(DomainMap.Panel(title: t, labels: unrefined.map { String($0) }, categories: (1...k).map(String.init)))
            }
            if let truthColumn {
                let lc = try LabelColumn(obs: obs, column: truthColumn, file: source.label)
                let truth = LabelColumn.labels(obs[truthColumn]!)
                // Each domain wears the colour of the class it overlaps most (one-to-one), so the
                // two maps can be compared at a glance; unmatched domains take the spare colours.
                let palette = Palette.categorical(max(k, lc.classes.count))
                var classIndex = [String: Int]()
                for (j, c) in lc.classes.enumerated() { classIndex[c] = j }
                var overlap = [[Int]](repeating: [Int](repeating: 0, count: lc.classes.count), count: k)
                for (l, t) in zip(labels, truth) { if let t, let j = classIndex[t] { overlap[l - 1][j] += 1 } }
                let matched = LabelMatching.match(overlap)
                var spare = Array(lc.classes.count..<palette.count).makeIterator()
                let colours = matched.map { $0.map { palette[$0] } ?? palette[spare.next()!] }
                for i in panels.indices { panels[i].colors = colours }
                panels.append(DomainMap.Panel(title: "ground truth (obs[\"\(truthColumn)\"])", labels: truth,
                                              categories: lc.classes, colors: Array(palette.prefix(lc.classes.count))))
            }
            try DomainMap.render(to: out.appendingPathComponent("domains.png").path, coordinates: spatial, panels: panels,
                                 width: 550 * panels.count, title: config.data.input.isEmpty ? "built-in synthetic slide"
                                     : config.data.input.map { URL(fileURLWithPath: $0).lastPathComponent }.joined(separator: " + "))
        }
        let records = try OutputFiles.readMetrics(metricsPath)
        if !records.isEmpty {
            let a = config.model.alpha, b = config.model.beta
            try LossPlot.render(to: out.appendingPathComponent("loss.png").path, epochs: records.map(\.epoch),
                                series: [("total", records.map(\.loss)),
                                         ("α·reconstruction (α = \(a.formatted()))", records.map { a * $0.loss_feat }),
                                         ("β·sl_1 (β = \(b.formatted()))", records.map { b * $0.loss_sl_1 }),
                                         ("β·sl_2", records.map { b * $0.loss_sl_2 })],
                                title: "training loss — " + URL(fileURLWithPath: source.label).lastPathComponent)
        }
    }
}

private extension Double {
    /// Compact decimal for labels: 10 rather than 10.0.
    func formatted() -> String { self == rounded() && abs(self) < 1e9 ? String(Int(self)) : String(self) }
}
