import STCore
import STData

/// Where a run's spots come from: an `.h5ad` file or the built-in synthetic slide.
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
    public func obs() throws -> DataFrame { try reader.obs() }
    public func geneNames() throws -> [String] { try reader.varNames() }
}

/// An error that only this rank saw (e.g. a bad value in its own rows of X): it must be reported
/// by this rank, not left to rank 0.
public struct RankLocalError: Error, CustomStringConvertible {
    public let underlying: Error
    public init(_ underlying: Error) { self.underlying = underlying }
    public var description: String { String(describing: underlying) }
}

/// The built-in synthetic slide (see `SyntheticSlide`), generated identically on every rank.
public final class SyntheticSource: SlideSource {
    public let slide: SyntheticSlide
    public init(_ parameters: SyntheticSlide.Parameters) throws { slide = try SyntheticSlide(parameters) }
    public var label: String {
        let p = slide.parameters
        return "synthetic slide (\(p.spots) spots, \(p.genes) genes, \(p.domains) domains, seed \(p.seed))"
    }
    public var spotCount: Int { slide.parameters.spots }
    public var geneCount: Int { slide.parameters.genes }
    public func spatial() throws -> [Double] { slide.coordinates }
    public func rowNNZ() throws -> [Int] { (0..<slide.counts.rows).map { slide.counts.indptr[$0 + 1] - slide.counts.indptr[$0] } }
    public func counts(rows: [Int]) throws -> CSRMatrix { slide.counts.selectingRows(rows) }
    public func obs() throws -> DataFrame { slide.obs }
    public func geneNames() throws -> [String] { slide.geneNames }
}

extension SyntheticSlide {
    /// The per-spot table: spot names and the true domain as a categorical column `domain`.
    public var obs: DataFrame {
        var df = DataFrame(index: spotNames)
        df.set("domain", .categorical(labels: domains.map { domainNames[Int($0)] }, categories: domainNames))
        return df
    }

    /// The slide as AnnData: X = counts (integers), obs with the true domain, obsm["spatial"].
    public var annData: AnnData {
        AnnData(obs: obs, vars: DataFrame(index: geneNames), spatial: coordinates, X: counts, xIsInteger: true, obsm: [:])
    }
}
