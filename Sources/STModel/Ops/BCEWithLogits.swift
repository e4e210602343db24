import STCore
// N = spots owned, L = local rows (owned + ghosts), d = latent width, G = genes.
//
// Binary cross-entropy with logits (torch's BCEWithLogitsLoss, mean reduction) of the four logit
// columns against their labels (1, 0, 1, 0):
//   BCE(ret, [1,0]) + BCE(ret_a, [1,0]) = [(Σsp(−s1) + Σsp(s2)) + (Σsp(−s3) + Σsp(s4))] / (2 N_slide)
// with sp(x) = log(1 + eˣ) = max(x, 0) + log1p(e^−|x|). The terms are float32, as torch computes
// them; their sums are partial over the owned spots, in float64; the mean's denominator (all spots
// of the slide) enters through the caller's weight. Forward and backward share e^−|s| and run as
// one pass (Sources/CSparseSIMD/bce_simd.c).

enum BCEWithLogits {
    /// sums (4, float64) = Σsp(−s1), Σsp(s2), Σsp(−s3), Σsp(s4) over logits (N, 4), and
    /// dlogits (N, 4) = weight · (σ(s) − label), weight = ∂loss/∂(each term of the mean) = β/(2 N_slide).
    /// The terms (float32, a task's block of them on its stack) are summed in spot order within
    /// fixed blocks of `ThreadPool.rowBlock` spots, the blocks then in order: the same bits for
    /// any pool.
    static func forwardBackward(logits: UnsafePointer<Float>, weight w: Float, n: Int, sums: UnsafeMutablePointer<Double>,
                                dlogits: UnsafeMutablePointer<Float>, path: Sparse.Path = Sparse.defaultPath,
                                pool: ThreadPool = .serial) {
        for j in 0..<4 { sums[j] = 0 }
        if n == 0 { return }
        let blocks = ThreadPool.blockCount(n), rb = ThreadPool.rowBlock
        withUnsafeTemporaryAllocation(of: Double.self, capacity: 4 &* blocks) { pb in
            let part = pb.baseAddress!
            pool.run(tasks: blocks) { b in
                let i0 = b &* rb, m = Swift.min(n, i0 &+ rb) &- i0
                withUnsafeTemporaryAllocation(of: Float.self, capacity: 4 &* rb) { tb in
                    let t = tb.baseAddress!
                    // The block's values from 0 (whole spots: the labels' parity is kept).
                    VectorMath.bceTerms(values: 0..<(4 &* m), logits: logits + 4 &* i0, weight: w, terms: t,
                                        dlogits: dlogits + 4 &* i0, path: path)
                    var l0 = 0.0, l1 = 0.0, l2 = 0.0, l3 = 0.0
                    for i in 0..<m {
                        let ti = t + i &* 4
                        l0 += Double(ti[0]); l1 += Double(ti[1]); l2 += Double(ti[2]); l3 += Double(ti[3])
                    }
                    let pp = part + b &* 4
                    pp[0] = l0; pp[1] = l1; pp[2] = l2; pp[3] = l3
                }
            }
            for b in 0..<blocks { for j in 0..<4 { sums[j] += part[b &* 4 &+ j] } }
        }
    }

    /// The per-value operations of `VectorMath.bceTerms`, one value at a time in Swift: the
    /// oracle of the C kernels (every path must give these bits), and the definition of the
    /// numbers. label 1 (even q): term sp(−s); label 0: sp(s).
    static func terms_ref(logits: [Float], weight w: Float) -> (terms: [Float], dlogits: [Float]) {
        var terms = [Float](repeating: 0, count: logits.count), dl = terms
        for (q, s) in logits.enumerated() {
            let label: Float = q % 2 == 0 ? 1 : 0
            let a = s < 0 ? -s : s
            let t = VectorMath.exp(SIMD8(repeating: -a))[0]
            let small = t < 0.414_213_56
            let x: Float = small ? t : (1 + t) * 0.5 - 1
            let e: Float = small ? 0 : 1
            let z = x * x
            var y: Float = 7.037_683_629_2e-2
            y = y * x - 1.151_461_031_0e-1
            y = y * x + 1.167_699_874_0e-1
            y = y * x - 1.242_014_084_6e-1
            y = y * x + 1.424_932_278_7e-1
            y = y * x - 1.666_805_766_5e-1
            y = y * x + 2.000_071_476_5e-1
            y = y * x - 2.499_999_399_3e-1
            y = y * x + 3.333_333_117_4e-1
            y = y * x * z
            y = y + e * -2.121_944_40e-4
            y = y + z * -0.5
            let l = x + y + e * 0.693_359_375
            let v = label == 1 ? -s : s
            terms[q] = (v > 0 ? v : 0) + l
            let den = 1 + t
            let sg = s >= 0 ? 1 / den : t / den
            dl[q] = (sg - label) * w
        }
        return (terms, dl)
    }
}
