import STCore
import STComm
import STData
import STPrep
import STPartition

/// The partition a run on P ranks would use, evaluated in one process (one thread per rank).
public enum PartitionPlanner {
    /// Partition figures for `ranks` ranks: RCB weighted by raw nnz per spot, the kNN graph, and
    /// each rank's halo plan. X is not read beyond its row pointers.
    public static func report(source: SlideSource, ranks: Int, neighbours: Int,
                              normalisation: AdjacencyNormalisation) throws -> PartitionReport {
        let spatial = try source.spatial()
        try SpatialGraph.validateCoordinates(spatial, k: neighbours, file: source.label)
        let nnz = try source.rowNNZ()
        let rcb = try RankLayout.partition(coordinates: spatial, rowNNZ: nnz, ranks: ranks)
        let knn = try KNNGraph(coordinates: spatial, k: neighbours, file: source.label)
        let reports = ThreadGroupCommunicator.run(ranks: ranks) { comm -> PartitionReport in
            let layout = RankLayout(partition: rcb, rank: comm.rank, coordinates: spatial) { rows in
                let sg = SpatialGraph(knn: knn, rows: rows.map(\.int), normalisation: normalisation)
                return (sg.adjacency, sg.mask)
            }
            return PartitionReport(graph: layout.graph, partition: rcb, nnz: layout.owned.reduce(0) { $0 + nnz[$1.int] }, comm: comm)
        }
        return reports[0]
    }
}
