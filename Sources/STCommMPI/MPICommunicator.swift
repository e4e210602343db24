import CMPI
import STComm
#if canImport(Glibc)
import Glibc
#endif

// With MPIEnvironment.swift, the only code besides the CMPI shim that talks to MPI. Open MPI's
// handles (MPI_COMM_WORLD, MPI_DOUBLE, ...) are macros over global objects, so they come from the
// `stmpi_*` getters. Every call's return code goes through `check` (MPI_ERRORS_RETURN is set on
// the communicator): a failure ends the job with the call's name and MPI's error string.
//
// Counts: MPI counts and displacements are C `int`. Every call here splits its payload into
// messages of at most `maxElementsPerMessage` elements and at most `maxBytesPerMessage` bytes
// (both 2^30 by default), so any 64-bit payload size works, and no message exceeds 1 GiB (large
// messages are a rarely exercised path in several transports).
//
// Waiting (issue 9, items 7 and 8). Every operation is issued non-blocking (MPI_Iallreduce,
// MPI_Ibcast, MPI_Ibarrier, MPI_Isend/Irecv, ...) and completed by `complete`, a polling loop
// instead of MPI's blocking wait, for three reasons:
//   - a waiting rank does not burn a core: after a short spin (MPI_Testall + sched_yield, as
//     fast as a blocking wait for the short waits of a balanced epoch) it sleeps between polls,
//     50 µs growing to 1 ms, so a rank waiting seconds for a slow or stopped one uses ~1 % of a
//     core instead of 45–100 % (Open MPI's blocking waits spin);
//   - a failure another rank announces reaches it: between polls it checks the control
//     communicator (MPICommunicator+JobEnd.swift), so a rank-local error ends every rank with
//     a coordinated MPI_Finalize instead of MPI_Abort;
//   - the stall watchdog: when `watchdog.timeout` is set (the training loop's deadline, or `--setup-timeout` outside it) and one wait
//     lasts longer, the ranks still answering hold a roll call and end the job naming the
//     ranks that did not answer (MPICommunicator+JobEnd.swift).
// Blocking MPI calls could do none of this: a rank inside MPI_Allreduce cannot look at anything
// else until it returns, and with a stopped peer it never does.

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
    /// A second duplicate for the job-end messages (a failure announced, a stall roll call) and
    /// their agreement: they never match, delay or reorder the data traffic of `comm`.
    let control: MPI_Comm
    /// The deadline of waits (the training loop's, or the one outside it; see `StallWatchdog`).
    public let watchdog: StallWatchdog? = StallWatchdog()

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

    // Tag of the point-to-point traffic (order within one pair and tag is guaranteed by MPI's
    // non-overtaking rule, so chunks need no tag of their own).
    private static let exchangeTag: Int32 = 7101

    /// Wraps a duplicate of `parent` (MPI must be initialised) with the MPI_ERRORS_RETURN handler.
    ///
    /// - Throws: `MPIError` if duplicating or querying the communicator fails.
    public init(duplicating parent: MPI_Comm) throws {
        var c: MPI_Comm? = nil
        try checkSetUp(MPI_Comm_dup(parent, &c), "MPI_Comm_dup")
        comm = c!
        try checkSetUp(MPI_Comm_set_errhandler(comm, stmpi_errors_return()), "MPI_Comm_set_errhandler")
        var k: MPI_Comm? = nil
        try checkSetUp(MPI_Comm_dup(parent, &k), "MPI_Comm_dup")
        control = k!
        try checkSetUp(MPI_Comm_set_errhandler(control, stmpi_errors_return()), "MPI_Comm_set_errhandler")
        var r: Int32 = 0, s: Int32 = 0
        try checkSetUp(MPI_Comm_rank(comm, &r), "MPI_Comm_rank")
        try checkSetUp(MPI_Comm_size(comm, &s), "MPI_Comm_size")
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
        // A datatype that cannot be freed at teardown costs nothing: the code is ignored.
        guard MPIEnvironment.isActive else { return }
        for (_, t) in elementTypes {
            var t: MPI_Datatype? = t
            _ = MPI_Type_free(&t)
        }
    }

    /// Ends the job unless `code` is MPI_SUCCESS: one line naming `call` and MPI's error string,
    /// then MPI_Abort. Used for the calls inside collectives, which cannot throw (see
    /// MPIEnvironment.swift): the other ranks are inside the same collective.
    @inline(__always) func check(_ code: Int32, _ call: @autoclosure () -> String) {
        if code != stmpi_success() { failed(code, call()) }
    }

    /// A failed MPI call: the transport itself may be broken, so no coordinated end is tried
    /// (it would need the same transport): one line, then MPI_Abort.
    @inline(never) private func failed(_ code: Int32, _ call: String) -> Never {
        reportJobFailure("\(call) failed: \(mpiErrorString(code)) (MPI error \(code))", comm: self)
        abort(code: 1)
    }

    /// True when both this communicator and MPI_COMM_WORLD have the MPI_ERRORS_RETURN handler
    /// (so every failed call comes back to `check` instead of Open MPI's own abort).
    public var returnsErrors: Bool {
        [comm, stmpi_comm_world()].allSatisfy { c in
            var h: MPI_Errhandler? = nil
            guard MPI_Comm_get_errhandler(c, &h) == stmpi_success(), h != nil else { return false }
            defer { _ = MPI_Errhandler_free(&h) }
            return h == stmpi_errors_return()
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
        check(MPI_Type_contiguous(Int32(elementSize), stmpi_byte(), &t), "MPI_Type_contiguous")
        check(MPI_Type_commit(&t), "MPI_Type_commit")
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
            let at = base + done &* elementSize
            start("MPI_Allreduce") { MPI_Iallreduce(stmpi_in_place(), at, Int32(c), type, op, comm, &$0) }
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
            let at = base + done
            start("MPI_Bcast") { MPI_Ibcast(at, Int32(c), stmpi_byte(), Int32(root), comm, &$0) }
            done &+= c
        }
    }

    public func barrier() {
        start("MPI_Barrier") { MPI_Ibarrier(comm, &$0) }
    }

    /// MPI_Abort on MPI_COMM_WORLD: every rank of the job ends, mpirun exits with `code`.
    public func abort(code: Int32) -> Never {
        fflush(nil)
        _ = MPI_Abort(stmpi_comm_world(), code)   // does not return
        _exit(code)
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
                check(MPI_Irecv(at, Int32(c), type, Int32(r), Self.exchangeTag, comm, &req), "MPI_Irecv")
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
                check(MPI_Isend(at, Int32(c), type, Int32(r), Self.exchangeTag, comm, &req), "MPI_Isend")
                requests.append(req)
                at = at! + c &* elementSize
                left &-= c
            }
        }
        complete(&requests, "MPI_Waitall")
    }

    // MARK: Waiting

    /// Issues one non-blocking operation (`body` returns its code and sets its request), then
    /// completes it with `complete`. Buffers `body` names must stay valid until this returns.
    @inline(__always) func start(_ call: StaticString, _ body: (inout MPI_Request?) -> Int32) {
        var req: MPI_Request? = nil
        check(body(&req), "\(call)")
        var requests = [req]
        complete(&requests, "\(call)")
    }

    /// Completes every request, polling (see "Waiting" at the top of the file): MPI_Testall,
    /// then the control communicator, then the stall deadline, then a pause that grows from a
    /// yield to a 1 ms sleep. On MPI_ERR_IN_STATUS the first failed request's own code is
    /// reported (a truncated message says "message truncated", not "error code in status").
    func complete(_ requests: inout [MPI_Request?], _ call: @autoclosure () -> String) {
        guard !requests.isEmpty else { return }
        var statuses = [MPI_Status](repeating: MPI_Status(), count: requests.count)
        var pause = PollPause()
        while true {
            var done: Int32 = 0
            let code = MPI_Testall(Int32(requests.count), &requests, &done, &statuses)
            if code == stmpi_err_in_status(), let bad = statuses.first(where: { $0.MPI_ERROR != stmpi_success() }) {
                failed(bad.MPI_ERROR, "\(call()) (a request from/to rank \(bad.MPI_SOURCE))")
            }
            check(code, call())
            if done != 0 { return }
            pollControl()
            let waited = pause.elapsed()
            if let limit = watchdog?.timeout, waited > limit { rollCall(first: nil) }
            pause.wait()
        }
    }

    /// All-to-all of the counts; ends the job naming the first pair whose counts disagree.
    private func verifyExchangeCounts(sendCounts: [Int], recvCounts: [Int]) {
        let out = sendCounts.map { Int64($0) }
        var inc = [Int64](repeating: 0, count: size)
        out.withUnsafeBufferPointer { o in
            inc.withUnsafeMutableBufferPointer { i in
                start("MPI_Alltoall") { MPI_Ialltoall(o.baseAddress, 1, stmpi_int64(), i.baseAddress, 1, stmpi_int64(), comm, &$0) }
            }
        }
        for r in 0..<size where inc[r] != Int64(recvCounts[r]) {
            failJob("internal error: exchange counts disagree: rank \(r) sends \(inc[r]) elements to rank \(rank), which expects \(recvCounts[r])",
                    comm: self)
        }
    }

    // MARK: Gather

    /// MPI_Gatherv of every rank's array on `root`, 64-bit counts.
    ///
    /// First an MPI_Gather of the 64-bit counts. When the total fits one message (≤
    /// `maxElementsPerMessage` elements and ≤ `maxBytesPerMessage` bytes, so every count and
    /// displacement fits an `int`), one MPI_Gatherv of contiguous `stride`-byte elements follows;
    /// otherwise the arrays travel by `exchange`, which splits them into messages within the
    /// limits, so arrays and totals of any 64-bit size work.
    public func gatherv<T: BitwiseCopyable>(_ values: [T], root: Int) -> [[T]] {
        precondition(root >= 0 && root < size, "gatherv root \(root) of \(size) ranks")
        guard size > 1 else { return [values] }
        let stride = MemoryLayout<T>.stride
        var counts64 = [Int64](repeating: 0, count: rank == root ? size : 1)
        counts64.withUnsafeMutableBufferPointer { c in
            var mine = Int64(values.count)
            withUnsafeMutablePointer(to: &mine) { m in
                start("MPI_Gather") { MPI_Igather(m, 1, stmpi_int64(), c.baseAddress, 1, stmpi_int64(), Int32(root), comm, &$0) }
            }
        }
        let counts = rank == root ? counts64.map { Int($0) } : []
        // Every rank must take the same path: the root decides and broadcasts it (one int).
        var oneMessage: Int32 = (rank == root && counts.reduce(0, +) <= chunkElements(elementSize: stride)) ? 1 : 0
        withUnsafeMutablePointer(to: &oneMessage) { o in
            start("MPI_Bcast") { MPI_Ibcast(o, 1, stmpi_int32(), Int32(root), comm, &$0) }
        }
        guard oneMessage == 1 else { return gathervByExchange(values, counts: counts, root: root) }

        let (offsets, total) = rank == root ? prefixSums(counts) : ([], 0)
        var counts32 = counts.map { Int32($0) }, displs32 = offsets.map { Int32($0) }
        if rank != root { counts32 = [0]; displs32 = [0] }
        let type = elementType(stride)
        let flat = [T](unsafeUninitializedCapacity: total) { buf, n in
            values.withUnsafeBytes { b in
                counts32.withUnsafeBufferPointer { c in
                    displs32.withUnsafeBufferPointer { d in
                        start("MPI_Gatherv") {
                            MPI_Igatherv(b.baseAddress, Int32(values.count), type, buf.baseAddress, c.baseAddress, d.baseAddress,
                                         type, Int32(root), comm, &$0)
                        }
                    }
                }
            }
            n = total
        }
        return rank == root ? blocks(of: flat, counts: counts) : []
    }

    /// MPI_Allgatherv of every rank's array on every rank, 64-bit counts.
    ///
    /// First an MPI_Allgather of the 64-bit counts (so every rank knows the total and takes the
    /// same path). When the total fits one message, one MPI_Allgatherv of contiguous
    /// `stride`-byte elements; otherwise the arrays travel by `exchange`, in messages within the
    /// limits.
    public func allgatherv<T: BitwiseCopyable>(_ values: [T]) -> [[T]] {
        guard size > 1 else { return [values] }
        let stride = MemoryLayout<T>.stride
        var counts64 = [Int64](repeating: 0, count: size)
        counts64.withUnsafeMutableBufferPointer { c in
            var mine = Int64(values.count)
            withUnsafeMutablePointer(to: &mine) { m in
                start("MPI_Allgather") { MPI_Iallgather(m, 1, stmpi_int64(), c.baseAddress, 1, stmpi_int64(), comm, &$0) }
            }
        }
        let counts = counts64.map { Int($0) }
        let (offsets, total) = prefixSums(counts)
        guard total <= chunkElements(elementSize: stride) else { return allgathervByExchange(values, counts: counts) }

        let counts32 = counts.map { Int32($0) }, displs32 = offsets.map { Int32($0) }
        let type = elementType(stride)
        let flat = [T](unsafeUninitializedCapacity: total) { buf, n in
            values.withUnsafeBytes { b in
                counts32.withUnsafeBufferPointer { c in
                    displs32.withUnsafeBufferPointer { d in
                        start("MPI_Allgatherv") {
                            MPI_Iallgatherv(b.baseAddress, Int32(values.count), type, buf.baseAddress, c.baseAddress, d.baseAddress,
                                            type, comm, &$0)
                        }
                    }
                }
            }
            n = total
        }
        return blocks(of: flat, counts: counts)
    }
}
