import CSparseSIMD

/// The column index type of a `CompressedRows` matrix: `Int32` (any matrix) or `UInt16` (X when
/// its genes fit, 6 bytes per stored entry instead of 8; the row blocks of Xᵀ).
///
/// Each width names its own instantiation of the C kernels (`Sources/CSparseSIMD`, one macro body
/// for both), so a generic kernel over `CompressedRows<Index>` reaches the right one through the
/// protocol and the loop bodies exist once, in C and in Swift.
public protocol SparseIndex: FixedWidthInteger, BitwiseCopyable, Sendable {
    /// Columns this index type can address: `Index.max + 1`.
    static var columnLimit: Int { get }

    /// C[i, 0..<w] = (C[i, 0..<w] if `add`, else +0) + Σ_p val[p]·B[idx[p], 0..<w], rows i in `rows`,
    /// with the AVX2 or AVX-512 instantiation (`path` is one of the two, and supported).
    static func simdSpmmRows(_ rows: Range<Int>, _ path: Sparse.Path, _ ptr: UnsafePointer<Int>,
                             _ idx: UnsafePointer<Self>, _ val: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                             ldb: Int, width w: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, add: Bool)

    /// acc[idx[p], 0..<w] += val[p]·B[i, 0..<w], rows i in `rows` (acc row stride w), with the AVX2
    /// or AVX-512 instantiation.
    static func simdScatterRows(_ rows: Range<Int>, _ path: Sparse.Path, _ ptr: UnsafePointer<Int>,
                                _ idx: UnsafePointer<Self>, _ val: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                ldb: Int, width w: Int, into acc: UnsafeMutablePointer<Float>)
}

extension SparseIndex {
    public static var columnLimit: Int { Int(Self.max) &+ 1 }
}

extension Int32: SparseIndex {
    public static func simdSpmmRows(_ rows: Range<Int>, _ path: Sparse.Path, _ pp: UnsafePointer<Int>,
                                    _ ip: UnsafePointer<Int32>, _ vp: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                    ldb: Int, width w: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, add: Bool) {
        let r0 = rows.lowerBound, r1 = rows.upperBound
        switch (path, add) {
        case (.avx512, true): stgnn_spmm_add_avx512(r0, r1, pp, ip, vp, b, ldb, w, c, ldc)
        case (.avx512, false): stgnn_spmm_avx512(r0, r1, pp, ip, vp, b, ldb, w, c, ldc)
        case (_, true): stgnn_spmm_add_avx2(r0, r1, pp, ip, vp, b, ldb, w, c, ldc)
        case (_, false): stgnn_spmm_avx2(r0, r1, pp, ip, vp, b, ldb, w, c, ldc)
        }
    }

    public static func simdScatterRows(_ rows: Range<Int>, _ path: Sparse.Path, _ pp: UnsafePointer<Int>,
                                       _ ip: UnsafePointer<Int32>, _ vp: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                       ldb: Int, width w: Int, into acc: UnsafeMutablePointer<Float>) {
        if path == .avx512 { stgnn_scatter_avx512(rows.lowerBound, rows.upperBound, pp, ip, vp, b, ldb, w, acc) }
        else { stgnn_scatter_avx2(rows.lowerBound, rows.upperBound, pp, ip, vp, b, ldb, w, acc) }
    }
}

extension UInt16: SparseIndex {
    public static func simdSpmmRows(_ rows: Range<Int>, _ path: Sparse.Path, _ pp: UnsafePointer<Int>,
                                    _ ip: UnsafePointer<UInt16>, _ vp: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                    ldb: Int, width w: Int, into c: UnsafeMutablePointer<Float>, ldc: Int, add: Bool) {
        let r0 = rows.lowerBound, r1 = rows.upperBound
        switch (path, add) {
        case (.avx512, true): stgnn_spmm_add_avx512_u16(r0, r1, pp, ip, vp, b, ldb, w, c, ldc)
        case (.avx512, false): stgnn_spmm_avx512_u16(r0, r1, pp, ip, vp, b, ldb, w, c, ldc)
        case (_, true): stgnn_spmm_add_avx2_u16(r0, r1, pp, ip, vp, b, ldb, w, c, ldc)
        case (_, false): stgnn_spmm_avx2_u16(r0, r1, pp, ip, vp, b, ldb, w, c, ldc)
        }
    }

    public static func simdScatterRows(_ rows: Range<Int>, _ path: Sparse.Path, _ pp: UnsafePointer<Int>,
                                       _ ip: UnsafePointer<UInt16>, _ vp: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
                                       ldb: Int, width w: Int, into acc: UnsafeMutablePointer<Float>) {
        if path == .avx512 { stgnn_scatter_avx512_u16(rows.lowerBound, rows.upperBound, pp, ip, vp, b, ldb, w, acc) }
        else { stgnn_scatter_avx2_u16(rows.lowerBound, rows.upperBound, pp, ip, vp, b, ldb, w, acc) }
    }
}
