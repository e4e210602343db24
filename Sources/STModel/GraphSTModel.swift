import STCore
import STComm
import STPartition
import STExchange

// GraphST on one rank's partition: the orchestration of the ops in Ops/ and of the communication
// between them. Each op is a plain forward/backward pair over buffers and sizes (llm.c); the
// buffers are named views of one activation arena (Ops/Activations.swift); no op sees a
// communicator: halo exchanges, the corruption exchange and the allreduce sit between ops here, as
// HPCG's ExchangeHalo sits beside its kernels.
//
// N = spots owned, L = local rows (owned + ghosts), d = latent width (a multiple of 8), G = genes;
// N_slide = spots in the slide (every loss is normalised by it, never by a rank's own count).
//
//   U  = X W1            Z  = Â U          E  = relu(Z)
//   Ũ  = P U             Z̃  = Â Ũ          Ẽ  = relu(Z̃)            (corruption: P permutes rows)
//   g  = σ(rownorm(M E))         g̃ = σ(rownorm(M Ẽ))
//   s1 = B(E, g)  s2 = B(Ẽ, g)   s3 = B(Ẽ, g̃)  s4 = B(E, g̃)     B(h, c)_i = h_i·Wb·c_i + b
//   Y  = Â Z             H  = Y W2   (never formed)
//   L  = α‖H − X‖²/(N_slide·G) + β[(Σsp(−s1) + Σsp(s2)) + (Σsp(−s3) + Σsp(s4))]/(2 N_slide)
//
// op (Ops/…)                     forward                          backward
// InputProjection                [U | XW2ᵀ] = X·[W1 | W2ᵀ]        [Cᵀ | ∂W1] += Xᵀ·[Y | ∂U]
// GCNPropagate                   Z = Â U,  Y = Â Z                ∂U = Â ∂Z,  ∂Z += Â ∂Y  (Â symmetric)
// ReLU                           E = relu(Z)                      ∂Z (+)= ∂E ∘ 1[Z > 0]
// LocalReadout / GlobalReadout   g = σ(rownorm(M E)) / σ(mean E)  ∂E += Mᵀ ∂s / ∂(mean E)
// Bilinear                       logits s1..s4                    ∂E, ∂Wb, ∂b, ∂g
// ReadoutLogits                  LocalReadout + Bilinear fused, one pass over row blocks (same bits)
// BCEWithLogits                  Σ softplus and ∂logits, one pass
// ReconstructionLoss             K += YᵀY (Gram form)             ∂Y; per 256 genes: loss, ∂W2, ∂W1
// Adam                           one loop over the flat layout
//
// Communication per epoch: the corruption exchange of U, halo exchanges of [U|Ũ], [Z|Z̃], ∂Y,
// [∂Z|∂Z̃], the reverse halo of [∂E|∂Ẽ] (Mᵀ), the reverse corruption exchange, and one allreduce of
// a packed float64 buffer (loss sums, K, [Cᵀ | ∂W1], ∂Wb, ∂b, then the caller's extra slots); on
// 2…16 ranks instead the split epilogue (`splitsEpilogue`): an allreduce of all but [Cᵀ | ∂W1],
// an exchange of [Cᵀ | ∂W1] by gene ranges and one of the results. One rank runs the epilogue
// inside the pass over Xᵀ (`fusesEpilogue`). The global readout adds two allreduces of 2d values.

/// Hyper-parameters of the GraphST loss.
public struct LossWeights: Sendable, Equatable, Codable {
    /// Weight α of the reconstruction term (GraphST default 10).
    public var alpha: Double
    /// Weight β of the contrastive terms (GraphST default 1).
    public var beta: Double
    public init(alpha: Double = 10, beta: Double = 1) {
        self.alpha = alpha
        self.beta = beta
    }
}

/// Which summary vector the discriminator contrasts against.
public enum Readout: String, Sendable, Codable, CaseIterable {
    /// GraphST: each spot's own neighbourhood mean, g_i = σ(rownorm((M E)_i)).
    case local
    /// Classic DGI: one slide-wide summary g = σ(mean_i E_i), the same for every spot.
    case global
}

/// The loss terms of one epoch, computed before that epoch's update (global over all ranks).
public struct Losses: Sendable, Equatable, Codable {
    /// Total: α·feat + β·(sl1 + sl2).
    public var total: Double
    /// Mean squared reconstruction error over N·G.
    public var feat: Double
    /// BCE of (B(E,g), B(Ẽ,g)) against (1, 0), mean over 2N.
    public var sl1: Double
    /// BCE of (B(Ẽ,g̃), B(E,g̃)) against (1, 0), mean over 2N.
    public var sl2: Double
}

/// GraphST forward/backward over one rank's partition.
public final class GraphSTModel {
    public let layout: ParameterLayout
    public let weights: LossWeights
    public let readout: Readout
    public let graph: LocalGraph
    public let comm: Communicator
    /// This rank's rows of the preprocessed expression (N × G), 16-bit indices when G fits.
    public var x: GeneMatrix { stored.matrix }
    /// X and its layouts for speed (`fastLayouts`), in X's index width.
    var stored: StoredX

    let halo: HaloExchanger
    let corruption: CorruptionExchange
    /// N, L, d, G.
    let n: Int, nL: Int, d: Int, G: Int
    /// ‖X‖² over the whole slide (float64), constant.
    public let xNormSquared: Double

    /// Every float32 activation and activation gradient: named views of one allocation.
    let act: Activations
    /// Float64 scratch, one allocation: [W2 (d, G) | K W2 (d, G) | readout sums (2d)].
    let f64: UnsafeMutablePointer<Double>
    var w2d: UnsafeMutablePointer<Double> { f64 }
    var kw2: UnsafeMutablePointer<Double> { f64 + d * G }
    var readoutSums: UnsafeMutablePointer<Double> { f64 + 2 * d * G }
    /// The packed allreduce buffer (`PackedSums`), sized for the last call's extra slots.
    var packed: UnsafeMutableBufferPointer<Double>
    let packedLayout: PackedSums

    /// Rank counts up to which the epilogue is split by genes (`splitsEpilogue`). Each rank then
    /// exchanges a block with every other rank twice per epoch (2(p − 1) messages, where an
    /// allreduce takes 2·log2(p)), and does 1/p of the epilogue instead of all of it: on 2 ranks
    /// of DLPFC the allreduce and epilogue took 1.3 ms less (docs/PERFORMANCE.md). Past 16 ranks
    /// the messages' latency grows linearly while the epilogue saved is at most its whole
    /// (~1 ms at G = 3000, d = 64), so larger jobs keep the packed allreduce and the replicated
    /// epilogue (and the scaling projection, for 64 ranks and more, models that).
    public static let splitEpilogueMaxRanks = 16
    /// Whether the epilogue is split by genes: 2…`splitEpilogueMaxRanks` ranks. Then [Cᵀ | ∂W1]
    /// is reduce-scattered by genes (`comm.exchange`, each rank summing its genes' rows over the
    /// ranks in rank order, so the bits do not depend on MPI's collective algorithms), each rank
    /// computes K·W2, the trace partial sums, ∂W2 and ∂W1 for its genes, and the ranks' blocks are
    /// all-gathered (float32 gradients, float64 partial sums added in rank order on every rank).
    /// The same gradient on every rank either way. Settable for tests (false: the replicated form).
    public var splitsEpilogue: Bool
    /// Whether W2W2ᵀ is computed by parts: on 2…`splitEpilogueMaxRanks` ranks each rank forms the
    /// part of its epilogue genes (1/p of the d²·G sgemm, which every rank otherwise repeats) and
    /// the parts are exchanged and summed in rank order (one exchange of d² floats per pair). The
    /// sum differs from the single sgemm's in the last bits; independent of `splitsEpilogue`, so
    /// that the two forms of the epilogue can be compared bit for bit. Settable for tests.
    public var splitsGram: Bool
    var gramPartials: UnsafeMutableBufferPointer<Float>
    /// Whether, on one rank, the epilogue runs inside the pass over Xᵀ, each task on its own genes
    /// (`ReconstructionLoss.reduceRange` on the same `geneBlock` ranges as the separate pass: the same
    /// bits either way). Settable for tests.
    public var fusesEpilogue: Bool
    /// The fused epilogue's trace partial sums, two per task of the pass over Xᵀ.
    var fusedPartials: [Double] = []
    /// The split epilogue's fixed layout (made on first use: it depends only on G, d and the
    /// ranks) and its buffers: the rows of [Cᵀ | ∂W1] of this rank's genes from every rank; this
    /// rank's block of results; every rank's block.
    var splitPlan: SplitEpiloguePlan?
    var splitReceive: [Double] = []
    /// Whether the reduce-scatter of [Cᵀ | ∂W1] sends float32: when every rank's X is one block of
    /// the transposed product's float32 partials (≤ 4096 rows), a rank's partial sums are float32
    /// values widened, so sending them as float32 loses nothing and halves the bytes (the
    /// receiver widens them back as it sums: the same bits). Otherwise float64. Settable for tests
    /// (false always works; true only under the condition above).
    public var splitSendsFloat32: Bool {
        didSet { if splitSendsFloat32 != oldValue { splitPlan = nil } }      // its buffers follow
    }
    var splitSend32: [Float] = [], splitReceive32: [Float] = []
    /// Scratch the BLAS and sparse reductions grow as they need.
    var scratch32: [Float] = []
    var scratchT: [Float] = []

    /// Threads within the rank (`ThreadPool`): every op runs on it over fixed blocks, so the
    /// numbers do not depend on its size. OpenBLAS is held at one thread during each epoch (our
    /// threads make the sgemm calls, one row block each).
    public var pool: ThreadPool = .serial
    // `stored` holds, with `fastLayouts`, X in CSC per 4096-row block, built once (X is fixed for
    // the run): Xᵀ·[Y|∂U] as a gather, row-parallel and bitwise equal to the scatter form; faster
    // than the scatter inside an epoch on DLPFC even on one thread (1.2–1.7×, docs/PERFORMANCE.md);
    // and X cut into column (gene) blocks: X·[W1|W2ᵀ] with the active rows of [W1|W2ᵀ] in L2,
    // bitwise equal to the plain product. Each costs nnz(X) × (4 + index bytes) more.

    /// Bytes of the activation arena for `n` owned rows, `nLocal` local rows, width d, G genes.
    public static func arenaBytes(n: Int, nLocal: Int, d: Int, genes: Int) -> Int {
        Activations.bytes(n: n, nLocal: nLocal, d: d, genes: genes)
    }

    /// Whether this model holds the two extra layouts of X (transposed and column-blocked).
    public var hasFastLayouts: Bool { stored.hasFastLayouts }
    /// Mᵀ (L × N, CSR), built once: the readout backward's Mᵀ·[∂s|∂s̃] as a row-parallel gather.
    let maskT: CSRMatrix

    /// Per-phase wall-clock timer for benchmarks (`stgnn-bench`); nil (the default) costs nothing.
    public var timer: PhaseTimer?

    /// Communication accounting (halo, corruption, allreduce: `CommStats`); nil (the default)
    /// records nothing. Shared with the model's HaloExchanger and CorruptionExchange.
    public var commStats: CommStats? {
        didSet { halo.stats = commStats; corruption.stats = commStats }
    }

    /// - Parameters:
    ///   - x: this rank's rows of X (N × G), rows in the graph's owned order.
    ///   - graph: this rank's share of Â and M.
    ///   - dim: the latent width d, a positive multiple of 8 (the per-spot loops are SIMD8).
    ///   - fastLayouts: build the transposed and column-blocked copies of X (6 or 8 bytes per entry
    ///     each, with X's index width, plus row pointers) for the gather form of Xᵀ·[Y|∂U] and the
    ///     column-blocked X·[W1|W2ᵀ]; without them the plain kernels run, with
    ///     the same bits (both layouts are tested bitwise equal to them).
    public convenience init(x: CSRMatrix, graph: LocalGraph, dim: Int, weights: LossWeights = .init(),
                            readout: Readout = .local, fastLayouts: Bool = true, comm: Communicator) {
        self.init(x: GeneMatrix(x), graph: graph, dim: dim, weights: weights, readout: readout,
                  fastLayouts: fastLayouts, comm: comm)
    }

    /// The same with X in either index width.
    public init(x: GeneMatrix, graph: LocalGraph, dim: Int, weights: LossWeights = .init(),
                readout: Readout = .local, fastLayouts: Bool = true, comm: Communicator) {
        precondition(x.rows == graph.nOwned, "X has \(x.rows) rows but the rank owns \(graph.nOwned) spots")
        precondition(dim > 0 && dim % 8 == 0, "the latent width d = \(dim) must be a positive multiple of 8")
        self.graph = graph
        self.comm = comm
        self.weights = weights
        self.readout = readout
        layout = ParameterLayout(genes: x.cols, dim: dim)
        n = graph.nOwned; nL = graph.nLocal; d = dim; G = x.cols
        halo = HaloExchanger(plan: graph.halo, comm: comm)
        corruption = CorruptionExchange(graph: graph, comm: comm)
        var sq = 0.0
        x.values.withUnsafeBufferPointer { for v in $0 { sq += Double(v) * Double(v) } }
        xNormSquared = comm.sum(sq)
        act = Activations(n: n, nLocal: nL, d: dim, genes: x.cols)
        stored = StoredX(x, fastLayouts: fastLayouts, dim: dim)
        maskT = graph.mask.transposed()
        let f64Count = 2 * dim * x.cols + 2 * dim
        f64 = .allocate(capacity: f64Count)
        f64.initialize(repeating: 0, count: f64Count)
        packedLayout = PackedSums(d: dim, G: x.cols)
        packed = .allocate(capacity: packedLayout.count(extra: 0))
        packed.initialize(repeating: 0)
        splitsEpilogue = comm.size > 1 && comm.size <= Self.splitEpilogueMaxRanks
        splitsGram = splitsEpilogue
        gramPartials = .allocate(capacity: 0)
        fusesEpilogue = comm.size == 1
        splitSendsFloat32 = comm.size > 1 && comm.max(Double(graph.nOwned)) <= Double(Sparse.partialRows)
        // The fused epilogue's ranges are the pass over Xᵀ's tasks.
        precondition(TransposedBlocks<Int32>.defaultOutputBlock == ReconstructionLoss.geneBlock, "epilogue ranges ≠ Xᵀ tasks")
    }

    deinit {
        if !released { act.deallocate() }
        f64.deallocate()
        packed.deallocate()
        gramPartials.deallocate()
    }

    /// True once `releaseTrainingMemory` ran.
    public private(set) var released = false

    /// Frees X, its transposed copy and the activation arena (on a big slide most of the rank's
    /// memory) once the embedding is out: the domain step needs none of them, and its own arrays
    /// then reuse the memory instead of raising the peak. The model cannot compute afterwards.
    public func releaseTrainingMemory() {
        guard !released else { return }
        released = true
        act.deallocate()
        stored = StoredX(GeneMatrix(emptyRows: 0, cols: G), fastLayouts: false, dim: d)
        scratch32 = []; scratchT = []
    }

    /// Number of spots in the whole slide.
    public var globalCount: Int { graph.globalCount }

    /// Loss and gradient at `params` with the corruption permutation `perm` (of the N_slide spots;
    /// row i of the corrupted features is row π(i)). `grad` receives ∂L/∂params (same layout),
    /// identical on every rank.
    ///
    /// `extra`: the caller's values to be summed over ranks, carried in the epoch's one allreduce
    /// instead of a collective of their own (the training loop's stop votes); on return they hold
    /// the sums, identical on every rank. Every rank must pass the same count.
    public func lossAndGradient(params: [Float], perm: RowPermutation, grad: inout [Float], extra: inout [Double]) -> Losses {
        precondition(params.count == layout.count)
        return params.withUnsafeBufferPointer { lossAndGradient(params: $0.baseAddress!, perm: perm, grad: &grad, extra: &extra) }
    }

    /// The same with the `layout.count` parameters at `params`. When [W1 | W2ᵀ] (the layout's
    /// first block) starts on a cache line, as in the trainer's `AlignedFloats`, the forward
    /// product reads it where it is; otherwise from an aligned copy.
    public func lossAndGradient(params: UnsafePointer<Float>, perm: RowPermutation, grad: inout [Float],
                                extra: inout [Double]) -> Losses {
        precondition(!released, "GraphSTModel: used after releaseTrainingMemory()")
        precondition(perm.count == globalCount)
        if grad.count != layout.count { grad = [Float](repeating: 0, count: layout.count) }
        timer?.start()
        corruption.setPermutation(perm, pool: pool)
        timer?.lap("corruption plan (π, π⁻¹ of the rank's rows)")
        // Our threads make the BLAS calls (one row block each): OpenBLAS on one thread during
        // the epoch, whatever the pool, so that its own threading never enters the numbers.
        let blasThreads = BLAS.threads
        if blasThreads > 1 { BLAS.setThreads(1) }
        defer { if blasThreads > 1 { BLAS.setThreads(blasThreads) } }
        return grad.withUnsafeMutableBufferPointer { g in
            extra.withUnsafeMutableBufferPointer { ex in
                forward(params)
                return backward(params, grad: g.baseAddress!, extra: ex)
            }
        }
    }

    /// `lossAndGradient(params:perm:grad:extra:)` with no extra slots.
    public func lossAndGradient(params: [Float], perm: RowPermutation, grad: inout [Float]) -> Losses {
        var none = [Double]()
        return lossAndGradient(params: params, perm: perm, grad: &grad, extra: &none)
    }

    /// The same with the permutation given whole (perm[i] = π(i); fixtures and tests).
    public func lossAndGradient(params: [Float], perm: [Int32], grad: inout [Float]) -> Losses {
        lossAndGradient(params: params, perm: RowPermutation(perm), grad: &grad)
    }

    // MARK: forward

    /// Forward pass up to the logits and Y; fills the activations.
    func forward(_ p: UnsafePointer<Float>) {
        let d = self.d, d2 = 2 * d, n = self.n, nL = self.nL, G = self.G, L = layout, a = act, pool = self.pool
        // [W1 | W2ᵀ], the right-hand side of X·[W1 | W2ᵀ], read where it is when its rows start on
        // cache lines (the trainer's parameters); otherwise copied to an aligned buffer first (rows
        // straddling two lines made X·B 0.11 ms slower than the copy, docs/PERFORMANCE.md).
        let w12 = p + L.w12.lowerBound, w12t: UnsafePointer<Float>
        if Self.isCacheLineAligned(w12) {
            w12t = w12
        } else {
            InputProjection.copyWeights(w12: w12, w12t: a.w12t.p, genes: G, d: d, pool: pool)
            w12t = UnsafePointer(a.w12t.p)
        }
        timer?.lap("weights: [W1|W2ᵀ]")
        // W2W2ᵀ (one serial sgemm, needed only by ∂Y) as one more task beside the X pass's row blocks:
        // the whole of it, or (`splitsGram`) the part of this rank's genes, the parts then summed.
        let w2w2t = a.w2w2t.p
        let gram = splitsGram && comm.size > 1 ? gramParts() : nil
        let mineGenes = gram == nil ? 0..<G : epiloguePlan().genes[comm.rank]
        let gramOut = gram.map { $0 + comm.rank &* d &* d } ?? w2w2t
        stored.forward(w12t: w12t, d: d, width: d2, out: a.xw.p, ld: d2, pool: pool) {
            ReconstructionLoss.prepare(w12: w12t + mineGenes.lowerBound &* d2, w2w2t: gramOut, d: d, genes: mineGenes.count)
        }
        if let gram { sumGramParts(gram, into: w2w2t) }
        timer?.lap("X·[W1|W2ᵀ] (spmm X, 2d), W2W2ᵀ beside")
        // [U | Ũ]: U from the first pass, Ũ = P U by the corruption exchange; ghost rows by halo.
        pool.forEachBlock(count: n) { rows in for i in rows { a.u.row(i).update(from: a.xw.row(i), count: d) } }
        // Its send and receive buffers in z, dead until Â·[U|Ũ] writes it (Activations.swift).
        corruption.forward(a.xw.p, ldu: d2, into: a.u.p + d, ldut: d2, width: d, scratch: a.z.buffer, pool: pool)
        halo.exchange(a.u.p, width: d2)
        timer?.lap("corruption + halo [U|Ũ]")
        GCNPropagate.forward(adj: graph.adj, input: a.u.p, ldi: d2, width: d2, out: a.z.p, ldo: d2, pool: pool)
        timer?.lap("Â·[U|Ũ] (spmm Â, 2d)")
        halo.exchange(a.z.p, width: d2)
        ReLU.forward(z: a.z.p, e: a.e.p, count: nL * d2, pool: pool)
        timer?.lap("halo [Z|Z̃], relu")
        switch readout {
        case .local:
            ReadoutLogits.forward(mask: graph.mask, e: a.e.p, wb: p + L.wb.lowerBound, bias: p[L.bias.lowerBound],
                                  s: a.s.p, g: a.g.p, norms: a.norms.p, wc: a.wc.p, logits: a.logits.p,
                                  n: n, d: d, pool: pool)
            timer?.lap("readout + logits (M·[E|Ẽ], rownorm, σ, Wb; fused)")
        case .global:
            let sums = readoutSums
            sums.update(repeating: 0, count: d2)
            GlobalReadout.partialSums(e: a.e.p, n: n, d: d, sums: sums)
            let t0 = commStats?.start()
            comm.allreduceSum(UnsafeMutableBufferPointer(start: sums, count: d2))
            if let t0 { commStats!.record(.allreduce, since: t0, bytes: comm.size > 1 ? d2 * 8 : 0, messages: comm.size > 1 ? 1 : 0) }
            GlobalReadout.forward(sums: sums, invN: 1 / Double(globalCount), g: a.g.p, n: n, d: d)
            timer?.lap("readout (mean E, σ)")
            Bilinear.forward(e: a.e.p, c: a.g.p, wb: p + L.wb.lowerBound, bias: p[L.bias.lowerBound],
                             wc: a.wc.p, logits: a.logits.p, n: n, d: d, pool: pool)
            timer?.lap("discriminator logits")
        }
        GCNPropagate.forward(adj: graph.adj, input: a.z.p, ldi: d2, width: d, out: a.yd.p, ldo: d2, pool: pool)
        timer?.lap("Â·Z (spmm Â, d)")
    }

    // MARK: backward

    /// Backward pass, the allreduce and the replicated epilogue: fills `grad` and `extra`.
    func backward(_ p: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>,
                  extra: UnsafeMutableBufferPointer<Double>) -> Losses {
        let d = self.d, d2 = 2 * d, n = self.n, nL = self.nL, G = self.G, L = layout, a = act, pool = self.pool
        let nSlide = Double(globalCount), pk = packedLayout
        let sums = packedBuffer(extra: extra.count)
        let cRec = Float(2 * weights.alpha / (nSlide * Double(G)))   // ∂(α·feat)/∂H = cRec·(H − X)
        let w = Float(weights.beta / (2 * nSlide))                    // ∂(β·BCE mean)/∂logit = w·(σ(s) − y)
        let wb = p + L.wb.lowerBound

        BCEWithLogits.forwardBackward(logits: a.logits.p, weight: w, n: n, sums: sums + pk.losses, dlogits: a.dlogits.p,
                                      pool: pool)
        timer?.lap("BCE losses")
        ReconstructionLoss.forward(y: a.yd.p, ld: d2, n: n, d: d, k: sums + pk.k, scratch: &scratch32, pool: pool)
        timer?.lap("K = YᵀY")
        ReconstructionLoss.backward(y: a.yd.p, xw2t: a.xw.p + d, ld: d2, w2w2t: a.w2w2t.p, scale: cRec,
                                    dy: a.dy.p, n: n, d: d, pool: pool)
        halo.exchange(a.dy.p, width: d)
        timer?.lap("∂Y, halo")
        // ∂Z, reconstruction part: Â ∂Y into the ∂Z half of [∂Z | ∂Z̃].
        GCNPropagate.backward(adj: graph.adj, dOut: a.dy.p, ldo: d, width: d, dInput: a.dz.p, ldi: d2, pool: pool)
        timer?.lap("Â·∂Y (spmm Â, d)")
        Bilinear.backward(e: a.e.p, c: a.g.p, wc: a.wc.p, dlogits: a.dlogits.p, de: a.de.p, pq: a.pq.p,
                          dwb: sums + pk.wb, db: sums + pk.b, n: n, d: d, scratch: &scratch32, pool: pool)
        timer?.lap("discriminator backward, ∂Wb")
        switch readout {
        case .local:
            Bilinear.backwardSummary(e: a.e.p, dlogits: a.dlogits.p, wb: wb, pq: a.pq.p, dc: a.ds.p, n: n, d: d,
                                     pool: pool)
            LocalReadout.backward(mask: graph.mask, maskT: maskT, s: a.s.p, g: a.g.p, norms: a.norms.p, ds: a.ds.p, de: a.de.p,
                                  n: n, nLocal: nL, d: d, pool: pool)
            halo.reverseAdd(a.de.p, width: d2)
        case .global:
            let dm = readoutSums
            dm.update(repeating: 0, count: d2)
            Bilinear.backwardSummarySum(e: a.e.p, dlogits: a.dlogits.p, wb: wb, dcSum: dm, n: n, d: d)
            let t0 = commStats?.start()
            comm.allreduceSum(UnsafeMutableBufferPointer(start: dm, count: d2))
            if let t0 { commStats!.record(.allreduce, since: t0, bytes: comm.size > 1 ? d2 * 8 : 0, messages: comm.size > 1 ? 1 : 0) }
            GlobalReadout.backward(g: a.g.p, dg: dm, invN: 1 / nSlide, de: a.de.p, n: n, d: d)
        }
        timer?.lap("readout backward, Mᵀ·[∂s|∂s̃], reverse halo")
        ReLU.backward(e: a.e.p, de: a.de.p, dz: a.dz.p, n: n, d: d, pool: pool)
        halo.exchange(a.dz.p, width: d2)
        timer?.lap("relu backward, halo [∂Z|∂Z̃]")
        GCNPropagate.backward(adj: graph.adj, dOut: a.dz.p, ldo: d2, width: d2, dInput: a.du.p, ldi: d2, pool: pool)
        timer?.lap("Â·[∂Z|∂Z̃] (spmm Â, 2d)")
        // ∂U = Â∂Z + Pᵀ(Â∂Z̃), into the ∂U half of [Y | ∂U].
        pool.forEachBlock(count: n) { rows in for i in rows { (a.yd.row(i) + d).update(from: a.du.row(i), count: d) } }
        // Its buffers in z again: [∂Z|∂Z̃] (in z) was last read by the Â product above.
        corruption.backwardAdd(a.du.p + d, lddut: d2, into: a.yd.p + d, lddu: d2, width: d, scratch: a.z.buffer,
                               pool: pool)
        timer?.lap("reverse corruption")
        let xt = sums + pk.xt(extra: extra.count)
        // One rank: nothing to sum over ranks, so each task of the pass over Xᵀ finishes the
        // epilogue of its genes (K·W2, the trace partial sums, ∂W2's columns, ∂W1's rows) while
        // their rows of [Cᵀ | ∂W1] are still in its core's cache, instead of a pass over all of xt
        // (3 MB of float64 at G = 3000) after it (`fusedEpilogue`).
        let fused = fusesEpilogue
        let split = splitsEpilogue && comm.size > 1
        if fused {
            let tasks = ThreadPool.blockCount(G, block: ReconstructionLoss.geneBlock)
            if fusedPartials.count < 2 * tasks { fusedPartials = [Double](repeating: 0, count: 2 * tasks) }
            let k = UnsafePointer(sums + pk.k), w12 = p + L.w12.lowerBound, w2d = self.w2d, kw2 = self.kw2
            let dw12 = grad + L.w12.lowerBound, ct = UnsafePointer(xt)
            fusedPartials.withUnsafeMutableBufferPointer { pb in
                let part = pb.baseAddress!
                stored.backward(yd: a.yd.p, d: d, xt: xt, scratch: &scratchT, pool: pool) { t, genes in
                    withUnsafePointer(to: ReconstructionLoss.Source.float64(ct)) { src in
                        let (wkw, wc) = ReconstructionLoss.reduceRange(genes, k: k, ct: src, sources: 1, ldct: d2, w12: w12,
                                                                       scale: cRec, first: 0, dw12: dw12,
                                                                       w2d: w2d, kw2: kw2, d: d)
                        part[2 &* t] = wkw; part[2 &* t &+ 1] = wc
                    }
                }
            }
            timer?.lap("Xᵀ·[Y|∂U] (spmmᵀ X, 2d), epilogue per gene block")
        } else if split && splitSendsFloat32 {
            // The rows of the other ranks' genes go out as the float32 partials they are: narrowed
            // by the task that made them, while they are in its cache (`exchangeGeneRows`).
            let mine = epiloguePlan().genes[comm.rank], ct = UnsafePointer(xt)
            splitSend32.withUnsafeMutableBufferPointer { sb in
                let out = sb.baseAddress!
                stored.backward(yd: a.yd.p, d: d, xt: xt, scratch: &scratchT, pool: pool) { _, genes in
                    for g in genes where !mine.contains(g) {
                        let row = g &* d2
                        for e in 0..<d2 { out[row &+ e] = Float(ct[row &+ e]) }
                    }
                }
            }
            timer?.lap("Xᵀ·[Y|∂U] (spmmᵀ X, 2d)")
        } else {
            stored.backward(yd: a.yd.p, d: d, xt: xt, scratch: &scratchT, pool: pool)
            timer?.lap("Xᵀ·[Y|∂U] (spmmᵀ X, 2d)")
        }

        // Everything summed over spots, and the caller's extra slots: one allreduce, or (split
        // epilogue) an allreduce of the small part and a reduce-scatter of [Cᵀ | ∂W1] by genes.
        if extra.count > 0 { (sums + pk.extra).update(from: extra.baseAddress!, count: extra.count) }
        let t0 = commStats?.start()
        if split {
            comm.allreduceSum(UnsafeMutableBufferPointer(start: sums, count: pk.xt(extra: extra.count)))
            timer?.lap("allreduce")
            exchangeGeneRows(xt)
        } else {
            comm.allreduceSum(packed)
        }
        if let t0 {
            // The split form: the small allreduce, then (p − 1) blocks of [Cᵀ | ∂W1] sent.
            let rowBytes = splitSendsFloat32 ? 4 : 8
            let p = comm.size, bytes = p == 1 ? 0 : split ? pk.xt(extra: extra.count) * 8 + (G - epiloguePlan().genes[comm.rank].count) * d2 * rowBytes : packed.count * 8
            commStats!.record(.allreduce, since: t0, bytes: bytes, messages: p == 1 ? 0 : split ? p : 1)
        }
        if extra.count > 0 { extra.baseAddress!.update(from: sums + pk.extra, count: extra.count) }
        timer?.lap(split ? "reduce-scatter of [Cᵀ | ∂W1] by genes" : "allreduce")

        // Epilogue: losses, ∂W2 = cRec·(K W2 − C), and the flat gradient.
        let sl1 = (sums[0] + sums[1]) / (2 * nSlide), sl2 = (sums[2] + sums[3]) / (2 * nSlide)
        let sse: Double
        if fused {
            // The tasks' partial sums in task (gene) order: the same bits for any pool.
            var wkw = 0.0, wc = 0.0
            for t in 0..<ThreadPool.blockCount(G, block: ReconstructionLoss.geneBlock) {
                wkw += fusedPartials[2 &* t]; wc += fusedPartials[2 &* t &+ 1]
            }
            sse = wkw - 2 * wc + xNormSquared
        } else if split {
            sse = splitEpilogue(k: sums + pk.k, xt: xt, w12: p + L.w12.lowerBound, scale: cRec,
                                dw12: grad + L.w12.lowerBound)
        } else {
            sse = ReconstructionLoss.reduce(k: sums + pk.k, ct: xt, ldct: d2, w12: p + L.w12.lowerBound,
                                            xNormSquared: xNormSquared, scale: cRec, dw12: grad + L.w12.lowerBound,
                                            w2d: w2d, kw2: kw2, d: d, genes: G, pool: pool)
        }
        for i in 0..<(d &* d) { grad[L.wb.lowerBound &+ i] = Float(sums[pk.wb &+ i]) }
        grad[L.bias.lowerBound] = Float(sums[pk.b])
        timer?.lap(fused ? "gradient: ∂Wb, ∂b, loss (∂W1, ∂W2 in the pass over Xᵀ)"
                   : split ? "gradient: ∂Wb, ∂b, loss" : "epilogue: ∂W2 = KW2 − C, gradient")
        let feat = sse / (nSlide * Double(G))
        return Losses(total: weights.alpha * feat + weights.beta * (sl1 + sl2), feat: feat, sl1: sl1, sl2: sl2)
    }

    /// Whether `p` is on a 64-byte boundary (with 2d a multiple of 16 floats, so is every row of
    /// [W1 | W2ᵀ] after it).
    static func isCacheLineAligned(_ p: UnsafePointer<Float>) -> Bool { UInt(bitPattern: p) % 64 == 0 }

    /// This rank's genes in the split epilogue and in W2W2ᵀ by parts (`splitsEpilogue`,
    /// `splitsGram`): the range of G it forms those products for when they are split (the whole
    /// of G on one rank).
    public var ownGenes: Range<Int> { comm.size > 1 ? epiloguePlan().genes[comm.rank] : 0..<G }

    /// The split epilogue's layout, made once.
    func epiloguePlan() -> SplitEpiloguePlan {
        if let plan = splitPlan { return plan }
        let plan = SplitEpiloguePlan(genes: G, d: d, ranks: comm.size, rank: comm.rank)
        splitPlan = plan
        if splitSendsFloat32 {
            splitSend32 = [Float](repeating: 0, count: G * 2 * d)
            splitReceive32 = [Float](repeating: 0, count: plan.reduceRecvCounts.reduce(0, +))
        } else {
            splitReceive = [Double](repeating: 0, count: plan.reduceRecvCounts.reduce(0, +))
        }
        return plan
    }

    /// The reduce-scatter's exchange of xt (G × 2d float64, every rank's partial sums; or its rows
    /// of the other ranks' genes as float32 in `splitSend32`, `splitSendsFloat32`) by the plan's
    /// gene ranges: afterwards `splitReceive` holds the other ranks' partials of this rank's genes
    /// (in rank order, this rank's own left where they are in xt); `splitEpilogue` adds them as it
    /// reads them.
    func exchangeGeneRows(_ xt: UnsafeMutablePointer<Double>) {
        let plan = epiloguePlan(), w = 2 * d
        if splitSendsFloat32 {
            // The other ranks' genes' rows, narrowed into splitSend32 by the pass over Xᵀ.
            splitSend32.withUnsafeBufferPointer { sb in
                splitReceive32.withUnsafeMutableBufferPointer { r in
                    comm.exchange(send: UnsafeRawBufferPointer(sb), sendCounts: plan.reduceSendCounts,
                                  sendOffsets: plan.reduceSendOffsets, receive: UnsafeMutableRawBufferPointer(r),
                                  recvCounts: plan.reduceRecvCounts, recvOffsets: plan.reduceRecvOffsets, elementSize: 4)
                }
            }
            return
        }
        splitReceive.withUnsafeMutableBufferPointer { r in
            comm.exchange(send: UnsafeRawBufferPointer(start: xt, count: G &* w &* 8), sendCounts: plan.reduceSendCounts,
                          sendOffsets: plan.reduceSendOffsets, receive: UnsafeMutableRawBufferPointer(r),
                          recvCounts: plan.reduceRecvCounts, recvOffsets: plan.reduceRecvOffsets, elementSize: 8)
        }
    }

    /// The split epilogue after `exchangeGeneRows`: this rank's genes' K·W2, trace partial sums and
    /// gradient rows [∂W1 | ∂W2ᵀ] (written in place in dw12: a range of genes is one block of the
    /// gradient, `ParameterLayout`); then every rank's rows to every rank (`comm.exchange`, straight
    /// into dw12) and the partial sums (added in rank order on every rank). Returns ‖YW2 − X‖²
    /// (the same on every rank).
    func splitEpilogue(k: UnsafePointer<Double>, xt: UnsafePointer<Double>, w12: UnsafePointer<Float>, scale: Float,
                       dw12: UnsafeMutablePointer<Float>) -> Double {
        let plan = epiloguePlan(), p = comm.size, me = comm.rank, d = self.d, d2 = 2 * d
        let mine = plan.genes[me]
        let w2d = self.w2d, kw2 = self.kw2, pool = self.pool
        // [Cᵀ | ∂W1]'s rows of this rank's genes: every rank's partials, this rank's in xt, the
        // others' as received, summed in rank order as the epilogue reads them.
        let (wkw, wc) = splitReceive.withUnsafeBufferPointer { r in splitReceive32.withUnsafeBufferPointer { r32 in
        withUnsafeTemporaryAllocation(of: ReconstructionLoss.Source.self, capacity: p) { sources in
            for q in 0..<p {
                if q == me {
                    sources[q] = .float64(xt + mine.lowerBound &* d2)
                } else if splitSendsFloat32 {
                    // nil only when this rank has no genes (G < ranks): then never read
                    sources[q] = r32.baseAddress.map { .float32($0 + plan.reduceRecvOffsets[q]) } ?? .float64(xt)
                } else {
                    sources[q] = .float64((r.baseAddress ?? xt) + plan.reduceRecvOffsets[q])
                }
            }
            return ReconstructionLoss.reducePart(k: k, ct: sources.baseAddress!, sources: p, ldct: d2, w12: w12,
                                                 scale: scale, genes: mine, dw12: dw12, w2d: w2d, kw2: kw2, d: d, pool: pool)
        } } }
        timer?.lap("epilogue: K·W2, ∂W2, ∂W1 of this rank's genes")
        let t0 = commStats?.start()
        // The rows: this rank's block of dw12 out, the others' blocks in, in place.
        let rows = UnsafeMutableRawBufferPointer(start: dw12, count: G &* d2 &* 4)
        comm.exchange(send: UnsafeRawBufferPointer(rows), sendCounts: plan.gatherSendCounts,
                      sendOffsets: plan.gatherSendOffsets, receive: rows,
                      recvCounts: plan.gatherRecvCounts, recvOffsets: plan.rowOffsets, elementSize: 4)
        // The trace partial sums, two per rank, added in rank order.
        let sums = withUnsafeTemporaryAllocation(of: Double.self, capacity: 2 &* p + 2) { buf -> (Double, Double) in
            let out = buf.baseAddress!, inb = out + 2
            out[0] = wkw; out[1] = wc
            inb[2 &* me] = wkw; inb[2 &* me &+ 1] = wc
            comm.exchange(send: UnsafeRawBufferPointer(start: out, count: 16), sendCounts: plan.pairSendCounts,
                          sendOffsets: plan.pairSendOffsets,
                          receive: UnsafeMutableRawBufferPointer(start: inb, count: 16 &* p),
                          recvCounts: plan.pairRecvCounts, recvOffsets: plan.pairOffsets, elementSize: 8)
            var a = 0.0, b = 0.0
            for q in 0..<p { a += inb[2 &* q]; b += inb[2 &* q &+ 1] }
            return (a, b)
        }
        if let t0 { commStats!.record(.allreduce, since: t0, bytes: plan.gatherSendCounts.reduce(0, +) * 4 + 16 * (p - 1),
                                      messages: 2 * (p - 1)) }
        timer?.lap("all-gather of the ranks' epilogue blocks")
        return sums.0 - 2 * sums.1 + xNormSquared
    }

    /// The buffer of the ranks' parts of W2W2ᵀ (p × d² floats), made on first use.
    func gramParts() -> UnsafeMutablePointer<Float> {
        let count = comm.size * d * d
        if gramPartials.count != count {
            gramPartials.deallocate()
            gramPartials = .allocate(capacity: count)
            gramPartials.initialize(repeating: 0)
        }
        return gramPartials.baseAddress!
    }

    /// W2W2ᵀ from the ranks' parts (`splitsGram`): this rank's, W2[:, genes]·W2[:, genes]ᵀ over its
    /// epilogue genes, is at parts + rank·d²; every rank's part to every rank (`comm.exchange`, d²
    /// floats each), then their sum in rank order into w2w2t: the same bits on every rank.
    func sumGramParts(_ parts: UnsafeMutablePointer<Float>, into w2w2t: UnsafeMutablePointer<Float>) {
        let plan = epiloguePlan(), p = comm.size, dd = d &* d
        let t0 = commStats?.start()
        let all = UnsafeMutableRawBufferPointer(start: parts, count: p &* dd &* 4)
        comm.exchange(send: UnsafeRawBufferPointer(all), sendCounts: plan.gramCounts, sendOffsets: plan.gramSendOffsets,
                      receive: all, recvCounts: plan.gramCounts, recvOffsets: plan.gramRecvOffsets, elementSize: 4)
        if let t0 { commStats!.record(.allreduce, since: t0, bytes: dd * 4 * (p - 1), messages: p - 1) }
        w2w2t.update(from: parts, count: dd)
        for q in 1..<p {
            let part = parts + q &* dd
            for i in 0..<dd { w2w2t[i] += part[i] }
        }
    }

    /// The packed buffer for `extra` caller slots, zeroed up to [Cᵀ | ∂W1] (which the pass over Xᵀ
    /// overwrites whole); reallocated when the count changes.
    func packedBuffer(extra: Int) -> UnsafeMutablePointer<Double> {
        let count = packedLayout.count(extra: extra)
        if packed.count != count {
            packed.deallocate()
            packed = .allocate(capacity: count)
            packed.initialize(repeating: 0)
        }
        packed.baseAddress!.update(repeating: 0, count: packedLayout.xt(extra: extra))
        return packed.baseAddress!
    }

    // MARK: outputs

    /// Z = Â X W1 (the hidden embedding GraphST returns) for the owned rows, (N × d) row-major,
    /// and Y = Â Z (N × d), from which H = Y W2 and PCA(H) follow without forming H.
    public func embed(params: [Float]) -> (z: Matrix, y: Matrix) {
        precondition(!released, "GraphSTModel: used after releaseTrainingMemory()")
        let d = self.d, d2 = 2 * d, n = self.n, a = act
        // Only the clean branch: U = X W1 straight into the U half of [U | Ũ].
        params.withUnsafeBufferPointer { p in
            InputProjection.copyWeights(w12: p.baseAddress! + layout.w12.lowerBound, w12t: a.w12t.p, genes: G, d: d, pool: pool)
        }
        stored.forward(w12t: a.w12t.p, d: d, width: d, out: a.u.p, ld: d2, pool: pool)
        halo.exchange(a.u.p, width: d2)
        GCNPropagate.forward(adj: graph.adj, input: a.u.p, ldi: d2, width: d, out: a.z.p, ldo: d2, pool: pool)
        halo.exchange(a.z.p, width: d2)
        var z = Matrix(zeros: n, d), y = Matrix(zeros: n, d)
        z.data.withUnsafeMutableBufferPointer { zb in
            for i in 0..<n { (zb.baseAddress! + i &* d).update(from: a.z.row(i), count: d) }
        }
        y.data.withUnsafeMutableBufferPointer {
            GCNPropagate.forward(adj: graph.adj, input: a.z.p, ldi: d2, width: d, out: $0.baseAddress!, ldo: d, pool: pool)
        }
        return (z, y)
    }
}

/// The fixed layout of the split epilogue on `ranks` ranks (`GraphSTModel.splitsEpilogue`): G cut
/// into contiguous gene ranges, the counts and offsets of the reduce-scatter of [Cᵀ | ∂W1]
/// (float64 elements), of the all-gather of the ranks' gradient rows (floats, in place in the
/// gradient's [∂W1 | ∂W2ᵀ] rows: rank q's genes are rows genes[q], 2d floats each) and of the
/// two trace partial sums per rank. Made once, so the epoch loop allocates nothing for it.
struct SplitEpiloguePlan {
    let genes: [Range<Int>]
    let reduceSendCounts: [Int], reduceSendOffsets: [Int], reduceRecvCounts: [Int], reduceRecvOffsets: [Int]
    let rowOffsets: [Int]
    let gatherSendCounts: [Int], gatherSendOffsets: [Int], gatherRecvCounts: [Int]
    let pairSendCounts: [Int], pairSendOffsets: [Int], pairRecvCounts: [Int], pairOffsets: [Int]
    /// The exchange of the ranks' d × d parts of W2W2ᵀ (`GraphSTModel.splitsGram`), floats.
    let gramCounts: [Int], gramSendOffsets: [Int], gramRecvOffsets: [Int]

    init(genes G: Int, d: Int, ranks p: Int, rank me: Int) {
        let w = 2 * d
        genes = (0..<p).map { q in (q * G / p)..<((q + 1) * G / p) }
        reduceSendOffsets = genes.map { $0.lowerBound * w }
        // No rank sends its own block to itself (it reads it where it is): counts 0 there, and
        // the received blocks packed in rank order without it.
        var sendCounts = genes.map { $0.count * w }
        sendCounts[me] = 0
        reduceSendCounts = sendCounts
        let m = genes[me].count * w
        reduceRecvCounts = (0..<p).map { $0 == me ? 0 : m }
        reduceRecvOffsets = (0..<p).map { ($0 < me ? $0 : Swift.max(0, $0 - 1)) * m }
        let ranges = genes
        rowOffsets = ranges.map { $0.lowerBound * w }
        gatherSendCounts = (0..<p).map { $0 == me ? 0 : m }
        gatherSendOffsets = [Int](repeating: ranges[me].lowerBound * w, count: p)
        gatherRecvCounts = (0..<p).map { $0 == me ? 0 : ranges[$0].count * w }
        pairSendCounts = (0..<p).map { $0 == me ? 0 : 2 }
        pairSendOffsets = [Int](repeating: 0, count: p)
        pairRecvCounts = pairSendCounts
        pairOffsets = (0..<p).map { 2 * $0 }
        gramCounts = (0..<p).map { $0 == me ? 0 : d * d }
        gramSendOffsets = [Int](repeating: me * d * d, count: p)
        gramRecvOffsets = (0..<p).map { $0 * d * d }
    }
}
