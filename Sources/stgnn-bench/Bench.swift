import ArgumentParser
import Foundation
import STCore
import STComm
import STCommMPI

/// stgnn-bench: figures for docs/PERFORMANCE.md. Prints Markdown tables; never asserts anything.
@main
struct Bench: ParsableCommand {
    enum Mode: String, CaseIterable, ExpressibleByArgument {
        case kernels, epoch, memory, memorySweep = "memory-sweep", all
    }

    static let configuration = CommandConfiguration(
        commandName: "stgnn-bench",
        abstract: "Figures for docs/PERFORMANCE.md (Markdown tables; never asserts anything).",
        discussion: """
        Modes:
          kernels: per-kernel GFLOP/s of the sparse kernels on the slide's own X, Â, M,
            against OpenBLAS sgemm of comparable shapes (interleaved repetitions).
          epoch: per-phase breakdown of one training epoch and achieved GFLOP/s against
            the DESIGN §2 floor; runs under mpirun too.
          memory: one case: set up, train --epochs epochs, print a RESULT line (RSS).
          memory-sweep: every memory case in its own process (real slide, synthetic
            10k–500k spots).
          all: kernels and epoch on the same slide.
        """)

    @Argument(help: "kernels, epoch, memory, memory-sweep or all.")
    var mode: Mode

    @OptionGroup var o: BenchOptions

    func run() {
        do {
            try measure()
            try MPIEnvironment.finalize()
        } catch {
            // Under mpirun the other ranks may wait in a collective: end the whole job.
            FileHandle.standardError.write(Data("stgnn-bench: \(error)\n".utf8))
            MPIEnvironment.abortJob(code: 1)
        }
    }

    func measure() throws {
        switch mode {
        case .kernels, .epoch, .all:
            let comm = try makeCommunicator()
            if comm.isRoot { print(machineLine()) }
            // Every wait has the stall watchdog's default deadline (StallWatchdog.outsideFloorSeconds).
            comm.watchdog?.enterPhase("the benchmark's set-up")
            let w = try Workload.from(o, comm: comm)
            comm.watchdog?.enterPhase("the benchmark")
            if comm.isRoot { print("setup (read, partition, preprocess, graph, model): \(fmt(w.setupSeconds, 2)) s\n") }
            if mode != .epoch {
                guard comm.size == 1 else { throw BenchError("kernels runs on one process (it measures one rank's kernels)") }
                KernelBench(workload: w, reps: o.reps, minSeconds: o.minMs / 1000, withBaseline: !o.noBaseline).run()
            }
            if mode != .kernels {
                w.model.pool = ThreadPool(threads: Swift.max(1, o.threads))
                EpochBench(workload: w, warmup: o.warmup, epochs: o.epochs ?? 10, rounds: o.rounds, jsonPath: o.json).run()
            }
        case .memory:
            try MemoryBench.measure(o)
        case .memorySweep:
            print(machineLine())
            try MemoryBench.sweep(o)
        }
    }
}
