import STCore
import STComm
import STData
import STPrep
import STPartition

/// The partition a run on P ranks would use, evaluated in one process (one thread per rank).
public enum PartitionPlanner {
    /// How one rank's spots lie in the file (what its partitioned read of X touches): the runs of
    /// consecutive file rows it owns, the chunks of `X/data` those rows' entries span, the fewest
    /// chunks that could hold them, and the runs of consecutive chunks among them (the separate
    /// reads of X/data).
    public typealias FileRows = (runs: Int, chunks: Int, minimumChunks: Int, chunkRuns: Int)

    /// The partition for `ranks` ranks, RCB weighted as `run` weighs spots (raw nnz + a row's dense
    /// work, `RankLayout.rowEntries`), made once and described twice: the partition figures (the
    /// kNN graph and each rank's halo plan, `PartitionReport`) and each rank's rows in the file
    /// when X/data is stored in chunks of `chunkElements` entries (as this package writes it).
    /// X is not read beyond its row pointers.
    public static func plan(source: SlideSource, ranks: Int, neighbours: Int, normalisation: AdjacencyNormalisation,
                            rowEntries: Double, chunkElements: Int = 1 << 16) throws -> (report: PartitionReport, file: [FileRows]) {
        let spatial = try source.spatial()
        try SpatialGraph.validateCoordinates(spatial, k: neighbours, file: source.label)
        let nnz = try source.rowNNZ()
        let rcb = try RankLayout.partition(coordinates: spatial, rowNNZ: nnz, ranks: ranks, rowEntries: rowEntries)
        let knn = try KNNGraph(coordinates: spatial, k: neighbours, file: source.label)
        let reports = ThreadGroupCommunicator.run(ranks: ranks) { comm -> PartitionReport in
            let layout = RankLayout(partition: rcb, rank: comm.rank, coordinates: spatial) { rows in
                let sg = SpatialGraph(knn: knn, rows: rows.map(\.int), normalisation: normalisation)
                return (sg.adjacency, sg.mask)
            }
            return PartitionReport(graph: layout.graph, partition: rcb, nnz: layout.owned.reduce(0) { $0 + nnz[$1.int] },
                                   rowEntries: rowEntries, comm: comm)
        }
        return (reports[0], fileLayout(owner: rcb.owner, rowNNZ: nnz, ranks: ranks, chunkElements: chunkElements))
    }

    /// Per rank, `FileRows` of the spots `owner` gives it, for rows of `rowNNZ` entries stored in
    /// file order in chunks of `chunkElements`.
    static func fileLayout(owner: [Int32], rowNNZ nnz: [Int], ranks: Int, chunkElements: Int) -> [FileRows] {
        var runs = [Int](repeating: 0, count: ranks), total = [Int](repeating: 0, count: ranks)
        var chunks = [Set<Int>](repeating: [], count: ranks)
        var offset = 0
        for i in 0..<owner.count {
            let r = Int(owner[i])
            if i == 0 || owner[i - 1] != owner[i] { runs[r] += 1 }
            if nnz[i] > 0 {
                for c in (offset / chunkElements)...((offset + nnz[i] - 1) / chunkElements) { chunks[r].insert(c) }
            }
            total[r] += nnz[i]
            offset += nnz[i]
        }
        return (0..<ranks).map { r in
            let sorted = chunks[r].sorted()
            let chunkRuns = sorted.indices.filter { $0 == 0 || sorted[$0 - 1] + 1 != sorted[$0] }.count
            return (runs[r], sorted.count, (total[r] + chunkElements - 1) / chunkElements, chunkRuns)
        }
    }
}
