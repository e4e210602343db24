/// The collectives the trainer needs, over a group of ranks that each own part of a slide.
///
/// Every computation works on a rank's partition and talks to other ranks only through this
/// protocol; with one process every collective is a copy or a no-op, so there is one code path.
/// Implementations: `SingleProcessCommunicator` (one process), `ThreadGroupCommunicator` (P ranks
/// as threads of one process: the oracle of every distributed test) and, in the STCommMPI module
/// that only the executables link, `MPICommunicator`.
///
/// Collectives must be called by every rank in the same order with matching arguments (MPI's
/// rules). None of them throws or ends the process: a failure inside a collective (a broken MPI
/// transport) leaves the other ranks inside it, so the MPI implementation aborts the whole job
/// there (see STCommMPI); everything else is the caller's to throw.
public protocol Communicator: AnyObject {
    /// This process's rank, 0..<size.
    var rank: Int { get }
    /// Number of ranks.
    var size: Int { get }

    /// In-place elementwise sum over all ranks (float64 partial sums, gradients, statistics).
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// In-place elementwise sum over all ranks of 64-bit integers (counts).
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>)
    /// In-place elementwise maximum over all ranks.
    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>)
    /// Broadcasts `buffer` from `root` to every rank (same byte count on every rank).
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int)
    /// Personalised exchange: sends `sendCounts[r]` elements (of `elementSize` bytes) starting at
    /// `sendOffsets[r]` to rank r, receives `recvCounts[r]` from rank r at `recvOffsets[r]`
    /// (all in elements). Ranks not exchanging with each other pass 0 counts.
    func exchange(send: UnsafeRawBufferPointer, sendCounts: [Int], sendOffsets: [Int],
                  receive: UnsafeMutableRawBufferPointer, recvCounts: [Int], recvOffsets: [Int],
                  elementSize: Int)
    /// Gathers every rank's array on `root` (MPI_Gatherv): the arrays in rank order there, [] on
    /// the other ranks. Arrays may differ in length, be empty, and exceed 2³¹ elements in total.
    func gatherv<T: BitwiseCopyable>(_ values: [T], root: Int) -> [[T]]
    /// Every rank's array on every rank, in rank order (MPI_Allgatherv). Arrays may differ in
    /// length, be empty, and exceed 2³¹ elements in total.
    func allgatherv<T: BitwiseCopyable>(_ values: [T]) -> [[T]]
    /// Waits for every rank.
    func barrier()
    /// The stall watchdog of this communicator's waits; nil where no rank can stall another
    /// (one process, threads of one process). See `StallWatchdog`.
    var watchdog: StallWatchdog? { get }
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

    public var watchdog: StallWatchdog? { nil }

    /// Sum of one value over all ranks.
    public func sum(_ x: Double) -> Double {
        var v = x
        withUnsafeMutablePointer(to: &v) { allreduceSum(UnsafeMutableBufferPointer(start: $0, count: 1)) }
        return v
    }

    /// Sum of one integer over all ranks.
    public func sum(_ x: Int) -> Int {
        var v = Int64(x)
        withUnsafeMutablePointer(to: &v) { allreduceSum(UnsafeMutableBufferPointer(start: $0, count: 1)) }
        return Int(v)
    }

    /// Maximum of one value over all ranks.
    public func max(_ x: Double) -> Double {
        var v = x
        withUnsafeMutablePointer(to: &v) { allreduceMax(UnsafeMutableBufferPointer(start: $0, count: 1)) }
        return v
    }

    /// In-place sum of an array over all ranks.
    public func allreduceSum(_ array: inout [Double]) {
        array.withUnsafeMutableBufferPointer { allreduceSum($0) }
    }

    /// In-place sum of an integer array over all ranks.
    public func allreduceSum(_ array: inout [Int64]) {
        array.withUnsafeMutableBufferPointer { allreduceSum($0) }
    }

    /// Root's `values` on every rank, in place (every rank passes an array of the same length).
    public func broadcast<T: BitwiseCopyable>(_ values: inout [T], root: Int) {
        values.withUnsafeMutableBytes { broadcast($0, root: root) }
    }
}

/// The communicator of a job with one process: every collective is a local copy.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) {}
    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {
        precondition(root == 0, "broadcast root \(root) of 1 rank")
    }
    public func exchange(send: UnsafeRawBufferPointer, sendCounts: [Int], sendOffsets: [Int],
                         receive: UnsafeMutableRawBufferPointer, recvCounts: [Int], recvOffsets: [Int],
                         elementSize: Int) {
        precondition(sendCounts[0] == recvCounts[0])
        let n = sendCounts[0] * elementSize
        if n > 0 {
            receive.baseAddress!.advanced(by: recvOffsets[0] * elementSize)
                .copyMemory(from: send.baseAddress!.advanced(by: sendOffsets[0] * elementSize), byteCount: n)
        }
    }
    public func gatherv<T: BitwiseCopyable>(_ values: [T], root: Int) -> [[T]] {
        precondition(root == 0, "gatherv root \(root) of 1 rank")
        return [values]
    }
    public func allgatherv<T: BitwiseCopyable>(_ values: [T]) -> [[T]] { [values] }
    public func barrier() {}
}
