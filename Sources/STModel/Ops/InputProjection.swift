import STCore

// N = spots owned, L = local rows (owned + ghosts), d = latent width, G = genes.
//
// The two sparse passes over X (the DESIGN §2 floor), each 2d wide:
//   forward   [U | X W2ᵀ] = X·[W1 | W2ᵀ]      (U feeds the encoder, X W2ᵀ the reconstruction ∂Y)
//   backward  [Cᵀ | ∂W1]  = Xᵀ·[Y | ∂U]        (C = YᵀX feeds ∂W2, ∂W1 is the encoder's gradient)
// W2 is known at the start of the epoch and C is only needed after the backward pass, so each pair
// shares one pass.

enum InputProjection {
    /// w12t (G, 2d) = [W1 | W2ᵀ] from w1 (G, d) and w2 (d, G).
    static func packWeights(w1: UnsafePointer<Float>, w2: UnsafePointer<Float>,
                            w12t: UnsafeMutablePointer<Float>, genes G: Int, d: Int, pool: ThreadPool = .serial) {
        let d2 = 2 * d
        pool.forEachBlock(count: G) { genes in
            for g in genes {
                let row = w12t + g &* d2
                row.update(from: w1 + g &* d, count: d)
                for a in 0..<d { row[d &+ a] = w2[a &* G &+ g] }
            }
        }
    }

    /// w12t (G, 2d), columns 0..<d only = W1 (G, d): what `embed` needs.
    static func packW1(w1: UnsafePointer<Float>, w12t: UnsafeMutablePointer<Float>, genes G: Int, d: Int) {
        for g in 0..<G { (w12t + g &* 2 &* d).update(from: w1 + g &* d, count: d) }
    }

    /// out (N, width; ld) = X (N, G) · w12t[:, 0..<width] (G, 2d), X in column blocks (the same
    /// bits as `Sparse.spmm` on the plain X); `beside`: independent work overlapped with it.
    /// With `blocks` (X cut into gene blocks) the blocked product, `beside` one more task of its
    /// pool job; without, the plain `Sparse.spmm` after `beside`. The same bits either way.
    static func forward(x: CSRMatrix, blocks: ColumnBlocks?, w12t: UnsafePointer<Float>, d: Int, width: Int,
                        out: UnsafeMutablePointer<Float>, ld: Int, pool: ThreadPool = .serial,
                        beside: (() -> Void)? = nil) {
        if let blocks {
            blocks.multiply(w12t, ldb: 2 * d, width: width, into: out, ldc: ld, pool: pool, beside: beside)
        } else {
            beside?()
            Sparse.spmm(x, w12t, ldb: 2 * d, width: width, into: out, ldc: ld, pool: pool)
        }
    }

    /// xt (G, 2d, float64) += Xᵀ (G, N) · yd (N, 2d): a local partial sum over the owned spots.
    /// With `xT` (X in CSC, per 4096-row block) the gather form on the pool, else the scatter form;
    /// both give the same bits (float32 partials over the same 4096-row blocks, rows in order).
    static func backward(x: CSRMatrix, xT: TransposedBlocks?, yd: UnsafePointer<Float>, d: Int,
                         xt: UnsafeMutablePointer<Double>, scratch: inout [Float], pool: ThreadPool = .serial) {
        let d2 = 2 * d
        if let xT {
            xT.accumulate(yd, ldb: d2, width: d2, into: xt, ldc: d2, scratch: &scratch, pool: pool)
        } else {
            Sparse.spmmTransposedAccumulate(x, yd, ldb: d2, width: d2, into: xt, ldc: d2, scratch: &scratch)
        }
    }

    /// dw1 (G, d) = the ∂W1 columns of xt (G, 2d, float64), after the allreduce.
    static func gradient(xt: UnsafePointer<Double>, dw1: UnsafeMutablePointer<Float>, genes G: Int, d: Int,
                         pool: ThreadPool = .serial) {
        let d2 = 2 * d
        pool.forEachBlock(count: G) { genes in
            for g in genes {
                for a in 0..<d { dw1[g &* d &+ a] = Float(xt[g &* d2 &+ d &+ a]) }
            }
        }
    }
}
