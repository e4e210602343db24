import STCore
import STComm
import STData
import STPrep
import STPartition

/// The partition a run on P ranks would use, evaluated in one process (one thread per rank).
public enum PartitionPlanner {
    /// Partition figures for `ranks` ranks: RCB weighted by raw nnz per spot, the kNN graph, and
    /// each rank's halo plan. X is not read beyond its row pointers.
    public static func report(source: SlideSource, ranks: Int, neighbors: Int,
                              normalisation: AdjacencyNormalisation) throws -> PartitionReport {
        let spatial = try source.spatial()
        try SpatialGraph.validateCoordinates(spatial, k: neighbors, file: source.label)
        let nnz = try source.rowNNZ()
        let rcb = try RCB.partition(coordinates: spatial, parts: ranks, weights: nnz.map { 1 + Double($0) })
        let knn = try KNNGraph(coordinates: spatial, k: neighbors, file: source.label)
        let reports = ThreadGroupCommunicator.run(ranks: ranks) { comm -> PartitionReport in
            let owned = rcb.partition.owned(by: comm.rank).map(\.int)
            let sg = SpatialGraph(knn: knn, rows: owned, normalisation: normalisation)
            let graph = LocalGraph(rank: comm.rank, partition: rcb.partition, adjRows: sg.adjacency, maskRows: sg.mask)
            return PartitionReport(graph: graph, partition: rcb, nnz: owned.reduce(0) { $0 + nnz[$1] }, comm: comm)
        }
        return reports[0]
    }
}
