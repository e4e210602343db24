import STCore
import STData

/// Where a run's spots come from: an `.h5ad` file, a 10x matrix with positions
/// (`PositionedMatrixSource`), several slides integrated into one (`IntegratedSource`), or the
/// built-in synthetic slide. `SlideSources.open` picks the source for `--input` paths.
///
/// Every rank opens the source and reads the small per-spot data (coordinates, names); each rank
/// then reads only its own rows of X (`counts(rows:)`), so X is never gathered or broadcast.
public protocol SlideSource {
    /// What to call the data in messages and summaries (the path, or "synthetic slide (…)").
    var label: String { get }
    var spotCount: Int { get }
    var geneCount: Int { get }
    /// N×2 row-major coordinates (`obsm["spatial"]`).
    func spatial() throws -> [Double]
    /// Stored entries per spot, for balancing the partition by sparse work.
    func rowNNZ() throws -> [Int]
    /// Raw counts of the given spots (strictly increasing global indices), all genes.
    func counts(rows: [Int]) throws -> CSRMatrix
    /// The same rows in the order `order` (output row r is spot `rows[order[r]]`): how a rank reads
    /// its rows in its local row order. Sources that can read in any order without a second copy
    /// of the rows implement it; the default reads, then reorders.
    func counts(rows: [Int], order: [Int]) throws -> CSRMatrix
    /// `counts(rows:order:)` as a run reads them: 16-bit column indices (`GeneMatrix`) when the
    /// source reads straight into them (an `.h5ad` with a CSR X, the synthetic slide) and the genes
    /// fit; the default keeps 32 bits (narrowing after reading would hold both widths at once:
    /// `preprocess` narrows X once the unselected genes are gone, when that is cheaper).
    func geneCounts(rows: [Int], order: [Int]) throws -> GeneMatrix
    /// Bits per column index `geneCounts` returns (16 or 32), known before reading: the preflight's.
    var countsIndexBits: Int { get }
    /// Copies of a rank's rows held at once while `geneCounts` reads them: 1 when the source reads
    /// straight into the local order, 2 when it reads, then reorders (the default): the preflight's.
    var countsReadCopies: Int { get }
    /// The per-spot table to carry into `result.h5ad` (rank 0 only calls this).
    func obs() throws -> DataFrame
    /// Gene names (var index).
    func geneNames() throws -> [String]
}

/// An `.h5ad` slide read through HDF5, rows on demand.
public final class H5ADSource: SlideSource {
    public let reader: AnnDataReader
    public init(path: String) throws { reader = try AnnDataReader(path: path) }
    public var label: String { reader.path }
    public var spotCount: Int { reader.nObs }
    public var geneCount: Int { reader.nVars }
    public func spatial() throws -> [Double] { try reader.spatial() }
    public func rowNNZ() throws -> [Int] { try reader.rowNNZ() }
    public func counts(rows: [Int]) throws -> CSRMatrix { try reader.readX(rows: rows) }
    public func counts(rows: [Int], order: [Int]) throws -> CSRMatrix { try reader.readX(rows: rows, order: order) }
    public func geneCounts(rows: [Int], order: [Int]) throws -> GeneMatrix { try reader.readGenes(rows: rows, order: order) }
    public var countsIndexBits: Int { reader.readsNarrowIndices ? 16 : 32 }
    public var countsReadCopies: Int { reader.readsRowsInOrder ? 1 : 2 }
    public func obs() throws -> DataFrame { try reader.obs() }
    public func geneNames() throws -> [String] { try reader.varNames() }
}

extension SlideSource {
    public func counts(rows: [Int], order: [Int]) throws -> CSRMatrix {
        try counts(rows: rows).selectingRows(order)
    }
    public func geneCounts(rows: [Int], order: [Int]) throws -> GeneMatrix {
        .wide(try counts(rows: rows, order: order))
    }
    public var countsIndexBits: Int { 32 }
    public var countsReadCopies: Int { 2 }
}

/// An error that only this rank saw (e.g. a bad value in its own rows of X): it must be reported
/// by this rank, not left to rank 0.
public struct RankLocalError: Error, CustomStringConvertible {
    public let underlying: Error
    public init(_ underlying: Error) { self.underlying = underlying }
    public var description: String { String(describing: underlying) }
}

/// The built-in synthetic slide (see `SyntheticSlide`): every rank builds the same layout
/// (coordinates, domains, gene model) and generates only the rows of X it is asked for, so no rank
/// of a 10⁶-spot run generates the whole matrix.
///
/// `rowNNZ()` returns each spot's *expected* number of stored entries
/// (`SyntheticSlide.Layout.expectedRowNNZ`, rounded), computed without drawing any counts: the
/// partition is balanced by expected sparse work, typically within a few percent of the realised
/// nnz. (`stgnn-dist partition` on the built-in slide therefore reports expected nnz per rank; a
/// run's `summary.json` reports the realised nnz of the preprocessed rows.)
public final class SyntheticSource: SlideSource {
    public let layout: SyntheticSlide.Layout
    public init(_ parameters: SyntheticSlide.Parameters) throws { layout = try SyntheticSlide.Layout(parameters) }
    public var label: String {
        let p = layout.parameters
        return "synthetic slide (\(p.spots) spots, \(p.genes) genes, \(p.domains) domains, seed \(p.seed))"
    }
    public var spotCount: Int { layout.parameters.spots }
    public var geneCount: Int { layout.parameters.genes }
    public func spatial() throws -> [Double] { layout.coordinates }
    public func rowNNZ() throws -> [Int] { layout.expectedRowNNZ().map { Int($0.rounded()) } }
    public func counts(rows: [Int]) throws -> CSRMatrix { try layout.counts(rows: rows) }
    /// Each spot's counts are drawn from its own stream, so the rows are generated in `order` directly.
    public func counts(rows: [Int], order: [Int]) throws -> CSRMatrix { try layout.counts(rows: order.map { rows[$0] }) }
    public func geneCounts(rows: [Int], order: [Int]) throws -> GeneMatrix { try layout.geneCounts(rows: order.map { rows[$0] }) }
    public var countsIndexBits: Int { GeneMatrix.usesNarrowIndices(cols: geneCount) ? 16 : 32 }
    public var countsReadCopies: Int { 1 }
    public func obs() throws -> DataFrame { layout.obs }
    public func geneNames() throws -> [String] { layout.geneNames }
}

extension SyntheticSlide.Layout {
    /// The per-spot table: spot names and the true domain as a categorical column `ground_truth`
    /// (never `domain`, which is where a run writes the domains it finds).
    public var obs: DataFrame {
        var df = DataFrame(index: spotNames)
        let names = domainNames
        df.set("ground_truth", .categorical(labels: domains.map { names[Int($0)] }, categories: names))
        return df
    }
}

extension SyntheticSlide {
    /// The per-spot table: spot names and the true domain as a categorical column `ground_truth`
    /// (never `domain`, which is where a run writes the domains it finds).
    public var obs: DataFrame {
        var df = DataFrame(index: spotNames)
        df.set("ground_truth", .categorical(labels: domains.map { domainNames[Int($0)] }, categories: domainNames))
        return df
    }

    /// The slide as AnnData: X = counts (integers), obs with the true domain, obsm["spatial"].
    public var annData: AnnData {
        AnnData(obs: obs, vars: DataFrame(index: geneNames), spatial: coordinates, X: counts, xIsInteger: true, obsm: [:])
    }
}
