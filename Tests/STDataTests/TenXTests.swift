import XCTest
import Foundation
import STCore
@testable import STData
import STTestSupport

/// 10x Genomics matrices (.h5) with Space Ranger tissue positions, checked against the layout
/// scanpy's `read_visium` produces (verified with scanpy 1.11.5 on the same construction).
final class TenXTests: XCTestCase {
    let nBarcodes = 9
    let nGenes = 5
    /// Barcodes × (genes + 1 antibody feature).
    lazy var x = sampleCSR(rows: nBarcodes, cols: nGenes + 1, seed: 11)
    var barcodes: [String] { (0..<nBarcodes).map { "BC\($0)-1" } }

    func writeMatrix(_ path: String, legacy: Bool = false) throws {
        let w = try HDF5Writer(path: path)
        let g = legacy ? "GRCh38" : "matrix"
        try w.createGroup(g)
        try w.writeStrings(g + "/barcodes", barcodes)
        // CSC of genes × barcodes = CSR of barcodes × genes.
        try w.write(g + "/data", x.values.map { Int32($0) }, compression: 4)
        try w.write(g + "/indices", x.indices.map { Int64($0) })
        try w.write(g + "/indptr", x.indptr.map { Int64($0) })
        try w.write(g + "/shape", [Int32(nGenes + 1), Int32(nBarcodes)])
        let names = (0..<nGenes).map { "Gene\($0)" } + ["CD3"]
        let ids = (0..<nGenes).map { "ENSG\($0)" } + ["AB_CD3"]
        if legacy {
            try w.writeStrings(g + "/gene_names", names)
            try w.writeStrings(g + "/genes", ids)
        } else {
            try w.writeStrings(g + "/features/name", names)
            try w.writeStrings(g + "/features/id", ids)
            try w.writeStrings(g + "/features/feature_type", [String](repeating: "Gene Expression", count: nGenes) + ["Antibody Capture"])
            try w.writeStrings(g + "/features/genome", [String](repeating: "GRCh38", count: nGenes) + [""])
        }
        try w.close()
    }

    /// Positions for every barcode plus two off-tissue extras, in shuffled order.
    func positionsLines() -> [String] {
        var lines: [String] = []
        for k in [4, 0, 10, 8, 2, 7, 1, 3, 9, 6, 5] {
            let bc = k < nBarcodes ? "BC\(k)-1" : "EXTRA\(k)-1"
            lines.append("\(bc),\(k < nBarcodes ? 1 : 0),\(k % 3),\(k / 3),\(1000 + 3 * k),\(2000 + 5 * k)")
        }
        return lines
    }

    func testMatrixAndPositions() throws {
        let t = try TempDir()
        let h5 = t.file("filtered_feature_bc_matrix.h5")
        try writeMatrix(h5)
        let csv = t.file("tissue_positions_list.csv")
        try positionsLines().joined(separator: "\n").write(toFile: csv, atomically: true, encoding: .utf8)

        let r = try TenXMatrixReader(path: h5, positions: csv)
        XCTAssertEqual(r.nObs, nBarcodes)
        XCTAssertEqual(r.nVars, nGenes)            // the antibody feature is dropped
        XCTAssertEqual(r.header.cols, nGenes + 1)
        XCTAssertTrue(r.header.isInteger)
        let genes = Array(0..<nGenes)
        XCTAssertEqual(try r.readX(), x.selectingColumns(genes))
        XCTAssertEqual(try r.readX(rows: 2..<6), x.selectingRows(Array(2..<6)).selectingColumns(genes))
        XCTAssertEqual(try r.readX(rows: [0, 4, 8]), x.selectingRows([0, 4, 8]).selectingColumns(genes))
        let gx = x.selectingColumns(genes)
        XCTAssertEqual(try r.rowNNZ(), (0..<nBarcodes).map { gx.indptr[$0 + 1] - gx.indptr[$0] })

        let a = try r.read()
        XCTAssertEqual(a.obsNames, barcodes)
        XCTAssertEqual(a.varNames, (0..<nGenes).map { "Gene\($0)" })
        XCTAssertEqual(a.vars["gene_ids"], .string((0..<nGenes).map { "ENSG\($0)" }))
        XCTAssertEqual(a.vars["feature_types"]?.labels(), [String?](repeating: "Gene Expression", count: nGenes))
        // scanpy: obsm["spatial"] = (pxl_col_in_fullres, pxl_row_in_fullres) of Space Ranger.
        for k in 0..<nBarcodes {
            XCTAssertEqual(a.spatial[2 * k], Double(2000 + 5 * k))
            XCTAssertEqual(a.spatial[2 * k + 1], Double(1000 + 3 * k))
        }
        XCTAssertEqual(a.obs.columnNames, ["in_tissue", "array_row", "array_col"])
        XCTAssertEqual(a.obs["array_row"], .integer((0..<nBarcodes).map { Int64($0 % 3) }))

        let all = try TenXMatrixReader(path: h5, positions: csv, geneExpressionOnly: false)
        XCTAssertEqual(all.nVars, nGenes + 1)
        XCTAssertEqual(try all.readX(), x)
        XCTAssertEqual(try all.varNames().last, "CD3")

        // A generic source dispatches on content.
        XCTAssertTrue(try openExpressionSource(path: h5, positions: csv) is TenXMatrixReader)
        assertInputError(h5, "spatial", contains: "tissue_positions") {
            _ = try TenXMatrixReader(path: h5).spatial()
        }
    }

    func testHeaderedPositionsAndSpaceRangerDirectory() throws {
        let t = try TempDir()
        try FileManager.default.createDirectory(atPath: t.file("spatial"), withIntermediateDirectories: true)
        try writeMatrix(t.file("filtered_feature_bc_matrix.h5"))
        // Space Ranger ≥ 2: header line; columns are found by name (here deliberately reordered).
        var lines = ["pxl_col_in_fullres,barcode,in_tissue,array_row,array_col,pxl_row_in_fullres"]
        for l in positionsLines() {
            let f = l.split(separator: ",").map(String.init)
            lines.append([f[5], f[0], f[1], f[2], f[3], f[4]].joined(separator: ","))
        }
        try (lines.joined(separator: "\r\n") + "\r\n").write(toFile: t.file("spatial/tissue_positions.csv"),
                                                            atomically: true, encoding: .utf8)
        let src = try openExpressionSource(path: t.path)
        XCTAssertTrue(src is TenXMatrixReader)
        let sp = try src.spatial()
        XCTAssertEqual(sp[0], 2000)
        XCTAssertEqual(sp[1], 1000)
        XCTAssertEqual(sp[2 * 8], 2040)
        XCTAssertEqual(sp[2 * 8 + 1], 1024)
        XCTAssertEqual(try src.readX().rows, nBarcodes)
    }

    func testLegacyCellRanger2Layout() throws {
        let t = try TempDir()
        let h5 = t.file("legacy.h5")
        try writeMatrix(h5, legacy: true)
        let r = try TenXMatrixReader(path: h5)
        XCTAssertEqual(r.group, "GRCh38")
        XCTAssertEqual(r.nVars, nGenes + 1)      // no feature types: everything kept
        XCTAssertEqual(try r.readX(), x)
        XCTAssertEqual(try r.varNames().first, "Gene0")
        XCTAssertEqual(try r.vars()["gene_ids"], .string((0..<nGenes).map { "ENSG\($0)" } + ["AB_CD3"]))
    }

    func testBadPositions() throws {
        let t = try TempDir()
        let h5 = t.file("m.h5")
        try writeMatrix(h5)
        let missing = t.file("missing.csv")
        try positionsLines().filter { !$0.hasPrefix("BC3-1,") }.joined(separator: "\n")
            .write(toFile: missing, atomically: true, encoding: .utf8)
        assertInputError(missing, "barcode", contains: "'BC3-1'") {
            _ = try TenXMatrixReader(path: h5, positions: missing).spatial()
        }
        let badNum = t.file("badnum.csv")
        var lines = positionsLines(); lines[2] = "EXTRA10-1,0,1,3,abc,2050"
        try lines.joined(separator: "\n").write(toFile: badNum, atomically: true, encoding: .utf8)
        assertInputError(badNum, "pxl_row_in_fullres", contains: "line 3: 'abc'") { _ = try TissuePositions(path: badNum) }
        let short = t.file("short.csv")
        try "BC0-1,1,0,0\n".write(toFile: short, atomically: true, encoding: .utf8)
        assertInputError(short, "line 1", contains: "4 fields") { _ = try TissuePositions(path: short) }
        let dup = t.file("dup.csv")
        try (positionsLines() + [positionsLines()[0]]).joined(separator: "\n").write(toFile: dup, atomically: true, encoding: .utf8)
        assertInputError(dup, "barcode", contains: "twice") { _ = try TissuePositions(path: dup) }
        let header = t.file("header.csv")
        try "barcode,in_tissue,array_row,array_col,pxl_row_in_fullres\n".write(toFile: header, atomically: true, encoding: .utf8)
        assertInputError(header, "pxl_col_in_fullres", contains: "header") { _ = try TissuePositions(path: header) }
        assertInputError(t.file("none.csv"), nil, contains: "no such file") { _ = try TissuePositions(path: t.file("none.csv")) }
        // An .h5ad is not given a positions file.
        let h5ad = t.file("a.h5ad")
        try RawH5AD().write(h5ad)
        XCTAssertTrue(try openExpressionSource(path: h5ad) is AnnDataReader)
        assertInputError(h5ad, "positions") { _ = try openExpressionSource(path: h5ad, positions: missing) }
    }

    func testBadMatrix() throws {
        let t = try TempDir()
        let h5 = t.file("m.h5")
        let w = try HDF5Writer(path: h5)
        try w.createGroup("matrix")
        try w.write("matrix/shape", [Int32(3), Int32(2)])
        try w.write("matrix/data", [Float(1)])
        try w.write("matrix/indices", [Int64(5)])
        try w.write("matrix/indptr", [Int64(0), 1, 1])
        try w.writeStrings("matrix/barcodes", ["a", "b"])
        try w.close()
        let r = try TenXMatrixReader(path: h5)
        assertInputError(h5, "matrix/indices", contains: "index 5 out of range 0..<3") { _ = try r.readX() }
    }

    /// A 10x matrix that lies about its sizes (issue 9.1): refused when opened, naming the field,
    /// before anything sized by the lie is read.
    func testLyingSizes() throws {
        let t = try TempDir()
        /// The valid matrix with one object rewritten by `change`.
        func lying(_ name: String, _ change: (HDF5Patch) throws -> Void) throws -> String {
            let path = t.file(name + ".h5")
            try writeMatrix(path)
            let p = try HDF5Patch(path: path)
            try change(p)
            try p.close()
            return path
        }
        let cases: [(path: String, field: String, message: String)] = [
            (try lying("floats") { try $0.replace("matrix/shape", with: [Double(self.nGenes + 1) + 0.5, Double(self.nBarcodes)]) },
             "matrix/shape", "must hold integers, found float64"),
            (try lying("barcodes") { try $0.replaceChunkedStrings("matrix/barcodes", count: 10_000_000_000, chunk: 64, prefix: self.barcodes) },
             "matrix/barcodes", "declares shape (10000000000,) (10000000000 elements) but the file stores only 1 of the 156250000 chunks"),
            (try lying("names") { try $0.replace("matrix/barcodes", with: [Int64](0..<Int64(self.nBarcodes - 1))) },
             "matrix/barcodes", "has 8 entries but matrix/shape declares 9 barcodes"),
            (try lying("indptr") { try $0.replace("matrix/indptr", with: self.x.indptr.map { Double($0) }) },
             "matrix/indptr", "must hold integers, found float64"),
        ]
        for c in cases {
            assertInputError(c.path, c.field, contains: c.message) { _ = try TenXMatrixReader(path: c.path) }
        }
    }
}
