import STCore
#if canImport(Glibc)
import Glibc
#endif

/// The collectives the trainer needs, over a group of ranks that each own part of a slide.
///
/// Every computation works on a rank's partition and talks to other ranks only through this
/// protocol; with one process every collective is a copy or a no-op, so there is one code path.
/// Implementations: `SingleProcessCommunicator` and `MPICommunicator`.
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
    /// Broadcasts `buffer` from `root` to every rank.
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int)
    /// Personalised exchange: sends `sendCounts[r]` elements (of `elementSize` bytes) starting at
    /// `sendOffsets[r]` to rank r, receives `recvCounts[r]` from rank r at `recvOffsets[r]`
    /// (all in elements). Ranks not exchanging with each other pass 0 counts.
    func exchange(send: UnsafeRawBufferPointer, sendCounts: [Int], sendOffsets: [Int],
                  receive: UnsafeMutableRawBufferPointer, recvCounts: [Int], recvOffsets: [Int],
                  elementSize: Int)
    /// Gathers variable-sized byte blocks on `root`; returns them in rank order there, [] elsewhere.
    func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]]
    /// Waits for every rank.
    func barrier()
    /// Ends the whole job (every rank) with `code` after the caller has printed its message.
    func abort(code: Int32) -> Never
}

extension Communicator {
    public var isRoot: Bool { rank == 0 }

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
}

/// The communicator of a job with one process: every collective is a local copy.
public final class SingleProcessCommunicator: Communicator {
    public init() {}
    public var rank: Int { 0 }
    public var size: Int { 1 }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) {}
    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) {}
    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {}
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
    public func gather(_ bytes: [UInt8], root: Int) -> [[UInt8]] { [bytes] }
    public func barrier() {}
    public func abort(code: Int32) -> Never { exit(code) }
}

extension Communicator {
    /// Gathers each rank's array on `root`; returns them in rank order there, [] elsewhere.
    public func gatherv<T: BitwiseCopyable>(_ values: [T], root: Int) -> [[T]] {
        let bytes = values.withUnsafeBytes { Array($0) }
        let parts = gather(bytes, root: root)
        return parts.map { part in
            let n = part.count / MemoryLayout<T>.stride
            return [T](unsafeUninitializedCapacity: n) { buf, count in
                part.withUnsafeBytes { src in
                    UnsafeMutableRawBufferPointer(buf).copyMemory(from: UnsafeRawBufferPointer(rebasing: src[0..<(n * MemoryLayout<T>.stride)]))
                }
                count = n
            }
        }
    }
}
