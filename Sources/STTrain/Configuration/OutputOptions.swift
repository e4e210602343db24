import ArgumentParser
import STCore
import STComm

/// Where a run writes and how it reports and checkpoints: the remaining options of `run`, the
/// `output` section of the configuration.
public struct OutputOptions: ConfigurationSection {
    @Option(name: .long, help: ArgumentHelp("Output directory.", valueName: "dir"))
    public var output: String = "stgnn-out"

    @Option(name: .long, help: "A progress line every N epochs (rank 0, stderr); a bar when stderr is a terminal.")
    public var progressEvery: Int = 50

    @Option(name: .long, help: "Write a checkpoint every N epochs and at the last one (0: only when stopped by a signal).")
    public var checkpointEvery: Int = 0

    @Option(name: .long, help: "Checkpoints to keep in DIR/checkpoints (the newest).")
    public var keepCheckpoints: Int = 2

    @Option(name: .long, help: ArgumentHelp("Continue from a checkpoint: 'latest' (DIR/checkpoints/latest), a .ckpt file, a directory with a 'latest' pointer, or 'auto' (for requeued jobs: the newest intact checkpoint in DIR/checkpoints if there is one, skipping corrupt ones, else a fresh start). --epochs stays the total.", valueName: "auto|latest|path"))
    public var resume: String?

    @Flag(name: .long, help: "Replace the outputs of another run in DIR (removed first); without it such a folder is refused unless --resume continues that run.")
    public var overwrite = false

    @Option(name: .long, help: ArgumentHelp("Threads within each rank, for the sparse kernels, the per-spot loops and the d×d products (default: $STGNN_THREADS, else the cores this rank may run on, shared among the ranks on its node). Never changes a number.", valueName: "n"))
    public var threads: Int?

    /// `threads`, or the default for this process (`ThreadPool.defaultThreads()`).
    public var resolvedThreads: Int { threads ?? ThreadPool.defaultThreads() }

    @Option(name: .long, help: ArgumentHelp("Memory one rank may use (e.g. 3G, 512M); default: the node's available memory (or its cgroup limit) shared by the ranks on the node. A run whose estimated peak exceeds it is refused before X is read.", valueName: "size"))
    public var maxMemory: String?

    @Option(name: .long, help: ArgumentHelp("Seconds a rank may wait for the others inside the training loop before the job is ended as stalled, naming the ranks that did not arrive, with a checkpoint of the last completed epoch written by a live rank (exit status 75). Default: 20 × the median epoch time, at least 60 s (600 s for the first 3 epochs); 0: no deadline.", valueName: "seconds"))
    public var stallTimeout: Double?

    @Option(name: .long, help: ArgumentHelp("Seconds a rank may wait for the others outside the training loop (reading the input, preprocessing, the graph, clustering, writing) before the job is ended as stalled, naming the ranks that did not arrive and the phase. Default: max(600 s, 1 ms per spot, the input's size at 20 MB/s); 0: no deadline (as is --stall-timeout 0).", valueName: "seconds"))
    public var setupTimeout: Double?

    public init() {}

    public func validate() throws {
        guard !output.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw ValidationError("--output needs a folder name (an empty one would write into the current folder)")
        }
        if let threads, threads < 1 { throw ValidationError("--threads must be at least 1") }
        if let maxMemory, MemoryEstimate.parse(maxMemory) == nil {
            throw ValidationError("--max-memory must be a size such as 4G, 512M or a number of bytes, not '\(maxMemory)'")
        }
        guard checkpointEvery >= 0 else { throw ValidationError("--checkpoint-every must be non-negative (0: only when stopped by a signal)") }
        guard keepCheckpoints >= 1 else { throw ValidationError("--keep-checkpoints must be at least 1") }
        if let stallTimeout, let problem = StallWatchdog.optionProblem(stallTimeout) { throw ValidationError(problem) }
        if let setupTimeout, let problem = StallWatchdog.optionProblem(setupTimeout, option: "--setup-timeout") { throw ValidationError(problem) }
        if let resume, resume.isEmpty { throw ValidationError("--resume needs 'latest' or a checkpoint path") }
    }
}
