import Foundation
import STCore
import STComm

/// Part (a): each sparse kernel of an epoch on the workload's own X, Â and M, against OpenBLAS
/// sgemm of comparable shapes, all measured in one run with the repetitions interleaved (kernel
/// 1, 2, …, then again), so that a noisy neighbour on a shared machine slows every kernel alike.
struct KernelBench {
    /// One timed operation.
    struct Case {
        let name: String
        /// Floating-point operations per call (2 per multiply-add).
        let flops: Double
        /// The sgemm this case is compared against (its name), nil for sgemm cases themselves.
        let reference: String?
        /// The seed kernel this case replaces (its name), for the same-run speed-up.
        let baselineOf: String?
        let body: () -> Void
        var calls = 1
        var seconds = Sample()
    }

    let workload: Workload
    let reps: Int
    let minSeconds: Double
    let withBaseline: Bool

    func run() {
        // X with 32-bit indices (the seed kernels' type); the 16-bit X the run holds is timed below.
        let x = workload.x.wideMatrix, adj = workload.graph.adj, mask = workload.graph.mask
        let n = x.rows, G = x.cols, nL = workload.graph.nLocal
        let w = 2 * workload.model.layout.dim, d = workload.model.layout.dim
        // Operands, kept until the report ends: 64-byte aligned (`AlignedFloats`), as the model's
        // activation arena and parameters are (a 64-byte vector row that straddles two cache lines
        // costs the kernels up to a third of their rate here).
        var operands = [AlignedFloats]()
        func random(_ count: Int, seed: UInt64) -> UnsafeMutablePointer<Float> {
            var rng = Xoshiro256(seed: seed)
            let a = AlignedFloats(count: count)
            for i in 0..<count { a.pointer[i] = rng.nextFloat() * 2 - 1 }
            operands.append(a)
            return a.pointer
        }
        let bG = random(G * w, seed: 1)              // G × 2d   ([W1 | W2ᵀ])
        let bN = random(nL * w, seed: 2)             // nL × 2d  ([Y | dU], [U | Ũ], [E | Ẽ])
        let cN = random(n * w, seed: 3)              // n × 2d outputs
        let c64 = UnsafeMutablePointer<Double>.allocate(capacity: G * w)
        c64.initialize(repeating: 0, count: G * w)
        var scratch = [Float]()
        var scratchSeed = [Float]()
        // Dense stand-in for X (a row block of it when n·G is large) for the sgemm references.
        let denseRows = Swift.min(n, Swift.max(1, 40_000_000 / Swift.max(G, 1)))
        let xDense = random(denseRows * G, seed: 4)
        let wSmall = random(d * d, seed: 5)
        let cSmall = random(n * d, seed: 6)
        let gemmOut = random(G * w, seed: 7)

        let nnzX = Double(x.nnz), nnzA = Double(adj.nnz), nnzM = Double(mask.nnz)
        var cases: [Case] = []
        cases.append(Case(name: "sgemm (n×G)·(G×2d)", flops: 2 * Double(denseRows) * Double(G) * Double(w),
                          reference: nil, baselineOf: nil) {
            BLAS.sgemm(m: denseRows, n: w, k: G, a: xDense, lda: G, b: bG, ldb: w, c: cN, ldc: w)
        })
        cases.append(Case(name: "sgemm (n×G)ᵀ·(n×2d)", flops: 2 * Double(denseRows) * Double(G) * Double(w),
                          reference: nil, baselineOf: nil) {
            BLAS.sgemm(transA: true, m: G, n: w, k: denseRows, a: xDense, lda: G, b: bN, ldb: w, c: gemmOut, ldc: w)
        })
        cases.append(Case(name: "sgemm (n×d)·(d×d)", flops: 2 * Double(n) * Double(d) * Double(d),
                          reference: nil, baselineOf: nil) {
            BLAS.sgemm(m: n, n: d, k: d, a: bN, lda: w, b: wSmall, ldb: d, c: cSmall, ldc: d)
        })
        let ref1 = "sgemm (n×G)·(G×2d)", ref2 = "sgemm (n×G)ᵀ·(n×2d)"
        // Each sparse kernel: the seed version, then every implementation path this CPU has.
        let paths = Sparse.Path.allCases.filter { $0.rawValue <= Sparse.supportedPath.rawValue }
        func sparseCases(_ kernel: String, flops: Double, reference: String,
                         seed: @escaping () -> Void, current: @escaping (Sparse.Path) -> Void) {
            let seedName = "\(kernel) [seed]"
            if withBaseline { cases.append(Case(name: seedName, flops: flops, reference: reference, baselineOf: nil, body: seed)) }
            for p in paths {
                cases.append(Case(name: "\(kernel) [\(p)]", flops: flops, reference: reference,
                                  baselineOf: withBaseline ? seedName : nil) { current(p) })
            }
        }
        sparseCases("spmm X·B w=2d", flops: 2 * nnzX * Double(w), reference: ref1,
                    seed: { BaselineSparse.spmm(x, bG, ldb: w, width: w, into: cN, ldc: w) },
                    current: { Sparse.spmm(x, bG, ldb: w, width: w, into: cN, ldc: w, path: $0) })
        sparseCases("spmmᵀ Xᵀ·B w=2d (f64 acc)", flops: 2 * nnzX * Double(w), reference: ref2,
                    seed: { BaselineSparse.spmmTransposedAccumulate(x, bN, ldb: w, width: w, into: c64, ldc: w, scratch: &scratchSeed) },
                    current: { Sparse.spmmTransposedAccumulate(x, bN, ldb: w, width: w, into: c64, ldc: w, scratch: &scratch, path: $0) })
        if case .narrow(let x16) = workload.x {
            for p in paths {
                cases.append(Case(name: "spmm X·B w=2d, 16-bit indices [\(p)]", flops: 2 * nnzX * Double(w),
                                  reference: ref1, baselineOf: "spmm X·B w=2d [\(p)]") {
                    Sparse.spmm(x16, bG, ldb: w, width: w, into: cN, ldc: w, path: p)
                })
                cases.append(Case(name: "spmmᵀ Xᵀ·B w=2d (f64 acc), 16-bit indices [\(p)]", flops: 2 * nnzX * Double(w),
                                  reference: ref2, baselineOf: "spmmᵀ Xᵀ·B w=2d (f64 acc) [\(p)]") {
                    Sparse.spmmTransposedAccumulate(x16, bN, ldb: w, width: w, into: c64, ldc: w, scratch: &scratch, path: p)
                })
            }
        }
        sparseCases("spmm Â·V w=2d", flops: 2 * nnzA * Double(w), reference: ref1,
                    seed: { BaselineSparse.spmm(adj, bN, ldb: w, width: w, into: cN, ldc: w) },
                    current: { Sparse.spmm(adj, bN, ldb: w, width: w, into: cN, ldc: w, path: $0) })
        sparseCases("spmm Â·V w=d (ld 2d)", flops: 2 * nnzA * Double(d), reference: ref1,
                    seed: { BaselineSparse.spmm(adj, bN, ldb: w, width: d, into: cN, ldc: w) },
                    current: { Sparse.spmm(adj, bN, ldb: w, width: d, into: cN, ldc: w, path: $0) })
        sparseCases("spmm M·E w=2d", flops: 2 * nnzM * Double(w), reference: ref1,
                    seed: { BaselineSparse.spmm(mask, bN, ldb: w, width: w, into: cN, ldc: w) },
                    current: { Sparse.spmm(mask, bN, ldb: w, width: w, into: cN, ldc: w, path: $0) })
        // The layouts built once per run (X is fixed): X in column blocks for X·B, and the gather
        // form of Xᵀ·B in one pass per 4096-row block against sub-blocks of rows (both bitwise
        // equal to the kernels above; "speed-up" here is against the plain kernel, same path).
        let xBlocks = ColumnBlocks(x, block: ColumnBlockSize.columns(width: w))
        for p in paths {
            cases.append(Case(name: "spmm X·B w=2d, \(xBlocks.blocks.count) column blocks [\(p)]", flops: 2 * nnzX * Double(w),
                              reference: ref1, baselineOf: "spmm X·B w=2d [\(p)]") {
                xBlocks.multiply(bG, ldb: w, width: w, into: cN, ldc: w, path: p)
            })
        }
        let xTOne = TransposedBlocks(x, subBlock: 4096), xTSub = TransposedBlocks(x)
        let sub = TransposedBlocks<Int32>.defaultSubBlock
        cases.append(Case(name: "Xᵀ·B gather w=2d (f64 acc), one pass per 4096 rows", flops: 2 * nnzX * Double(w),
                          reference: ref2, baselineOf: nil) {
            xTOne.accumulate(bN, ldb: w, width: w, into: c64, ldc: w, scratch: &scratch)
        })
        cases.append(Case(name: "Xᵀ·B gather w=2d (f64 acc), sub-blocks of \(sub) rows", flops: 2 * nnzX * Double(w),
                          reference: ref2, baselineOf: "Xᵀ·B gather w=2d (f64 acc), one pass per 4096 rows") {
            xTSub.accumulate(bN, ldb: w, width: w, into: c64, ldc: w, scratch: &scratch)
        })

        // The same two layouts in the model's index width when X's genes fit 16 bits (what an epoch runs).
        if case .narrow(let x16) = workload.x {
            let b16 = ColumnBlocks(x16, block: ColumnBlockSize.columns(width: w)), t16 = TransposedBlocks(x16)
            cases.append(Case(name: "spmm X·B w=2d, \(b16.blocks.count) column blocks, 16-bit indices", flops: 2 * nnzX * Double(w),
                              reference: ref1, baselineOf: nil) {
                b16.multiply(bG, ldb: w, width: w, into: cN, ldc: w)
            })
            cases.append(Case(name: "Xᵀ·B gather w=2d (f64 acc), sub-blocks of \(sub) rows, 16-bit indices", flops: 2 * nnzX * Double(w),
                              reference: ref2, baselineOf: nil) {
                t16.accumulate(bN, ldb: w, width: w, into: c64, ldc: w, scratch: &scratch)
            })
            for cb in [128, 256, 384, 512] where cb != b16.blocks.first?.part.cols {   // the default is above
                let bb = ColumnBlocks(x16, block: cb)
                cases.append(Case(name: "spmm X·B w=2d, 16-bit, column blocks of \(cb) genes", flops: 2 * nnzX * Double(w),
                                  reference: ref1, baselineOf: nil) {
                    bb.multiply(bG, ldb: w, width: w, into: cN, ldc: w)
                })
            }
            for (ob, sb) in [(128, 256), (384, 128)] {          // (the default, 256 and 128, is above)
                let t = TransposedBlocks(x16, subBlock: sb, outputBlock: ob)
                cases.append(Case(name: "Xᵀ·B gather, 16-bit, \(ob) genes per task, sub-blocks of \(sb)", flops: 2 * nnzX * Double(w),
                                  reference: ref2, baselineOf: nil) {
                    t.accumulate(bN, ldb: w, width: w, into: c64, ldc: w, scratch: &scratch)
                })
            }
        }

        // Calibrate: enough calls per sample for `minSeconds` (after one warm-up call each).
        for k in cases.indices {
            cases[k].body()
            let t0 = PhaseTimer.now()
            cases[k].body()
            let one = Swift.max(Double(PhaseTimer.now() - t0) * 1e-9, 1e-7)
            cases[k].calls = Swift.max(1, Int((minSeconds / one).rounded(.up)))
        }
        // Interleaved repetitions.
        for _ in 0..<reps {
            for k in cases.indices {
                let t0 = PhaseTimer.now()
                for _ in 0..<cases[k].calls { cases[k].body() }
                cases[k].seconds.add(Double(PhaseTimer.now() - t0) * 1e-9 / Double(cases[k].calls))
            }
        }

        // Report.
        let byName = Dictionary(uniqueKeysWithValues: cases.enumerated().map { ($1.name, $0) })
        print("## kernels: \(workload.label)")
        print("n = \(n) spots, G = \(G) genes, nnz(X) = \(x.nnz) (\(fmt(nnzX / Double(Swift.max(n, 1)), 1))/spot), "
              + "nnz(Â) = \(adj.nnz), nnz(M) = \(mask.nnz), d = \(d); \(reps) interleaved repetitions, "
              + "≥ \(fmt(minSeconds * 1000, 0)) ms per sample; sgemm stand-in for X: \(denseRows) rows")
        print("")
        print("default path: \(Sparse.defaultPath) (supported: \(Sparse.supportedPath)); speed-up = seed time (or the plain layout's, for the column blocks and sub-blocks) / this time, median of per-repetition ratios")
        print("")
        print("| kernel [path] | GFLOP/s median | GFLOP/s best | ms/call median | ms/call min | × sgemm (median of per-rep ratios) | speed-up vs seed |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for c in cases {
            let gMed = c.flops / c.seconds.median * 1e-9, gBest = c.flops / c.seconds.min * 1e-9
            var ratio = "—"
            if let r = c.reference, let rk = byName[r] {
                let ref = cases[rk]
                var rs = Sample()
                for i in 0..<reps {
                    rs.add((c.flops / c.seconds.values[i]) / (ref.flops / ref.seconds.values[i]))
                }
                ratio = fmt(rs.median, 3) + " (vs \(r))"
            }
            var speedup = "—"
            if let b = c.baselineOf, let bk = byName[b] {
                var rs = Sample()
                for i in 0..<reps { rs.add(cases[bk].seconds.values[i] / c.seconds.values[i]) }
                speedup = fmt(rs.median, 2) + "×"
            }
            print("| \(c.name) | \(fmt(gMed, 1)) | \(fmt(gBest, 1)) | \(fmt(c.seconds.median * 1000, 3)) | "
                  + "\(fmt(c.seconds.min * 1000, 3)) | \(ratio) | \(speedup) |")
        }
        print("")
        withExtendedLifetime(operands) {}      // the raw pointers above were into these
    }
}
