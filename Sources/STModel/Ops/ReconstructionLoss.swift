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

    /// w2w2t (d, d) = W2 W2ᵀ from w12, the G rows of [W1 | W2ᵀ] (row stride 2d; `ParameterLayout`).
    static func prepare(w12: UnsafePointer<Float>, w2w2t: UnsafeMutablePointer<Float>, d: Int, genes G: Int) {
        BLAS.sgemm(transA: true, m: d, n: d, k: G, a: w12 + d, lda: 2 * d, b: w12 + d, ldb: 2 * d, c: w2w2t, ldc: d)
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

    /// After the allreduce: the loss ‖YW2 − X‖² = tr(W2ᵀKW2) − 2tr(W2ᵀC) + xNormSquared, and the
    /// gradient's rows [∂W1 | ∂W2ᵀ] = [float32 of ∂W1 | scale·(K W2 − C)ᵀ] into dw12 (G rows of 2d,
    /// `ParameterLayout.w12`). k (d, d) and ct = [Cᵀ | ∂W1] (G rows, row stride ldct ≥ 2d) are the
    /// global sums; w12 holds [W1 | W2ᵀ] (row stride 2d); w2d and kw2 (G·d float64) are scratch.
    ///
    /// One pool task per gene block (`reduceBlocks`): the block's W2ᵀ widened, its (K W2)ᵀ = W2ᵀKᵀ
    /// (one dgemm), then gene by gene, while the block is in cache, the trace partial sums and the
    /// gradient row. ∂W2 is bitwise `reduce_ref`'s (the same dgemm calls, the same elementwise
    /// operations); the traces are summed block by block in eight lanes (fixed blocks and lanes:
    /// the same bits for any number of threads), not in one chain as `reduce_ref` does, so the loss
    /// can differ from it in the last bits.
    static func reduce(k: UnsafePointer<Double>, ct: UnsafePointer<Double>, ldct: Int, w12: UnsafePointer<Float>,
                       xNormSquared: Double, scale: Float, dw12: UnsafeMutablePointer<Float>,
                       w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int, genes G: Int,
                       pool: ThreadPool = .serial) -> Double {
        var source = Source.float64(ct)
        let (wkw, wc) = reduceBlocks(k: k, ct: &source, sources: 1, ldct: ldct, w12: w12, scale: scale, genes: 0..<G,
                                     dw12: dw12, w2d: w2d, kw2: kw2, d: d, pool: pool)
        return wkw - 2 * wc + xNormSquared
    }

    /// `reduce` on one range of genes, for the split epilogue (each rank its own genes): the two
    /// trace partial sums over the range, and the gradient's rows of the range (rows g of dw12, in
    /// place). [Cᵀ | ∂W1]'s rows of the range are the sum over the ranks of their partials: `ct[q]`
    /// points to rank q's row `genes.lowerBound` (rows ldct apart; float64, or float32 widened as
    /// it is read), added in rank order as each row is used (no separate pass over the summed rows).
    static func reducePart(k: UnsafePointer<Double>, ct: UnsafePointer<Source>, sources: Int, ldct: Int,
                           w12: UnsafePointer<Float>, scale: Float, genes: Range<Int>, dw12: UnsafeMutablePointer<Float>,
                           w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int,
                           pool: ThreadPool = .serial) -> (wkw: Double, wc: Double) {
        reduceBlocks(k: k, ct: ct, sources: sources, ldct: ldct, w12: w12, scale: scale, genes: genes, dw12: dw12,
                     w2d: w2d, kw2: kw2, d: d, pool: pool)
    }

    /// The genes in fixed ranges of `geneBlock` from genes.lowerBound (the last one shorter), one
    /// pool task each (`reduceRange`). The rows of [Cᵀ | ∂W1] are `sources[0]`'s (row g at
    /// + (g − genes.lowerBound)·ldct), or, with p > 1 sources, their sum in source order.
    /// Returns the partial sums added in range order.
    static func reduceBlocks(k: UnsafePointer<Double>, ct sources: UnsafePointer<Source>, sources p: Int,
                             ldct: Int, w12: UnsafePointer<Float>, scale: Float, genes: Range<Int>,
                             dw12: UnsafeMutablePointer<Float>,
                             w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int,
                             pool: ThreadPool) -> (wkw: Double, wc: Double) {
        if genes.isEmpty { return (0, 0) }
        let cb = geneBlock, blocks = ThreadPool.blockCount(genes.count, block: cb), g0 = genes.lowerBound
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 &* blocks) { partial in
            let part = partial.baseAddress!
            pool.run(tasks: blocks) { bi in
                let c0 = g0 &+ bi &* cb, c1 = Swift.min(genes.upperBound, c0 &+ cb)
                let (wkw, wc) = reduceRange(c0..<c1, k: k, ct: sources, sources: p, ldct: ldct, w12: w12, scale: scale,
                                            first: g0, dw12: dw12, w2d: w2d, kw2: kw2, d: d)
                part[2 &* bi] = wkw; part[2 &* bi &+ 1] = wc
            }
            var wkw = 0.0, wc = 0.0
            for bi in 0..<blocks { wkw += part[2 &* bi]; wc += part[2 &* bi &+ 1] }
            return (wkw, wc)
        }
    }

    /// One gene range [c0, c1) of the epilogue, on the calling thread: widen its rows of W2ᵀ into
    /// w2d, (K W2)ᵀ for them into kw2 (one dgemm; both at rows g − g0, d apart, so that each task
    /// writes and reads back its own contiguous working set), then gene by gene (`rows_ref`, in C:
    /// `VectorMath.epilogueRows`) the trace partial sums in eight lanes (lane j: the latent
    /// indices ≡ j mod 8, added in lane order at the end) and the gradient row g of dw12:
    /// ∂W1[g] = Float(∂W1 row of ct), ∂W2ᵀ[g] = Float(scale·((KW2)ᵀ[g] − Cᵀ[g])). The rows of ct
    /// (the sum of the p sources in order) are indexed from `first` (g0, the first gene of the
    /// caller's range); dw12 and w12 by g. Returns the range's two trace partial sums.
    static func reduceRange(_ range: Range<Int>, k: UnsafePointer<Double>, ct sources: UnsafePointer<Source>,
                            sources p: Int, ldct: Int, w12: UnsafePointer<Float>, scale: Float, first g0: Int,
                            dw12: UnsafeMutablePointer<Float>,
                            w2d: UnsafeMutablePointer<Double>, kw2: UnsafeMutablePointer<Double>, d: Int,
                            path: Sparse.Path = Sparse.defaultPath) -> (wkw: Double, wc: Double) {
        if range.isEmpty { return (0, 0) }
        let c0 = range.lowerBound, cw = range.count, d2 = 2 &* d
        let wb = w2d + (c0 &- g0) &* d, kb = kw2 + (c0 &- g0) &* d
        for j in 0..<cw { Sparse.storeAsDouble(w12 + ((c0 &+ j) &* d2 &+ d), wb + j &* d, count: d) }
        BLAS.dgemm(transB: true, m: cw, n: d, k: d, a: wb, lda: d, b: k, ldb: d, c: kb, ldc: d)
        return withUnsafeTemporaryAllocation(of: UnsafeRawPointer?.self, capacity: p) { ptrs in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: p) { flags in
                withUnsafeTemporaryAllocation(of: Double.self, capacity: 16) { lanes in
                    let row = (c0 &- g0) &* ldct
                    for q in 0..<p {
                        switch sources[q] {
                        case .float64(let src): ptrs[q] = UnsafeRawPointer(src + row); flags[q] = 0
                        case .float32(let src): ptrs[q] = UnsafeRawPointer(src + row); flags[q] = 1
                        }
                    }
                    let kl = lanes.baseAddress!, wl = kl + 8
                    kl.initialize(repeating: 0, count: 16)
                    VectorMath.epilogueRows(cw, d: d, w: wb, kw: kb, sources: ptrs.baseAddress!, isFloat32: flags.baseAddress!,
                                            count: p, ldct: ldct, scale: Double(scale), out: dw12 + c0 &* d2, ldo: d2,
                                            kl: kl, wl: wl, path: path)
                    var wkw = 0.0, wc = 0.0
                    for j in 0..<8 { wkw += kl[j]; wc += wl[j] }
                    return (wkw, wc)
                }
            }
        }
    }

    /// The oracle of `VectorMath.epilogueRows` (every path must give these bits): for `genes` rows
    /// of w and kw (d doubles each) and of [Cᵀ | ∂W1] summed over the sources in order (row j of
    /// source q at + j·ldct), the trace lanes kl, wl (lane a mod 8, added to) and the rows
    /// [∂W1 | ∂W2ᵀ] of out (row stride ldo).
    static func rows_ref(_ genes: Int, d: Int, w: UnsafePointer<Double>, kw: UnsafePointer<Double>, sources: [Source],
                         ldct: Int, scale: Double, out: UnsafeMutablePointer<Float>, ldo: Int,
                         kl: inout SIMD8<Double>, wl: inout SIMD8<Double>) {
        let sc = SIMD8<Double>(repeating: scale)
        var c = [Double](repeating: 0, count: 2 * d)
        for j in 0..<genes {
            for (q, s) in sources.enumerated() {            // ((s₀ + s₁) + s₂) + …
                for e in 0..<(2 * d) {
                    let v: Double
                    switch s {
                    case .float64(let p): v = p[j * ldct + e]
                    case .float32(let p): v = Double(p[j * ldct + e])
                    }
                    c[e] = q == 0 ? v : c[e] + v
                }
            }
            for a in stride(from: 0, to: d, by: 8) {
                var wv = SIMD8<Double>(), kv = wv, cv = wv, gv = wv
                for l in 0..<8 {
                    wv[l] = w[j * d + a + l]; kv[l] = kw[j * d + a + l]; cv[l] = c[a + l]; gv[l] = c[d + a + l]
                }
                kl += wv * kv
                wl += wv * cv
                let g2 = sc * (kv - cv)
                for l in 0..<8 { out[j * ldo + a + l] = Float(gv[l]); out[j * ldo + d + a + l] = Float(g2[l]) }
            }
        }
    }

    /// `reduce` as it was before it was fused, in GraphST's shapes: W2 (d × G) widened in one
    /// pass, (K W2)ᵀ by the same dgemm calls per `geneBlock` genes, then the traces in one chain
    /// and ∂W2 (d × G, row-major) reading C straight out of Cᵀ: the tests' oracle for `reduce`.
    static func reduce_ref(k: UnsafePointer<Double>, ct: UnsafePointer<Double>, ldct: Int, w2: UnsafePointer<Float>,
                           xNormSquared: Double, scale: Float, dw2: UnsafeMutablePointer<Float>, d: Int,
                           genes G: Int) -> Double {
        var w2t = [Double](repeating: 0, count: G * d), kw2t = w2t     // W2ᵀ, (K W2)ᵀ (G × d)
        for a in 0..<d { for g in 0..<G { w2t[g * d + a] = Double(w2[a * G + g]) } }
        let cb = geneBlock, blocks = ThreadPool.blockCount(G, block: cb)
        for bi in 0..<blocks {
            let c0 = bi * cb, c1 = Swift.min(G, c0 + cb)
            w2t.withUnsafeBufferPointer { w in kw2t.withUnsafeMutableBufferPointer { kw in
                BLAS.dgemm(transB: true, m: c1 - c0, n: d, k: d, a: w.baseAddress! + c0 * d, lda: d, b: k, ldb: d,
                           c: kw.baseAddress! + c0 * d, ldc: d)
            } }
        }
        var kw = 0.0, wc = 0.0
        for a in 0..<d {
            for g in 0..<G {
                kw += w2t[g * d + a] * kw2t[g * d + a]
                wc += w2t[g * d + a] * ct[g &* ldct &+ a]         // C[a, g] = Cᵀ[g, a]
            }
        }
        for a in 0..<d {
            for g in 0..<G { dw2[a * G + g] = Float(Double(scale) * (kw2t[g * d + a] - ct[g &* ldct &+ a])) }
        }
        return kw - 2 * wc + xNormSquared
    }
}
