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
