import STComm
import STCore

// Collective building blocks of the preprocessing: every statistic over spots is a local partial
// sum on this rank's rows followed by one reduction, and every error is decided collectively so
// that all ranks throw the same error at the same point (never one rank throwing while the others
// wait in a reduction).

extension Communicator {
    /// Elementwise sum over ranks, then a broadcast of rank 0's result so that every rank holds
    /// bit-identical values (MPI does not promise identical floating-point results on all ranks,
    /// and the HVG ranking must come out the same everywhere). A no-op with one rank.
    func prepAllreduceSum(_ a: inout [Double]) {
        allreduceSum(&a)
        if size > 1 { broadcast(&a, root: 0) }
    }

    /// The smallest of the ranks' `local` values (nil = none on this rank), identical on every rank.
    /// Used to name the first offending spot of a collective input error.
    func prepMinIndex(_ local: Int?) -> Int? {
        // max of −index; −∞ stands for "none". Exact for indices below 2⁵³.
        let v = max(local.map { -Double($0) } ?? -Double.infinity)
        return v == -Double.infinity ? nil : Int(-v)
    }

    /// Global index of each of this rank's `count` rows when ranks hold consecutive blocks in
    /// rank order: this rank's first row. (An all-reduce of the per-rank counts.)
    func prepRowOffset(localRows count: Int) -> Int {
        var counts = [Int64](repeating: 0, count: size)
        counts[rank] = Int64(count)
        allreduceSum(&counts)
        return Int(counts[0..<rank].reduce(0, +))
    }
}

/// Global spot indices of a rank's rows: `rowIDs` when given, else the rank-order block offset.
struct PrepRowNames {
    let ids: [Int]?
    let offset: Int
    init(rowIDs: [Int]?, localRows: Int, comm: Communicator) {
        ids = rowIDs
        offset = rowIDs == nil ? comm.prepRowOffset(localRows: localRows) : 0
    }
    func global(_ local: Int) -> Int { ids?[local] ?? (offset + local) }
}

/// Checks raw counts collectively: every stored value finite and non-negative, column indices in
/// range and (when `requireNonZeroRows`) every spot with a positive total. Throws the same
/// `InputError` on every rank, naming the smallest offending global spot index.
func prepValidateCounts<Index: SparseIndex>(_ counts: CompressedRows<Index>, requireNonZeroRows: Bool, names: PrepRowNames,
                        comm: Communicator) throws {
    var firstInvalid: Int? = nil
    var firstEmpty: Int? = nil
    var firstOverflow: Int? = nil
    counts.indptr.withUnsafeBufferPointer { P in
        counts.indices.withUnsafeBufferPointer { I in
            counts.values.withUnsafeBufferPointer { V in
                let cols = counts.cols
                for r in 0..<counts.rows {
                    var total = 0.0
                    var ok = true
                    var p = P[r]
                    let e = P[r &+ 1]
                    while p < e {
                        let v = V[p]
                        if !(v >= 0) || !v.isFinite || I[p] < 0 || Int(I[p]) >= cols { ok = false }
                        total += Double(v)
                        p &+= 1
                    }
                    let g = names.global(r)
                    if !ok { firstInvalid = Swift.min(firstInvalid ?? g, g) }
                    // normalize_total keeps the total as float32 (as scanpy): beyond its range every
                    // normalised value of the spot would be 0.
                    if ok && !Float(total).isFinite { firstOverflow = Swift.min(firstOverflow ?? g, g) }
                    if requireNonZeroRows && !(Float(total) > 0) { firstEmpty = Swift.min(firstEmpty ?? g, g) }
                }
            }
        }
    }
    if let bad = comm.prepMinIndex(firstInvalid) {
        throw InputError(field: "counts", "spot \(bad) has a negative or non-finite count or a gene index outside 0..<\(counts.cols); raw counts are expected")
    }
    if let bad = comm.prepMinIndex(firstOverflow) {
        throw InputError(field: "counts", "spot \(bad)'s total count overflows float32 (above 3.4·10³⁸); raw counts are expected")
    }
    if requireNonZeroRows, let bad = comm.prepMinIndex(firstEmpty) {
        throw InputError(field: "counts", "spot \(bad) has zero total counts; normalize_total would divide by zero (remove empty spots first)")
    }
}
