import STCore
import STComm
import STPartition

/// Moves rows of a distributed N×w matrix according to a global permutation: Ũ[i] = U[perm[i]]
/// (forward) and dU[perm[i]] += dŨ[i] (backward, its transpose).
///
/// Every rank derives the same permutation from (seed, epoch), so each one can work out, without
/// asking, which of its rows every other rank needs: one personalised exchange of w-wide rows.
/// Setup is O(N) per epoch on every rank (a pass over the permutation); the exchange moves
/// O(nOwned·w) floats.
public final class CorruptionExchange {
    let graph: LocalGraph
    let comm: Communicator
    /// Local owned rows to send, grouped by destination rank (each group in the destination's order).
    var sendRows: [Int32] = []
    /// Local owned rows receiving the i-th incoming row, grouped by source rank.
    var recvRows: [Int32] = []
    var sendCounts: [Int], sendOffsets: [Int], recvCounts: [Int], recvOffsets: [Int]
    var sendBuf: [Float] = [], recvBuf: [Float] = []
    /// Time and volume accounting (`.corruption`, `.corruptionPlan`); nil (the default) records nothing.
    public var stats: CommStats?

    public init(graph: LocalGraph, comm: Communicator) {
        self.graph = graph
        self.comm = comm
        let p = graph.partition.parts
        sendCounts = [Int](repeating: 0, count: p)
        sendOffsets = sendCounts; recvCounts = sendCounts; recvOffsets = sendCounts
    }

    /// Prepares the exchange for permutation `perm` (N; corrupted row i is original row perm[i]).
    public func setPermutation(_ perm: [Int32]) {
        let t0 = stats?.start()
        defer { if let t0 { stats!.record(.corruptionPlan, since: t0) } }
        let owner = graph.partition.owner, me = Int32(graph.rank), localOf = graph.ownedLocalOfGlobal
        let p = graph.partition.parts
        for r in 0..<p { sendCounts[r] = 0; recvCounts[r] = 0 }
        perm.withUnsafeBufferPointer { perm in
            owner.withUnsafeBufferPointer { owner in
                for j in 0..<perm.count {
                    let src = Int(perm[j]), dst = owner[j], so = owner[src]
                    if so == me { sendCounts[Int(dst)] &+= 1 }
                    if dst == me { recvCounts[Int(so)] &+= 1 }
                }
            }
        }
        var s = 0, r = 0
        for q in 0..<p { sendOffsets[q] = s; s += sendCounts[q]; recvOffsets[q] = r; r += recvCounts[q] }
        if sendRows.count != s { sendRows = [Int32](repeating: 0, count: s) }
        if recvRows.count != r { recvRows = [Int32](repeating: 0, count: r) }
        var sNext = sendOffsets, rNext = recvOffsets
        perm.withUnsafeBufferPointer { perm in
            owner.withUnsafeBufferPointer { owner in
                for j in 0..<perm.count {
                    let src = Int(perm[j]), dst = Int(owner[j]), so = Int(owner[src])
                    if so == Int(me) { sendRows[sNext[dst]] = localOf[src]; sNext[dst] &+= 1 }
                    if dst == Int(me) { recvRows[rNext[so]] = localOf[j]; rNext[so] &+= 1 }
                }
            }
        }
    }

    /// Ũ[i] = U[perm[i]] for the owned rows i. `u` (ld `ldu`) and `ut` (ld `ldut`) are row-major
    /// with at least nOwned rows; only the first `width` columns move. Rows that stay on this rank
    /// are copied directly, the others go through the buffers and the exchange.
    public func forward(_ u: UnsafePointer<Float>, ldu: Int, into ut: UnsafeMutablePointer<Float>, ldut: Int,
                        width: Int) {
        let t0 = stats?.start()
        defer { if let t0 { let v = volume(sendCounts, me: graph.rank, rowBytes: width * 4)
                            stats!.record(.corruption, since: t0, bytes: v.bytes, messages: v.messages) } }
        ensure(width)
        let me = graph.rank, ks = sendOffsets[me], kr = recvOffsets[me]
        let keptSend = ks..<(ks + sendCounts[me]), keptRecv = kr..<(kr + recvCounts[me])
        sendBuf.withUnsafeMutableBufferPointer { b in
            for k in sendRows.indices where !keptSend.contains(k) {
                (b.baseAddress! + k &* width).update(from: u + Int(sendRows[k]) &* ldu, count: width)
            }
        }
        move(width: width, forward: true)
        recvBuf.withUnsafeBufferPointer { b in
            for k in recvRows.indices where !keptRecv.contains(k) {
                (ut + Int(recvRows[k]) &* ldut).update(from: b.baseAddress! + k &* width, count: width)
            }
        }
        // The k-th row kept is the k-th of both lists (setPermutation appends them together).
        for k in 0..<keptSend.count {
            (ut + Int(recvRows[kr &+ k]) &* ldut).update(from: u + Int(sendRows[ks &+ k]) &* ldu, count: width)
        }
    }

    /// dU[perm[i]] += dŨ[i] for the owned rows: the transpose of `forward`. Each row of dU gets one
    /// addend (perm is a permutation), so rows kept on this rank are added directly.
    public func backwardAdd(_ dut: UnsafePointer<Float>, lddut: Int, into du: UnsafeMutablePointer<Float>,
                            lddu: Int, width: Int) {
        let t0 = stats?.start()
        defer { if let t0 { let v = volume(recvCounts, me: graph.rank, rowBytes: width * 4)
                            stats!.record(.corruption, since: t0, bytes: v.bytes, messages: v.messages) } }
        ensure(width)
        let me = graph.rank, ks = sendOffsets[me], kr = recvOffsets[me]
        let keptSend = ks..<(ks + sendCounts[me]), keptRecv = kr..<(kr + recvCounts[me])
        recvBuf.withUnsafeMutableBufferPointer { b in
            for k in recvRows.indices where !keptRecv.contains(k) {
                (b.baseAddress! + k &* width).update(from: dut + Int(recvRows[k]) &* lddut, count: width)
            }
        }
        move(width: width, forward: false)
        sendBuf.withUnsafeBufferPointer { b in
            for k in sendRows.indices where !keptSend.contains(k) {
                let d = du + Int(sendRows[k]) &* lddu, s = b.baseAddress! + k &* width
                for c in 0..<width { d[c] += s[c] }
            }
        }
        for k in 0..<keptSend.count {
            let d = du + Int(sendRows[ks &+ k]) &* lddu, s = dut + Int(recvRows[kr &+ k]) &* lddut
            for c in 0..<width { d[c] += s[c] }
        }
    }

    func ensure(_ width: Int) {
        if sendBuf.count < sendRows.count * width { sendBuf = [Float](repeating: 0, count: sendRows.count * width) }
        if recvBuf.count < recvRows.count * width { recvBuf = [Float](repeating: 0, count: recvRows.count * width) }
    }

    /// The exchange of the rows that change rank (this rank's own counts zero: those rows are
    /// copied directly by the caller).
    func move(width: Int, forward: Bool) {
        let me = graph.rank
        var sc = sendCounts, rc = recvCounts
        sc[me] = 0; rc[me] = 0
        if forward {
            sendBuf.withUnsafeBytes { s in recvBuf.withUnsafeMutableBytes { r in
                comm.exchange(send: s, sendCounts: sc, sendOffsets: sendOffsets,
                              receive: r, recvCounts: rc, recvOffsets: recvOffsets, elementSize: width * 4)
            } }
        } else {
            recvBuf.withUnsafeBytes { s in sendBuf.withUnsafeMutableBytes { r in
                comm.exchange(send: s, sendCounts: rc, sendOffsets: recvOffsets,
                              receive: r, recvCounts: sc, recvOffsets: sendOffsets, elementSize: width * 4)
            } }
        }
    }
}
