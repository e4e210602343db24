import STCore
// One flat parameter layout (ParameterLayout): parameters, gradient and both moments are arrays of
// the same `count` floats, so the optimiser is one loop.

/// Adam exactly as torch.optim.Adam (no weight decay, no amsgrad), in float32 like torch:
/// m ← m + (1−β₁)(g − m); v ← β₂v + (1−β₂)g²; p ← p − (lr/(1−β₁ᵗ)) · m / (√v/√(1−β₂ᵗ) + ε).
public struct Adam: Sendable, Equatable, Codable {
    public var lr: Double
    public var beta1: Double = 0.9
    public var beta2: Double = 0.999
    public var eps: Double = 1e-8
    /// Steps taken so far (t of the next step is step + 1).
    public var step: Int = 0
    public var m: [Float]
    public var v: [Float]

    public init(count: Int, lr: Double) {
        self.lr = lr
        m = [Float](repeating: 0, count: count)
        v = [Float](repeating: 0, count: count)
    }

    /// One update of `params` with gradient `grad` (same layout).
    /// `pool`: threads over fixed blocks of values (element-wise: the same bits for any pool).
    public mutating func update(_ params: inout [Float], grad: [Float], pool: ThreadPool = .serial) {
        precondition(params.count == grad.count && params.count == m.count,
                     "Adam: \(params.count) parameters, \(grad.count) gradient values, \(m.count) moments")
        if params.isEmpty { step += 1; return }
        params.withUnsafeMutableBufferPointer { p in
            grad.withUnsafeBufferPointer { g in update(p.baseAddress!, grad: g.baseAddress!, pool: pool) }
        }
    }

    /// The same on `m.count` parameters and gradient values at `params` and `grad` (the
    /// trainer's aligned parameters, `AlignedFloats`).
    public mutating func update(_ params: UnsafeMutablePointer<Float>, grad: UnsafePointer<Float>,
                                pool: ThreadPool = .serial) {
        step += 1
        let bc1 = 1 - pow(beta1, Double(step)), bc2 = 1 - pow(beta2, Double(step))
        let stepSize = Float(lr / bc1), bc2Sqrt = Float(bc2.squareRoot())
        let (b1, b2, e) = (Float(beta1), Float(beta2), Float(eps)), n = m.count
        if n == 0 { return }
        m.withUnsafeMutableBufferPointer { m in
        v.withUnsafeMutableBufferPointer { v in
            let mp = m.baseAddress!, vp = v.baseAddress!
            pool.forEachBlock(count: n, block: 1 << 14) { r in
                let o = r.lowerBound
                VectorMath.adamStep(params: params + o, grad: grad + o, m: mp + o, v: vp + o, count: r.count,
                                    beta1: b1, beta2: b2, eps: e, stepSize: stepSize, bc2Sqrt: bc2Sqrt)
            }
        } }
    }
}

/// Reference for `VectorMath.adamStep` (which `Adam.update` runs): one Adam step over `count`
/// values, params, m, v (count) updated in place from grad (count), one value at a time.
/// stepSize = lr/(1−β₁ᵗ), bc2Sqrt = √(1−β₂ᵗ).
func adamUpdate_ref(params p: UnsafeMutablePointer<Float>, grad g: UnsafePointer<Float>,
                m: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>, count n: Int,
                beta1 b1: Float, beta2 b2: Float, eps e: Float, stepSize: Float, bc2Sqrt: Float) {
    for i in 0..<n {
        let gi = g[i]
        m[i] += (gi - m[i]) * (1 - b1)
        v[i] = v[i] * b2 + (1 - b2) * gi * gi
        let denom = v[i].squareRoot() / bc2Sqrt + e
        p[i] -= stepSize * (m[i] / denom)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
