import STCore
import STComm
import STPartition
import STExchange

// GraphST on one rank's partition: forward and backward written out, llm.c style.
//
// Dimensions: N = spots in the slide, n = spots owned by this rank, nL = owned + ghost rows,
// G = genes, d = latent width. Every N×d quantity is stored for the nL local rows (owned first).
//
//   U  = X W1            Z  = Â U          E  = relu(Z)
//   Ũ  = P U             Z̃  = Â Ũ          Ẽ  = relu(Z̃)            (corruption: P permutes rows)
//   g  = σ(rownorm(M E))         g̃ = σ(rownorm(M Ẽ))
//   s1 = B(E, g)  s2 = B(Ẽ, g)   s3 = B(Ẽ, g̃)  s4 = B(E, g̃)     B(h, c)_i = h_i·Wb·c_i + b
//   Y  = Â Z             H  = Y W2   (never formed)
//   L  = α‖H − X‖²/(N·G) + β[(Σsp(−s1) + Σsp(s2)) + (Σsp(−s3) + Σsp(s4))]/(2N)
//
// The reconstruction term uses the Gram form (DESIGN §2): with K = YᵀY (d×d), C = YᵀX (d×G),
// ‖YW2 − X‖² = tr(W2ᵀKW2) − 2tr(W2ᵀC) + ‖X‖², ∂W2 = 2(KW2 − C), ∂Y = 2(Y W2W2ᵀ − X W2ᵀ).
// X is touched by exactly two sparse passes per epoch: X·[W1 | W2ᵀ] and Xᵀ·[Y | dU].
// Communication: the corruption exchange of U, halo exchanges of [U|Ũ], [Z|Z̃], dY, [dZ|dZ̃],
// the reverse halo of [dE|dẼ] (Mᵀ), the reverse corruption exchange, and one allreduce of a packed
// float64 buffer per epoch (loss sums, K, [C | dW1], dWb, db).

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
    /// This rank's rows of the preprocessed expression (n × G).
    public let x: CSRMatrix

    let halo: HaloExchanger
    let corruption: CorruptionExchange
    let n: Int, nL: Int, d: Int, G: Int
    /// d is a multiple of 8: the per-spot loops run on SIMD8 vectors (else plain scalar loops).
    let vectorWidth: Bool
    /// ‖X‖² over the whole slide (float64), constant.
    public let xNormSquared: Double

    // Workspaces (allocated once). Shapes in comments, ld = row stride.
    var xa: [Float]      // (n, 2d)   X·[W1 | W2ᵀ]: U in cols 0..<d, X·W2ᵀ in cols d..<2d
    var uu: [Float]      // (nL, 2d)  [U | Ũ]
    var zz: [Float]      // (nL, 2d)  [Z | Z̃]
    var ee: [Float]      // (nL, 2d)  [E | Ẽ] = relu([Z | Z̃])
    var ss: [Float]      // (n, 2d)   [M E | M Ẽ]
    var gg: [Float]      // (n, 2d)   [g | g̃]
    var nrm: [Float]     // (n, 2)    max(‖M E‖, eps), max(‖M Ẽ‖, eps)
    var wg: [Float]      // (n, 2d)   [g Wbᵀ | g̃ Wbᵀ]  (row i: Wb g_i, Wb g̃_i)
    var sc: [Float]      // (n, 4)    logits s1..s4
    var yd: [Float]      // (n, 2d)   [Y | dU]
    var dy: [Float]      // (nL, d)   ∂L/∂Y (ghost rows filled by halo)
    var dzz: [Float]     // (nL, 2d)  [∂Z | ∂Z̃]
    var dee: [Float]     // (nL, 2d)  [∂E | ∂Ẽ] (ghost rows collect Mᵀ contributions)
    var dss: [Float]     // (n, 2d)   [∂(ME) | ∂(MẼ)]
    var pq: [Float]      // (n, 2d)   scratch for the discriminator backward
    var duu: [Float]     // (n, 2d)   Â·[∂Z | ∂Z̃] = [∂U | ∂Ũ] before the reverse corruption
    var w12t: [Float]    // (G, 2d)   [W1 | W2ᵀ]
    var w2w2t: [Float]   // (d, d)    W2·W2ᵀ
    var packed: [Double] // allreduce buffer, see `Packed`
    var w2d: [Double]    // (d, G)    W2 in float64, for ∂W2 = KW2 − C
    var kw2: [Double]    // (d, G)    K·W2
    var scratch32: [Float] = []
    var scratchT: [Float] = []

    /// Offsets into the packed float64 allreduce buffer.
    struct Packed {
        let d: Int, G: Int, sideCount: Int
        let lossCount = 4                      // Σsp(−s1), Σsp(s2), Σsp(−s3), Σsp(s4)
        var k: Int { lossCount }               // K = YᵀY (d×d)
        var xt: Int { k + d * d }              // Xᵀ[Y | dU] (G×2d): [Cᵀ | ∂W1]
        var wb: Int { xt + G * 2 * d }         // ∂Wb (d×d)
        var b: Int { wb + d * d }              // ∂b
        var side: Int { b + 1 }                // the caller's side channel (sideCount)
        var count: Int { side + sideCount }
    }
    let packedLayout: Packed

    /// Values the caller wants summed over ranks, carried in the epoch's one allreduce instead of a
    /// collective of their own (the training loop's stop votes). Set before `lossAndGradient`;
    /// afterwards it holds the sums, identical on every rank.
    public var sideChannel: [Double]

    /// Per-phase wall-clock timer for benchmarks (`stgnn-bench`); nil (the default) costs nothing.
    public var timer: PhaseTimer?

    /// - Parameters:
    ///   - x: this rank's rows of X (n × G), rows in the graph's owned order.
    ///   - graph: this rank's share of Â and M.
    ///   - sideChannels: length of `sideChannel`.
    public init(x: CSRMatrix, graph: LocalGraph, dim: Int, weights: LossWeights = .init(),
                readout: Readout = .local, sideChannels: Int = 0, comm: Communicator) {
        precondition(x.rows == graph.nOwned, "X has \(x.rows) rows but the rank owns \(graph.nOwned) spots")
        self.x = x
        self.graph = graph
        self.comm = comm
        self.weights = weights
        self.readout = readout
        layout = ParameterLayout(genes: x.cols, dim: dim)
        n = graph.nOwned; nL = graph.nLocal; d = dim; G = x.cols
        vectorWidth = dim % 8 == 0
        halo = HaloExchanger(plan: graph.halo, comm: comm)
        corruption = CorruptionExchange(graph: graph, comm: comm)
        var sq = 0.0
        for v in x.values { sq += Double(v) * Double(v) }
        xNormSquared = comm.sum(sq)
        let d2 = 2 * dim
        xa = [Float](repeating: 0, count: n * d2)
        uu = [Float](repeating: 0, count: nL * d2)
        zz = uu; ee = uu; dzz = uu; dee = uu
        ss = xa; gg = xa; wg = xa; yd = xa; dss = xa; pq = xa; duu = xa
        nrm = [Float](repeating: 0, count: n * 2)
        sc = [Float](repeating: 0, count: n * 4)
        dy = [Float](repeating: 0, count: nL * dim)
        w12t = [Float](repeating: 0, count: x.cols * d2)
        w2w2t = [Float](repeating: 0, count: dim * dim)
        packedLayout = Packed(d: dim, G: x.cols, sideCount: sideChannels)
        sideChannel = [Double](repeating: 0, count: sideChannels)
        packed = [Double](repeating: 0, count: packedLayout.count)
        w2d = [Double](repeating: 0, count: dim * x.cols)
        kw2 = w2d
    }

    /// Number of spots in the whole slide.
    public var globalCount: Int { graph.globalCount }

    /// Loss and gradient at `params` with the corruption permutation `perm` (N; row i of the
    /// corrupted features is row perm[i]). `grad` receives ∂L/∂params (same layout), identical on
    /// every rank.
    public func lossAndGradient(params: [Float], perm: [Int32], grad: inout [Float]) -> Losses {
        precondition(params.count == layout.count && perm.count == globalCount)
        if grad.count != layout.count { grad = [Float](repeating: 0, count: layout.count) }
        timer?.start()
        corruption.setPermutation(perm)
        forward(params)
        let losses = backward(params, grad: &grad)
        return losses
    }

    // MARK: forward

    /// Forward pass up to the logits and Y; fills the workspaces.
    func forward(_ params: [Float]) {
        let d = self.d, d2 = 2 * d, n = self.n, nL = self.nL, G = self.G, L = layout
        // [W1 | W2ᵀ] (G, 2d) and W2·W2ᵀ (d, d).
        params.withUnsafeBufferPointer { p in
            w12t.withUnsafeMutableBufferPointer { w in
                for g in 0..<G {
                    let row = w.baseAddress! + g &* d2
                    row.update(from: p.baseAddress! + L.w1.lowerBound + g &* d, count: d)
                    for a in 0..<d { row[d &+ a] = p[L.w2.lowerBound &+ a &* G &+ g] }
                }
            }
            let w2 = p.baseAddress! + L.w2.lowerBound
            BLAS.sgemm(transB: true, m: d, n: d, k: G, a: w2, lda: G, b: w2, ldb: G, c: &w2w2t, ldc: d)
        }
        timer?.lap("weights: [W1|W2ᵀ], W2W2ᵀ")
        // X·[W1 | W2ᵀ]: the first sparse pass over X.
        w12t.withUnsafeBufferPointer { w in
            xa.withUnsafeMutableBufferPointer { Sparse.spmm(x, w.baseAddress!, ldb: d2, width: d2, into: $0.baseAddress!, ldc: d2) }
        }
        timer?.lap("X·[W1|W2ᵀ] (spmm X, 2d)")
        // [U | Ũ]: U from xa, Ũ = P U by the corruption exchange; then ghost rows by halo.
        uu.withUnsafeMutableBufferPointer { uu in
            xa.withUnsafeBufferPointer { xa in
                for i in 0..<n { (uu.baseAddress! + i &* d2).update(from: xa.baseAddress! + i &* d2, count: d) }
                corruption.forward(xa.baseAddress!, ldu: d2, into: uu.baseAddress! + d, ldut: d2, width: d)
            }
            halo.exchange(uu.baseAddress!, width: d2)
        }
        timer?.lap("corruption + halo [U|Ũ]")
        // [Z | Z̃] = Â [U | Ũ] on owned rows, ghosts by halo; [E | Ẽ] = relu on all local rows.
        zz.withUnsafeMutableBufferPointer { zz in
            uu.withUnsafeBufferPointer { Sparse.spmm(graph.adj, $0.baseAddress!, ldb: d2, width: d2, into: zz.baseAddress!, ldc: d2) }
            timer?.lap("Â·[U|Ũ] (spmm Â, 2d)")
            halo.exchange(zz.baseAddress!, width: d2)
            ee.withUnsafeMutableBufferPointer { ee in
                for i in 0..<(nL &* d2) { ee[i] = Swift.max(zz[i], 0) }
            }
        }
        timer?.lap("halo [Z|Z̃], relu")
        // Summaries [g | g̃].
        params.withUnsafeBufferPointer { p in
            readoutForward(wbT: p.baseAddress! + L.wb.lowerBound, bias: p[L.bias.lowerBound])
        }
        timer?.lap("readout + logits")
        // Y = Â Z into yd cols 0..<d.
        zz.withUnsafeBufferPointer { zz in
            yd.withUnsafeMutableBufferPointer { Sparse.spmm(graph.adj, zz.baseAddress!, ldb: d2, width: d, into: $0.baseAddress!, ldc: d2) }
        }
        timer?.lap("Â·Z (spmm Â, d)")
    }

    /// gg = [g | g̃], nrm, wg = [Wb g | Wb g̃] and the logits sc (n, 4).
    func readoutForward(wbT wb: UnsafePointer<Float>, bias: Float) {
        let d = self.d, d2 = 2 * d, n = self.n
        switch readout {
        case .local:
            ee.withUnsafeBufferPointer { ee in
                ss.withUnsafeMutableBufferPointer { Sparse.spmm(graph.mask, ee.baseAddress!, ldb: d2, width: d2, into: $0.baseAddress!, ldc: d2) }
            }
            timer?.lap("M·[E|Ẽ] (spmm M, 2d)")
            ss.withUnsafeBufferPointer { ss in
            gg.withUnsafeMutableBufferPointer { gg in
            nrm.withUnsafeMutableBufferPointer { nrm in
                for i in 0..<(2 &* n) {   // each half-row of d values is one summary
                    let s = ss.baseAddress! + i &* d, g = gg.baseAddress! + i &* d
                    if vectorWidth {
                        var sq = SIMD8<Float>()
                        for a in stride(from: 0, to: d, by: 8) { let v = VectorMath.load8(s + a); sq += v * v }
                        let nr = Swift.max(sq.sum().squareRoot(), 1e-12)
                        nrm[i] = nr
                        for a in stride(from: 0, to: d, by: 8) {
                            VectorMath.store8(VectorMath.sigmoid(VectorMath.load8(s + a) / nr), g + a)
                        }
                    } else {
                        var sq: Float = 0
                        for a in 0..<d { sq += s[a] * s[a] }
                        let nr = Swift.max(sq.squareRoot(), 1e-12)
                        nrm[i] = nr
                        for a in 0..<d { g[a] = 1 / (1 + expf(-s[a] / nr)) }
                    }
                }
            } } }
        case .global:
            // σ(mean over all N spots of E), and of Ẽ: one allreduce of 2d sums.
            var sums = [Double](repeating: 0, count: d2)
            ee.withUnsafeBufferPointer { ee in
                for i in 0..<n { for a in 0..<d2 { sums[a] += Double(ee[i &* d2 &+ a]) } }
            }
            comm.allreduceSum(&sums)
            let invN = 1 / Double(globalCount)
            gg.withUnsafeMutableBufferPointer { gg in
                for i in 0..<n { for a in 0..<d2 { gg[i &* d2 &+ a] = Float(1 / (1 + exp(-sums[a] * invN))) } }
            }
        }
        // wg rows: Wb·g_i = (g Wbᵀ)_i, as (2n, d) × (d, d)ᵀ.
        gg.withUnsafeBufferPointer { gg in
            wg.withUnsafeMutableBufferPointer {
                BLAS.sgemm(transB: true, m: 2 * n, n: d, k: d, a: gg.baseAddress!, lda: d, b: wb, ldb: d, c: $0.baseAddress!, ldc: d)
            }
        }
        // Logits: s1 = E·Wb g, s2 = Ẽ·Wb g, s3 = Ẽ·Wb g̃, s4 = E·Wb g̃ (+ b).
        ee.withUnsafeBufferPointer { ee in
        wg.withUnsafeBufferPointer { wg in
        sc.withUnsafeMutableBufferPointer { sc in
            for i in 0..<n {
                let e = ee.baseAddress! + i &* d2, et = e + d
                let w = wg.baseAddress! + i &* d2, wt = w + d
                var s1: Float = 0, s2: Float = 0, s3: Float = 0, s4: Float = 0
                if vectorWidth {
                    var v1 = SIMD8<Float>(), v2 = v1, v3 = v1, v4 = v1
                    for a in stride(from: 0, to: d, by: 8) {
                        let ea = VectorMath.load8(e + a), eta = VectorMath.load8(et + a)
                        let wa = VectorMath.load8(w + a), wta = VectorMath.load8(wt + a)
                        v1 += ea * wa; v2 += eta * wa; v3 += eta * wta; v4 += ea * wta
                    }
                    s1 = v1.sum(); s2 = v2.sum(); s3 = v3.sum(); s4 = v4.sum()
                } else {
                    for a in 0..<d {
                        s1 += e[a] * w[a]; s2 += et[a] * w[a]
                        s3 += et[a] * wt[a]; s4 += e[a] * wt[a]
                    }
                }
                sc[i &* 4] = s1 + bias; sc[i &* 4 &+ 1] = s2 + bias
                sc[i &* 4 &+ 2] = s3 + bias; sc[i &* 4 &+ 3] = s4 + bias
            }
        } } }
    }

    // MARK: backward

    func backward(_ params: [Float], grad: inout [Float]) -> Losses {
        let d = self.d, d2 = 2 * d, n = self.n, nL = self.nL, G = self.G, L = layout
        let N = Double(globalCount)
        let pk = packedLayout
        for i in packed.indices { packed[i] = 0 }
        let cRec = Float(2 * weights.alpha / (N * Double(G)))   // ∂(α·feat)/∂H = cRec·(H − X)
        let w = Float(weights.beta / (2 * N))                    // ∂(β·BCE mean)/∂logit = w·(σ(s) − y)

        // Contrastive losses and ∂L/∂logits r1..r4 (overwrite sc).
        sc.withUnsafeMutableBufferPointer { sc in
            var l0 = 0.0, l1 = 0.0, l2 = 0.0, l3 = 0.0
            for i in 0..<n {
                let s1 = sc[i &* 4], s2 = sc[i &* 4 &+ 1], s3 = sc[i &* 4 &+ 2], s4 = sc[i &* 4 &+ 3]
                l0 += softplus(-Double(s1)); l1 += softplus(Double(s2))
                l2 += softplus(-Double(s3)); l3 += softplus(Double(s4))
                sc[i &* 4] = w * (sigmoid(s1) - 1); sc[i &* 4 &+ 1] = w * sigmoid(s2)
                sc[i &* 4 &+ 2] = w * (sigmoid(s3) - 1); sc[i &* 4 &+ 3] = w * sigmoid(s4)
            }
            packed[0] = l0; packed[1] = l1; packed[2] = l2; packed[3] = l3
        }
        timer?.lap("BCE losses")

        // K = YᵀY (local partial, float64).
        yd.withUnsafeBufferPointer { y in
            packed.withUnsafeMutableBufferPointer { pb in
                BLAS.gramAccumulate(n: n, p: d, q: d, a: y.baseAddress!, lda: d2, b: y.baseAddress!, ldb: d2,
                                    into: pb.baseAddress! + pk.k, ldc: d, scratch: &scratch32)
            }
        }
        timer?.lap("K = YᵀY")

        // ∂Y = cRec·(Y·W2W2ᵀ − X·W2ᵀ) on owned rows; ghosts by halo.
        yd.withUnsafeBufferPointer { y in
        dy.withUnsafeMutableBufferPointer { dy in
            BLAS.sgemm(m: n, n: d, k: d, alpha: cRec, a: y.baseAddress!, lda: d2, b: w2w2t, ldb: d, c: dy.baseAddress!, ldc: d)
            xa.withUnsafeBufferPointer { xa in
                for i in 0..<n {
                    let r = dy.baseAddress! + i &* d, xw = xa.baseAddress! + (i &* d2 &+ d)
                    for a in 0..<d { r[a] -= cRec * xw[a] }
                }
            }
            halo.exchange(dy.baseAddress!, width: d)
        } }
        timer?.lap("∂Y, halo")

        // ∂Z (reconstruction part) = Âᵀ∂Y = Â∂Y (Â symmetric) into dzz cols 0..<d.
        dy.withUnsafeBufferPointer { dy in
            dzz.withUnsafeMutableBufferPointer { Sparse.spmm(graph.adj, dy.baseAddress!, ldb: d, width: d, into: $0.baseAddress!, ldc: d2) }
        }
        timer?.lap("Â·∂Y (spmm Â, d)")

        // Discriminator backward. r1..r4 in sc.
        //   ∂E_i += r1 Wb g_i + r4 Wb g̃_i      ∂Ẽ_i += r2 Wb g_i + r3 Wb g̃_i
        //   ∂g_i  = Wbᵀ(r1 E_i + r2 Ẽ_i)        ∂g̃_i  = Wbᵀ(r3 Ẽ_i + r4 E_i)
        //   ∂Wb  = Σ_i E_i(r1 g_i + r4 g̃_i)ᵀ + Ẽ_i(r2 g_i + r3 g̃_i)ᵀ,   ∂b = Σ r
        var db = 0.0
        sc.withUnsafeBufferPointer { r in
        ee.withUnsafeBufferPointer { ee in
        gg.withUnsafeBufferPointer { gg in
        wg.withUnsafeBufferPointer { wg in
        dee.withUnsafeMutableBufferPointer { dee in
        pq.withUnsafeMutableBufferPointer { pq in
            for i in 0..<(nL &* d2) { dee[i] = 0 }
            for i in 0..<n {
                let r1 = r[i &* 4], r2 = r[i &* 4 &+ 1], r3 = r[i &* 4 &+ 2], r4 = r[i &* 4 &+ 3]
                db += Double(r1) + Double(r2) + Double(r3) + Double(r4)
                let g = gg.baseAddress! + i &* d2, gt = g + d
                let wgi = wg.baseAddress! + i &* d2, wgt = wgi + d
                let de = dee.baseAddress! + i &* d2, det = de + d
                let p = pq.baseAddress! + i &* d2, q = p + d
                if vectorWidth {
                    for a in stride(from: 0, to: d, by: 8) {
                        let w1 = VectorMath.load8(wgi + a), w2 = VectorMath.load8(wgt + a)
                        let g1 = VectorMath.load8(g + a), g2 = VectorMath.load8(gt + a)
                        VectorMath.store8(r1 * w1 + r4 * w2, de + a)
                        VectorMath.store8(r2 * w1 + r3 * w2, det + a)
                        VectorMath.store8(r1 * g1 + r4 * g2, p + a)
                        VectorMath.store8(r2 * g1 + r3 * g2, q + a)
                    }
                } else {
                    for a in 0..<d {
                        de[a] = r1 * wgi[a] + r4 * wgt[a]
                        det[a] = r2 * wgi[a] + r3 * wgt[a]
                        p[a] = r1 * g[a] + r4 * gt[a]      // pairs with E_i  for ∂Wb
                        q[a] = r2 * g[a] + r3 * gt[a]      // pairs with Ẽ_i  for ∂Wb
                    }
                }
            }
        } } } } } }
        packed[pk.b] = db
        // ∂Wb = Σ over the 2n half-rows of [E|Ẽ]ᵀ·[p|q]: (2n, d) viewed rows.
        ee.withUnsafeBufferPointer { ee in
        pq.withUnsafeBufferPointer { pq in
        packed.withUnsafeMutableBufferPointer { pb in
            BLAS.gramAccumulate(n: 2 * n, p: d, q: d, a: ee.baseAddress!, lda: d, b: pq.baseAddress!, ldb: d,
                                into: pb.baseAddress! + pk.wb, ldc: d, scratch: &scratch32)
        } } }
        timer?.lap("discriminator backward, ∂Wb")

        switch readout {
        case .local:
            // pq ← [r1 E + r2 Ẽ | r3 Ẽ + r4 E]; ∂[g|g̃] = pq·Wb (as (2n, d) × (d, d)) into dss.
            sc.withUnsafeBufferPointer { r in
            ee.withUnsafeBufferPointer { ee in
            pq.withUnsafeMutableBufferPointer { pq in
                for i in 0..<n {
                    let r1 = r[i &* 4], r2 = r[i &* 4 &+ 1], r3 = r[i &* 4 &+ 2], r4 = r[i &* 4 &+ 3]
                    let e = ee.baseAddress! + i &* d2, et = e + d
                    let p = pq.baseAddress! + i &* d2, q = p + d
                    if vectorWidth {
                        for a in stride(from: 0, to: d, by: 8) {
                            let ea = VectorMath.load8(e + a), eta = VectorMath.load8(et + a)
                            VectorMath.store8(r1 * ea + r2 * eta, p + a)
                            VectorMath.store8(r3 * eta + r4 * ea, q + a)
                        }
                    } else {
                        for a in 0..<d { p[a] = r1 * e[a] + r2 * et[a]; q[a] = r3 * et[a] + r4 * e[a] }
                    }
                }
            } } }
            params.withUnsafeBufferPointer { pp in
            pq.withUnsafeBufferPointer { pq in
            dss.withUnsafeMutableBufferPointer { dss in
                BLAS.sgemm(m: 2 * n, n: d, k: d, a: pq.baseAddress!, lda: d, b: pp.baseAddress! + L.wb.lowerBound, ldb: d,
                           c: dss.baseAddress!, ldc: d)
            } } }
            // Through g = σ(q), q = s/‖s‖: ∂q = ∂g∘g∘(1−g); ∂s = (∂q − q(q·∂q))/‖s‖.
            ss.withUnsafeBufferPointer { ss in
            gg.withUnsafeBufferPointer { gg in
            nrm.withUnsafeBufferPointer { nrm in
            dss.withUnsafeMutableBufferPointer { dss in
                for h in 0..<(2 &* n) {
                    let s = ss.baseAddress! + h &* d, g = gg.baseAddress! + h &* d, ds = dss.baseAddress! + h &* d
                    let nr = nrm[h]
                    if vectorWidth {
                        var dotv = SIMD8<Float>()
                        for a in stride(from: 0, to: d, by: 8) {
                            let ga = VectorMath.load8(g + a)
                            let dq = VectorMath.load8(ds + a) * ga * (1 - ga)
                            VectorMath.store8(dq, ds + a)
                            dotv += dq * (VectorMath.load8(s + a) / nr)
                        }
                        let dot = dotv.sum(), scale: Float = nr > 1e-12 ? 1 : 0
                        for a in stride(from: 0, to: d, by: 8) {
                            let q = VectorMath.load8(s + a) / nr
                            VectorMath.store8((VectorMath.load8(ds + a) - q * (dot * scale)) / nr, ds + a)
                        }
                    } else {
                        var dot: Float = 0
                        for a in 0..<d {
                            let dq = ds[a] * g[a] * (1 - g[a])
                            ds[a] = dq
                            dot += dq * (s[a] / nr)
                        }
                        if nr > 1e-12 {
                            for a in 0..<d { ds[a] = (ds[a] - (s[a] / nr) * dot) / nr }
                        } else {
                            for a in 0..<d { ds[a] = ds[a] / nr }
                        }
                    }
                }
            } } } }
            timer?.lap("readout backward")
            // [∂E | ∂Ẽ] += Mᵀ [∂s | ∂s̃]: scatter into local rows (ghosts included), then send the
            // ghost contributions to their owners.
            dss.withUnsafeBufferPointer { dss in
            dee.withUnsafeMutableBufferPointer { dee in
                let m = graph.mask
                m.indptr.withUnsafeBufferPointer { ptr in
                m.indices.withUnsafeBufferPointer { idx in
                    for i in 0..<n {
                        let src = dss.baseAddress! + i &* d2
                        for p in ptr[i]..<ptr[i &+ 1] {
                            let dst = dee.baseAddress! + Int(idx[p]) &* d2
                            for a in 0..<d2 { dst[a] += src[a] }
                        }
                    }
                } }
                halo.reverseAdd(dee.baseAddress!, width: d2)
            } }
            timer?.lap("Mᵀ·[∂s|∂s̃] (scatter, 2d), reverse halo")
        case .global:
            // g = σ(mean E): ∂(mean E)_a = Σ_i ∂g_i,a · g_a(1−g_a) (allreduced), then ∂E_j += that / N.
            var dm = [Double](repeating: 0, count: d2)
            sc.withUnsafeBufferPointer { r in
            ee.withUnsafeBufferPointer { ee in
            params.withUnsafeBufferPointer { pp in
                let wb = pp.baseAddress! + L.wb.lowerBound
                var ve = [Float](repeating: 0, count: d), vt = [Float](repeating: 0, count: d)
                for i in 0..<n {
                    let r1 = r[i &* 4], r2 = r[i &* 4 &+ 1], r3 = r[i &* 4 &+ 2], r4 = r[i &* 4 &+ 3]
                    let e = ee.baseAddress! + i &* d2, et = e + d
                    for a in 0..<d { ve[a] = r1 * e[a] + r2 * et[a]; vt[a] = r3 * et[a] + r4 * e[a] }
                    // ∂g_i = Wbᵀ ve  → component b: Σ_a Wb[a, b] ve[a]
                    for a in 0..<d {
                        let row = wb + a &* d
                        let va = Double(ve[a]), vta = Double(vt[a])
                        for b in 0..<d { dm[b] += va * Double(row[b]); dm[d &+ b] += vta * Double(row[b]) }
                    }
                }
            } } }
            comm.allreduceSum(&dm)
            let invN = 1 / N
            gg.withUnsafeBufferPointer { gg in
                for a in 0..<d2 { let g = Double(gg[a]); dm[a] *= g * (1 - g) * invN }
            }
            dee.withUnsafeMutableBufferPointer { dee in
                for i in 0..<n { for a in 0..<d2 { dee[i &* d2 &+ a] += Float(dm[a]) } }
            }
        }

        // [∂Z | ∂Z̃] += [∂E | ∂Ẽ] ∘ 1[Z > 0] on owned rows (∂Z̃ has no reconstruction part).
        zz.withUnsafeBufferPointer { zz in
        dee.withUnsafeBufferPointer { dee in
        dzz.withUnsafeMutableBufferPointer { dzz in
            // Explicit 8-wide vectors: the three pointers may alias as far as the compiler knows,
            // which kept the scalar form from vectorising. ∂Z (cols 0..<d) accumulates, ∂Z̃
            // (cols d..<2d) is assigned.
            let zero = SIMD8<Float>(repeating: 0)
            for i in 0..<n {
                let zs = zz.baseAddress! + i &* d2, ds = dee.baseAddress! + i &* d2, dzs = dzz.baseAddress! + i &* d2
                let z = UnsafeRawPointer(zs), de = UnsafeRawPointer(ds), dz = UnsafeMutableRawPointer(dzs)
                for half in 0..<2 {
                    let accumulate = half == 0, hi = accumulate ? d : d2
                    var a = accumulate ? 0 : d
                    while a &+ 8 <= hi {
                        let off = a &* 4
                        let zv = z.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self)
                        let gv = zero.replacing(with: de.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self),
                                                where: zv .> zero)
                        let out = accumulate ? dz.loadUnaligned(fromByteOffset: off, as: SIMD8<Float>.self) + gv : gv
                        dz.storeBytes(of: out, toByteOffset: off, as: SIMD8<Float>.self)
                        a &+= 8
                    }
                    while a < hi {
                        let g: Float = zs[a] > 0 ? ds[a] : 0
                        dzs[a] = accumulate ? dzs[a] + g : g
                        a &+= 1
                    }
                }
            }
            halo.exchange(dzz.baseAddress!, width: d2)
        } } }
        timer?.lap("relu backward, halo [∂Z|∂Z̃]")
        // [∂U | ∂Ũ] = Â [∂Z | ∂Z̃]; ∂U += Pᵀ ∂Ũ; ∂U goes to yd cols d..<2d.
        dzz.withUnsafeBufferPointer { dzz in
        duu.withUnsafeMutableBufferPointer { duu in
        yd.withUnsafeMutableBufferPointer { yd in
            Sparse.spmm(graph.adj, dzz.baseAddress!, ldb: d2, width: d2, into: duu.baseAddress!, ldc: d2)
            timer?.lap("Â·[∂Z|∂Z̃] (spmm Â, 2d)")
            for i in 0..<n { (yd.baseAddress! + (i &* d2 &+ d)).update(from: duu.baseAddress! + i &* d2, count: d) }
            corruption.backwardAdd(duu.baseAddress! + d, lddut: d2, into: yd.baseAddress! + d, lddu: d2, width: d)
        } } }
        timer?.lap("reverse corruption")
        // Xᵀ [Y | ∂U] = [Cᵀ | ∂W1]: the second sparse pass over X.
        yd.withUnsafeBufferPointer { yd in
            packed.withUnsafeMutableBufferPointer { pb in
                Sparse.spmmTransposedAccumulate(x, yd.baseAddress!, ldb: d2, width: d2, into: pb.baseAddress! + pk.xt,
                                                ldc: d2, scratch: &scratchT)
            }
        }
        timer?.lap("Xᵀ·[Y|∂U] (spmmᵀ X, 2d)")

        // One allreduce for everything summed over spots (and the caller's side channel).
        for i in 0..<pk.sideCount { packed[pk.side &+ i] = sideChannel[i] }
        comm.allreduceSum(&packed)
        for i in 0..<pk.sideCount { sideChannel[i] = packed[pk.side &+ i] }
        timer?.lap("allreduce")

        // Replicated epilogue: losses, ∂W2 = cRec·(K W2 − C), and the flat gradient.
        let sl1 = (packed[0] + packed[1]) / (2 * N), sl2 = (packed[2] + packed[3]) / (2 * N)
        var trWKW = 0.0, trWC = 0.0
        params.withUnsafeBufferPointer { p in
        packed.withUnsafeBufferPointer { pb in
        grad.withUnsafeMutableBufferPointer { gr in
            let w2 = p.baseAddress! + L.w2.lowerBound
            let k = pb.baseAddress! + pk.k, xt = pb.baseAddress! + pk.xt
            // KW2 (d×G) in float64: W2 widened once, then one dgemm.
            w2d.withUnsafeMutableBufferPointer { w2d in
            kw2.withUnsafeMutableBufferPointer { kw in
                for i in 0..<(d &* G) { w2d[i] = Double(w2[i]) }
                BLAS.dgemm(m: d, n: G, k: d, a: k, lda: d, b: w2d.baseAddress!, ldb: G, c: kw.baseAddress!, ldc: G)
                for a in 0..<d {
                    let w2a = w2d.baseAddress! + a &* G, kwa = kw.baseAddress! + a &* G
                    for g in 0..<G {
                        let c = xt[g &* d2 &+ a]         // C[a, g] = Cᵀ[g, a]
                        trWKW += w2a[g] * kwa[g]
                        trWC += w2a[g] * c
                        gr[L.w2.lowerBound &+ a &* G &+ g] = Float(Double(cRec) * (kwa[g] - c))
                    }
                }
            } }
            for g in 0..<G {
                for a in 0..<d { gr[L.w1.lowerBound &+ g &* d &+ a] = Float(xt[g &* d2 &+ d &+ a]) }
            }
            for i in 0..<(d &* d) { gr[L.wb.lowerBound &+ i] = Float(pb[pk.wb &+ i]) }
            gr[L.bias.lowerBound] = Float(pb[pk.b])
        } } }
        timer?.lap("epilogue: ∂W2 = KW2 − C, gradient")
        let feat = (trWKW - 2 * trWC + xNormSquared) / (N * Double(G))
        return Losses(total: weights.alpha * feat + weights.beta * (sl1 + sl2), feat: feat, sl1: sl1, sl2: sl2)
    }

    // MARK: outputs

    /// Z = Â X W1 (the hidden embedding GraphST returns) for the owned rows, (n × d) row-major,
    /// and optionally Y = Â Z (n × d), from which H = Y W2 and PCA(H) follow without forming H.
    public func embed(params: [Float]) -> (z: Matrix, y: Matrix) {
        let d = self.d, d2 = 2 * d, L = layout
        // Only U is needed: reuse the forward's pieces without the corruption branch.
        params.withUnsafeBufferPointer { p in
            w12t.withUnsafeMutableBufferPointer { w in
                for g in 0..<G { (w.baseAddress! + g &* d2).update(from: p.baseAddress! + L.w1.lowerBound + g &* d, count: d) }
            }
        }
        w12t.withUnsafeBufferPointer { w in
            xa.withUnsafeMutableBufferPointer { Sparse.spmm(x, w.baseAddress!, ldb: d2, width: d, into: $0.baseAddress!, ldc: d2) }
        }
        uu.withUnsafeMutableBufferPointer { uu in
            xa.withUnsafeBufferPointer { xa in
                for i in 0..<n { (uu.baseAddress! + i &* d2).update(from: xa.baseAddress! + i &* d2, count: d) }
            }
            halo.exchange(uu.baseAddress!, width: d2)
        }
        zz.withUnsafeMutableBufferPointer { zz in
            uu.withUnsafeBufferPointer { Sparse.spmm(graph.adj, $0.baseAddress!, ldb: d2, width: d, into: zz.baseAddress!, ldc: d2) }
            halo.exchange(zz.baseAddress!, width: d2)
        }
        var z = Matrix(zeros: n, d), y = Matrix(zeros: n, d)
        zz.withUnsafeBufferPointer { zz in
            z.data.withUnsafeMutableBufferPointer { zb in
                for i in 0..<n { (zb.baseAddress! + i &* d).update(from: zz.baseAddress! + i &* d2, count: d) }
            }
            y.data.withUnsafeMutableBufferPointer { Sparse.spmm(graph.adj, zz.baseAddress!, ldb: d2, width: d, into: $0.baseAddress!, ldc: d) }
        }
        return (z, y)
    }
}

@inline(__always) func sigmoid(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

/// log(1 + eˣ), stable for all x (torch's BCEWithLogits form).
@inline(__always) func softplus(_ x: Double) -> Double { Swift.max(x, 0) + log1p(exp(-Swift.abs(x))) }

#if canImport(Glibc)
import Glibc
#endif
