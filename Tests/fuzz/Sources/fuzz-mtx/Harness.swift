import FuzzSupport
import Foundation
import STData
import STTrain

// libFuzzer harness: MatrixMarket folders (Cell/Space Ranger's filtered_feature_bc_matrix/).
// An input is three files separated by a line "=====": matrix.mtx, barcodes.tsv, features.tsv;
// a part starting with the gzip magic bytes is written as the `.gz` file (zlib inflates it), so
// both the text and the gzip layer are fuzzed. The folder, with a fixed spatial/tissue_positions.csv,
// is read as `run` reads it (`SlideSources.openOne`: coordinates, obs, row weights, counts) and
// through `MatrixMarketReader` directly (every scan and row read). Any thrown error is an accepted
// outcome; a crash, an ASan report, a timeout or a large allocation is a finding.

let slide = FuzzSlide()
let folder = "mtx"
let partNames = ["matrix.mtx", "barcodes.tsv", "features.tsv"]
let maxRowsForLists = 1 << 16

@main
enum Harness {
    static func main() { FuzzIO.run(seeds: writeSeeds, setUp: setUp, fuzzerTestOneInput) }
}

/// The folder's positions (fixed).
func setUp() {
    FuzzIO.write(Array(slide.tissuePositionsCSV().utf8), to: folder + "/spatial/tissue_positions.csv")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let parts = FuzzIO.sections(UnsafeBufferPointer(start: data, count: size), count: 3)
    for (k, name) in partNames.enumerated() {
        FuzzIO.remove(folder + "/" + name)
        FuzzIO.remove(folder + "/" + name + ".gz")
        guard k < parts.count else { continue }
        let gz = parts[k].starts(with: [0x1f, 0x8b])
        FuzzIO.write(parts[k], to: folder + "/" + name + (gz ? ".gz" : ""))
    }
    let dir = FuzzIO.path(folder)
    if let s = attempt("SlideSources.openOne", { try SlideSources.openOne(path: dir) }) {
        attempt("s.spatial", { try s.spatial() })
        attempt("s.obs", { try s.obs() })
        attempt("s.rowNNZ", { try s.rowNNZ() })
        attempt("s.geneNames", { try s.geneNames() })
        if s.spotCount <= maxRowsForLists { attempt("s.counts", { try s.counts(rows: Array(0..<s.spotCount)) }) }
    }
    if let r = attempt("MatrixMarketReader", { try MatrixMarketReader(directory: dir) }) {
        attempt("r.vars", { try r.vars() })
        attempt("r.readX", { try r.readX() })
        if r.nObs <= maxRowsForLists { attempt("r.readX", { try r.readX(rows: Array(stride(from: 1, to: r.nObs, by: 2))) }) }
    }
    return 0
}

/// Seeds: 10x's layout (integer counts, features with types including a dropped antibody),
/// Cell Ranger 2's two-column genes list, real values, comments and blank lines, gzipped parts.
func writeSeeds(_ dir: String) throws {
    let barcodes = slide.barcodes.joined(separator: "\n") + "\n"
    let features = (0..<slide.genes).map {
        "\(slide.geneIDs[$0])\t\(slide.geneNames[$0])\t\($0 == slide.genes - 1 ? "Antibody Capture" : "Gene Expression")"
    }.joined(separator: "\n") + "\n"
    let genes2 = (0..<slide.genes).map { "\(slide.geneIDs[$0])\t\(slide.geneNames[$0])" }.joined(separator: "\n") + "\n"
    let mtx = slide.matrixMarket()
    func bytes(_ s: String) -> [UInt8] { Array(s.utf8) }
    func gzip(_ s: String) throws -> [UInt8] {
        let tmp = FuzzIO.path("seed.gz")
        try Gzip.write(s, to: tmp)
        return [UInt8](FileManager.default.contents(atPath: tmp) ?? Data())
    }
    try FuzzIO.writeSeed(FuzzIO.joined([bytes(mtx), bytes(barcodes), bytes(features)]), dir, "tenx3")
    try FuzzIO.writeSeed(FuzzIO.joined([bytes(mtx), bytes(barcodes), bytes(genes2)]), dir, "cellranger2")
    try FuzzIO.writeSeed(FuzzIO.joined([bytes(slide.matrixMarket(integer: false)), bytes(barcodes), bytes(genes2)]), dir, "real")
    let commented = mtx.replacingOccurrences(of: "\n1 ", with: "\n% a comment\n\n1 ")
        .replacingOccurrences(of: "\n", with: "\r\n")
    try FuzzIO.writeSeed(FuzzIO.joined([bytes(commented), bytes(barcodes), bytes(features)]), dir, "comments-crlf")
    try FuzzIO.writeSeed(FuzzIO.joined([try gzip(mtx), bytes(barcodes), bytes(features)]), dir, "gzip-matrix")
    try FuzzIO.writeSeed(FuzzIO.joined([try gzip(mtx), try gzip(barcodes), try gzip(features)]), dir, "gzip-all")
}
