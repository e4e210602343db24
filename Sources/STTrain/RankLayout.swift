import STCore
import STComm
import STPartition
import STModel

/// One rank's share of a slide, built one way for `run`, `verify`, `partition`, the benchmark and
/// the tests: RCB partition → the rank's spots in local row order (a Z-order curve) → its rows of
/// Â and M in local columns with the halo plan (`LocalGraph`) → the model on them.
///
/// Indices: `owned` holds `GlobalIndex`es in local row order (local row r is spot `owned[r]`);
/// `LocalGraph.map` translates between the two kinds for ghosts too.
public struct RankLayout: Sendable {
    /// How a rank orders its rows.
    public enum RowOrder: Sendable {
        /// Along a Morton curve of the coordinates (`spaceFillingOrder`), what `run` uses: graph
        /// neighbours sit close in memory whatever order the file stores the spots in.
        case spaceFilling
        /// Ascending global index (tests compare it with the curve order: results must agree).
        case ascending
    }

    public let partition: RCBPartition
    public let rank: Int
    /// This rank's spots in local row order.
    public let owned: [GlobalIndex]
    /// For each local row, its position among this rank's spots in ascending global order (the
    /// order rows of X are read in: contiguous hyperslabs).
    public let ascendingPosition: [Int]
    /// Â and M rows of the owned spots in local columns, and the halo plan.
    public let graph: LocalGraph

    /// RCB over `ranks` parts, each spot weighted by 1 + its stored entries in X, so that ranks get
    /// equal sparse work (DESIGN §3). The same on every rank; no communication.
    public static func partition(coordinates: [Double], rowNNZ: [Int], ranks: Int) throws -> RCBPartition {
        try RCB.partition(coordinates: coordinates, parts: ranks, weights: rowNNZ.map { 1 + Double($0) })
    }

    /// Lays out rank `rank` of `partition`.
    ///
    /// - Parameter graphRows: rows of Â and of M (global columns, ascending within a row) for the
    ///   given spots, in the given order.
    public init(partition: RCBPartition, rank: Int, coordinates: [Double], order: RowOrder = .spaceFilling,
                graphRows: ([GlobalIndex]) throws -> (adjacency: CSRMatrix, mask: CSRMatrix)) rethrows {
        try self.init(partition: partition, rank: rank,
                      rowOrder: Self.rowOrder(partition: partition, rank: rank, coordinates: coordinates, order: order),
                      graphRows: graphRows)
    }

    /// Lays out rank `rank` of `partition` in a row order already computed (`rowOrder(…)`, e.g. to
    /// read X in it before the graph exists).
    public init(partition: RCBPartition, rank: Int, rowOrder: (owned: [GlobalIndex], ascendingPosition: [Int]),
                graphRows: ([GlobalIndex]) throws -> (adjacency: CSRMatrix, mask: CSRMatrix)) rethrows {
        let rows = try graphRows(rowOrder.owned)
        self.partition = partition
        self.rank = rank
        self.owned = rowOrder.owned
        ascendingPosition = rowOrder.ascendingPosition
        graph = LocalGraph(rank: rank, partition: partition.partition, adjRows: rows.adjacency, maskRows: rows.mask,
                           ownedOrder: rowOrder.owned)
    }

    /// Rank `rank`'s spots in local row order, and for each local row its position among the
    /// rank's spots in ascending global order. Known before anything else of the layout, so that X
    /// can be read straight into local order (`SlideSource.counts(rows:order:)`).
    public static func rowOrder(partition: RCBPartition, rank: Int, coordinates: [Double],
                                order: RowOrder = .spaceFilling) -> (owned: [GlobalIndex], ascendingPosition: [Int]) {
        let ascending = partition.partition.owned(by: rank)
        let owned = order == .spaceFilling ? spaceFillingOrder(ascending, coordinates: coordinates) : ascending
        var position = [GlobalIndex: Int](minimumCapacity: ascending.count)
        for (i, g) in ascending.enumerated() { position[g] = i }
        return (owned, owned.map { position[$0]! })
    }

    /// This rank's spots as plain integers, in local row order.
    public var ownedInts: [Int] { owned.map(\.int) }

    /// The GraphST model on this rank's rows of X (local row order) and graph.
    public func model(x: GeneMatrix, dim: Int, weights: LossWeights, readout: Readout, fastLayouts: Bool = true,
                      comm: Communicator) -> GraphSTModel {
        GraphSTModel(x: x, graph: graph, dim: dim, weights: weights, readout: readout, fastLayouts: fastLayouts, comm: comm)
    }
}
