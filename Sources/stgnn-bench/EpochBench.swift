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
        var per = timer.seconds.map { $0 / count } + [adam / count]
        per.withUnsafeMutableBufferPointer { comm.allreduceMax($0) }
        let names = timer.names + ["Adam update + permutation"]
        let plainMed = comm.max(plain.median), plainMin = comm.max(plain.min), timedMed = comm.max(timed.median)
        let nnzAll = comm.sum(x.nnz)
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
        print("| phase (slowest rank) | ms/epoch | share |")
        print("|---|---:|---:|")
        let sum = per.reduce(0, +)
        for (k, name) in names.enumerated() {
            print("| \(name) | \(fmt(per[k] * 1000, 3)) | \(fmt(per[k] / sum * 100, 1)) % |")
        }
        print("| total (sum of phases) | \(fmt(sum * 1000, 2)) | |")
        print("")
    }
}
