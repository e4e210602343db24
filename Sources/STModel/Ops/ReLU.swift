import STCore

// N = spots owned, L = local rows (owned + ghosts), d = latent width, G = genes.
//
// E = relu(Z) elementwise, forward over all L rows (the readout reads ghost rows of E), backward
// over the owned rows.

enum ReLU {
    /// e (count) = max(z, 0), e.g. [E | Ẽ] (L, 2d) from [Z | Z̃] (L, 2d).
    static func forward(z: UnsafePointer<Float>, e: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { e[i] = Swift.max(z[i], 0) }
    }

    /// dz (N, width; ld) (+)= de ∘ 1[z > 0] over N rows of `width` (a multiple of 8) columns, all
    /// three buffers with row stride ld. `accumulate`: add to dz (∂Z already holds the
    /// reconstruction part), else overwrite it (∂Z̃).
    static func backward(z: UnsafePointer<Float>, de: UnsafePointer<Float>, dz: UnsafeMutablePointer<Float>,
                         n: Int, width: Int, ld: Int, accumulate: Bool) {
        // Explicit 8-wide vectors: the three pointers may alias as far as the compiler knows,
        // which kept the scalar form from vectorising.
        let zero = SIMD8<Float>(repeating: 0)
        for i in 0..<n {
            let zr = z + i &* ld, der = de + i &* ld, dzr = dz + i &* ld
            if accumulate {
                for a in stride(from: 0, to: width, by: 8) {
                    let gv = zero.replacing(with: VectorMath.load8(der + a), where: VectorMath.load8(zr + a) .> zero)
                    VectorMath.store8(VectorMath.load8(dzr + a) + gv, dzr + a)
                }
            } else {
                for a in stride(from: 0, to: width, by: 8) {
                    let gv = zero.replacing(with: VectorMath.load8(der + a), where: VectorMath.load8(zr + a) .> zero)
                    VectorMath.store8(gv, dzr + a)
                }
            }
        }
    }
}
