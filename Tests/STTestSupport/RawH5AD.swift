import Foundation
import STCore
import STData

/// A temporary directory removed at the end of the test.
public final class TempDir {
    public let path: String

    public init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("stgnn-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    /// The path of `name` inside the directory.
    public func file(_ name: String) -> String { path + "/" + name }

    /// The names in the directory, sorted.
    public func contents() -> [String] { (try? FileManager.default.contentsOfDirectory(atPath: path))?.sorted() ?? [] }
}

/// The parts of an h5ad in anndata's layout (X as CSR, obs/var index, `obsm/spatial`), each
/// replaceable to make a deliberately broken file: `write` validates nothing.
///
/// The default is a tiny 4 × 3 slide; `init(slide:)` starts from a valid synthetic slide large
/// enough to train on, to break one thing in it.
public struct RawH5AD {
    public var nObs = 4
    public var nVars = 3
    /// X as CSR arrays (nil = no X).
    public var data: [Float]? = [1, 2, 3, 4, 5]
    public var indices: [Int32] = [0, 2, 1, 0, 1]
    public var indptr: [Int64] = [0, 2, 2, 3, 5]
    /// `X.attrs["shape"]` (nil: [nObs, nVars]).
    public var shape: [Int64]? = nil
    /// The obs index (nil: "cell0" …).
    public var obsNames: [String]? = nil
    /// Row-major coordinates, `spatialCols` per spot (nil = no `obsm/spatial`).
    public var spatial: [Double]? = [0, 0, 1, 0, 0, 1, 1, 1]
    public var spatialCols = 2

    public init() {}

    /// A valid file holding `slide`'s counts (CSR, integer values as float32) and coordinates.
    public init(slide: SyntheticSlide) {
        nObs = slide.counts.rows
        nVars = slide.counts.cols
        data = slide.counts.values
        indices = slide.counts.indices
        indptr = slide.counts.indptr.map { Int64($0) }
        spatial = slide.coordinates
    }

    /// Writes the file with `HDF5Writer` in anndata's layout, without any validation.
    public func write(_ path: String) throws {
        let w = try HDF5Writer(path: path)
        try w.setAttribute("/", "encoding-type", "anndata")
        try w.setAttribute("/", "encoding-version", "0.1.0")
        if let data {
            try w.createGroup("X")
            try w.setAttribute("X", "encoding-type", "csr_matrix")
            try w.setAttribute("X", "encoding-version", "0.1.0")
            try w.setAttribute("X", "shape", shape ?? [Int64(nObs), Int64(nVars)])
            try w.write("X/data", data)
            try w.write("X/indices", indices)
            try w.write("X/indptr", indptr)
        }
        try writeFrame(w, "obs", obsNames ?? (0..<nObs).map { "cell\($0)" })
        try writeFrame(w, "var", (0..<nVars).map { "gene\($0)" })
        try w.createGroup("obsm")
        if let spatial {
            try w.write("obsm/spatial", spatial, shape: [spatial.count / spatialCols, spatialCols])
        }
        try w.close()
    }

    /// Writes an anndata dataframe group `g` with only an index.
    public func writeFrame(_ w: HDF5Writer, _ g: String, _ names: [String]) throws {
        try w.createGroup(g)
        try w.setAttribute(g, "encoding-type", "dataframe")
        try w.setAttribute(g, "encoding-version", "0.2.0")
        try w.setAttribute(g, "_index", "_index")
        try w.setAttribute(g, "column-order", strings: [])
        try w.writeStrings(g + "/_index", names)
    }
}
