import Foundation
import STCore
import STData

/// Small slides written in every input layout `stgnn-dist run --input` accepts — Space Ranger
/// `outs/`, a bare 10x `.h5`, MatrixMarket folders (gzip or plain), `.h5ad` — all holding the same
/// in-tissue counts, so tests can read them back and compare. Needs nothing from ../shared.
public struct InputFolders {
    /// The in-tissue slide every layout encodes.
    public let slide: SyntheticSlide
    /// Barcodes of the in-tissue spots (the slide's spots, in order).
    public var barcodes: [String] { slide.spotNames.map { "\($0)-1" } }
    /// Gene symbols.
    public var genes: [String] { slide.geneNames }

    /// Out-of-tissue barcodes put into the matrix (as a raw matrix has them): after in-tissue
    /// spot `k` for k in `extraAfter`.
    public let extraAfter: [Int]

    public init(spots: Int = 150, genes: Int = 60, domains: Int = 3, seed: UInt64 = 7) throws {
        slide = try SyntheticSlide(SyntheticSlide.Parameters(spots: spots, genes: genes, domains: domains,
                                                             markersPerDomain: min(10, genes / (domains + 1)), seed: seed))
        extraAfter = stride(from: 9, to: spots, by: 37).map { $0 }
    }

    /// The matrix as stored: in-tissue spots with out-of-tissue ones interleaved, plus each row's
    /// barcode and whether it is in tissue, and its spot index (nil when out of tissue).
    func matrixRows() -> (x: CSRMatrix, barcodes: [String], inTissue: [Bool], spot: [Int?]) {
        var r: [Int] = [], c: [Int] = [], v: [Float] = []
        var bcs: [String] = [], tissue: [Bool] = [], spot: [Int?] = []
        var rng = Xoshiro256(seed: 99)
        let x = slide.counts
        for i in 0..<x.rows {
            for p in x.indptr[i]..<x.indptr[i + 1] { r.append(bcs.count); c.append(Int(x.indices[p])); v.append(x.values[p]) }
            bcs.append(barcodes[i]); tissue.append(true); spot.append(i)
            if extraAfter.contains(i) {
                for j in 0..<x.cols where rng.below(4) == 0 { r.append(bcs.count); c.append(j); v.append(Float(1 + rng.below(5))) }
                bcs.append("OUT\(i)-1"); tissue.append(false); spot.append(nil)
            }
        }
        return (CSRMatrix(rows: bcs.count, cols: x.cols, row: r, col: c, val: v), bcs, tissue, spot)
    }

    /// Space Ranger positions lines (no header) for every matrix barcode plus a few barcodes of the
    /// capture area the matrix does not hold, in a shuffled order.
    func positionLines() -> [String] {
        let m = matrixRows()
        var lines: [String] = []
        let xy = slide.coordinates
        for (k, b) in m.barcodes.enumerated() {
            // scanpy: obsm["spatial"] = (pxl_col_in_fullres, pxl_row_in_fullres) = (x, y).
            let (x, y): (Double, Double) = m.spot[k].map { (xy[2 * $0], xy[2 * $0 + 1]) } ?? (-50 - Double(k), -70)
            lines.append("\(b),\(m.inTissue[k] ? 1 : 0),\(k / 10),\(k % 10),\(y),\(x)")
        }
        for e in 0..<4 { lines.append("EMPTY\(e)-1,0,\(90 + e),0,\(-10 - Double(e)),\(-20.5)") }
        var rng = Xoshiro256(seed: 5)
        for i in stride(from: lines.count - 1, to: 0, by: -1) { lines.swapAt(i, Int(rng.below(UInt64(i + 1)))) }
        return lines
    }

    static let positionsHeader = "barcode,in_tissue,array_row,array_col,pxl_row_in_fullres,pxl_col_in_fullres"

    /// Writes `dir/spatial/tissue_positions.csv` (with header) or `tissue_positions_list.csv` (v1).
    public func writePositions(spatialParent dir: String, headered: Bool = true) throws {
        try FileManager.default.createDirectory(atPath: dir + "/spatial", withIntermediateDirectories: true)
        let lines = (headered ? [Self.positionsHeader] : []) + positionLines()
        try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/spatial/" + (headered ? "tissue_positions.csv" : "tissue_positions_list.csv"),
                                                       atomically: true, encoding: .utf8)
    }

    /// A plain `barcode,x,y` CSV of the in-tissue spots (and some the matrix does not hold).
    public func writePlainPositions(_ path: String, header: String = "barcode,x,y") throws {
        var lines = [header]
        let xy = slide.coordinates
        for (i, b) in barcodes.enumerated().reversed() { lines.append("\(b),\(xy[2 * i]),\(xy[2 * i + 1])") }
        lines.append("ELSEWHERE-1,1,2")
        try (lines.joined(separator: "\n") + "\n").write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// Writes a 10x `filtered_feature_bc_matrix.h5` (with one antibody feature, which readers drop,
    /// and the out-of-tissue barcodes) to `path`.
    public func writeTenXH5(_ path: String) throws {
        let m = matrixRows()
        // One extra feature (an antibody) as the last column.
        var r: [Int] = [], c: [Int] = [], v: [Float] = []
        for i in 0..<m.x.rows {
            for p in m.x.indptr[i]..<m.x.indptr[i + 1] { r.append(i); c.append(Int(m.x.indices[p])); v.append(m.x.values[p]) }
            if i % 3 == 0 { r.append(i); c.append(m.x.cols); v.append(7) }
        }
        let x = CSRMatrix(rows: m.x.rows, cols: m.x.cols + 1, row: r, col: c, val: v)
        let w = try HDF5Writer(path: path)
        try w.createGroup("matrix")
        try w.writeStrings("matrix/barcodes", m.barcodes)
        try w.write("matrix/data", x.values.map { Int32($0) }, compression: 4)
        try w.write("matrix/indices", x.indices.map { Int64($0) })
        try w.write("matrix/indptr", x.indptr.map { Int64($0) })
        try w.write("matrix/shape", [Int32(x.cols), Int32(x.rows)])
        try w.createGroup("matrix/features")
        try w.writeStrings("matrix/features/name", genes + ["CD3"])
        try w.writeStrings("matrix/features/id", genes.indices.map { "ENSG\($0)" } + ["AB_CD3"])
        try w.writeStrings("matrix/features/feature_type", [String](repeating: "Gene Expression", count: genes.count) + ["Antibody Capture"])
        try w.writeStrings("matrix/features/genome", [String](repeating: "GRCh38", count: genes.count) + [""])
        try w.close()
    }

    /// A Space Ranger `outs/` folder: `filtered_feature_bc_matrix.h5` + `spatial/tissue_positions.csv`
    /// (or the v1 `tissue_positions_list.csv`).
    public func writeSpaceRanger(_ dir: String, headered: Bool = true) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try writeTenXH5(dir + "/filtered_feature_bc_matrix.h5")
        try writePositions(spatialParent: dir, headered: headered)
    }

    /// The MatrixMarket text (genes × barcodes) of the matrix, entries in barcode order as 10x
    /// writes them, or in gene order (`geneMajor`) to show the order does not matter.
    public func matrixMarketText(geneMajor: Bool = false, integer: Bool = true) -> String {
        let m = matrixRows()
        var entries: [(Int, Int, Float)] = []
        for i in 0..<m.x.rows { for p in m.x.indptr[i]..<m.x.indptr[i + 1] { entries.append((Int(m.x.indices[p]), i, m.x.values[p])) } }
        if geneMajor { entries.sort { ($0.0, $0.1) < ($1.0, $1.1) } }
        var s = "%%MatrixMarket matrix coordinate \(integer ? "integer" : "real") general\n"
        s += "%metadata_json: {\"software_version\": \"spaceranger-test\", \"format_version\": 2}\n"
        s += "\(m.x.cols) \(m.x.rows) \(entries.count)\n"
        for (g, b, v) in entries { s += integer ? "\(g + 1) \(b + 1) \(Int(v))\n" : "\(g + 1) \(b + 1) \(v)\n" }
        return s
    }

    /// A MatrixMarket folder `dir` (gzip-compressed files as Space Ranger writes them, or plain;
    /// v3 `features.tsv` or v2 `genes.tsv`), without positions.
    public func writeMatrixMarket(_ dir: String, gzip: Bool = true, v2Genes: Bool = false, geneMajor: Bool = false,
                                  matrixText: String? = nil) throws {
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let m = matrixRows()
        let features = genes.indices.map { v2Genes ? "ENSG\($0)\t\(genes[$0])" : "ENSG\($0)\t\(genes[$0])\tGene Expression" }
        let files: [(String, String)] = [
            ("matrix.mtx", matrixText ?? matrixMarketText(geneMajor: geneMajor)),
            ("barcodes.tsv", m.barcodes.joined(separator: "\n") + "\n"),
            (v2Genes ? "genes.tsv" : "features.tsv", features.joined(separator: "\n") + "\n"),
        ]
        for (name, text) in files {
            if gzip { try Gzip.write(text, to: dir + "/" + name + ".gz") }
            else { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        }
    }

    /// Space Ranger's MatrixMarket layout: `outs/filtered_feature_bc_matrix/` beside `outs/spatial/`.
    public func writeSpaceRangerMatrixMarket(_ outs: String, gzip: Bool = true) throws {
        try writeMatrixMarket(outs + "/filtered_feature_bc_matrix", gzip: gzip)
        try writePositions(spatialParent: outs)
    }

    /// The in-tissue slide as an `.h5ad` (what the other layouts must read back as).
    public func writeH5AD(_ path: String) throws {
        var obs = DataFrame(index: barcodes)
        obs.set("in_tissue", .integer([Int64](repeating: 1, count: barcodes.count)))
        let a = AnnData(obs: obs, vars: DataFrame(index: genes), spatial: slide.coordinates, X: slide.counts, xIsInteger: true)
        try AnnDataWriter.write(a, to: path)
    }
}
