import STCore
import STComm
import STPartition

/// Moves rows of a distributed N×w matrix according to a global permutation: Ũ[i] = U[π(i)]
/// (forward) and dU[π(i)] += dŨ[i] (backward, its transpose).
///
/// Every rank derives the same permutation from (seed, epoch), so each one can work out, without
/// asking, which rows it receives (π of its own rows) and where each of its rows goes (π⁻¹ of
/// them): one personalised exchange of w-wide rows. The plan costs O(n log n) per epoch for
/// n owned rows (π and π⁻¹ are O(1) each, `FeistelPermutation`), not O(N): nothing of the
/// slide's size is scanned. Rows travel between a pair of ranks in ascending order of their
/// corrupted (destination) index, which both sides know.
public final class CorruptionExchange {
    let graph: LocalGraph
    let comm: Communicator
    /// Local owned rows to send, grouped by destination rank (each group in the destination's order).
    var sendRows: [Int32] = []
    /// Local owned rows receiving the i-th incoming row, grouped by source rank.
    var recvRows: [Int32] = []
    var sendCounts: [Int], sendOffsets: [Int], recvCounts: [Int], recvOffsets: [Int]
    /// The exchange's own send and receive buffers, used when the caller lends none (`scratch`).
    var ownBuffer: UnsafeMutableBufferPointer<Float> = .init(start: nil, count: 0)
    /// Local owned rows in ascending global index (built once).
    let ascending: [Int32]
    /// Per epoch: the owner of π(i) for the k-th row of `ascending`; (π⁻¹(j) << 32 | local j).
    var sourceOwner: [Int32] = []
    var sendKeys: [UInt64] = []
    /// Time and volume accounting (`.corruption`, `.corruptionPlan`); nil (the default) records nothing.
    public var stats: CommStats?

    public init(graph: LocalGraph, comm: Communicator) {
        self.graph = graph
        self.comm = comm
        let p = graph.partition.parts
        sendCounts = [Int](repeating: 0, count: p)
        sendOffsets = sendCounts; recvCounts = sendCounts; recvOffsets = sendCounts
        let owned = graph.map.owned
        ascending = (0..<Int32(owned.count)).sorted { owned[Int($0)] < owned[Int($1)] }
    }

    deinit { ownBuffer.deallocate() }

    /// Scratch of the radix sort: n keys, and one count per 11-bit digit (kept: no allocation per epoch).
    var sortScratch: [UInt64] = []
    var digitCounts = [Int](repeating: 0, count: 2049)

    /// Sorts `keys` (π⁻¹(j) << 32 | j) by their high half, which holds `bits` significant bits:
    /// least-significant-digit radix sort, 11-bit digits, stable. By hand because the standard
    /// library has no radix sort and its comparison sort took 75 ns per key here (300 000 keys),
    /// more than computing π and π⁻¹ together; this takes a few passes of ~2 ns per key.
    func radixSortByDestination(_ keys: inout [UInt64], bits: Int) {
        let n = keys.count
        if sortScratch.count != n { sortScratch = [UInt64](repeating: 0, count: n) }
        var shift = 32
        var inScratch = false
        keys.withUnsafeMutableBufferPointer { a in
            sortScratch.withUnsafeMutableBufferPointer { b in
                digitCounts.withUnsafeMutableBufferPointer { counts in
                while shift < 32 + bits {
                    let (src, dst) = inScratch ? (b, a) : (a, b)
                    for d in 0..<2049 { counts[d] = 0 }
                    for k in src { counts[Int((k >> UInt64(shift)) & 0x7FF) &+ 1] &+= 1 }
                    for d in 0..<2048 { counts[d + 1] &+= counts[d] }
                    for k in src {
                        let d = Int((k >> UInt64(shift)) & 0x7FF)
                        dst[counts[d]] = k; counts[d] &+= 1
                    }
                    inScratch.toggle()
                    shift += 11
                }
                }
                if inScratch { _ = a.update(fromContentsOf: b) }
            }
        }
    }

    /// Prepares the exchange for `perm` (corrupted row i is original row π(i)).
    public func setPermutation(_ perm: RowPermutation, pool: ThreadPool = .serial) {
        precondition(perm.count == graph.globalCount, "CorruptionExchange: permutation of \(perm.count) spots, the slide has \(graph.globalCount)")
        let t0 = stats?.start()
        defer { if let t0 { stats!.record(.corruptionPlan, since: t0) } }
        let owner = graph.partition.owner, owned = graph.map.owned, n = owned.count
        let p = graph.partition.parts
        if sourceOwner.count != n { sourceOwner = [Int32](repeating: 0, count: n); sendKeys = [UInt64](repeating: 0, count: n) }
        // The per-row loops work on local arrays taken from the properties (swapped out, so no
        // copy and no allocation) through buffer pointers: Swift checks exclusive access to a
        // class's stored properties at run time on every access, which took about two thirds of
        // this function (0.73 → 0.39 ms per epoch on DLPFC, one thread).
        var so = [Int32](), keys = [UInt64](), sc = [Int](), rc = [Int]()
        swap(&so, &sourceOwner); swap(&keys, &sendKeys); swap(&sc, &sendCounts); swap(&rc, &recvCounts)
        defer { swap(&so, &sourceOwner); swap(&keys, &sendKeys); swap(&sc, &sendCounts); swap(&rc, &recvCounts) }
        for r in 0..<p { sc[r] = 0; rc[r] = 0 }
        owner.withUnsafeBufferPointer { own in
        owned.withUnsafeBufferPointer { ownd in
        ascending.withUnsafeBufferPointer { asc in
        so.withUnsafeMutableBufferPointer { so in
        keys.withUnsafeMutableBufferPointer { keys in
        sc.withUnsafeMutableBufferPointer { sc in
        rc.withUnsafeMutableBufferPointer { rc in
            // π(i) and π⁻¹(j) of the rank's rows (the costly part: a Feistel network each), on the
            // pool's threads; the counting passes below stay serial.
            pool.forEachBlock(count: n) { rows in
                if case .feistel(let f) = perm {
                    // A block at a time through the vectorised network (`FeistelPermutation.evaluate`).
                    withUnsafeTemporaryAllocation(of: Int.self, capacity: 2 &* rows.count) { buf in
                        let inp = buf.baseAddress!, outp = inp + rows.count, m = rows.count, r0 = rows.lowerBound
                        for j in 0..<m { inp[j] = ownd[Int(asc[r0 &+ j])].int }
                        f.evaluate(UnsafeBufferPointer(start: inp, count: m), inverse: false, into: outp)
                        for j in 0..<m { so[r0 &+ j] = Int32(truncatingIfNeeded: outp[j]) }
                        for j in 0..<m { inp[j] = ownd[r0 &+ j].int }
                        f.evaluate(UnsafeBufferPointer(start: inp, count: m), inverse: true, into: outp)
                        for j in 0..<m { keys[r0 &+ j] = UInt64(outp[j]) }
                    }
                } else {
                    for k in rows { so[k] = Int32(truncatingIfNeeded: perm.source(of: ownd[Int(asc[k])].int)) }
                    for l in rows { keys[l] = UInt64(perm.destination(of: ownd[l].int)) }
                }
            }
            // Receiving: my rows i, ascending, take π(i) from its owner.
            for k in 0..<n {
                let o = own[Int(so[k])]
                so[k] = o
                rc[Int(o)] &+= 1
            }
            // Sending: my row j goes to π⁻¹(j); each receiver takes its rows in ascending π⁻¹(j).
            for l in 0..<n {
                let dst = keys[l]
                sc[Int(own[Int(dst)])] &+= 1
                keys[l] = dst << 32 | UInt64(l)
            }
        } } } } } } }
        radixSortByDestination(&keys, bits: max(1, Int.bitWidth - (graph.globalCount - 1).leadingZeroBitCount))
        var s = 0, r = 0
        for q in 0..<p { sendOffsets[q] = s; s += sc[q]; recvOffsets[q] = r; r += rc[q] }
        if sendRows.count != s { sendRows = [Int32](repeating: 0, count: s) }
        if recvRows.count != r { recvRows = [Int32](repeating: 0, count: r) }
        var sNext = sendOffsets, rNext = recvOffsets
        var sr = [Int32](), rr = [Int32]()
        swap(&sr, &sendRows); swap(&rr, &recvRows)
        defer { swap(&sr, &sendRows); swap(&rr, &recvRows) }
        owner.withUnsafeBufferPointer { own in
        ascending.withUnsafeBufferPointer { asc in
        sr.withUnsafeMutableBufferPointer { sr in
        rr.withUnsafeMutableBufferPointer { rr in
            for k in 0..<n {
                let o = Int(so[k])
                rr[rNext[o]] = asc[k]; rNext[o] &+= 1
            }
            for key in keys {
                let o = Int(own[Int(key >> 32)])
                sr[sNext[o]] = Int32(truncatingIfNeeded: key & 0xFFFF_FFFF); sNext[o] &+= 1
            }
        } } } }
    }

    /// Floats of send and receive buffer one exchange of `width`-wide rows needs (both together):
    /// what a caller's `scratch` must hold to be used.
    public func bufferCount(width: Int) -> Int { (sendRows.count + recvRows.count) * width }

    /// Ũ[i] = U[perm[i]] for the owned rows i. `u` (ld `ldu`) and `ut` (ld `ldut`) are row-major
    /// with at least nOwned rows; only the first `width` columns move. Rows that stay on this rank
    /// are copied directly, the others go through the buffers and the exchange.
    ///
    /// - scratch: memory the caller does not need during the call (the model lends an activation
    ///   buffer that is dead at that point), used as the send and receive buffers when it holds
    ///   `bufferCount(width:)` floats; otherwise the exchange's own buffers (2·nOwned·width floats,
    ///   kept for the run). Must not overlap `u` or `ut`.
    public func forward(_ u: UnsafePointer<Float>, ldu: Int, into ut: UnsafeMutablePointer<Float>, ldut: Int,
                        width: Int, scratch: UnsafeMutableBufferPointer<Float>? = nil, pool: ThreadPool = .serial) {
        let t0 = stats?.start()
        defer { if let t0 { let v = volume(sendCounts, me: graph.rank, rowBytes: width * 4)
                            stats!.record(.corruption, since: t0, bytes: v.bytes, messages: v.messages) } }
        let (sendBuf, recvBuf) = buffers(width, scratch: scratch)
        let me = graph.rank, ks = sendOffsets[me], kr = recvOffsets[me]
        let keptSend = ks..<(ks + sendCounts[me]), keptRecv = kr..<(kr + recvCounts[me])
        // Row copies on the pool through buffer pointers (each row is written once, by one task):
        // on one rank every row is kept, and a serial loop of per-row copies with the arrays read
        // as class properties (checked for exclusive access at each read) took 0.2 ms per epoch
        // on DLPFC.
        let sendList = sendRows, recvList = recvRows
        sendList.withUnsafeBufferPointer { sr in
        recvList.withUnsafeBufferPointer { rr in
            let sr = sr.baseAddress!, rr = rr.baseAddress!
            Self.forEachRow(excluding: keptSend, of: sendList.count, pool: pool) { k in
                (sendBuf + k &* width).update(from: u + Int(sr[k]) &* ldu, count: width)
            }
            move(width: width, forward: true, sendBuf: sendBuf, recvBuf: recvBuf)
            Self.forEachRow(excluding: keptRecv, of: recvList.count, pool: pool) { k in
                (ut + Int(rr[k]) &* ldut).update(from: recvBuf + k &* width, count: width)
            }
            // The k-th row kept is the k-th of both lists (setPermutation appends them together).
            pool.forEachBlock(count: keptSend.count) { block in
                for k in block {
                    (ut + Int(rr[kr &+ k]) &* ldut).update(from: u + Int(sr[ks &+ k]) &* ldu, count: width)
                }
            }
        } }
    }

    /// dU[perm[i]] += dŨ[i] for the owned rows: the transpose of `forward`. Each row of dU gets one
    /// addend (perm is a permutation), so rows kept on this rank are added directly. `scratch`: as
    /// for `forward` (must not overlap `dut` or `du`).
    public func backwardAdd(_ dut: UnsafePointer<Float>, lddut: Int, into du: UnsafeMutablePointer<Float>,
                            lddu: Int, width: Int, scratch: UnsafeMutableBufferPointer<Float>? = nil,
                            pool: ThreadPool = .serial) {
        let t0 = stats?.start()
        defer { if let t0 { let v = volume(recvCounts, me: graph.rank, rowBytes: width * 4)
                            stats!.record(.corruption, since: t0, bytes: v.bytes, messages: v.messages) } }
        let (sendBuf, recvBuf) = buffers(width, scratch: scratch)
        let me = graph.rank, ks = sendOffsets[me], kr = recvOffsets[me]
        let keptSend = ks..<(ks + sendCounts[me]), keptRecv = kr..<(kr + recvCounts[me])
        let sendList = sendRows, recvList = recvRows
        sendList.withUnsafeBufferPointer { sr in
        recvList.withUnsafeBufferPointer { rr in
            let sr = sr.baseAddress!, rr = rr.baseAddress!
            Self.forEachRow(excluding: keptRecv, of: recvList.count, pool: pool) { k in
                (recvBuf + k &* width).update(from: dut + Int(rr[k]) &* lddut, count: width)
            }
            move(width: width, forward: false, sendBuf: sendBuf, recvBuf: recvBuf)
            Self.forEachRow(excluding: keptSend, of: sendList.count, pool: pool) { k in
                Self.addRow(sendBuf + k &* width, into: du + Int(sr[k]) &* lddu, count: width)
            }
            pool.forEachBlock(count: keptSend.count) { block in
                for k in block {
                    Self.addRow(dut + Int(rr[kr &+ k]) &* lddut, into: du + Int(sr[ks &+ k]) &* lddu, count: width)
                }
            }
        } }
    }

    /// body(k) for k in 0..<count outside `kept` (the rows that change rank), on the pool.
    static func forEachRow(excluding kept: Range<Int>, of count: Int, pool: ThreadPool, _ body: (Int) -> Void) {
        let moved = count &- kept.count, lo = kept.lowerBound, hi = kept.upperBound
        pool.forEachBlock(count: moved) { block in
            for m in block { body(m < lo ? m : m &- lo &+ hi) }
        }
    }

    /// d[0..<count] += s[0..<count] (float32, one add each: the bits of the scalar loop).
    @inline(__always)
    static func addRow(_ s: UnsafePointer<Float>, into d: UnsafeMutablePointer<Float>, count: Int) {
        var c = 0
        while c &+ 8 <= count {
            VectorMath.store8(VectorMath.load8(d + c) + VectorMath.load8(s + c), d + c)
            c &+= 8
        }
        while c < count { d[c] += s[c]; c &+= 1 }
    }

    /// The send buffer (sendRows.count × width) and the receive buffer (recvRows.count × width):
    /// in `scratch` when it holds both, else in the exchange's own allocation (grown as needed).
    func buffers(_ width: Int, scratch: UnsafeMutableBufferPointer<Float>?)
        -> (send: UnsafeMutablePointer<Float>, recv: UnsafeMutablePointer<Float>) {
        let ns = sendRows.count * width, total = bufferCount(width: width)
        if let scratch, scratch.count >= total, let base = scratch.baseAddress { return (base, base + ns) }
        if ownBuffer.count < Swift.max(total, 1) {
            ownBuffer.deallocate()
            ownBuffer = .allocate(capacity: Swift.max(total, 1))
            ownBuffer.initialize(repeating: 0)
        }
        return (ownBuffer.baseAddress!, ownBuffer.baseAddress! + ns)
    }

    /// The exchange of the rows that change rank (this rank's own counts zero: those rows are
    /// copied directly by the caller).
    func move(width: Int, forward: Bool, sendBuf: UnsafeMutablePointer<Float>, recvBuf: UnsafeMutablePointer<Float>) {
        let me = graph.rank
        var sc = sendCounts, rc = recvCounts
        sc[me] = 0; rc[me] = 0
        let sendBytes = UnsafeMutableRawBufferPointer(start: sendBuf, count: sendRows.count * width * 4)
        let recvBytes = UnsafeMutableRawBufferPointer(start: recvBuf, count: recvRows.count * width * 4)
        if forward {
            comm.exchange(send: UnsafeRawBufferPointer(sendBytes), sendCounts: sc, sendOffsets: sendOffsets,
                          receive: recvBytes, recvCounts: rc, recvOffsets: recvOffsets, elementSize: width * 4)
        } else {
            comm.exchange(send: UnsafeRawBufferPointer(recvBytes), sendCounts: rc, sendOffsets: recvOffsets,
                          receive: sendBytes, recvCounts: sc, recvOffsets: sendOffsets, elementSize: width * 4)
        }
    }
}
