import STCore
import STComm

/// Rows of distributed N-row tables fetched onto rank 0 one block of global rows at a time, so
/// that rank 0 writes an N×w table without holding it (or its gather buffers) whole.
///
/// `RowGatherer` collects a whole table on rank 0: N×w values plus a receive buffer of the same
/// size and N global indices. For Z (N×d) and the principal components of a 10⁷-spot slide that
/// is ~7 GB on one rank, more than the rest of its run. Here rank 0 drives and every other rank
/// serves: rank 0 broadcasts a request (table, lo, hi), each rank answers with the rows it owns
/// in lo..<hi (offsets and values, one gatherv each), and rank 0 places them. Rank 0's memory is
/// one block; each rank's is one block of its own rows and its owned indices sorted once.
///
/// Protocol: ranks other than 0 call `serve()`, which returns when rank 0 calls `finish()`;
/// rank 0 calls `fetch` any number of times, then `finish()` exactly once (also on its error
/// paths, or the others wait for ever). Every fetch is one broadcast and two gathervs.
public final class RowStream {
    /// A table: `width` values per owned row, row r (local order) belonging to global `owned[r]`.
    public struct Table {
        public var width: Int
        /// The values of local rows `r` (in the order given), appended to `into`.
        var rows: (_ locals: ArraySlice<Int32>, _ into: inout [Float]) -> Void

        /// A row-major table of `width` values per owned row.
        public init(_ values: [Float], width: Int) {
            self.width = width
            rows = { locals, out in
                values.withUnsafeBufferPointer { v in
                    for r in locals { out.append(contentsOf: v[Int(r) * width ..< (Int(r) + 1) * width]) }
                }
            }
        }

        /// A row-major float64 table sent as float32 (rounded once, on the owning rank).
        public init(_ values: [Double], width: Int) {
            self.width = width
            rows = { locals, out in
                values.withUnsafeBufferPointer { v in
                    for r in locals { for c in 0..<width { out.append(Float(v[Int(r) * width + c])) } }
                }
            }
        }
    }

    public let comm: Communicator
    public let total: Int
    let tables: [Table]
    /// This rank's owned global indices in increasing order, and the local row of each.
    let sortedGlobal: [Int]
    let sortedLocal: [Int32]
    private var finished = false

    /// `owned[r]` is the global index of local row r; every global index in 0..<total must be
    /// owned by exactly one rank (checked on rank 0 as blocks arrive). Not collective.
    public init(comm: Communicator, owned: [Int], total: Int, tables: [Table]) {
        precondition(owned.count <= Int(Int32.max), "RowStream: too many rows on one rank")
        self.comm = comm
        self.total = total
        self.tables = tables
        let order = owned.indices.sorted { owned[$0] < owned[$1] }
        sortedGlobal = order.map { owned[$0] }
        sortedLocal = order.map { Int32($0) }
    }

    /// Rank 0: rows lo..<hi of table `table`, row-major ((hi − lo) × width). Collective with the
    /// other ranks' `serve()`.
    public func fetch(_ table: Int, _ lo: Int, _ hi: Int) -> [Float] {
        precondition(comm.isRoot && !finished, "RowStream.fetch: rank 0 only, before finish()")
        precondition(tables.indices.contains(table) && 0 <= lo && lo <= hi && hi <= total)
        var request: [Int64] = [Int64(table), Int64(lo), Int64(hi)]
        comm.broadcast(&request, root: 0)
        return answer(table: table, lo: lo, hi: hi)!
    }

    /// Rank 0: ends every other rank's `serve()`. Idempotent; does nothing on other ranks.
    public func finish() {
        guard comm.isRoot, !finished else { return }
        finished = true
        var request: [Int64] = [-1, 0, 0]
        comm.broadcast(&request, root: 0)
    }

    /// Ranks other than 0: answers rank 0's requests until it calls `finish()`.
    public func serve() {
        guard !comm.isRoot else { return }
        while true {
            var request: [Int64] = [0, 0, 0]
            comm.broadcast(&request, root: 0)
            guard request[0] >= 0 else { return }
            _ = answer(table: Int(request[0]), lo: Int(request[1]), hi: Int(request[2]))
        }
    }

    /// Every rank: sends its rows of lo..<hi; rank 0 returns the assembled block. One gatherv:
    /// each row travels as width + 1 floats, the first holding the row's offset from `lo` (its
    /// bit pattern: an exact integer below 2³²), so offsets and values need no second collective.
    private func answer(table: Int, lo: Int, hi: Int) -> [Float]? {
        let width = tables[table].width, stride = width + 1
        let a = lowerBound(lo), b = lowerBound(hi)
        var packed = [Float]()
        packed.reserveCapacity((b - a) * stride)
        for k in a..<b {
            packed.append(Float(bitPattern: UInt32(sortedGlobal[k] - lo)))
            tables[table].rows(sortedLocal[k ..< k + 1], &packed)
        }
        let all = comm.gatherv(packed, root: 0)
        guard comm.isRoot else { return nil }
        var block = [Float](repeating: .nan, count: (hi - lo) * width)
        var seen = [Bool](repeating: false, count: hi - lo)
        for part in all {
            precondition(part.count % stride == 0, "RowStream: a rank sent \(part.count) values, not rows of \(stride)")
            for k in 0..<(part.count / stride) {
                let o = Int(part[k * stride].bitPattern)
                precondition(o < hi - lo && !seen[o], "RowStream: spot \(lo + o) is outside the block or owned by two ranks")
                seen[o] = true
                block.replaceSubrange(o * width ..< (o + 1) * width, with: part[k * stride + 1 ..< (k + 1) * stride])
            }
        }
        if let missing = seen.firstIndex(of: false) {
            preconditionFailure("RowStream: spot \(lo + missing) is owned by no rank")
        }
        return block
    }

    /// The first position in `sortedGlobal` whose index is ≥ `g`.
    private func lowerBound(_ g: Int) -> Int {
        var lo = 0, hi = sortedGlobal.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if sortedGlobal[mid] < g { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
