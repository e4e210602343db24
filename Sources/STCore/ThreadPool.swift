import CSparseSIMD
import Foundation

/// Threads within a rank: a small persistent pool (Sources/CSparseSIMD/thread_pool.c; workers
/// spin briefly, then sleep) that runs numbered tasks on the calling thread and `threads − 1`
/// workers.
///
/// Determinism rule for every caller: work is cut into fixed blocks whose boundaries depend on the
/// problem only (`rowBlock` rows, the 4096-row float32 partials of a reduction, …), never on
/// `threads`; each task writes its own outputs, and sums over blocks are added afterwards in block
/// order. So every number is the same for 1, 2, 3, … threads; only the time changes.
public final class ThreadPool: @unchecked Sendable {
    /// Threads that run tasks (the caller included), ≥ 1.
    public let threads: Int
    private let handle: OpaquePointer?

    /// Rows per block of the row-parallel loops (fixed: results never depend on it anyway for
    /// row-wise work, and reductions use their own fixed blocks).
    public static let rowBlock = 256

    /// A pool of `threads` threads (the caller and `threads − 1` workers); 1 runs everything inline.
    public init(threads: Int) {
        precondition(threads >= 1, "ThreadPool needs at least one thread")
        let h = threads > 1 ? stgnn_pool_create(Int32(threads)) : nil
        self.threads = h == nil ? 1 : threads
        handle = h
    }

    deinit { if let handle { stgnn_pool_destroy(handle) } }

    /// The single-thread pool: runs every task inline on the caller.
    public static let serial = ThreadPool(threads: 1)

    /// Runs body(t) for t in 0..<tasks, each once, on the caller and the workers; returns when all
    /// are done. Tasks must write disjoint outputs. Not reentrant (no nested `run` on one pool).
    public func run(tasks: Int, _ body: (Int) -> Void) {
        if tasks <= 0 { return }
        guard let handle, tasks > 1 else {
            for t in 0..<tasks { body(t) }
            return
        }
        withoutActuallyEscaping(body) { esc in
            var box: (Int) -> Void = esc
            withUnsafeMutablePointer(to: &box) { ctx in
                stgnn_pool_run(handle, tasks, { ctx, t in
                    ctx!.assumingMemoryBound(to: ((Int) -> Void).self).pointee(t)
                }, UnsafeMutableRawPointer(ctx))
            }
        }
    }

    /// Runs body(range) over 0..<count cut into fixed blocks of `block` rows (the last one shorter).
    public func forEachBlock(count: Int, block: Int = ThreadPool.rowBlock, _ body: (Range<Int>) -> Void) {
        if count <= 0 { return }
        let blocks = (count + block - 1) / block
        run(tasks: blocks) { b in body((b &* block)..<Swift.min(count, (b &+ 1) &* block)) }
    }

    /// The threads a rank should use when not told: `STGNN_THREADS` if set (the launcher's
    /// cores ÷ ranks per node); else the CPUs of the process's affinity mask when the launcher
    /// bound it to fewer than all (mpirun --bind-to …); else the online CPUs divided by the ranks
    /// on this node (`OMPI_COMM_WORLD_LOCAL_SIZE`, `MPI_LOCALNRANKS`, `SLURM_NTASKS_PER_NODE`), so
    /// that ranks × threads never exceeds the cores. At least 1.
    public static func defaultThreads(environment env: [String: String] = ProcessInfo.processInfo.environment) -> Int {
        if let s = env["STGNN_THREADS"], let n = Int(s), n >= 1 { return n }
        let mask = Int(stgnn_affinity_cpus()), online = Int(stgnn_online_cpus())
        if mask < online { return Swift.max(1, mask) }
        let local = ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS", "SLURM_NTASKS_PER_NODE"]
            .lazy.compactMap { env[$0].flatMap { Int($0) } }.first ?? 1
        return Swift.max(1, mask / Swift.max(1, local))
    }

    /// Number of blocks of `block` rows covering `count` rows.
    public static func blockCount(_ count: Int, block: Int = ThreadPool.rowBlock) -> Int {
        count <= 0 ? 0 : (count + block - 1) / block
    }
}
