import Foundation

/// P ranks as P threads of one process: a `Communicator` for running the distributed code paths
/// in unit tests without `mpirun` (and the real thing, STCommMPI's `MPICommunicator`, under
/// `mpirun`), and for the partition planner.
///
/// Reductions add contributions in rank order, so results are deterministic. Every collective is
/// two barriers around a shared mailbox; slow but simple and exact. It is the oracle of every
/// distributed test, and is itself tested against sequential references (Tests/STCommTests).
public final class ThreadGroupCommunicator: Communicator {
    final class Shared: @unchecked Sendable {
        let size: Int
        let condition = NSCondition()
        var arrived = 0
        var generation = 0
        var slots: [UnsafeRawPointer?]
        var meta: [[Int]]
        init(size: Int) {
            self.size = size
            slots = [UnsafeRawPointer?](repeating: nil, count: size)
            meta = [[Int]](repeating: [], count: size)
        }
        func barrier() {
            condition.lock()
            let gen = generation
            arrived += 1
            if arrived == size {
                arrived = 0
                generation += 1
                condition.broadcast()
            } else {
                while gen == generation { condition.wait() }
            }
            condition.unlock()
        }
    }

    public let rank: Int
    public let size: Int
    let shared: Shared

    init(rank: Int, shared: Shared) {
        self.rank = rank
        self.size = shared.size
        self.shared = shared
    }

    /// Runs `body(comm)` on `size` threads, one per rank, and returns each rank's result in rank order.
    public static func run<T>(ranks size: Int, _ body: @escaping (Communicator) throws -> T) rethrows -> [T] {
        let shared = Shared(size: size)
        let box = ResultBox<T>(size)
        let lock = NSLock()
        let done = DispatchGroup()
        var joined = [Thread]()
        for r in 0..<size {
            done.enter()
            let t = Thread {
                let comm = ThreadGroupCommunicator(rank: r, shared: shared)
                let res = Result { try body(comm) }
                lock.lock(); box.results[r] = res; lock.unlock()
                done.leave()
            }
            t.stackSize = 16 << 20
            joined.append(t)
        }
        for t in joined { t.start() }
        done.wait()
        return try box.results.map { try $0!.get() }
    }

    public func barrier() { shared.barrier() }

    final class ResultBox<T>: @unchecked Sendable {
        var results: [Result<T, Error>?]
        init(_ n: Int) { results = .init(repeating: nil, count: n) }
    }

    func reduce<T>(_ buffer: UnsafeMutableBufferPointer<T>, _ op: (T, T) -> T) {
        shared.slots[rank] = UnsafeRawPointer(buffer.baseAddress)
        shared.barrier()
        // Every rank computes the same rank-ordered reduction from the inputs...
        var out = [T]()
        if buffer.count > 0 {
            out = Array(UnsafeBufferPointer(start: shared.slots[0]!.assumingMemoryBound(to: T.self), count: buffer.count))
            for r in 1..<size {
                let src = shared.slots[r]!.assumingMemoryBound(to: T.self)
                for i in 0..<buffer.count { out[i] = op(out[i], src[i]) }
            }
        }
        shared.barrier()
        // ...and writes it only after everyone has read the inputs.
        for i in 0..<buffer.count { buffer[i] = out[i] }
        shared.barrier()
    }

    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) { reduce(buffer, +) }
    public func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) { reduce(buffer, +) }
    public func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Double>) { reduce(buffer) { Swift.max($0, $1) } }

    public func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) {
        if rank == root { shared.slots[rank] = UnsafeRawPointer(buffer.baseAddress) }
        shared.barrier()
        if rank != root && buffer.count > 0 {
            buffer.baseAddress!.copyMemory(from: shared.slots[root]!, byteCount: buffer.count)
        }
        shared.barrier()
    }

    public func exchange(send: UnsafeRawBufferPointer, sendCounts: [Int], sendOffsets: [Int],
                         receive: UnsafeMutableRawBufferPointer, recvCounts: [Int], recvOffsets: [Int],
                         elementSize: Int) {
        shared.slots[rank] = send.baseAddress
        shared.meta[rank] = sendCounts + sendOffsets
        shared.barrier()
        for r in 0..<size where recvCounts[r] > 0 {
            let m = shared.meta[r]
            precondition(m[rank] == recvCounts[r], "exchange: rank \(r) sends \(m[rank]) elements to \(rank), which expects \(recvCounts[r])")
            receive.baseAddress!.advanced(by: recvOffsets[r] * elementSize)
                .copyMemory(from: shared.slots[r]!.advanced(by: m[size + rank] * elementSize),
                            byteCount: recvCounts[r] * elementSize)
        }
        shared.barrier()
    }

    public func gatherv<T: BitwiseCopyable>(_ values: [T], root: Int) -> [[T]] {
        precondition(root >= 0 && root < size, "gatherv root \(root) of \(size) ranks")
        return collect(values, into: rank == root)
    }

    public func allgatherv<T: BitwiseCopyable>(_ values: [T]) -> [[T]] {
        collect(values, into: true)
    }

    /// Every rank's array, in rank order, on the ranks that pass `wanted` ([] on the others).
    func collect<T: BitwiseCopyable>(_ values: [T], into wanted: Bool) -> [[T]] {
        var out = [[T]]()
        values.withUnsafeBufferPointer { b in
            shared.slots[rank] = UnsafeRawPointer(b.baseAddress)
            shared.meta[rank] = [b.count]
            shared.barrier()
            if wanted {
                out.reserveCapacity(size)
                for r in 0..<size {
                    let c = shared.meta[r][0]
                    out.append(c == 0 ? [] : Array(UnsafeBufferPointer(start: shared.slots[r]!.assumingMemoryBound(to: T.self), count: c)))
                }
            }
            shared.barrier()
        }
        return out
    }
}
