import STCore
import Dispatch

extension SyntheticSlide {
    /// The order in which `SyntheticSlide.write` stores the spots (the rows of X, obs, obsm).
    public enum FileOrder: String, CaseIterable, Sendable {
        /// Along a Hilbert curve of the spots' coordinates (`Layout.spatialOrder()`): a compact
        /// region of the slide (the RCB tile a rank owns) is a few long runs of rows, so a rank's
        /// partitioned read touches few chunks of X.
        case spatial
        /// The lattice index order (row by row of the hexagonal array, the generator's spot index):
        /// spot_0001, spot_0002, … A tile is then one short run of rows per lattice row.
        case lattice
    }

    /// Writes the slide of `parameters` as an `.h5ad` in one streaming pass, never holding X: the
    /// layout (coordinates, domains, names) is built, then the counts are generated `blockRows`
    /// spots at a time (`Layout.counts(rows:)`) in the file's row order and appended to X's
    /// extendable `data`/`indices` datasets. Memory O(blockRows·G + N), time O(N·G) draws.
    ///
    /// The file holds what `AnnDataWriter.write(slide.annData, …)` writes for the in-memory
    /// `SyntheticSlide(parameters)`, with its rows permuted by `order`: row i of the file is spot
    /// `order[i]` of the slide (its name, coordinates, true domain and counts go with it; names
    /// keep the spot's identity). Written through `AtomicFile`: an interrupted or failed write
    /// leaves nothing at `path`.
    ///
    /// - Returns: the order, file row → the slide's spot index.
    @discardableResult
    public static func write(_ parameters: Parameters, to path: String, order: FileOrder = .spatial,
                             blockRows: Int = 4096, compression: Int? = 4,
                             uns: [String: UnsValue] = [:]) throws -> [Int] {
        let layout = try Layout(parameters)
        let n = parameters.spots
        let rows = order == .spatial ? layout.spatialOrder() : Array(0..<n)
        let names = layout.spotNames, coordinates = layout.coordinates, domains = layout.domains
        var xy = [Double](repeating: 0, count: 2 * n)
        for (i, s) in rows.enumerated() { xy[2 * i] = coordinates[2 * s]; xy[2 * i + 1] = coordinates[2 * s + 1] }
        var obs = DataFrame(index: rows.map { names[$0] })
        let labels = layout.domainNames
        obs.set("ground_truth", .categorical(codes: rows.map { domains[$0] }, categories: labels, ordered: false))
        let adata = AnnData(obs: obs, vars: DataFrame(index: layout.geneNames), spatial: xy, X: nil, xIsInteger: true)
        // Block k + 1 is generated on a second thread while block k is compressed and written
        // (compression at level 4 costs ≈ 60 % of the generation, docs/PERFORMANCE.md), so with
        // two free cores the time approaches the generation's alone. At most two blocks in memory.
        let step = max(1, blockRows)
        var next: (lo: Int, block: PendingBlock)?
        func start(_ lo: Int) -> PendingBlock {
            let b = PendingBlock(), r = Array(rows[lo..<min(n, lo + step)])
            DispatchQueue.global().async {
                b.result = Result { try layout.counts(rows: r) }
                b.done.signal()
            }
            return b
        }
        defer { next?.block.done.wait() }   // never leave a generator running after an error
        let x = AnnDataWriter.StreamedCSR(rows: n, cols: parameters.genes, integer: true, blockRows: step) { lo, hi in
            let b = next?.lo == lo ? next!.block : start(lo)
            next = nil
            b.done.wait()
            if hi < n { next = (hi, start(hi)) }
            return try b.result!.get()
        }
        try AnnDataWriter.write(adata, to: path, uns: uns, streamedX: x, compression: compression)
        return rows
    }
}

/// A block of counts being generated on another thread; `done` is signalled once `result` is set.
private final class PendingBlock: @unchecked Sendable {
    var result: Result<CSRMatrix, Error>?
    let done = DispatchSemaphore(value: 0)
}

extension SyntheticSlide.Layout {
    /// The spots sorted along a Hilbert curve of their coordinates (ties by index): the row order
    /// of `SyntheticSlide.write(…, order: .spatial)`. O(N log N).
    public func spatialOrder() -> [Int] { SpaceFillingCurve.hilbertOrder(coordinates: coordinates) }
}
