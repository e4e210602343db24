#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import STComm
import STCore

// scanpy's normalize_total / log1p / scale(zero_center=False) on sparse float32 matrices, with the
// float32/float64 behaviour of scanpy 1.11 + numpy 2:
// - normalize_total: each spot's total is accumulated in float64 and stored as float32
//   (`_normalize_csr`), the size factor total/target_sum is a float32 division, and each value
//   is divided by it in float32.
// - log1p: float32 log1p of the stored values.
// - scale: per-gene mean and variance accumulate in float64 the float32 values and their float32
//   squares (numba's `value * value` on float32 data), var = (Σx²/N − mean²)·N/(N−1), std = √var
//   (0 → 1), and each value becomes float32(min(max_value, float64(x)/std)).

/// Options of GraphST's preprocessing after HVG selection.
public struct NormalisationOptions: Sendable, Equatable {
    /// normalize_total target (GraphST: 1e4).
    public var targetSum: Double
    /// scale clip value (GraphST: 10); nil = no clipping.
    public var maxValue: Double?

    public init(targetSum: Double = 1e4, maxValue: Double? = 10) {
        self.targetSum = targetSum
        self.maxValue = maxValue
    }
}

/// Per-spot totals of a CSR matrix as scanpy's `normalize_total` computes them: float64 sums
/// rounded to float32 (rows).
public func spotTotals<Index: SparseIndex>(_ x: CompressedRows<Index>) -> [Float] {
    var out = [Float](repeating: 0, count: x.rows)
    x.indptr.withUnsafeBufferPointer { P in
        x.values.withUnsafeBufferPointer { V in
            out.withUnsafeMutableBufferPointer { O in
                for r in 0..<x.rows {
                    var s = 0.0
                    var p = P[r]
                    let e = P[r &+ 1]
                    while p < e { s += Double(V[p]); p &+= 1 }
                    O[r] = Float(s)
                }
            }
        }
    }
    return out
}

/// scanpy `normalize_total(target_sum:)` on this rank's spots: x_ij ← x_ij / (t_i / targetSum),
/// t_i the spot's total over all its genes (float32 arithmetic as scanpy).
///
/// Row-local, but the zero-total check is collective: a spot with zero total is an `InputError`
/// on every rank naming the smallest offending global spot index (`rowIDs[i]` is the global index
/// of local row i; default: ranks hold consecutive blocks in rank order). scanpy would divide by 1
/// there (scanpy 1.11; older versions produced NaN) and GraphST would train on an all-zero spot;
/// we refuse.
public func normalizeTotal<Index: SparseIndex>(_ x: inout CompressedRows<Index>, targetSum: Double = 1e4, rowIDs: [Int]? = nil,
                           comm: Communicator) throws {
    precondition(rowIDs == nil || rowIDs!.count == x.rows, "rowIDs must name every local spot")
    let names = PrepRowNames(rowIDs: rowIDs, localRows: x.rows, comm: comm)
    try prepValidateCounts(x, requireNonZeroRows: true, names: names, comm: comm)
    let totals = spotTotals(x)
    let target = Float(targetSum)
    x.indptr.withUnsafeBufferPointer { P in
        x.values.withUnsafeMutableBufferPointer { V in
            for r in 0..<x.rows {
                let factor = totals[r] / target
                var p = P[r]
                let e = P[r &+ 1]
                while p < e { V[p] = V[p] / factor; p &+= 1 }
            }
        }
    }
}

/// scanpy `log1p`: x ← log(1 + x) on the stored values (float32).
public func log1pInPlace<Index: SparseIndex>(_ x: inout CompressedRows<Index>) {
    x.values.withUnsafeMutableBufferPointer { V in
        for p in 0..<V.count { V[p] = log1pf(V[p]) }
    }
}

/// scanpy `scale(zero_center=False, max_value:)`: divides every gene (column) by its standard
/// deviation over all spots of all ranks (ddof = 1; a zero std becomes 1) and clips at `maxValue`.
/// The matrix stays sparse. One all-reduce of 2·cols + 1 float64 partial sums. Returns the stds.
@discardableResult
public func scaleUnitVariance<Index: SparseIndex>(_ x: inout CompressedRows<Index>, maxValue: Double? = 10, comm: Communicator) -> [Double] {
    let G = x.cols
    var buf = [Double](repeating: 0, count: 2 &* G &+ 1)
    buf.withUnsafeMutableBufferPointer { B in
        x.indices.withUnsafeBufferPointer { I in
            x.values.withUnsafeBufferPointer { V in
                for p in 0..<V.count {
                    let j = Int(I[p])
                    let v = V[p]
                    B[j] += Double(v)
                    B[G &+ j] += Double(v * v)   // float32 square, as numba computes it
                }
            }
        }
        B[2 &* G] = Double(x.rows)
    }
    comm.prepAllreduceSum(&buf)
    let n = buf[2 * G]
    var std = [Double](repeating: 1, count: G)
    if n > 1 {
        for j in 0..<G {
            let m = buf[j] / n
            // Clamped at 0: a constant column can round to a tiny negative variance.
            let v = Swift.max(0, (buf[G + j] / n - m * m) * (n / (n - 1)))
            let s = v.squareRoot()
            std[j] = s == 0 ? 1 : s
        }
    }
    let cap = maxValue ?? Double.infinity
    std.withUnsafeBufferPointer { S in
        x.indices.withUnsafeBufferPointer { I in
            x.values.withUnsafeMutableBufferPointer { V in
                for p in 0..<V.count {
                    V[p] = Float(Swift.min(cap, Double(V[p]) / S[Int(I[p])]))
                }
            }
        }
    }
    return std
}

/// The outcome of GraphST's preprocessing on one rank.
public struct PreprocessResult: Sendable {
    /// This rank's spots × the selected genes: normalised, log1p'd, scaled and clipped (float32 CSR,
    /// 16-bit column indices when the selected genes fit: `GeneMatrix`).
    public var X: GeneMatrix
    /// Selected gene indices (increasing): column c of `X` is gene `selectedGenes[c]`.
    public var selectedGenes: [Int]
    /// The HVG statistics (identical on every rank).
    public var stats: HVGResult
    /// Per-gene std used by the scaling, for the selected genes.
    public var scaleStd: [Double]
}

/// GraphST's preprocessing of raw counts, distributed over ranks:
/// seurat_v3 HVGs on the raw counts of all genes, then normalize_total(targetSum) with totals
/// over ALL genes, log1p and scale(zero_center=False, max_value) — applied by GraphST to all
/// genes, of which only the HVG columns are kept; every step is per spot or per gene, so applying
/// them to the HVG columns alone gives the same values.
///
/// `counts` is this rank's spots (rows) with all G genes; `rowIDs` the global spot index of each
/// local row (for error messages; default: consecutive blocks in rank order). Input errors
/// (negative or non-finite counts, a spot with zero total) are thrown on every rank alike.
/// Collectives: 3 all-reduces of O(G) float64 values plus the error checks.
public func preprocess(counts: CSRMatrix, hvg: HVGOptions = HVGOptions(),
                       normalisation: NormalisationOptions = NormalisationOptions(),
                       rowIDs: [Int]? = nil, comm: Communicator) throws -> PreprocessResult {
    var copy = GeneMatrix.wide(counts)
    return try preprocess(consuming: &copy, hvg: hvg, normalisation: normalisation, rowIDs: rowIDs, comm: comm)
}

/// `preprocess(counts:…)` in place: the counts' arrays become X's (the selected columns are
/// compacted towards the front of each row, which never overtakes the reading position), so a
/// rank holds one copy of its rows instead of two; `counts` is left empty. This is what `run`
/// uses: on a 10⁸-entry rank the second copy alone would be 0.8 GB.
///
/// X keeps 16-bit indices when the counts have them. 32-bit counts whose selected genes fit 16 bits
/// (`GeneMatrix.usesNarrowIndices`; e.g. > 65 536 genes read, 3000 selected) are narrowed once the
/// unselected entries are gone, when that does not raise the rank's peak: the narrowing holds both
/// index arrays of X at once (10 bytes per kept entry), which must not exceed the counts as read
/// (8 per read entry).
public func preprocess(consuming counts: inout GeneMatrix, hvg: HVGOptions = HVGOptions(),
                       normalisation: NormalisationOptions = NormalisationOptions(),
                       rowIDs: [Int]? = nil, comm: Communicator) throws -> PreprocessResult {
    let empty = GeneMatrix(emptyRows: 0, cols: counts.cols)
    switch counts {
    case .narrow(var m):
        counts = empty   // m's arrays are now unique: preprocessed in place
        let r = try preprocessRows(consuming: &m, hvg: hvg, normalisation: normalisation, rowIDs: rowIDs, comm: comm)
        return PreprocessResult(X: .narrow(r.X), selectedGenes: r.selected, stats: r.stats, scaleStd: r.std)
    case .wide(var m):
        counts = empty
        let read = m.nnz
        var r = try preprocessRows(consuming: &m, hvg: hvg, normalisation: normalisation, rowIDs: rowIDs, comm: comm)
        // The same answer on every rank: the largest ratio of kept to read entries decides.
        var ratio = [Double(r.X.nnz) * 10 - Double(read) * 8]
        ratio.withUnsafeMutableBufferPointer { comm.allreduceMax($0) }
        guard ratio[0] <= 0, GeneMatrix.usesNarrowIndices(cols: r.X.cols) else {
            return PreprocessResult(X: .wide(r.X), selectedGenes: r.selected, stats: r.stats, scaleStd: r.std)
        }
        let x = r.X
        r.X = CSRMatrix(rows: 0, cols: x.cols, indptr: [0], indices: [], values: [])
        return PreprocessResult(X: GeneMatrix(consume x), selectedGenes: r.selected, stats: r.stats, scaleStd: r.std)
    }
}

/// `preprocess(consuming:…)` on one index width: X in the counts' arrays.
func preprocessRows<Index: SparseIndex>(consuming counts: inout CompressedRows<Index>, hvg: HVGOptions,
                                        normalisation: NormalisationOptions, rowIDs: [Int]?, comm: Communicator)
    throws -> (X: CompressedRows<Index>, selected: [Int], stats: HVGResult, std: [Double]) {
    precondition(rowIDs == nil || rowIDs!.count == counts.rows, "rowIDs must name every local spot")
    let names = PrepRowNames(rowIDs: rowIDs, localRows: counts.rows, comm: comm)
    try prepValidateCounts(counts, requireNonZeroRows: true, names: names, comm: comm)
    let stats = try seuratV3Validated(counts: counts, options: hvg, comm: comm)
    let selected = stats.selected

    // normalize_total over all genes, log1p, restricted to the selected columns (fused), written
    // over the counts: entry p moves to w ≤ p.
    let totals = spotTotals(counts)
    let target = Float(normalisation.targetSum)
    var colMap = [Int32](repeating: -1, count: counts.cols)
    for (c, g) in selected.enumerated() { colMap[g] = Int32(c) }
    let rows = counts.rows, genes = counts.cols
    var ptr = counts.indptr, idx = counts.indices, val = counts.values
    counts = CompressedRows(rows: 0, cols: genes, indptr: [0], indices: [], values: [])   // idx, val now unique
    var w = 0
    idx.withUnsafeMutableBufferPointer { I in
        val.withUnsafeMutableBufferPointer { V in
            colMap.withUnsafeBufferPointer { M in
                var p = ptr[0]
                for r in 0..<rows {
                    let factor = totals[r] / target
                    let e = ptr[r &+ 1]
                    while p < e {
                        let c = M[Int(I[p])]
                        if c >= 0 {
                            I[w] = Index(truncatingIfNeeded: c)   // c < selected.count ≤ genes: fits
                            V[w] = log1pf(V[p] / factor)
                            w &+= 1
                        }
                        p &+= 1
                    }
                    ptr[r &+ 1] = w
                }
            }
        }
    }
    // Dropped columns leave a tail: trim it, copying to exact size only when it is large (the
    // copy briefly holds both).
    if w < idx.count {
        if w < idx.count * 3 / 4 {
            idx = Array(idx[0..<w]); val = Array(val[0..<w])
        } else {
            idx.removeLast(idx.count - w); val.removeLast(val.count - w)
        }
    }
    // `consume`: X must hold the only reference, or the scaling below would copy the values.
    var X = CompressedRows(rows: rows, cols: selected.count, indptr: consume ptr, indices: consume idx, values: consume val)
    let std = scaleUnitVariance(&X, maxValue: normalisation.maxValue, comm: comm)
    return (X, selected, stats, std)
}
