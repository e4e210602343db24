import STCore

// N = spots owned, L = local rows (owned + ghosts), d = latent width, G = genes.
//
// The bilinear discriminator B(h, c)_i = h_i · Wb · c_i + b (Wb: d × d, row-major) on both branches
// at once, with e = [E | Ẽ] (N rows used, 2d) and c = [g | g̃] (N, 2d):
//   s1 = B(E, g)   s2 = B(Ẽ, g)   s3 = B(Ẽ, g̃)   s4 = B(E, g̃)          logits (N, 4)
// Backward, with r = ∂L/∂logits (N, 4):
//   ∂E_i = r1 Wb g_i + r4 Wb g̃_i          ∂Ẽ_i = r2 Wb g_i + r3 Wb g̃_i
//   ∂g_i = Wbᵀ(r1 E_i + r2 Ẽ_i)           ∂g̃_i = Wbᵀ(r3 Ẽ_i + r4 E_i)
//   ∂Wb  = Σ_i E_i(r1 g_i + r4 g̃_i)ᵀ + Ẽ_i(r2 g_i + r3 g̃_i)ᵀ           ∂b = Σ_i (r1 + r2 + r3 + r4)
// A (N, 2d) buffer read as (2N, d) lists E_0, Ẽ_0, E_1, … : one GEMM serves both branches.
// d % 8 == 0 (the per-spot loops are SIMD8).

enum Bilinear {
    /// wc (N, 2d) = [g Wbᵀ | g̃ Wbᵀ] (row i: Wb g_i, Wb g̃_i); logits (N, 4) = s1..s4 + bias.
    static func forward(e: UnsafePointer<Float>, c: UnsafePointer<Float>, wb: UnsafePointer<Float>, bias: Float,
                        wc: UnsafeMutablePointer<Float>, logits: UnsafeMutablePointer<Float>, n: Int, d: Int,
                        pool: ThreadPool = .serial) {
        BLAS.sgemmRows(transB: true, m: 2 * n, n: d, k: d, a: c, lda: d, b: wb, ldb: d, c: wc, ldc: d, pool: pool)
        pool.forEachBlock(count: n) { rows in logitRows(rows, e: e, wc: wc, bias: bias, logits: logits, d: d) }
    }

    /// logits (N, 4) of the spots `rows`, from e (N, 2d) and wc (N, 2d) = [Wb g_i | Wb g̃_i].
    @inline(__always)
    static func logitRows(_ rows: Range<Int>, e: UnsafePointer<Float>, wc: UnsafePointer<Float>, bias: Float,
                          logits: UnsafeMutablePointer<Float>, d: Int) {
        let d2 = 2 * d
        for i in rows {
            let ei = e + i &* d2, eti = ei + d
            let w = wc + i &* d2, wt = w + d
            var v1 = SIMD8<Float>(), v2 = v1, v3 = v1, v4 = v1
            for a in stride(from: 0, to: d, by: 8) {
                let ea = VectorMath.load8(ei + a), eta = VectorMath.load8(eti + a)
                let wa = VectorMath.load8(w + a), wta = VectorMath.load8(wt + a)
                v1 += ea * wa; v2 += eta * wa; v3 += eta * wta; v4 += ea * wta
            }
            let l = logits + i &* 4
            l[0] = v1.sum() + bias; l[1] = v2.sum() + bias
            l[2] = v3.sum() + bias; l[3] = v4.sum() + bias
        }
    }

    /// de (N, 2d) = [∂E | ∂Ẽ] from the discriminator (overwritten); dwb (d, d, float64) += ∂Wb and
    /// db (float64) = ∂b, this rank's partial sums. pq (N, 2d) is scratch.
    static func backward(e: UnsafePointer<Float>, c: UnsafePointer<Float>, wc: UnsafePointer<Float>,
                         dlogits: UnsafePointer<Float>, de: UnsafeMutablePointer<Float>, pq: UnsafeMutablePointer<Float>,
                         dwb: UnsafeMutablePointer<Double>, db: UnsafeMutablePointer<Double>,
                         n: Int, d: Int, scratch: inout [Float], pool: ThreadPool = .serial) {
        let d2 = 2 * d
        var sum = 0.0
        for i in 0..<n {      // in spot order on one thread: the same bits for any pool
            let r = dlogits + i &* 4
            sum += Double(r[0]) + Double(r[1]) + Double(r[2]) + Double(r[3])
        }
        pool.forEachBlock(count: n) { rows in
        for i in rows {
            let r = dlogits + i &* 4
            let r1 = r[0], r2 = r[1], r3 = r[2], r4 = r[3]
            let g = c + i &* d2, gt = g + d
            let wgi = wc + i &* d2, wgt = wgi + d
            let dei = de + i &* d2, deti = dei + d
            let p = pq + i &* d2, q = p + d      // p pairs with E_i, q with Ẽ_i for ∂Wb
            for a in stride(from: 0, to: d, by: 8) {
                let w1 = VectorMath.load8(wgi + a), w2 = VectorMath.load8(wgt + a)
                let g1 = VectorMath.load8(g + a), g2 = VectorMath.load8(gt + a)
                VectorMath.store8(r1 * w1 + r4 * w2, dei + a)
                VectorMath.store8(r2 * w1 + r3 * w2, deti + a)
                VectorMath.store8(r1 * g1 + r4 * g2, p + a)
                VectorMath.store8(r2 * g1 + r3 * g2, q + a)
            }
        }
        }
        db.pointee = sum
        // ∂Wb = [E|Ẽ]ᵀ·[p|q] over the 2N half-rows, each read as (2N, d).
        BLAS.gramAccumulate(n: 2 * n, p: d, q: d, a: e, lda: d, b: pq, ldb: d, into: dwb, ldc: d, scratch: &scratch,
                            pool: pool)
    }

    /// dc (N, 2d) = [∂g | ∂g̃] per spot (a local summary): pq (N, 2d, scratch) = [r1 E + r2 Ẽ | r3 Ẽ + r4 E],
    /// then dc = pq · Wb read as (2N, d) × (d, d).
    static func backwardSummary(e: UnsafePointer<Float>, dlogits: UnsafePointer<Float>, wb: UnsafePointer<Float>,
                                pq: UnsafeMutablePointer<Float>, dc: UnsafeMutablePointer<Float>, n: Int, d: Int,
                                pool: ThreadPool = .serial) {
        let d2 = 2 * d
        pool.forEachBlock(count: n) { rows in
        for i in rows {
            let r = dlogits + i &* 4
            let r1 = r[0], r2 = r[1], r3 = r[2], r4 = r[3]
            let ei = e + i &* d2, eti = ei + d
            let p = pq + i &* d2, q = p + d
            for a in stride(from: 0, to: d, by: 8) {
                let ea = VectorMath.load8(ei + a), eta = VectorMath.load8(eti + a)
                VectorMath.store8(r1 * ea + r2 * eta, p + a)
                VectorMath.store8(r3 * eta + r4 * ea, q + a)
            }
        }
        }
        BLAS.sgemmRows(m: 2 * n, n: d, k: d, a: pq, lda: d, b: wb, ldb: d, c: dc, ldc: d, pool: pool)
    }

    /// dcSum (2d, float64) += Σ over the N owned spots of [∂g_i | ∂g̃_i] (a summary shared by every
    /// spot: the global readout), accumulated in float64.
    static func backwardSummarySum(e: UnsafePointer<Float>, dlogits: UnsafePointer<Float>, wb: UnsafePointer<Float>,
                                   dcSum: UnsafeMutablePointer<Double>, n: Int, d: Int) {
        let d2 = 2 * d
        var ve = [Float](repeating: 0, count: d), vt = [Float](repeating: 0, count: d)
        for i in 0..<n {
            let r = dlogits + i &* 4
            let r1 = r[0], r2 = r[1], r3 = r[2], r4 = r[3]
            let ei = e + i &* d2, eti = ei + d
            for a in 0..<d { ve[a] = r1 * ei[a] + r2 * eti[a]; vt[a] = r3 * eti[a] + r4 * ei[a] }
            // ∂g_i = Wbᵀ ve → component b: Σ_a Wb[a, b] ve[a]
            for a in 0..<d {
                let row = wb + a &* d
                let va = Double(ve[a]), vta = Double(vt[a])
                for b in 0..<d { dcSum[b] += va * Double(row[b]); dcSum[d &+ b] += vta * Double(row[b]) }
            }
        }
    }
}
