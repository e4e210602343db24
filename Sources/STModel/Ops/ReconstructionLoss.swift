import STCore

// N = spots owned, L = local rows (owned + ghosts), d = latent width, G = genes.
//
// ‖H − X‖² with H = Y W2 never formed (DESIGN §2, the Gram form). With K = YᵀY (d, d) and
// C = YᵀX (d, G), both sums over the spots of the slide:
//   ‖YW2 − X‖² = tr(W2ᵀKW2) − 2 tr(W2ᵀC) + ‖X‖²
//   ∂/∂W2 = 2(KW2 − C)        ∂/∂Y = 2(Y W2W2ᵀ − X W2ᵀ)          (each × α/(N_slide·G))
// `forward` adds this rank's part of K; C comes from the second pass over X (InputProjection);
// after the caller's allreduce, `reduce` gives the loss and ∂W2, identically on every rank.
// ∂Y needs only the rank's own rows: Y, X W2ᵀ (from the first pass over X) and W2W2ᵀ.

enum ReconstructionLoss {
    /// Columns (genes) per dgemm call of `reduce`, at least; more when d·d·512 < 2²¹ multiply-adds,
    /// so that every call stays on OpenBLAS's regular kernels (as one call over all G columns does).
    static let geneBlock = 512

    /// w2w2t (d, d) = W2 W2ᵀ, w2 (d, G).
    static func prepare(w2: UnsafePointer<Float>, w2w2t: UnsafeMutablePointer<Float>, d: Int, genes G: Int) {
        BLAS.sgemm(transB: true, m: d, n: d, k: G, a: w2, lda: G, b: w2, ldb: G, c: w2w2t, ldc: d)
    }

    /// k (d, d, float64) += YᵀY over the N owned rows of y (N, d; row stride ld).
    static func forward(y: UnsafePointer<Float>, ld: Int, n: Int, d: Int, k: UnsafeMutablePointer<Double>,
                        scratch: inout [Float], pool: ThreadPool = .serial) {
        BLAS.gramAccumulate(n: n, p: d, q: d, a: y, lda: ld, b: y, ldb: ld, into: k, ldc: d, scratch: &scratch, pool: pool)
    }

    /// dy (N, d) = scale·(Y W2W2ᵀ − X W2ᵀ), with y and xw2t (N, d; row stride ld) and w2w2t (d, d);
    /// scale = 2α/(N_slide·G).
    static func backward(y: UnsafePointer<Float>, xw2t: UnsafePointer<Float>, ld: Int, w2w2t: UnsafePointer<Float>,
                         scale: Float, dy: UnsafeMutablePointer<Float>, n: Int, d: Int, pool: ThreadPool = .serial) {
        BLAS.sgemmRows(m: n, n: d, k: d, alpha: scale, a: y, lda: ld, b: w2w2t, ldb: d, c: dy, ldc: d, pool: pool)
        pool.forEachBlock(count: n) { rows in
        for i in rows {
            let r = dy + i &* d, xw = xw2t + i &* ld
            for a in stride(from: 0, to: d, by: 8) {
                VectorMath.store8(VectorMath.load8(r + a) - scale * VectorMath.load8(xw + a), r + a)
            }
        }
        }
    }

    /// After the allreduce: dw2 (d, G) = scale·(K W2 − C) and the return value ‖YW2 − X‖² =
    /// tr(W2ᵀKW2) − 2tr(W2ᵀC) + xNormSquared. k (d, d) and ct = Cᵀ (G rows, row stride ldct) are the
    /// global sums; w2d and kw2 (d, G, float64) are scratch.
    ///
    /// The operations of `reduce_ref` in fewer passes: each dgemm task widens its own columns of W2
    /// first (no serial widening pass); on one thread the two trace chains and the rows of ∂W2 are
    /// one loop (one pass over Cᵀ instead of two), whose independent ∂W2 work fills the latency of
    /// the chains; on several, the traces run as one task beside the rows of ∂W2.
    static func reduce(k: UnsafePointer<Double>, ct: UnsafePointer<Double>, ldct: Int, w2: UnsafePointer<Float>,
                       xNormSquared: Double, scale: Float, dw2: UnsafeMutablePointer<Float>,
                       w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int, genes G: Int,
                       pool: ThreadPool = .serial) -> Double {
        let cb = dgemmBlock(d: d), blocks = Swift.max(1, G / cb)
        pool.run(tasks: blocks) { bi in
            let c0 = bi &* cb, c1 = bi == blocks &- 1 ? G : c0 &+ cb
            for a in 0..<d {
                let src = w2 + a &* G, dst = w2d + a &* G
                for g in c0..<c1 { dst[g] = Double(src[g]) }
            }
            BLAS.dgemm(m: d, n: c1 &- c0, k: d, a: k, lda: d, b: w2d + c0, ldb: G, c: kw2 + c0, ldc: G)
        }
        let sc = Double(scale)
        var trWKW = 0.0, trWC = 0.0
        if pool.threads == 1 {
            for a in 0..<d {
                let w2a = w2d + a &* G, kwa = kw2 + a &* G, dw2a = dw2 + a &* G
                for g in 0..<G {
                    let c = ct[g &* ldct &+ a]                  // C[a, g] = Cᵀ[g, a]
                    trWKW += w2a[g] * kwa[g]
                    trWC += w2a[g] * c
                    dw2a[g] = Float(sc * (kwa[g] - c))
                }
            }
            return trWKW - 2 * trWC + xNormSquared
        }
        // Task 0: the traces, one running sum each in (a, g) order (a serial chain that the order
        // of the sum fixes), beside tasks 1...d: the rows of ∂W2.
        withUnsafeMutablePointer(to: &trWKW) { tKW in
        withUnsafeMutablePointer(to: &trWC) { tC in
            pool.run(tasks: d &+ 1) { t in
                if t == 0 {
                    var kw = 0.0, wc = 0.0
                    for a in 0..<d {
                        let w2a = w2d + a &* G, kwa = kw2 + a &* G
                        for g in 0..<G {
                            kw += w2a[g] * kwa[g]
                            wc += w2a[g] * ct[g &* ldct &+ a]
                        }
                    }
                    tKW.pointee = kw; tC.pointee = wc
                } else {
                    let a = t &- 1
                    let kwa = kw2 + a &* G, dw2a = dw2 + a &* G
                    for g in 0..<G { dw2a[g] = Float(sc * (kwa[g] - ct[g &* ldct &+ a])) }
                }
            }
        } }
        return trWKW - 2 * trWC + xNormSquared
    }

    /// `reduce` on one range of genes, for the split epilogue (each rank its own genes): K·W2 for
    /// the range's columns (dgemm calls of at most `dgemmBlock` columns, on the pool), the two
    /// trace partial sums over (a, g ∈ genes) in (a, g) order, and ∂W2's columns of the range
    /// into `dw2Part` (d × genes.count, row a contiguous). `ct` holds Cᵀ's rows of the range (at
    /// their global row index, stride ldct) summed over ranks; other rows are not read.
    static func reducePart(k: UnsafePointer<Double>, ct: UnsafePointer<Double>, ldct: Int, w2: UnsafePointer<Float>,
                           scale: Float, genes: Range<Int>, dw2Part: UnsafeMutablePointer<Float>,
                           w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int, genes G: Int,
                           pool: ThreadPool = .serial) -> (wkw: Double, wc: Double) {
        let len = genes.count
        if len == 0 { return (0, 0) }
        let cb = dgemmBlock(d: d), blocks = Swift.max(1, len / cb)
        pool.run(tasks: blocks) { bi in
            let c0 = genes.lowerBound &+ bi &* cb, c1 = bi == blocks &- 1 ? genes.upperBound : c0 &+ cb
            for a in 0..<d {
                let src = w2 + a &* G, dst = w2d + a &* G
                for g in c0..<c1 { dst[g] = Double(src[g]) }
            }
            BLAS.dgemm(m: d, n: c1 &- c0, k: d, a: k, lda: d, b: w2d + c0, ldb: G, c: kw2 + c0, ldc: G)
        }
        let sc = Double(scale), g0 = genes.lowerBound
        var wkw = 0.0, wc = 0.0
        for a in 0..<d {
            let w2a = w2d + a &* G, kwa = kw2 + a &* G, out = dw2Part + a &* len
            for g in genes {
                let c = ct[g &* ldct &+ a]
                wkw += w2a[g] * kwa[g]
                wc += w2a[g] * c
                out[g &- g0] = Float(sc * (kwa[g] - c))
            }
        }
        return (wkw, wc)
    }

    /// Columns per dgemm call of `reduce`: `geneBlock`, or more when d·d·geneBlock < 2²¹
    /// multiply-adds (the last call takes the remainder; whatever the pool, the same calls).
    static func dgemmBlock(d: Int) -> Int {
        Swift.max(geneBlock, ((1 << 21) + d &* d - 1) / Swift.max(1, d &* d))
    }

    /// `reduce` as it was before it was fused (W2 widened in one pass, the dgemm calls, then the
    /// traces and the rows of ∂W2 reading C straight out of Cᵀ): the tests' oracle for `reduce`.
    static func reduce_ref(k: UnsafePointer<Double>, ct: UnsafePointer<Double>, ldct: Int, w2: UnsafePointer<Float>,
                           xNormSquared: Double, scale: Float, dw2: UnsafeMutablePointer<Float>,
                           w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int,
                           genes G: Int) -> Double {
        for i in 0..<(d &* G) { w2d[i] = Double(w2[i]) }
        let cb = dgemmBlock(d: d), blocks = Swift.max(1, G / cb)
        for bi in 0..<blocks {
            let c0 = bi &* cb, c1 = bi == blocks &- 1 ? G : c0 &+ cb
            BLAS.dgemm(m: d, n: c1 &- c0, k: d, a: k, lda: d, b: w2d + c0, ldb: G, c: kw2 + c0, ldc: G)
        }
        var kw = 0.0, wc = 0.0
        for a in 0..<d {
            let w2a = w2d + a &* G, kwa = kw2 + a &* G
            for g in 0..<G {
                kw += w2a[g] * kwa[g]
                wc += w2a[g] * ct[g &* ldct &+ a]         // C[a, g] = Cᵀ[g, a]
            }
        }
        for a in 0..<d {
            let kwa = kw2 + a &* G, dw2a = dw2 + a &* G
            for g in 0..<G { dw2a[g] = Float(Double(scale) * (kwa[g] - ct[g &* ldct &+ a])) }
        }
        return kw - 2 * wc + xNormSquared
    }
}
