import STCore
import STComm
import STPartition

/// Runs halo exchanges of row-major float buffers with `nLocal` rows: forward (owners → ghosts)
/// and reverse (ghost contributions added into their owners). Owns its packing buffers, so the
/// epoch loop allocates nothing.
public final class HaloExchanger {
    public let plan: HaloPlan
    let comm: Communicator
    var packed: [Float] = []
    var sendCounts: [Int], sendOffsets: [Int], recvCounts: [Int], recvOffsets: [Int]
    /// Time and volume accounting (`CommStats.Kind.halo`); nil (the default) records nothing.
    public var stats: CommStats?

    public init(plan: HaloPlan, comm: Communicator) {
        self.plan = plan
        self.comm = comm
        sendCounts = [Int](repeating: 0, count: plan.ranks)
        sendOffsets = sendCounts; recvCounts = sendCounts; recvOffsets = sendCounts
        var off = 0
        for n in plan.neighbours {
            sendCounts[n.rank] = n.sendRows.count; sendOffsets[n.rank] = off; off += n.sendRows.count
            recvCounts[n.rank] = n.recvCount; recvOffsets[n.rank] = n.recvOffset
        }
    }

    /// Fills the ghost rows of `v` (nLocal × width, row-major) with their owners' values.
    public func exchange(_ v: UnsafeMutablePointer<Float>, width: Int) {
        if plan.ranks == 1 { return }
        let t0 = stats?.start()
        defer { if let t0 { stats!.record(.halo, since: t0, bytes: plan.sendCount * width * 4, messages: plan.neighbours.count) } }
        pack(v, width: width)
        packed.withUnsafeBytes { src in
            let ghosts = UnsafeMutableRawBufferPointer(start: v + plan.nOwned * width,
                                                       count: plan.nGhost * width * 4)
            comm.exchange(send: src, sendCounts: sendCounts, sendOffsets: sendOffsets,
                          receive: ghosts, recvCounts: recvCounts, recvOffsets: recvOffsets,
                          elementSize: width * 4)
        }
    }

    /// Adds each ghost row of `v` into the owner's row (on the owning rank), then zeroes the ghosts:
    /// the transpose of `exchange`, for products with Mᵀ.
    public func reverseAdd(_ v: UnsafeMutablePointer<Float>, width: Int) {
        if plan.ranks == 1 { return }
        let t0 = stats?.start()
        defer { if let t0 { stats!.record(.halo, since: t0, bytes: plan.nGhost * width * 4, messages: plan.neighbours.count) } }
        let total = plan.sendCount * width
        if packed.count < total { packed = [Float](repeating: 0, count: total) }
        packed.withUnsafeMutableBytes { dst in
            let ghosts = UnsafeRawBufferPointer(start: v + plan.nOwned * width, count: plan.nGhost * width * 4)
            comm.exchange(send: ghosts, sendCounts: recvCounts, sendOffsets: recvOffsets,
                          receive: dst, recvCounts: sendCounts, recvOffsets: sendOffsets,
                          elementSize: width * 4)
        }
        packed.withUnsafeBufferPointer { buf in
            var k = 0
            for n in plan.neighbours {
                for r in n.sendRows {
                    let row = v + Int(r) &* width
                    for c in 0..<width { row[c] += buf[k &+ c] }
                    k &+= width
                }
            }
        }
        (v + plan.nOwned * width).update(repeating: 0, count: plan.nGhost * width)
    }

    func pack(_ v: UnsafeMutablePointer<Float>, width: Int) {
        let total = plan.sendCount * width
        if packed.count < total { packed = [Float](repeating: 0, count: total) }
        packed.withUnsafeMutableBufferPointer { buf in
            var k = 0
            for n in plan.neighbours {
                for r in n.sendRows {
                    (buf.baseAddress! + k).update(from: v + Int(r) &* width, count: width)
                    k &+= width
                }
            }
        }
    }
}
