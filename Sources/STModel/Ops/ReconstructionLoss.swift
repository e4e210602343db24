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
    /// One rank's partial sums of [Cᵀ | ∂W1]'s rows for the split epilogue: float64, or the float32
    /// partials they are when a rank's X is one block of them (`GraphSTModel.splitSendsFloat32`).
    enum Source {
        case float64(UnsafePointer<Double>)
        case float32(UnsafePointer<Float>)
    }

    /// Genes per range of the epilogue (`reduceRange`: one dgemm call of d × 256 × d, its trace
    /// partial sums, its ∂W2 columns and ∂W1 rows): the same ranges in every form (the separate
    /// pass `reduceBlocks`, the split epilogue's and the pass over Xᵀ's per-task form), so that the
    /// forms give the same bits. Equal to `TransposedBlocks.defaultOutputBlock`, whose tasks run it.
    static let geneBlock = 256

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
    /// block, in eight lanes each (fixed blocks and lanes: the same bits for any number of threads),
    /// not in one chain over all genes as `reduce_ref` does, so the loss can differ from it in the
    /// last bits. `dw1` (G, d): when given, ∂W1 = the float32 of xt's second half (ct must then
    /// be [Cᵀ | ∂W1], ldct ≥ 2d), row by row in the same tasks.
    static func reduce(k: UnsafePointer<Double>, ct: UnsafePointer<Double>, ldct: Int, w2: UnsafePointer<Float>,
                       xNormSquared: Double, scale: Float, dw2: UnsafeMutablePointer<Float>,
                       dw1: UnsafeMutablePointer<Float>? = nil,
                       w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int, genes G: Int,
                       pool: ThreadPool = .serial) -> Double {
        var source = Source.float64(ct)
        let (wkw, wc) = reduceBlocks(k: k, ct: &source, sources: 1, ldct: ldct, w2: w2, scale: scale, genes: 0..<G,
                                     dw2: dw2, ldDw2: G, dw1: dw1, w2d: w2d, kw2: kw2, d: d, genes: G, pool: pool)
        return wkw - 2 * wc + xNormSquared
    }

    /// `reduce` on one range of genes, for the split epilogue (each rank its own genes): the two
    /// trace partial sums over the range, and ∂W2's columns of the range into `dw2Part`
    /// (d × genes.count, row a contiguous), and ∂W1's rows of the range into `dw1Part` (genes.count
    /// × d) when given. [Cᵀ | ∂W1]'s rows of the range are the sum over the ranks of their partials:
    /// `ct[q]` points to rank q's row `genes.lowerBound` (rows ldct apart; float64, or float32
    /// widened as it is read), added in rank order as each tile of rows is used (no separate pass
    /// over the summed rows).
    static func reducePart(k: UnsafePointer<Double>, ct: UnsafePointer<Source>, sources: Int, ldct: Int,
                           w2: UnsafePointer<Float>, scale: Float, genes: Range<Int>, dw2Part: UnsafeMutablePointer<Float>,
                           dw1Part: UnsafeMutablePointer<Float>? = nil,
                           w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int, genes G: Int,
                           pool: ThreadPool = .serial) -> (wkw: Double, wc: Double) {
        reduceBlocks(k: k, ct: ct, sources: sources, ldct: ldct, w2: w2, scale: scale, genes: genes, dw2: dw2Part,
                     ldDw2: genes.count, dw1: dw1Part, w2d: w2d, kw2: kw2, d: d, genes: G, pool: pool)
    }

    /// The genes in fixed ranges of `geneBlock` from genes.lowerBound (the last one shorter), one
    /// pool task each (`reduceRange`): widen the range's columns of W2, K·W2 for them (one dgemm),
    /// then for a in 0..<d and g in the range the two trace partial sums (eight lanes each, in
    /// tiles of 8 genes) and ∂W2[a, g] into dw2[a·ldDw2 + g − genes.lowerBound], and ∂W1[g] into
    /// dw1 + (g − genes.lowerBound)·d when given. The rows of [Cᵀ | ∂W1] are `sources[0]`'s (row g
    /// at + (g − genes.lowerBound)·ldct), or, with p > 1 sources, their sum in source order, formed
    /// per tile of 8 rows in a task-local buffer. Returns the partial sums added in range order.
    static func reduceBlocks(k: UnsafePointer<Double>, ct sources: UnsafePointer<Source>, sources p: Int,
                             ldct: Int, w2: UnsafePointer<Float>,
                             scale: Float, genes: Range<Int>, dw2: UnsafeMutablePointer<Float>, ldDw2: Int,
                             dw1: UnsafeMutablePointer<Float>?,
                             w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int, genes G: Int,
                             pool: ThreadPool) -> (wkw: Double, wc: Double) {
        if genes.isEmpty { return (0, 0) }
        let cb = geneBlock, blocks = ThreadPool.blockCount(genes.count, block: cb), g0 = genes.lowerBound
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 &* blocks) { partial in
            let part = partial.baseAddress!
            pool.run(tasks: blocks) { bi in
                // With several sources, each tile's rows summed here first (8 rows of ldct, on the
                // task's stack: no allocation per epoch).
                withUnsafeTemporaryAllocation(of: Double.self, capacity: p > 1 ? 8 &* ldct : 0) { ts in
                    let c0 = g0 &+ bi &* cb, c1 = Swift.min(genes.upperBound, c0 &+ cb)
                    let (wkw, wc) = reduceRange(c0..<c1, k: k, ct: sources, sources: p, ldct: ldct, w2: w2, scale: scale,
                                                first: g0, dw2: dw2, ldDw2: ldDw2, dw1: dw1, w2d: w2d, kw2: kw2, d: d,
                                                genes: G, tileSum: p > 1 ? ts.baseAddress : nil)
                    part[2 &* bi] = wkw; part[2 &* bi &+ 1] = wc
                }
            }
            var wkw = 0.0, wc = 0.0
            for bi in 0..<blocks { wkw += part[2 &* bi]; wc += part[2 &* bi &+ 1] }
            return (wkw, wc)
        }
    }

    /// One gene range [c0, c1) of the epilogue, on the calling thread: widen its columns of W2,
    /// K·W2 for them (one dgemm), then the traces, ∂W2's columns and ∂W1's rows (as `reduceBlocks`
    /// describes; rows and outputs indexed from `first`, the first gene of the caller's range).
    /// `tileSum`: 8·ldct doubles of scratch when p > 1. Returns the range's two trace partial sums.
    static func reduceRange(_ range: Range<Int>, k: UnsafePointer<Double>, ct sources: UnsafePointer<Source>,
                            sources p: Int, ldct: Int, w2: UnsafePointer<Float>, scale: Float, first g0: Int,
                            dw2: UnsafeMutablePointer<Float>, ldDw2: Int, dw1: UnsafeMutablePointer<Float>?,
                            w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int, genes G: Int,
                            tileSum: UnsafeMutablePointer<Double>?) -> (wkw: Double, wc: Double) {
        if range.isEmpty { return (0, 0) }
        let c0 = range.lowerBound, c1 = range.upperBound, sc = Double(scale)
        let width = dw1 == nil ? d : 2 &* d           // the columns of ct read below
        // The block's W2 widened and its K·W2 in regions of w2d and kw2 of their own
        // (d × cw, contiguous): each task writes and reads back its working set in one
        // piece instead of d rows spread over d·G.
        let cw = c1 &- c0, wb = w2d + (c0 &- g0) &* d, kb = kw2 + (c0 &- g0) &* d
        for a in 0..<d {
            let src = w2 + (a &* G &+ c0), dst = wb + a &* cw
            for g in 0..<cw { dst[g] = Double(src[g]) }
        }
        BLAS.dgemm(m: d, n: cw, k: d, a: k, lda: d, b: wb, ldb: cw, c: kb, ldc: cw)
        // Genes in tiles of 8, a-major within a tile: the tile's 8 rows of [Cᵀ | ∂W1] (8 KB)
        // are read once, from L1, for the traces, ∂W2 and ∂W1, where a-major over the
        // whole block read Cᵀ down a column (a 1 KB stride). The traces in 8 running lanes
        // (lane j: the genes ≡ j mod 8 from c0; a tail gene goes to lane 0), added in lane
        // order at the end.
        var kl = SIMD8<Double>(), wl = SIMD8<Double>()
        var j = 0
        while j < cw {
            let g = c0 &+ j, tile = Swift.min(8, cw &- j), row = (g &- g0) &* ldct
            let ctg: UnsafePointer<Double>
            if let tileSum {
                for r in 0..<tile {           // ((s₀ + s₁) + s₂) + …, one source at a time
                    let o = tileSum + r &* ldct, at = row &+ r &* ldct
                    for q in 0..<p {
                        switch sources[q] {
                        case .float64(let src):
                            if q == 0 { o.update(from: src + at, count: width) }
                            else { for e in 0..<width { o[e] += src[at &+ e] } }
                        case .float32(let src):
                            if q == 0 { for e in 0..<width { o[e] = Double(src[at &+ e]) } }
                            else { for e in 0..<width { o[e] += Double(src[at &+ e]) } }
                        }
                    }
                }
                ctg = UnsafePointer(tileSum)
            } else {
                guard case .float64(let src) = sources[0] else { preconditionFailure("one source is float64 [Cᵀ | ∂W1]") }
                ctg = src + row
            }
            if tile == 8 {
                for a in 0..<d {
                    let w = UnsafeRawPointer(wb + (a &* cw &+ j)).loadUnaligned(as: SIMD8<Double>.self)
                    let kw = UnsafeRawPointer(kb + (a &* cw &+ j)).loadUnaligned(as: SIMD8<Double>.self)
                    let c = SIMD8<Double>(ctg[a], ctg[ldct &+ a], ctg[2 &* ldct &+ a], ctg[3 &* ldct &+ a],
                                          ctg[4 &* ldct &+ a], ctg[5 &* ldct &+ a], ctg[6 &* ldct &+ a],
                                          ctg[7 &* ldct &+ a])                // C[a, g…g+7] = Cᵀ[g…g+7, a]
                    kl += w * kw
                    wl += w * c
                    let o = SIMD8<Float>(sc * (kw - c))
                    UnsafeMutableRawPointer(dw2 + (a &* ldDw2 &+ g &- g0)).storeBytes(of: o, as: SIMD8<Float>.self)
                }
            } else {
                for jj in j..<(j &+ tile) {
                    let gg = c0 &+ jj
                    for a in 0..<d {
                        let w = wb[a &* cw &+ jj], kw = kb[a &* cw &+ jj], c = ctg[(jj &- j) &* ldct &+ a]
                        kl[0] += w * kw; wl[0] += w * c
                        dw2[a &* ldDw2 &+ gg &- g0] = Float(sc * (kw - c))
                    }
                }
            }
            if let dw1 {                                       // ∂W1's rows of the tile
                for r in 0..<tile {
                    let src = ctg + (r &* ldct &+ d), dst = dw1 + (g &+ r &- g0) &* d
                    for a in 0..<d { dst[a] = Float(src[a]) }
                }
            }
            j &+= tile
        }
        var wkw = 0.0, wc = 0.0
        for j in 0..<8 { wkw += kl[j]; wc += wl[j] }
        return (wkw, wc)
    }

    /// `reduce` as it was before it was fused (W2 widened in one pass, the dgemm calls, then the
    /// traces and the rows of ∂W2 reading C straight out of Cᵀ): the tests' oracle for `reduce`.
    static func reduce_ref(k: UnsafePointer<Double>, ct: UnsafePointer<Double>, ldct: Int, w2: UnsafePointer<Float>,
                           xNormSquared: Double, scale: Float, dw2: UnsafeMutablePointer<Float>,
                           w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int,
                           genes G: Int) -> Double {
        for i in 0..<(d &* G) { w2d[i] = Double(w2[i]) }
        let cb = geneBlock, blocks = ThreadPool.blockCount(G, block: cb)
        for bi in 0..<blocks {
            let c0 = bi &* cb, c1 = Swift.min(G, c0 &+ cb)
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
