import STCore
import STComm
import STPartition
import STExchange

/// How a slide is split over ranks: what `stgnn-dist partition` prints and `summary.json` records.
public struct PartitionReport: Codable, Sendable, Equatable {
    public struct Rank: Codable, Sendable, Equatable {
        public var rank: Int
        /// Owned spots.
        public var rows: Int
        /// Stored entries of this rank's rows of X (after preprocessing, or raw when reported early).
        public var nnz: Int
        /// Ghost rows received per halo exchange.
        public var halo_rows: Int
        /// Owned rows sent per halo exchange.
        public var send_rows: Int
        public var neighbour_ranks: [Int]
    }
    public var ranks: [Rank]
    /// Undirected edges of the spot graph A whose ends lie on different ranks.
    public var edge_cut: Int
    /// max(rows) / mean(rows).
    public var imbalance_rows: Double
    /// max(nnz) / mean(nnz).
    public var imbalance_nnz: Double
    /// max / mean of the ranks' work by the work floor's count, nnz + rows × a row's dense work
    /// in entries (`rowEntries`): in `run`'s summary, over the preprocessed X (rowEntries 2d: the
    /// work itself); in `partition`'s, over the raw X (the estimate the partition balances).
    public var imbalance_work: Double
    public var max_halo_rows: Int
    /// HPCG's symmetry test of the partitioned Â: |xᵀÂy − yᵀÂx| / |xᵀÂy| (float64 round-off when correct).
    public var symmetry_defect: Double

    /// Gathers every rank's figures (collective); every rank returns the same report.
    public init(graph: LocalGraph, partition: RCBPartition, nnz: Int, rowEntries: Double, comm: Communicator) {
        let p = comm.size
        // Per rank: rows, nnz, halo rows, send rows, cut entries, then a neighbour bitmap.
        var fields = [Int64](repeating: 0, count: p * (5 + p))
        let base = comm.rank * (5 + p)
        var cut = 0
        let ghostStart = Int32(graph.nOwned)
        for c in graph.adj.indices where c >= ghostStart { cut += 1 }
        fields[base] = Int64(graph.nOwned)
        fields[base + 1] = Int64(nnz)
        fields[base + 2] = Int64(graph.halo.nGhost)
        fields[base + 3] = Int64(graph.halo.sendCount)
        fields[base + 4] = Int64(cut)
        for nb in graph.halo.neighbours { fields[base + 5 + nb.rank] = 1 }
        comm.allreduceSum(&fields)
        var ranks = [Rank]()
        var totalCut = 0
        for r in 0..<p {
            let b = r * (5 + p)
            ranks.append(Rank(rank: r, rows: Int(fields[b]), nnz: Int(fields[b + 1]), halo_rows: Int(fields[b + 2]),
                              send_rows: Int(fields[b + 3]),
                              neighbour_ranks: (0..<p).filter { fields[b + 5 + $0] != 0 }))
            totalCut += Int(fields[b + 4])
        }
        self.ranks = ranks
        edge_cut = totalCut / 2
        let rows = ranks.map { Double($0.rows) }, nnz = ranks.map { Double($0.nnz) }
        imbalance_rows = rows.max()! / (rows.reduce(0, +) / Double(p))
        let meanNNZ = nnz.reduce(0, +) / Double(p)
        imbalance_nnz = meanNNZ > 0 ? nnz.max()! / meanNNZ : 1
        let work = zip(nnz, rows).map { $0 + rowEntries * $1 }, meanWork = work.reduce(0, +) / Double(p)
        imbalance_work = meanWork > 0 ? work.max()! / meanWork : 1
        max_halo_rows = ranks.map(\.halo_rows).max() ?? 0
        symmetry_defect = graph.symmetryDefect(comm: comm)
    }

    /// A table for the terminal.
    public var table: String {
        var s = "rank       rows          nnz   halo   sent  neighbours\n"
        for r in ranks {
            s += pad(r.rank, 4) + pad(r.rows, 11) + pad(r.nnz, 13) + pad(r.halo_rows, 7) + pad(r.send_rows, 7)
                + "  " + r.neighbour_ranks.map(String.init).joined(separator: ",") + "\n"
        }
        s += "edge cut \(edge_cut), imbalance rows \(fmt(imbalance_rows)) nnz \(fmt(imbalance_nnz)) work \(fmt(imbalance_work)), max halo \(max_halo_rows), symmetry defect \(String(format: "%.1e", symmetry_defect))\n"
        return s
    }

    func pad(_ v: Int, _ w: Int) -> String { let t = String(v); return String(repeating: " ", count: max(0, w - t.count)) + t }
    func fmt(_ v: Double) -> String { String(format: "%.4f", v) }
}

#if canImport(Foundation)
import Foundation
#endif
