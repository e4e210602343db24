extension Sparse {
    /// C[rows, 0..<w] = A[rows, :] · B[:, 0..<w] for one range of A's rows, on the calling thread:
    /// each row exactly as `spmm` computes it (same kernel, same order), for callers that fuse a
    /// sparse product into a pass of their own over row blocks (the readout and the discriminator).
    public static func spmm(_ a: CSRMatrix, rows: Range<Int>, _ b: UnsafePointer<Float>, ldb: Int, width w: Int,
                            into c: UnsafeMutablePointer<Float>, ldc: Int, path: Path = defaultPath) {
        precondition(rows.lowerBound >= 0 && rows.upperBound <= a.rows, "rows \(rows) of a \(a.rows)-row matrix")
        if rows.isEmpty || w <= 0 { return }
        if a.nnz == 0 {
            for i in rows { (c + i &* ldc).update(repeating: 0, count: w) }
            return
        }
        let p = Path(rawValue: Swift.min(path.rawValue, supportedPath.rawValue))!
        a.indptr.withUnsafeBufferPointer { ptr in
        a.indices.withUnsafeBufferPointer { idx in
        a.values.withUnsafeBufferPointer { val in
            spmmRows(rows, p, ptr.baseAddress!, idx.baseAddress!, val.baseAddress!, b, ldb: ldb, width: w,
                     into: c, ldc: ldc)
        } } }
    }
}
