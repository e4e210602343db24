import XCTest
import Foundation
import STCore
import STData
import STTrain
import STTestSupport

/// Asserts that `body` throws an `InputError` whose one-line description starts with `path` and
/// contains each of `texts`; returns the line.
@discardableResult
func assertOneLine(_ path: String?, _ texts: [String], file: StaticString = #filePath, line: UInt = #line,
                   _ body: () throws -> Void) -> String {
    do {
        try body()
        XCTFail("expected an InputError containing \(texts)", file: file, line: line)
    } catch let e as InputError {
        let d = e.description
        XCTAssertFalse(d.contains("\n"), "multi-line: \(d)", file: file, line: line)
        if let path { XCTAssertTrue(d.hasPrefix(path), "'\(d)' does not start with \(path)", file: file, line: line) }
        for t in texts { XCTAssertTrue(d.contains(t), "'\(d)' lacks '\(t)'", file: file, line: line) }
        return d
    } catch {
        XCTFail("expected an InputError, got \(error)", file: file, line: line)
    }
    return ""
}

/// Every input layout reads back as the same slide as its `.h5ad`.
final class InputFormatTests: XCTestCase {
    static let folders = try! InputFolders()

    /// Checks `source` against the reference `.h5ad` of the same spots: shape, names, coordinates,
    /// row totals, and counts of all rows and of scattered row subsets (what ranks ask for).
    func assertSameSlide(_ source: SlideSource, as reference: SlideSource, obsColumns: [String]? = nil,
                         file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertEqual(source.spotCount, reference.spotCount, file: file, line: line)
        XCTAssertEqual(source.geneCount, reference.geneCount, file: file, line: line)
        XCTAssertEqual(try source.geneNames(), try reference.geneNames(), file: file, line: line)
        XCTAssertEqual(try source.spatial(), try reference.spatial(), file: file, line: line)
        XCTAssertEqual(try source.rowNNZ(), try reference.rowNNZ(), file: file, line: line)
        XCTAssertEqual(try source.obs().index, try reference.obs().index, file: file, line: line)
        if let obsColumns { XCTAssertEqual(try source.obs().columnNames, obsColumns, file: file, line: line) }
        let n = source.spotCount
        for rows in [Array(0..<n), [0, 1, 2, 40, 41, n - 1], Array(stride(from: 3, to: n, by: 7)), [n - 2], []] {
            XCTAssertEqual(try source.counts(rows: rows), try reference.counts(rows: rows), "rows \(rows.prefix(8))…", file: file, line: line)
        }
    }

    func reference(_ t: TempDir) throws -> SlideSource {
        let p = t.file("reference.h5ad")
        try Self.folders.writeH5AD(p)
        return try SlideSources.open(paths: [p])
    }

    func testSpaceRangerFolder() throws {
        let t = try TempDir()
        let ref = try reference(t)
        for headered in [true, false] {
            let outs = t.file(headered ? "v2/outs" : "v1/outs")
            try Self.folders.writeSpaceRanger(outs, headered: headered)
            let src = try SlideSources.open(paths: [outs])
            XCTAssertTrue(src is PositionedMatrixSource)
            XCTAssertEqual(src.label, outs)
            try assertSameSlide(src, as: ref, obsColumns: ["in_tissue", "array_row", "array_col"])
            XCTAssertEqual((src as! PositionedMatrixSource).join.droppedOutOfTissue, Self.folders.extraAfter.count)
            // The sample folder above outs/ works too, and so does the bare .h5 beside spatial/.
            try assertSameSlide(try SlideSources.open(paths: [(outs as NSString).deletingLastPathComponent]), as: ref)
            try assertSameSlide(try SlideSources.open(paths: [outs + "/filtered_feature_bc_matrix.h5"]), as: ref)
        }
    }

    func testTenXH5WithPlainPositions() throws {
        let t = try TempDir()
        let ref = try reference(t)
        let h5 = t.file("sample.h5")
        try Self.folders.writeTenXH5(h5)
        assertOneLine(h5, ["no coordinates", "--positions"]) { _ = try SlideSources.open(paths: [h5]) }
        // Plain positions list only the in-tissue spots (no in_tissue column): the matrix's
        // out-of-tissue barcodes then have no position, which is an error naming one.
        let plain = t.file("xy.csv")
        try Self.folders.writePlainPositions(plain)
        assertOneLine(plain, ["'OUT9-1'", "no position"]) { _ = try SlideSources.open(paths: [h5], positions: plain) }
        // Space Ranger positions given explicitly.
        try Self.folders.writePositions(spatialParent: t.file("elsewhere"))
        try assertSameSlide(try SlideSources.open(paths: [h5], positions: t.file("elsewhere/spatial/tissue_positions.csv")), as: ref)
    }

    func testMatrixMarketFolders() throws {
        let t = try TempDir()
        let ref = try reference(t)
        // Space Ranger's layout: outs/filtered_feature_bc_matrix/*.gz beside outs/spatial/.
        let outs = t.file("mtx/outs")
        try Self.folders.writeSpaceRangerMatrixMarket(outs)
        for path in [outs + "/filtered_feature_bc_matrix", outs, outs + "/filtered_feature_bc_matrix/matrix.mtx.gz"] {
            let src = try SlideSources.open(paths: [path])
            XCTAssertTrue((src as? PositionedMatrixSource)?.matrix is MatrixMarketReader, path)
            try assertSameSlide(src, as: ref)
        }
        // Plain files, v2 genes.tsv, entries in gene order, a plain barcode,x,y CSV via --positions.
        let plainDir = t.file("plain")
        try Self.folders.writeMatrixMarket(plainDir, gzip: false, v2Genes: true, geneMajor: true)
        assertOneLine(plainDir, ["has no coordinates", "--positions"]) { _ = try SlideSources.open(paths: [plainDir]) }
        // Plain positions must then cover the out-of-tissue barcodes of the matrix too: give an
        // in_tissue column instead.
        var lines = ["cell_id,x_centroid,y_centroid,in_tissue"]
        let pos = try SpotPositions(path: outs + "/spatial/tissue_positions.csv")
        for (i, b) in pos.barcodes.enumerated() { lines.append("\(b),\(pos.x[i]),\(pos.y[i]),\(pos.inTissue![i] ? 1 : 0)") }
        let csv = t.file("cells.csv")
        try lines.joined(separator: "\n").write(toFile: csv, atomically: true, encoding: .utf8)
        let src = try SlideSources.open(paths: [plainDir], positions: csv)
        try assertSameSlide(src, as: ref, obsColumns: ["in_tissue"])
        // Real-valued MatrixMarket reads the same numbers.
        let realDir = t.file("real")
        try Self.folders.writeMatrixMarket(realDir, gzip: true, matrixText: Self.folders.matrixMarketText(integer: false))
        let real = try MatrixMarketReader(directory: realDir)
        XCTAssertFalse(real.isInteger)
        XCTAssertEqual(try real.readX(), try MatrixMarketReader(directory: outs + "/filtered_feature_bc_matrix").readX())
    }

    func testGzipLineReader() throws {
        let t = try TempDir()
        let text = "a\nbb\r\n\nlast without newline"
        try Gzip.write(text, to: t.file("x.gz"))
        try text.write(toFile: t.file("x"), atomically: true, encoding: .utf8)
        for p in [t.file("x.gz"), t.file("x")] {
            XCTAssertEqual(try GzipLineReader.readLines(p), ["a", "bb", "", "last without newline"])
        }
        // Lines longer than the read buffer.
        let long = String(repeating: "x", count: 700_000)
        try Gzip.write("1\n" + long + "\n2", to: t.file("long.gz"))
        XCTAssertEqual(try GzipLineReader.readLines(t.file("long.gz")).map(\.count), [1, 700_000, 1])
        // A truncated gzip stream is an error, not a silently short file.
        var big = ""
        for i in 0..<200_000 { big += "\(i) \(i * 7 % 1000)\n" }
        try Gzip.write(big, to: t.file("big.gz"))
        let bytes = try Data(contentsOf: URL(fileURLWithPath: t.file("big.gz")))
        try bytes.prefix(bytes.count / 2).write(to: URL(fileURLWithPath: t.file("cut.gz")))
        assertOneLine(t.file("cut.gz"), ["truncated or corrupt"]) { _ = try GzipLineReader.readLines(t.file("cut.gz")) }
    }

    func testBadMatrixMarket() throws {
        let t = try TempDir()
        let f = Self.folders
        let good = f.matrixMarketText()
        let lines = good.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let sizeLine = 3
        let header = lines[2].split(separator: " ").map { Int($0)! }
        func bad(_ name: String, _ edit: ([String]) -> [String], _ texts: [String], gzip: Bool = false) throws {
            let dir = t.file(name)
            try f.writeMatrixMarket(dir, gzip: gzip, matrixText: edit(lines).joined(separator: "\n"))
            f.writePositionsIgnoringErrors(dir)
            let path = dir + "/matrix.mtx" + (gzip ? ".gz" : "")
            assertOneLine(path, texts) {
                let src = try SlideSources.open(paths: [dir])
                _ = try src.rowNNZ()
                _ = try src.counts(rows: Array(0..<src.spotCount))
            }
        }
        try bad("gene-range", { var l = $0; l[5] = "\(header[0] + 1) 3 4"; return l }, ["'line 6'", "row (feature) index \(header[0] + 1) is outside 1…\(header[0])"])
        try bad("barcode-range", { var l = $0; l[4] = "2 0 4"; return l }, ["'line 5'", "column (barcode) index 0"], gzip: true)
        try bad("negative", { var l = $0; l[7] = "1 1 -3"; return l }, ["'line 8'", "negative"])
        try bad("fraction", { var l = $0; l[7] = "1 1 2.5"; return l }, ["'line 8'", "not an integer"])
        try bad("garbage", { var l = $0; l[9] = "1 x 2"; return l }, ["'line 10'", "not an entry"])
        try bad("extra-field", { var l = $0; l[9] = "1 2 3 4"; return l }, ["'line 10'", "more than three fields"])
        try bad("truncated", { Array($0.dropLast(10)) }, ["'line \(sizeLine)'", "declares \(header[2]) entries", "holds \(header[2] - 9)"])
        try bad("too-many", { $0 + ["1 1 1"] }, ["'line \(lines.count + 1)'", "declares \(header[2]) entries"])
        try bad("header", { var l = $0; l[0] = "%%MatrixMarket matrix array integer general"; return l }, ["'line 1'", "coordinate"])
        try bad("not-mm", { var l = $0; l[0] = "hello"; return l }, ["'line 1'", "not a MatrixMarket header"])
        try bad("size", { var l = $0; l[2] = "\(header[0] - 1) \(header[1]) \(header[2])"; return l }, ["'line 3'", "declares \(header[0] - 1) rows"])
        try bad("transposed", { var l = $0; l[2] = "\(header[1]) \(header[0]) \(header[2])"; return l }, ["'line 3'", "transpose"])
    }

    func testBadFoldersAndPaths() throws {
        let t = try TempDir()
        let f = Self.folders
        // A folder without any of the files.
        let empty = t.file("empty/")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        assertOneLine(empty, ["is a directory holding neither filtered_feature_bc_matrix.h5", "matrix.mtx[.gz]"]) {
            _ = try SlideSources.open(paths: [empty])
        }
        // A Space Ranger folder without spatial/.
        let slide = t.file("slide/")
        try FileManager.default.createDirectory(atPath: slide, withIntermediateDirectories: true)
        try f.writeTenXH5(slide + "filtered_feature_bc_matrix.h5")
        let line = assertOneLine(slide, []) { _ = try SlideSources.open(paths: [slide]) }
        XCTAssertEqual(line, "\(slide): a Space Ranger folder needs spatial/tissue_positions.csv or spatial/tissue_positions_list.csv (found filtered_feature_bc_matrix.h5 only)")
        // … with only the parquet positions of Space Ranger ≥ 3.
        try FileManager.default.createDirectory(atPath: slide + "spatial", withIntermediateDirectories: true)
        try "PAR1".write(toFile: slide + "spatial/tissue_positions.parquet", atomically: true, encoding: .utf8)
        assertOneLine(slide, ["tissue_positions.parquet (convert it to CSV)"]) { _ = try SlideSources.open(paths: [slide]) }
        // spatial/ without the matrix.
        let onlySpatial = t.file("only-spatial")
        try f.writePositions(spatialParent: onlySpatial)
        assertOneLine(onlySpatial, ["needs filtered_feature_bc_matrix.h5", "found spatial/ only"]) { _ = try SlideSources.open(paths: [onlySpatial]) }
        // A MatrixMarket folder missing barcodes.
        let mtx = t.file("mtx")
        try f.writeMatrixMarket(mtx)
        try FileManager.default.removeItem(atPath: mtx + "/barcodes.tsv.gz")
        assertOneLine(mtx, ["missing barcodes.tsv[.gz]", "found matrix.mtx, features.tsv"]) { _ = try SlideSources.open(paths: [mtx]) }
        // Missing path, FIFO, device.
        assertOneLine(t.file("absent"), ["no such file"]) { _ = try SlideSources.open(paths: [t.file("absent")]) }
        let fifo = t.file("fifo")
        XCTAssertEqual(mkfifo(fifo, 0o600), 0)
        assertOneLine(fifo, ["is a FIFO", "expected an .h5ad file"]) { _ = try SlideSources.open(paths: [fifo]) }
        assertOneLine("/dev/null", ["character device"]) { _ = try SlideSources.open(paths: ["/dev/null"]) }
        // A text file is not HDF5.
        try "barcode,x,y\n".write(toFile: t.file("notes.txt"), atomically: true, encoding: .utf8)
        assertOneLine(t.file("notes.txt"), ["not an HDF5 file"]) { _ = try SlideSources.open(paths: [t.file("notes.txt")]) }
        // --positions with an .h5ad, or with several inputs.
        let h5ad = t.file("a.h5ad")
        try f.writeH5AD(h5ad)
        assertOneLine(h5ad, ["--positions is only used"]) { _ = try SlideSources.open(paths: [h5ad], positions: t.file("p.csv")) }
        assertOneLine(t.file("p.csv"), ["--positions applies to a single --input"]) {
            _ = try SlideSources.open(paths: [h5ad, h5ad], positions: t.file("p.csv"))
        }
        // Positions CSVs without the columns.
        let noXY = t.file("noxy.csv")
        try "barcode,row,col\nA,1,2\n".write(toFile: noXY, atomically: true, encoding: .utf8)
        assertOneLine(noXY, ["'x'", "no coordinate columns", "barcode,x,y"]) { _ = try SpotPositions(path: noXY) }
        let noBC = t.file("nobc.csv")
        try "name,x,y\nA,1,2\n".write(toFile: noBC, atomically: true, encoding: .utf8)
        assertOneLine(noBC, ["'barcode'", "no barcode column"]) { _ = try SpotPositions(path: noBC) }
        // pandas to_csv(): an empty first header is the index.
        let pandas = t.file("pandas.csv")
        try ",x,y\n\"A\",1,2\nB,3.5,-4\n".write(toFile: pandas, atomically: true, encoding: .utf8)
        let p = try SpotPositions(path: pandas)
        XCTAssertEqual(p.barcodes, ["A", "B"])
        XCTAssertEqual(p.x, [1, 3.5])
        XCTAssertEqual(p.y, [2, -4])
        XCTAssertNil(p.inTissue)
    }
}

extension InputFolders {
    /// Positions in `dir/spatial/` (the matrix's errors are what the caller tests).
    func writePositionsIgnoringErrors(_ dir: String) { try? writePositions(spatialParent: dir) }
}
