import FuzzSupport
import Foundation
import STData
import STTrain

// libFuzzer harness: Space Ranger positions. Each input is the text of a Space Ranger folder's
// `spatial/tissue_positions.csv` beside a fixed, valid `filtered_feature_bc_matrix.h5`; it is read
// as `run` reads such a folder (`SlideSources.openOne`: `SpotPositions` and its join to the
// matrix's barcodes, then coordinates, obs, row weights and counts), through `SpotPositions(path:)`
// alone, and through `TenXMatrixReader(spaceRangerDirectory:)` (`TissuePositions`). Any thrown error
// is an accepted outcome; a crash, an ASan report, a timeout or a large allocation is a finding.

let slide = FuzzSlide()
let folder = "spaceranger"
let csvName = folder + "/spatial/tissue_positions.csv"

@main
enum Harness {
    static func main() { FuzzIO.run(seeds: writeSeeds, setUp: setUp, fuzzerTestOneInput) }
}

/// The fixed matrix of the Space Ranger folder.
func setUp() throws {
    FuzzIO.write([], to: csvName)   // creates the folders
    try slide.writeTenX(FuzzIO.path(folder + "/filtered_feature_bc_matrix.h5"))
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let csv = FuzzIO.write(UnsafeBufferPointer(start: data, count: size), to: csvName)
    if let p = attempt("SpotPositions", { try SpotPositions(path: csv) }) {
        attempt("p.join", { try p.join(barcodes: slide.barcodes, matrixPath: "matrix.h5") })
        if let s = attempt("SlideSources.openOne", { try SlideSources.openOne(path: FuzzIO.path(folder)) }) {
            attempt("s.spatial", { try s.spatial() })
            attempt("s.obs", { try s.obs() })
            attempt("s.rowNNZ", { try s.rowNNZ() })
            attempt("s.geneNames", { try s.geneNames() })
            attempt("s.counts", { try s.counts(rows: Array(0..<s.spotCount)) })
        }
    }
    if attempt("TissuePositions", { try TissuePositions(path: csv) }) != nil,
       let r = attempt("TenXMatrixReader", { try TenXMatrixReader(spaceRangerDirectory: FuzzIO.path(folder)) }) {
        attempt("r.obs", { try r.obs() })
        attempt("r.spatial", { try r.spatial() })
    }
    return 0
}

/// Seeds: every accepted layout of the positions file for the fixed matrix's barcodes.
func writeSeeds(_ dir: String) throws {
    func seed(_ name: String, _ text: String) throws { try FuzzIO.writeSeed(Array(text.utf8), dir, name) }
    try seed("spaceranger2.csv", slide.tissuePositionsCSV())
    try seed("spaceranger1-list.csv", slide.tissuePositionsCSV(header: false))
    // Columns in another order, quoted fields, CRLF line ends.
    var reordered = ["\"pxl_col_in_fullres\",\"pxl_row_in_fullres\",\"barcode\",\"in_tissue\",\"array_col\",\"array_row\""]
    for s in 0..<slide.spots {
        let q = slide.pixel(s)
        reordered.append("\(q.col),\(q.row),\"\(slide.barcodes[s])\",1,\(s % 4),\(s / 4)")
    }
    try seed("reordered-crlf.csv", reordered.joined(separator: "\r\n") + "\r\n")
    func plain(_ header: String, inTissue: Bool = false) -> String {
        var lines = [header + (inTissue ? ",in_tissue" : "")]
        for s in 0..<slide.spots {
            let q = slide.pixel(s)
            lines.append("\(slide.barcodes[s]),\(q.col / 10),\(q.row / 10)" + (inTissue ? ",\(s % 5 == 4 ? 0 : 1)" : ""))
        }
        return lines.joined(separator: "\n") + "\n"
    }
    try seed("plain-xy.csv", plain("barcode,x,y"))
    try seed("xenium.csv", plain("cell_id,x_centroid,y_centroid"))
    try seed("stlearn-in-tissue.csv", plain("spot,imagecol,imagerow", inTissue: true))
    try seed("pandas-index.csv", plain(",X,Y"))
}
