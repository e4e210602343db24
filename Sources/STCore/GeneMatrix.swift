#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Spots × genes (raw counts or the preprocessed X) with 16-bit column indices when the genes fit
/// (≤ 65 536: 6 bytes per stored entry, float32 value + UInt16 index), 32-bit otherwise (8 bytes).
///
/// X is most of a rank's memory on a large slide (issue 7: 8.0 of 13.6 GiB on a million spots over
/// eight ranks), and its indices are genes, so they usually fit 16 bits; the graph's matrices (Â, M,
/// local spots as columns) stay `CSRMatrix`. Both cases hold the same numbers in the same order and
/// the kernels instantiate one body for both widths, so the width never changes a result.
public enum GeneMatrix: Equatable, Sendable {
    /// Columns ≤ 65 536: UInt16 indices.
    case narrow(CSRMatrix16)
    /// Any column count: Int32 indices.
    case wide(CSRMatrix)

    /// Whether matrices of `cols` columns are stored with 16-bit indices: when they fit, unless
    /// the environment variable `STGNN_X_INDEX_BITS=32` asks for 32 bits (for comparisons of the
    /// two widths; results are bitwise the same).
    public static func usesNarrowIndices(cols: Int) -> Bool {
        cols <= UInt16.columnLimit && !forceWide
    }

    /// `STGNN_X_INDEX_BITS=32` read once.
    static let forceWide: Bool = getenv("STGNN_X_INDEX_BITS").map { String(cString: $0) == "32" } ?? false

    /// `m` with 16-bit indices when `usesNarrowIndices(cols:)` (one new index array, 2 bytes per
    /// entry, after which `m`'s 4-byte one is freed if it was the last reference), else as it is.
    public init(_ m: CSRMatrix) {
        self = Self.usesNarrowIndices(cols: m.cols) ? .narrow(m.withIndices(UInt16.self)) : .wide(m)
    }

    /// An empty matrix of `rows` rows (no entries) and `cols` columns, in the width `cols` gets.
    public init(emptyRows rows: Int = 0, cols: Int) {
        let ptr = [Int](repeating: 0, count: rows + 1)
        self = Self.usesNarrowIndices(cols: cols)
            ? .narrow(CSRMatrix16(rows: rows, cols: cols, indptr: ptr, indices: [], values: []))
            : .wide(CSRMatrix(rows: rows, cols: cols, indptr: ptr, indices: [], values: []))
    }

    public var rows: Int {
        switch self { case .narrow(let m): return m.rows; case .wide(let m): return m.rows }
    }
    public var cols: Int {
        switch self { case .narrow(let m): return m.cols; case .wide(let m): return m.cols }
    }
    public var nnz: Int {
        switch self { case .narrow(let m): return m.nnz; case .wide(let m): return m.nnz }
    }
    /// Row pointers (rows + 1).
    public var indptr: [Int] {
        switch self { case .narrow(let m): return m.indptr; case .wide(let m): return m.indptr }
    }
    /// Stored values (nnz).
    public var values: [Float] {
        switch self { case .narrow(let m): return m.values; case .wide(let m): return m.values }
    }
    /// Bits per column index: 16 or 32.
    public var indexBits: Int {
        switch self { case .narrow: return 16; case .wide: return 32 }
    }
    /// Bytes per stored entry: a float32 value and the index.
    public static func bytesPerEntry(indexBits: Int) -> Int { 4 + indexBits / 8 }

    /// The matrix with Int32 indices (a copy of the indices when narrow; tests and fixtures).
    public var wideMatrix: CSRMatrix {
        switch self { case .narrow(let m): return m.withIndices(Int32.self); case .wide(let m): return m }
    }

    /// The sub-matrix of the given rows (in the given order), in the same width.
    public func selectingRows(_ rowList: [Int]) -> GeneMatrix {
        switch self {
        case .narrow(let m): return .narrow(m.selectingRows(rowList))
        case .wide(let m): return .wide(m.selectingRows(rowList))
        }
    }
}
