import STCore

// N = spots owned, L = local rows (owned + ghosts), d = latent width.
//
// The local readout and the discriminator's logits in one pass over blocks of spots (the forward
// of LocalReadout followed by Bilinear's, fused):
//   s = M E,  g = σ(s/‖s‖),  wc = [g Wbᵀ | g̃ Wbᵀ],  logits = s1..s4 + b
// Each task takes one row block of `BLAS.sgemmRows` (its blocks of 2N half-rows: the same sgemm
// calls, so the same bits) and runs the four steps on it while its rows of s, g and wc are still
// in L1/L2, instead of four passes over N × 2d workspaces with a pool job each.

enum ReadoutLogits {
    /// Whether `forward` runs fused for n spots at width d on `pool`: the sgemm blocks must fall on
    /// spot boundaries (an even count of half-rows; 2²¹/d² rounded up is odd for some d) and give
    /// every thread work; otherwise the unfused ops run (the same bits either way).
    static func fuses(n: Int, d: Int, pool: ThreadPool) -> Bool {
        let block = BLAS.sgemmRowBlock(n: d, k: d)
        return block % 2 == 0 && Swift.max(1, 2 * n / block) >= pool.threads
    }

    /// s, g (N, 2d), norms (N, 2) as `LocalReadout.forward`; wc (N, 2d) and logits (N, 4) as
    /// `Bilinear.forward`; bitwise equal to the two in turn.
    static func forward(mask: CSRMatrix, e: UnsafePointer<Float>, wb: UnsafePointer<Float>, bias: Float,
                        s: UnsafeMutablePointer<Float>, g: UnsafeMutablePointer<Float>,
                        norms: UnsafeMutablePointer<Float>, wc: UnsafeMutablePointer<Float>,
                        logits: UnsafeMutablePointer<Float>, n: Int, d: Int, pool: ThreadPool = .serial) {
        guard fuses(n: n, d: d, pool: pool) else {
            LocalReadout.forward(mask: mask, e: e, s: s, g: g, norms: norms, n: n, d: d, pool: pool)
            Bilinear.forward(e: e, c: g, wb: wb, bias: bias, wc: wc, logits: logits, n: n, d: d, pool: pool)
            return
        }
        let d2 = 2 * d, m = 2 * n
        let block = BLAS.sgemmRowBlock(n: d, k: d), blocks = Swift.max(1, m / block)
        pool.run(tasks: blocks) { bi in
            // Half-rows [h0, h1) as in sgemmRows (the last block takes the remainder) = spots [i0, i1).
            let h0 = bi &* block, h1 = bi == blocks &- 1 ? m : h0 &+ block
            let i0 = h0 / 2, i1 = h1 / 2
            Sparse.spmm(mask, rows: i0..<i1, e, ldb: d2, width: d2, into: s, ldc: d2)
            LocalReadout.summaries(halfRows: h0..<h1, s: s, g: g, norms: norms, d: d)
            BLAS.sgemm(transB: true, m: h1 &- h0, n: d, k: d, a: g + h0 &* d, lda: d, b: wb, ldb: d,
                       c: wc + h0 &* d, ldc: d)
            Bilinear.logitRows(i0..<i1, e: e, wc: wc, bias: bias, logits: logits, d: d)
        }
    }
}
