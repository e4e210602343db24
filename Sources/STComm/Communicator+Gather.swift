// `gatherv` / `allgatherv` built from `exchange`: the default for conformers that implement only
// the primitives (test doubles), and the large-payload path of the MPI implementation, whose
// `exchange` already splits every block into messages that fit a C `int`.

extension Communicator {
    /// Default `gatherv`: an all-gather of the counts, then one `exchange` into the root.
    public func gatherv<T: BitwiseCopyable>(_ values: [T], root: Int) -> [[T]] {
        gathervByExchange(values, counts: allgatherCounts(values.count), root: root)
    }

    /// Default `allgatherv`: an all-gather of the counts, then one `exchange` with every rank.
    public func allgatherv<T: BitwiseCopyable>(_ values: [T]) -> [[T]] {
        allgathervByExchange(values, counts: allgatherCounts(values.count))
    }

    /// Every rank's `count`, in rank order, on every rank (one `exchange` of one Int64 per pair).
    public func allgatherCounts(_ count: Int) -> [Int] {
        let p = size
        let mine = [Int64](repeating: Int64(count), count: p)
        var all = [Int64](repeating: 0, count: p)
        let ones = [Int](repeating: 1, count: p)
        mine.withUnsafeBytes { s in
            all.withUnsafeMutableBytes { r in
                exchange(send: s, sendCounts: ones, sendOffsets: Array(0..<p),
                         receive: r, recvCounts: ones, recvOffsets: Array(0..<p), elementSize: 8)
            }
        }
        return all.map { Int($0) }
    }

    /// `gatherv` given every rank's element count (`counts`, needed on `root` only): one
    /// `exchange` in which every rank sends its array to `root`.
    public func gathervByExchange<T: BitwiseCopyable>(_ values: [T], counts: [Int], root: Int) -> [[T]] {
        let p = size
        precondition(root >= 0 && root < p, "gatherv root \(root) of \(p) ranks")
        var sendCounts = [Int](repeating: 0, count: p)
        sendCounts[root] = values.count
        let zeros = [Int](repeating: 0, count: p)
        let recvCounts = rank == root ? counts : zeros
        let (offsets, total) = prefixSums(recvCounts)
        let flat = [T](unsafeUninitializedCapacity: total) { buf, n in
            values.withUnsafeBytes { s in
                exchange(send: s, sendCounts: sendCounts, sendOffsets: zeros,
                         receive: UnsafeMutableRawBufferPointer(buf), recvCounts: recvCounts, recvOffsets: offsets,
                         elementSize: MemoryLayout<T>.stride)
            }
            n = total
        }
        return rank == root ? blocks(of: flat, counts: counts) : []
    }

    /// `allgatherv` given every rank's element count (`counts`, the same on every rank): one
    /// `exchange` in which every rank sends its array to every rank.
    public func allgathervByExchange<T: BitwiseCopyable>(_ values: [T], counts: [Int]) -> [[T]] {
        let p = size
        precondition(counts.count == p && counts[rank] == values.count, "allgatherv: counts disagree with the arrays")
        let (offsets, total) = prefixSums(counts)
        let zeros = [Int](repeating: 0, count: p)
        let flat = [T](unsafeUninitializedCapacity: total) { buf, n in
            values.withUnsafeBytes { s in
                exchange(send: s, sendCounts: [Int](repeating: values.count, count: p), sendOffsets: zeros,
                         receive: UnsafeMutableRawBufferPointer(buf), recvCounts: counts, recvOffsets: offsets,
                         elementSize: MemoryLayout<T>.stride)
            }
            n = total
        }
        return blocks(of: flat, counts: counts)
    }
}

/// Exclusive prefix sums of `counts` and their total.
public func prefixSums(_ counts: [Int]) -> (offsets: [Int], total: Int) {
    var offsets = [Int](repeating: 0, count: counts.count)
    var at = 0
    for (i, c) in counts.enumerated() { offsets[i] = at; at += c }
    return (offsets, at)
}

/// `flat` cut into consecutive pieces of `counts[r]` elements.
public func blocks<T>(of flat: [T], counts: [Int]) -> [[T]] {
    var out = [[T]]()
    out.reserveCapacity(counts.count)
    var at = 0
    for c in counts {
        out.append(Array(flat[at..<(at + c)]))
        at += c
    }
    precondition(at == flat.count, "blocks: counts sum to \(at), not \(flat.count)")
    return out
}
