import STCore

// N = spots owned, L = local rows (owned + ghosts), d = latent width, G = genes.
//
// The discriminator's summaries [g | g̃] (N, 2d) of [E | Ẽ] (L, 2d), one per branch:
//   local (GraphST)  g_i = σ(q_i), q_i = s_i/‖s_i‖, s = M E    (M: this rank's rows of the mask,
//                    N × L; E's ghost rows come from the forward halo exchange of Z)
//   global (DGI)     g = σ(mean over all spots of E), the same row for every spot
// Buffers of width 2d hold both branches; each half-row of d values is one summary. d % 8 == 0.
// Communication stays with the caller: the local backward leaves Mᵀ contributions in E's ghost
// rows for a reverse halo exchange; the global readout's sums go through an allreduce between
// `partialSums` and `forward` (and between `Bilinear.backwardSummarySum` and `backward`).

enum LocalReadout {
    /// s (N, 2d) = M (N, L) · e (L, 2d); g (N, 2d) = σ(s / n), norms (N, 2) = n = max(‖s‖, 1e-12)
    /// per half-row.
    static func forward(mask: CSRMatrix, e: UnsafePointer<Float>, s: UnsafeMutablePointer<Float>,
                        g: UnsafeMutablePointer<Float>, norms: UnsafeMutablePointer<Float>, n: Int, d: Int,
                        pool: ThreadPool = .serial) {
        let d2 = 2 * d
        Sparse.spmm(mask, e, ldb: d2, width: d2, into: s, ldc: d2, pool: pool)
        pool.forEachBlock(count: 2 &* n) { hs in summaries(halfRows: hs, s: s, g: g, norms: norms, d: d) }
    }

    /// g = σ(s / n), norms = n = max(‖s‖, 1e-12) on the half-rows `hs` of s (N, 2d) read as (2N, d):
    /// the C loop of `VectorMath.readoutSummaries`, the bits of `summaries_ref`.
    @inline(__always)
    static func summaries(halfRows hs: Range<Int>, s: UnsafePointer<Float>, g: UnsafeMutablePointer<Float>,
                          norms: UnsafeMutablePointer<Float>, d: Int) {
        VectorMath.readoutSummaries(halfRows: hs, d: d, s: s, g: g, norms: norms)
    }

    /// `summaries` as a SIMD8 Swift loop (the form before the C loop): the tests' oracle.
    static func summaries_ref(halfRows hs: Range<Int>, s: UnsafePointer<Float>, g: UnsafeMutablePointer<Float>,
                              norms: UnsafeMutablePointer<Float>, d: Int) {
        for h in hs {
            let sh = s + h &* d, gh = g + h &* d
            var sq = SIMD8<Float>()
            for a in stride(from: 0, to: d, by: 8) { let v = VectorMath.load8(sh + a); sq += v * v }
            let nr = Swift.max(sq.sum().squareRoot(), 1e-12)
            norms[h] = nr
            for a in stride(from: 0, to: d, by: 8) {
                VectorMath.store8(VectorMath.sigmoid(VectorMath.load8(sh + a) / nr), gh + a)
            }
        }
    }

    /// Through g = σ(q), q = s/‖s‖: ∂q = ∂g∘g∘(1−g), ∂s = (∂q − q(q·∂q))/‖s‖ (no projection where
    /// the norm was clamped), in place in ds (N, 2d: ∂g in, ∂s out). Then de (L, 2d) += Mᵀ ds:
    /// owned rows accumulate, ghost rows are overwritten with the contributions their owners need
    /// (the caller's reverse halo exchange adds them there).
    /// With `maskT` (Mᵀ, L × N) the Mᵀ product is a gather per target row, each summing its
    /// sources in ascending order, as the scatter does: the same bits, row-parallel.
    static func backward(mask: CSRMatrix, maskT: CSRMatrix? = nil, s: UnsafePointer<Float>, g: UnsafePointer<Float>, norms: UnsafePointer<Float>,
                         ds: UnsafeMutablePointer<Float>, de: UnsafeMutablePointer<Float>,
                         n: Int, nLocal: Int, d: Int, pool: ThreadPool = .serial) {
        pool.forEachBlock(count: 2 &* n) { hs in
            VectorMath.readoutBackward(halfRows: hs, d: d, s: s, g: g, norms: norms, ds: ds)
        }
        multiplyMaskTransposed(mask: mask, maskT: maskT, ds: ds, de: de, n: n, nLocal: nLocal, d: d, pool: pool)
    }

    /// The per-half-row part of `backward` as a SIMD8 Swift loop (the form before the C loop of
    /// `VectorMath.readoutBackward`): the tests' oracle.
    static func backwardRows_ref(halfRows hs: Range<Int>, s: UnsafePointer<Float>, g: UnsafePointer<Float>,
                                 norms: UnsafePointer<Float>, ds: UnsafeMutablePointer<Float>, d: Int) {
        for h in hs {
            let sh = s + h &* d, gh = g + h &* d, dsh = ds + h &* d
            let nr = norms[h]
            var dotv = SIMD8<Float>()
            for a in stride(from: 0, to: d, by: 8) {
                let ga = VectorMath.load8(gh + a)
                let dq = VectorMath.load8(dsh + a) * ga * (1 - ga)
                VectorMath.store8(dq, dsh + a)
                dotv += dq * (VectorMath.load8(sh + a) / nr)
            }
            let dot = dotv.sum(), scale: Float = nr > 1e-12 ? 1 : 0
            for a in stride(from: 0, to: d, by: 8) {
                let q = VectorMath.load8(sh + a) / nr
                VectorMath.store8((VectorMath.load8(dsh + a) - q * (dot * scale)) / nr, dsh + a)
            }
        }
    }

    /// de (L, 2d) += Mᵀ ds: owned rows accumulate, ghost rows are overwritten with the
    /// contributions their owners need. With `maskT` a row-parallel gather, else the scatter.
    static func multiplyMaskTransposed(mask: CSRMatrix, maskT: CSRMatrix?, ds: UnsafePointer<Float>,
                                       de: UnsafeMutablePointer<Float>, n: Int, nLocal: Int, d: Int,
                                       pool: ThreadPool) {
        let d2 = 2 * d
        if let maskT {
            // Mᵀ as a gather: row j of ∂E (ghost rows from 0) += ∂s_i for i in ascending order.
            maskT.indptr.withUnsafeBufferPointer { ptr in
            maskT.indices.withUnsafeBufferPointer { idx in
                let ptr = ptr.baseAddress!, idx = idx.baseAddress!
                pool.forEachBlock(count: nLocal) { rows in
                    for j in rows {
                        let dst = de + j &* d2
                        if j >= n { dst.update(repeating: 0, count: d2) }
                        for p in ptr[j]..<ptr[j &+ 1] {
                            let src = ds + Int(idx[p]) &* d2
                            for a in stride(from: 0, to: d2, by: 8) {
                                VectorMath.store8(VectorMath.load8(dst + a) + VectorMath.load8(src + a), dst + a)
                            }
                        }
                    }
                }
            } }
            return
        }
        // Mᵀ: scatter each owned row's ∂s into the rows it read (ghosts included).
        (de + n &* d2).update(repeating: 0, count: (nLocal &- n) &* d2)
        mask.indptr.withUnsafeBufferPointer { ptr in
        mask.indices.withUnsafeBufferPointer { idx in
            let ptr = ptr.baseAddress!, idx = idx.baseAddress!
            for i in 0..<n {
                let src = ds + i &* d2
                for p in ptr[i]..<ptr[i &+ 1] {
                    let dst = de + Int(idx[p]) &* d2
                    for a in stride(from: 0, to: d2, by: 8) {
                        VectorMath.store8(VectorMath.load8(dst + a) + VectorMath.load8(src + a), dst + a)
                    }
                }
            }
        } }
    }
}

enum GlobalReadout {
    /// sums (2d, float64) += Σ over the N owned rows of e (L, 2d): this rank's part of the mean.
    static func partialSums(e: UnsafePointer<Float>, n: Int, d: Int, sums: UnsafeMutablePointer<Double>) {
        let d2 = 2 * d
        for i in 0..<n { for a in 0..<d2 { sums[a] += Double(e[i &* d2 &+ a]) } }
    }

    /// g (N, 2d): every row σ(sums · invN), sums (2d) the allreduced sums, invN = 1/(spots in the slide).
    static func forward(sums: UnsafePointer<Double>, invN: Double, g: UnsafeMutablePointer<Float>, n: Int, d: Int) {
        let d2 = 2 * d
        for i in 0..<n { for a in 0..<d2 { g[i &* d2 &+ a] = Float(1 / (1 + exp(-sums[a] * invN))) } }
    }

    /// ∂(mean E) = dg · g(1−g) / N_slide in place in dg (2d, float64: Σ over all spots of ∂g_i,
    /// allreduced), then de (N, 2d) += it on every owned row (g: any row of the summaries).
    static func backward(g: UnsafePointer<Float>, dg: UnsafeMutablePointer<Double>, invN: Double,
                         de: UnsafeMutablePointer<Float>, n: Int, d: Int) {
        let d2 = 2 * d
        for a in 0..<d2 { let ga = Double(g[a]); dg[a] *= ga * (1 - ga) * invN }
        for i in 0..<n { for a in 0..<d2 { de[i &* d2 &+ a] += Float(dg[a]) } }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
