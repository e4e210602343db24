// N = spots owned, L = local rows (owned + ghosts), d = latent width, G = genes.
//
// The activation arena: every float32 buffer of one epoch's forward and backward pass is a named
// view into one allocation, carved once when the model is built. [A | B] is one buffer of width 2d
// whose row i holds A_i then B_i: the clean and the corrupted branch travel together, so each
// sparse product and each halo exchange serves both.

/// A row-major float32 matrix inside the arena: `rows` rows of `cols` contiguous values.
struct View {
    let p: UnsafeMutablePointer<Float>
    let rows: Int
    let cols: Int
    var count: Int { rows &* cols }
    /// Row i.
    @inline(__always) func row(_ i: Int) -> UnsafeMutablePointer<Float> { p + i &* cols }
    /// The whole view as a buffer (lent as scratch while the view is dead).
    var buffer: UnsafeMutableBufferPointer<Float> { UnsafeMutableBufferPointer(start: p, count: count) }
}

/// The activations and their gradients, each a view into one zero-initialised allocation.
///
/// The backward buffers live in forward buffers that are dead by then (memory: 8 views of width
/// 2d per spot instead of 13.5, i.e. ≈ 64·d bytes per spot instead of 108·d; what lets a million
/// spots fit on eight ranks of one node). Lifetimes, F = forward step, B = backward step:
///
///     buffer  written → last read          hosts (written → last read)
///     xw      F1 X·W → B3 ∂Y (X W2ᵀ half)   pq  B5 discriminator backward → B6 summary
///     u       F2 → F3 Â·U                    dy  B3 → B4 Â·∂Y, then de B5 → B8 relu backward
///     z       F3 → F7 Y = Â·Z                dz  B4 → B9 Â·∂Z (ReLU.backward masks with E > 0 ⟺ Z > 0)
///     wc      F6 logits → B5                 ds  B6 (∂g, then ∂s in place)
///     s       F5 readout → B6                du  B9 → B10 reverse corruption
///
/// e, g, norms, logits, dlogits and yd have buffers of their own. z also hosts the corruption
/// exchange's send and receive buffers (2·N·d ≤ L·2d floats) at F2, before Â·U writes z, and at
/// B10, after Â·∂Z read dz.
struct Activations {
    let xw: View       // (N, 2d)  X·[W1 | W2ᵀ] = [U | X W2ᵀ]
    let u: View        // (L, 2d)  [U | Ũ]        Ũ = P U; ghost rows by halo
    let z: View        // (L, 2d)  [Z | Z̃]        = Â [U | Ũ]; ghost rows by halo
    let e: View        // (L, 2d)  [E | Ẽ]        = relu([Z | Z̃])
    let s: View        // (N, 2d)  [M E | M Ẽ]    readout sums (local readout)
    let g: View        // (N, 2d)  [g | g̃]        summaries
    let norms: View    // (N, 2)   max(‖M E‖, eps), max(‖M Ẽ‖, eps)
    let wc: View       // (N, 2d)  [g Wbᵀ | g̃ Wbᵀ]  (row i: Wb g_i, Wb g̃_i)
    let logits: View   // (N, 4)   s1..s4 = B(E,g), B(Ẽ,g), B(Ẽ,g̃), B(E,g̃)
    let dlogits: View  // (N, 4)   ∂L/∂s1..s4
    let yd: View       // (N, 2d)  [Y | ∂U]       Y = Â Z; the operand of the second pass over X
    let dy: View       // (L, d)   ∂L/∂Y; ghost rows by halo                         (in u)
    let dz: View       // (L, 2d)  [∂Z | ∂Z̃]; ghost rows by halo                      (in z)
    let de: View       // (L, 2d)  [∂E | ∂Ẽ]; ghost rows collect Mᵀ contributions     (in u)
    let ds: View       // (N, 2d)  [∂g | ∂g̃], then in place [∂(ME) | ∂(MẼ)]           (in wc)
    let pq: View       // (N, 2d)  discriminator backward scratch                     (in xw)
    let du: View       // (N, 2d)  Â [∂Z | ∂Z̃] = [∂U | ∂Ũ] before the reverse corruption (in s)
    let w12t: View     // (G, 2d)  [W1 | W2ᵀ]
    let w2w2t: View    // (d, d)   W2 W2ᵀ
    /// Floats in the arena (views start on 64-byte boundaries).
    let count: Int
    /// The one allocation (zero-initialised).
    let base: UnsafeMutablePointer<Float>

    /// Bytes of the arena for these sizes (the memory preflight's model of it).
    static func bytes(n: Int, nLocal: Int, d: Int, genes: Int) -> Int {
        shapes(n: n, nLocal: nLocal, d: d, genes: genes).reduce(0) { $0 + ($1.0 * $1.1 + 15) / 16 * 16 } * 4
    }

    /// Shapes of the buffers that own storage, in the order of `init`'s views.
    static func shapes(n: Int, nLocal: Int, d: Int, genes: Int) -> [(Int, Int)] {
        let d2 = 2 * d
        return [(n, d2), (nLocal, d2), (nLocal, d2), (nLocal, d2),      // xw u z e
                (n, d2), (n, d2), (n, 2), (n, d2), (n, 4), (n, 4),      // s g norms wc logits dlogits
                (n, d2), (genes, d2), (d, d)]                           // yd w12t w2w2t
    }

    /// Allocates the arena for N = `n` owned rows, L = `nLocal` local rows, width d and G genes.
    init(n: Int, nLocal: Int, d: Int, genes: Int) {
        let d2 = 2 * d
        let shapes = Self.shapes(n: n, nLocal: nLocal, d: d, genes: genes)
        var offsets = [Int](), total = 0
        for (r, c) in shapes { offsets.append(total); total += (r * c + 15) / 16 * 16 }
        let raw = UnsafeMutableRawPointer.allocate(byteCount: Swift.max(total, 1) * 4, alignment: 64)
        let base = raw.initializeMemory(as: Float.self, repeating: 0, count: Swift.max(total, 1))
        let v = zip(offsets, shapes).map { View(p: base + $0.0, rows: $0.1.0, cols: $0.1.1) }
        xw = v[0]; u = v[1]; z = v[2]; e = v[3]
        s = v[4]; g = v[5]; norms = v[6]; wc = v[7]; logits = v[8]; dlogits = v[9]
        yd = v[10]; w12t = v[11]; w2w2t = v[12]
        dy = View(p: u.p, rows: nLocal, cols: d)
        dz = View(p: z.p, rows: nLocal, cols: d2)
        de = View(p: u.p, rows: nLocal, cols: d2)
        ds = View(p: wc.p, rows: n, cols: d2)
        pq = View(p: xw.p, rows: n, cols: d2)
        du = View(p: s.p, rows: n, cols: d2)
        count = total
        self.base = base
    }

    /// Frees the arena (the model's deinit).
    func deallocate() { UnsafeMutableRawPointer(base).deallocate() }
}

/// Offsets into the packed float64 buffer that carries every sum over spots through the epoch's
/// allreduce (or, on 2…`GraphSTModel.splitEpilogueMaxRanks` ranks, a small allreduce of everything
/// before [Cᵀ | ∂W1] and a reduce-scatter of [Cᵀ | ∂W1] by genes):
/// [BCE sums (4) | K (d, d) | ∂Wb (d, d) | ∂b (1) | extra | [Cᵀ | ∂W1] (G, 2d)].
struct PackedSums {
    let d: Int, G: Int
    let losses = 0                        // Σsp(−s1), Σsp(s2), Σsp(−s3), Σsp(s4)
    var k: Int { losses + 4 }             // K = YᵀY (d, d)
    var wb: Int { k + d * d }             // ∂Wb (d, d)
    var b: Int { wb + d * d }             // ∂b
    var extra: Int { b + 1 }              // the caller's slots
    /// Xᵀ[Y | ∂U] (G, 2d) = [Cᵀ | ∂W1], after `n` caller slots: last, so that everything before
    /// it is one contiguous block (the small allreduce of the split epilogue).
    func xt(extra n: Int) -> Int { extra + n }
    /// Length with `extra` caller slots.
    func count(extra n: Int) -> Int { xt(extra: n) + G * 2 * d }
}
