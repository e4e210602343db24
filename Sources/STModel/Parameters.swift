import STCore

/// The flat layout of GraphST's parameters (llm.c style): parameters, gradients and both Adam
/// moments are arrays of `count` floats with these offsets, so gradient sync is one allreduce and
/// the optimiser is one loop.
///
/// G = genes (input width), d = latent width.
public struct ParameterLayout: Equatable, Sendable, Codable {
    public let genes: Int   // G
    public let dim: Int     // d

    public init(genes: Int, dim: Int) {
        self.genes = genes
        self.dim = dim
    }

    /// W1 (G×d): encoder weight, U = X·W1.
    public var w1: Range<Int> { 0..<(genes * dim) }
    /// W2 (d×G): decoder weight, H = Â·Z·W2.
    public var w2: Range<Int> { w1.upperBound..<(w1.upperBound + dim * genes) }
    /// Wb (d×d): bilinear discriminator weight, B(h, c) = h·Wb·c + b.
    public var wb: Range<Int> { w2.upperBound..<(w2.upperBound + dim * dim) }
    /// b (1): discriminator bias.
    public var bias: Range<Int> { wb.upperBound..<(wb.upperBound + 1) }
    public var count: Int { bias.upperBound }

    /// GraphST's initialisation: W1, W2 xavier-uniform (bound √(6/(G+d))); Wb xavier-uniform with
    /// torch's fan for an nn.Bilinear weight of shape (1, d, d): fan_in = d·d, fan_out = d; b = 0.
    /// Deterministic in `seed` (its own random stream, independent of the corruption stream).
    public func initialise(seed: UInt64) -> [Float] {
        var rng = Xoshiro256(seed: seed, stream: RandomStream.initialisation.rawValue)
        var p = [Float](repeating: 0, count: count)
        let a12 = Float((6.0 / Double(genes + dim)).squareRoot())
        let ab = Float((6.0 / Double(dim * dim + dim)).squareRoot())
        for i in w1 { p[i] = (2 * rng.nextFloat() - 1) * a12 }
        for i in w2 { p[i] = (2 * rng.nextFloat() - 1) * a12 }
        for i in wb { p[i] = (2 * rng.nextFloat() - 1) * ab }
        p[bias.lowerBound] = 0
        return p
    }

    /// Packs named blocks (row-major) into a flat parameter vector.
    public func pack(w1: [Float], w2: [Float], wb: [Float], b: Float) -> [Float] {
        precondition(w1.count == genes * dim && w2.count == dim * genes && wb.count == dim * dim)
        return w1 + w2 + wb + [b]
    }
}

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
    public mutating func update(_ params: inout [Float], grad: [Float]) {
        step += 1
        let b1 = Float(beta1), b2 = Float(beta2)
        let bc1 = 1 - pow(beta1, Double(step)), bc2 = 1 - pow(beta2, Double(step))
        let stepSize = Float(lr / bc1), bc2Sqrt = Float(bc2.squareRoot()), e = Float(eps)
        let n = params.count
        params.withUnsafeMutableBufferPointer { p in
        grad.withUnsafeBufferPointer { g in
        m.withUnsafeMutableBufferPointer { m in
        v.withUnsafeMutableBufferPointer { v in
            for i in 0..<n {
                let gi = g[i]
                m[i] += (gi - m[i]) * (1 - b1)
                v[i] = v[i] * b2 + (1 - b2) * gi * gi
                let denom = v[i].squareRoot() / bc2Sqrt + e
                p[i] -= stepSize * (m[i] / denom)
            }
        } } } }
    }
}

#if canImport(Glibc)
import Glibc
#endif
