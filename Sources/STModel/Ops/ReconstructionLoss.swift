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
    /// One pool task per gene block (`reduceBlocks`): the block's dgemm, then, while its columns
    /// are in cache, its trace partial sums and its columns of ∂W2. ∂W2 is bitwise `reduce_ref`'s
    /// (the same dgemm calls, the same elementwise operations); the traces are summed block by
    /// block, four lanes each (fixed blocks and lanes: the same bits for any number of threads),
    /// not in one chain over all genes as `reduce_ref` does, so the loss can differ from it in the
    /// last bits. `dw1` (G, d): when given, ∂W1 = the float32 of xt's second half (ct must then
    /// be [Cᵀ | ∂W1], ldct ≥ 2d), row by row in the same tasks.
    static func reduce(k: UnsafePointer<Double>, ct: UnsafePointer<Double>, ldct: Int, w2: UnsafePointer<Float>,
                       xNormSquared: Double, scale: Float, dw2: UnsafeMutablePointer<Float>,
                       dw1: UnsafeMutablePointer<Float>? = nil,
                       w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int, genes G: Int,
                       pool: ThreadPool = .serial) -> Double {
        let (wkw, wc) = reduceBlocks(k: k, ct: ct, ldct: ldct, w2: w2, scale: scale, genes: 0..<G, dw2: dw2, ldDw2: G, dw1: dw1,
                                     w2d: w2d, kw2: kw2, d: d, genes: G, pool: pool)
        return wkw - 2 * wc + xNormSquared
    }

    /// `reduce` on one range of genes, for the split epilogue (each rank its own genes): the two
    /// trace partial sums over the range, and ∂W2's columns of the range into `dw2Part`
    /// (d × genes.count, row a contiguous), and ∂W1's rows of the range into `dw1Part` (genes.count
    /// × d) when given. `ct` holds [Cᵀ | ∂W1]'s rows of the range (at their global row index, stride
    /// ldct) summed over ranks; other rows are not read.
    static func reducePart(k: UnsafePointer<Double>, ct: UnsafePointer<Double>, ldct: Int, w2: UnsafePointer<Float>,
                           scale: Float, genes: Range<Int>, dw2Part: UnsafeMutablePointer<Float>,
                           dw1Part: UnsafeMutablePointer<Float>? = nil,
                           w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int, genes G: Int,
                           pool: ThreadPool = .serial) -> (wkw: Double, wc: Double) {
        reduceBlocks(k: k, ct: ct, ldct: ldct, w2: w2, scale: scale, genes: genes, dw2: dw2Part, ldDw2: genes.count, dw1: dw1Part,
                     w2d: w2d, kw2: kw2, d: d, genes: G, pool: pool)
    }

    /// The genes in fixed blocks of `dgemmBlock` columns (the last one takes the remainder), one
    /// pool task each, the largest (last) first so that two threads finish together: widen the
    /// block's columns of W2, K·W2 for them (one dgemm), then for a in 0..<d and g in the block
    /// the two trace partial sums (four lanes each, a-major) and ∂W2[a, g] into
    /// dw2[a·ldDw2 + g − genes.lowerBound], and ∂W1[g] into dw1 + (g − genes.lowerBound)·d when
    /// given. Returns the partial sums added in block order.
    static func reduceBlocks(k: UnsafePointer<Double>, ct: UnsafePointer<Double>, ldct: Int, w2: UnsafePointer<Float>,
                             scale: Float, genes: Range<Int>, dw2: UnsafeMutablePointer<Float>, ldDw2: Int,
                             dw1: UnsafeMutablePointer<Float>?,
                             w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int, genes G: Int,
                             pool: ThreadPool) -> (wkw: Double, wc: Double) {
        if genes.isEmpty { return (0, 0) }
        let cb = dgemmBlock(d: d), blocks = Swift.max(1, genes.count / cb), g0 = genes.lowerBound
        let sc = Double(scale)
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 &* blocks) { partial in
            let part = partial.baseAddress!
            pool.run(tasks: blocks) { t in
                let bi = t == 0 ? blocks &- 1 : t &- 1
                let c0 = g0 &+ bi &* cb, c1 = bi == blocks &- 1 ? genes.upperBound : c0 &+ cb
                for a in 0..<d {
                    let src = w2 + a &* G, dst = w2d + a &* G
                    for g in c0..<c1 { dst[g] = Double(src[g]) }
                }
                BLAS.dgemm(m: d, n: c1 &- c0, k: d, a: k, lda: d, b: w2d + c0, ldb: G, c: kw2 + c0, ldc: G)
                // The two traces in four running lanes each (lane j takes genes c0 + j, c0 + j + 4,
                // …; the lanes added as (0 + 1) + (2 + 3)): eight independent chains, where one
                // chain per trace left the loop waiting on the adder's latency (0.4 ms of CPU
                // per epoch on DLPFC).
                var k0 = 0.0, k1 = 0.0, k2 = 0.0, k3 = 0.0, w0 = 0.0, w1 = 0.0, w2s = 0.0, w3 = 0.0
                for a in 0..<d {
                    let w2a = w2d + a &* G, kwa = kw2 + a &* G, out = dw2 + (a &* ldDw2 &- g0), cta = ct + a
                    var g = c0
                    while g &+ 4 <= c1 {
                        let x0 = cta[g &* ldct], x1 = cta[(g &+ 1) &* ldct]
                        let x2 = cta[(g &+ 2) &* ldct], x3 = cta[(g &+ 3) &* ldct]     // C[a, g] = Cᵀ[g, a]
                        k0 += w2a[g] * kwa[g]; k1 += w2a[g &+ 1] * kwa[g &+ 1]
                        k2 += w2a[g &+ 2] * kwa[g &+ 2]; k3 += w2a[g &+ 3] * kwa[g &+ 3]
                        w0 += w2a[g] * x0; w1 += w2a[g &+ 1] * x1
                        w2s += w2a[g &+ 2] * x2; w3 += w2a[g &+ 3] * x3
                        out[g] = Float(sc * (kwa[g] - x0)); out[g &+ 1] = Float(sc * (kwa[g &+ 1] - x1))
                        out[g &+ 2] = Float(sc * (kwa[g &+ 2] - x2)); out[g &+ 3] = Float(sc * (kwa[g &+ 3] - x3))
                        g &+= 4
                    }
                    while g < c1 {
                        let x = cta[g &* ldct]
                        k0 += w2a[g] * kwa[g]; w0 += w2a[g] * x
                        out[g] = Float(sc * (kwa[g] - x))
                        g &+= 1
                    }
                }
                let wkw = (k0 + k1) + (k2 + k3), wc = (w0 + w1) + (w2s + w3)
                // ∂W1's rows of the block, from the other half of xt (G, 2d).
                if let dw1 { for g in c0..<c1 {
                    let src = ct + (g &* ldct &+ d), dst = dw1 + (g &- g0) &* d
                    for a in 0..<d { dst[a] = Float(src[a]) }
                } }
                part[2 &* bi] = wkw; part[2 &* bi &+ 1] = wc
            }
            var wkw = 0.0, wc = 0.0
            for bi in 0..<blocks { wkw += part[2 &* bi]; wc += part[2 &* bi &+ 1] }
            return (wkw, wc)
        }
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
