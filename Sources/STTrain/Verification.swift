import Foundation
import STCore
import STComm
import STData
import STPrep
import STPartition
import STModel
import STCluster

/// One compared quantity of `stgnn-dist verify`.
public struct VerificationCheck: Codable, Sendable, CustomStringConvertible {
    public var name: String
    /// Max relative error (max |ours − ref| / max |ref| for tensors) unless `unit` says otherwise.
    public var error: Double
    public var tolerance: Double?
    public var unit: String
    public var detail: String

    public init(name: String, error: Double, tolerance: Double?, unit: String = "max rel err", detail: String = "") {
        self.name = name
        self.error = error
        self.tolerance = tolerance
        self.unit = unit
        self.detail = detail
    }

    public var passed: Bool { tolerance.map { error <= $0 } ?? true }

    public var description: String {
        let tol = tolerance.map { String(format: "  (tol %.0e)", $0) } ?? ""
        let verdict = tolerance == nil ? "info" : (passed ? "ok" : "FAIL")
        let name = self.name + String(repeating: " ", count: max(1, 25 - self.name.count))
        return "\(name) \(unit) \(String(format: "%.3e", error))\(tol)  \(verdict)\(detail.isEmpty ? "" : "  " + detail)"
    }
}

/// The outcome of verifying one fixture.
public struct VerificationReport: Codable, Sendable, CustomStringConvertible {
    public var fixture: String
    public var kind: String
    public var ranks: Int
    public var checks: [VerificationCheck]
    /// Why the fixture was not compared (nil when it was).
    public var skipped: String? = nil
    public var passed: Bool { checks.allSatisfy(\.passed) }
    public var description: String {
        if let skipped { return "\(fixture)\n  SKIPPED: \(skipped)" }
        return "\(fixture) (\(kind), \(ranks) rank\(ranks == 1 ? "" : "s"))\n"
            + checks.map { "  " + $0.description }.joined(separator: "\n")
            + "\n" + (passed ? "PASSED" : "FAILED")
    }
}

/// Reproduces reference fixtures (see shared/reference/README.md): our self-verification.
///
/// Tolerances are the fixture README's: epoch-0 loss and gradients 1e-4, every recorded loss 1e-4,
/// final parameters and Z/H rows 1e-3 (max abs error over max abs value).
public enum Verification {
    /// Reads the fixture's root `kind` attribute and runs the matching verification (collective).
    public static func run(path: String, comm: Communicator) throws -> VerificationReport {
        let kind = try HDF5File(path: path).stringAttribute("/", "kind")
        switch kind {
        case "model": return try model(path: path, comm: comm)
        case "prep": return try prep(path: path, comm: comm)
        case "gmm": return try gmm(path: path, comm: comm)
        default:
            throw InputError(file: path, field: "kind", "is '\(kind)'; verify reproduces fixtures of kind 'model', 'prep' or 'gmm'")
        }
    }

    /// Max |a − b| / max |b| over two equally long arrays.
    static func relErr(_ a: [Float], _ b: [Float]) -> Double {
        precondition(a.count == b.count)
        var num = 0.0, den = 0.0
        for i in a.indices { num = max(num, abs(Double(a[i]) - Double(b[i]))); den = max(den, abs(Double(b[i]))) }
        return den > 0 ? num / den : num
    }

    /// A `model` fixture: the fixture's X, graph, initial weights and permutations through the same
    /// partitioned model `run` uses (on however many ranks `comm` has).
    public static func model(path: String, comm: Communicator) throws -> VerificationReport {
        let f = try ModelFixture(path: path)
        let n = f.nSpots, d = f.dim
        guard d > 0, d % 8 == 0 else {
            throw InputError(file: path, field: "dim", "is \(d); expected a positive multiple of 8 (the model's latent width)")
        }
        var checks = [VerificationCheck]()

        // The normalisation code against the fixture's Â and M, from the fixture's kNN edges.
        guard let norm = AdjacencyNormalisation(rawValue: f.normalisation) else {
            throw InputError(file: path, field: "normalisation", "is '\(f.normalisation)'; expected 10x or kipf")
        }
        let knn = try KNNGraph(count: n, rows: f.knn.row, cols: f.knn.col)
        let ours = SpatialGraph(knn: knn, normalisation: norm)
        let fixAdj = f.adj.csr(size: n), fixMask = f.mask.csr(size: n)
        let samePattern = ours.adjacency.indptr == fixAdj.indptr && ours.adjacency.indices == fixAdj.indices
        checks.append(VerificationCheck(name: "graph/adj", error: samePattern ? relErr(ours.adjacency.values, fixAdj.values) : .infinity,
                                        tolerance: 1e-6, detail: samePattern ? "Â from graph/knn_* (\(norm))" : "sparsity pattern differs"))
        let maskSame = ours.mask.indptr == fixMask.indptr && ours.mask.indices == fixMask.indices
        checks.append(VerificationCheck(name: "graph/mask", error: maskSame ? 0 : 1, tolerance: 0, unit: "mismatch",
                                        detail: "M = K + I from graph/knn_*"))

        // The partitioned model on the fixture's graph and data, laid out as `run` lays it out.
        let rowNNZ = (0..<n).map { f.X.indptr[$0 + 1] - f.X.indptr[$0] }
        // The fixture's X is the preprocessed one: all of its genes are kept.
        let rowEntries = RankLayout.rowEntries(dim: d, genes: f.X.cols, keptGenes: f.X.cols)
        let rcb = try RankLayout.partition(coordinates: f.spatial, rowNNZ: rowNNZ, ranks: comm.size, rowEntries: rowEntries)
        let layout = RankLayout(partition: rcb, rank: comm.rank, coordinates: f.spatial) { rows in
            (fixAdj.selectingRows(rows.map(\.int)), fixMask.selectingRows(rows.map(\.int)))
        }
        let owned = layout.ownedInts
        let model = layout.model(x: GeneMatrix(f.X.selectingRows(owned)), dim: d, weights: LossWeights(alpha: f.alpha, beta: f.beta),
                                 readout: .local, comm: comm)
        let L = model.layout
        let ini = f.initial
        let params = L.pack(w1: ini.W1.data, w2: ini.W2.data, wb: ini.Wb.data, b: ini.b)
        let trainer = Trainer(model: model, params: params, lr: f.lr, permutations: .recorded(f.perm.map { RowPermutation($0) }))
        var records = [EpochRecord]()
        for e in 0..<f.epochs {
            records.append(trainer.step())
            if e == 0 {
                let g = trainer.lastGradient, r = f.grad0
                for (block, ref) in [(ParameterLayout.Block.w1, r.W1.data), (.w2, r.W2.data), (.wb, r.Wb.data), (.b, [r.b])] {
                    checks.append(VerificationCheck(name: "grad0/" + block.rawValue, error: relErr(L.values(of: block, in: g), ref),
                                                    tolerance: 1e-4))
                }
            }
        }
        for (name, mine, ref) in [("loss/total", records.map(\.loss), f.loss.total),
                                  ("loss/feat", records.map(\.loss_feat), f.loss.feat),
                                  ("loss/sl_1", records.map(\.loss_sl_1), f.loss.sl1),
                                  ("loss/sl_2", records.map(\.loss_sl_2), f.loss.sl2)] {
            var worst = 0.0, at = 0
            for e in 0..<min(mine.count, ref.count) {
                let err = abs(mine[e] - ref[e]) / max(abs(ref[e]), 1e-30)
                if err > worst { worst = err; at = e }
            }
            checks.append(VerificationCheck(name: name, error: worst, tolerance: 1e-4,
                                            detail: "\(ref.count) epochs, worst at epoch \(at + 1)"))
        }
        let p = trainer.params, a = f.after
        for (block, ref) in [(ParameterLayout.Block.w1, a.W1.data), (.w2, a.W2.data), (.wb, a.Wb.data), (.b, [a.b])] {
            checks.append(VerificationCheck(name: "after/" + block.rawValue, error: relErr(L.values(of: block, in: p), ref),
                                            tolerance: 1e-3))
        }
        // Z and H for the recorded rows from a final forward pass: Z, Y gathered, H = Y W2.
        let (z, y) = model.embed(params: p)
        let pipelineGather = RowGatherer(comm: comm, owned: owned, total: n)
        let zAll = pipelineGather.gather(z)
        let yAll = pipelineGather.gather(y)
        var zErr = 0.0, hErr = 0.0
        if comm.isRoot, let zAll, let yAll {
            let rows = f.afterRows
            var zMine = [Float](), hMine = [Float](repeating: 0, count: rows.count * L.genes)
            var ySel = [Float]()
            for r in rows { zMine += zAll.row(r); ySel += yAll.row(r) }
            let w2 = L.values(of: .w2, in: p)
            BLAS.sgemm(m: rows.count, n: L.genes, k: d, a: ySel, lda: d, b: w2, ldb: L.genes, c: &hMine, ldc: L.genes)
            zErr = relErr(zMine, f.afterZRows.data)
            hErr = relErr(hMine, f.afterHRows.data)
        }
        var errs = [zErr, hErr]
        comm.broadcast(&errs, root: 0)
        checks.append(VerificationCheck(name: "after/Z_rows", error: errs[0], tolerance: 1e-3, detail: "\(f.afterRows.count) spots"))
        checks.append(VerificationCheck(name: "after/H_rows", error: errs[1], tolerance: 1e-3, detail: "H = Â Z W2, never formed in training"))
        return VerificationReport(fixture: path, kind: "model", ranks: comm.size, checks: checks)
    }

    /// A `prep` fixture: seurat_v3 HVGs and the preprocessed matrix from raw counts, with the
    /// spots split over the ranks (statistics by allreduce), compared on rank 0.
    public static func prep(path: String, comm: Communicator) throws -> VerificationReport {
        let f = try PrepFixture(path: path)
        let n = f.counts.rows
        let lo = comm.rank * n / comm.size, hi = (comm.rank + 1) * n / comm.size
        let local = f.counts.selectingRows(Array(lo..<hi))
        let result = try preprocess(counts: local, hvg: HVGOptions(nTopGenes: f.nTopGenes),
                                    normalisation: NormalisationOptions(targetSum: f.targetSum, maxValue: f.maxValue),
                                    rowIDs: Array(lo..<hi), comm: comm)
        // Reassemble the preprocessed rows on every rank (the prep fixtures are small) to compare.
        let whole = try allGatherRows(result.X.wideMatrix, comm: comm)
        var full = result
        full.X = .wide(whole)
        let ref = PrepReference(counts: f.counts, means: f.means, variances: f.variances, variancesNorm: f.variancesNorm,
                                highlyVariableRank: f.highlyVariableRank, highlyVariable: f.highlyVariable,
                                X: f.X, nTopGenes: f.nTopGenes)
        let r = PrepVerification.compare(full, with: ref)
        let checks = r.checks.map {
            VerificationCheck(name: $0.name, error: $0.error, tolerance: $0.tolerance, unit: $0.unit, detail: $0.detail)
        }
        return VerificationReport(fixture: path, kind: "prep", ranks: comm.size, checks: checks)
    }

    /// A `gmm` fixture: our EEE mixture (k-means++ restarts + EM, `MixtureOptions` defaults) on the
    /// fixture's `pcs`, rows split over the ranks, against mclust's fit.
    ///
    /// Passes when our log-likelihood ≥ mclust's − 1e-4·|mclust's| (we may find a better optimum:
    /// our initialisation is not mclust's hierarchical agglomeration). Reported for information:
    /// BIC (mclust's convention), ARI of our labels vs mclust's, ARI/NMI of both vs the truth
    /// (unlabelled spots left out), our E-step's log-likelihood of mclust's own parameters, and the
    /// fit's wall-clock time. Scores come from contingency tables summed over ranks.
    public static func gmm(path: String, comm: Communicator, options: MixtureOptions = .init()) throws -> VerificationReport {
        let f = try GMMFixture(path: path)
        let n = f.pcs.rows, p = f.pcs.cols, k = f.clusters
        let lo = comm.rank * n / comm.size, hi = (comm.rank + 1) * n / comm.size
        let x = Matrix64(rows: hi - lo, cols: p, data: Array(f.pcs.data[(lo * p)..<(hi * p)]))
        let t0 = PhaseTimer.now()
        let fit = try GaussianMixture.fit(rows: x, globalIndex: Array(lo..<hi), clusters: k, options: options, comm: comm)
        let seconds = comm.max(Double(PhaseTimer.now() - t0) * 1e-9)
        let theirs = MixtureModel(proportions: f.pro, means: f.mean.data, covariance: f.sigma.data)
        let llTheirParams = GaussianMixture.logLikelihood(theirs, rows: x, comm: comm)

        // Contingency tables of this rank's spots, summed over ranks.
        let classes = Array(Set(f.truth.compactMap { $0 })).sorted()
        let code = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let truth = f.truth[lo..<hi].map { $0.map { code[$0]! } ?? -1 }
        let mclust = f.labels[lo..<hi].map { $0 - 1 }
        func table(_ a: [Int], _ rows: Int, _ b: [Int]) -> ContingencyTable {
            ContingencyTable(truthCodes: a, predictedCodes: b, rows: rows, cols: k).reduced(comm: comm)
        }
        let oursVsMclust = table(mclust, k, fit.labels)
        let oursVsTruth = table(truth, classes.count, fit.labels)
        let mclustVsTruth = table(truth, classes.count, mclust)

        let shortfall = max(0, (f.loglik - fit.loglik) / abs(f.loglik))
        let lls = fit.restartLogliks.map { $0.map { String(format: "%.2f", $0) } ?? "failed" }.joined(separator: " ")
        var checks = [VerificationCheck]()
        checks.append(VerificationCheck(name: "gmm/loglik", error: shortfall, tolerance: 1e-4, unit: "rel shortfall",
                                        detail: String(format: "ours %.4f, mclust %.4f (ours − mclust %+.4f)",
                                                       fit.loglik, f.loglik, fit.loglik - f.loglik)))
        checks.append(VerificationCheck(name: "gmm/BIC", error: fit.bic - f.bic, tolerance: nil, unit: "ours − mclust",
                                        detail: String(format: "ours %.4f, mclust %.4f (2ℓ − npar·ln N, npar %d)",
                                                       fit.bic, f.bic, GaussianMixture.parameterCount(clusters: k, dimension: p))))
        checks.append(VerificationCheck(name: "gmm/ARI vs mclust", error: ClusterScores.adjustedRandIndex(oursVsMclust),
                                        tolerance: nil, unit: "ARI", detail: "our labels vs mclust's"))
        checks.append(VerificationCheck(name: "gmm/ARI vs truth", error: ClusterScores.adjustedRandIndex(oursVsTruth),
                                        tolerance: nil, unit: "ARI",
                                        detail: String(format: "ours; mclust %.4f (%d labelled spots, %d classes)",
                                                       ClusterScores.adjustedRandIndex(mclustVsTruth),
                                                       Int(oursVsTruth.total), classes.count)))
        checks.append(VerificationCheck(name: "gmm/NMI vs truth", error: ClusterScores.normalizedMutualInformation(oursVsTruth),
                                        tolerance: nil, unit: "NMI",
                                        detail: String(format: "ours; mclust %.4f", ClusterScores.normalizedMutualInformation(mclustVsTruth))))
        checks.append(VerificationCheck(name: "gmm/loglik of mclust θ", error: llTheirParams ?? 0, tolerance: nil, unit: "ℓ",
                                        detail: llTheirParams == nil ? "mclust's sigma is singular to our Cholesky test"
                                            : String(format: "%.4f: our E-step on mclust's pro/mean/sigma (one M-step past its loglik)",
                                                     llTheirParams!)))
        checks.append(VerificationCheck(name: "gmm/fit", error: seconds, tolerance: nil, unit: "seconds",
                                        detail: "\(options.restarts) restarts, best \(fit.bestRestart) "
                                            + "(\(fit.iterations) EM iterations, \(fit.converged ? "converged" : "NOT converged")); "
                                            + "restart logliks: \(lls)"))
        return VerificationReport(fixture: path, kind: "gmm", ranks: comm.size, checks: checks)
    }

    /// Concatenates every rank's rows (rank order) on every rank.
    static func allGatherRows(_ m: CSRMatrix, comm: Communicator) throws -> CSRMatrix {
        if comm.size == 1 { return m }
        let rowLengths = Array(comm.allgatherv((0..<m.rows).map { Int64(m.indptr[$0 + 1] - m.indptr[$0]) }).joined())
        var ptr = [0]
        ptr.reserveCapacity(rowLengths.count + 1)
        for c in rowLengths { ptr.append(ptr.last! + Int(c)) }
        return CSRMatrix(rows: ptr.count - 1, cols: m.cols, indptr: ptr,
                         indices: Array(comm.allgatherv(m.indices).joined()),
                         values: Array(comm.allgatherv(m.values).joined()))
    }
}
