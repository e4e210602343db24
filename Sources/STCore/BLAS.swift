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
    /// row blocks (`sgemmRowBlock`; the last one takes the remainder), one single-threaded OpenBLAS
    /// call per block, on the pool. The blocks do not depend on the pool, and each block is the same
    /// call whichever thread makes it, so the result is the same for any number of threads by
    /// construction (OpenBLAS held at one thread by the caller).
    ///
    /// The blocks are large enough (≥ 2²¹ multiply-adds) to stay on OpenBLAS's regular kernels:
    /// with a few rows it switches to "small matrix" kernels that round differently (measured: an
    /// 8-row remainder of 6920 × 64 × 64 did). With that, every block computes its rows exactly as
    /// one call over all m rows does, so the serial result is also today's (tests check both).
    public static func sgemmRows(transB: Bool = false, m: Int, n: Int, k: Int, alpha: Float = 1,
                                 a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
                                 beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
                                 pool: ThreadPool = .serial) {
        let block = sgemmRowBlock(n: n, k: k)
        let blocks = Swift.max(1, m / block)
        if blocks == 1 {
            sgemm(transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c, ldc: ldc)
            return
        }
        pool.run(tasks: blocks) { bi in
            let r0 = bi &* block, r1 = bi == blocks &- 1 ? m : r0 &+ block
            sgemm(transB: transB, m: r1 &- r0, n: n, k: k, alpha: alpha, a: a + r0 &* lda, lda: lda,
                  b: b, ldb: ldb, beta: beta, c: c + r0 &* ldc, ldc: ldc)
        }
    }

    /// Rows per block of `sgemmRows`: at least `ThreadPool.rowBlock`, and at least 2²¹ multiply-adds.
    public static func sgemmRowBlock(n: Int, k: Int) -> Int {
        let work = Swift.max(1, n &* k)
        return Swift.max(ThreadPool.rowBlock, ((1 << 21) + work - 1) / work)
    }

    /// The number of threads OpenBLAS uses.
    public static var threads: Int { Int(openblas_get_num_threads()) }
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(n)) }
}
