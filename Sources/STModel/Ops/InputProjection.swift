import STCore

// N = spots owned, L = local rows (owned + ghosts), d = latent width, G = genes.
//
// The two sparse passes over X (the DESIGN §2 floor), each 2d wide:
//   forward   [U | X W2ᵀ] = X·[W1 | W2ᵀ]      (U feeds the encoder, X W2ᵀ the reconstruction ∂Y)
//   backward  [Cᵀ | ∂W1]  = Xᵀ·[Y | ∂U]        (C = YᵀX feeds ∂W2, ∂W1 is the encoder's gradient)
// W2 is known at the start of the epoch and C is only needed after the backward pass, so each pair
// shares one pass.

enum InputProjection {
    /// w12t (G, 2d) = [W1 | W2ᵀ]: a copy of the parameters' rows (`ParameterLayout.w12`, the same
    /// layout) into the model's 64-byte-aligned buffer, whose rows the passes over X load whole
    /// (a row of the caller's array would straddle cache lines: docs/PERFORMANCE.md, alignment).
    static func copyWeights(w12: UnsafePointer<Float>, w12t: UnsafeMutablePointer<Float>, genes G: Int, d: Int,
                            pool: ThreadPool = .serial) {
        let d2 = 2 * d
        pool.forEachBlock(count: G) { genes in
            (w12t + genes.lowerBound &* d2).update(from: w12 + genes.lowerBound &* d2, count: genes.count &* d2)
        }
    }

    /// out (N, width; ld) = X (N, G) · w12t[:, 0..<width] (G, 2d), X in column blocks (the same
    /// bits as `Sparse.spmm` on the plain X); `beside`: independent work overlapped with it.
    /// With `blocks` (X cut into gene blocks) the blocked product, `beside` one more task of its
    /// pool job; without, the plain `Sparse.spmm` after `beside`. The same bits either way.
    static func forward<Index: SparseIndex>(x: CompressedRows<Index>, blocks: ColumnBlocks<Index>?, w12t: UnsafePointer<Float>, d: Int, width: Int,
                        out: UnsafeMutablePointer<Float>, ld: Int, pool: ThreadPool = .serial,
                        beside: (() -> Void)? = nil) {
        if let blocks {
            blocks.multiply(w12t, ldb: 2 * d, width: width, into: out, ldc: ld, pool: pool, beside: beside)
        } else {
            beside?()
            Sparse.spmm(x, w12t, ldb: 2 * d, width: width, into: out, ldc: ld, pool: pool)
        }
    }

    /// xt (G, 2d, float64) = Xᵀ (G, N) · yd (N, 2d): a local partial sum over the owned spots
    /// (xt's old contents are not read). With `xT` (X in CSC, per 4096-row block) the gather form on
    /// the pool, else the scatter form; both give the same bits (float32 partials over the same
    /// 4096-row blocks, rows in order).
    ///
    /// `finish(task, genes)`: run once per range of `TransposedBlocks.defaultOutputBlock` genes
    /// (task = its index) as soon as the range's rows of xt are complete: by the gather's own tasks,
    /// while the rows are in their core's cache; after the scatter, on the pool.
    static func backward<Index: SparseIndex>(x: CompressedRows<Index>, xT: TransposedBlocks<Index>?, yd: UnsafePointer<Float>, d: Int,
                         xt: UnsafeMutablePointer<Double>, scratch: inout [Float], pool: ThreadPool = .serial,
                         finish: ((_ task: Int, _ genes: Range<Int>) -> Void)? = nil) {
        let d2 = 2 * d
        if let xT {
            precondition(xT.outputBlock == TransposedBlocks<Index>.defaultOutputBlock, "finish ranges are the default output blocks")
            xT.accumulate(yd, ldb: d2, width: d2, into: xt, ldc: d2, scratch: &scratch, overwrite: true, pool: pool,
                          finish: finish)
        } else {
            xt.update(repeating: 0, count: x.cols &* d2)
            Sparse.spmmTransposedAccumulate(x, yd, ldb: d2, width: d2, into: xt, ldc: d2, scratch: &scratch)
            if let finish {
                let ob = TransposedBlocks<Index>.defaultOutputBlock, G = x.cols
                pool.run(tasks: ThreadPool.blockCount(G, block: ob)) { t in
                    finish(t, (t &* ob)..<Swift.min(G, (t &+ 1) &* ob))
                }
            }
        }
    }
}

/// X (N, G) and, when built, its two layouts for speed (`TransposedBlocks`, `ColumnBlocks`), all in
/// X's index width: 16 bits when the genes fit (the transposed blocks' indices are spots within a
/// 4096-row block, so they fit too).
struct ProjectionInput<Index: SparseIndex> {
    var x: CompressedRows<Index>
    /// X in column (gene) blocks for X·[W1|W2ᵀ]; nil: the plain `Sparse.spmm`.
    var blocks: ColumnBlocks<Index>?
    /// X in CSC per 4096-row block for Xᵀ·[Y|∂U]; nil: the scatter form.
    var xT: TransposedBlocks<Index>?

    init(_ x: CompressedRows<Index>, fastLayouts: Bool, dim d: Int) {
        self.x = x
        xT = fastLayouts ? TransposedBlocks(x) : nil
        blocks = fastLayouts ? ColumnBlocks(x, block: ColumnBlockSize.columns(width: 2 * d)) : nil
    }

    func forward(w12t: UnsafePointer<Float>, d: Int, width: Int, out: UnsafeMutablePointer<Float>, ld: Int,
                 pool: ThreadPool, beside: (() -> Void)?) {
        InputProjection.forward(x: x, blocks: blocks, w12t: w12t, d: d, width: width, out: out, ld: ld,
                                pool: pool, beside: beside)
    }

    func backward(yd: UnsafePointer<Float>, d: Int, xt: UnsafeMutablePointer<Double>, scratch: inout [Float],
                  pool: ThreadPool, finish: ((Int, Range<Int>) -> Void)?) {
        InputProjection.backward(x: x, xT: xT, yd: yd, d: d, xt: xt, scratch: &scratch, pool: pool, finish: finish)
    }
}

/// The model's X in whichever index width it came in (`GeneMatrix`).
enum StoredX {
    case narrow(ProjectionInput<UInt16>)
    case wide(ProjectionInput<Int32>)

    init(_ x: GeneMatrix, fastLayouts: Bool, dim: Int) {
        switch x {
        case .narrow(let m): self = .narrow(ProjectionInput(m, fastLayouts: fastLayouts, dim: dim))
        case .wide(let m): self = .wide(ProjectionInput(m, fastLayouts: fastLayouts, dim: dim))
        }
    }

    var matrix: GeneMatrix {
        switch self { case .narrow(let p): return .narrow(p.x); case .wide(let p): return .wide(p.x) }
    }

    var hasFastLayouts: Bool {
        switch self { case .narrow(let p): return p.xT != nil; case .wide(let p): return p.xT != nil }
    }

    /// out (N, width; ld) = X · w12t[:, 0..<width] (`InputProjection.forward`).
    func forward(w12t: UnsafePointer<Float>, d: Int, width: Int, out: UnsafeMutablePointer<Float>, ld: Int,
                 pool: ThreadPool = .serial, beside: (() -> Void)? = nil) {
        switch self {
        case .narrow(let p): p.forward(w12t: w12t, d: d, width: width, out: out, ld: ld, pool: pool, beside: beside)
        case .wide(let p): p.forward(w12t: w12t, d: d, width: width, out: out, ld: ld, pool: pool, beside: beside)
        }
    }

    /// xt (G, 2d, float64) = Xᵀ · yd, `finish` per task (`InputProjection.backward`).
    func backward(yd: UnsafePointer<Float>, d: Int, xt: UnsafeMutablePointer<Double>, scratch: inout [Float],
                  pool: ThreadPool = .serial, finish: ((Int, Range<Int>) -> Void)? = nil) {
        switch self {
        case .narrow(let p): p.backward(yd: yd, d: d, xt: xt, scratch: &scratch, pool: pool, finish: finish)
        case .wide(let p): p.backward(yd: yd, d: d, xt: xt, scratch: &scratch, pool: pool, finish: finish)
        }
    }
}
