import STCore

/// One rank's share of the spot graph: its rows of Â and M in local column indices, the index maps
/// and the halo plan. Built once per run (HPCG's SetupHalo).
///
/// Local rows: owned spots 0..<nOwned (in the order given, by default ascending global index; the
/// pipeline passes a space-filling-curve order for cache locality), then ghosts (spots owned by
/// other ranks that appear as columns of an owned row), grouped by owner rank, ascending within. Within each row of `adj`
/// and `mask` the entries keep ascending *global* column order, so every row sum of a sparse
/// product is accumulated in the same order whatever the number of ranks.
public struct LocalGraph: Sendable {
    public let rank: Int
    public let partition: Partition
    public let map: IndexMap
    /// Â restricted to owned rows (nOwned × nLocal), local columns.
    public let adj: CSRMatrix
    /// The readout mask M = K + I restricted to owned rows (nOwned × nLocal), local columns.
    public let mask: CSRMatrix
    /// Which owned rows go to which neighbour, and where received ghost rows land.
    public let halo: HaloPlan

    public var nOwned: Int { map.nOwned }
    public var nLocal: Int { map.nLocal }
    public var globalCount: Int { partition.count }

    /// Builds the local graph of `rank`.
    ///
    /// - Parameters:
    ///   - adjRows: rows of Â for the owned spots (nOwned × N), in `ownedOrder`, with global column
    ///     indices sorted within each row. Â's pattern must be symmetric (it is:
    ///     A = clip(K + Kᵀ, 1)), which lets every rank derive its send lists without communication.
    ///   - maskRows: rows of M for the owned spots (nOwned × N); its pattern must lie inside Â's.
    ///   - ownedOrder: the owned spots in local row order (a permutation of `partition.owned(by:)`);
    ///     `adjRows` and `maskRows` follow it. Nil: ascending global index.
    public init(rank: Int, partition: Partition, adjRows: CSRMatrix, maskRows: CSRMatrix,
                ownedOrder: [GlobalIndex]? = nil) {
        let owned = ownedOrder ?? partition.owned(by: rank)
        if let ownedOrder {
            precondition(ownedOrder.sorted() == partition.owned(by: rank),
                         "LocalGraph: ownedOrder is not a permutation of rank \(rank)'s spots")
        }
        precondition(adjRows.rows == owned.count && maskRows.rows == owned.count,
                     "LocalGraph: \(owned.count) owned rows but Â has \(adjRows.rows), M \(maskRows.rows)")
        self.rank = rank
        self.partition = partition
        let owner = partition.owner

        // Ghosts: columns of owned rows that other ranks own, ordered by (owner, global).
        var isGhost = Set<Int32>()
        for c in adjRows.indices where Int(owner[Int(c)]) != rank { isGhost.insert(c) }
        for c in maskRows.indices where Int(owner[Int(c)]) != rank {
            precondition(isGhost.contains(c), "LocalGraph: M has an edge outside Â's pattern (column \(c))")
        }
        let ghosts = isGhost.sorted { (owner[Int($0)], $0) < (owner[Int($1)], $1) }.map { GlobalIndex(rawValue: $0) }
        let map = IndexMap(owned: owned, ghosts: ghosts)
        self.map = map

        // Local row of each global spot if owned here, else -1: N entries, for this setup only.
        var localOf = [Int32](repeating: -1, count: partition.count)
        for (i, g) in owned.enumerated() { localOf[g.int] = Int32(i) }
        var ghostLocal = [Int32: Int32](minimumCapacity: ghosts.count)
        for (k, g) in ghosts.enumerated() { ghostLocal[g.rawValue] = Int32(owned.count + k) }

        func localise(_ m: CSRMatrix) -> CSRMatrix {
            var idx = m.indices
            for p in idx.indices {
                let g = idx[p]
                idx[p] = localOf[Int(g)] >= 0 ? localOf[Int(g)] : ghostLocal[g]!
            }
            return CSRMatrix(rows: m.rows, cols: map.nLocal, indptr: m.indptr, indices: idx, values: m.values)
        }
        adj = localise(adjRows)
        mask = localise(maskRows)

        // Receive blocks: each neighbour's ghosts are contiguous.
        var recv = [Int: (offset: Int, count: Int)]()
        for (k, g) in ghosts.enumerated() {
            let o = Int(owner[g.int])
            if let r = recv[o] { recv[o] = (r.offset, r.count + 1) } else { recv[o] = (k, 1) }
        }
        // Send lists: by symmetry of Â, rank s needs owned row j iff some column of row j is owned by s;
        // in s's ghost order, i.e. ascending global index.
        var send = [Int: [Int32]]()
        for i in 0..<adjRows.rows {
            var seen = Set<Int>()
            for p in adjRows.indptr[i]..<adjRows.indptr[i + 1] {
                let o = Int(owner[Int(adjRows.indices[p])])
                if o != rank && seen.insert(o).inserted { send[o, default: []].append(Int32(i)) }
            }
        }
        for (o, rows) in send { send[o] = rows.sorted { owned[Int($0)] < owned[Int($1)] } }
        let neighbours = Set(recv.keys).union(send.keys).sorted()
        halo = HaloPlan(nOwned: owned.count, nGhost: ghosts.count, ranks: partition.parts,
                        neighbours: neighbours.map { s in
            HaloPlan.Neighbour(rank: s, sendRows: send[s] ?? [],
                               recvOffset: recv[s]?.offset ?? 0, recvCount: recv[s]?.count ?? 0)
        })
    }
}

/// Which owned rows each neighbouring rank needs (sent) and where its rows land (received ghosts).
public struct HaloPlan: Sendable, Equatable {
    public struct Neighbour: Sendable, Equatable {
        public let rank: Int
        /// Local owned rows to send, in the neighbour's ghost order (ascending global index).
        public let sendRows: [Int32]
        /// First ghost slot (0-based within the ghost block) of the rows received from this rank.
        public let recvOffset: Int
        public let recvCount: Int
    }
    public let nOwned: Int
    public let nGhost: Int
    public let ranks: Int
    public let neighbours: [Neighbour]

    /// Total rows sent per exchange.
    public var sendCount: Int { neighbours.reduce(0) { $0 + $1.sendRows.count } }
}

/// A cache-friendly order for a rank's rows: spots sorted along a Morton (Z-order) curve of their
/// coordinates, so that graph neighbours (rows of Â and M) sit close together in memory whatever
/// order the file stores the spots in. Ties (equal codes) by global index; deterministic.
///
/// - Parameters:
///   - spots: the rank's spots (any order).
///   - coordinates: N×2 row-major coordinates of the whole slide.
public func spaceFillingOrder(_ spots: [GlobalIndex], coordinates: [Double]) -> [GlobalIndex] {
    guard spots.count > 1 else { return spots }
    var lo = (Double.infinity, Double.infinity), hi = (-Double.infinity, -Double.infinity)
    for g in spots {
        let x = coordinates[2 * g.int], y = coordinates[2 * g.int + 1]
        lo = (min(lo.0, x), min(lo.1, y)); hi = (max(hi.0, x), max(hi.1, y))
    }
    // One scale for both axes keeps the curve's cells square.
    let span = max(hi.0 - lo.0, hi.1 - lo.1)
    let scale = span > 0 ? 65535 / span : 0
    /// Spreads the 16 bits of v to the even bit positions.
    func spread(_ v: UInt32) -> UInt32 {
        var x = v & 0xFFFF
        x = (x | (x << 8)) & 0x00FF_00FF
        x = (x | (x << 4)) & 0x0F0F_0F0F
        x = (x | (x << 2)) & 0x3333_3333
        x = (x | (x << 1)) & 0x5555_5555
        return x
    }
    let keyed = spots.map { g -> (UInt32, GlobalIndex) in
        let x = UInt32(((coordinates[2 * g.int] - lo.0) * scale).rounded(.down))
        let y = UInt32(((coordinates[2 * g.int + 1] - lo.1) * scale).rounded(.down))
        return (spread(x) | (spread(y) << 1), g)
    }
    return keyed.sorted { $0.0 != $1.0 ? $0.0 < $1.0 : $0.1 < $1.1 }.map(\.1)
}
