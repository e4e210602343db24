import XCTest
@testable import STModel
import STCore

/// The fused and vectorised forms of the readout, the logits and the epilogue against the unfused
/// Swift forms they replace: bitwise, on every SIMD path, for several pools and shapes (block
/// counts with remainders, one block, widths d whose sgemm blocks do not fall on spot boundaries).
final class FusedOpsTests: XCTestCase {
    /// A readout mask of n rows over L = n + ghosts columns: each row its own spot and 3 others,
    /// ascending, values 1 (as `LocalGraph` builds M = K + I).
    static func mask(n: Int, ghosts: Int, rng: inout Xoshiro256) -> CSRMatrix {
        var rows = [Int](), cols = [Int](), vals = [Float]()
        for i in 0..<n {
            var set: Set<Int> = [i]
            while set.count < 4 { set.insert(Int(rng.next() % UInt64(n + ghosts))) }
            for j in set.sorted() { rows.append(i); cols.append(j); vals.append(1) }
        }
        return CSRMatrix(rows: n, cols: n + ghosts, row: rows, col: cols, val: vals)
    }

    static func random(_ count: Int, scale: Float = 1, rng: inout Xoshiro256) -> [Float] {
        (0..<count).map { _ in (rng.nextFloat() * 2 - 1) * scale }
    }

    static func bits(_ a: [Float]) -> [UInt32] { a.map(\.bitPattern) }

    /// `ReadoutLogits.forward` (fused when the blocks allow) = spmm, `summaries_ref`, `sgemmRows`,
    /// `logitRows` one after the other, in every output, bit for bit.
    func testReadoutLogitsBitwiseEqualUnfused() {
        var rng = Xoshiro256(seed: 71)
        // d = 64: blocks of 256 spots (3460: 13 blocks, the last 388; 700: one block); d = 24:
        // blocks of 3641 half-rows (odd: the unfused path); d = 16: one block of 8192.
        for (n, d) in [(3460, 64), (700, 64), (2000, 24), (1500, 16), (1, 8)] {
            let ghosts = 37, L = n + ghosts, d2 = 2 * d
            let m = Self.mask(n: n, ghosts: ghosts, rng: &rng)
            var e = Self.random(L * d2, rng: &rng).map { Swift.max($0, 0) }   // E = relu(Z)
            for a in 0..<d2 { e[5 % L * d2 + a] = 0 }                            // a zero row of E
            let wb = Self.random(d * d, scale: 0.3, rng: &rng), bias: Float = 0.125
            // Oracle: the unfused Swift forms.
            var s0 = [Float](repeating: 0, count: n * d2), g0 = s0, wc0 = s0
            var nr0 = [Float](repeating: 0, count: 2 * n), l0 = [Float](repeating: 0, count: 4 * n)
            Sparse.spmm(m, e, ldb: d2, width: d2, into: &s0, ldc: d2)
            s0.withUnsafeBufferPointer { s in g0.withUnsafeMutableBufferPointer { g in nr0.withUnsafeMutableBufferPointer { nr in
                LocalReadout.summaries_ref(halfRows: 0..<(2 * n), s: s.baseAddress!, g: g.baseAddress!,
                                           norms: nr.baseAddress!, d: d)
            } } }
            BLAS.sgemmRows(transB: true, m: 2 * n, n: d, k: d, a: g0, lda: d, b: wb, ldb: d, c: &wc0, ldc: d)
            e.withUnsafeBufferPointer { ep in wc0.withUnsafeBufferPointer { w in l0.withUnsafeMutableBufferPointer { l in
                Bilinear.logitRows(0..<n, e: ep.baseAddress!, wc: w.baseAddress!, bias: bias, logits: l.baseAddress!, d: d)
            } } }
            for threads in [1, 2, 3] {
                let pool = ThreadPool(threads: threads)
                var s1 = [Float](repeating: .nan, count: n * d2), g1 = s1, wc1 = s1
                var nr1 = [Float](repeating: .nan, count: 2 * n), l1 = [Float](repeating: .nan, count: 4 * n)
                e.withUnsafeBufferPointer { ep in wb.withUnsafeBufferPointer { w in
                s1.withUnsafeMutableBufferPointer { s in g1.withUnsafeMutableBufferPointer { g in
                nr1.withUnsafeMutableBufferPointer { nr in wc1.withUnsafeMutableBufferPointer { wc in
                l1.withUnsafeMutableBufferPointer { l in
                    ReadoutLogits.forward(mask: m, e: ep.baseAddress!, wb: w.baseAddress!, bias: bias,
                                          s: s.baseAddress!, g: g.baseAddress!, norms: nr.baseAddress!,
                                          wc: wc.baseAddress!, logits: l.baseAddress!, n: n, d: d, pool: pool)
                } } } } } } }
                let what = "n = \(n), d = \(d), \(threads) threads, fused: \(ReadoutLogits.fuses(n: n, d: d, pool: pool))"
                XCTAssertEqual(Self.bits(s1), Self.bits(s0), "s, \(what)")
                XCTAssertEqual(Self.bits(nr1), Self.bits(nr0), "norms, \(what)")
                XCTAssertEqual(Self.bits(g1), Self.bits(g0), "g, \(what)")
                XCTAssertEqual(Self.bits(wc1), Self.bits(wc0), "wc, \(what)")
                XCTAssertEqual(Self.bits(l1), Self.bits(l0), "logits, \(what)")
            }
        }
        // The blocks of 256 spots at d = 64 fall on spot boundaries; those of d = 24 do not.
        XCTAssertTrue(ReadoutLogits.fuses(n: 3460, d: 64, pool: ThreadPool(threads: 2)))
        XCTAssertFalse(ReadoutLogits.fuses(n: 3460, d: 24, pool: .serial))
    }

    /// The C summaries and backward of the readout (every path) against the SIMD8 Swift loops:
    /// rows of every scale, a zero row (norm clamped to 1e-12), a row with an infinity (NaN
    /// quotients, which the exp's clamp turns into its bound).
    func testReadoutLoopsBitwiseEqualReference() {
        var rng = Xoshiro256(seed: 72)
        for d in [8, 16, 24, 64] {
            let h = 301
            var s = [Float]()
            for r in 0..<h { s += Self.random(d, scale: pow(10, Float(r % 13) - 6), rng: &rng) }
            for a in 0..<d { s[7 * d + a] = 0 }
            s[11 * d + 3] = .infinity
            let g = (0..<(h * d)).map { _ in rng.nextFloat() }
            let ds = Self.random(h * d, scale: 1e-3, rng: &rng)
            var gr = [Float](repeating: 0, count: h * d), nr = [Float](repeating: 0, count: h)
            var dsr = ds
            s.withUnsafeBufferPointer { sp in
                gr.withUnsafeMutableBufferPointer { gp in nr.withUnsafeMutableBufferPointer { np in
                    LocalReadout.summaries_ref(halfRows: 0..<h, s: sp.baseAddress!, g: gp.baseAddress!,
                                               norms: np.baseAddress!, d: d)
                } }
                g.withUnsafeBufferPointer { gp in nr.withUnsafeBufferPointer { np in dsr.withUnsafeMutableBufferPointer { dp in
                    LocalReadout.backwardRows_ref(halfRows: 0..<h, s: sp.baseAddress!, g: gp.baseAddress!,
                                                  norms: np.baseAddress!, ds: dp.baseAddress!, d: d)
                } } }
            }
            XCTAssertEqual(nr[7], 1e-12)
            for path in Sparse.Path.allCases where path.rawValue <= Sparse.supportedPath.rawValue {
                var gv = [Float](repeating: .nan, count: h * d), nv = [Float](repeating: .nan, count: h)
                var dsv = ds
                s.withUnsafeBufferPointer { sp in
                    gv.withUnsafeMutableBufferPointer { gp in nv.withUnsafeMutableBufferPointer { np in
                        // In two ranges, as the pool's blocks call it.
                        for r in [0..<100, 100..<h] {
                            VectorMath.readoutSummaries(halfRows: r, d: d, s: sp.baseAddress!, g: gp.baseAddress!,
                                                        norms: np.baseAddress!, path: path)
                        }
                    } }
                    g.withUnsafeBufferPointer { gp in nr.withUnsafeBufferPointer { np in dsv.withUnsafeMutableBufferPointer { dp in
                        VectorMath.readoutBackward(halfRows: 0..<h, d: d, s: sp.baseAddress!, g: gp.baseAddress!,
                                                   norms: np.baseAddress!, ds: dp.baseAddress!, path: path)
                    } } }
                }
                XCTAssertEqual(Self.bits(nv), Self.bits(nr), "norms, d = \(d), \(path)")
                XCTAssertEqual(Self.bits(gv), Self.bits(gr), "g, d = \(d), \(path)")
                XCTAssertEqual(Self.bits(dsv), Self.bits(dsr), "∂s, d = \(d), \(path)")
            }
        }
    }

    /// The epilogue (`ReconstructionLoss.reduce`: per gene block the dgemm, the trace partials and
    /// the gradient rows [∂W1 | ∂W2ᵀ] in one task) against `reduce_ref` (GraphST's shapes): ∂W2
    /// bitwise, ∂W1 the float32 of [Cᵀ | ∂W1]'s second half, the loss to 1e-13 (its traces are
    /// summed block by block), and the same loss bits on 1, 2 and 3 threads.
    func testReduceMatchesReference() {
        var rng = Xoshiro256(seed: 73)
        for (d, G) in [(64, 3000), (16, 150), (8, 9000), (64, 1)] {
            let ldct = 2 * d, L = ParameterLayout(genes: G, dim: d)
            let y = (0..<(40 * d)).map { _ in Double(rng.nextFloat() - 0.5) }
            var k = [Double](repeating: 0, count: d * d)          // K = YᵀY: symmetric, as in the model
            for i in 0..<d { for j in 0..<d { for r in 0..<40 { k[i * d + j] += y[r * d + i] * y[r * d + j] } } }
            let ct = (0..<(G * ldct)).map { _ in Double(rng.nextFloat() - 0.5) * 4 }
            let w2 = Self.random(d * G, scale: 0.05, rng: &rng)
            let params = L.pack(w1: Self.random(G * d, scale: 0.05, rng: &rng), w2: w2,
                                wb: [Float](repeating: 0, count: d * d), b: 0)
            let scale: Float = 2e-5, xx = 1234.5
            var dw0 = [Float](repeating: 0, count: d * G)
            let sse0 = ReconstructionLoss.reduce_ref(k: k, ct: ct, ldct: ldct, w2: w2, xNormSquared: xx, scale: scale,
                                                     dw2: &dw0, d: d, genes: G)
            var firstLoss: Double? = nil
            let gradW1 = (0..<(G * d)).map { Float(ct[($0 / d) * ldct + d + $0 % d]) }
            for threads in [1, 2, 3] {
                var grad = [Float](repeating: .nan, count: L.count)
                var w2d = [Double](repeating: .nan, count: d * G), kw2 = w2d
                let sse1 = ReconstructionLoss.reduce(k: k, ct: ct, ldct: ldct, w12: params, xNormSquared: xx, scale: scale,
                                                     dw12: &grad, w2d: &w2d, kw2: &kw2, d: d, genes: G,
                                                     pool: ThreadPool(threads: threads))
                XCTAssertEqual(Self.bits(L.values(of: .w1, in: grad)), Self.bits(gradW1), "∂W1, d = \(d), G = \(G), \(threads) threads")
                // The traces are summed per fixed gene block (the same bits for every thread
                // count, checked against the first), not in reduce_ref's single chain.
                XCTAssertEqual(sse1, sse0, accuracy: 1e-13 * (abs(sse0) + xx), "loss, d = \(d), G = \(G), \(threads) threads")
                XCTAssertEqual(Self.bits(L.values(of: .w2, in: grad)), Self.bits(dw0), "∂W2, d = \(d), G = \(G), \(threads) threads")
                if let first = firstLoss { XCTAssertEqual(sse1.bitPattern, first.bitPattern, "loss bits, \(threads) threads") }
                firstLoss = firstLoss ?? sse1
            }
        }
    }

    /// The epilogue's per-gene C loop (`VectorMath.epilogueRows`, every SIMD path) and its widening
    /// of W2ᵀ (`Sparse.storeAsDouble` per row) give the bits of the Swift loop `rows_ref`: trace lanes and the
    /// gradient rows, for one float64 source (one rank), float64 + float32 (the split epilogue's
    /// received rows) and three sources, d = 8 and 64.
    func testEpilogueRowsEveryPathMatchesTheSwiftLoop() {
        var rng = Xoshiro256(seed: 75)
        for d in [8, 64] {
            let genes = 37, ldct = 2 * d + 8, ldo = 2 * d
            let w2t = Self.random(genes * 2 * d, scale: 0.3, rng: &rng)              // rows of [W1 | W2ᵀ]
            let kw = (0..<(genes * d)).map { _ in Double(rng.nextFloat() - 0.5) * 3 }
            let s64 = (0..<(genes * ldct)).map { _ in Double(rng.nextFloat() - 0.5) * 7 }
            let s32a = Self.random(genes * ldct, scale: 2, rng: &rng), s32b = Self.random(genes * ldct, scale: 5, rng: &rng)
            s64.withUnsafeBufferPointer { a in s32a.withUnsafeBufferPointer { b in s32b.withUnsafeBufferPointer { c in
            kw.withUnsafeBufferPointer { kwp in w2t.withUnsafeBufferPointer { wt in
                var w = [Double](repeating: 0, count: genes * d)
                for j in 0..<genes { for e in 0..<d { w[j * d + e] = Double(wt[j * 2 * d + d + e]) } }
                let kinds: [[ReconstructionLoss.Source]] = [[.float64(a.baseAddress!)],
                                                            [.float64(a.baseAddress!), .float32(b.baseAddress!)],
                                                            [.float32(c.baseAddress!), .float64(a.baseAddress!), .float32(b.baseAddress!)]]
                for sources in kinds {
                    var klr = SIMD8<Double>(repeating: 0.5), wlr = SIMD8<Double>(repeating: -0.25)
                    var outR = [Float](repeating: .nan, count: genes * ldo)
                    w.withUnsafeBufferPointer { wp in
                        ReconstructionLoss.rows_ref(genes, d: d, w: wp.baseAddress!, kw: kwp.baseAddress!, sources: sources,
                                                    ldct: ldct, scale: 3e-5, out: &outR, ldo: ldo, kl: &klr, wl: &wlr)
                    }
                    for path in Sparse.Path.allCases where path.rawValue <= Sparse.supportedPath.rawValue {
                        var wv = [Double](repeating: .nan, count: genes * d)
                        wv.withUnsafeMutableBufferPointer { o in
                            for j in 0..<genes { Sparse.storeAsDouble(wt.baseAddress! + j * 2 * d + d, o.baseAddress! + j * d, count: d) }
                        }
                        XCTAssertEqual(wv.map(\.bitPattern), w.map(\.bitPattern), "widen, d = \(d), \(path)")
                        var lanes = [Double](repeating: 0.5, count: 8) + [Double](repeating: -0.25, count: 8)
                        var out = [Float](repeating: .nan, count: genes * ldo)
                        let ptrs: [UnsafeRawPointer?] = sources.map {
                            switch $0 { case .float64(let p): return UnsafeRawPointer(p); case .float32(let p): return UnsafeRawPointer(p) }
                        }
                        let flags: [UInt8] = sources.map { if case .float32 = $0 { return 1 } else { return 0 } }
                        lanes.withUnsafeMutableBufferPointer { l in
                            VectorMath.epilogueRows(genes, d: d, w: wv, kw: kwp.baseAddress!, sources: ptrs, isFloat32: flags,
                                                    count: sources.count, ldct: ldct, scale: 3e-5, out: &out, ldo: ldo,
                                                    kl: l.baseAddress!, wl: l.baseAddress! + 8, path: path)
                        }
                        let tag = "d = \(d), \(sources.count) sources, \(path)"
                        XCTAssertEqual(Self.bits(out), Self.bits(outR), "rows, " + tag)
                        XCTAssertEqual(lanes[0..<8].map(\.bitPattern), (0..<8).map { klr[$0].bitPattern }, "kl, " + tag)
                        XCTAssertEqual(lanes[8..<16].map(\.bitPattern), (0..<8).map { wlr[$0].bitPattern }, "wl, " + tag)
                    }
                }
            } } } } }
        }
    }

    /// `BCEWithLogits`' C kernels (every SIMD path, ranges of whole spots as the pool cuts them)
    /// give the bits of the Swift loop `terms_ref`; and those numbers are the softplus and sigmoid
    /// to float precision (against float64 libm) over logits from 1e-9 to ±200, zero, and both signs.
    func testBCETermsEveryPathMatchesTheSwiftLoopAndFloat64() {
        var rng = Xoshiro256(seed: 74)
        var logits = [Float]()
        for q in 0..<(4 * 517) {
            let mag = pow(10, Float(q % 23) / 2 - 9) * (1 + rng.nextFloat())      // 1e-9 … ~4e2
            logits.append(q % 7 == 0 ? 0 : (rng.nextFloat() < 0.5 ? -mag : mag))
        }
        logits[5] = 0.8814; logits[6] = -0.8814                                  // t ≈ √2 − 1: both sides of the branch
        logits[9] = 200; logits[10] = -200; logits[11] = -.leastNonzeroMagnitude
        let w: Float = 1.5e-4
        let (tr, dr) = BCEWithLogits.terms_ref(logits: logits, weight: w)
        for (q, s) in logits.enumerated() {
            let x = Double(s), label = q % 2 == 0 ? 1.0 : 0.0
            let v = label == 1 ? -x : x
            let sp = max(v, 0) + log1p(exp(-abs(x)))
            XCTAssertEqual(Double(tr[q]), sp, accuracy: 4e-7 * sp + 1e-30, "softplus term at s = \(s)")
            let sg = 1 / (1 + exp(-x))
            XCTAssertEqual(Double(dr[q]), Double(w) * (sg - label), accuracy: Double(w) * 2e-7 + 1e-30, "∂logit at s = \(s)")
        }
        for path in Sparse.Path.allCases where path.rawValue <= Sparse.supportedPath.rawValue {
            var tv = [Float](repeating: .nan, count: logits.count), dv = tv
            logits.withUnsafeBufferPointer { lp in tv.withUnsafeMutableBufferPointer { tp in dv.withUnsafeMutableBufferPointer { dp in
                for r in [0..<(4 * 3), (4 * 3)..<(4 * 300), (4 * 300)..<logits.count] {
                    VectorMath.bceTerms(values: r, logits: lp.baseAddress!, weight: w, terms: tp.baseAddress!,
                                        dlogits: dp.baseAddress!, path: path)
                }
            } } }
            XCTAssertEqual(Self.bits(tv), Self.bits(tr), "terms, \(path)")
            XCTAssertEqual(Self.bits(dv), Self.bits(dr), "∂logits, \(path)")
        }
        // The sums: per 256-spot block in spot order, then the blocks in order, on any pool.
        let n = logits.count / 4
        var expected = [Double](repeating: 0, count: 4)
        for b in stride(from: 0, to: n, by: ThreadPool.rowBlock) {
            var part = [Double](repeating: 0, count: 4)
            for i in b..<min(n, b + ThreadPool.rowBlock) { for j in 0..<4 { part[j] += Double(tr[4 * i + j]) } }
            for j in 0..<4 { expected[j] += part[j] }
        }
        for threads in [1, 2, 3] {
            var sums = [Double](repeating: .nan, count: 4), dl = [Float](repeating: .nan, count: logits.count)
            BCEWithLogits.forwardBackward(logits: logits, weight: w, n: n, sums: &sums, dlogits: &dl,
                                          pool: ThreadPool(threads: threads))
            XCTAssertEqual(sums.map(\.bitPattern), expected.map(\.bitPattern), "sums, \(threads) threads")
            XCTAssertEqual(Self.bits(dl), Self.bits(dr), "∂logits, \(threads) threads")
        }
    }
}
