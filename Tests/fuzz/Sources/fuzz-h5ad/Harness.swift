import FuzzSupport
import Foundation
import STCore
import STData
import STTrain

// libFuzzer harness: the h5ad / HDF5 reading layer. Each input is written to a tmpfs file and read
// through the real HDF5 library the way `run` reads it: `SlideSources.openOne` (an .h5ad, or a 10x
// .h5 with a fixed spatial/tissue_positions.csv beside it), then coordinates, row weights, obs,
// gene names and counts; and `AnnDataReader` directly (X in CSR / CSC / dense, row ranges and row
// lists, obs/var dataframes, obsm["spatial"]). Any thrown error is an accepted outcome; a crash,
// an ASan report, a timeout or a large allocation (-malloc_limit_mb) is a finding.

/// Row lists are only built for files that declare at most this many rows: the harness must not
/// itself allocate what a lying header declares (the readers' own allocations are what is tested).
let maxRowsForLists = 1 << 16

@main
enum Harness {
    static func main() { FuzzIO.run(seeds: writeSeeds, setUp: setUp, fuzzerTestOneInput) }
}

/// A 10x .h5 input finds its positions beside it, as in a Space Ranger folder.
func setUp() {
    FuzzIO.write(Array(FuzzSlide().tissuePositionsCSV().utf8), to: "spatial/tissue_positions.csv")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let path = FuzzIO.write(UnsafeBufferPointer(start: data, count: size), to: "input.h5ad")
    readAsSlide(path)
    readWithAnnDataReader(path)
    return 0
}

/// What `run` does with an input path.
func readAsSlide(_ path: String) {
    guard let s = attempt("SlideSources.openOne", { try SlideSources.openOne(path: path) }) else { return }
    attempt("s.spatial", { try s.spatial() })
    attempt("s.rowNNZ", { try s.rowNNZ() })
    attempt("s.obs", { try s.obs() })
    attempt("s.geneNames", { try s.geneNames() })
    let n = s.spotCount
    guard n > 0, n <= maxRowsForLists else { return }
    attempt("s.counts", { try s.counts(rows: Array(0..<n)) })
    attempt("s.counts", { try s.counts(rows: Array(stride(from: n - 1, through: 0, by: -3).reversed())) })
}

/// Every public read of `AnnDataReader`.
func readWithAnnDataReader(_ path: String) {
    guard let r = attempt("AnnDataReader", { try AnnDataReader(path: path) }) else { return }
    attempt("r.obsNames", { try r.obsNames() })
    attempt("r.varNames", { try r.varNames() })
    attempt("r.obs", { try r.obs() })
    attempt("r.vars", { try r.vars() })
    attempt("r.spatial", { try r.spatial() })
    attempt("r.rowNNZ", { try r.rowNNZ() })
    attempt("r.readX", { try r.readX() })
    let n = r.nObs
    guard n <= maxRowsForLists else { return }
    attempt("r.readX", { try r.readX(rows: (n / 3)..<n) })
    attempt("r.readX", { try r.readX(rows: Array(stride(from: 0, to: n, by: 2))) })
}

/// Seeds: small files of every layout the reader accepts (anndata ≥ 0.8 CSR, compressed and not;
/// CSC; dense float and integer; anndata 0.7's h5sparse CSR with a categorical by object reference)
/// and a 10x .h5. run-fuzzers.sh adds `stgnn-dist synth` output.
func writeSeeds(_ dir: String) throws {
    let slide = FuzzSlide()
    let (p, i, d) = slide.csr()
    let x = CSRMatrix(rows: slide.spots, cols: slide.genes, indptr: p.map { Int($0) },
                      indices: i.map { Int32($0) }, values: d.map { Float($0) })
    var obs = DataFrame(index: slide.barcodes)
    obs.set("layer", .categorical(labels: (0..<slide.spots).map { $0 % 3 == 0 ? nil : "L\($0 % 3)" }))
    obs.set("depth", .numeric((0..<slide.spots).map { Double($0) * 0.5 }))
    obs.set("in_tissue", .boolean((0..<slide.spots).map { $0 != 5 }))
    let vars = DataFrame(index: slide.geneNames)
    let spatial = (0..<slide.spots).flatMap { s -> [Double] in let q = slide.pixel(s); return [q.col, q.row] }
    let adata = AnnData(obs: obs, vars: vars, spatial: spatial, X: x, xIsInteger: true)
    try AnnDataWriter.write(adata, to: dir + "/csr.h5ad", compression: nil)
    try AnnDataWriter.write(adata, to: dir + "/csr-gzip.h5ad", compression: 4)

    /// obs, var (index only) and obsm/spatial in anndata's layout, for the hand-written layouts.
    func writeRest(_ w: HDF5Writer, spatialFloat32: Bool = false) throws {
        for (group, index) in [("obs", slide.barcodes), ("var", slide.geneNames)] {
            try w.createGroup(group)
            try w.setAttribute(group, "encoding-type", "dataframe")
            try w.setAttribute(group, "encoding-version", "0.2.0")
            try w.setAttribute(group, "_index", "_index")
            try w.setAttribute(group, "column-order", strings: [])
            try w.writeStrings(group + "/_index", index)
        }
        if spatialFloat32 { try w.write("obsm/spatial", spatial.map { Float($0) }, shape: [slide.spots, 2]) }
        else { try w.write("obsm/spatial", spatial, shape: [slide.spots, 2]) }
    }
    /// X as a compressed sparse group: `m`'s arrays, the format and shape under the given names
    /// (anndata ≥ 0.8: encoding-type / shape; anndata 0.7: h5sparse_format / h5sparse_shape).
    func writeSparse(_ w: HDF5Writer, _ m: CSRMatrix, format: (String, String), shapeName: String, indptr32: Bool) throws {
        try w.createGroup("X")
        try w.setAttribute("X", format.0, format.1)
        try w.setAttribute("X", shapeName, [Int64(slide.spots), Int64(slide.genes)])
        try w.write("X/data", m.values)
        try w.write("X/indices", m.indices)
        if indptr32 { try w.write("X/indptr", m.indptr.map { Int32($0) }) } else { try w.write("X/indptr", m.indptr.map { Int64($0) }) }
    }
    var w = try HDF5Writer(path: dir + "/csc.h5ad")
    try writeSparse(w, x.transposed(), format: ("encoding-type", "csc_matrix"), shapeName: "shape", indptr32: false)
    try writeRest(w)
    try w.close()

    let dense = x.toDense()
    w = try HDF5Writer(path: dir + "/dense-float.h5ad")
    try w.write("X", dense.data, shape: [slide.spots, slide.genes])
    try w.setAttribute("X", "encoding-type", "array")
    try writeRest(w, spatialFloat32: true)
    try w.close()
    w = try HDF5Writer(path: dir + "/dense-int.h5ad")
    try w.write("X", dense.data.map { Int16($0) }, shape: [slide.spots, slide.genes])
    try writeRest(w)
    try w.close()

    // anndata 0.7: h5sparse attributes; a categorical column as codes with a `categories` reference.
    w = try HDF5Writer(path: dir + "/anndata07.h5ad")
    try writeSparse(w, x, format: ("h5sparse_format", "csr"), shapeName: "h5sparse_shape", indptr32: true)
    try w.createGroup("obs")
    try w.setAttribute("obs", "_index", "index")
    try w.setAttribute("obs", "column-order", strings: ["layer"])
    try w.writeStrings("obs/index", slide.barcodes)
    try w.write("obs/layer", (0..<slide.spots).map { Int8($0 % 3) })
    try w.createGroup("obs/__categories")
    try w.writeStrings("obs/__categories/layer", ["L0", "L1", "L2"])
    try w.setAttribute("obs/layer", "categories", reference: "obs/__categories/layer")
    try w.createGroup("var")
    try w.setAttribute("var", "_index", "index")
    try w.setAttribute("var", "column-order", strings: [])
    try w.writeStrings("var/index", slide.geneNames)
    try w.write("obsm/spatial", spatial, shape: [slide.spots, 2])
    try w.close()

    try slide.writeTenX(dir + "/tenx.h5")
}
