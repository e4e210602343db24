import STCore

// N = spots owned, L = local rows (owned + ghosts), d = latent width, G = genes.
//
// One graph convolution without weights: out = Â · in over this rank's owned rows of Â (N, L in
// local columns). `in` must have its ghost rows filled (a halo exchange, done by the caller).
// Â is symmetric, so the backward ∂in = Âᵀ ∂out is the same product with the same halo pattern.
// Used for Z = Â U, Y = Â Z and their backward passes; every row sum runs in stored entry order
// (ascending global column), so it does not depend on the rank count.

enum GCNPropagate {
    /// out (N, width; ldo) = Â (N, L) · input (L, width; ldi).
    static func forward(adj: CSRMatrix, input: UnsafePointer<Float>, ldi: Int, width: Int,
                        out: UnsafeMutablePointer<Float>, ldo: Int, pool: ThreadPool = .serial) {
        Sparse.spmm(adj, input, ldb: ldi, width: width, into: out, ldc: ldo, pool: pool)
    }

    /// dInput (N, width; ldi) = Âᵀ · dOut = Â (N, L) · dOut (L, width; ldo), Â symmetric; the owned
    /// rows of ∂in (ghost-row contributions are already in the owners' rows by symmetry).
    static func backward(adj: CSRMatrix, dOut: UnsafePointer<Float>, ldo: Int, width: Int,
                         dInput: UnsafeMutablePointer<Float>, ldi: Int, pool: ThreadPool = .serial) {
        Sparse.spmm(adj, dOut, ldb: ldo, width: width, into: dInput, ldc: ldi, pool: pool)
    }
}
