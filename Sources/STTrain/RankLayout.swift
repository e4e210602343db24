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

    /// RCB over `ranks` parts, each spot weighted by its share of an epoch's work (its stored
    /// entries in X plus `rowEntries` for its dense work, `rowEntries(dim:genes:keptGenes:)`), so that ranks get equal work
    /// (DESIGN §3). The same on every rank; no communication.
    public static func partition(coordinates: [Double], rowNNZ: [Int], ranks: Int, rowEntries: Double) throws -> RCBPartition {
        precondition(rowEntries > 0 && rowEntries.isFinite, "rowEntries \(rowEntries)")
        return try RCB.partition(coordinates: coordinates, parts: ranks, weights: rowNNZ.map { Double($0) + rowEntries })
    }

    /// A spot's dense work in stored entries of the raw X, the constant part of its partition
    /// weight (`partition`): an epoch's work floor is 8·d flops per stored entry of the
    /// preprocessed X (two passes over it at width 2d) and 16·d² per spot (the N × d × d
    /// products), so a spot weighs as much as 2d entries of the preprocessed X. The weights are
    /// counted in entries of the raw X (known from its row pointers before any row is read), and
    /// the preprocessed X keeps `keptGenes` of its `genes` columns (`n_top_genes`, or all of them):
    /// a raw entry stands for keptGenes/genes of a kept one in expectation (which genes are
    /// variable is known only once the rows are read; a spot's share of them is not), so a spot
    /// weighs 2d·genes/keptGenes raw entries.
    ///
    /// Why not 1 + nnz (this package before): on a small gene panel (MERFISH, osmFISH, 36–56
    /// entries per spot) the dense work is most of a spot's cost, and weighting by entries alone
    /// put 8–21 % more work on the busiest of 4–8 ranks (docs/SCALING.md).
    public static func rowEntries(dim: Int, genes: Int, keptGenes: Int) -> Double {
        let kept = Swift.max(1, Swift.min(keptGenes, genes))
        return 2 * Double(dim) * Double(Swift.max(genes, 1)) / Double(kept)
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
