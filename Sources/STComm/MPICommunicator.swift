import CMPI
import STCore
#if canImport(Glibc)
import Glibc
#endif

// The only file besides the CMPI shim that talks to MPI. Open MPI's handles (MPI_COMM_WORLD,
// MPI_DOUBLE, ...) are macros over global objects, so they come from the `stmpi_*` getters.
//
// Counts: MPI counts and displacements are C `int`. Every call here splits its payload into
// messages of at most `maxElementsPerMessage` elements and at most `maxBytesPerMessage` bytes
// (both 2^30 by default), so any 64-bit payload size works, and no message exceeds 1 GiB (large
// messages are a rarely exercised path in several transports).

/// Process-wide MPI state: initialisation, launcher detection, finalisation.
///
/// `makeCommunicator()` is the one entry point the executable uses. MPI is initialised (once) only
/// when the process was started by an MPI launcher (mpirun/mpiexec, or srun with PMI/PMIx), or when
/// `STGNN_COMM=mpi` asks for it (an MPI "singleton" of one rank). A plain `stgnn-dist ...` without
/// a launcher never touches MPI and gets a `SingleProcessCommunicator`.
public enum MPIEnvironment {
    /// Environment variables set by MPI launchers for every rank they start.
    ///
    /// `OMPI_COMM_WORLD_SIZE`: Open MPI's mpirun. `PMIX_RANK`: PMIx launchers (Open MPI ≥ 4, Slurm
    /// `srun --mpi=pmix`). `PMI_RANK`/`PMI_SIZE`: PMI-1/2 launchers (MPICH Hydra, `srun --mpi=pmi2`).
    public static let launcherVariables = ["OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"]

    /// True when one of `launcherVariables` is set: this process is one rank of an MPI job.
    public static var launchedByMPILauncher: Bool {
        launcherVariables.contains { getenv($0) != nil }
    }

    /// True once MPI_Init has run (by this process, in any module).
    public static var isInitialized: Bool {
        var flag: Int32 = 0
        MPI_Initialized(&flag)
        return flag != 0
    }

    /// True once MPI_Finalize has run.
    public static var isFinalized: Bool {
        var flag: Int32 = 0
        MPI_Finalized(&flag)
        return flag != 0
    }

    /// The communicator of this job: MPI when launched by an MPI launcher, else one process.
    ///
    /// `STGNN_COMM` overrides the detection: `single` never initialises MPI (each process is an
    /// independent one-rank job), `mpi` always does (without a launcher that is an Open MPI
    /// singleton of one rank, useful to exercise the MPI path without mpirun), `auto` (default)
    /// detects. Safe to call more than once; MPI is initialised once and each call returns a new
    /// communicator over a duplicate of MPI_COMM_WORLD. In `auto` mode a multi-task srun step
    /// without MPI wiring is refused (exit 2) rather than run as N independent copies.
    public static func makeCommunicator() -> Communicator {
        let mode = getenv("STGNN_COMM").map { String(cString: $0).lowercased() } ?? "auto"
        let useMPI: Bool
        switch mode {
        case "single": useMPI = false
        case "mpi": useMPI = true
        default:
            useMPI = launchedByMPILauncher || isInitialized
            if !useMPI { refuseUnwiredSrunStep() }
        }
        guard useMPI else { return SingleProcessCommunicator() }
        initialize()
        return MPICommunicator(duplicating: stmpi_comm_world())
    }

    /// Ends the process when Slurm's srun started several tasks without any MPI wiring.
    ///
    /// `srun --mpi=none` (or a Slurm without PMI/PMIx support) starts N copies that would each
    /// train the whole slide as rank 0 of 1 and overwrite each other's outputs. Task 0 says so;
    /// all tasks exit with status 2. `STGNN_COMM=single` skips this check.
    static func refuseUnwiredSrunStep() {
        guard let t = getenv("SLURM_STEP_NUM_TASKS"), let tasks = Int(String(cString: t)), tasks > 1 else { return }
        if getenv("SLURM_PROCID").map({ String(cString: $0) }) ?? "0" == "0" {
            fputs("stgnn-dist: error: srun started \(tasks) tasks but none has an MPI (PMI/PMIx) environment; "
                  + "run with `srun --mpi=pmix` (see `srun --mpi=list`) or mpirun, or set STGNN_COMM=single "
                  + "for independent one-process runs\n", stderr)
        }
        exit(2)
    }

    /// Initialises MPI if it is not yet initialised (MPI_THREAD_SERIALIZED).
    ///
    /// SERIALIZED rather than FUNNELED: MPI calls may come from any one thread at a time (an async
    /// `main` hops between threads), never concurrently. Open MPI adds no locking below
    /// MPI_THREAD_MULTIPLE, so this costs nothing. Errors on MPI_COMM_WORLD stay fatal (the default
    /// handler): a failed MPI call ends the job rather than returning a code nobody checks.
    public static func initialize() {
        guard !isInitialized else { return }
        var provided: Int32 = 0
        MPI_Init_thread(nil, nil, stmpi_thread_serialized(), &provided)
        MPI_Comm_set_errhandler(stmpi_comm_world(), stmpi_errors_are_fatal())
    }

    /// Finalises MPI if it was initialised and not yet finalised; a no-op otherwise.
    ///
    /// Call it on every rank at the end of a successful run, before returning from `main`.
    /// MPI_Finalize synchronises all ranks in Open MPI, so it is deliberately not registered with
    /// `atexit`: an `exit(1)` on one rank would then wait for ranks that never arrive. Error paths
    /// use `failJob`, which aborts the whole job instead; a rank that exits without finalising is
    /// also treated by mpirun as a failed job (all ranks killed, non-zero exit).
    public static func finalize() {
        guard isInitialized, !isFinalized else { return }
        MPI_Finalize()
    }

    /// Ends every rank of the job with `code`: MPI_Abort when MPI is active, else `exit`.
    public static func abortJob(code: Int32) -> Never {
        fflush(nil)
        if isInitialized && !isFinalized {
            MPI_Abort(stmpi_comm_world(), code)
        }
        _exit(code)
    }
}

/// The job's communicator for this process (see `MPIEnvironment.makeCommunicator()`).
public func makeCommunicator() -> Communicator { MPIEnvironment.makeCommunicator() }

/// `Communicator` over Open MPI: one rank of an MPI job.
///
/// Wraps a duplicate of MPI_COMM_WORLD, so the project's messages never match a library's.
/// Collectives must be called by every rank in the same order with matching sizes (MPI's rules);
/// in debug builds `exchange` checks that the send and receive counts of every pair agree.
public final class MPICommunicator: Communicator {
    public let rank: Int
    public let size: Int
    /// The duplicated communicator all calls go through.
    public let comm: MPI_Comm

    /// Largest element count of one MPI message (a C `int`); payloads above are split.
    public var maxElementsPerMessage: Int = 1 << 30 {
        didSet { precondition(maxElementsPerMessage >= 1 && maxElementsPerMessage <= Int(Int32.max)) }
    }
    /// Largest byte size of one MPI message; payloads above are split.
    public var maxBytesPerMessage: Int = 1 << 30 {
        didSet { precondition(maxBytesPerMessage >= 1) }
    }
    /// When true, `exchange` first does an MPI_Alltoall of the counts and ends the job with a
    /// message if rank r's send count to s differs from s's receive count from r (which would
    /// otherwise hang or truncate). On in debug builds; costs one O(P) all-to-all per exchange.
    public var checksExchangeCounts: Bool

    /// Contiguous MPI datatypes of `n` bytes, created on first use (key: element size).
    private var elementTypes: [Int: MPI_Datatype] = [:]

    // Tags of the point-to-point traffic (distinct per operation; order within one pair and tag
    // is guaranteed by MPI's non-overtaking rule, so chunks need no tag of their own).
    private static let exchangeTag: Int32 = 7101
    private static let gatherTag: Int32 = 7102

    /// Wraps a duplicate of `parent` (MPI must be initialised).
    public init(duplicating parent: MPI_Comm) {
        var c: MPI_Comm? = nil
        MPI_Comm_dup(parent, &c)
        comm = c!
        var r: Int32 = 0, s: Int32 = 0
        MPI_Comm_rank(comm, &r)
        MPI_Comm_size(comm, &s)
        rank = Int(r)
        size = Int(s)
        #if DEBUG
        checksExchangeCounts = true
        #else
        checksExchangeCounts = false
        #endif
    }

    deinit {
        // Datatypes are local objects; freeing them needs no other rank. The communicator is
        // left to MPI_Finalize (MPI_Comm_free is collective and deinit timing differs per rank).
        guard !MPIEnvironment.isFinalized else { return }
        for (_, t) in elementTypes {
            var t: MPI_Datatype? = t
            MPI_Type_free(&t)
        }
    }

    /// Elements per message for elements of `elementSize` bytes: ≤ both limits, at least 1.
    @inline(__always) private func chunkElements(elementSize: Int) -> Int {
        Swift.max(1, Swift.min(maxElementsPerMessage, maxBytesPerMessage / elementSize))
    }

    /// The committed contiguous datatype of `elementSize` bytes.
    private func elementType(_ elementSize: Int) -> MPI_Datatype {
        if let t = elementTypes[elementSize] { return t }
        precondition(elementSize > 0 && elementSize <= Int(Int32.max), "element size \(elementSize) bytes")
        var t: MPI_Datatype? = nil
        MPI_Type_contiguous(Int32(elementSize), stmpi_byte(), &t)
        MPI_Type_commit(&t)
        elementTypes[elementSize] = t!
        return t!
    }

    // MARK: Reductions

    /// In-place MPI_Allreduce of `count` elements at `base`, in pieces that fit the limits.
    private func allreduce(_ base: UnsafeMutableRawPointer?, count: Int, elementSize: Int,
                           type: MPI_Datatype, op: MPI_Op) {
        guard size > 1, count > 0, let base else { return }
        let chunk = chunkElements(elementSize: elementSize)
        var done = 0
        while done < count {
            let c = Swift.min(chunk, count &- done)
            MPI_Allreduce(stmpi_in_place(), base + done &* elementSize, Int32(c), type, op, comm)
            done &+= c
        }
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {
        allreduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, elementSize: 8,
                  type: stmpi_double(), op: stmpi_sum())
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) {
        allreduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, elementSize: 8,
                  type: stmpi_int64(), op: stmpi_sum())
    }

    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {
        allreduce(UnsafeMutableRawPointer(buffer.baseAddress), count: buffer.count, elementSize: 8,
                  type: stmpi_double(), op: stmpi_max())
    }

    // MARK: Broadcast, barrier, abort

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {
        precondition(root >= 0 && root < size, "broadcast root \(root) of \(size) ranks")
        guard size > 1, buffer.count > 0, let base = buffer.baseAddress else { return }
        let chunk = chunkElements(elementSize: 1)
        var done = 0
        while done < buffer.count {
            let c = Swift.min(chunk, buffer.count &- done)
            MPI_Bcast(base + done, Int32(c), stmpi_byte(), Int32(root), comm)
            done &+= c
        }
    }

    public func barrier() {
        MPI_Barrier(comm)
    }

    /// MPI_Abort on MPI_COMM_WORLD: every rank of the job ends, mpirun exits with `code`.
    public func abort(code: Int32) -> Never {
        fflush(nil)
        MPI_Abort(stmpi_comm_world(), code)
        _exit(code)   // MPI_Abort does not return; this only satisfies `Never`.
    }

    // MARK: Exchange

    /// Personalised exchange with the ranks of non-zero count only (sparse MPI_Alltoallv).
    ///
    /// Posts one MPI_Irecv per incoming chunk, then one MPI_Isend per outgoing chunk, copies the
    /// rank's own block locally and waits for all (MPI_Waitall). Ranks with zero counts cost
    /// nothing, so a halo exchange with a handful of neighbours stays O(neighbours) per rank at
    /// any rank count (MPI_Alltoallv touches all P ranks' counts and, in most implementations,
    /// synchronises with all of them). Counts are in elements of `elementSize` bytes, sent as an
    /// MPI contiguous datatype of that size; a block above the per-message limits is split into
    /// several messages, matched in order by MPI's non-overtaking rule.
    ///
    /// Requirements (as for MPI_Alltoallv): every rank calls it; rank r's `sendCounts[s]` equals
    /// rank s's `recvCounts[r]`; send and receive regions do not overlap. Violations are caught
    /// when `checksExchangeCounts` is on.
    public func exchange(send: UnsafeRawBufferPointer, sendCounts: [Int], sendOffsets: [Int],
                         receive: UnsafeMutableRawBufferPointer, recvCounts: [Int], recvOffsets: [Int],
                         elementSize: Int) {
        precondition(elementSize > 0, "exchange: element size \(elementSize)")
        precondition(sendCounts.count == size && sendOffsets.count == size
                     && recvCounts.count == size && recvOffsets.count == size,
                     "exchange: count/offset arrays must have \(size) entries (one per rank)")
        let sendCapacity = send.count / elementSize, recvCapacity = receive.count / elementSize
        for r in 0..<size {
            precondition(sendCounts[r] >= 0 && sendOffsets[r] >= 0 && sendOffsets[r] + sendCounts[r] <= sendCapacity,
                         "exchange: send block for rank \(r) (offset \(sendOffsets[r]), count \(sendCounts[r])) outside the \(sendCapacity)-element buffer")
            precondition(recvCounts[r] >= 0 && recvOffsets[r] >= 0 && recvOffsets[r] + recvCounts[r] <= recvCapacity,
                         "exchange: receive block for rank \(r) (offset \(recvOffsets[r]), count \(recvCounts[r])) outside the \(recvCapacity)-element buffer")
        }
        if checksExchangeCounts && size > 1 { verifyExchangeCounts(sendCounts: sendCounts, recvCounts: recvCounts) }
        precondition(sendCounts[rank] == recvCounts[rank],
                     "exchange: rank \(rank) sends \(sendCounts[rank]) elements to itself but expects \(recvCounts[rank])")

        // Own block: a local copy.
        let own = sendCounts[rank] &* elementSize
        if own > 0 {
            (receive.baseAddress! + recvOffsets[rank] &* elementSize)
                .copyMemory(from: send.baseAddress! + sendOffsets[rank] &* elementSize, byteCount: own)
        }
        guard size > 1 else { return }

        let type = elementType(elementSize)
        let chunk = chunkElements(elementSize: elementSize)
        var requests: [MPI_Request?] = []
        // Receives first, so most sends find a posted receive (no unexpected-message copies).
        for i in 1..<size {
            let r = (rank &+ size &- i) % size      // staggered order spreads the load
            var left = recvCounts[r]
            var at = receive.baseAddress.map { $0 + recvOffsets[r] &* elementSize }
            while left > 0 {
                let c = Swift.min(chunk, left)
                var req: MPI_Request? = nil
                MPI_Irecv(at, Int32(c), type, Int32(r), Self.exchangeTag, comm, &req)
                requests.append(req)
                at = at! + c &* elementSize
                left &-= c
            }
        }
        for i in 1..<size {
            let r = (rank &+ i) % size
            var left = sendCounts[r]
            var at = send.baseAddress.map { $0 + sendOffsets[r] &* elementSize }
            while left > 0 {
                let c = Swift.min(chunk, left)
                var req: MPI_Request? = nil
                MPI_Isend(at, Int32(c), type, Int32(r), Self.exchangeTag, comm, &req)
                requests.append(req)
                at = at! + c &* elementSize
                left &-= c
            }
        }
        if !requests.isEmpty {
            MPI_Waitall(Int32(requests.count), &requests, stmpi_statuses_ignore())
        }
    }

    /// All-to-all of the counts; ends the job naming the first pair whose counts disagree.
    private func verifyExchangeCounts(sendCounts: [Int], recvCounts: [Int]) {
        var out = sendCounts.map { Int64($0) }
        var inc = [Int64](repeating: 0, count: size)
        MPI_Alltoall(&out, 1, stmpi_int64(), &inc, 1, stmpi_int64(), comm)
        for r in 0..<size where inc[r] != Int64(recvCounts[r]) {
            failJob("internal error: exchange counts disagree: rank \(r) sends \(inc[r]) elements to rank \(rank), which expects \(recvCounts[r])",
                    comm: self)
        }
    }

    // MARK: Gather

    /// Gathers variable-sized byte blocks on `root` (64-bit sizes).
    ///
    /// First an MPI_Gather of the 64-bit block sizes. When the total fits one message
    /// (≤ `maxBytesPerMessage`, so every displacement fits an `int`) one MPI_Gatherv follows;
    /// otherwise the root receives each block by point-to-point messages of at most
    /// `maxBytesPerMessage` bytes, so blocks and totals of any 64-bit size work.
    public func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]] {
        precondition(root >= 0 && root < size, "gather root \(root) of \(size) ranks")
        guard size > 1 else { return [bytes] }
        var mine = Int64(bytes.count)
        var sizes = [Int64](repeating: 0, count: rank == root ? size : 1)
        MPI_Gather(&mine, 1, stmpi_int64(), &sizes, 1, stmpi_int64(), Int32(root), comm)
        var total: Int64 = 0
        if rank == root { for s in sizes { total &+= s } }
        // Every rank must take the same branch: broadcast the decision (one int).
        var useGatherv: Int32 = (rank == root && total <= Int64(Swift.min(maxBytesPerMessage, Int(Int32.max)))) ? 1 : 0
        MPI_Bcast(&useGatherv, 1, stmpi_int32(), Int32(root), comm)

        // The root receives everything into one flat buffer, then splits it.
        let flat: UnsafeMutableRawPointer? = (rank == root && total > 0)
            ? UnsafeMutableRawPointer.allocate(byteCount: Int(total), alignment: 16) : nil
        defer { flat?.deallocate() }

        if useGatherv == 1 {
            var counts = [Int32](repeating: 0, count: rank == root ? size : 1)
            var displs = [Int32](repeating: 0, count: rank == root ? size : 1)
            if rank == root {
                var at: Int32 = 0
                for r in 0..<size { counts[r] = Int32(sizes[r]); displs[r] = at; at &+= counts[r] }
            }
            bytes.withUnsafeBytes { b in
                _ = MPI_Gatherv(b.baseAddress, Int32(b.count), stmpi_byte(),
                                flat, &counts, &displs, stmpi_byte(), Int32(root), comm)
            }
        } else if rank == root {
            var requests: [MPI_Request?] = []
            var at = 0
            for r in 0..<size {
                var left = Int(sizes[r])
                if r == root {
                    if left > 0 { bytes.withUnsafeBytes { (flat! + at).copyMemory(from: $0.baseAddress!, byteCount: left) } }
                    at &+= left
                    continue
                }
                while left > 0 {
                    let c = Swift.min(maxBytesPerMessage, left)
                    var req: MPI_Request? = nil
                    MPI_Irecv(flat! + at, Int32(c), stmpi_byte(), Int32(r), Self.gatherTag, comm, &req)
                    requests.append(req)
                    at &+= c
                    left &-= c
                }
            }
            if !requests.isEmpty { MPI_Waitall(Int32(requests.count), &requests, stmpi_statuses_ignore()) }
        } else {
            bytes.withUnsafeBytes { b in
                var done = 0
                while done < b.count {
                    let c = Swift.min(maxBytesPerMessage, b.count &- done)
                    MPI_Send(b.baseAddress! + done, Int32(c), stmpi_byte(), Int32(root), Self.gatherTag, comm)
                    done &+= c
                }
            }
        }

        guard rank == root else { return [] }
        var out: [[UInt8]] = []
        out.reserveCapacity(size)
        var at = 0
        for r in 0..<size {
            let n = Int(sizes[r])
            if n == 0 { out.append([]); continue }
            out.append([UInt8](unsafeUninitializedCapacity: n) { dst, initialised in
                UnsafeMutableRawPointer(dst.baseAddress!).copyMemory(from: flat! + at, byteCount: n)
                initialised = n
            })
            at &+= n
        }
        return out
    }
}
