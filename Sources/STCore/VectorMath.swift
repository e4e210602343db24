import CSparseSIMD

/// Vectorised elementary functions for the per-spot loops of the model (readout, sigmoid).
///
/// libm's `expf` is scalar; on slides with many spots and few genes the n·2d sigmoids of the
/// readout are a fifth of an epoch. These are deterministic (the same bits for the same input on
/// every rank and every run), so rank-count independence is unaffected.
public enum VectorMath {
    /// eˣ for 8 floats: Cody–Waite range reduction x = n·ln2 + r, |r| ≤ ln2/2, then the degree-6
    /// polynomial of Cephes' `expf`, scaled by 2ⁿ through the exponent bits. Max relative error
    /// ≈ 2e-7 (tested against float64 exp) for x in [−87.3, 88]; inputs are clamped to that
    /// range, so the result is finite and ≥ 2⁻¹²⁶.
    @inlinable @inline(__always)
    public static func exp(_ x: SIMD8<Float>) -> SIMD8<Float> {
        // Only plain lane-wise arithmetic: the generic SIMD helpers (rounded, clamped,
        // init(_:rounding:)) compile to per-lane loops.
        let xc = pointwiseMax(pointwiseMin(x, SIMD8(repeating: 88.0)), SIMD8(repeating: -87.33654))
        let magic = SIMD8<Float>(repeating: 12_582_912)                // 1.5·2²³: rounds to an integer
        let t = xc * 1.442_695_04 + magic
        let n = t - magic                                              // round(x / ln2)
        let r = xc - n * 0.693_359_375 + n * 2.121_944_4e-4            // ln2 = 0.693359375 − 2.12194440e-4
        var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
        p = p * r + 1.398_199_950_7e-3
        p = p * r + 8.333_451_907_3e-3
        p = p * r + 4.166_579_589_4e-2
        p = p * r + 1.666_666_545_9e-1
        p = p * r + 5.000_000_120_1e-1
        p = p * (r * r) + r + 1
        let ni = unsafeBitCast(t, to: SIMD8<Int32>.self) &- unsafeBitCast(magic, to: SIMD8<Int32>.self)
        return p * unsafeBitCast((ni &+ 127) &<< 23, to: SIMD8<Float>.self)
    }

    /// The logistic function σ(x) = 1 / (1 + e⁻ˣ) for 8 floats.
    @inlinable @inline(__always)
    public static func sigmoid(_ x: SIMD8<Float>) -> SIMD8<Float> { 1 / (1 + exp(-x)) }
}

extension VectorMath {
    /// 8 floats from `p` (no alignment needed).
    @inlinable @inline(__always)
    public static func load8(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
        UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
    }

    /// Stores 8 floats at `p` (no alignment needed).
    @inlinable @inline(__always)
    public static func store8(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
        UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
    }
}

extension VectorMath {
    /// One Adam step over `count` values, in place: m ← m + (g − m)(1 − β₁); v ← β₂v + (1 − β₂)g·g;
    /// p ← p − stepSize·(m / (√v / bc2Sqrt + ε)). Vectorised in C (Sources/CSparseSIMD/adam_simd.c:
    /// Swift's SIMD square root is scalar per lane) at the width of `path`; every width performs
    /// the same correctly rounded float32 operations in the same order, so the bits are those of
    /// the scalar loop (STModel's `adamUpdate_ref`, tested).
    public static func adamStep(params p: UnsafeMutablePointer<Float>, grad g: UnsafePointer<Float>,
                                m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count n: Int,
                                beta1: Float, beta2: Float, eps: Float, stepSize: Float, bc2Sqrt: Float,
                                path: Sparse.Path = Sparse.defaultPath) {
        let level = Swift.min(path.rawValue, Sparse.supportedPath.rawValue)
        stgnn_adam_update(Int32(level), n, p, g, m, v, beta1, beta2, eps, stepSize, bc2Sqrt)
    }
}

extension VectorMath {
    /// The local readout's summaries on half-rows [h0, h1) of s (rows of d floats, d % 8 == 0):
    /// nr = max(‖s_h‖, 1e-12), norms[h] = nr, g_h = σ(s_h / nr) with `sigmoid`. Vectorised in C
    /// (Sources/CSparseSIMD/readout_simd.c) at the width of `path`, with the operations of the
    /// SIMD8 Swift loop in its order (STModel's `LocalReadout.summaries_ref`, tested bitwise).
    public static func readoutSummaries(halfRows hs: Range<Int>, d: Int, s: UnsafePointer<Float>,
                                        g: UnsafeMutablePointer<Float>, norms: UnsafeMutablePointer<Float>,
                                        path: Sparse.Path = Sparse.defaultPath) {
        precondition(d % 8 == 0, "readout width d = \(d) must be a multiple of 8")
        let level = Swift.min(path.rawValue, Sparse.supportedPath.rawValue)
        stgnn_readout_summaries(Int32(level), hs.lowerBound, hs.upperBound, d, s, g, norms)
    }

    /// The local readout's backward through g = σ(s/‖s‖) on half-rows [h0, h1), in place in ds
    /// (∂g in, ∂s out): as `readoutSummaries`, C at the width of `path` with the operations of the
    /// Swift loop (`LocalReadout.backwardRows_ref`, tested bitwise).
    public static func readoutBackward(halfRows hs: Range<Int>, d: Int, s: UnsafePointer<Float>,
                                       g: UnsafePointer<Float>, norms: UnsafePointer<Float>,
                                       ds: UnsafeMutablePointer<Float>, path: Sparse.Path = Sparse.defaultPath) {
        precondition(d % 8 == 0, "readout width d = \(d) must be a multiple of 8")
        let level = Swift.min(path.rawValue, Sparse.supportedPath.rawValue)
        stgnn_readout_backward(Int32(level), hs.lowerBound, hs.upperBound, d, s, g, norms, ds)
    }
}

extension VectorMath {
    /// The discriminator's BCE with logits on the flat values `values` (a range of whole spots,
    /// 4 values each, labels 1, 0, 1, 0) of logits (N × 4): terms = the softplus of each loss
    /// term, dlogits = weight·(σ(s) − label). Vectorised in C (Sources/CSparseSIMD/bce_simd.c) at
    /// the width of `path`, with the operations of STModel's `BCEWithLogits.terms_ref` (tested
    /// bitwise).
    public static func bceTerms(values q: Range<Int>, logits: UnsafePointer<Float>, weight: Float,
                                terms: UnsafeMutablePointer<Float>, dlogits: UnsafeMutablePointer<Float>,
                                path: Sparse.Path = Sparse.defaultPath) {
        precondition(q.lowerBound % 4 == 0 && q.upperBound % 4 == 0, "BCE values must be whole spots (4 each)")
        let level = Swift.min(path.rawValue, Sparse.supportedPath.rawValue)
        stgnn_bce_terms(Int32(level), q.lowerBound, q.upperBound, logits, weight, terms, dlogits)
    }
}

extension VectorMath {
    /// The reconstruction epilogue's per-gene loop (STModel's `ReconstructionLoss.rows_ref` gives
    /// its bits at every path): for `genes` rows of w and kw (d doubles each) and of [Cᵀ | ∂W1]
    /// summed over the sources in order (source q float32 when isFloat32[q], its row j at
    /// sources[q] + j·ldct elements), the trace lanes kl, wl (8 each, added to) and the rows
    /// [∂W1 | ∂W2ᵀ] of out (row stride ldo). Vectorised in C (Sources/CSparseSIMD/epilogue_simd.c).
    public static func epilogueRows(_ genes: Int, d: Int, w: UnsafePointer<Double>, kw: UnsafePointer<Double>,
                                    sources: UnsafePointer<UnsafeRawPointer?>, isFloat32: UnsafePointer<UInt8>, count: Int,
                                    ldct: Int, scale: Double, out: UnsafeMutablePointer<Float>, ldo: Int,
                                    kl: UnsafeMutablePointer<Double>, wl: UnsafeMutablePointer<Double>,
                                    path: Sparse.Path = Sparse.defaultPath) {
        precondition(d % 8 == 0, "epilogueRows: d = \(d) is not a multiple of 8")
        let level = Swift.min(path.rawValue, Sparse.supportedPath.rawValue)
        stgnn_epilogue_rows(Int32(level), genes, d, w, kw, sources, isFloat32, count, ldct, scale, out, ldo, kl, wl)
    }
}
