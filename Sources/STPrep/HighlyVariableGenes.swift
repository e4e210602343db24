#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import STComm
import STCore

/// scanpy's `highly_variable_genes(flavor="seurat_v3")` statistics and selection (one batch).
public struct HVGResult: Sendable, Equatable {
    /// Number of spots over all ranks (N).
    public var nSpots: Int
    /// Per-gene mean of the raw counts over all spots (G).
    public var means: [Double]
    /// Per-gene variance of the raw counts, ddof = 1 (G).
    public var variances: [Double]
    /// Per-gene normalised (clipped, standardised) variance (G); NaN when it could not be computed
    /// (see `keptAllGenes`).
    public var variancesNorm: [Double]
    /// Per-gene 0-based rank by decreasing `variancesNorm`, or −1 for ranks ≥ nTopGenes
    /// (scanpy's `highly_variable_rank`, NaN there).
    public var rank: [Int]
    /// Per-gene selection flag: rank < nTopGenes (G).
    public var highlyVariable: [Bool]
    /// The selected genes, increasing (the column order of the preprocessed matrix).
    public var selected: [Int]
    /// True when the slide has no more genes than requested, so every gene is kept.
    public var keptAllGenes: Bool
    /// Local fits of the loess that needed the pseudo-inverse (scikit-misc raises an error there).
    public var loessPseudoinverseFits: Int
}

/// Parameters of seurat_v3 HVG selection.
public struct HVGOptions: Sendable, Equatable {
    /// Number of genes to keep (GraphST: 3000).
    public var nTopGenes: Int
    /// Loess span of the mean–variance trend (scanpy: 0.3).
    public var span: Double
    /// Loess surface (`.interpolate` is what scanpy/scikit-misc compute; `.direct` is the exact fit).
    public var surface: LoessSurface
    /// Order of genes with exactly equal normalised variance.
    public var tieOrder: HVGTieOrder

    public init(nTopGenes: Int = 3000, span: Double = 0.3, surface: LoessSurface = .interpolate,
                tieOrder: HVGTieOrder = .numpyAVX512) {
        self.nTopGenes = nTopGenes
        self.span = span
        self.surface = surface
        self.tieOrder = tieOrder
    }
}

/// How genes with exactly equal normalised variance are ranked.
///
/// scanpy ranks with `argsort(argsort(-variances_norm))` using numpy's default, unstable sort, so
/// the order among ties is whatever numpy's sort implementation produces, and that depends on the
/// CPU numpy runs on (x86-simd-sort on AVX-512 or AVX2, numpy's own introsort elsewhere). Ties
/// are common: genes with identical count statistics (sum, sum of squares, clipped sums) have
/// identical normalised variance, e.g. many low-count genes; a tie group straddling rank
/// nTopGenes decides which of its genes are selected.
public enum HVGTieOrder: String, Sendable, CaseIterable {
    /// numpy 2.x on x86-64 with AVX-512 (how the reference fixtures were made; reproduced exactly).
    case numpyAVX512
    /// Stable: tied genes in increasing gene index.
    case geneIndex
}

/// seurat_v3 highly-variable genes on raw counts, distributed over ranks.
///
/// `counts` holds this rank's spots (rows) and all G genes (columns). Steps, as scanpy 1.11
/// `_highly_variable_genes_seurat_v3` with one batch:
/// 1. Per gene, over all N spots (local float64 sums S₁ = Σx, S₂ = Σx², one all-reduce):
///    mean μ = S₁/N, variance σ² = (S₂/N − μ²)·N/(N−1) (scanpy's formula, ddof = 1).
/// 2. For genes with σ² > 0: loess (degree 2, `span`) of log₁₀σ² on log₁₀μ; constant genes get
///    the estimate 0. reg_std = √(10^estimate).
/// 3. Clip each count at c = reg_std·√N + μ; local sums T₁ = Σmin(x, c), T₂ = Σmin(x, c)² over
///    stored entries (zeros stay zero), one all-reduce.
/// 4. variances_norm = (N μ² + T₂ − 2 T₁ μ) / ((N−1)·reg_std²).
/// 5. Rank by decreasing variances_norm; genes ranked below `nTopGenes` are selected. Exact ties
///    (genes with identical statistics) are ordered as `options.tieOrder` says; the default
///    reproduces numpy's `argsort(-v)` on AVX-512 x86-64, as scanpy ran it for the fixtures.
///
/// With G ≤ nTopGenes every gene is selected (GraphST keeps all genes in that case); the
/// statistics are still computed when the loess can be fitted, else `variancesNorm` is NaN and
/// `rank` −1. Every rank returns the same result. Squares of counts are formed in float64 (scanpy
/// squares integer counts exactly too; for float32 counts it squares in float32, a ≤ 6e-8
/// relative difference per term).
///
/// Negative or non-finite counts are an `InputError` on every rank naming the smallest global spot
/// index (`rowIDs[i]` = global index of local row i; default: consecutive blocks in rank order).
/// Collectives: 2 all-reduces (+ broadcasts) of 2G+1 and 2G float64 values, plus the checks.
public func highlyVariableGenesSeuratV3<Index: SparseIndex>(counts: CompressedRows<Index>, options: HVGOptions = HVGOptions(),
                                        rowIDs: [Int]? = nil, comm: Communicator) throws -> HVGResult {
    precondition(rowIDs == nil || rowIDs!.count == counts.rows, "rowIDs must name every local spot")
    let names = PrepRowNames(rowIDs: rowIDs, localRows: counts.rows, comm: comm)
    try prepValidateCounts(counts, requireNonZeroRows: false, names: names, comm: comm)
    return try seuratV3Validated(counts: counts, options: options, comm: comm)
}

/// The HVG computation on counts already validated collectively.
func seuratV3Validated<Index: SparseIndex>(counts: CompressedRows<Index>, options: HVGOptions, comm: Communicator) throws -> HVGResult {
    guard options.nTopGenes > 0 else { throw InputError(field: "n_top_genes", "must be positive, got \(options.nTopGenes)") }
    let G = counts.cols

    // 1. Sums and sums of squares per gene, plus the spot count, in one reduction.
    var buf = [Double](repeating: 0, count: 2 &* G &+ 1)
    buf.withUnsafeMutableBufferPointer { B in
        counts.indices.withUnsafeBufferPointer { I in
            counts.values.withUnsafeBufferPointer { V in
                for p in 0..<V.count {
                    let j = Int(I[p])
                    let v = Double(V[p])
                    B[j] += v
                    B[G &+ j] += v * v
                }
            }
        }
        B[2 &* G] = Double(counts.rows)
    }
    comm.prepAllreduceSum(&buf)
    let N = Int(buf[2 * G])
    guard N >= 2 else { throw InputError(field: "counts", "seurat_v3 HVG needs at least 2 spots, got \(N)") }
    let n = Double(N)
    let besselFactor = n / (n - 1)
    var means = [Double](repeating: 0, count: G)
    var variances = [Double](repeating: 0, count: G)
    for j in 0..<G {
        let m = buf[j] / n
        means[j] = m
        variances[j] = (buf[G + j] / n - m * m) * besselFactor
    }

    let keepAll = G <= options.nTopGenes
    var result = HVGResult(nSpots: N, means: means, variances: variances,
                           variancesNorm: [Double](repeating: .nan, count: G),
                           rank: [Int](repeating: -1, count: G),
                           highlyVariable: [Bool](repeating: keepAll, count: G),
                           selected: keepAll ? Array(0..<G) : [],
                           keptAllGenes: keepAll, loessPseudoinverseFits: 0)

    // 2. Loess trend of log10 variance on log10 mean over non-constant genes.
    let nonConstant = (0..<G).filter { variances[$0] > 0 }
    var estimate = [Double](repeating: 0, count: G)
    do {
        let lx = nonConstant.map { log10(means[$0]) }
        let ly = nonConstant.map { log10(variances[$0]) }
        let fit = try Loess(span: options.span, degree: 2, surface: options.surface).fit(x: lx, y: ly)
        for (k, j) in nonConstant.enumerated() { estimate[j] = fit.fittedValues[k] }
        result.loessPseudoinverseFits = fit.pseudoinverseFits
    } catch let e as LoessError {
        if keepAll { return result }   // too few genes for a trend: keep them all, no statistics
        throw InputError(field: "counts", "seurat_v3 HVG: the mean-variance loess over \(nonConstant.count) non-constant genes failed: \(e.message)")
    }
    var regStd = [Double](repeating: 1, count: G)
    var clip = [Double](repeating: 0, count: G)
    let sqrtN = n.squareRoot()
    for j in 0..<G {
        regStd[j] = pow(10.0, estimate[j]).squareRoot()
        clip[j] = regStd[j] * sqrtN + means[j]
    }

    // 3. Clipped sums per gene.
    var csum = [Double](repeating: 0, count: 2 &* G)
    csum.withUnsafeMutableBufferPointer { B in
        clip.withUnsafeBufferPointer { C in
            counts.indices.withUnsafeBufferPointer { I in
                counts.values.withUnsafeBufferPointer { V in
                    for p in 0..<V.count {
                        let j = Int(I[p])
                        let e = Swift.min(Double(V[p]), C[j])
                        B[j] += e * e
                        B[G &+ j] += e
                    }
                }
            }
        }
    }
    comm.prepAllreduceSum(&csum)

    // 4. Normalised variance (scanpy's expression, same association).
    var norm = [Double](repeating: 0, count: G)
    for j in 0..<G {
        let m = means[j], r = regStd[j]
        norm[j] = (1 / ((n - 1) * (r * r))) * ((n * (m * m) + csum[j]) - 2 * csum[G + j] * m)
    }
    result.variancesNorm = norm

    // 5. Ranks: ascending order of −variances_norm (NaN last), ties per `tieOrder`.
    let order: [Int]
    switch options.tieOrder {
    case .numpyAVX512:
        order = numpyArgsortAVX512(norm.map { -$0 })
    case .geneIndex:
        order = (0..<G).sorted { a, b in
            let va = norm[a], vb = norm[b]
            if va.isNaN || vb.isNaN { return !va.isNaN && vb.isNaN || (va.isNaN && vb.isNaN && a < b) }
            return va != vb ? va > vb : a < b
        }
    }
    var rank = [Int](repeating: -1, count: G)
    for (r, j) in order.enumerated() where r < options.nTopGenes { rank[j] = r }
    result.rank = rank
    result.highlyVariable = rank.map { $0 >= 0 }
    result.selected = (0..<G).filter { rank[$0] >= 0 }
    return result
}
