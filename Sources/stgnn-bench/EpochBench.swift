import Foundation
import STCore
import STComm
import STModel
import STTrain

/// Part (b): one training epoch (`GraphSTModel.lossAndGradient` + Adam) broken into phases with
/// the model's optional `PhaseTimer`, and the epoch's achieved GFLOP/s against the floor count of
/// DESIGN §2 (the two sparse passes over X, each nnz(X) × 2d multiply-adds).
struct EpochBench {
    let workload: Workload
    let warmup: Int
    let epochs: Int
    let rounds: Int
    /// Where to write the per-phase table as JSON (rank 0), nil for none.
    var jsonPath: String? = nil

    /// Flops of one phase of the epoch on a rank: everything counted, and the part in the work
    /// floor 8·nnz(X)·d + 16·N·d² (the two X passes; the n·d² discriminator products).
    struct PhaseFlops { var all: Double; var floor: Double }

    /// The flops of each instrumented phase, by the name `GraphSTModel` laps it under (unknown
    /// names count 0: the table then shows no rate for them).
    /// gramGenes, epilogueGenes: the genes this rank forms W2W2ᵀ and the epilogue for (all of G,
    /// or its own range when they are split over ranks: `GraphSTModel.ownGenes`).
    static func phaseFlops(_ name: String, nnzX: Int, nnzA: Int, nnzM: Int, n: Int, G: Int, d: Int,
                           gramGenes: Int? = nil, epilogueGenes: Int? = nil) -> PhaseFlops {
        let dd = Double(d), nn = Double(n), x = Double(nnzX), a = Double(nnzA), m = Double(nnzM), g = Double(G)
        let gg = Double(gramGenes ?? G), ge = Double(epilogueGenes ?? G)
        switch name {
        case let s where s.hasPrefix("weights"): return .init(all: 0, floor: 0)
        case let s where s.hasPrefix("X·"): return .init(all: 4 * x * dd + 2 * dd * dd * gg, floor: 4 * x * dd)  // W2W2ᵀ beside
        case let s where s.hasPrefix("Xᵀ·") && s.contains("epilogue"):     // one rank: the epilogue in its tasks
            return .init(all: 4 * x * dd + 2 * dd * dd * g, floor: 4 * x * dd)
        case let s where s.hasPrefix("Xᵀ·"): return .init(all: 4 * x * dd, floor: 4 * x * dd)
        case let s where s.hasPrefix("Â·[U"), let s where s.hasPrefix("Â·[∂Z"): return .init(all: 4 * a * dd, floor: 0)
        case let s where s.hasPrefix("Â·Z"), let s where s.hasPrefix("Â·∂Y"): return .init(all: 2 * a * dd, floor: 0)
        case let s where s.hasPrefix("readout backward"): return .init(all: 4 * nn * dd * dd + 2 * m * dd, floor: 4 * nn * dd * dd)
        case let s where s.hasPrefix("readout + logits"):
            return .init(all: 4 * m * dd + 4 * nn * dd * dd + 8 * nn * dd, floor: 4 * nn * dd * dd)
        case let s where s.hasPrefix("readout"): return .init(all: 4 * m * dd, floor: 0)
        case let s where s.hasPrefix("discriminator logits"): return .init(all: 4 * nn * dd * dd + 8 * nn * dd, floor: 4 * nn * dd * dd)
        case let s where s.hasPrefix("discriminator backward"): return .init(all: 8 * nn * dd * dd, floor: 8 * nn * dd * dd)
        case let s where s.hasPrefix("K = "), let s where s.hasPrefix("∂Y"): return .init(all: 2 * nn * dd * dd, floor: 0)
        case let s where s.hasPrefix("epilogue"): return .init(all: 2 * dd * dd * ge, floor: 0)
        default: return .init(all: 0, floor: 0)
        }
    }

    /// OpenBLAS sgemm (rows×G)·(G×2d) in GFLOP/s on this rank: best of 5 after a warm-up call.
    static func sgemmRate(n: Int, G: Int, d: Int) -> Double {
        let rows = Swift.max(1, Swift.min(n, 40_000_000 / Swift.max(G, 1))), w = 2 * d
        let a = UnsafeMutablePointer<Float>.allocate(capacity: rows * G), b = UnsafeMutablePointer<Float>.allocate(capacity: G * w)
        let c = UnsafeMutablePointer<Float>.allocate(capacity: rows * w)
        defer { a.deallocate(); b.deallocate(); c.deallocate() }
        var rng = Xoshiro256(seed: 9)
        for i in 0..<(rows * G) { a[i] = rng.nextFloat() - 0.5 }
        for i in 0..<(G * w) { b[i] = rng.nextFloat() - 0.5 }
        BLAS.sgemm(m: rows, n: w, k: G, a: a, lda: G, b: b, ldb: w, c: c, ldc: w)
        var best = Double.infinity
        for _ in 0..<5 {
            let t0 = PhaseTimer.now()
            BLAS.sgemm(m: rows, n: w, k: G, a: a, lda: G, b: b, ldb: w, c: c, ldc: w)
            best = Swift.min(best, Double(PhaseTimer.now() - t0) * 1e-9)
        }
        return 2 * Double(rows) * Double(G) * Double(w) / best * 1e-9
    }

    struct Report: Encodable {
        struct Phase: Encodable {
            var name: String
            var ms_per_epoch: Double
            var share: Double
            var gflop: Double
            var gflops: Double?
            var floor_gflop: Double
            var floor_ms_at_sgemm: Double
            var fraction_of_floor: Double?
        }
        var machine: String
        var workload: String
        var ranks: Int
        var spots: Int
        var genes: Int
        var nnz_x: Int
        var dim: Int
        var sgemm_gflops: Double
        var floor_gflop_per_epoch: Double
        var floor_ms_at_sgemm: Double
        var epoch_ms_median: Double
        var epoch_ms_min: Double
        var fraction_of_floor: Double
        var phases: [Phase]
        var note: String
    }

    /// Floating-point operations of one epoch on this rank (2 per multiply-add).
    struct FlopCount {
        /// X·[W1|W2ᵀ] and Xᵀ·[Y|∂U]: 2 passes × nnz(X) × 2d multiply-adds (the DESIGN §2 floor).
        var floor: Double
        /// Everything counted: X passes, Â products (widths 2d, d, d, 2d), M·[E|Ẽ] and its transpose
        /// (adds), the O(n·d²) dense products and the O(d²·G) replicated epilogue.
        var all: Double
    }

    static func flops(nnzX: Int, nnzA: Int, nnzM: Int, n: Int, G: Int, d: Int) -> FlopCount {
        let dd = Double(d)
        let floor = 2 * 2 * Double(nnzX) * 2 * dd
        let adj = 2 * Double(nnzA) * 6 * dd
        let mask = 2 * Double(nnzM) * 2 * dd + Double(nnzM) * 2 * dd
        let dense = 16 * Double(n) * dd * dd
        let replicated = 4 * dd * dd * Double(G)
        return FlopCount(floor: floor, all: floor + adj + mask + dense + replicated)
    }

    /// Median and best GFLOP/s of OpenBLAS sgemm (rows×genes)·(genes×width) on random operands,
    /// with OpenBLAS on `threads` threads (restored afterwards); ranks measure at the same time.
    static func sgemmRate(rows: Int, genes: Int, width: Int, threads: Int, comm: Communicator) -> (median: Double, best: Double) {
        let m = Swift.max(rows, 1), k = Swift.max(genes, 1)
        var rng = Xoshiro256(seed: 7)
        let a = (0..<(m * k)).map { _ in Float(rng.nextDouble()) }
        let b = (0..<(k * width)).map { _ in Float(rng.nextDouble()) }
        var c = [Float](repeating: 0, count: m * width)
        let saved = BLAS.threads
        BLAS.setThreads(threads)
        defer { BLAS.setThreads(saved) }
        var s = Sample()
        comm.barrier()
        for _ in 0..<7 {
            let t0 = PhaseTimer.now()
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                BLAS.sgemm(m: m, n: width, k: k, a: ap.baseAddress!, lda: k, b: bp.baseAddress!, ldb: width,
                           c: cp.baseAddress!, ldc: width)
            } } }
            s.add(Double(PhaseTimer.now() - t0) * 1e-9)
        }
        comm.barrier()
        let flops = 2 * Double(m) * Double(k) * Double(width)
        return (flops / s.median, flops / s.min)
    }

    func run() {
        let comm = workload.comm
        let model = workload.model
        let x = workload.x, g = workload.graph
        let fc = Self.flops(nnzX: x.nnz, nnzA: g.adj.nnz, nnzM: g.mask.nnz, n: x.rows, G: x.cols, d: model.layout.dim)
        let floorAll = comm.sum(fc.floor), allAll = comm.sum(fc.all)
        // The sgemm rate of this run (every rank at once, as in the epochs): the slowest rank's.
        let sgemm = -comm.max(-Self.sgemmRate(n: x.rows, G: x.cols, d: model.layout.dim))
        let trainer = Trainer(model: model, params: model.layout.initialise(seed: 41), lr: 1e-3, permutations: .seeded(41))
        for _ in 0..<warmup { trainer.step() }

        // Rounds alternate plain epochs (timer nil) and instrumented epochs, so the timer's own
        // overhead is measured in the same run.
        var plain = Sample(), timed = Sample()
        let timer = PhaseTimer()
        var adam = 0.0
        for _ in 0..<rounds {
            model.timer = nil
            comm.barrier()
            var t0 = PhaseTimer.now()
            for _ in 0..<epochs { trainer.step() }
            comm.barrier()
            plain.add(Double(PhaseTimer.now() - t0) * 1e-9 / Double(epochs))

            model.timer = timer
            comm.barrier()
            t0 = PhaseTimer.now()
            for _ in 0..<epochs {
                let before = timer.total
                let e0 = PhaseTimer.now()
                trainer.step()
                adam += Double(PhaseTimer.now() - e0) * 1e-9 - (timer.total - before)
            }
            comm.barrier()
            timed.add(Double(PhaseTimer.now() - t0) * 1e-9 / Double(epochs))
        }
        model.timer = nil
        let count = Double(rounds * epochs)
        // Slowest rank's time per phase.
        let mine = timer.seconds.map { $0 / count } + [adam / count]
        var per = mine
        per.withUnsafeMutableBufferPointer { comm.allreduceMax($0) }
        // And the fastest rank's (−max of −t): the gap is the imbalance, or waiting in a collective.
        var fastest = mine.map { -$0 }
        fastest.withUnsafeMutableBufferPointer { comm.allreduceMax($0) }
        let names = timer.names + ["Adam update + permutation"]
        let plainMed = comm.max(plain.median), plainMin = comm.max(plain.min), timedMed = comm.max(timed.median)
        let nnzAll = comm.sum(x.nnz)
        // Per-phase flops of the rank with the most (the slowest rank's work), all and floor.
        let own = model.ownGenes.count
        var pf = names.map { Self.phaseFlops($0, nnzX: x.nnz, nnzA: g.adj.nnz, nnzM: g.mask.nnz, n: x.rows, G: x.cols,
                                               d: model.layout.dim, gramGenes: model.splitsGram ? own : nil,
                                               epilogueGenes: model.splitsEpilogue ? own : nil) }.flatMap { [$0.all, $0.floor] }
        pf.withUnsafeMutableBufferPointer { comm.allreduceMax($0) }
        let floorRank = comm.max(fc.floor + 16 * Double(x.rows) * Double(model.layout.dim * model.layout.dim))
        // The work floor (the performance target): 8·nnz·d + 16·N·d² flops at the OpenBLAS sgemm
        // rate of this run's cores: every rank measures sgemm (n×G)·(G×2d) at the same time with
        // OpenBLAS on as many threads as the rank's pool, and the rates add up over ranks.
        let dd = Double(model.layout.dim), nAll = Double(comm.sum(x.rows))
        let workFloor = 8 * Double(nnzAll) * dd + 16 * nAll * dd * dd
        let rates = Self.sgemmRate(rows: x.rows, genes: x.cols, width: 2 * model.layout.dim,
                                   threads: model.pool.threads, comm: comm)
        let rateAll = comm.sum(rates.median), floorSeconds = workFloor / rateAll
        guard comm.isRoot else { return }

        print("## epoch breakdown: \(workload.label), \(comm.size) rank(s)")
        print("N = \(workload.spots) spots, G = \(workload.genes), nnz(X) = \(nnzAll) on all ranks (this rank \(x.nnz)), "
              + "d = \(model.layout.dim); \(warmup) warm-up epochs, then \(rounds) rounds × \(epochs) epochs "
              + "alternating plain and instrumented")
        print("")
        print("epoch time, plain (timer nil): median \(fmt(plainMed * 1000, 2)) ms, min \(fmt(plainMin * 1000, 2)) ms; "
              + "instrumented: median \(fmt(timedMed * 1000, 2)) ms (timer overhead \(fmt((timedMed / plainMed - 1) * 100, 1)) %)")
        print("floor count (2 passes × nnz(X) × 2d multiply-adds): \(fmt(floorAll * 1e-9, 3)) GFLOP/epoch → "
              + "\(fmt(floorAll / plainMed * 1e-9, 2)) GFLOP/s achieved (median epoch), \(fmt(floorAll / plainMin * 1e-9, 2)) best")
        print("all counted flops (X, Â, M, dense n·d², d²·G): \(fmt(allAll * 1e-9, 3)) GFLOP/epoch → "
              + "\(fmt(allAll / plainMed * 1e-9, 2)) GFLOP/s")
        print("threads per rank: \(model.pool.threads); work floor 8·nnz·d + 16·N·d² = \(fmt(workFloor * 1e-9, 3)) GFLOP "
              + "at the sgemm rate of this run (\(comm.size) rank(s) × \(model.pool.threads) OpenBLAS thread(s), sum of "
              + "per-rank medians \(fmt(rateAll * 1e-9, 1)) GFLOP/s) = \(fmt(floorSeconds * 1000, 2)) ms → fraction of the "
              + "floor reached \(fmt(floorSeconds / plainMed, 3)) (median epoch), \(fmt(floorSeconds / plainMin, 3)) (best); "
              + "epoch / floor = \(fmt(plainMed / floorSeconds, 2))×")
        print("")
        print("| phase (slowest rank) | ms/epoch | share | fastest rank ms |")
        print("|---|---:|---:|---:|")
        let sum = per.reduce(0, +)
        for (k, name) in names.enumerated() {
            print("| \(name) | \(fmt(per[k] * 1000, 3)) | \(fmt(per[k] / sum * 100, 1)) % | \(fmt(-fastest[k] * 1000, 3)) |")
        }
        print("| total (sum of phases) | \(fmt(sum * 1000, 2)) | | \(fmt(-fastest.reduce(0, +) * 1000, 2)) |")
        print("")

        // Per phase against the work floor 8·nnz·d + 16·N·d² at the sgemm rate of this run.
        var phases = [Report.Phase]()
        for (k, name) in names.enumerated() {
            let all = pf[2 * k], fl = pf[2 * k + 1], t = per[k]
            let floorT = fl / (sgemm * 1e9)
            phases.append(.init(name: name, ms_per_epoch: t * 1000, share: t / sum, gflop: all * 1e-9,
                                gflops: all > 0 && t > 0 ? all / t * 1e-9 : nil, floor_gflop: fl * 1e-9,
                                floor_ms_at_sgemm: floorT * 1000, fraction_of_floor: fl > 0 && t > 0 ? floorT / t : nil))
        }
        let floorT = floorRank / (sgemm * 1e9)
        print("### per phase against the floor (8·nnz(X)·d + 16·N·d² flops at sgemm \(fmt(sgemm, 1)) GFLOP/s, measured in this run)")
        print("floor on the busiest rank: \(fmt(floorRank * 1e-9, 3)) GFLOP/epoch = \(fmt(floorT * 1000, 2)) ms at sgemm; "
              + "median epoch \(fmt(plainMed * 1000, 2)) ms → \(fmt(floorT / plainMed * 100, 1)) % of the floor rate")
        print("")
        print("| phase (slowest rank) | ms/epoch | GFLOP/epoch | GFLOP/s | floor GFLOP | floor ms at sgemm | fraction of floor |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for ph in phases {
            print("| \(ph.name.replacingOccurrences(of: "|", with: "\\|")) | \(fmt(ph.ms_per_epoch, 3)) | \(fmt(ph.gflop, 4)) | \(ph.gflops.map { fmt($0, 1) } ?? "—") | "
                  + "\(fmt(ph.floor_gflop, 4)) | \(fmt(ph.floor_ms_at_sgemm, 3)) | \(ph.fraction_of_floor.map { fmt($0, 3) } ?? "—") |")
        }
        print("| epoch (median, plain) | \(fmt(plainMed * 1000, 3)) | \(fmt(allAll / Double(comm.size) * 1e-9, 4)) | "
              + "\(fmt(allAll / Double(comm.size) / plainMed * 1e-9, 1)) | \(fmt(floorRank * 1e-9, 4)) | \(fmt(floorT * 1000, 3)) | \(fmt(floorT / plainMed, 3)) |")
        print("")
        if let jsonPath {
            let r = Report(machine: machineLine(), workload: workload.label, ranks: comm.size, spots: workload.spots,
                           genes: workload.genes, nnz_x: nnzAll, dim: model.layout.dim, sgemm_gflops: sgemm,
                           floor_gflop_per_epoch: floorRank * 1e-9, floor_ms_at_sgemm: floorT * 1000,
                           epoch_ms_median: plainMed * 1000, epoch_ms_min: plainMin * 1000,
                           fraction_of_floor: floorT / plainMed, phases: phases,
                           note: "per rank: times and flops of the slowest/busiest rank; sgemm (n×G)·(G×2d), slowest rank, best of 5; "
                               + "fraction of floor = (floor flops / sgemm rate) / measured time")
            do { try jsonData(r).write(to: URL(fileURLWithPath: jsonPath)); print("wrote \(jsonPath)") } catch {
                print("stgnn-bench: cannot write \(jsonPath): \(error)")
            }
        }
    }
}
