import CBLAS

/// Thin wrappers over OpenBLAS for row-major buffers. Shapes in the names of the arguments:
/// C (m×n) = alpha · op(A) · op(B) + beta · C.
public enum BLAS {
    /// C = alpha·op(A)·op(B) + beta·C in float32; op(A) is m×k, op(B) is k×n, all row-major.
    @inlinable
    public static func sgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
                             b: UnsafePointer<Float>, ldb: Int,
                             beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            if beta == 0 { for i in 0..<m { (c + i * ldc).update(repeating: 0, count: n) } }
            else { for i in 0..<m { for j in 0..<n { c[i * ldc + j] *= beta } } }
            return
        }
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }

    /// C = alpha·op(A)·op(B) + beta·C in float64.
    @inlinable
    public static func dgemm(transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
                             alpha: Double = 1, a: UnsafePointer<Double>, lda: Int,
                             b: UnsafePointer<Double>, ldb: Int,
                             beta: Double = 0, c: UnsafeMutablePointer<Double>, ldc: Int) {
        if m == 0 || n == 0 { return }
        if k == 0 {
            for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : c[i * ldc + j] * beta } }
            return
        }
        cblas_dgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                    beta, c, blasint(ldc))
    }

    /// C (p×q, float64) += Aᵀ·B for row-major A (n×p, lda) and B (n×q, ldb) in float32.
    ///
    /// A reduction over the n spots: sgemm on blocks of `block` rows, each block's float32 result
    /// added into the float64 accumulator, so the rounding error grows with the block size, not
    /// with n (a slide of 10⁷ spots sums as accurately as one of 10³).
    public static func gramAccumulate(n: Int, p: Int, q: Int, a: UnsafePointer<Float>, lda: Int,
                                      b: UnsafePointer<Float>, ldb: Int,
                                      into c: UnsafeMutablePointer<Double>, ldc: Int,
                                      scratch: inout [Float], block: Int = 2048, pool: ThreadPool = .serial) {
        if pool.threads > 1 && n > block {
            // The same blocks, their sgemms on the pool, each into its own p×q float32 slot; then
            // added into c in block order: the same operations as the serial loop below.
            let blocks = (n + block - 1) / block, pq = p * q
            if scratch.count < blocks * pq { scratch = [Float](repeating: 0, count: blocks * pq) }
            scratch.withUnsafeMutableBufferPointer { s in
                let base = s.baseAddress!
                pool.run(tasks: blocks) { bi in
                    let r0 = bi &* block, rows = Swift.min(block, n &- r0)
                    sgemm(transA: true, m: p, n: q, k: rows, a: a + r0 &* lda, lda: lda,
                          b: b + r0 &* ldb, ldb: ldb, c: base + bi &* pq, ldc: q)
                }
                for bi in 0..<blocks {
                    let sb = base + bi &* pq
                    for i in 0..<p {
                        let ci = c + i &* ldc, si = sb + i &* q
                        for j in 0..<q { ci[j] += Double(si[j]) }
                    }
                }
            }
            return
        }
        if scratch.count < p * q { scratch = [Float](repeating: 0, count: p * q) }
        scratch.withUnsafeMutableBufferPointer { s in
            var r0 = 0
            while r0 < n {
                let rows = Swift.min(block, n - r0)
                sgemm(transA: true, m: p, n: q, k: rows, a: a + r0 * lda, lda: lda,
                      b: b + r0 * ldb, ldb: ldb, c: s.baseAddress!, ldc: q)
                for i in 0..<p {
                    let ci = c + i &* ldc, si = s.baseAddress! + i &* q
                    for j in 0..<q { ci[j] += Double(si[j]) }
                }
                r0 += rows
            }
        }
    }

    /// C (m×n) = alpha·A·op(B) + beta·C with A (m×k, row-major, not transposed) cut into fixed
    /// blocks of `ThreadPool.rowBlock` rows, one sgemm per block on the pool. Each block's rows are
    /// computed by the same OpenBLAS kernel along k as in one call over all m rows (OpenBLAS
    /// partitions neither k nor the order within a row by m; the tests check it bitwise), so the
    /// result does not depend on the pool. The serial pool makes the single call.
    public static func sgemmRows(transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
                                 pool: ThreadPool = .serial) {
        if pool.threads == 1 || m <= ThreadPool.rowBlock {
            sgemm(transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
            return
        }
        pool.forEachBlock(count: m) { r in
            sgemm(transB: transB, m: r.count, n: n, k: k, alpha: alpha, a: a + r.lowerBound &* lda, lda: lda,
                  b: b, ldb: ldb, beta: beta, c: c + r.lowerBound &* ldc, ldc: ldc)
        }
    }

    /// The number of threads OpenBLAS uses.
    public static var threads: Int { Int(openblas_get_num_threads()) }
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}
