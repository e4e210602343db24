import STCore

// N = spots owned, L = local rows (owned + ghosts), d = latent width, G = genes.
//
// E = relu(Z) elementwise, forward over all L rows (the readout reads ghost rows of E), backward
// over the owned rows.

enum ReLU {
    /// e (count) = max(z, 0), e.g. [E | Ẽ] (L, 2d) from [Z | Z̃] (L, 2d).
    static func forward(z: UnsafePointer<Float>, e: UnsafeMutablePointer<Float>, count: Int, pool: ThreadPool = .serial) {
        pool.forEachBlock(count: count, block: 1 << 15) { r in
            for i in r { e[i] = Swift.max(z[i], 0) }
        }
    }

    /// [∂Z | ∂Z̃] (N, 2d) (+)= [∂E | ∂Ẽ] ∘ 1[[Z | Z̃] > 0] on the owned rows: the ∂Z half accumulates
    /// (it already holds the reconstruction part Â∂Y), the ∂Z̃ half is overwritten (it has none).
    /// The mask is read from E = max(Z, 0): E > 0 exactly where Z > 0 (also for −0 and NaN), so Z's
    /// buffer is free for [∂Z | ∂Z̃] itself (`Activations`).
    static func backward(e z: UnsafePointer<Float>, de: UnsafePointer<Float>, dz: UnsafeMutablePointer<Float>,
                         n: Int, d: Int, pool: ThreadPool = .serial) {
        // Explicit 8-wide vectors: the three pointers may alias as far as the compiler knows,
        // which kept the scalar form from vectorising.
        let d2 = 2 * d, zero = SIMD8<Float>(repeating: 0)
        pool.forEachBlock(count: n) { rows in
        for i in rows {
            let zr = z + i &* d2, der = de + i &* d2, dzr = dz + i &* d2
            var a = 0
            while a < d {
                let gv = zero.replacing(with: VectorMath.load8(der + a), where: VectorMath.load8(zr + a) .> zero)
                VectorMath.store8(VectorMath.load8(dzr + a) + gv, dzr + a)
                a &+= 8
            }
            while a < d2 {
                let gv = zero.replacing(with: VectorMath.load8(der + a), where: VectorMath.load8(zr + a) .> zero)
                VectorMath.store8(gv, dzr + a)
                a &+= 8
            }
        }
        }
    }
}
