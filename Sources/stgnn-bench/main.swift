import Foundation
import STCore
import STComm

/// stgnn-bench: figures for docs/PERFORMANCE.md. Prints Markdown tables; never asserts anything.
let usage = """
usage: stgnn-bench <mode> [options]

modes:
  kernels        per-kernel GFLOP/s of the sparse kernels on the slide's own X, Â, M, against OpenBLAS
                 sgemm of comparable shapes (same run, interleaved repetitions, median and best)
  epoch          per-phase breakdown of one training epoch and achieved GFLOP/s against the
                 DESIGN §2 floor (2 passes × nnz(X) × 2d multiply-adds); runs under mpirun too
  memory         one case: set up, train --epochs epochs, print a RESULT line with RSS figures
  memory-sweep   every memory case in its own process (real slide, synthetic 10k–500k spots with
                 300 genes, Visium-HD-like 10k–500k spots with 1000 genes and ≈ 88 counts per spot)
  all            kernels and epoch on the same slide

options:
  --input FILE       .h5ad slide (default \(defaultInput))
  --spots N          use the built-in synthetic slide with N spots instead of --input
  --genes G          synthetic genes (default 300)
  --library L        synthetic mean library size (default 2000; ~100 gives a sparse HD-like slide)
  --n-top-genes K    HVG count for --input (default 3000)
  --dim D            latent width d, a positive multiple of 8 (default 64)
  --reps R           kernels: interleaved repetitions (default 15)
  --min-ms T         kernels: minimum milliseconds per sample (default 20)
  --warmup W         epoch: warm-up epochs (default 3)
  --epochs E         epoch: epochs per round (default 10); memory: epochs (default 3)
  --rounds R         epoch: rounds, each one plain and one instrumented block (default 5)
  --max-spots N      memory-sweep: skip synthetic cases larger than N
  --no-real          memory-sweep: skip the real slide
  --no-baseline      kernels: skip the seed kernels
"""

func main() throws {
    let args = CommandLine.arguments
    guard args.count >= 2, !["-h", "--help", "help"].contains(args[1]) else {
        print(usage)
        return
    }
    let mode = args[1]
    let o = try Options(args.dropFirst(2))
    switch mode {
    case "kernels", "epoch", "all":
        let comm = makeCommunicator()
        if comm.isRoot { print(machineLine()) }
        let w = try Workload.from(o, comm: comm)
        if comm.isRoot { print("setup (read, partition, preprocess, graph, model): \(fmt(w.setupSeconds, 2)) s\n") }
        if mode != "epoch" {
            guard comm.size == 1 else { throw BenchError("kernels runs on one process (it measures one rank's kernels)") }
            KernelBench(workload: w, reps: try o.int("reps", 15), minSeconds: try o.double("min-ms", 20) / 1000,
                        withBaseline: !o.has("no-baseline")).run()
        }
        if mode != "kernels" {
            EpochBench(workload: w, warmup: try o.int("warmup", 3), epochs: try o.int("epochs", 10),
                       rounds: try o.int("rounds", 5)).run()
        }
    case "memory":
        try MemoryBench.measure(o)
    case "memory-sweep":
        print(machineLine())
        try MemoryBench.sweep(o)
    default:
        throw BenchError("unknown mode '\(mode)'\n\n\(usage)")
    }
}

do {
    try main()
} catch {
    FileHandle.standardError.write(Data("stgnn-bench: \(error)\n".utf8))
    exit(1)
}
