import STCore
// N = spots owned, L = local rows (owned + ghosts), d = latent width, G = genes.
//
// Binary cross-entropy with logits (torch's BCEWithLogitsLoss, mean reduction) of the four logit
// columns against their labels (1, 0, 1, 0):
//   BCE(ret, [1,0]) + BCE(ret_a, [1,0]) = [(Σsp(−s1) + Σsp(s2)) + (Σsp(−s3) + Σsp(s4))] / (2 N_slide)
// with sp(x) = log(1 + eˣ). The sums are partial over the owned spots, in float64; the mean's
// denominator (all spots of the slide) enters through the caller's weight.

enum BCEWithLogits {
    /// sums (4, float64) = Σsp(−s1), Σsp(s2), Σsp(−s3), Σsp(s4) over logits (N, 4).
    /// With a pool, the softplus terms are computed on it into `terms` (N, 4, float64; grown as
    /// needed) and then summed in spot order on the caller: the same bits as the serial loop.
    static func forward(logits: UnsafePointer<Float>, n: Int, sums: UnsafeMutablePointer<Double>,
                        terms: inout [Double], pool: ThreadPool = .serial) {
        var l0 = 0.0, l1 = 0.0, l2 = 0.0, l3 = 0.0
        if pool.threads == 1 {
            for i in 0..<n {
                let s = logits + i &* 4
                l0 += softplus(-Double(s[0])); l1 += softplus(Double(s[1]))
                l2 += softplus(-Double(s[2])); l3 += softplus(Double(s[3]))
            }
        } else {
            if terms.count < 4 * n { terms = [Double](repeating: 0, count: 4 * n) }
            terms.withUnsafeMutableBufferPointer { tb in
                let t = tb.baseAddress!
                pool.forEachBlock(count: n) { rows in
                    for i in rows {
                        let s = logits + i &* 4, ti = t + i &* 4
                        ti[0] = softplus(-Double(s[0])); ti[1] = softplus(Double(s[1]))
                        ti[2] = softplus(-Double(s[2])); ti[3] = softplus(Double(s[3]))
                    }
                }
                for i in 0..<n {
                    let ti = t + i &* 4
                    l0 += ti[0]; l1 += ti[1]; l2 += ti[2]; l3 += ti[3]
                }
            }
        }
        sums[0] = l0; sums[1] = l1; sums[2] = l2; sums[3] = l3
    }

    /// dlogits (N, 4) = weight · (σ(s) − label), labels (1, 0, 1, 0); weight = ∂loss/∂(each term of
    /// the mean) = β / (2 N_slide).
    static func backward(logits: UnsafePointer<Float>, weight w: Float, dlogits: UnsafeMutablePointer<Float>, n: Int,
                         pool: ThreadPool = .serial) {
        pool.forEachBlock(count: n) { rows in
            for i in rows {
                let s = logits + i &* 4, r = dlogits + i &* 4
                r[0] = w * (sigmoid(s[0]) - 1); r[1] = w * sigmoid(s[1])
                r[2] = w * (sigmoid(s[2]) - 1); r[3] = w * sigmoid(s[3])
            }
        }
    }
}

@inline(__always) func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

/// log(1 + eˣ), stable for all x (torch's BCEWithLogits form).
@inline(__always) func softplus(_ x: Double) -> Double { Swift.max(x, 0) + log1p(exp(-Swift.abs(x))) }

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
