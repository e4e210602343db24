import CSparseSIMD

/// The column index type of a `CompressedRows` matrix: `Int32` (any matrix) or `UInt16` (X when
/// its genes fit, 6 bytes per stored entry instead of 8; the row blocks of Xᵀ). No other type
/// conforms: the C kernels exist for exactly these two (`Sources/CSparseSIMD`, one macro body
/// instantiated for both), reached by the index width.
public protocol SparseIndex: FixedWidthInteger, BitwiseCopyable, Sendable {}

extension Int32: SparseIndex {}
extension UInt16: SparseIndex {}

extension SparseIndex {
    /// Columns this index type can address: `Index.max + 1`.
    public static var columnLimit: Int { Int(Self.max) &+ 1 }

    /// C[i, 0..<w] = (C[i, 0..<w] if `add`, else +0) + Σ_p val[p]·B[idx[p], 0..<w], rows i in `rows`,
    /// with the AVX2 or AVX-512 instantiation for this index width (`path` one of the two, supported).
    @inline(__always)
    static func simdSpmmRows(_ rows: Range<Int>, _ path: Sparse.Path, _ pp: UnsafePointer<Int>,
                             _ ip: UnsafePointer<Self>, _ vp: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                             ldb: Int, width w: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, add: Bool) {
        stgnn_spmm(Int32(path.rawValue), add ? 1 : 0, Int32(bitWidth), rows.lowerBound, rows.upperBound, pp,
                   UnsafeRawPointer(ip), vp, b, ldb, w, c, ldc)
    }

    /// acc[idx[p], 0..<w] += val[p]·B[i, 0..<w], rows i in `rows` (acc row stride w), with the AVX2
    /// or AVX-512 instantiation for this index width.
    @inline(__always)
    static func simdScatterRows(_ rows: Range<Int>, _ path: Sparse.Path, _ pp: UnsafePointer<Int>,
                                _ ip: UnsafePointer<Self>, _ vp: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                ldb: Int, width w: Int, into acc: UnsafeMutablePointer<Float>) {
        stgnn_scatter(Int32(path.rawValue), Int32(bitWidth), rows.lowerBound, rows.upperBound, pp,
                      UnsafeRawPointer(ip), vp, b, ldb, w, acc)
    }
}
