import STCore

/// The flat layout of GraphST's parameters (llm.c style): parameters, gradients and both Adam
/// moments are arrays of `count` floats with these offsets, so gradient sync is one allreduce and
/// the optimiser is one loop.
///
/// W1 (G×d) and W2 (d×G) are stored together, gene by gene, as the rows of [W1 | W2ᵀ] (G × 2d):
/// row g holds W1[g, 0..<d] then W2[0..<d, g]. That is the right-hand side of the forward pass
/// over X (X·[W1 | W2ᵀ], InputProjection), copied as it is, and the gradient's rows come out of
/// the pass over Xᵀ and the epilogue in the same order ([∂W1 | ∂W2ᵀ] by gene), so that a range of
/// genes is one contiguous block of the parameters, the gradient and the moments (the split
/// epilogue sends and receives gradient rows in place). Files and fixtures keep GraphST's order
/// (`canonical`); only memory uses this one.
///
/// G = genes (input width), d = latent width.
public struct ParameterLayout: Equatable, Sendable, Codable {
    public let genes: Int   // G
    public let dim: Int     // d

    public init(genes: Int, dim: Int) {
        self.genes = genes
        self.dim = dim
    }

    /// [W1 | W2ᵀ] (G × 2d): W1 (encoder, U = X·W1) and W2 (decoder, H = Â·Z·W2), row g =
    /// (W1[g, :], W2[:, g]).
    public var w12: Range<Int> { 0..<(genes * 2 * dim) }
    /// Wb (d×d): bilinear discriminator weight, B(h, c) = h·Wb·c + b.
    public var wb: Range<Int> { w12.upperBound..<(w12.upperBound + dim * dim) }
    /// b (1): discriminator bias.
    public var bias: Range<Int> { wb.upperBound..<(wb.upperBound + 1) }
    public var count: Int { bias.upperBound }

    /// Flat index of W1[g, a].
    @inline(__always) public func w1(_ g: Int, _ a: Int) -> Int { g &* 2 &* dim &+ a }
    /// Flat index of W2[a, g].
    @inline(__always) public func w2(_ a: Int, _ g: Int) -> Int { g &* 2 &* dim &+ dim &+ a }

    /// The blocks of GraphST's model, in GraphST's (canonical) order.
    public enum Block: String, CaseIterable, Sendable {
        case w1 = "W1", w2 = "W2", wb = "Wb", b = "b"
    }

    /// Flat indices of `block`'s elements in GraphST's row-major order: W1 (G×d) by (g, a), W2
    /// (d×G) by (a, g), Wb (d×d), b.
    public func indices(of block: Block) -> [Int] {
        switch block {
        case .w1: return (0..<genes).flatMap { g in (0..<dim).map { w1(g, $0) } }
        case .w2: return (0..<dim).flatMap { a in (0..<genes).map { w2(a, $0) } }
        case .wb: return Array(wb)
        case .b: return Array(bias)
        }
    }

    /// `block`'s values of the flat vector `p`, in GraphST's order (`indices(of:)`).
    public func values(of block: Block, in p: [Float]) -> [Float] { indices(of: block).map { p[$0] } }

    /// `p` in GraphST's order: W1 (G×d), W2 (d×G), Wb (d×d), b: the order of checkpoint files and
    /// of the fixtures.
    public func canonical(_ p: [Float]) -> [Float] {
        precondition(p.count == count, "canonical: \(p.count) values for a layout of \(count)")
        return Block.allCases.flatMap { values(of: $0, in: p) }
    }

    /// The inverse of `canonical`.
    public func fromCanonical(_ c: [Float]) -> [Float] {
        precondition(c.count == count, "fromCanonical: \(c.count) values for a layout of \(count)")
        var p = [Float](repeating: 0, count: count), at = 0
        for block in Block.allCases {
            for i in indices(of: block) { p[i] = c[at]; at += 1 }
        }
        return p
    }

    /// GraphST's initialisation: W1, W2 xavier-uniform (bound √(6/(G+d))); Wb xavier-uniform with
    /// torch's fan for an nn.Bilinear weight of shape (1, d, d): fan_in = d·d, fan_out = d; b = 0.
    /// Deterministic in `seed` (its own random stream, independent of the corruption stream),
    /// drawn in GraphST's order (W1, W2, Wb row-major).
    public func initialise(seed: UInt64) -> [Float] {
        var rng = Xoshiro256(seed: seed, stream: RandomStream.initialisation.rawValue)
        var c = [Float](repeating: 0, count: count)
        let a12 = Float((6.0 / Double(genes + dim)).squareRoot())
        let ab = Float((6.0 / Double(dim * dim + dim)).squareRoot())
        let n12 = 2 * genes * dim, nb = dim * dim
        for i in 0..<n12 { c[i] = (2 * rng.nextFloat() - 1) * a12 }
        for i in n12..<(n12 + nb) { c[i] = (2 * rng.nextFloat() - 1) * ab }
        c[n12 + nb] = 0
        return fromCanonical(c)
    }

    /// The flat vector of named blocks (row-major, GraphST's shapes).
    public func pack(w1: [Float], w2: [Float], wb: [Float], b: Float) -> [Float] {
        precondition(w1.count == genes * dim && w2.count == dim * genes && wb.count == dim * dim)
        return fromCanonical(w1 + w2 + wb + [b])
    }
}
